"""Bearer token sources: a static token, the caller's async callable, OAuth client credentials.

A source hands out a bearer for each attempt and is told when the server rejected one
(``invalidate``); it answers whether asking again could give a different token, which is what
makes a single 401 replay worthwhile. No source ever puts a secret in a repr, str or log.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from . import _json
from ._errors import ClientStateError, InvalidParameterError, ResponseValidationError
from ._protocol import release_frames
from ._validate import check_text, check_token, check_url

#: How many dropped tokens :class:`ClientCredentials` keeps to mask (tokens live minutes; a
#: request carrying an older one than the last few has long been answered).
_RETIRED_KEPT = 4

__all__ = ["CallableToken", "ClientCredentials", "StaticToken", "TokenFetcher", "TokenSource"]

#: ``fetch(url, form) -> decoded JSON``: posts the token request through the client's transport,
#: raising the client's typed errors for non-2xx replies.
TokenFetcher = Callable[[str, Mapping[str, str]], Awaitable[Any]]


@runtime_checkable
class TokenSource(Protocol):
    """What the client needs from an authentication method."""

    async def get_token(self) -> str:
        """A bearer to send now."""
        ...

    def invalidate(self, token: str) -> bool:
        """The server rejected ``token``; True if :meth:`get_token` may now return another."""
        ...


class StaticToken:
    """A fixed bearer (an API key or a token obtained elsewhere). A 401 is final."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        self._token = check_token(token, "token")

    async def get_token(self) -> str:
        return self._token

    def invalidate(self, token: str) -> bool:
        return False

    def __repr__(self) -> str:
        return "StaticToken(<redacted>)"


class CallableToken:
    """Wraps the caller's ``async () -> str``; called before every attempt (cache it yourself).

    After a 401 the callable is asked once more and the request replayed once.
    """

    __slots__ = ("_fn",)

    def __init__(self, fn: Callable[[], Awaitable[str]]) -> None:
        if not callable(fn):
            raise TypeError("auth must be a TokenSource or an async callable returning a str")
        self._fn = fn

    async def get_token(self) -> str:
        pending = self._fn()
        if not inspect.isawaitable(pending):
            # A plain function would otherwise fail with "object str can't be used in 'await'".
            raise InvalidParameterError(
                f"auth must be an async callable; it returned {type(pending).__name__}, "
                "not an awaitable"
            )
        return check_token(await pending, "token returned by auth callable")

    def invalidate(self, token: str) -> bool:
        return True

    def __repr__(self) -> str:
        return f"CallableToken({getattr(self._fn, '__qualname__', 'callable')})"


class ClientCredentials:
    """OAuth 2.0 client credentials against ``POST {base_url}/oauth/v1/token``.

    The token is cached until ``refresh_margin`` seconds before ``expires_in`` runs out (default:
    a fifth of the lifetime, at most 60 s, since tokens may live only 60 s). One task refreshes
    at a time; the others wait for its result, so 50 callers after expiry make one request.
    Both reply shapes are accepted: ``{"data": {access_token, expires_in}}`` and flat.

    Refresh rules:

    * the refresh runs inside the call that needed the token first and obeys that call's
      bounds (its ``timeout`` total and per-attempt connect/read timeouts), never the client's
      defaults on top of them;
    * the other calls wait for it, each within its own bounds;
    * if the refresh fails (the token endpoint refused, broke or answered nonsense), every call
      waiting for it fails at once with that same error: none of them tries again on behalf of
      the others, so a dead token endpoint costs one refresh per wave of calls, not one each;
    * if the call that started the refresh is cancelled or runs out of time, the refresh is
      abandoned and the next waiting call starts a new one within its own bounds.

    Args:
        client_id: the credential's client id.
        client_secret: the credential's secret (never shown in any repr).
        token_url: full URL of the token endpoint; default ``{base_url}/oauth/v1/token``.
        refresh_margin: seconds before expiry to refresh; default ``min(60, expires_in / 5)``.
        clock: monotonic seconds, injectable for tests.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        token_url: str | None = None,
        *,
        refresh_margin: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_id = check_text(client_id, "client_id")
        self._secret = check_text(client_secret, "client_secret")
        self.token_url = None if token_url is None else check_url(token_url, "token_url")
        if refresh_margin is not None and (
            isinstance(refresh_margin, bool)
            or not isinstance(refresh_margin, int | float)
            or not 0 <= refresh_margin < math.inf  # nan fails too: it would refresh every call
        ):
            raise InvalidParameterError("refresh_margin must be a finite number >= 0, or None")
        self._margin = refresh_margin
        self._clock = clock
        self._token: str | None = None
        #: The last tokens this object handed out and then dropped (after a 401 or a refresh),
        #: newest last: requests already sent carry them, and a server may echo them back in an
        #: error (the token endpoint's after a 401, a late reply), so the client masks them too.
        self._retired: collections.deque[str] = collections.deque(maxlen=_RETIRED_KEPT)
        self._refresh_at = 0.0
        # The refresh in progress: its result (a token, or None when abandoned) or its error.
        self._flight: asyncio.Future[str | None] | None = None
        self._fetch: TokenFetcher | None = None
        self._default_url: str | None = None
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"ClientCredentials(client_id={self.client_id!r}, client_secret=<redacted>)"

    def bind(self, fetch: TokenFetcher, base_url: str) -> TokenSource:
        """Attach a client's transport; called by ``AsyncMoveworks``.

        Returns that client's view of these credentials: the token, its refresh schedule and
        the single-flight lock stay shared by every client bound to them, but a refresh asked
        for through the view goes through that client's transport (so closing one client
        never breaks another that shares the credentials). :meth:`get_token` on the object
        itself uses the most recently bound client.
        """
        url = base_url.rstrip("/") + "/oauth/v1/token"
        self._fetch, self._default_url = fetch, url
        return _BoundCredentials(self, fetch, url)

    async def get_token(self) -> str:
        if self._fetch is None or self._default_url is None:
            raise ClientStateError("ClientCredentials must be used through AsyncMoveworks")
        return await self._get_token(self._fetch, self._default_url)

    async def _get_token(self, fetch: TokenFetcher, default_url: str) -> str:
        while True:
            token = self._token
            if token is not None and self._clock() < self._refresh_at:
                return token
            flight = self._flight
            if flight is None:
                return await self._lead(fetch, default_url)
            # Shielded: a waiter that is cancelled (its own timeout) leaves the refresh alone.
            result = await asyncio.shield(flight)
            if result is not None:
                return result
            # The refresh was abandoned by its caller: the loop starts a new one.

    async def _lead(self, fetch: TokenFetcher, default_url: str) -> str:
        """Refresh on behalf of every task that needs a token now (see the class notes)."""
        flight: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._flight = flight
        try:
            token = await self._refresh(fetch, default_url)
        except Exception as exc:
            flight.set_exception(exc)  # the waiters fail with it, at once
            flight.exception()  # retrieved: no "never retrieved" log when nobody waited
            raise
        except BaseException:
            flight.set_result(None)  # cancelled: a waiter takes over within its own bounds
            raise
        finally:
            if self._flight is flight:
                self._flight = None
        flight.set_result(token)
        return token

    def invalidate(self, token: str) -> bool:
        # Only the token that failed is dropped: 1,000 tasks failing with the same old token
        # cause one refresh, and a late 401 for an old token does not discard a fresh one.
        if token == self._token:
            self._retire(token)
            self._token = None
        return True

    def _retire(self, token: str) -> None:
        if token not in self._retired:
            self._retired.append(token)

    def _secrets(self) -> list[str]:
        """Every token the client may have sent with these credentials, and the secret."""
        found = [self._secret, *self._retired]
        if self._token:
            found.append(self._token)
        return found

    async def _refresh(self, fetch: TokenFetcher, default_url: str) -> str:
        url = self.token_url or default_url
        form = {
            "client_id": self.client_id,
            "client_secret": self._secret,
            "grant_type": "client_credentials",
        }
        started = self._clock()
        payload: Any = None
        try:
            payload = await fetch(url, form)
            self.refreshes += 1
            token, expires_in = _parse_token(payload)
        except BaseException as exc:
            # The traceback keeps these frames: the token reply and the form (the client
            # secret) must not stay alive with the error.
            payload = form = None  # type: ignore[assignment]
            release_frames(exc)
            raise
        margin = self._margin if self._margin is not None else min(60.0, expires_in / 5.0)
        if self._token is not None and self._token != token:
            self._retire(self._token)
        self._token = token
        self._refresh_at = started + max(expires_in - margin, 0.0)
        return token


class _BoundCredentials:
    """One client's view of shared :class:`ClientCredentials` (see ``ClientCredentials.bind``)."""

    __slots__ = ("_credentials", "_fetch", "_url")

    def __init__(self, credentials: ClientCredentials, fetch: TokenFetcher, url: str) -> None:
        self._credentials = credentials
        self._fetch = fetch
        self._url = url

    async def get_token(self) -> str:
        return await self._credentials._get_token(self._fetch, self._url)

    def needs_refresh(self) -> bool:
        """True when the next ``get_token`` would (start or) wait for a token request."""
        credentials = self._credentials
        return credentials._token is None or credentials._clock() >= credentials._refresh_at

    def invalidate(self, token: str) -> bool:
        return self._credentials.invalidate(token)

    def __repr__(self) -> str:
        return repr(self._credentials)


def _parse_token(payload: Any) -> tuple[str, float]:
    body = payload.get("data", payload) if isinstance(payload, Mapping) else None
    if not isinstance(body, Mapping):
        raise ResponseValidationError("token reply is not an object", path="$")
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise ResponseValidationError("token reply has no access_token", path="$.access_token")
    try:
        check_token(token, "access_token")
        error = None
    except InvalidParameterError:
        # The server's fault, not the caller's: a token with CR/LF, NUL, non-ASCII or of
        # absurd length cannot be sent as a header.
        error = ResponseValidationError(
            "token reply has an access_token that cannot be sent as a header",
            path="$.access_token",
        )
    if error is not None:
        raise error  # outside the except block: no __context__
    expires_in = body.get("expires_in", 60)
    # NaN (stdlib JSON), 1e400 (inf) and 10**400 (no float) are nonsense, not lifetimes: NaN
    # would make every call refresh, and float(10**400) raises OverflowError.
    if (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int | float)
        or not 0 < expires_in <= _MAX_LIFETIME
    ):
        raise ResponseValidationError("token reply has a bad expires_in", path="$.expires_in")
    return token, float(expires_in)


#: Longest token lifetime believed (ten years); beyond it ``expires_in`` is rejected.
_MAX_LIFETIME = 10 * 365 * 24 * 3600


def token_body(form: Mapping[str, str]) -> bytes:
    """The JSON body of a token request (current docs; the older form encoding is a fallback)."""
    return _json.dumps(dict(form))
