"""``client.notifications``: the Events API (push a chat message to users).

``POST /rest/v1/events/{event_id}/messages/send`` (and the deprecated ``POST
/rest/v1/messages/send``) are always under ``/rest/v1``, whatever generation the client uses for
the Conversations API, and need no ``Assistant-Name``. They run through the client's attempt
loop (same transport, auth, retry policy and hooks) but under their own rate governor: the
Events API has a documented budget of its own (120 requests per minute per organisation), which
must neither be spent by conversation traffic nor pause it.

These POSTs are not idempotent and the API documents no idempotency key, so a send is never
repeated once the server may have received it: only a connect-phase failure and a 429 (refused
before processing) are retried; anything ambiguous raises with ``outcome_unknown=True``.
"""

from __future__ import annotations

import math
import re
import unicodedata
import warnings
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal, overload

import anyio
import attrs

from . import _json
from ._converter import structure
from ._errors import (
    APIError,
    GovernorUnavailableError,
    InvalidParameterError,
    NotificationBatchError,
    ResponseValidationError,
    UnexpectedResponseError,
)
from ._governor import Governor, RateGovernor, check_governor
from ._notification_models import NotificationResult, NotificationStatus
from ._off_loop import decode
from ._protocol import Request, cap_text, request_id_from
from ._reply import json_body
from ._seam import Seam, loop_time
from ._transport import Timeout
from ._validate import check_unicode

if TYPE_CHECKING:
    from ._redis_governor import RedisRateGovernor

__all__ = [
    "MAX_MESSAGE_LENGTH",
    "MAX_RECIPIENTS",
    "NOTIFICATIONS_BURST",
    "NOTIFICATIONS_RATE",
    "NotificationResult",
    "NotificationStatus",
    "Notifications",
    "notifications_governor",
]

#: Longest ``message`` the Events API accepts, in characters.
MAX_MESSAGE_LENGTH: Final = 20_000
#: Most recipients of one send (``send_many`` splits longer lists into batches of this size).
MAX_RECIPIENTS: Final = 500
#: Bucket size of the notifications governor: requests that may go at once.
NOTIFICATIONS_BURST: Final = 10
#: Sustained rate of the notifications governor, requests per second. With the burst it keeps
#: every 60-second window, sliding or fixed, within the documented 120 requests:
#: ``NOTIFICATIONS_BURST + 60 * NOTIFICATIONS_RATE == 120``.
NOTIFICATIONS_RATE: Final = (120 - NOTIFICATIONS_BURST) / 60
#: The Events API rate-limit page: "on 429, sleep 60 seconds and retry" (no Retry-After sent).
_RATE_LIMIT_PAUSE: Final = 60.0

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Pragmatic syntax check (what the API documents is "email syntax"): one @, a local part of
# dot-separated atoms (no leading, trailing or doubled dot), a dotted domain of LDH labels;
# RFC 5321 length limits. Non-ASCII letters pass (internationalised addresses); invisible and
# control characters never do (see ``_invisible``).
_EMAIL = re.compile(
    r"(?=[^@]{1,64}@)[^@\s.\x00-\x1f\x7f]+(?:\.[^@\s.\x00-\x1f\x7f]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.[A-Za-z]{2,63}"
)
_MAX_EMAIL = 254


_KEY: Final = "moveworks-async:events-api"


@overload
def notifications_governor(
    *,
    redis_url: None = None,
    max_wait: float = 120.0,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], Awaitable[object]] | None = None,
) -> RateGovernor: ...


@overload
def notifications_governor(
    *,
    redis_url: str,
    key: str = _KEY,
    on_redis_error: Literal["open", "closed"] = "open",
    redis_client: Any = None,
    max_wait: float = 120.0,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], Awaitable[object]] | None = None,
) -> RedisRateGovernor: ...


def notifications_governor(
    *,
    redis_url: str | None = None,
    key: str = _KEY,
    on_redis_error: Literal["open", "closed"] = "open",
    redis_client: Any = None,
    max_wait: float = 120.0,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], Awaitable[object]] | None = None,
) -> RateGovernor | RedisRateGovernor:
    """The governor preset for the Events API: 120 requests per minute per organisation.

    A token bucket of :data:`NOTIFICATIONS_BURST` (10) requests refilled at
    :data:`NOTIFICATIONS_RATE` (110 per minute), so no 60-second window ever holds more than
    120 sends; not adaptive (the limit is documented). A 429 (the Events API sends no
    ``Retry-After``) pauses every sender for 60 seconds, as the API documentation advises.

    With ``redis_url`` (a ``RedisRateGovernor``; ``redis_client``: an existing
    ``redis.asyncio.Redis`` to use) the bucket and the pause live in Redis and are shared by
    every process using the same ``key``: the limit is per organisation, so every
    process sending with the org's credentials should share one. See ``RedisRateGovernor``
    for ``on_redis_error`` (while Redis is down with ``"open"``, this local preset governs).
    ``max_wait``: a send that would wait longer than this for a pause raises
    ``RateLimitError`` instead. ``clock``/``sleep``: injectable, for tests.
    """
    common: dict[str, Any] = {
        "backoff_base": _RATE_LIMIT_PAUSE,
        "backoff_cap": _RATE_LIMIT_PAUSE,
        "max_wait": max_wait,
        "clock": clock,
        "sleep": sleep,
    }
    local = RateGovernor(NOTIFICATIONS_RATE, NOTIFICATIONS_BURST, adaptive=False, **common)
    if redis_url is None:
        return local
    from ._redis_governor import RedisRateGovernor

    return RedisRateGovernor(
        redis_url,
        key,
        rate=NOTIFICATIONS_RATE,
        burst=NOTIFICATIONS_BURST,
        on_redis_error=on_redis_error,
        fallback=local,
        client=redis_client,
        **common,
    )


# --- validation (pure; before any I/O) --------------------------------------------------------


def check_event_id(value: object) -> str:
    """``value`` if it is a UUID in its canonical 8-4-4-4-12 form."""
    if type(value) is not str:
        raise InvalidParameterError(f"event_id must be a str, not {type(value).__name__}")
    if _UUID.fullmatch(value) is None:
        raise InvalidParameterError("event_id must be a UUID such as '123e4567-e89b-...'")
    return value


def check_message(value: object) -> str:
    """``value`` if it is a message of 1 to 20,000 characters (the documented limits; a
    message of spaces is the caller's business, as it is the API's)."""
    if type(value) is not str:
        raise InvalidParameterError(f"message must be a str, not {type(value).__name__}")
    if not 1 <= len(value) <= MAX_MESSAGE_LENGTH:
        raise InvalidParameterError(f"message must be 1-{MAX_MESSAGE_LENGTH} characters")
    return check_unicode(value, "message")


def _invisible(text: str) -> bool:
    """Whether ``text`` holds a character that is not visibly part of an address: a control,
    format (byte-order mark, zero-width space, bidi override), surrogate, private-use or
    unassigned character, or any kind of space."""
    return not text.isascii() and any(
        unicodedata.category(c)[0] in "CZ" for c in text if not c.isascii()
    )


def is_email(value: str) -> bool:
    """Whether ``value`` is a syntactically valid address (the rule of :func:`check_email`,
    shared with the fake server)."""
    return len(value) <= _MAX_EMAIL and not _invisible(value) and bool(_EMAIL.fullmatch(value))


def check_email(value: object, name: str) -> str:
    """``value`` if it is a syntactically valid email address (never echoed in errors)."""
    if type(value) is not str:
        raise InvalidParameterError(f"{name} must be a str, not {type(value).__name__}")
    if not is_email(value):
        raise InvalidParameterError(f"{name} is not a valid email address")
    return value


def check_recipients(value: object, *, limit: int | None = MAX_RECIPIENTS) -> tuple[str, ...]:
    """The recipients as a tuple: at least one, at most ``limit``, each a valid address."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidParameterError("recipients must be a list of email addresses")
    emails = tuple(value)
    if not emails:
        raise InvalidParameterError("recipients must not be empty")
    if limit is not None and len(emails) > limit:
        raise InvalidParameterError(
            f"recipients must hold at most {limit} addresses (send_many splits longer lists)"
        )
    for index, email in enumerate(emails):
        check_email(email, f"recipients[{index}]")
    return emails


def check_context(value: object) -> dict[str, Any] | None:
    """``value`` if it is None or a JSON object that both JSON backends send alike: str keys,
    values of JSON types, finite floats, text without lone surrogates, nested at most
    ``_json.MAX_DEPTH`` levels (checked without recursion, so any depth is a clean error)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidParameterError("context must be a JSON object (a dict with str keys)")
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping | list | tuple):
            if depth > _json.MAX_DEPTH:
                raise InvalidParameterError(
                    f"context must not nest deeper than {_json.MAX_DEPTH} levels"
                )
            if isinstance(item, Mapping):
                for key in item:
                    if type(key) is not str:
                        raise InvalidParameterError(
                            "context must be a JSON object (a dict with str keys)"
                        )
                    check_unicode(key, "a context key")
                children: Iterable[object] = item.values()
            else:
                children = item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            check_unicode(item, "a context value")
        elif isinstance(item, float) and not math.isfinite(item):
            raise InvalidParameterError("context must not hold NaN or infinity (not JSON)")
        elif item is not None and not isinstance(item, bool | int | float):
            raise InvalidParameterError(
                f"context must be JSON-serialisable (holds a {type(item).__name__})"
            )
    _json.dumps(value)  # what the walk cannot see (an int too long to write) is typed too
    return dict(value)


def batches(recipients: Sequence[str], size: int = MAX_RECIPIENTS) -> list[tuple[str, ...]]:
    """``recipients`` without repeats (first occurrence kept), in batches of ``size``."""
    unique = tuple(dict.fromkeys(recipients))
    return [unique[i : i + size] for i in range(0, len(unique), size)]


# --- the resource -----------------------------------------------------------------------------


class Notifications:
    """``client.notifications``: send chat messages to users for an Events Workspace event.

    ``governor`` (default :func:`notifications_governor`) paces every send of this client;
    pass the same governor (for instance a Redis-backed one) to every client of an
    organisation so that together they keep to its 120 requests per minute.
    """

    def __init__(self, seam: Seam, governor: Governor | None = None) -> None:
        if governor is not None:
            governor = check_governor(governor, "notifications_governor must be a Governor")
        self._seam = seam
        # A clock and sleep injected into the client (a test's virtual time) drive this
        # governor too; the defaults stay the governor's own (usable outside a running loop).
        clock = None if seam.clock is loop_time else seam.clock
        sleep = None if seam.sleep is anyio.sleep else seam.sleep
        self.governor: Governor = governor or notifications_governor(clock=clock, sleep=sleep)
        self._view: Seam | None = None

    def _channel(self) -> Seam:
        """The seam of the Events API: no ``Assistant-Name``, paced by :attr:`governor`."""
        if self._view is None:
            self._view = self._seam.derive(self.governor)
        return self._view

    async def send(
        self,
        event_id: str,
        *,
        message: str,
        recipients: Sequence[str],
        context: Mapping[str, Any] | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
    ) -> NotificationResult:
        """Schedule ``message`` for up to 500 ``recipients`` (``POST /rest/v1/events/{event_id}
        /messages/send``).

        ``message`` is Moveworks' chat markup (``<b>``, ``<i>``, ``<br>``, ``<ul><li>``,
        ``<a href>``, ``:emoji:``), 1-20,000 characters; ``context`` an optional JSON object
        (``{"slots": {...}}``). Delivery is asynchronous: ``RECEIVED`` means scheduled.

        Raises:
            InvalidParameterError: bad input, before any I/O.
            NotFoundError: no such event in the Events Workspace.
            RateLimitError: still rate limited after the governor's pauses and the retries.
            APIError: other failures; ``outcome_unknown=True`` when the message may have been
                scheduled although this was raised (it is then never re-sent automatically).
        """
        check_event_id(event_id)
        body: dict[str, Any] = {
            "message": check_message(message),
            "recipients": list(check_recipients(recipients)),
        }
        ctx = check_context(context)
        if ctx is not None:
            body["context"] = ctx
        return await self._post(
            f"/rest/v1/events/{event_id}/messages/send", body, timeout, max_retries
        )

    async def send_many(
        self,
        event_id: str,
        *,
        message: str,
        recipients: Iterable[str],
        context: Mapping[str, Any] | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
    ) -> list[NotificationResult]:
        """Send to any number of recipients, in batches of at most 500, one after the other.

        Repeated addresses are sent to once. Every address is validated before the first
        request. Returns one result per batch, in order.

        Raises:
            InvalidParameterError: bad input, before any I/O.
            NotificationBatchError: a batch failed; it says which recipients were scheduled,
                which were not, and which may have been (``outcome_unknown``). No batch is ever
                sent twice, and no batch after a failed one is sent.
        """
        check_event_id(event_id)
        text = check_message(message)
        everyone = check_recipients(recipients, limit=None)
        ctx = check_context(context)
        groups = batches(everyone)
        results: list[NotificationResult] = []
        path = f"/rest/v1/events/{event_id}/messages/send"
        for index, group in enumerate(groups):
            body: dict[str, Any] = {"message": text, "recipients": list(group)}
            if ctx is not None:
                body["context"] = ctx
            try:
                results.append(await self._post(path, body, timeout, max_retries))
            except Exception as exc:
                # Whatever fails, the caller must learn which recipients were scheduled.
                raise _batch_error(groups, index, results, exc) from exc
        return results

    async def send_legacy(
        self,
        *,
        message: str,
        recipients: Sequence[str],
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
    ) -> None:
        """Deprecated: ``POST /rest/v1/messages/send``, the Events API's original endpoint.

        .. deprecated::
            Moveworks deprecated this endpoint (existing integrations keep working); use
            :meth:`send` with an event from the Events Workspace. Emits DeprecationWarning.

        Same validation, governor and error rules as :meth:`send`; the endpoint's reply has
        no documented body (200, or 204 on older deployments), so nothing is returned.
        """
        warnings.warn(
            "notifications.send_legacy() uses the deprecated POST /rest/v1/messages/send; "
            "use notifications.send(event_id, ...) instead",
            DeprecationWarning,
            stacklevel=2,
        )
        body = {
            "message": check_message(message),
            "recipients": list(check_recipients(recipients)),
        }
        await self._send("/rest/v1/messages/send", body, timeout, max_retries)

    async def _send(
        self,
        path: str,
        body: dict[str, Any],
        timeout: Timeout | float | None,
        max_retries: int | None,
    ) -> Any:
        request = Request("POST", path, json=body, idempotent=False)
        try:
            return await self._channel().request(request, timeout=timeout, max_retries=max_retries)
        except UnexpectedResponseError as exc:
            # A 2xx whose body could not be read (too large, cut): the server took the send.
            if exc.status_code is not None and 200 <= exc.status_code < 300:
                exc.outcome_unknown = True
            raise

    async def _post(
        self,
        path: str,
        body: dict[str, Any],
        timeout: Timeout | float | None,
        max_retries: int | None,
    ) -> NotificationResult:
        reply = await self._send(path, body, timeout, max_retries)
        # A 2xx means the server took the send: a body it cannot be read from is raised with
        # outcome_unknown=True (the message was most likely scheduled; never send it again
        # blindly), not as a failure that invites a re-send.
        payload = await decode(len(reply.body), json_body, reply, idempotent=False)
        data = payload.get("data", payload) if isinstance(payload, Mapping) else None
        try:
            result = structure(data, NotificationResult, request_id=request_id_from(reply.headers))
        except ResponseValidationError as exc:
            exc.outcome_unknown = True
            raise
        return attrs.evolve(
            result,
            recipients=tuple(body["recipients"]),
            request_id=request_id_from(reply.headers),
        )


def _batch_error(
    groups: list[tuple[str, ...]],
    index: int,
    results: list[NotificationResult],
    error: Exception,
) -> NotificationBatchError:
    """The error of batch ``index`` failing with ``error``.

    The failed batch counts as not scheduled only when the error says the request was
    refused or never sent: an API error without ``outcome_unknown``, a typed error raised
    before any I/O (bad input, the governor unavailable). Anything else (an unexpected
    exception) may have struck after the request left, so its outcome is unknown.
    """
    scheduled = tuple(r for group in groups[:index] for r in group)
    later = tuple(r for group in groups[index + 1 :] for r in group)
    failed = groups[index]
    if isinstance(error, APIError):
        unknown = error.outcome_unknown
    else:
        unknown = not isinstance(error, InvalidParameterError | GovernorUnavailableError)
    not_scheduled = later if unknown else failed + later
    message = (
        f"batch {index + 1} of {len(groups)} failed ({type(error).__name__}: "
        f"{cap_text(str(error))}); {len(scheduled)} recipients scheduled, "
        f"{len(not_scheduled)} not scheduled"
        + (f", {len(failed)} with an unknown outcome" if unknown else "")
    )
    return NotificationBatchError(
        message,
        scheduled=scheduled,
        not_scheduled=not_scheduled,
        outcome_unknown=failed if unknown else (),
        results=tuple(results),
        error=error,
    )
