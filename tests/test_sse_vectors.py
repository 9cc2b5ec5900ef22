"""WPT ``eventsource/format-*`` conformance vectors, run against the sans-I/O decoder.

Each vector is the exact body the WPT resource script writes (``message.py`` echoes
``message + newline + "\\n"``, with ``newline`` ``"\\n\\n"`` unless the test passes
``newline=none``), with the events a conforming EventSource dispatches from it. Every vector is
fed three ways, as h11's ``tr()`` helper does: whole, one byte at a time, and split in two.
"""

from __future__ import annotations

import pytest

from moveworks_async._sse import ServerSentEvent, SSEDecoder


def _wpt(message: bytes, newline: bytes = b"\n\n") -> bytes:
    """The body WPT's ``resources/message.py`` writes for ``?message=...``."""
    return message + newline + b"\n"


def _ev(
    data: str, event: str = "message", id: str | None = None, retry: int | None = None
) -> ServerSentEvent:
    return ServerSentEvent(event=event, data=data, id=id, retry=retry)


_LONG = b"x" * 2048

VECTORS = [
    pytest.param(
        _wpt(b"\xef\xbb\xbfdata:1\n\n\xef\xbb\xbfdata:2\n\ndata:3"),
        # Only the stream's first BOM is dropped; the second is part of a field name "\ufeffdata".
        [_ev("1"), _ev("3")],
        id="format-bom",
    ),
    pytest.param(
        _wpt(b"\xef\xbb\xbf\xef\xbb\xbfdata:1\n\ndata:2\n\ndata:3"),
        [_ev("2"), _ev("3")],
        id="format-bom-2",
    ),
    pytest.param(
        _wpt(
            b"data:1\r:\x00\n:\r\ndata:2\n:"
            + _LONG
            + b"\rdata:3\n:data:fail\r:"
            + _LONG
            + b"\ndata:4\n",
            newline=b"",
        ),
        [_ev("1\n2\n3\n4")],
        id="format-comments",
    ),
    pytest.param(
        _wpt(b"retry:1000\ndata:test1\n\nid:test\ndata:test2", newline=b""),
        # The second event never gets its blank line, so it and its id are dropped at EOF.
        [_ev("test1", retry=1000)],
        id="format-data-before-final-empty-line",
    ),
    pytest.param(
        _wpt(b"data:\n\ndata\ndata\n\ndata:test"),
        [_ev(""), _ev("\n"), _ev("test")],
        id="format-field-data",
    ),
    pytest.param(
        _wpt(b"event:test\ndata:x\n\ndata:x"),
        [_ev("x", event="test"), _ev("x")],
        id="format-field-event",
    ),
    pytest.param(
        _wpt(b"event: \ndata:data"),
        [_ev("data")],
        id="format-field-event-empty",
    ),
    pytest.param(
        # resources/last-event-id.py, first connection (no Last-Event-ID header).
        b"id: \xe2\x80\xa6\nretry: 200\ndata: hello\n\n",
        [_ev("hello", id="\u2026", retry=200)],
        id="format-field-id",
    ),
    pytest.param(
        # last-event-id.py?idvalue=%00%00: an id containing U+0000 is ignored (current spec).
        b"id: \x00\x00\nretry: 200\ndata: hello\n\n",
        [_ev("hello", retry=200)],
        id="format-field-id-null",
    ),
    pytest.param(
        _wpt(b"retry:02000\ndata:x"),  # leading zero: decimal 2000, not octal
        [_ev("x", retry=2000)],
        id="format-field-retry",
    ),
    pytest.param(
        _wpt(b"retry:2000\nretry:1000x\ndata:x"),
        [_ev("x", retry=2000)],
        id="format-field-retry-bogus",
    ),
    pytest.param(
        _wpt(b"data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test"),
        [_ev("test\n\ntest")],
        id="format-field-unknown",
    ),
    pytest.param(
        _wpt(b"data:\ttest\rdata: \ndata:test"),  # only one U+0020 is stripped, never a tab
        [_ev("\ttest\n\ntest")],
        id="format-leading-space",
    ),
    pytest.param(
        _wpt(b"data:test\r\ndata\ndata:test\r\n\r", newline=b""),
        [_ev("test\n\ntest")],
        id="format-newlines",
    ),
    pytest.param(
        _wpt(b"data:\x00\n\n"),
        [_ev("\x00")],
        id="format-null-character",
    ),
    pytest.param(
        # Served with charset=windows-1252, which EventSource ignores: always UTF-8.
        _wpt(b"data:ok\xe2\x80\xa6"),
        [_ev("ok\u2026")],
        id="format-utf-8",
    ),
]


def _decode(chunks: list[bytes]) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.close()


@pytest.mark.parametrize(("body", "expected"), VECTORS)
def test_vector_whole(body: bytes, expected: list[ServerSentEvent]) -> None:
    """The body fed in one chunk gives exactly the WPT events."""
    assert _decode([body]) == expected


@pytest.mark.parametrize(("body", "expected"), VECTORS)
def test_vector_byte_by_byte(body: bytes, expected: list[ServerSentEvent]) -> None:
    """The body fed one byte at a time gives exactly the WPT events."""
    assert _decode([body[i : i + 1] for i in range(len(body))]) == expected


@pytest.mark.parametrize(("body", "expected"), VECTORS)
def test_vector_every_two_way_split(body: bytes, expected: list[ServerSentEvent]) -> None:
    """The body cut in two at every position gives exactly the WPT events."""
    for cut in range(len(body) + 1):
        assert _decode([body[:cut], body[cut:]]) == expected, cut
