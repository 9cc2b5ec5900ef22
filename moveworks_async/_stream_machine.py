"""The rules of one response stream, without I/O: bytes in, typed events out (as h11 does).

:class:`StreamMachine` owns what the bytes of a stream mean and what to do when they stop:

* content: SSE decoding, the cap on bytes without an event, JSON and event typing, the
  sequence rules (duplicates and late events dropped, a skipped number ends the trust in the
  stream), the response id, the current outputs and the terminal response;
* time: the first-event, idle and overall deadlines, on whatever clock the caller passes in
  as ``now`` (the client's injected clock);
* endings: why a stream stopped early (:class:`End`) and what follows: :class:`Poll` the
  response until it is terminal, or :class:`Fail` with a typed error; what a poll result means.

It never reads a socket, reads a clock, sleeps or closes anything: ``ResponseStream``
(``_streaming.py``) is the shell that reads chunks, sleeps until :meth:`next_deadline` and
runs the actions (close the connection, poll, raise).

Usage, without any network::

    machine = StreamMachine(4 << 20, first_event_timeout=60, idle_timeout=60)
    machine.start(now)                # async with: the overall deadline starts
    machine.sent(now)                 # the request went out: the first-event deadline starts
    machine.wait_started(now)         # before each read; Poll/Fail when already overdue
    for sse in machine.feed(chunk):
        event = machine.accept(sse)   # a StreamEvent, None (dropped) or GAP
    machine.on_timer(now)             # at next_deadline(): Poll/Fail if a wait is overdue
    action = machine.on_eof()         # the body ended early: Poll(response_id) or Fail(error)
    event = machine.polled(response)  # the poll's answer: a synthesized terminal event
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Any, Final

import attrs

from . import _json, _wire
from ._errors import (
    APIError,
    APITimeoutError,
    DeadlineTimeout,
    ResponseValidationError,
    StreamError,
    StreamInterruptedError,
    StreamProtocolError,
)
from ._events import (
    EVENT_TYPES,
    TERMINAL_EVENTS,
    ResponseCompleted,
    ResponseFailed,
    ResponseOutputDelta,
    StreamEvent,
    UnknownEvent,
    parse_event,
)
from ._models import (
    MessageOutput,
    OutputItem,
    Response,
    ResponseStatus,
    UnknownOutput,
)
from ._sse import ServerSentEvent, SSEDecoder
from ._validate import is_id

__all__ = ["GAP", "End", "Fail", "Poll", "StreamMachine"]


class End(enum.Enum):
    """Why a stream stopped before its terminal event."""

    EOF = "the stream ended before its terminal event"
    RESET = "the connection broke before the terminal event"
    GAP = "the stream skipped a sequence number"
    FIRST_EVENT = "no event arrived within first_event_timeout"
    IDLE = "the stream was silent for longer than idle_timeout"
    DEADLINE = "the stream passed its deadline"
    ERROR = "the stream could not be decoded"


@attrs.frozen
class Poll:
    """Action: poll ``response_id`` until it is terminal (the stream's recovery)."""

    response_id: str


@attrs.frozen
class Fail:
    """Action: close the connection and raise ``error`` (``fatal``: no recovery follows,
    not even by ``final_response()``)."""

    error: APIError
    fatal: bool


Action = Poll | Fail
_INF: Final = math.inf


class _Gap:
    __slots__ = ()

    def __repr__(self) -> str:
        return "GAP"


#: What :meth:`StreamMachine.accept` returns when the stream skipped a sequence number.
GAP: Final = _Gap()
_BAD_JSON: Final = object()
#: The frame StreamMachine.feed appends after the events a read completed before an event over
#: the cap (SSEDecoder.failure): accept() raises the size error there, after the events.
_OVERSIZE: Final = ServerSentEvent("", "", None, None)


#: The status a terminal event's response must have (when the status is one this version
#: knows): anything else contradicts the event.
_TERMINAL_STATUS: Final[dict[type, ResponseStatus]] = {
    ResponseCompleted: ResponseStatus.COMPLETED,
    ResponseFailed: ResponseStatus.FAILED,
}


def _same(text: str) -> str:
    return text


class StreamMachine:
    """The state of one stream's content; see the module documentation.

    Errors are raised, never returned: :class:`StreamProtocolError` (undecodable bytes, an
    oversized event, bad JSON in a known event), :class:`ResponseValidationError` (a payload
    that does not fit its model) and :class:`StreamError` (an ``ERROR`` event, its message
    passed through ``mask``). The machine stays usable for :meth:`finish` afterwards.
    """

    __slots__ = (
        "deadline",
        "deadline_at",
        "decoder",
        "ending",
        "error",
        "fatal",
        "final",
        "first_at",
        "first_event_timeout",
        "idle_timeout",
        "last_seq",
        "loads",
        "mask",
        "outputs",
        "read_deadline",
        "recover",
        "request_id",
        "response_id",
    )

    def __init__(
        self,
        max_event_size: int,
        mask: Callable[[str], str] = _same,
        *,
        first_event_timeout: float | None = None,
        idle_timeout: float | None = None,
        deadline: float | None = None,
        recover: bool = True,
    ) -> None:
        self.decoder = SSEDecoder(max_event_size=max_event_size)
        #: The JSON decoder for the frames of the latest feed(): ``loads`` without its
        #: per-document checks when one check of the read's bytes cleared them all.
        self.loads: Callable[[str], Any] = _json.loads
        #: The server's trace id of the stream request (set by the shell), for errors.
        self.request_id: str | None = None
        self.response_id: str | None = None
        self.last_seq: int | None = None
        #: The current output items, one per message id, in first-seen order.
        self.outputs: dict[object, OutputItem] = {}
        self.final: Response | None = None
        #: Masks credentials in server text (an ERROR event's message).
        self.mask = mask
        # Time, all on the caller's clock (the values it passes as ``now``).
        self.first_event_timeout = first_event_timeout
        self.idle_timeout = idle_timeout
        self.deadline = deadline
        #: Whether an early end is recovered by polling (iteration; final_response always is).
        self.recover = recover
        self.deadline_at: float | None = None  # the whole stream's end, set by start()
        self.first_at: float | None = None  # the first-event deadline, until the first event
        #: When the current (or last) wait for bytes is overdue; see wait_started().
        self.read_deadline = _INF
        #: Why the stream stopped early, until the terminal response is known.
        self.ending: End | None = None
        #: The error the stream failed with (raised again on further reads), and whether it
        #: also ends final_response().
        self.error: APIError | None = None
        self.fatal = False

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The SSE frames ``chunk`` (not empty) completes, in order.

        The decoder's cap also bounds the bytes between two events: more than
        ``max_event_size`` bytes of comments and blank lines without an event (a body of nothing
        but keep-alives, a decompressed bomb of them) is a :class:`StreamProtocolError`, however
        the reads split them. :meth:`accept` expects these frames, in order, before the next
        ``feed``.
        """
        failure: StreamProtocolError | None = None
        try:
            events, region = self.decoder.feed_region(chunk)
        except StreamProtocolError as exc:
            failure = self._protocol_error(exc.message)
        if failure is not None:
            raise failure  # outside the except block: no __context__
        if events:
            if self.decoder.failure is not None:
                # An event over the cap came after these in the same read: they are
                # delivered first (a RESPONSE_CREATED among them names the response to
                # recover), then accept() raises at the marker.
                events.append(_OVERSIZE)
            self.first_at = None  # from now on the idle timeout applies
            # One bounds check of the whole read stands for most of one per event (~0.6 us).
            self.loads = _json.loads_for(region, self.decoder.max_event_size)
        return events

    def accept(self, sse: ServerSentEvent) -> StreamEvent | _Gap | None:
        """Convert one SSE frame and apply it to the state.

        Returns the event to deliver, ``None`` for a duplicate or late event (dropped) or
        :data:`GAP` when a sequence number was skipped (the stream can no longer be trusted;
        a terminal event is the truth itself, gap or not). A terminal event also sets
        :attr:`final` (see :meth:`finish`).
        """
        if sse is _OVERSIZE:
            raise self._protocol_error(self.decoder.failure or "SSE event too large")
        # With msgspec (the speedups extra) a known event is typed straight from its data
        # (_wire.event); on a miss, _parse (the decoded JSON and parse_event) decides.
        # (Tested here, not only inside _wire.event: without msgspec, most installs, the
        # stream's hot path pays no call for it.)
        typed = _wire.event(sse.event, sse.data) if _wire.ENABLED else _wire.MISS
        event: StreamEvent = self._parse(sse) if typed is _wire.MISS else typed
        cls = type(event)
        seq = event.sequence_number
        if seq is not None:
            last = self.last_seq
            if last is not None and seq != last + 1:
                if seq <= last:
                    return None  # a duplicate or a late, out-of-order event
                if cls not in TERMINAL_EVENTS:
                    # Something was lost: stop trusting the stream and poll for the truth.
                    # Only CREATED and IN_PROGRESS carry a response here (a delta has none).
                    if (
                        self.response_id is None
                        and cls is not UnknownEvent
                        and cls is not ResponseOutputDelta
                    ):
                        self._take_id(event.response)  # type: ignore[union-attr]
                    self.ending = End.GAP
                    return GAP
            self.last_seq = seq
        if cls is ResponseOutputDelta:
            output: OutputItem = event.output  # type: ignore[union-attr]
            if self.response_id is not None and type(output) is not UnknownOutput:
                item = (
                    output.message if type(output) is MessageOutput else output.reasoning_message  # type: ignore[union-attr]
                )
                if item.response_id != self.response_id:
                    # Another response's text is no part of this answer (see below).
                    raise self._protocol_error(f"{sse.event} event for another response")
            key = output.id
            self.outputs[key if key is not None else object()] = output
        elif cls is not UnknownEvent:
            response: Response = event.response  # type: ignore[union-attr]
            if self.response_id is None:
                self._take_id(response)
            elif response.response_id != self.response_id:
                # A stream answers one create: an event about another response is no part
                # of this one's answer (its text must not become this one's final answer).
                # (The other id is server text: it stays out of the message.)
                raise self._protocol_error(f"{sse.event} event for another response")
            if cls in TERMINAL_EVENTS:
                status = response.status
                if status.is_known and status is not _TERMINAL_STATUS[cls]:
                    # "Completed" with an IN_PROGRESS (or FAILED) response: the stream does
                    # not know the outcome; recovery polls for it rather than presenting
                    # a partial answer as the final one. (An unknown status is trusted: a
                    # newer server's terminal status must not break the stream.)
                    raise self._protocol_error(f"{sse.event} event with a {status.value} response")
                self.finish(response)
        return event

    def _parse(self, sse: ServerSentEvent) -> StreamEvent:
        """The typed event of ``sse`` from its decoded JSON (``parse_event``), or the error
        to raise: ``StreamError`` for an ``ERROR`` event (masked, with the ids),
        ``StreamProtocolError`` or ``ResponseValidationError``."""
        # Errors are raised outside the except blocks, so that no decoder error (orjson's
        # keeps the whole data as ``.doc``) stays alive as ``__context__``.
        try:
            data = self.loads(sse.data)
        except ValueError:
            data = _BAD_JSON
        if data is _BAD_JSON:
            if sse.event not in EVENT_TYPES:
                data = sse.data  # an unknown event may carry anything: UnknownEvent, no error
            else:
                raise self._protocol_error(
                    f"{sse.event} event data is not valid JSON ({len(sse.data)} characters)"
                )
        failure: StreamError | StreamProtocolError | ResponseValidationError | None = None
        try:
            event = parse_event(sse.event, data)
        except StreamError as exc:
            failure = StreamError(
                self.mask(exc.message),
                # A server may echo the bearer anywhere, the error code included.
                code=self.mask(exc.code) if exc.code is not None else None,
                response_id=self.response_id,
                request_id=self.request_id,
            )
        except StreamProtocolError as exc:
            failure = self._protocol_error(exc.message)
        except ResponseValidationError as exc:
            failure = exc
        if failure is not None:
            raise failure
        return event

    def _take_id(self, response: Response) -> None:
        """Record the response id, or raise before the event is delivered: an id the SDK
        cannot put into a URL (recovery polls it) is a server error, outcome unknown."""
        if not is_id(response.response_id):
            raise self._protocol_error("the server sent a response id the SDK cannot use")
        self.response_id = response.response_id

    def _protocol_error(self, message: str) -> StreamProtocolError:
        """A :class:`StreamProtocolError` naming what the stream knows: the request's trace id
        and the response id (to poll the outcome; ``None`` before ``RESPONSE_CREATED``)."""
        return StreamProtocolError(
            message, response_id=self.response_id, request_id=self.request_id
        )

    def finish(self, response: Response) -> None:
        """The terminal response is known (from the stream or from polling): record it and
        upsert its outputs (an empty ``outputs`` list removes nothing); no ending is pending
        and no deadline applies any more."""
        self.final = response
        self.ending = None
        outputs = self.outputs
        for output in response.outputs:
            key = output.id
            outputs[key if key is not None else object()] = output

    # --- time --------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """The stream starts (``async with``): the overall ``deadline`` counts from ``now``."""
        if self.deadline is not None:
            self.deadline_at = now + self.deadline

    def sent(self, now: float) -> None:
        """The request went out at ``now``: the first-event deadline counts from it."""
        if self.first_event_timeout is not None:
            self.first_at = now + self.first_event_timeout

    def wait_started(self, now: float) -> Action | None:
        """The shell starts waiting for bytes at ``now``: set :meth:`next_deadline` (the
        first-event deadline until an event arrived, then ``now + idle_timeout``, never past
        the overall deadline). Returns what :meth:`on_timer` would if that is already past
        (a server that floods keeps every read ready, so no timer ever gets to run)."""
        if self.first_at is not None:
            limit = self.first_at
        elif self.idle_timeout is not None:
            limit = now + self.idle_timeout
        else:
            limit = _INF
        deadline_at = self.deadline_at
        if deadline_at is not None and deadline_at < limit:
            limit = deadline_at
        self.read_deadline = limit
        if now >= limit:
            return self.on_timer(now)
        return None

    def next_deadline(self) -> float:
        """When the current wait for bytes is overdue (``inf``: never); call :meth:`on_timer`
        then. A later :meth:`wait_started` moves it (the idle timer pushed by data)."""
        return self.read_deadline

    def on_timer(self, now: float) -> Action | None:
        """The shell's timer fired at ``now``: ``None`` if no wait is overdue yet (sleep until
        :meth:`next_deadline` again), else the ending (first event, idle or deadline) is
        recorded and its action returned; the shell interrupts the read."""
        if now < self.read_deadline:
            return None
        if self.deadline_at is not None and now >= self.deadline_at:
            self.ending = End.DEADLINE
        elif self.first_at is not None:
            self.ending = End.FIRST_EVENT
        else:
            self.ending = End.IDLE
        return self.action(self.recover)

    def past_deadline(self, now: float) -> bool:
        """Whether the overall deadline has passed at ``now`` (checked between buffered
        events of a flood, which never wait for bytes); if so, that is the ending."""
        if self.deadline_at is not None and now >= self.deadline_at:
            self.ending = End.DEADLINE
            return True
        return False

    # --- endings -----------------------------------------------------------------------------

    def on_eof(self) -> Action:
        """The body ended without a terminal event: an unterminated final event is discarded
        (WHATWG), and the stream must be recovered."""
        self.decoder.close()
        self.ending = End.EOF
        return self.action(self.recover)

    def on_reset(self) -> Action:
        """A read failed (the connection broke, or the shell closed it when a timer fired:
        then that timeout stays the ending)."""
        if self.ending is None:
            self.ending = End.RESET
        return self.action(self.recover)

    def action(self, recover: bool) -> Action:
        """What follows the recorded ending: poll the response (its id is known and
        ``recover``), or fail. A passed deadline always fails, with no recovery."""
        ending = self.ending
        assert ending is not None
        response_id = self.response_id
        request_id = self.request_id
        if ending is End.DEADLINE:
            return Fail(
                DeadlineTimeout(
                    ending.value, request_id=request_id, outcome_unknown=response_id is None
                ),
                fatal=True,
            )
        if response_id is not None and recover:
            return Poll(response_id)
        error: APIError
        if ending is End.FIRST_EVENT or ending is End.IDLE:
            error = APITimeoutError(
                ending.value,
                phase=ending.name.lower(),
                request_id=request_id,
                outcome_unknown=response_id is None,
            )
        else:
            error = StreamInterruptedError(
                ending.value, response_id=response_id, request_id=request_id
            )
        return Fail(error, fatal=response_id is None)

    def fail(self, error: APIError, *, fatal: bool = False) -> APIError:
        """Record ``error`` (raised again on further reads) and return it. A fatal error also
        ends ``final_response()``; a non-fatal one lets it recover by polling when the
        response id is known. Without a response id the create's outcome is unknown."""
        if self.response_id is None and type(error) is not StreamError:
            error.outcome_unknown = True  # the create was sent; nothing says what became of it
        self.error = error
        self.fatal = fatal
        if not fatal and self.ending is None:
            self.ending = End.ERROR
        return error

    def poll_budget(self, now: float, recover_timeout: float) -> tuple[float, bool]:
        """Seconds a recovery may poll from ``now``: ``recover_timeout``, cut to what is left
        of the deadline; and whether the deadline is what bounds it."""
        deadline_at = self.deadline_at
        if deadline_at is not None and deadline_at - now <= recover_timeout:
            return deadline_at - now, True
        return recover_timeout, False

    def recovery_past_deadline(self) -> APIError:
        """The deadline passed while polling: record and return the (fatal) error."""
        return self.fail(
            DeadlineTimeout(
                "the stream passed its deadline while recovering", request_id=self.request_id
            ),
            fatal=True,
        )

    def polled(self, response: Response) -> StreamEvent:
        """The recovery's poll returned the terminal ``response``: record it; the event to
        deliver in place of the lost ones (``recovered=True``, no sequence number)."""
        self.finish(response)
        return recovered_event(response)


def recovered_event(response: Response) -> StreamEvent:
    """The terminal event that stands for a polled terminal ``response`` (``recovered=True``,
    no sequence number): what a recovered stream delivers in place of the lost events."""
    if response.status is ResponseStatus.FAILED:
        return ResponseFailed(None, response, recovered=True)
    return ResponseCompleted(None, response, recovered=True)
