"""Unit and property tests for the sans-I/O SSE decoder (`moveworks_async._sse`)."""

from __future__ import annotations

import gc
import time
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from moveworks_async._errors import StreamProtocolError
from moveworks_async._sse import DEFAULT_MAX_EVENT_SIZE, ServerSentEvent, SSEDecoder

# --------------------------------------------------------------------------------------------
# Helpers


def _ev(
    data: str, event: str = "message", id: str | None = None, retry: int | None = None
) -> ServerSentEvent:
    return ServerSentEvent(event=event, data=data, id=id, retry=retry)


def decode(*chunks: bytes, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> list[ServerSentEvent]:
    """Feed the chunks to a fresh decoder, close it, return every event."""
    decoder = SSEDecoder(max_event_size=max_event_size)
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.close()


def decode_all_ways(body: bytes) -> list[ServerSentEvent]:
    """Decode whole, byte by byte and in two halves; assert all agree; return the events."""
    whole = decode(body)
    assert decode(*(body[i : i + 1] for i in range(len(body)))) == whole
    half = len(body) // 2
    assert decode(body[:half], body[half:]) == whole
    return whole


def reference(body: bytes) -> tuple[list[ServerSentEvent], str, int | None]:
    """The WHATWG algorithm written out literally, one character at a time. Slow, obvious.

    Returns the events, the event source's last event ID string (set at each dispatch) and its
    reconnection time (set by every valid retry line, even in an event that is never dispatched).
    """
    text = body.decode("utf-8", errors="replace")  # "UTF-8 decode": replaces invalid bytes
    if text.startswith("\ufeff"):  # one leading BOM
        text = text[1:]
    lines: list[str] = []
    current = ""
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\r":  # CR, or CRLF as one line end
            lines.append(current)
            current = ""
            if i + 1 < len(text) and text[i + 1] == "\n":
                i += 1
        elif char == "\n":
            lines.append(current)
            current = ""
        else:
            current += char
        i += 1
    # `current` is an unterminated last line: it and its event are discarded at EOF.
    events: list[ServerSentEvent] = []
    data_buffer = ""
    event_type = ""
    last_event_id: str | None = None
    last_event_id_string = ""
    retry: int | None = None
    reconnection_time: int | None = None
    for line in lines:
        if line == "":  # dispatch
            last_event_id_string = last_event_id or ""
            if data_buffer == "":
                data_buffer = event_type = ""
                retry = None
                continue
            if data_buffer.endswith("\n"):
                data_buffer = data_buffer[:-1]
            events.append(_ev(data_buffer, event_type or "message", last_event_id, retry))
            data_buffer = event_type = ""
            retry = None
            continue
        if line.startswith(":"):  # comment
            continue
        if ":" in line:
            colon = line.index(":")
            field, value = line[:colon], line[colon + 1 :]
            if value.startswith(" "):
                value = value[1:]
        else:
            field, value = line, ""
        if field == "event":
            event_type = value
        elif field == "data":
            data_buffer += value + "\n"
        elif field == "id":
            if "\x00" not in value:
                last_event_id = value
        elif field == "retry" and value != "" and all(c in "0123456789" for c in value):
            retry = reconnection_time = int(value)
    return events, last_event_id_string, reconnection_time


# --------------------------------------------------------------------------------------------
# Line ends


def test_lf_line_ends() -> None:
    """LF ends lines; a blank line dispatches."""
    assert decode_all_ways(b"event: a\ndata: 1\n\ndata: 2\n\n") == [_ev("1", "a"), _ev("2")]


def test_cr_line_ends() -> None:
    """A lone CR ends a line."""
    assert decode_all_ways(b"event: a\rdata: 1\r\rdata: 2\r\r") == [_ev("1", "a"), _ev("2")]


def test_crlf_line_ends() -> None:
    """CRLF is one line end, not a line end plus a blank line."""
    body = b"event: a\r\ndata: 1\r\ndata: 2\r\n\r\n"
    assert decode_all_ways(body) == [_ev("1\n2", "a")]


def test_mixed_line_ends() -> None:
    """LF, CR and CRLF can be mixed within one stream and one event."""
    body = b"data: a\rdata: b\r\ndata: c\n\r\ndata: d\n\r"
    assert decode_all_ways(body) == [_ev("a\nb\nc"), _ev("d")]


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    """A CR ending one chunk and an LF starting the next are a single line end."""
    assert decode(b"data: 1\r", b"\ndata: 2\r", b"\n\r", b"\n") == [_ev("1\n2")]


def test_blank_line_cr_at_chunk_end_then_lf() -> None:
    """A blank line ending in CR on a chunk edge swallows the next chunk's leading LF only."""
    assert decode(b"data: 1\r\r", b"\ndata: 2\n\n") == [_ev("1"), _ev("2")]
    assert decode(b"data: 1\n\r", b"\n", b"\ndata: 2\n\n") == [_ev("1"), _ev("2")]


def test_blank_line_split_across_chunks() -> None:
    """The two line ends of a dispatch may arrive in different chunks."""
    assert decode(b"data: 1\n", b"\n") == [_ev("1")]
    assert decode(b"data: 1\r", b"\r") == [_ev("1")]
    assert decode(b"data: 1\r\n", b"\r\n") == [_ev("1")]


def test_splitlines_only_separators_are_data() -> None:
    """Form feed, vertical tab, U+0085 and U+2028/2029 are data, not line ends, in CR streams."""
    for char in ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"):
        body = f"data: a{char}b\r\n\r\ndata: {char}\n\n".encode()
        assert decode_all_ways(body) == [_ev(f"a{char}b"), _ev(char)], repr(char)


# --------------------------------------------------------------------------------------------
# Fields


def test_multi_line_data_joined_with_lf() -> None:
    """Several data lines are joined with a single LF."""
    assert decode_all_ways(b"data: a\ndata: b\ndata: c\n\n") == [_ev("a\nb\nc")]


def test_comments_are_ignored() -> None:
    """Lines starting with a colon are comments, also keep-alive-only streams."""
    body = b": ping\n\n:\ndata: x\n: inside\n\n: ping\n\n"
    assert decode_all_ways(body) == [_ev("x")]


def test_id_sets_last_event_id_and_persists() -> None:
    """An id applies to its event and every later one until changed."""
    decoder = SSEDecoder()
    assert decoder.last_event_id == ""
    events = decoder.feed(b"id: 7\ndata: a\n\ndata: b\n\nid:\ndata: c\n\n")
    assert events == [_ev("a", id="7"), _ev("b", id="7"), _ev("c", id="")]
    assert decoder.last_event_id == ""


def test_id_without_data_updates_last_event_id() -> None:
    """An event with an id but no data dispatches nothing yet still sets the last event id."""
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 42\n\n") == []
    assert decoder.last_event_id == "42"
    assert decoder.feed(b"data: x\n\n") == [_ev("x", id="42")]


def test_id_with_nul_is_ignored() -> None:
    """An id value containing U+0000 leaves the last event id unchanged."""
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 1\n\nid: 2\x003\ndata: x\n\n") == [_ev("x", id="1")]
    assert decoder.last_event_id == "1"


def test_retry_valid() -> None:
    """An all-digit retry is reported on its event and kept on the decoder."""
    decoder = SSEDecoder()
    assert decoder.retry is None
    events = decoder.feed(b"retry: 1500\ndata: a\n\ndata: b\n\n")
    assert events == [_ev("a", retry=1500), _ev("b")]
    assert decoder.retry == 1500


@pytest.mark.parametrize(
    "value", [b"", b"abc", b"10x", b"-5", b"+5", b"  5", b"5 ", b"1.5", b"\xd9\xa3", b"1" * 5000]
)
def test_retry_bogus_is_ignored(value: bytes) -> None:
    """A retry value that is empty, not all ASCII digits, or too long to parse is ignored."""
    decoder = SSEDecoder()
    body = b"retry: 100\n\nretry:" + value + b"\ndata: x\n\n"
    assert decoder.feed(body) == [_ev("x")]
    assert decoder.retry == 100


def test_field_without_colon_has_empty_value() -> None:
    """A bare field name is that field with an empty value."""
    assert decode_all_ways(b"data\ndata\n\nevent\ndata: x\n\n") == [_ev("\n"), _ev("x")]


def test_data_without_space_and_only_one_space_stripped() -> None:
    """`data:x` has value `x`; only a single leading space is removed."""
    assert decode_all_ways(b"data:x\ndata:  y\n\n") == [_ev("x\n y")]


def test_empty_data_line_dispatches_empty_string() -> None:
    """`data:` alone makes an event whose data is the empty string."""
    assert decode_all_ways(b"data:\n\ndata: \n\n") == [_ev(""), _ev("")]


def test_event_without_data_is_not_dispatched() -> None:
    """An event type without data dispatches nothing and does not leak into the next event."""
    assert decode_all_ways(b"event: lonely\n\ndata: x\n\n") == [_ev("x")]


def test_unknown_fields_and_colon_in_value() -> None:
    """Unknown fields are ignored; only the first colon separates name from value."""
    assert decode_all_ways(b"foo: bar\nData: no\ndata: a:b: c\n\n") == [_ev("a:b: c")]


def test_retry_in_unterminated_event_applies_at_close() -> None:
    """A complete retry line takes effect even if its event never ends (WHATWG parses per line)."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\nretry: 250\r\nretry: 9") == []
    assert decoder.close() == []
    assert decoder.retry == 250


def test_unterminated_final_event_is_discarded() -> None:
    """An event without its blank line is dropped at close(), even with a complete last line."""
    assert decode(b"data: 1\n\ndata: 2\n") == [_ev("1")]
    assert decode(b"data: 1\n\ndata: 2") == [_ev("1")]
    assert decode(b"data: 1\n\ndata: 2\r") == [_ev("1")]


# --------------------------------------------------------------------------------------------
# Encoding


def test_bom_at_start_is_stripped() -> None:
    """A UTF-8 BOM at the very start is removed."""
    assert decode_all_ways(b"\xef\xbb\xbfdata: x\n\n") == [_ev("x")]


def test_bom_split_across_chunks_is_stripped() -> None:
    """A BOM arriving one byte per chunk is still recognised."""
    assert decode(b"\xef", b"\xbb", b"\xbf", b"data: x\n\n") == [_ev("x")]
    assert decode(b"", b"\xef\xbb", b"\xbfdata: x\n\n") == [_ev("x")]


def test_bom_not_at_start_is_kept() -> None:
    """A BOM after the first byte is ordinary text (and spoils the field name it prefixes)."""
    assert decode_all_ways(b"data: \xef\xbb\xbfx\n\n\xef\xbb\xbfdata: y\n\n") == [_ev("\ufeffx")]


def test_partial_bom_is_not_stripped() -> None:
    """Bytes that only start like a BOM are decoded as text."""
    assert decode(b"\xef\xbb", b"data: x\n\n") == []  # field "\ufffddata" is unknown
    assert decode(b"\xef\xbb\n", b"data: x\n\n") == [_ev("x")]


def test_utf8_split_mid_character() -> None:
    """A multi-byte character cut between chunks decodes intact."""
    body = "data: h\u00e9llo \u20ac \U0001f600\n\n".encode()
    for cut in range(len(body) + 1):
        assert decode(body[:cut], body[cut:]) == [_ev("h\u00e9llo \u20ac \U0001f600")]


def test_invalid_utf8_becomes_replacement_character() -> None:
    """Invalid UTF-8 decodes to U+FFFD instead of raising."""
    assert decode_all_ways(b"data: a\xffb\xe2\x82\n\n") == [_ev("a\ufffdb\ufffd")]


# --------------------------------------------------------------------------------------------
# Size limit


def test_max_event_size_exceeded_raises() -> None:
    """An event larger than the cap raises StreamProtocolError, fed whole or in pieces."""
    body = b"data: " + b"x" * 100 + b"\n\n"
    with pytest.raises(StreamProtocolError, match="larger than 64 bytes"):
        decode(body, max_event_size=64)
    with pytest.raises(StreamProtocolError):
        decode(*(body[i : i + 7] for i in range(0, len(body), 7)), max_event_size=64)


def test_events_before_an_oversize_event_in_the_same_chunk_come_first() -> None:
    """An event over the cap after complete events in one chunk: those events are returned,
    ``failure`` names the error, and the next feed (or close) raises it; alone in its chunk,
    the oversize event raises at once. The same whether it is complete or still open."""
    good = b"event: a\ndata: 1\n\nevent: b\ndata: 2\n\n"
    for big in (b"data: " + b"x" * 100 + b"\n\n", b"data: " + b"x" * 100):
        for ends in (b"", b"\r\n"):
            chunk = good.replace(b"\n", ends or b"\n") + big
            decoder = SSEDecoder(max_event_size=64)
            assert [e.event for e in decoder.feed(chunk)] == ["a", "b"]
            assert decoder.failure == "SSE event larger than 64 bytes"
            with pytest.raises(StreamProtocolError, match="larger than 64 bytes"):
                decoder.feed(b"data: 3\n\n")
            closing = SSEDecoder(max_event_size=64)
            assert len(closing.feed(chunk)) == 2
            with pytest.raises(StreamProtocolError, match="larger than 64 bytes"):
                closing.close()
    alone = SSEDecoder(max_event_size=64)
    with pytest.raises(StreamProtocolError):
        alone.feed(b"data: " + b"x" * 100 + b"\n\n")
    assert SSEDecoder(max_event_size=64).failure is None


def test_max_event_size_line_that_never_ends() -> None:
    """A line that never terminates raises as soon as it passes the cap."""
    decoder = SSEDecoder(max_event_size=1000)
    assert decoder.feed(b"data: ") == []
    decoder.feed(b"x" * 994)  # exactly 1000 bytes pending: still fine
    with pytest.raises(StreamProtocolError):
        decoder.feed(b"x")


def test_max_event_size_exactly_at_limit_is_ok() -> None:
    """An event of exactly the cap (lines plus their line ends) decodes; one byte more raises."""
    event = b"event: e\r\ndata: 123\n"  # 20 bytes; the blank line is not counted
    assert len(event) == 20
    body = event + b"\n"
    assert decode(body, max_event_size=20) == [_ev("123", "e")]
    assert decode(*(body[i : i + 1] for i in range(len(body))), max_event_size=20) == [
        _ev("123", "e")
    ]
    with pytest.raises(StreamProtocolError):
        decode(body, max_event_size=19)
    with pytest.raises(StreamProtocolError):
        decode(*(body[i : i + 1] for i in range(len(body))), max_event_size=19)


def test_max_event_size_applies_per_event() -> None:
    """Many events together may exceed the cap; only a single event's size counts."""
    body = b"\n\r\n".join(b"data: %03d" % i for i in range(100)) + b"\n\n"
    assert len(decode(body, max_event_size=10)) == 100


def test_large_event_under_larger_cap() -> None:
    """A 10 MB event decodes when the cap allows it."""
    payload = b"y" * (10 * 1024 * 1024)
    body = b"data: " + payload + b"\n\n"
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    [event] = decode(*chunks, max_event_size=16 * 1024 * 1024)
    assert len(event.data) == len(payload)


# --------------------------------------------------------------------------------------------
# Lifecycle and counters


def test_close_is_idempotent_and_feed_after_close_raises() -> None:
    """close() always returns [] and can repeat; feed() afterwards raises RuntimeError."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\n\ndata: pending") == [_ev("x")]
    assert decoder.close() == []
    assert decoder.close() == []
    with pytest.raises(RuntimeError):
        decoder.feed(b"\n\n")


def test_bytes_seen_counts_everything() -> None:
    """bytes_seen counts every byte fed, comments and BOM included."""
    decoder = SSEDecoder()
    decoder.feed(b"\xef\xbb\xbf: ping\n\n")
    decoder.feed(b"")
    decoder.feed(b"data: x")
    assert decoder.bytes_seen == 3 + 8 + 7


def test_event_is_immutable() -> None:
    """A ServerSentEvent cannot be modified."""
    [event] = decode(b"data: x\n\n")
    with pytest.raises(AttributeError):
        event.data = "y"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# Properties


_FRAGMENTS = [
    b"data:",
    b"data: x",
    b"data",
    b"event: e",
    b"event:",
    b"id: 1",
    b"id",
    b":c",
    b"retry: 10",
    b"retry:x",
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    "\u00e9".encode(),
    "\u20ac".encode(),
    b"\xef\xbb\xbf",
    b"\x00",
    b"\xff",
    b"\xe2\x82",
    b" ",
    b":",
    b"\x0b",
    b"\x0c",
    "\u2028".encode(),
    "\x85".encode(),
]

byte_soup = st.lists(st.sampled_from(_FRAGMENTS), max_size=40).map(b"".join)


@st.composite
def split(draw: st.DrawFn, body: bytes) -> list[bytes]:
    """Cut `body` at arbitrary points (empty chunks included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=12)))
    edges = [0, *cuts, len(body)]
    return [body[a:b] for a, b in pairwise(edges)]


@settings(max_examples=600, deadline=None)
@given(st.data(), st.one_of(st.binary(max_size=200), byte_soup))
def test_any_split_gives_the_same_events(data: st.DataObject, body: bytes) -> None:
    """For any byte stream and any chunking, the events equal those of feeding it whole."""
    assert decode(*data.draw(split(body))) == decode(body)


@settings(max_examples=1500, deadline=None)
@given(st.data(), byte_soup)
def test_matches_reference_implementation(data: st.DataObject, body: bytes) -> None:
    """On random byte soup cut at random points, events equal the literal WHATWG algorithm's."""
    chunks = data.draw(split(body))
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    expected_events, expected_id, expected_retry = reference(body)
    assert events + decoder.close() == expected_events
    assert decoder.last_event_id == expected_id
    assert decoder.retry == expected_retry


@settings(max_examples=300, deadline=None)
@given(st.data(), byte_soup, st.integers(1, 40))
def test_size_limit_is_split_independent(data: st.DataObject, body: bytes, limit: int) -> None:
    """Whether the cap is hit does not depend on chunking, nor do the events when it is not."""

    def outcome(*chunks: bytes) -> list[ServerSentEvent] | str:
        try:
            return decode(*chunks, max_event_size=limit)
        except StreamProtocolError:
            return "too big"

    assert outcome(*data.draw(split(body))) == outcome(body)


# --------------------------------------------------------------------------------------------
# Linear time


def _best_time(body: bytes, chunk_size: int, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> float:
    chunks = [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]
    best = float("inf")
    # The collector's cost grows with the number of live event tuples, and other processes on
    # a shared CI machine add noise: measure with it off, best of five.
    gc.collect()
    gc.disable()
    try:
        for _ in range(5):
            start = time.perf_counter()
            decode(*chunks, max_event_size=max_event_size)
            best = min(best, time.perf_counter() - start)
    finally:
        gc.enable()
    return best


@pytest.mark.timing
def test_many_tiny_events_decode_in_linear_time() -> None:
    """Four times as many tiny events take far less than quadratic's 16x (100k vs 400k)."""
    small = _best_time(b"data: x\n\n" * 100_000, 65536)
    large = _best_time(b"data: x\n\n" * 400_000, 65536)
    assert large / small < 10


@pytest.mark.timing
def test_one_huge_event_decodes_in_linear_time() -> None:
    """A 10 MB event in 64 KiB chunks costs ~8x a 1.25 MB one, far from quadratic's 64x."""
    cap = 32 * 1024 * 1024
    small = _best_time(b"data: " + b"z" * 1_250_000 + b"\n\n", 65536, cap)
    large = _best_time(b"data: " + b"z" * 10_000_000 + b"\n\n", 65536, cap)
    # Linear measures 8-12x here (a 10 MB buffer no longer fits in cache); quadratic copying of
    # the pending event on every chunk would be about 64x.
    assert large / small < 24


@pytest.mark.timing
def test_huge_event_in_tiny_chunks_is_linear() -> None:
    """Growing one event in 1 KiB chunks stays linear (amortised buffer appends)."""
    cap = 32 * 1024 * 1024
    small = _best_time(b"data: " + b"z" * 500_000 + b"\n\n", 1024, cap)
    large = _best_time(b"data: " + b"z" * 2_000_000 + b"\n\n", 1024, cap)
    assert large / small < 8
