"""SSE decoder behaviour that random byte soup rarely reaches (found by ``nox -s mutants``).

Every body here is checked the strict way: fed whole, cut at every single point, and byte by
byte, each against the literal WHATWG algorithm in test_sse.py. The decoder's CR handling has
several fast paths (a blank line found by its junction with the line before, an LF that a CR on
a chunk edge swallows, a tail that keeps its CR); these bodies are built so each path meets the
input that tells a right answer from a nearly-right one.
"""

from __future__ import annotations

import re
from itertools import combinations, pairwise, product

import pytest
from test_sse import _ev, decode, reference

from moveworks_async._errors import StreamProtocolError
from moveworks_async._sse import ServerSentEvent, SSEDecoder


def _feed(chunks: list[bytes]) -> tuple[list[ServerSentEvent], str, int | None]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    events += decoder.close()
    return events, decoder.last_event_id, decoder.retry


def largest_event(body: bytes) -> int:
    """The documented size of the largest event: its lines and their line ends, without the
    blank line that ends it or blank lines before it (an unterminated last event counts too)."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    size = largest = 0
    for line, end in re.findall(rb"([^\r\n]*)(\r\n|\r|\n|$)", body):
        size = 0 if end and not line else size + len(line) + len(end)
        largest = max(largest, size)
    return largest


def largest_quiet(body: bytes) -> int:
    """The documented count between events at its largest: the raw bytes of blank lines and of
    the frames that dispatch nothing (no data field), each with the blank line that ends it,
    since the last event's blank line; counted when each ends, so never an unterminated one."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    gap = largest = size = 0
    data = False
    for line, end in re.findall(rb"([^\r\n]*)(\r\n|\r|\n|$)", body):
        if not end:
            break
        if line:
            size += len(line) + len(end)
            data = data or line == b"data" or line.startswith(b"data:")
            continue
        if data:
            gap = 0
        else:
            gap += size + len(end)
            largest = max(largest, gap)
        size = 0
        data = False
    return largest


def _cuts(body: bytes, pieces: int) -> list[list[bytes]]:
    out = []
    for cuts in combinations(range(1, len(body)), pieces - 1):
        edges = [0, *cuts, len(body)]
        out.append([body[a:b] for a, b in pairwise(edges)])
    return out


def assert_matches_reference(body: bytes, *, pieces: int = 2) -> None:
    """Whole, every cut into up to ``pieces`` chunks, and byte by byte: all equal the
    reference algorithm, and a cap of exactly the largest event's size (or of the most bytes
    between two events, if more) never trips, while one byte less always does."""
    expected = reference(body)
    limit = max(largest_event(body), largest_quiet(body))
    splits = [[body], [body[i : i + 1] for i in range(len(body))]]
    for n in range(2, pieces + 1):
        splits += _cuts(body, n)
    for chunks in splits:
        assert _feed(chunks) == expected, chunks
        if limit:
            assert decode(*chunks, max_event_size=limit) == expected[0], chunks
    if limit:
        with pytest.raises(StreamProtocolError):
            decode(body, max_event_size=limit - 1)


CR_BODIES = [
    # A CR early in the chunk, then two LF-LF blank lines: the *last* one ends the region.
    b"\rdata: a\n\ndata: b\n\n",
    b"data: a\r\rdata: b\r\rdata: c\r\r",
    b"data: a\r\n\r\ndata: b\r\n\r\n",
    b"data: a\r\rdata: b\n\n",
    b"data: a\n\ndata: b\r\n\n",
    # The tail after the last blank line holds a CR: the next chunk must not take the LF path.
    b"data: a\n\ndata: b\r\n\ndata: c\n\n",
    b"event: e\rdata: a\r\rdata: b\n\n",
    b":c\r\n\r\ndata: a\r\r\n\ndata: b\n\r\n",
    b"id: 1\r\rdata: x\r\r",
    b"retry: 5\r\n\r\ndata: y\n\n",
    # Separators that str.splitlines() knows but SSE does not, mixed with CR and CRLF.
    b"data: \x0b\r\ndata: c\r\n\r\n",
    b"data: \x0b\rdata: c\r\r",
    "data: \x85\r\ndata: \u2028\r\n\r\n".encode(),
    # An unknown field whose name starts with letters a leading-blank-line strip must keep.
    b"Xdata: 1\n\ndata: 2\n\n",
    b"\r\n\rdata: a\r",
    b"data: a\r\r\r\ndata: b\r\n\n",
]


@pytest.mark.parametrize("body", CR_BODIES)
def test_cr_fast_paths_agree_with_the_reference(body: bytes) -> None:
    """Bodies that exercise each CR fast path give the reference events, however cut."""
    assert_matches_reference(body, pieces=3)


_TOKENS = [b"data: a", b"event: e", b"\r", b"\n", b"\r\n", b"data:\x0b"]


def test_every_short_token_sequence_agrees_with_the_reference() -> None:
    """All sequences of up to three tokens, twice over, decode as the reference does."""
    for size in range(1, 4):
        for tokens in product(_TOKENS, repeat=size):
            body = b"".join(tokens)
            assert_matches_reference(body + body)


@pytest.mark.parametrize("blank", [b"\n\n", b"\r\r"])
def test_size_cap_is_per_event_within_one_chunk(blank: bytes) -> None:
    """Many small events arriving in one chunk never add up against the per-event cap."""
    body = blank.join(b"data: %03d" % i for i in range(50)) + blank
    events = decode(body, max_event_size=12)
    assert [event.data for event in events] == [f"{i:03d}" for i in range(50)]
    with pytest.raises(StreamProtocolError):
        decode(body, max_event_size=9)  # one event ("data: 000" + its line end) is 10 bytes


def test_retry_without_space_applies_at_close() -> None:
    """``retry:250`` (no space) in an unterminated event still sets the reconnection time."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\nretry:250\n") == []
    assert decoder.close() == []
    assert decoder.retry == 250


def test_overlong_retry_at_close_is_ignored() -> None:
    """A retry too long to parse as an int, in an unterminated event, is ignored at close."""
    decoder = SSEDecoder()
    decoder.feed(b"retry: 7\n\nretry: " + b"9" * 5000 + b"\n")
    assert decoder.close() == []
    assert decoder.retry == 7


def test_feed_after_close_says_what_went_wrong() -> None:
    """Feeding a closed decoder is a programming error whose message names the cause."""
    decoder = SSEDecoder()
    decoder.close()
    with pytest.raises(RuntimeError, match=r"feed\(\) called after close\(\)"):
        decoder.feed(b"data: x\n\n")


def test_swallowed_lf_is_only_one() -> None:
    """After a CR blank line on a chunk edge, only the very next LF is swallowed."""
    chunks = [b"data: a\r\r", b"data: b\n\ndata: c\n", b"\n"]
    assert _feed(chunks)[0] == [_ev("a"), _ev("b"), _ev("c")]


def test_feed_region_hands_out_the_bytes_of_the_events_it_completed() -> None:
    """``feed_region`` returns the events and the raw bytes they were parsed from (one JSON
    bounds scan of those bytes stands for a scan per event), and ``b""`` whenever a chunk
    completes no event: a partial BOM held back, the BOM alone, the LF of a CRLF split across
    chunks, an event still going on."""
    decoder = SSEDecoder()
    assert decoder.feed_region(b"\xef\xbb") == ([], b"")  # maybe a BOM: held
    assert decoder.feed_region(b"\xbf") == ([], b"")  # the BOM, stripped: nothing left
    assert decoder.feed_region(b"\r") == ([], b"")  # a blank line ending on a CR ...
    assert decoder.feed_region(b"\n") == ([], b"")  # ... and its LF, swallowed
    assert decoder.feed_region(b"data: 1") == ([], b"")  # the event goes on
    events, region = decoder.feed_region(b"2\n\ndata: 3")
    assert [e.data for e in events] == ["12"]
    assert bytes(region) == b"data: 12\n"


def test_only_line_ends_are_dropped_before_an_event_split_across_chunks() -> None:
    """Blank lines before an event are dropped as it starts, but a space or a tab that
    starts its first line belongs to the field name (" data" is not "data"), also when the
    event's first chunk holds no blank line yet."""
    for lead in (b" ", b"\t", b"\x0b", b"\x0c"):
        decoder = SSEDecoder()
        events = decoder.feed(b"\r\n" + lead + b"data: x")
        events += decoder.feed(b"\n\ndata: y\n\n")
        assert [e.data for e in events] == ["y"], lead
