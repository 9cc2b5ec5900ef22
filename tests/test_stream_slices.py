"""A big read is decoded in slices (``_streaming._FEED_BYTES``): the same events, in order,
and nothing of the read is kept once the stream stops reading it."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import pytest
from _stream_support import event, message_item, reasoning_item, response_json

import moveworks_async as mw
from moveworks_async import _streaming
from moveworks_async._stream_machine import StreamMachine

SLICE = _streaming._FEED_BYTES
pytestmark = pytest.mark.asyncio


class _Reply:
    """An open stream serving fixed chunks, each as one read (as a fast server's would be)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = list(chunks)
        self.status = 200
        self.headers: Mapping[str, str] = {"Content-Type": "text/event-stream"}
        self.reads = 0

    async def read(self, limit: int = 0) -> bytes:
        return b""

    async def read_chunk(self) -> bytes:
        self.reads += 1
        return self._chunks.pop(0) if self._chunks else b""

    @property
    def ended(self) -> bool:
        return not self._chunks

    async def wait_eof(self) -> None:
        return None

    def close(self) -> None:
        return None


class _Opener:
    def __init__(self, reply: _Reply) -> None:
        self.reply = reply

    async def __aenter__(self) -> _Reply:
        return self.reply

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def close(self) -> None:
        return None


class _Transport:
    owner = "AsyncMoveworks"
    is_closed = False
    has_open_owned_session = False

    def __init__(self, chunks: list[bytes]) -> None:
        self.reply = _Reply(chunks)

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no plain request expected")

    def stream(self, *args: Any, **kwargs: Any) -> _Opener:
        return _Opener(self.reply)

    async def aclose(self) -> None:
        return None


def _frames(deltas: int) -> list[bytes]:
    text = "x" * 1500
    out = [event("RESPONSE_CREATED", 1, response=response_json("CREATED"))]
    for i in range(deltas):
        out.append(event("RESPONSE_OUTPUT_DELTA", i + 2, output=message_item(f"{i} {text}")))
    final = [reasoning_item("r"), message_item(f"{deltas - 1} {text}")]
    out.append(event("RESPONSE_COMPLETED", deltas + 2, response=response_json("COMPLETED", final)))
    return out


def _client(transport: _Transport) -> mw.AsyncMoveworks:
    return mw.AsyncMoveworks(
        assistant_name="acme", token="t", base_url="http://stub.invalid", transport=transport
    )


@pytest.fixture
def fed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every piece the stream hands to its machine."""
    sizes: list[int] = []
    feed = StreamMachine.feed

    def recording(self: StreamMachine, chunk: bytes) -> Any:
        sizes.append(len(chunk))
        return feed(self, chunk)

    monkeypatch.setattr(StreamMachine, "feed", recording)
    return sizes


async def test_a_big_read_is_fed_in_slices_with_the_same_events(fed: list[int]) -> None:
    frames = _frames(200)
    body = b"".join(frames)
    assert len(body) > 4 * SLICE
    transport = _Transport([body])
    async with (
        _client(transport) as client,
        client.responses.stream("conv_1", text="q") as stream,
    ):
        got = [e async for e in stream]
    assert len(got) == len(frames)
    assert [e.sequence_number for e in got] == list(range(1, len(frames) + 1))
    assert isinstance(got[-1], mw.ResponseCompleted)
    assert fed[0] == SLICE  # every piece but the last is one slice
    assert max(fed) == SLICE
    assert sum(fed) == len(body)
    assert transport.reply.reads == 1  # the slices came from the one read


async def test_a_small_read_is_fed_whole(fed: list[int]) -> None:
    frames = _frames(3)
    body = b"".join(frames)
    assert len(body) < SLICE
    async with (
        _client(_Transport([body])) as client,
        client.responses.stream("conv_1", text="q") as stream,
    ):
        got = [e async for e in stream]
    assert len(got) == len(frames)
    assert fed == [len(body)]


async def test_the_rest_of_a_read_is_dropped_when_the_stream_stops(fed: list[int]) -> None:
    """Closed after the first slice's events: the unread rest is not kept alive."""
    body = b"".join(_frames(200))
    async with (
        _client(_Transport([body])) as client,
        client.responses.stream("conv_1", text="q") as stream,
    ):
        async for _event in stream:
            if stream._rest:  # the first slice is being handed out
                break
        assert stream._rest  # the stream still holds the read's rest ...
        await stream.aclose()
        assert stream._rest == b""  # ... until it is closed
    assert fed == [SLICE]
