"""Injectable faults (the failures the reliability suite ``tests/reliability/`` plays) as frozen
values.

Faults are built with the ``Fault.<kind>(...)`` constructors. Each kind says where it acts:

* *gate* faults act before the endpoint on any API request, the stream endpoint included:
  :meth:`Fault.rate_limited`, :meth:`Fault.status` and :meth:`Fault.expire_token` answer
  **instead of** it (nothing is created); :meth:`Fault.reset_after_request` lets it run and
  drops the connection instead of replying;
* *plain* faults change a non-streaming JSON reply: :meth:`Fault.stall`,
  :meth:`Fault.slow_loris`, :meth:`Fault.unknown_fields`;
* *stream* faults change the SSE stream of ``POST .../responses/stream``; several combine.

:meth:`Fault.compress` is both a plain and a stream fault.

Which requests a fault hits is decided by ``_injection.FaultRegistry``.
"""

from __future__ import annotations

from typing import ClassVar

import attrs
from attrs.validators import ge, gt, in_

__all__ = [
    "Comments",
    "Compress",
    "CutStream",
    "DuplicateEvents",
    "ErrorEvent",
    "ExpireToken",
    "Fault",
    "KeepaliveOnly",
    "LineEnding",
    "MalformedJson",
    "RateLimited",
    "ReorderEvents",
    "ResetAfterRequest",
    "SkipSequence",
    "SlowLoris",
    "Stall",
    "Status",
    "Trickle",
    "UnknownEvent",
    "UnknownFields",
]


@attrs.frozen
class Fault:
    """Base of every fault; build them with the static constructors below."""

    gate: ClassVar[bool] = False
    plain: ClassVar[bool] = False
    stream: ClassVar[bool] = False

    @staticmethod
    def rate_limited(retry_after: str | None = "1") -> RateLimited:
        """429 ``RATE_LIMIT_EXCEEDED``; see :func:`retry_after_headers` for ``retry_after``."""
        return RateLimited(retry_after)

    @staticmethod
    def status(code: int, html: bool = False, error_code: str | None = None) -> Status:
        """Reply ``code`` with the documented JSON error body, or a ``text/html`` page.

        ``html=True`` with a 5xx gives a proxy error page; with 200 it gives a ``text/html``
        200 on a JSON route. ``error_code`` overrides the documented code for the status.
        """
        return Status(code, html, error_code)

    @staticmethod
    def expire_token() -> ExpireToken:
        """401 ``UNAUTHORIZED`` for requests carrying a token that existed at inject time.

        Tokens minted by ``POST /oauth/v1/token`` after the injection are accepted, so a
        client that refreshes once recovers. The static token counts as existing.
        """
        return ExpireToken()

    @staticmethod
    def stall(seconds: float) -> Stall:
        """Stream: send the headers, then nothing for ``seconds``; plain: delay the reply."""
        return Stall(seconds)

    @staticmethod
    def trickle(bytes_per_write: int = 1, delay: float = 0.0) -> Trickle:
        """Stream written ``bytes_per_write`` bytes per write, ``delay`` seconds apart."""
        return Trickle(bytes_per_write, delay)

    @staticmethod
    def crlf() -> LineEnding:
        """SSE lines end in CRLF."""
        return LineEnding("\r\n")

    @staticmethod
    def cr() -> LineEnding:
        """SSE lines end in a lone CR."""
        return LineEnding("\r")

    @staticmethod
    def comments(every: int = 1) -> Comments:
        """A ``: keep-alive`` comment line before the first and every ``every``-th event."""
        return Comments(every)

    @staticmethod
    def cut_stream(after_events: int = 2, reset: bool = False, partial: bool = False) -> CutStream:
        """Close the stream after ``after_events`` events, before the terminal one.

        ``reset=True`` aborts the TCP connection (RST) instead of ending the body cleanly;
        ``partial=True`` first writes half of the next event (no blank line: a truncated
        event at EOF). The response still completes server-side, so a later GET sees
        ``COMPLETED``.
        """
        return CutStream(after_events, reset, partial)

    @staticmethod
    def error_event(
        code: str = "INTERNAL_ERROR",
        message: str = "Something went wrong while generating the response.",
        after_events: int = 2,
    ) -> ErrorEvent:
        """After ``after_events`` events send ``ERROR`` ``{"error": {code, message}}`` and close.

        The response ends ``FAILED`` server-side with that error.
        """
        return ErrorEvent(code, message, after_events)

    @staticmethod
    def malformed_json(after_events: int = 2) -> MalformedJson:
        """Insert one event whose data is truncated JSON after ``after_events`` events."""
        return MalformedJson(after_events)

    @staticmethod
    def unknown_event() -> UnknownEvent:
        """Interleave ``RESPONSE_FUTURE_THING`` events after every non-terminal event.

        They take sequence numbers like any event a newer server would add.
        """
        return UnknownEvent()

    @staticmethod
    def unknown_fields() -> UnknownFields:
        """Add unknown keys to every JSON object and unknown enum values in harmless places.

        Responses gain an extra ``FUTURE_OUTPUT`` output item (holding ``FUTURE_CONTENT``),
        action lists an extra ``FUTURE_ACTION``; the real answer stays parseable.
        """
        return UnknownFields()

    @staticmethod
    def duplicate_events() -> DuplicateEvents:
        """Send every ``RESPONSE_OUTPUT_DELTA`` twice (same sequence number)."""
        return DuplicateEvents()

    @staticmethod
    def reorder_events() -> ReorderEvents:
        """Swap the first two ``RESPONSE_OUTPUT_DELTA`` events (sequence numbers go down)."""
        return ReorderEvents()

    @staticmethod
    def skip_sequence() -> SkipSequence:
        """Drop the first ``RESPONSE_OUTPUT_DELTA``, leaving a gap in the sequence numbers."""
        return SkipSequence()

    @staticmethod
    def reset_after_request() -> ResetAfterRequest:
        """Read the whole request, then abort the connection without any reply.

        On create endpoints the response *is* created first (outcome unknown to the client).
        """
        return ResetAfterRequest()

    @staticmethod
    def slow_loris(delay: float, max_seconds: float = 60.0) -> SlowLoris:
        """Write one byte per ``delay`` seconds; streams are padded with comment bytes.

        Bounded: after ``max_seconds`` the connection is closed.
        """
        return SlowLoris(delay, max_seconds)

    @staticmethod
    def keepalive_only(
        interval: float, duration: float = 60.0, then_events: bool = False
    ) -> KeepaliveOnly:
        """Stream only ``: keep-alive`` comments every ``interval`` seconds for ``duration``.

        Then close, or with ``then_events=True`` continue with the real events.
        """
        return KeepaliveOnly(interval, duration, then_events)

    @staticmethod
    def compress(encoding: str = "gzip", corrupt_after: int | None = None) -> Compress:
        """Send the body with ``Content-Encoding: <encoding>`` (``"gzip"`` or ``"deflate"``).

        Plain replies are compressed whole (``Content-Length`` is the compressed size).
        Streams are compressed incrementally and flushed (``Z_SYNC_FLUSH``) after every
        write, so each event can be decoded as soon as it arrives. ``corrupt_after=N``
        (streams only): after ``N`` events write bytes that are not valid compressed data,
        then end the body. Combines with the other faults; slow writes send compressed bytes.
        """
        return Compress(encoding, corrupt_after)


@attrs.frozen
class RateLimited(Fault):
    """See :meth:`Fault.rate_limited`."""

    gate: ClassVar[bool] = True
    retry_after: str | None = "1"


@attrs.frozen
class Status(Fault):
    """See :meth:`Fault.status`."""

    gate: ClassVar[bool] = True
    code: int = attrs.field(validator=[ge(100), attrs.validators.le(599)])
    html: bool = False
    error_code: str | None = None


@attrs.frozen
class ExpireToken(Fault):
    """See :meth:`Fault.expire_token`."""

    gate: ClassVar[bool] = True


@attrs.frozen
class ResetAfterRequest(Fault):
    """See :meth:`Fault.reset_after_request`."""

    gate: ClassVar[bool] = True


@attrs.frozen
class Stall(Fault):
    """See :meth:`Fault.stall`."""

    plain: ClassVar[bool] = True
    stream: ClassVar[bool] = True
    seconds: float = attrs.field(validator=ge(0))


@attrs.frozen
class SlowLoris(Fault):
    """See :meth:`Fault.slow_loris`."""

    plain: ClassVar[bool] = True
    stream: ClassVar[bool] = True
    delay: float = attrs.field(validator=ge(0))
    max_seconds: float = attrs.field(default=60.0, validator=[gt(0), attrs.validators.le(60)])


@attrs.frozen
class UnknownFields(Fault):
    """See :meth:`Fault.unknown_fields`."""

    plain: ClassVar[bool] = True
    stream: ClassVar[bool] = True


@attrs.frozen
class Trickle(Fault):
    """See :meth:`Fault.trickle`."""

    stream: ClassVar[bool] = True
    bytes_per_write: int = attrs.field(default=1, validator=ge(1))
    delay: float = attrs.field(default=0.0, validator=ge(0))


@attrs.frozen
class LineEnding(Fault):
    """See :meth:`Fault.crlf` and :meth:`Fault.cr`."""

    stream: ClassVar[bool] = True
    ending: str = attrs.field(validator=in_(("\r\n", "\r", "\n")))


@attrs.frozen
class Comments(Fault):
    """See :meth:`Fault.comments`."""

    stream: ClassVar[bool] = True
    every: int = attrs.field(default=1, validator=ge(1))


@attrs.frozen
class CutStream(Fault):
    """See :meth:`Fault.cut_stream`."""

    stream: ClassVar[bool] = True
    after_events: int = attrs.field(default=2, validator=ge(0))
    reset: bool = False
    partial: bool = False


@attrs.frozen
class ErrorEvent(Fault):
    """See :meth:`Fault.error_event`."""

    stream: ClassVar[bool] = True
    code: str = "INTERNAL_ERROR"
    message: str = "Something went wrong while generating the response."
    after_events: int = attrs.field(default=2, validator=ge(0))


@attrs.frozen
class MalformedJson(Fault):
    """See :meth:`Fault.malformed_json`."""

    stream: ClassVar[bool] = True
    after_events: int = attrs.field(default=2, validator=ge(0))


@attrs.frozen
class UnknownEvent(Fault):
    """See :meth:`Fault.unknown_event`."""

    stream: ClassVar[bool] = True


@attrs.frozen
class DuplicateEvents(Fault):
    """See :meth:`Fault.duplicate_events`."""

    stream: ClassVar[bool] = True


@attrs.frozen
class ReorderEvents(Fault):
    """See :meth:`Fault.reorder_events`."""

    stream: ClassVar[bool] = True


@attrs.frozen
class SkipSequence(Fault):
    """See :meth:`Fault.skip_sequence`."""

    stream: ClassVar[bool] = True


@attrs.frozen
class KeepaliveOnly(Fault):
    """See :meth:`Fault.keepalive_only`."""

    stream: ClassVar[bool] = True
    interval: float = attrs.field(validator=gt(0))
    duration: float = attrs.field(default=60.0, validator=[ge(0), attrs.validators.le(60)])
    then_events: bool = False


@attrs.frozen
class Compress(Fault):
    """See :meth:`Fault.compress`."""

    plain: ClassVar[bool] = True
    stream: ClassVar[bool] = True
    encoding: str = attrs.field(default="gzip", validator=in_(("gzip", "deflate")))
    corrupt_after: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(ge(0))
    )
