"""Compressed replies (fault catalogue row 25): gzip and deflate on plain JSON bodies and on the
SSE stream, decoded incrementally by the client, and a corrupt compressed stream.

The fake server compresses only under ``Fault.compress``; every test checks
``stats.compressed_replies`` so that it cannot pass against an uncompressed reply.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest
import pytest_asyncio
from _stream_support import acquired, collect, collect_into, make_client, settle

import moveworks_async as mw
from moveworks_async.testing import Answer, FakeMoveworks, Fault

pytestmark = [pytest.mark.asyncio, pytest.mark.virtual_time]

ANSWER = "To request a new laptop, open the hardware portal and choose the standard model."
REASONING = ("Searching the hardware catalogue", "Reading the laptop policy")
STREAM = "/responses/stream"
ENCODINGS = ["gzip", "deflate"]
WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
#: CREATED, IN_PROGRESS, two reasoning deltas, three snapshots, COMPLETED.
EVENTS = 8


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeMoveworks]:
    """A fake server with a scripted answer and instant streams."""
    answer = {"hi": Answer(ANSWER, reasoning=REASONING, snapshots=3)}
    async with FakeMoveworks(stream_delay=0.0, polls_to_complete=2, answer=answer) as s:
        yield s


@pytest_asyncio.fixture
async def client(server: FakeMoveworks, fake_time: Any) -> AsyncIterator[mw.AsyncMoveworks]:
    """A v1beta1 client of ``server`` whose client-side sleeps (polls) are instant."""
    async with make_client(server.url, "v1beta1", fake_time) as c:
        yield c


def _text(event: Any) -> str:
    if isinstance(event, mw.ResponseOutputDelta):
        output = event.output
        if isinstance(output, mw.MessageOutput):
            return output.message.text
        assert isinstance(output, mw.ReasoningOutput)
        return output.reasoning_message.text
    return str(event.response.text)


def _summary(events: list[Any]) -> list[tuple[type, int | None, str]]:
    """What must not change with compression: event types, sequence numbers and texts."""
    return [(type(e), e.sequence_number, _text(e)) for e in events]


async def _no_leak(server: FakeMoveworks, client: mw.AsyncMoveworks) -> None:
    """Every stream the server opened is closed, and the client holds no connection."""
    assert await settle(lambda: server.stats.stream_closed == server.stats.stream_opened)
    assert await settle(lambda: acquired(client) == 0)


async def _completed(client: mw.AsyncMoveworks) -> tuple[str, str]:
    """A conversation and a COMPLETED response in it (fetched uncompressed)."""
    cid = (await client.conversations.create(title="Laptops")).conversation_id
    rid = (await client.responses.create(cid, text="hi")).response_id
    final = await client.responses.wait(cid, rid)
    assert final.status == mw.ResponseStatus.COMPLETED
    return cid, rid


async def _plain_stream(client: mw.AsyncMoveworks, cid: str) -> list[Any]:
    async with client.responses.stream(cid, text="hi") as stream:
        return await collect(stream)


# --- the fault itself ------------------------------------------------------------------------


async def test_compress_fault_validates_its_arguments() -> None:
    """Only gzip and deflate; ``corrupt_after`` is None or a count of events."""
    assert Fault.compress() == Fault.compress("gzip", None)
    assert Fault.compress("deflate", corrupt_after=0).corrupt_after == 0
    for bad in ("br", "identity", "GZIP", ""):
        with pytest.raises(ValueError, match="encoding"):
            Fault.compress(bad)
    with pytest.raises(ValueError, match="corrupt_after"):
        Fault.compress(corrupt_after=-1)


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_wire_bytes_are_compressed(
    server: FakeMoveworks, client: mw.AsyncMoveworks, encoding: str
) -> None:
    """On the wire: the header, the exact compressed Content-Length, and a complete stream
    flushed after every event (each HTTP chunk decodes to whole SSE frames)."""
    cid, rid = await _completed(client)
    headers = {
        "Authorization": "Bearer test-token",
        "Assistant-Name": "acme-capi",
        "Accept": "text/event-stream",
    }
    base = f"{server.url}/rest/v1beta1/conversations/{cid}"
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.get(f"{base}/responses/{rid}", headers=headers) as r:
            plain = await r.read()
        server.inject(Fault.compress(encoding), times=1)
        async with http.get(f"{base}/responses/{rid}", headers=headers) as r:
            assert r.headers["Content-Encoding"] == encoding
            packed = await r.read()
            assert int(r.headers["Content-Length"]) == len(packed) < len(plain)
        assert zlib.decompress(packed, WBITS[encoding]) == plain

        server.inject(Fault.compress(encoding), path_contains=STREAM, times=1)
        body = {"input": {"text": "hi"}}
        async with http.post(f"{base}{STREAM}", headers=headers, json=body) as r:
            assert r.headers["Content-Encoding"] == encoding
            inflate = zlib.decompressobj(WBITS[encoding])
            frames = []
            async for data, end_of_chunk in r.content.iter_chunks():
                text = inflate.decompress(data)
                if end_of_chunk and text:
                    frames.append(text)
                    assert text.endswith(b"\n\n")  # decodable at once: nothing held back
            assert inflate.eof  # the compressor was finished
            assert not inflate.unused_data
    assert len(frames) == EVENTS
    assert all(f.startswith(b"event: RESPONSE_") for f in frames)
    assert server.stats.compressed_replies == 2


# --- plain JSON replies ----------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_plain_replies_decode_to_the_same_models(
    server: FakeMoveworks, client: mw.AsyncMoveworks, encoding: str
) -> None:
    """``responses.get`` and ``conversations.get`` return the same models either way."""
    cid, rid = await _completed(client)
    response = await client.responses.get(cid, rid)
    conversation = await client.conversations.get(cid)
    server.inject(Fault.compress(encoding), times=1)
    assert await client.responses.get(cid, rid) == response
    server.inject(Fault.compress(encoding), times=1)
    assert await client.conversations.get(cid) == conversation
    assert response.text == ANSWER
    assert conversation.title == "Laptops"
    assert server.stats.compressed_replies == 2
    assert acquired(client) == 0


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_compressed_error_reply_is_typed(
    server: FakeMoveworks, client: mw.AsyncMoveworks, encoding: str
) -> None:
    """A compressed 404 still becomes NotFoundError with the server's code."""
    cid, _ = await _completed(client)
    server.inject(Fault.compress(encoding), times=1)
    with pytest.raises(mw.NotFoundError) as info:
        await client.responses.get(cid, "resp_missing")
    assert info.value.code == "NOT_FOUND"
    assert server.stats.compressed_replies == 1
    assert acquired(client) == 0


# --- SSE ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("trickle", [False, True], ids=["whole", "trickle-7-bytes"])
async def test_compressed_stream_gives_the_same_events(
    server: FakeMoveworks, client: mw.AsyncMoveworks, encoding: str, trickle: bool
) -> None:
    """The same typed events as the uncompressed stream of the same question; also when
    the compressed bytes arrive a few at a time (decoder state carried across reads)."""
    cid = (await client.conversations.create()).conversation_id
    expected = await _plain_stream(client, cid)
    assert server.stats.compressed_replies == 0
    server.inject(Fault.compress(encoding), path_contains=STREAM, times=1)
    if trickle:
        server.inject(Fault.trickle(bytes_per_write=7), path_contains=STREAM, times=1)
    async with client.responses.stream(cid, text="hi") as stream:
        events = await collect(stream)
        final = await stream.final_response()
    assert server.stats.compressed_replies == 1
    assert len(events) == EVENTS
    assert _summary(events) == _summary(expected)
    assert not events[-1].recovered
    assert final.text == ANSWER
    assert server.stats.creates == 2  # one per stream: nothing re-sent
    await _no_leak(server, client)


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_compressed_events_are_not_held_back(
    server: FakeMoveworks, client: mw.AsyncMoveworks, encoding: str
) -> None:
    """With 0.1 s between events, each compressed event is delivered as it is sent (the
    server's pacing is real time: what is measured is when bytes arrive)."""
    delay = 0.1
    server.stream_delay = delay
    cid = (await client.conversations.create()).conversation_id
    server.inject(Fault.compress(encoding), path_contains=STREAM, times=1)
    arrivals: list[float] = []
    async with client.responses.stream(cid, text="hi") as stream:
        start = anyio.current_time()
        async for _ in stream:
            arrivals.append(anyio.current_time() - start)
    assert server.stats.compressed_replies == 1
    assert len(arrivals) == EVENTS
    total = arrivals[-1]
    assert total >= delay * (EVENTS - 1) * 0.9
    assert arrivals[0] < delay / 2  # the first event long before the stream ends
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) > delay / 2  # one at a time, never bunched up
    await _no_leak(server, client)


# --- corrupt compressed stream ---------------------------------------------------------------


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_corrupt_stream_without_recovery_raises_stream_interrupted(
    server: FakeMoveworks, client: mw.AsyncMoveworks, encoding: str
) -> None:
    """``recover=False``: the events before the corruption, then StreamInterruptedError (the
    aiohttp ContentEncodingError surfaces as a broken connection)."""
    server.stream_delay = 0.05  # the garbage arrives in a read of its own
    cid = (await client.conversations.create()).conversation_id
    server.inject(Fault.compress(encoding, corrupt_after=3), path_contains=STREAM, times=1)
    events: list[Any] = []
    async with client.responses.stream(cid, text="hi", recover=False) as stream:
        with pytest.raises(mw.APIConnectionError) as info:
            await collect_into(stream, events)
    assert type(info.value) is mw.StreamInterruptedError
    assert info.value.response_id == stream.response_id is not None
    assert info.value.outcome_unknown is False
    assert [type(e) for e in events] == [
        mw.ResponseCreated,
        mw.ResponseInProgress,
        mw.ResponseOutputDelta,
    ]
    assert server.stats.compressed_replies == 1
    assert server.stats.creates == 1
    await _no_leak(server, client)


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_corrupt_stream_recovers_by_polling(
    server: FakeMoveworks, client: mw.AsyncMoveworks, encoding: str
) -> None:
    """Default ``recover=True``: a recovered terminal event with the complete response; the
    create is sent once."""
    server.stream_delay = 0.05
    cid = (await client.conversations.create()).conversation_id
    server.inject(Fault.compress(encoding, corrupt_after=3), path_contains=STREAM, times=1)
    async with client.responses.stream(cid, text="hi") as stream:
        events = await collect(stream)
        final = await stream.final_response()
    assert [type(e) for e in events] == [
        mw.ResponseCreated,
        mw.ResponseInProgress,
        mw.ResponseOutputDelta,
        mw.ResponseCompleted,
    ]
    assert events[-1].recovered is True
    assert final.status == mw.ResponseStatus.COMPLETED
    assert final.text == ANSWER
    assert [m.text for m in final.messages] == [ANSWER]
    assert server.stats.compressed_replies == 1
    assert server.stats.creates == 1
    await _no_leak(server, client)


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_corrupt_stream_arriving_with_the_events_still_recovers(
    server: FakeMoveworks, client: mw.AsyncMoveworks, encoding: str
) -> None:
    """Events and garbage in one read (no stream delay): the events received before the
    corruption are delivered, and the stream recovers."""
    cid = (await client.conversations.create()).conversation_id
    server.inject(Fault.compress(encoding, corrupt_after=3), path_contains=STREAM, times=1)
    events: list[Any] = []
    try:
        async with client.responses.stream(cid, text="hi") as stream:
            await collect_into(stream, events)
            final = await stream.final_response()
    finally:
        assert server.stats.compressed_replies == 1
        assert server.stats.creates == 1
        await _no_leak(server, client)
    assert [type(e) for e in events][:3] == [
        mw.ResponseCreated,
        mw.ResponseInProgress,
        mw.ResponseOutputDelta,
    ]
    assert final.text == ANSWER


# --- the client's side of stream decoding ------------------------------------------------------


async def _raw_stream_server(
    status: int, body: bytes, headers: dict[str, str]
) -> tuple[Any, list[str]]:
    """A loopback server whose stream endpoint answers ``status``/``body``/``headers`` as is,
    recording the Accept-Encoding each request offered."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    offered: list[str] = []

    async def stream(request: web.Request) -> web.Response:
        offered.append(request.headers.get("Accept-Encoding", ""))
        return web.Response(status=status, body=body, headers=headers)

    app = web.Application()
    app.router.add_post("/rest/v1beta1/conversations/{cid}/responses/stream", stream)
    test_server = TestServer(app)
    await test_server.start_server()
    return test_server, offered


async def test_stream_offers_only_the_codings_it_decodes() -> None:
    """A stream asks for gzip or deflate only, and refuses another coding with a typed error
    before any SSE parsing (no decoder runs on bytes it cannot read)."""
    test_server, offered = await _raw_stream_server(
        200, b"\x8b\x0b\x80garbage", {"Content-Type": "text/event-stream", "Content-Encoding": "br"}
    )
    try:
        async with make_client(str(test_server.make_url("")).rstrip("/"), max_retries=0) as c:
            with pytest.raises(mw.UnexpectedResponseError) as info:
                async with c.responses.stream("conv_1", text="q"):
                    pass
            assert "Content-Encoding" in str(info.value)
            assert acquired(c) == 0
    finally:
        await test_server.close()
    assert offered == ["gzip, deflate"]


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_compressed_error_reply_to_a_stream_is_typed(encoding: str) -> None:
    """A compressed JSON error answering the stream request is decoded into its typed error."""
    error = b'{"error": {"code": "NOT_FOUND", "message": "no such conversation"}}'
    packer = zlib.compressobj(wbits=WBITS[encoding])
    body = packer.compress(error) + packer.flush()
    test_server, _ = await _raw_stream_server(
        404, body, {"Content-Type": "application/json", "Content-Encoding": encoding}
    )
    try:
        async with make_client(str(test_server.make_url("")).rstrip("/"), max_retries=0) as c:
            with pytest.raises(mw.NotFoundError) as info:
                async with c.responses.stream("conv_1", text="q"):
                    pass
    finally:
        await test_server.close()
    assert info.value.code == "NOT_FOUND"
    assert info.value.message == "no such conversation"


async def test_raw_deflate_stream_is_decoded() -> None:
    """Some servers send a raw deflate stream (no zlib header) as ``deflate``: decoded too."""
    frames = (
        b'event: RESPONSE_CREATED\ndata: {"event_type": "RESPONSE_CREATED", "sequence_number": 1, '
        b'"response": {"response_id": "resp_1", "conversation_id": "conv_1", "status": "CREATED", '
        b'"created_at": "2026-01-01T00:00:00Z"}}\n\n'
    )
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = packer.compress(frames) + packer.flush()
    test_server, _ = await _raw_stream_server(
        200, body, {"Content-Type": "text/event-stream", "Content-Encoding": "deflate"}
    )
    try:
        url = str(test_server.make_url("")).rstrip("/")
        async with (
            make_client(url, max_retries=0) as c,
            c.responses.stream("conv_1", text="q", recover=False) as stream,
        ):
            first = await anext(aiter(stream))
            assert isinstance(first, mw.ResponseCreated)
            assert first.response.response_id == "resp_1"
    finally:
        await test_server.close()


async def test_gzip_bomb_stream_stops_at_the_event_size_cap() -> None:
    """256 MiB of zeros in ~256 KB of gzip: decoded in bounded steps and refused at the
    event size cap with a typed error, never inflated whole."""
    packer = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    body = b"".join(packer.compress(zeros) for _ in range(256)) + packer.flush()
    test_server, _ = await _raw_stream_server(
        200, body, {"Content-Type": "text/event-stream", "Content-Encoding": "gzip"}
    )
    try:
        async with make_client(str(test_server.make_url("")).rstrip("/"), max_retries=0) as c:
            with pytest.raises(mw.StreamProtocolError):
                async with c.responses.stream(
                    "conv_1", text="q", recover=False, max_event_size=1024 * 1024
                ) as stream:
                    await collect(stream)
            assert acquired(c) == 0
    finally:
        await test_server.close()
