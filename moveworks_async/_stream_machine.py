"""The rules of one response stream, without I/O: bytes in, typed events out (as h11 does).

:class:`StreamMachine` owns what the bytes of a stream mean: SSE decoding, the cap on bytes
without an event, JSON and event typing, the sequence rules (duplicates and late events
dropped, a skipped number ends the trust in the stream), the response id, the current outputs
and the terminal response. It never reads a socket, looks at a clock or closes anything:
``ResponseStream`` (``_streaming.py``) is the shell that reads chunks, runs the timers and
acts on what the machine says (a gap: poll for the truth; an error: close the connection).

Usage, without any network::

    machine = StreamMachine(max_event_size=4 << 20)
    for sse in machine.feed(chunk):
        event = machine.accept(sse)   # a StreamEvent, None (dropped) or GAP
    machine.eof()                     # the body ended
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from . import _json
from ._errors import ResponseValidationError, StreamError, StreamProtocolError
from ._events import (
    EVENT_TYPES,
    TERMINAL_EVENTS,
    ResponseOutputDelta,
    StreamEvent,
    UnknownEvent,
    parse_event,
)
from ._models import OutputItem, Response
from ._sse import ServerSentEvent, SSEDecoder

__all__ = ["GAP", "StreamMachine"]


class _Gap:
    __slots__ = ()

    def __repr__(self) -> str:
        return "GAP"


#: What :meth:`StreamMachine.accept` returns when the stream skipped a sequence number.
GAP: Final = _Gap()
_BAD_JSON: Final = object()


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
        "decoder",
        "final",
        "last_seq",
        "mask",
        "outputs",
        "quiet",
        "request_id",
        "response_id",
    )

    def __init__(self, max_event_size: int, mask: Callable[[str], str] = _same) -> None:
        self.decoder = SSEDecoder(max_event_size=max_event_size)
        #: Body bytes (decompressed) since the last chunk that completed an event.
        self.quiet = 0
        #: The server's trace id of the stream request (set by the shell), for errors.
        self.request_id: str | None = None
        self.response_id: str | None = None
        self.last_seq: int | None = None
        #: The current output items, one per message id, in first-seen order.
        self.outputs: dict[object, OutputItem] = {}
        self.final: Response | None = None
        #: Masks credentials in server text (an ERROR event's message).
        self.mask = mask

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The SSE frames ``chunk`` (not empty) completes, in order.

        Comments and blank lines never reach the decoder's event cap, so they count here: more
        than ``max_event_size`` bytes without an event (a body of nothing but keep-alives, a
        decompressed bomb of them) is a :class:`StreamProtocolError`.
        """
        failure: StreamProtocolError | None = None
        try:
            events = self.decoder.feed(chunk)
        except StreamProtocolError as exc:
            failure = StreamProtocolError(exc.message, request_id=self.request_id)
        if failure is not None:
            raise failure  # outside the except block: no __context__
        if events:
            self.quiet = 0
            return events
        quiet = self.quiet = self.quiet + len(chunk)
        limit = self.decoder.max_event_size
        if quiet > limit:
            raise StreamProtocolError(
                f"more than {limit} bytes without an event (comments count)",
                request_id=self.request_id,
            )
        return events

    def eof(self) -> None:
        """The body ended: an unterminated final event is discarded (WHATWG)."""
        self.decoder.close()

    def accept(self, sse: ServerSentEvent) -> StreamEvent | _Gap | None:
        """Convert one SSE frame and apply it to the state.

        Returns the event to deliver, ``None`` for a duplicate or late event (dropped) or
        :data:`GAP` when a sequence number was skipped (the stream can no longer be trusted;
        a terminal event is the truth itself, gap or not). A terminal event also sets
        :attr:`final` (see :meth:`finish`).
        """
        # Errors are raised outside the except blocks, so that no decoder error (orjson's
        # keeps the whole data as ``.doc``) stays alive as ``__context__``.
        try:
            data = _json.loads(sse.data)
        except ValueError:
            data = _BAD_JSON
        if data is _BAD_JSON:
            if sse.event not in EVENT_TYPES:
                data = sse.data  # an unknown event may carry anything: UnknownEvent, no error
            else:
                raise StreamProtocolError(
                    f"{sse.event} event data is not valid JSON ({len(sse.data)} characters)",
                    request_id=self.request_id,
                )
        failure: StreamError | StreamProtocolError | ResponseValidationError | None = None
        try:
            event = parse_event(sse.event, data)
        except StreamError as exc:
            failure = StreamError(
                self.mask(exc.message),
                code=exc.code,
                response_id=self.response_id,
                request_id=self.request_id,
            )
        except (StreamProtocolError, ResponseValidationError) as exc:
            failure = exc
        if failure is not None:
            raise failure
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
                        self.response_id = event.response.response_id  # type: ignore[union-attr]
                    return GAP
            self.last_seq = seq
        if cls is ResponseOutputDelta:
            output = event.output  # type: ignore[union-attr]
            key = output.id
            self.outputs[key if key is not None else object()] = output
        elif cls is not UnknownEvent:
            response: Response = event.response  # type: ignore[union-attr]
            if self.response_id is None:
                self.response_id = response.response_id
            if cls in TERMINAL_EVENTS:
                self.finish(response)
        return event

    def finish(self, response: Response) -> None:
        """The terminal response is known (from the stream or from polling): record it and
        upsert its outputs (an empty ``outputs`` list removes nothing)."""
        self.final = response
        outputs = self.outputs
        for output in response.outputs:
            key = output.id
            outputs[key if key is not None else object()] = output
