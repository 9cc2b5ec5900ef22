"""``responses.stream()``: one streaming create, typed events, safe recovery, bounded lifetime.

Usage::

    async with client.responses.stream(conversation_id, text="hi") as stream:
        async for event in stream:
            ...
        final = await stream.final_response()

Contract
--------
* **Request.** ``POST {prefix}/conversations/{id}/responses/stream`` with the usual headers plus
  ``Accept: text/event-stream``. It is a create, so it is sent again only when it certainly did
  not reach the server (connect failure) or was refused with 429; everything else surfaces with
  ``outcome_unknown`` set as for ``responses.create``. Before the stream starts a non-2xx reply
  raises the typed API error; a 2xx reply that is not ``text/event-stream`` raises
  :class:`UnexpectedResponseError` without parsing the body.
* **Events.** Each SSE frame becomes one typed event (``_events.py``). Duplicated and
  out-of-order sequence numbers (``<=`` the last seen) are dropped. ``ERROR`` raises
  :class:`StreamError` after every event before it was delivered. Undecodable data raises
  :class:`StreamProtocolError` (never skipped silently).
* **Recovery.** The create is never re-sent. If the stream ends before a terminal event (EOF, a
  reset, the first-event or idle timeout) or skips a sequence number, and the response id is
  known (from ``RESPONSE_CREATED``), the SDK polls ``responses.wait`` until the response is
  terminal. Iteration then yields a synthesized :class:`ResponseCompleted` (or
  :class:`ResponseFailed`) with ``recovered=True`` and ``sequence_number=None`` when
  ``recover=True`` (the default); with ``recover=False`` it raises
  :class:`StreamInterruptedError` (EOF, reset, gap) or :class:`APITimeoutError` (timeouts)
  instead. :meth:`ResponseStream.final_response` always recovers when it can, also after a
  :class:`StreamProtocolError` (malformed JSON, oversized event): the error is raised once by
  iteration, and the truth is then fetched by polling. With the id unknown nothing can be
  polled: :class:`StreamInterruptedError` (or :class:`APITimeoutError`) with
  ``outcome_unknown=True``. Polls that fail (any :class:`APIError`) end the recovery with
  :class:`StreamInterruptedError` naming the response (the poll's error as ``__cause__``);
  the budget running out is :class:`WaitTimeoutError`, the deadline :class:`DeadlineTimeout`.
  After ``ERROR`` there is no polling (as the reference demo does).
* **Timeouts** (on the client's ``clock``, enforced by one watchdog per stream that sleeps with
  the client's ``sleep``, not one timer per read; the opening phase, before the POST and until
  the reply's headers, is timed on them too, by ``_timers.timeout_at``; with the default clock
  and sleep, the loop's, both are plain loop timers):
  ``first_event_timeout`` from sending the request until the first complete event;
  ``idle_timeout`` for each wait for bytes after that (keep-alive comments count as life);
  ``deadline`` bounds the whole stream including recovery and raises
  ``DeadlineTimeout`` (an ``APITimeoutError``) with no recovery. aiohttp's own total timeout is off.
* **Lifecycle.** Use it only inside ``async with``; leaving the block in any way (``break``,
  exception, cancellation) before the end closes the HTTP response at once (that connection
  is closed rather than returned to the pool). After the terminal event the SDK waits up to
  ``_EOF_GRACE`` (50 ms) for the end of the body and then releases the connection, which
  returns it to the pool when the body ended (the next call skips a handshake); a failed
  stream closes its connection.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, Final, Self

import anyio

from . import _json
from ._deadline import LaneTimeout
from ._errors import (
    APIConnectionError,
    APIError,
    ClientStateError,
    DeadlineTimeout,
    FirstEventTimeout,
    InvalidParameterError,
    ResponseValidationError,
    StreamError,
    StreamInterruptedError,
    StreamProtocolError,
    UnexpectedResponseError,
    WaitTimeoutError,
)
from ._events import TERMINAL_EVENTS, StreamEvent
from ._models import OutputItem, Response
from ._protocol import Request, create_input, ids, path, release_frames, request_id_from
from ._seam import Seam, loop_time
from ._sse import DEFAULT_MAX_EVENT_SIZE, ServerSentEvent
from ._stream_helpers import DEFAULT_TEE_BUFFER, StreamConsumer, _Hub, text_deltas
from ._stream_machine import GAP, Fail, StreamMachine
from ._timers import SleepTimeout, timeout_at
from ._transport import OpenStream, Reply, StreamOpener
from ._validate import check_headers, check_int, check_max_retries, check_positive

__all__ = ["ResponseStream", "StreamConsumer"]

logger = logging.getLogger("moveworks_async")

DEFAULT_FIRST_EVENT_TIMEOUT: Final = 60.0
DEFAULT_IDLE_TIMEOUT: Final = 60.0
DEFAULT_RECOVER_TIMEOUT: Final = 150.0


class _State(enum.Enum):
    """Where a ResponseStream is in its life (``async with`` opens it, ``aclose`` closes it)."""

    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


_NEW, _OPEN, _CLOSED = _State.NEW, _State.OPEN, _State.CLOSED
_INF: Final = math.inf
#: Events handed out, and bytes read, between two turns given to the event loop.
_YIELD_EVENTS: Final = 256
_YIELD_BYTES: Final = 64 * 1024
#: The most bytes decoded at once; see _next.
_FEED_BYTES: Final = 64 * 1024
#: Seconds the end of the body may lag the terminal event before the connection is closed
#: rather than pooled (see ResponseStream._after_end).
_EOF_GRACE: Final = 0.05

_Opened = tuple[StreamOpener, OpenStream]


class ResponseStream:
    """A streaming create of one response; an async context manager and async iterator.

    Obtain it from ``client.responses.stream(conversation_id, text=..., callback_id=...)``.
    Arguments are validated when it is created, before any I/O; the request is sent by
    ``async with``. See the module documentation for the full contract.

    Keyword options:
        first_event_timeout: seconds from sending the request to the first complete event
            (default 60; ``None`` disables).
        idle_timeout: longest wait for more bytes once events flow (default 60; ``None``
            disables). Keep-alive comments count as life.
        deadline: optional bound on the whole stream from ``async with``, recovery included.
        recover: on a premature end, poll and yield a synthesized terminal event (default
            True) instead of raising.
        recover_timeout: polling budget of a recovery (default 150 s, as the reference demo).
        max_event_size: largest SSE event in bytes (default 4 MiB); beyond it
            :class:`StreamProtocolError`.
        max_retries: retries of the create (connect failures and 429 only; default: client's).
        extra_headers: headers added to the create request (validated now).
        connect_timeout: seconds to establish the connection (default: the client's).
    """

    __slots__ = (
        "__weakref__",
        "_attempts_started",
        "_before_send",
        "_busy",
        "_clock",
        "_connect_timeout",
        "_conversation_id",
        "_data",
        "_delivered",
        "_events",
        "_extra_headers",
        "_hub",
        "_index",
        "_loop_timer",
        "_m",
        "_max_retries",
        "_opened",
        "_reading",
        "_recover_timeout",
        "_reply",
        "_request",
        "_rest",
        "_rest_at",
        "_seam",
        "_sleep",
        "_state",
        "_unyielded",
        "_url",
        "_watch_at",
        "_watchdog",
    )

    def __init__(
        self,
        seam: Seam,
        conversation_id: str,
        text: str | None = None,
        callback_id: str | None = None,
        *,
        first_event_timeout: float | None = DEFAULT_FIRST_EVENT_TIMEOUT,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        deadline: float | None = None,
        recover: bool = True,
        recover_timeout: float = DEFAULT_RECOVER_TIMEOUT,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        # First, before any validation can raise: __del__ reads them (issue 12, item 5).
        self._state = _NEW
        self._opened: StreamOpener | None = None  # the transport's context, once entered
        p = ids(conversation_id=conversation_id)
        body = create_input(seam.generation, text, callback_id)
        first_event_timeout = check_positive(
            first_event_timeout, "first_event_timeout", optional=True
        )
        idle_timeout = check_positive(idle_timeout, "idle_timeout", optional=True)
        deadline = check_positive(deadline, "deadline", optional=True)
        if type(recover) is not bool:
            raise InvalidParameterError("recover must be a bool")
        recover_seconds = check_positive(recover_timeout, "recover_timeout", optional=False)
        assert recover_seconds is not None
        self._recover_timeout = recover_seconds
        check_int(max_event_size, "max_event_size", 1)
        self._max_retries = check_max_retries(max_retries)
        self._extra_headers = check_headers(extra_headers)
        self._connect_timeout = (
            seam.timeout.connect
            if connect_timeout is None
            else check_positive(connect_timeout, "connect_timeout")
        )
        self._seam = seam
        self._conversation_id = p["conversation_id"]
        cid = p["conversation_id"]
        route = path(seam.generation, "conversations", cid, "responses", "stream")
        # Not idempotent: the policy re-sends it only if it surely never reached the server.
        self._request = Request("POST", route, json=body, idempotent=False)
        self._url = seam.base_url + route
        self._data = _json.dumps(body)
        # The machine owns the content, the deadlines and the endings; this shell only reads,
        # sleeps and acts on what it says.
        self._m = StreamMachine(
            max_event_size,
            seam.mask,
            first_event_timeout=first_event_timeout,
            idle_timeout=idle_timeout,
            deadline=deadline,
            recover=recover,
        )
        self._reply: OpenStream | None = None
        self._events: list[ServerSentEvent] = []
        self._index = 0
        self._rest = b""  # an unread part of the last chunk, from _rest_at on
        self._rest_at = 0
        self._busy = False
        self._hub: _Hub | None = None
        # Time: the client's injected clock and sleep (virtual in tests). One watchdog task per
        # stream at most, and only while a read deadline is armed; see _watch.
        self._clock = seam.clock
        self._sleep = seam.sleep
        self._attempts_started = 0
        self._unyielded = 0
        self._delivered = 0
        self._before_send: asyncio.Timeout | SleepTimeout | LaneTimeout | None = None
        self._reading = False
        self._watchdog: asyncio.Task[None] | asyncio.TimerHandle | None = None
        self._watch_at = _INF  # when the watchdog wakes next (inf: no watchdog)
        self._loop_timer = False  # the watchdog is a loop timer (default clock and sleep)

    # --- public state ------------------------------------------------------------------------

    @property
    def response_id(self) -> str | None:
        """The response id, known once ``RESPONSE_CREATED`` (or any response event) arrived."""
        return self._m.response_id

    @property
    def conversation_id(self) -> str:
        """The conversation the response belongs to."""
        return self._conversation_id

    @property
    def request_id(self) -> str | None:
        """The server trace id of the stream request (once the reply headers arrived)."""
        return self._m.request_id

    @property
    def messages(self) -> tuple[OutputItem, ...]:
        """The current output items in first-seen order, one per message id.

        Deltas are snapshots: a later one with the same ``message_id`` (or
        ``reasoning_message_id``) replaces the earlier in place. The terminal response's
        outputs are upserted the same way (an empty ``outputs`` list removes nothing).
        """
        return tuple(self._m.outputs.values())

    @property
    def final(self) -> Response | None:
        """The terminal Response once known (from the stream or from recovery), else None."""
        return self._m.final

    def __repr__(self) -> str:
        state = self._state.value
        return (
            f"ResponseStream(conversation_id={self._conversation_id!r}, "
            f"response_id={self._m.response_id!r}, state={state!r})"
        )

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._state is not _NEW:
            raise ClientStateError("a ResponseStream can be entered only once; start a new stream")
        self._state = _OPEN
        if self._clock is loop_time or self._clock is anyio.current_time:
            # The default clock is the loop's own: read it without a function (or, for
            # anyio's, a backend lookup) in between; the shell reads it once per read.
            self._clock = asyncio.get_running_loop().time
            # With the default sleep too, a loop timer does what the watchdog task would, for
            # a fraction of its cost per stream (no task, no coroutine, no cancellation).
            self._loop_timer = self._sleep is anyio.sleep
        m = self._m
        now = self._clock()
        m.start(now)
        try:
            if m.deadline is None and m.first_event_timeout is None:
                opened, reply = await self._seam.execute(
                    self._request, self._attempt, max_retries=self._max_retries
                )
            elif m.deadline is None:
                # The time before the POST (a token fetch, a governor wait) counts against
                # first_event_timeout too; the first attempt disarms this timeout as it sends
                # (from then on the attempt's own first-event limit applies).
                scope = self._timeout_in(m.first_event_timeout, now)  # type: ignore[arg-type]
                try:
                    async with scope:
                        self._before_send = scope
                        opened, reply = await self._seam.execute(
                            self._request, self._attempt, max_retries=self._max_retries
                        )
                except TimeoutError:
                    if not scope.expired():
                        raise
                    raise FirstEventTimeout(
                        "the stream did not start within first_event_timeout",
                        outcome_unknown=False,  # the timeout is disarmed once the POST goes out
                    ) from None
                finally:
                    self._before_send = None
            else:
                scope = self._timeout_in(m.deadline, now)
                try:
                    async with scope:
                        opened, reply = await self._seam.execute(
                            self._request, self._attempt, max_retries=self._max_retries
                        )
                except TimeoutError:
                    if not scope.expired():
                        raise
                    raise DeadlineTimeout(
                        "the stream did not start within its deadline",
                        # Only if the POST went out: a deadline spent fetching the token (or
                        # waiting for the governor) sent nothing.
                        outcome_unknown=self._attempts_started > 0,
                    ) from None
        except BaseException:
            # Also closes a stream opened by an attempt whose success never reached us (a hook
            # or a cancellation in the attempt loop after the attempt returned).
            await self.aclose()
            raise
        self._opened, self._reply = opened, reply
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP response now (idempotent); ``async with`` does it for you."""
        self._state = _CLOSED
        self._close_reply()
        opened = self._opened
        if opened is not None:
            # Not set to None: __del__ tells an entered stream from one never entered. The
            # close never suspends, so this finishes even inside a cancelled scope.
            opened.close()

    def __del__(self, _warn: Any = warnings.warn) -> None:
        if self._state is _OPEN and self._opened is not None:
            _warn(
                "ResponseStream was opened but never closed; use 'async with'",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )

    async def _attempt(self, headers: dict[str, str]) -> tuple[Reply | None, _Opened | None]:
        """One try of the create: the failed reply, or the open stream and its context."""
        extra = self._extra_headers
        if extra is None:
            headers = {**headers, "Accept": "text/event-stream"}
        else:
            headers = {**headers, **extra, "Accept": "text/event-stream"}
        opened = self._seam.open_stream(
            "POST", self._url, headers, self._data, self._connect_timeout
        )
        try:
            m = self._m
            now = self._clock()
            m.sent(now)
            self._attempts_started += 1
            if self._before_send is not None:
                self._before_send.reschedule(None)
            # On the loop's clock, a lane shared by the streams (no timer per stream); on an
            # injected clock, one that sleeps with the client's sleep. Either way an outer
            # cancellation is never taken for the timeout.
            fet = m.first_event_timeout
            scope = (
                self._timeout_in(fet, now)
                if fet is not None
                else timeout_at(None, self._clock, self._sleep, loop_timer=True)
            )
            expired = False
            try:
                async with scope:
                    reply = await opened.__aenter__()
                    if not 200 <= reply.status < 300:
                        failed = Reply(reply.status, reply.headers, await reply.read())
                        opened.close()
                        return failed, None
            except TimeoutError:
                if not scope.expired():
                    raise
                expired = True
            if expired:
                raise FirstEventTimeout(
                    "no reply within first_event_timeout",
                    outcome_unknown=True,
                )
            request_id = request_id_from(reply.headers)
            if request_id:  # a server may echo the bearer as its trace id
                request_id = self._seam.mask(request_id)
            content_type = reply.headers.get("Content-Type", "")
            if content_type.partition(";")[0].strip().lower() != "text/event-stream":
                # WHATWG "fail the connection": no parser runs on an HTML page.
                raise UnexpectedResponseError(
                    f"expected text/event-stream, got {content_type or 'no content type'}",
                    status_code=reply.status,
                    request_id=request_id,
                    outcome_unknown=True,  # answered 2xx: the create may have been applied
                )
            self._m.request_id = request_id
            self._opened, self._reply = opened, reply  # closed by aclose() whatever happens next
            return None, (opened, reply)
        except BaseException:
            opened.close()
            raise

    def _timeout_in(
        self, length: float, now: float
    ) -> asyncio.Timeout | SleepTimeout | LaneTimeout:
        """A timeout ``length`` seconds after ``now`` (just read from the stream's clock):
        on the loop's own clock a lane shared by every block of that length (no timer per
        stream, see ``_deadline``), else one that sleeps with the client's sleep."""
        if self._loop_timer:
            return LaneTimeout(self._seam.lane(length), now + length)
        return timeout_at(now + length, self._clock, self._sleep, loop_timer=False)

    def _require_open(self) -> None:
        if self._state is _NEW:
            raise ClientStateError(
                "a ResponseStream must be used inside 'async with': "
                "async with client.responses.stream(...) as stream: ..."
            )
        if self._hub is not None:
            raise ClientStateError("this stream was tee()'d: read events from its consumers")
        if self._busy:
            raise ClientStateError("another task is already reading this stream")

    # --- iteration ---------------------------------------------------------------------------

    def __aiter__(self) -> Self:
        if self._state is _NEW:
            self._require_open()
        return self

    async def __anext__(self) -> StreamEvent:
        if self._state is not _OPEN or self._busy or self._hub is not None:
            if self._state is _CLOSED and self._m.final is not None and self._m.ending is None:
                raise StopAsyncIteration
            self._require_open()
            if self._state is _CLOSED:
                raise ClientStateError("this ResponseStream is closed")
        # Fast path, most events of a busy stream: one already decoded. The same loop as at
        # the top of _next, without a coroutine per event; it never suspends, so no other
        # task can see the stream meanwhile and _busy need not be set.
        try:
            events = self._events
            while self._index < len(events) and self._delivered < _YIELD_EVENTS:
                sse = events[self._index]
                self._index += 1
                self._delivered += 1
                event = self._accept(sse)
                if event is not None:
                    return event
                events = self._events  # a gap empties the buffer
            self._busy = True
            try:
                return await self._next(self._m.recover)
            finally:
                self._busy = False
        except StopAsyncIteration:
            raise  # the end of every stream: consumed by ``async for`` at once, kept by no one
        except BaseException as exc:
            # The traceback keeps this frame and the ones below: none may keep an event's
            # data (up to max_event_size) alive with the error.
            sse = events = None  # type: ignore[assignment]
            release_frames(exc)
            raise

    async def _next(self, recover: bool) -> StreamEvent:
        """The next event to deliver (or StopAsyncIteration): read, feed the machine, act."""
        m = self._m
        while True:
            if self._delivered >= _YIELD_EVENTS:
                # Buffered events are handed out without suspending: after _YIELD_EVENTS of
                # them the loop gets a turn (the watchdog, other tasks) and the deadline is
                # checked, however fast the server floods.
                self._delivered = 0
                await asyncio.sleep(0)
                if m.past_deadline(self._clock()):
                    self._interrupt()
            events = self._events
            while self._index < len(events):
                sse = events[self._index]
                self._index += 1
                self._delivered += 1
                event = self._accept(sse)
                if event is not None:
                    return event
                events = self._events  # a gap empties the buffer
            if m.final is not None:
                await self._after_end()
                raise StopAsyncIteration
            if m.error is not None:
                raise m.error
            if m.ending is not None:
                return await self._recover_event(recover)
            # Read one chunk. Inline rather than a _fill() coroutine: an idle stream then
            # holds one frame less while it waits.
            reply = self._reply
            if reply is None:  # closed meanwhile (by aclose() from another task)
                m.on_reset()
                self._interrupt()
                continue
            # Also checked here, not only by the watchdog: a server flooding events keeps every
            # read ready, so the watchdog never gets to run.
            if m.wait_started(self._clock()) is not None:
                self._interrupt()
                continue
            if m.read_deadline < self._watch_at:
                self._watch(m.read_deadline)
            if self._unyielded >= _YIELD_BYTES:
                self._unyielded = 0
                await asyncio.sleep(0)
                continue  # the stream may have changed meanwhile (closed, timed out)
            rest = self._rest
            if rest:  # the rest of a big read, in slices (below)
                at = self._rest_at
                chunk = rest[at : at + _FEED_BYTES]
                if at + _FEED_BYTES < len(rest):
                    self._rest_at = at + _FEED_BYTES
                else:
                    self._rest = b""
            else:
                self._reading = True
                try:
                    chunk = await reply.read_chunk()
                except APIConnectionError:
                    m.on_reset()
                    self._interrupt()
                    continue
                finally:
                    self._reading = False
                if not chunk:
                    m.on_eof()
                    self._interrupt()
                    continue
                if len(chunk) > _FEED_BYTES:
                    # A read can return everything a fast server sent meanwhile (~400 KB
                    # from a local one): decoded at once, its text, lines and frames spill
                    # the CPU caches (~10 % per event measured); slices of it do not.
                    self._rest, self._rest_at = chunk, _FEED_BYTES
                    chunk = chunk[:_FEED_BYTES]
            self._unyielded += len(chunk)
            failure: StreamProtocolError | None = None
            try:
                self._events = m.feed(chunk)
            except StreamProtocolError as exc:
                failure = exc
            if failure is not None:
                raise self._fail(failure)  # outside the except block: no __context__
            self._index = 0

    def _accept(self, sse: ServerSentEvent) -> StreamEvent | None:
        """Apply one SSE frame (see ``StreamMachine.accept``) and act on the outcome: an
        error or a gap closes the connection, a terminal event lets it go."""
        failure: APIError | None = None
        try:
            event = self._m.accept(sse)
        except (StreamError, StreamProtocolError, ResponseValidationError) as exc:
            failure = exc
        if failure is not None:  # outside the except block: no __context__
            raise self._fail(failure, fatal=type(failure) is StreamError)
        if event is GAP:
            self._interrupt()  # the machine recorded the ending
            return None
        if event is not None and type(event) in TERMINAL_EVENTS:
            self._finished()
        return event  # type: ignore[return-value]

    # --- watchdog ----------------------------------------------------------------------------

    def _watch(self, when: float) -> None:
        """Make sure the watchdog wakes by ``when`` (a read deadline earlier than the one it
        sleeps towards: the first one, or idle_timeout shorter than the first-event limit)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        self._watch_at = when
        loop = asyncio.get_running_loop()
        if self._loop_timer:
            self._watchdog = loop.call_at(when, self._timer_fired)
        else:
            self._watchdog = loop.create_task(self._watch_reads())

    def _timer_fired(self) -> None:
        """The loop-timer watchdog (default clock and sleep): as _watch_reads, one wake-up."""
        now = self._clock()
        target = self._m.read_deadline
        if now < target and target != _INF:
            self._watch_at = target  # the deadline moved later: wake up then
            self._watchdog = asyncio.get_running_loop().call_at(target, self._timer_fired)
            return
        self._watchdog = None
        self._watch_at = _INF
        self._expire(now)

    async def _watch_reads(self) -> None:
        """Sleep (the client's ``sleep``) until the machine's read deadline by the client's
        ``clock``; a deadline pushed later meanwhile (data arrived, the idle timer moved) just
        means sleeping again, so a busy stream costs no timer work per chunk. When a read is
        overdue the machine records why and the reply is closed, which wakes the read with a
        connection error; when no read is pending, the next read starts a new watchdog."""
        m = self._m
        clock = self._clock
        while True:
            now = clock()
            target = m.read_deadline
            if now >= target:
                break
            if target == _INF:  # no deadline any more (the first event came, no idle limit)
                self._watchdog = None
                self._watch_at = _INF
                return
            self._watch_at = target
            try:
                await self._sleep(target - now)
            except Exception:
                # An injected sleep that fails cannot be waited on: the read deadline counts
                # as reached (the stream stays bounded, and no task dies unobserved).
                now = target
                break
        self._watchdog = None
        self._watch_at = _INF
        self._expire(now)

    def _expire(self, now: float) -> None:
        """The watchdog woke at or after the read deadline: if a read is pending and the
        machine says it is overdue, close the reply (the read wakes with a connection error
        and the machine's ending decides what follows)."""
        reply = self._reply
        if self._reading and reply is not None and self._m.on_timer(now) is not None:
            reply.close()

    # --- endings -----------------------------------------------------------------------------

    def _stop_timer(self) -> None:
        watchdog = self._watchdog
        if watchdog is not None:
            self._watchdog = None
            self._watch_at = _INF
            watchdog.cancel()

    def _close_reply(self) -> None:
        self._stop_timer()
        self._rest = b""  # unread bytes of the last read go with the connection
        reply = self._reply
        if reply is not None:
            self._reply = None
            reply.close()

    async def _after_end(self) -> None:
        """After the terminal event: give the end of the body a moment, then let the reply go.

        aiohttp returns a connection to the pool only once the body has ended, and a server
        normally ends it right after the terminal event (the same or the next TCP segment).
        Waiting up to ``_EOF_GRACE`` for that spares the next call a new TCP and TLS
        handshake; a server that keeps the body open just gets its connection closed.
        """
        reply = self._reply
        if reply is None:
            return
        self._reply = None
        try:
            if not reply.ended:
                scope = asyncio.timeout(_EOF_GRACE)
                try:
                    async with scope:
                        await reply.wait_eof()
                except TimeoutError:
                    if not scope.expired():
                        raise
        finally:
            reply.close()

    def _finished(self) -> None:
        """The machine knows the terminal response: stop reading and timing."""
        self._events = []
        self._index = 0
        self._rest = b""
        self._stop_timer()  # the reply stays until _after_end(), which lets it go

    def _interrupt(self) -> None:
        """The stream cannot be read further (the machine knows why; recovery happens in
        _next): close the connection, drop what is buffered."""
        self._close_reply()
        self._events = []
        self._index = 0

    def _fail(self, error: APIError, *, fatal: bool = False) -> APIError:
        """Close the connection and record ``error`` in the machine (see StreamMachine.fail)."""
        self._close_reply()
        self._events = []
        self._index = 0
        return self._m.fail(error, fatal=fatal)

    async def _recover_event(self, recover: bool) -> StreamEvent:
        """Finish a stream that ended early: run the machine's action, poll or fail."""
        if self._state is not _OPEN:
            raise ClientStateError("this ResponseStream was closed")
        m = self._m
        action = m.action(recover)
        if type(action) is Fail:
            raise self._fail(action.error, fatal=action.fatal)
        response_id = action.response_id  # type: ignore[union-attr]
        assert m.ending is not None
        logger.info("%s; polling response %s until it is terminal", m.ending.value, response_id)
        response = await self._poll(response_id)
        event = m.polled(response)
        self._finished()
        return event

    async def _poll(self, response_id: str) -> Response:
        m = self._m
        budget, deadline_bound = m.poll_budget(self._clock(), self._recover_timeout)
        closed = False
        failed: APIError | None = None
        try:
            if budget <= 0:
                raise WaitTimeoutError("no time left", response_id=response_id)
            # The per-call headers go with every request of the call, the polls included.
            polled = await self._seam.poll(
                self._conversation_id, response_id, budget, self._extra_headers
            )
            if polled.response_id == response_id:
                return polled
            # Another response's state must not end this stream (an outside review had a
            # recovery complete with a foreign, even unusable, id).
            failed = ResponseValidationError(
                "the server answered the poll with another response's id",
                path="$.response_id",
            )
        except WaitTimeoutError:
            if not deadline_bound:
                raise
        except ClientStateError:
            closed = True
        except APIError as exc:
            failed = exc
        if failed is not None:
            # Whatever ended the polls (5xx after retries, 401/403, 404, a reset, a bad
            # body), the create was made and the id is known: the error says so and names
            # the response, so it can be polled later; the poll's error is the cause. Not
            # recorded: iterating again or final_response() polls again.
            error = StreamInterruptedError(
                f"the stream ended early and polling its response failed "
                f"({type(failed).__name__}); poll it later (error.response_id)",
                response_id=response_id,
                request_id=m.request_id,
            )
            raise error from failed
        if closed:
            # The client closed under the stream. Its create was made and the response
            # exists: say so with its id (poll it on an open client), never as a
            # ClientStateError, which says nothing was sent.
            raise self._fail(
                StreamInterruptedError(
                    "the client was closed before the stream ended; the response exists: "
                    "poll it with an open client (error.response_id)",
                    response_id=response_id,
                    request_id=m.request_id,
                ),
                fatal=True,
            )
        self._close_reply()
        raise m.recovery_past_deadline()

    def _is_open(self) -> bool:
        return self._state is _OPEN

    def _pull(self) -> Coroutine[Any, Any, StreamEvent]:
        """The next event for the tee buffer, with the stream's own ``recover``."""
        return self._next(self._m.recover)

    async def final_response(self) -> Response:
        """The terminal Response, reading (and discarding) the rest of the stream if needed.

        Recovers by polling whenever the response id is known, whatever ``recover`` says
        (also after a :class:`StreamProtocolError` raised by iteration). Raises
        :class:`StreamError` after an ``ERROR`` event, and the interruption or timeout error
        when the id is unknown. A ``FAILED`` response is returned, not raised.
        """
        if self._m.final is not None:
            return self._m.final
        if self._hub is not None:
            return await self._hub.final_response()
        self._require_open()
        if self._state is _CLOSED:
            raise ClientStateError("this ResponseStream was closed before its end")
        self._busy = True
        try:
            final = await self._drain(None)
            await self._after_end()
            return final
        finally:
            self._busy = False

    async def _drain(self, sink: Callable[[StreamEvent], None] | None) -> Response:
        m = self._m
        while m.final is None:
            error = m.error
            if error is not None:
                if m.fatal or m.response_id is None:
                    raise error
                # Iteration already reported it; now get the truth by polling.
                m.error = None
            try:
                event = await self._next(True)
            except StopAsyncIteration:
                break
            if sink is not None:
                sink(event)
        assert self._m.final is not None
        return self._m.final

    # --- helpers for relays ------------------------------------------------------------------

    def text_deltas(self) -> AsyncIterator[str]:
        """Yield only the newly added text of the assistant's message(s).

        Derived from successive snapshots (``RESPONSE_OUTPUT_DELTA``) and, last, from the
        terminal response, so text that arrives only by recovery is yielded too. Policy:

        * a snapshot that extends the previous text of the same message yields the suffix;
        * the first text of a second message is preceded by ``"\\n\\n"``, so when messages
          arrive one after another ``"".join(deltas) == final_response().text``;
        * a snapshot that is *not* an extension (the server rewrote the text) yields the whole
          new text of that message; relays that must handle rewrites exactly should render
          ``stream.messages`` instead.

        Reasoning messages are not included. This consumes the stream like ``async for``.
        """
        return text_deltas(self)

    def tee(
        self, n: int = 2, *, max_buffer: int = DEFAULT_TEE_BUFFER
    ) -> tuple[StreamConsumer, ...]:
        """Split the stream into ``n`` consumers that each see every event, in order.

        Whichever consumer needs an event first reads it from the connection; the others
        find it in a shared buffer. Slow-consumer policy: a consumer more than ``max_buffer``
        events behind the fastest one is disconnected (its next read raises
        :class:`SlowConsumerError`) so that memory stays bounded and a stuck consumer never
        stalls the others. A stream error (``StreamError``, an interruption...) is raised to
        every consumer when it reaches that point. Once tee'd, the stream is read only
        through its consumers; ``final_response()`` still works and reads on their behalf.
        Call it inside ``async with`` before reading any event.
        """
        check_int(n, "n", 1)
        check_int(max_buffer, "max_buffer", 1)
        self._require_open()
        if self._state is _CLOSED:
            raise ClientStateError("this ResponseStream is closed")
        hub = _Hub(self, max_buffer)
        self._hub = hub
        consumers = tuple(StreamConsumer(hub) for _ in range(n))
        hub.consumers.extend(consumers)
        return consumers
