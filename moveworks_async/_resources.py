"""The API resources: conversations, responses, messages, feedback, events, modals.

Each method validates its arguments (before any I/O), builds a ``Request`` for the client's
generation and converts the reply. List methods return async iterators that follow
``metadata.next_cursor`` page by page; ``limit`` is the page size sent to the API (1-100).

Every method takes the same keyword-only per-call options: ``timeout`` (a ``Timeout`` or total
seconds; ``None``: the client's), ``max_retries`` (``None``: the client's) and
``extra_headers`` (added to the request; validated like every header). A list method applies
them to each page request and validates them when it is called.

Every resource has ``with_raw_response``: the same non-streaming methods, returning a
:class:`~moveworks_async.RawResponse` (status, headers, request id, ``parse()``) instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from typing import Any, TypeVar

import anyio

from ._converter import structure
from ._errors import InvalidParameterError, ResponseValidationError, WaitTimeoutError
from ._iterators import one_task
from ._models import (
    Conversation,
    Event,
    FeedbackResult,
    Message,
    Modal,
    ModalSubmission,
    Response,
)
from ._off_loop import decode_in_time
from ._polling import poll_delays
from ._protocol import Request, create_input, ids, path, request_id_from, require_v1
from ._raw import raw, raw_pages
from ._reply import json_body
from ._seam import Seam
from ._streaming import (
    DEFAULT_FIRST_EVENT_TIMEOUT,
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_RECOVER_TIMEOUT,
    ResponseStream,
)
from ._transport import Reply, Timeout
from ._validate import (
    check_headers,
    check_id,
    check_limit,
    check_max_retries,
    check_text,
    is_id,
    is_positive,
)

__all__ = [
    "Conversations",
    "ConversationsWithRawResponse",
    "Events",
    "EventsWithRawResponse",
    "Feedback",
    "FeedbackWithRawResponse",
    "Messages",
    "MessagesWithRawResponse",
    "Modals",
    "ModalsWithRawResponse",
    "Responses",
    "ResponsesWithRawResponse",
]

T = TypeVar("T")
_TITLE_MAX = 256
#: Default bound of ``responses.wait`` (seconds), as Moveworks' demo app polls
#: (https://github.com/moveworks/conversations-api-demo-app): long answers approach two
#: minutes end to end.
DEFAULT_WAIT = 150.0


def _wait_bounds(timeout: object) -> tuple[float, Timeout | None]:
    """``wait``'s whole-wait bound and per-poll timeout from its ``timeout`` argument."""
    if isinstance(timeout, Timeout):
        total = DEFAULT_WAIT if timeout.total is None else timeout.total
        return total, Timeout(connect=timeout.connect, read=timeout.read, total=None)
    if not is_positive(timeout):  # nan or inf would poll forever
        raise InvalidParameterError(
            "timeout must be a Timeout or a positive, finite number of seconds"
        )
    return float(timeout), None  # type: ignore[arg-type]


_PageOptions = tuple[Timeout | None, int | None, dict[str, str] | None]


def _page_options(
    timeout: Timeout | float | None,
    max_retries: int | None,
    extra_headers: Mapping[str, str] | None,
) -> _PageOptions:
    """Validate a list call's per-page options at call time, before the iterator runs."""
    return (
        None if timeout is None else Timeout.coerce(timeout),
        check_max_retries(max_retries),
        check_headers(extra_headers),
    )


def _page_params(limit: int | None, **extra: str | None) -> dict[str, str]:
    params = {name: value for name, value in extra.items() if value is not None}
    if limit is not None:
        params["limit"] = str(limit)
    return params


@one_task
async def _paginate(
    seam: Seam,
    route: str,
    params: dict[str, str],
    key: str,
    cls: type[T],
    options: _PageOptions,
) -> AsyncGenerator[T, None]:
    """Yield every item of every page, following ``metadata.next_cursor`` (one task at a
    time: :mod:`._iterators`).

    ``options`` (from :func:`_page_options`): the timeout, max_retries and extra headers of
    each page request.
    """
    seen: set[str] = set()
    while True:
        request = Request("GET", route, params=dict(params))
        payload, items, request_id = await _list(seam, request, key, tuple[cls, ...], options)  # type: ignore[valid-type]
        for item in items:
            yield item
        # A page's items come before any complaint about its cursor (as the Data API's).
        cursor = _next_cursor(payload, seen, request_id)
        if cursor is None:
            return
        seen.add(cursor)
        params["cursor"] = cursor


def _next_cursor(payload: Mapping[str, Any], seen: set[str], request_id: str | None) -> str | None:
    """The cursor of the next page, or None after the last one (``metadata`` or its
    ``next_cursor`` null, absent or empty).

    Anything else ends the listing with ResponseValidationError, never as if it were complete:
    a ``metadata`` that is not an object, a cursor that is not a string, and a cursor sent
    before (following it would list the same pages again, forever).
    """
    metadata = payload.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        problem, path = f"expected an object or null, got {type(metadata).__name__}", "$.metadata"
    else:
        cursor = metadata.get("next_cursor")
        if cursor is None or cursor == "":
            return None
        path = "$.metadata.next_cursor"
        if not isinstance(cursor, str):
            problem = f"expected a string or null, got {type(cursor).__name__}"
        elif cursor in seen:
            problem = "the server sent this cursor before: following it would list pages again"
        else:
            return cursor
    raise ResponseValidationError(
        f"{problem}; the listing is incomplete", path=path, request_id=request_id
    )


async def _list(
    seam: Seam, request: Request, key: str, tp: type[T], options: _PageOptions
) -> tuple[Any, T, str | None]:
    """One list reply: its JSON, its ``key`` member as ``tp`` and its request id. The call's
    Timeout.total covers the decoding too (as for every other call's reply)."""
    timeout, max_retries, extra_headers = options
    started = asyncio.get_running_loop().time()
    reply = await seam.request(
        request, timeout=timeout, max_retries=max_retries, extra_headers=extra_headers
    )
    total = (seam.timeout if timeout is None else timeout).total
    return await decode_in_time(total, started, True, len(reply.body), _list_reply, reply, key, tp)


def _list_reply(reply: Reply, key: str, tp: type[T]) -> tuple[Any, T, str | None]:
    """A list reply's JSON, its ``key`` member as ``tp`` and its request id (decoded off the
    loop when big)."""
    payload = json_body(reply)
    request_id = request_id_from(reply.headers)
    return payload, _member(payload, key, tp, request_id), request_id


def _member(payload: Any, key: str, tp: type[T], request_id: str | None) -> T:
    """Structure ``payload[key]`` as ``tp``; the error path names the member (``$.messages[0]``).

    A body that is not an object at all is a ResponseValidationError at ``$``, not an empty list.
    """
    if not isinstance(payload, Mapping):
        raise ResponseValidationError(
            f"expected an object, got {type(payload).__name__}", path="$", request_id=request_id
        )
    if key not in payload:
        # A required member: a 200 without it (an error object, say) is no empty page.
        raise ResponseValidationError(
            f"missing required member {key!r}", path=f"$.{key}", request_id=request_id
        )
    try:
        return structure(payload.get(key), tp, request_id=request_id)
    except ResponseValidationError as exc:
        error = ResponseValidationError(
            exc.message, path=f"$.{key}{exc.path[1:]}", request_id=request_id
        )
    raise error  # outside the except block: no __context__ (see _errors)


class _Resource:
    __slots__ = ("_seam",)

    def __init__(self, seam: Seam) -> None:
        self._seam = seam

    def _path(self, *segments: str) -> str:
        return path(self._seam.generation, *segments)


class Conversations(_Resource):
    """``/conversations``: create, get, update (rename/archive) and list."""

    __slots__ = ()

    @property
    def with_raw_response(self) -> ConversationsWithRawResponse:
        """These methods returning a :class:`~moveworks_async.RawResponse` (not streams)."""
        return ConversationsWithRawResponse(self)

    async def create(
        self,
        title: str | None = None,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Conversation:
        """Create a conversation (``title`` optional, at most 256 characters).

        Not idempotent: ``max_retries`` only bounds the retries a create allows (connect
        failures and 429); a 5xx or a lost reply is never retried.
        """
        body: dict[str, Any] = {}
        if title is not None:
            body["title"] = check_text(title, "title", max_length=_TITLE_MAX)
        # Not idempotent: a retried create could leave an empty conversation behind.
        request = Request("POST", self._path("conversations"), json=body, idempotent=False)
        return await self._seam.request_model(
            request,
            Conversation,
            timeout=timeout,
            max_retries=max_retries,
            extra_headers=extra_headers,
        )

    async def get(
        self,
        conversation_id: str,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Conversation:
        """Get one conversation."""
        p = ids(conversation_id=conversation_id)
        request = Request("GET", self._path("conversations", p["conversation_id"]))
        return await self._seam.request_model(
            request,
            Conversation,
            timeout=timeout,
            max_retries=max_retries,
            extra_headers=extra_headers,
        )

    async def update(
        self,
        conversation_id: str,
        title: str | None = None,
        archived: bool | None = None,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Conversation:
        """Rename and/or archive a conversation; at least one of the two must be given."""
        p = ids(conversation_id=conversation_id)
        body: dict[str, Any] = {}
        if title is not None:
            body["title"] = check_text(title, "title", max_length=_TITLE_MAX)
        if archived is not None:
            if type(archived) is not bool:
                raise InvalidParameterError("archived must be a bool")
            body["archived"] = archived
        if not body:
            raise InvalidParameterError("update needs title= or archived=")
        # Setting the same values again is harmless, so the PATCH may be retried.
        request = Request("PATCH", self._path("conversations", p["conversation_id"]), json=body)
        return await self._seam.request_model(
            request,
            Conversation,
            timeout=timeout,
            max_retries=max_retries,
            extra_headers=extra_headers,
        )

    def list(
        self,
        archived: bool = False,
        limit: int | None = None,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[Conversation, None]:
        """Iterate over conversations, most recently active first, page by page.

        ``timeout`` and ``max_retries`` apply to each page request.
        """
        if type(archived) is not bool:
            raise InvalidParameterError("archived must be a bool")
        params = _page_params(check_limit(limit), archived="true" if archived else "false")
        options = _page_options(timeout, max_retries, extra_headers)
        return _paginate(
            self._seam,
            self._path("conversations"),
            params,
            "conversations",
            Conversation,
            options,
        )


def _unusable_id(*, outcome_unknown: bool) -> ResponseValidationError:
    """The error for a reply whose response id cannot be used in a URL (get, wait, a stream's
    recovery would need it): a server error when it arrives, and never returned, so such an
    id is never put into a path."""
    return ResponseValidationError(
        "the server sent a response id the SDK cannot use",
        path="$.response_id",
        outcome_unknown=outcome_unknown,
    )


class Responses(_Resource):
    """``/responses``: create (returns at once), get, wait until terminal, and stream."""

    __slots__ = ()

    @property
    def with_raw_response(self) -> ResponsesWithRawResponse:
        """These methods returning a :class:`~moveworks_async.RawResponse` (not streams)."""
        return ResponsesWithRawResponse(self)

    async def create(
        self,
        conversation_id: str,
        text: str | None = None,
        callback_id: str | None = None,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send a user turn (``text``, or a button's ``callback_id``); returns the CREATED response.

        Never retried after an ambiguous failure: the error then has ``outcome_unknown=True``.
        Not idempotent, so ``max_retries`` only bounds the retries a create allows: connect
        failures (nothing was sent) and 429 (refused before processing); a 5xx, a timeout or
        a lost reply is never retried, whatever ``max_retries`` says.
        """
        seam = self._seam
        # The hot calls (create, get) do inline what ids() and _path() do for the others.
        cid = check_id(conversation_id, "conversation_id")
        body = create_input(seam.generation, text, callback_id)
        route = path(seam.generation, "conversations", cid, "responses")
        request = Request("POST", route, json=body, idempotent=False)
        response = await seam.request_model(
            request, Response, timeout=timeout, max_retries=max_retries, extra_headers=extra_headers
        )
        if not is_id(response.response_id):
            # The response was created: the outcome of the call is unknown to the caller.
            raise _unusable_id(outcome_unknown=True)
        return response

    async def get(
        self,
        conversation_id: str,
        response_id: str,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Get the current state and outputs of a response."""
        seam = self._seam
        cid = check_id(conversation_id, "conversation_id")
        rid = check_id(response_id, "response_id")
        route = path(seam.generation, "conversations", cid, "responses", rid)
        response = await seam.request_model(
            Request("GET", route),
            Response,
            timeout=timeout,
            max_retries=max_retries,
            extra_headers=extra_headers,
        )
        if response.response_id != rid and not is_id(response.response_id):
            # (An id equal to the one asked for was checked already.)
            raise _unusable_id(outcome_unknown=False)
        return response

    async def wait(
        self,
        conversation_id: str,
        response_id: str,
        timeout: Timeout | float = DEFAULT_WAIT,
        *,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Poll until the response is COMPLETED or FAILED and return it.

        Polls with capped exponential backoff and jitter. An unknown status counts as not
        terminal. Raises :class:`WaitTimeoutError` at the deadline (the last response seen is
        on the error), whatever the server does meanwhile.

        ``timeout`` bounds the whole wait, every poll and pause included (as ``timeout=``
        bounds the whole of any call): seconds (default 150), or a ``Timeout`` whose
        ``total`` is that bound (``None``: 150 s) and whose ``connect`` and ``read`` bound each
        poll. ``max_retries`` and ``extra_headers`` apply to each poll (a GET).
        """
        ids(conversation_id=conversation_id, response_id=response_id)
        total, poll_timeout = _wait_bounds(timeout)
        check_max_retries(max_retries)
        headers = check_headers(extra_headers)
        seam = self._seam
        deadline = seam.clock() + total
        last: Response | None = None
        for delay in poll_delays(rng=seam.rng):
            remaining = deadline - seam.clock()
            if remaining <= 0:
                break
            with anyio.move_on_after(remaining):
                last = await self.get(
                    conversation_id,
                    response_id,
                    timeout=poll_timeout,
                    max_retries=max_retries,
                    extra_headers=headers,
                )
                if last.status.is_terminal:
                    return last
            remaining = deadline - seam.clock()
            if remaining <= 0:
                break
            await seam.pause(min(delay, remaining))  # aclose() ends it
        raise WaitTimeoutError(
            f"response did not reach a terminal status within {total:g} s",
            response_id=response_id,
            response=last,
        )

    def stream(
        self,
        conversation_id: str,
        text: str | None = None,
        callback_id: str | None = None,
        *,
        first_event_timeout: float | None = DEFAULT_FIRST_EVENT_TIMEOUT,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        deadline: float | None = None,
        timeout: Timeout | float | None = None,
        recover: bool = True,
        recover_timeout: float = DEFAULT_RECOVER_TIMEOUT,
        max_event_size: int = 4 * 1024 * 1024,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ResponseStream:
        """Create a response and stream its events; use as ``async with ... as stream``.

        Arguments are validated now, before any I/O; the request is sent on ``async with``.
        Options (seconds): ``first_event_timeout`` until the first event, ``idle_timeout``
        between reads once events flow (keep-alive comments count), ``deadline`` for the whole
        stream, ``recover`` (poll and yield a synthesized terminal event if the stream ends
        early), ``recover_timeout`` (polling budget), ``max_event_size`` (bytes per event),
        ``max_retries`` (of the create: connect failures and 429 only), ``extra_headers``
        (added to the create). ``None`` disables a timeout.

        ``timeout`` is the same whole-call bound as on every other method, here the stream's
        overall deadline: another spelling of ``deadline`` (give one, not both). A
        ``Timeout`` gives the deadline as its ``total`` and the connect timeout as its
        ``connect``. See :class:`~moveworks_async.ResponseStream`.
        """

        connect: float | None = self._seam.timeout.connect
        if timeout is not None:
            if deadline is not None:
                raise InvalidParameterError(
                    "pass timeout= or deadline=, not both: they are the same overall bound"
                )
            bound = Timeout.coerce(timeout)
            deadline = bound.total
            if isinstance(timeout, Timeout):
                connect = bound.connect
        return ResponseStream(
            self._seam,
            conversation_id,
            text,
            callback_id,
            first_event_timeout=first_event_timeout,
            idle_timeout=idle_timeout,
            deadline=deadline,
            recover=recover,
            recover_timeout=recover_timeout,
            max_event_size=max_event_size,
            max_retries=max_retries,
            extra_headers=extra_headers,
            connect_timeout=connect,
        )


class Messages(_Resource):
    """``/messages``: a conversation's history, and the messages of one response."""

    __slots__ = ()

    @property
    def with_raw_response(self) -> MessagesWithRawResponse:
        """These methods returning a :class:`~moveworks_async.RawResponse` (not streams)."""
        return MessagesWithRawResponse(self)

    def list(
        self,
        conversation_id: str,
        limit: int | None = None,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[Message, None]:
        """Iterate over a conversation's messages, newest first, page by page.

        ``timeout`` and ``max_retries`` apply to each page request.
        """
        p = ids(conversation_id=conversation_id)
        params = _page_params(check_limit(limit))
        options = _page_options(timeout, max_retries, extra_headers)
        route = self._path("conversations", p["conversation_id"], "messages")
        return _paginate(self._seam, route, params, "messages", Message, options)

    async def list_for_response(
        self,
        conversation_id: str,
        response_id: str,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> tuple[Message, ...]:
        """The user's input message and every assistant message of one response."""
        p = ids(conversation_id=conversation_id, response_id=response_id)
        route = self._path(
            "conversations", p["conversation_id"], "responses", p["response_id"], "messages"
        )
        options = _page_options(timeout, max_retries, extra_headers)
        _, messages, _ = await _list(
            self._seam, Request("GET", route), "messages", tuple[Message, ...], options
        )
        return messages


class Feedback(_Resource):
    """Feedback on an assistant message."""

    __slots__ = ()

    @property
    def with_raw_response(self) -> FeedbackWithRawResponse:
        """These methods returning a :class:`~moveworks_async.RawResponse` (not streams)."""
        return FeedbackWithRawResponse(self)

    async def submit(
        self,
        conversation_id: str,
        response_id: str,
        message_id: str,
        *,
        callback_id: str,
        additional_feedback: str | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> FeedbackResult:
        """Record feedback given as ``message.feedback.helpful.callback_id`` (or ``unhelpful``)."""
        p = ids(conversation_id=conversation_id, response_id=response_id, message_id=message_id)
        body: dict[str, Any] = {"callback_id": check_text(callback_id, "callback_id")}
        if additional_feedback is not None:
            if not isinstance(additional_feedback, str):
                raise InvalidParameterError("additional_feedback must be a str")
            if additional_feedback.strip():
                body["additional_feedback"] = additional_feedback.strip()
        route = self._path(
            "conversations",
            p["conversation_id"],
            "responses",
            p["response_id"],
            "messages",
            p["message_id"],
            "feedback",
        )
        # The same callback id records the same rating, so a retry cannot double-count.
        request = Request("POST", route, json=body, idempotent=True)
        return await self._seam.request_model(
            request,
            FeedbackResult,
            timeout=timeout,
            max_retries=max_retries,
            extra_headers=extra_headers,
        )


class Events(_Resource):
    """System-initiated events (asynchronous replies and proactive notifications)."""

    __slots__ = ()

    @property
    def with_raw_response(self) -> EventsWithRawResponse:
        """These methods returning a :class:`~moveworks_async.RawResponse` (not streams)."""
        return EventsWithRawResponse(self)

    def list(
        self,
        conversation_id: str,
        starting_after: str | None = None,
        ending_at: str | None = None,
        limit: int | None = None,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncGenerator[Event, None]:
        """Iterate over events oldest first; ``conversation_id="-"`` reads all conversations.

        ``starting_after`` is your checkpoint (exclusive), ``ending_at`` an inclusive bound.
        ``timeout`` and ``max_retries`` apply to each page request.
        """
        p = ids(conversation_id=conversation_id)
        bounds = {
            name: ids(**{name: value})[name]
            for name, value in (("starting_after", starting_after), ("ending_at", ending_at))
            if value is not None
        }
        params = _page_params(check_limit(limit), **bounds)
        options = _page_options(timeout, max_retries, extra_headers)
        route = self._path("conversations", p["conversation_id"], "events")
        return _paginate(self._seam, route, params, "events", Event, options)

    async def get(
        self,
        conversation_id: str,
        event_id: str,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Event:
        """One event (``/rest/v1`` only; ``"-"`` is not accepted here)."""
        require_v1(self._seam.generation, "events.get")
        p = ids(conversation_id=conversation_id, event_id=event_id)
        if p["conversation_id"] == "-":
            raise InvalidParameterError("events.get needs a real conversation_id, not '-'")
        route = self._path("conversations", p["conversation_id"], "events", p["event_id"])
        return await self._seam.request_model(
            Request("GET", route),
            Event,
            timeout=timeout,
            max_retries=max_retries,
            extra_headers=extra_headers,
        )


class Modals(_Resource):
    """Modal forms opened by a ``ModalAction`` (``/rest/v1`` only)."""

    __slots__ = ()

    @property
    def with_raw_response(self) -> ModalsWithRawResponse:
        """These methods returning a :class:`~moveworks_async.RawResponse` (not streams)."""
        return ModalsWithRawResponse(self)

    def _route(self, operation: str, *id_values: str) -> list[str]:
        require_v1(self._seam.generation, f"modals.{operation}")
        conversation_id, response_id, message_id, modal_id = id_values
        p = ids(
            conversation_id=conversation_id,
            response_id=response_id,
            message_id=message_id,
            modal_id=modal_id,
        )
        return [
            "conversations",
            p["conversation_id"],
            "responses",
            p["response_id"],
            "messages",
            p["message_id"],
            "modals",
            p["modal_id"],
        ]

    async def get(
        self,
        conversation_id: str,
        response_id: str,
        message_id: str,
        modal_id: str,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Modal:
        """The modal definition, with visibility and requirements resolved by the server."""
        route = self._route("get", conversation_id, response_id, message_id, modal_id)
        request = Request("GET", self._path(*route))
        return await self._seam.request_model(
            request, Modal, timeout=timeout, max_retries=max_retries, extra_headers=extra_headers
        )

    async def refresh(
        self,
        conversation_id: str,
        response_id: str,
        message_id: str,
        modal_id: str,
        values: Mapping[str, Mapping[str, Any]],
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Modal:
        """Re-evaluate the modal against all current ``values`` (nothing is persisted)."""
        route = self._route("refresh", conversation_id, response_id, message_id, modal_id)
        request = Request("POST", self._path(*route, "refresh"), json=_values(values))
        return await self._seam.request_model(
            request, Modal, timeout=timeout, max_retries=max_retries, extra_headers=extra_headers
        )

    async def submit(
        self,
        conversation_id: str,
        response_id: str,
        message_id: str,
        modal_id: str,
        values: Mapping[str, Mapping[str, Any]],
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> ModalSubmission:
        """Submit the modal; the assistant's follow-up arrives as messages or events.

        Not idempotent: like a create, ``max_retries`` only bounds the retries of connect
        failures and 429s.
        """
        route = self._route("submit", conversation_id, response_id, message_id, modal_id)
        request = Request(
            "POST", self._path(*route, "submit"), json=_values(values), idempotent=False
        )
        return await self._seam.request_model(
            request,
            ModalSubmission,
            timeout=timeout,
            max_retries=max_retries,
            extra_headers=extra_headers,
        )


def _values(values: object) -> dict[str, Any]:
    if not isinstance(values, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Mapping) for k, v in values.items()
    ):
        raise InvalidParameterError("values must map field names to objects")
    return {"values": {k: dict(v) for k, v in values.items()}}


# --- with_raw_response -------------------------------------------------------------------------
# One generic wrapper (``_raw.raw`` / ``raw_pages``) per method; these classes only say which
# methods a resource has, so each keeps its exact signature for type checkers.


class ConversationsWithRawResponse:
    """``client.conversations.with_raw_response``."""

    def __init__(self, resource: Conversations) -> None:
        self.create = raw(resource.create)
        self.get = raw(resource.get)
        self.update = raw(resource.update)
        self.list = raw_pages(resource.list)


class ResponsesWithRawResponse:
    """``client.responses.with_raw_response`` (``stream`` has ``request_id`` itself)."""

    def __init__(self, resource: Responses) -> None:
        self.create = raw(resource.create)
        self.get = raw(resource.get)
        self.wait = raw(resource.wait)


class MessagesWithRawResponse:
    """``client.messages.with_raw_response``."""

    def __init__(self, resource: Messages) -> None:
        self.list = raw_pages(resource.list)
        self.list_for_response = raw(resource.list_for_response)


class FeedbackWithRawResponse:
    """``client.feedback.with_raw_response``."""

    def __init__(self, resource: Feedback) -> None:
        self.submit = raw(resource.submit)


class EventsWithRawResponse:
    """``client.events.with_raw_response``."""

    def __init__(self, resource: Events) -> None:
        self.list = raw_pages(resource.list)
        self.get = raw(resource.get)


class ModalsWithRawResponse:
    """``client.modals.with_raw_response``."""

    def __init__(self, resource: Modals) -> None:
        self.get = raw(resource.get)
        self.refresh = raw(resource.refresh)
        self.submit = raw(resource.submit)
