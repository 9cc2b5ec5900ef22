"""A sans-I/O, incremental decoder for ``text/event-stream`` (WHATWG HTML §9.2.6).

Feed it the response body in chunks of any size; it returns the events completed so far.
It never does I/O and never looks at a clock, so one instance serves one stream anywhere.

Plan. Bytes are buffered until a blank line (the dispatch point) arrives. Everything up to the
*last* blank line in a chunk is a "region" of complete events: it is decoded to ``str`` once and
split into lines in C, and a single Python loop walks the lines. The unfinished rest stays raw in
a ``bytearray``. So each byte is searched once (linear time whatever the chunking), decoding is
per region (a multi-byte character split across chunks is fine), and there is no per-line
decode, no per-line buffer object and no copying of the unfinished event on every chunk.

Line ends are CRLF, LF or a lone CR. Most streams have no CR at all, so a chunk without ``\\r``
takes the pure-LF path (``bytes.rfind``/``str.split`` on ``\\n``). With CRs, a blank line is found
by its junction with the line before (``\\n\\n``, ``\\n\\r`` or ``\\r\\r``; ``\\r\\n`` is one
line end, never two) and the region is split with ``str.splitlines`` unless it holds one of the
other separators that method knows about, in which case line ends are normalised first.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Final, NamedTuple

from ._errors import StreamProtocolError

__all__ = ["DEFAULT_MAX_EVENT_SIZE", "SSEDecoder", "ServerSentEvent"]

DEFAULT_MAX_EVENT_SIZE: Final = 4 * 1024 * 1024

_BOM: Final = b"\xef\xbb\xbf"
_LINE_ENDS: Final = (b"\n", b"\r", b"\r\n")


def _splitlines_is_exact(text: str) -> bool:
    """Does ``text`` lack every separator that str.splitlines() knows but SSE does not?"""
    # Unrolled `in` scans are memchr-fast; str.isascii() only reads a flag.
    if "\x0b" in text or "\x0c" in text or "\x1c" in text or "\x1d" in text or "\x1e" in text:
        return False
    return text.isascii() or not ("\x85" in text or "\u2028" in text or "\u2029" in text)


class ServerSentEvent(NamedTuple):
    """One dispatched event: a named tuple, so immutable and the cheapest object to build.

    Being a tuple, it also equals a plain tuple of the same four values, and unpacks.
    """

    event: str  # event type; "message" if the stream gave no (or an empty) event field
    data: str  # the data lines joined with "\n"
    id: str | None  # the last-event-ID buffer at dispatch; None if no id field was ever seen
    retry: int | None  # the reconnection time if a valid retry field was in this event


_new_event = tuple.__new__  # skips the NamedTuple's Python-level __new__: 2x faster dispatch


class SSEDecoder:
    """Incremental ``text/event-stream`` decoder; any split of the input gives the same events.

    ``max_event_size`` bounds the raw bytes of the event being built (its lines and their line
    ends, not the blank line that ends it, nor blank lines before it), and also the raw bytes
    between two events (or before the first): blank lines and the frames that dispatch nothing
    (comments, keep-alives, fields without ``data``), each with the blank line that ends it.
    Both are counted on the bytes, so where the reads split them never matters. Past either,
    ``feed`` raises `StreamProtocolError`, unless the same ``feed`` call completed events before
    that point: those are returned first, :attr:`failure` says why nothing follows them, and the
    next ``feed`` (or ``close``) raises the error. The decoder is done after that error.
    """

    __slots__ = ("_closed", "_failure", "_gap", "_head", "_idle", "_last_id", "_limit", "_pending",
                 "_pending_cr", "_retry", "_seen", "_skip_lf")  # fmt: skip

    def __init__(self, *, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        self._limit = max_event_size
        self._pending = bytearray()  # raw bytes of the unfinished event (amortised appends)
        self._pending_cr = False  # does _pending hold a CR? (then the LF path is not safe)
        self._skip_lf = False  # a blank line ended on a chunk's last byte, a CR: eat one LF
        self._head: bytes | None = b""  # bytes held while the stream may still start with a BOM
        self._last_id: str | None = None
        self._retry: int | None = None
        self._seen = 0
        self._closed = False
        self._failure: str | None = None  # set once an event outgrew the cap (see feed)
        self._gap = 0  # raw bytes since the last event's blank line that made no event
        self._idle = False  # set by _parse: a frame of the region dispatched nothing

    @property
    def last_event_id(self) -> str:
        """The last-event-ID buffer: ``""`` until an ``id`` field was seen."""
        return self._last_id or ""

    @property
    def retry(self) -> int | None:
        """The last valid ``retry`` value (milliseconds) seen anywhere in the stream."""
        return self._retry

    @property
    def max_event_size(self) -> int:
        """The cap on one event's raw bytes."""
        return self._limit

    @property
    def failure(self) -> str | None:
        """Why the stream cannot go on (an event over the cap) after the events the last
        ``feed`` returned; ``None`` while it can. The next ``feed`` or ``close`` raises it."""
        return self._failure

    @property
    def quiet_bytes(self) -> int:
        """Raw bytes since the last event that made no event (blank lines and the frames that
        dispatch nothing, each counted once it ended); at most ``max_event_size``."""
        return self._gap

    @property
    def bytes_seen(self) -> int:
        """Total bytes fed so far, comments and keep-alives included."""
        return self._seen

    def close(self) -> list[ServerSentEvent]:
        """End of stream. Returns ``[]``: WHATWG discards an unterminated final event.

        A browser parses each line as it ends, so a ``retry`` line of that event still sets the
        reconnection time; apply those now (the other fields only matter at dispatch).
        """
        if self._failure is not None:
            self._closed = True
            self._pending = bytearray()
            raise StreamProtocolError(self._failure)
        if not self._closed and b"retry" in self._pending:
            text = (
                self._pending.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
            )
            for line in text.split("\n")[:-1]:  # the last line is unterminated: never parsed
                name, _, value = line.partition(":")
                value = value[1:] if value[:1] == " " else value
                if name == "retry" and value.isascii() and value.isdigit():
                    with suppress(ValueError):
                        self._retry = int(value)
        self._closed = True
        self._pending = bytearray()
        return []

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Consume the next piece of the body; return the events it completed, in order."""
        return self.feed_region(chunk)[0]

    def feed_region(self, chunk: bytes) -> tuple[list[ServerSentEvent], bytes | bytearray]:
        """As :meth:`feed`, and also the raw bytes the returned events were parsed from
        (``b""`` when none completed): one scan of that region (``_json.loads_for``)
        can stand for a check of every event's data in it."""
        if self._closed:
            raise RuntimeError("SSEDecoder.feed() called after close()")
        if self._failure is not None:
            raise StreamProtocolError(self._failure)
        self._seen += len(chunk)
        if self._head is not None:  # stream start: strip one BOM, even if split across chunks
            chunk = self._head + chunk
            if len(chunk) < 3 and _BOM.startswith(chunk):
                self._head = chunk
                return [], b""
            self._head = None
            if chunk[:3] == _BOM:
                chunk = chunk[3:]
        if not chunk:
            return [], b""
        if self._skip_lf:
            self._skip_lf = False
            if chunk[0] == 10:
                chunk = chunk[1:]
                if self._gap:  # the LF of a blank line between events: it counts too
                    self._add_gap(1)
                if not chunk:
                    return [], b""
        pending = self._pending
        cr = self._pending_cr or b"\r" in chunk
        if not cr:
            end = chunk.rfind(b"\n\n")  # the line before the blank line ends at `end`
            if end >= 0:
                start = end + 2
            elif pending and pending[-1] == 10 and chunk[0] == 10:
                start = 1  # the blank line is the chunk's first byte
            else:
                start = 0
        else:
            end, start = self._find_blank_cr(chunk)
        if start <= 0:  # no blank line: the event goes on
            if not pending:  # drop a leading blank line (a no-op) so sizes are exact
                stripped = chunk.lstrip(b"\r\n")
                if len(stripped) < len(chunk):  # blank lines between events count
                    self._add_gap(len(chunk) - len(stripped))
                self._skip_lf = not stripped and chunk[-1] == 13  # b"\r": its LF may follow
                chunk = stripped
            pending += chunk
            self._pending_cr = cr
            if len(pending) > self._limit:
                self._too_big()
            return [], b""
        if pending:
            pending += chunk[: end + 1]  # in place: the only copy of a big event's head
            region: bytes | bytearray = pending
        else:
            region = chunk[: end + 1]
        tail = chunk[start:]
        blank = start - end - 1  # the bytes of the blank line that ends the region
        if len(region) > self._limit or len(tail) > self._limit:
            return self._guarded(region, blank, tail, cr)
        self._pending = bytearray(tail)
        self._pending_cr = cr and b"\r" in tail
        events = self._events(region, cr)
        if not self._idle:  # the hot path: every frame was an event, nothing between them
            self._gap = 0
            return events, region
        self._idle = False
        stop = self._walk(region, blank)
        if stop is not None:  # an event's frame decides nothing of those before it
            cut, count, message = stop
            return self._stop(events[:count], region[:cut], message)
        return events, region

    def _events(self, region: bytes | bytearray, cr: bool) -> list[ServerSentEvent]:
        """The events of ``region``: complete frames, ending at a blank line."""
        text = region.decode("utf-8", "replace")
        if not cr:
            return self._parse(text.split("\n"))
        if _splitlines_is_exact(text):
            lines = text.splitlines()
            lines.append("")  # the region ends at a blank line
            return self._parse(lines)
        return self._parse(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))

    def _guarded(
        self, region: bytes | bytearray, blank: int, tail: bytes, cr: bool
    ) -> tuple[list[ServerSentEvent], bytes | bytearray]:
        """As the end of ``feed_region`` when the region or the tail is over the cap: find the
        first point past a limit before parsing anything, and parse only what precedes it."""
        stop = self._walk(region, blank)
        if stop is None and len(tail) > self._limit:
            stop = (len(region), 0, self._big_message())
        if stop is not None:
            cut, _, message = stop
            good = region[:cut]
            events = self._events(good, cr) if good else []
            self._idle = False
            return self._stop(events, good, message)
        self._pending = bytearray(tail)
        self._pending_cr = cr and b"\r" in tail
        events = self._events(region, cr)
        self._idle = False  # _walk counted the region's frames already
        return events, region

    def _stop(
        self, events: list[ServerSentEvent], good: bytes | bytearray, message: str
    ) -> tuple[list[ServerSentEvent], bytes | bytearray]:
        """A limit was passed after the complete frames ``good``: their ``events``, then the
        error (raised now when there are none, else by the next feed or close)."""
        self._pending = bytearray()
        if not events:
            raise StreamProtocolError(message)
        self._failure = message
        return events, good

    def _add_gap(self, size: int) -> None:
        """``size`` more bytes between events, outside any region (no event precedes them in
        this feed): past the cap, the error now."""
        self._gap += size
        if self._gap > self._limit:
            raise StreamProtocolError(self._quiet_message())

    def _quiet_message(self) -> str:
        return f"more than {self._limit} bytes without an event (comments count)"

    def _find_blank_cr(self, chunk: bytes) -> tuple[int, int]:
        """Locate the last blank line when CRs are about: (end of the line before it, tail start).

        ``start <= 0`` means none. A blank line is two line ends in a row; their junction is
        ``\\n\\n``, ``\\n\\r`` or ``\\r\\r`` (``\\r\\n`` is a single CRLF). Each later search
        only scans past the previous hit, so this stays about one pass over the chunk end.
        """
        end = chunk.rfind(b"\n\r")  # CRLF streams: hit near the end of the chunk
        end = max(end, chunk.rfind(b"\n\n", end + 1))
        end = max(end, chunk.rfind(b"\r\r", end + 1))
        if end < 0:
            if not self._pending:
                return -1, 0
            last, first = self._pending[-1], chunk[0]
            if first not in (10, 13) or last not in (10, 13) or (last == 13 and first == 10):
                return -1, 0
        start = end + 1  # the blank line's own line end starts here
        if chunk[start] == 10:
            return end, start + 1
        if start + 1 == len(chunk):  # a CR on the last byte: its LF may come next
            self._skip_lf = True
            return end, start + 1
        return end, start + 2 if chunk[start + 1] == 10 else start + 1

    def _parse(self, lines: list[str]) -> list[ServerSentEvent]:
        """Run the WHATWG field rules over complete lines; the last line must be blank."""
        out: list[ServerSentEvent] = []
        append = out.append
        new, cls = _new_event, ServerSentEvent  # locals: cheaper than globals in the loop
        last_id = self._last_id
        event = ""
        data: str | None = None  # the first data line: most events have only one
        more: list[str] | None = None  # all data lines, once there is a second
        retry: int | None = None
        idle = False  # a frame dispatched nothing: feed_region counts the bytes between events
        for line in lines:
            # The common lines first, by prefix, without partition(); order is by frequency.
            if line[:6] == "data: ":
                if data is None:
                    data = line[6:]
                elif more is None:
                    more = [data, line[6:]]
                else:
                    more.append(line[6:])
                continue
            if not line:  # blank line: dispatch
                if data is not None:
                    if more is not None:
                        data = "\n".join(more)
                        more = None
                    append(new(cls, (event or "message", data, last_id, retry)))
                    data = None
                else:
                    idle = True
                event = ""
                retry = None
                continue
            if line[:7] == "event: ":
                event = line[7:]
                continue
            name, _, value = line.partition(":")
            if value[:1] == " ":
                value = value[1:]
            if name == "data":
                if data is None:
                    data = value
                elif more is None:
                    more = [data, value]
                else:
                    more.append(value)
            elif name == "event":
                event = value
            elif name == "id":
                if "\0" not in value:
                    last_id = value
            elif name == "retry" and value.isascii() and value.isdigit():
                with suppress(ValueError):  # past sys.get_int_max_str_digits(): ignored
                    retry = self._retry = int(value)
            # "" is a comment (":...") and anything else an unknown field: both ignored.
        self._last_id = last_id
        if idle:
            self._idle = True
        return out

    def _walk(self, region: bytes | bytearray, blank: int) -> tuple[int, int, str] | None:
        """Slow path, only when a region is over the cap or holds a frame that made no event:
        measure each frame exactly, and the bytes between events (carried over from earlier
        feeds, ``blank`` bytes of the blank line that ends the region included). Returns the
        first point past a limit: (offset where what follows is dropped, events before it,
        the error message), or None, with the count between events updated."""
        limit = self._limit
        gap = self._gap
        size = offset = start = count = 0
        data = False  # has the current frame a data field (it dispatches an event)?
        for line in region.splitlines(keepends=True):
            offset += len(line)
            if line in _LINE_ENDS:
                if data:
                    count += 1
                    gap = 0
                else:
                    gap += size + len(line)
                    if gap > limit:
                        return offset, count, self._quiet_message()
                size = 0
                data = False
                start = offset
            else:
                size += len(line)
                if size > limit:
                    return start, count, self._big_message()
                if not data and line[:4] == b"data" and line[4:5] in b":\r\n":
                    data = True  # "data", "data:..." (line[4:5] is b"" for "data" alone)
        if data:
            gap = 0
        else:
            gap += size + blank
            if gap > limit:
                return len(region), count, self._quiet_message()
        self._gap = gap
        return None

    def _too_big(self) -> None:
        raise StreamProtocolError(self._big_message())

    def _big_message(self) -> str:
        return f"SSE event larger than {self._limit} bytes"
