"""The transport's pure helpers (found by ``nox -s mutants``): which package error each wire
failure becomes, which content codings a stream accepts, and the bounded, salvaging inflater.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import zlib
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from _core_support import loop_turns

import moveworks_async as mw
import moveworks_async._transport as transport_module
from moveworks_async._transport import (
    _INFLATE_STEP,
    LARGE_BODY,
    MAX_ERROR_BODY,
    AiohttpTransport,
    DecodedStream,
    Timeout,
    _Inflater,
    _inflater,
    _mapped,
)


@pytest.mark.parametrize("ambiguous", [True, False])
def test_wire_failures_map_to_typed_errors(ambiguous: bool) -> None:
    """Phase, outcome and message of each kind of failure; only connect-phase ones are known
    not to have reached the server."""
    connect = _mapped(aiohttp.ConnectionTimeoutError(), ambiguous=ambiguous)
    assert isinstance(connect, mw.APITimeoutError)
    assert (connect.phase, connect.outcome_unknown) == ("connect", False)
    assert str(connect) == "connect timeout (ConnectionTimeoutError)"

    read = _mapped(aiohttp.SocketTimeoutError(), ambiguous=ambiguous)
    assert isinstance(read, mw.APITimeoutError)
    assert (read.phase, read.outcome_unknown) == ("read", ambiguous)
    assert str(read) == "read timeout (SocketTimeoutError)"

    total = _mapped(TimeoutError(), ambiguous=ambiguous)
    assert isinstance(total, mw.APITimeoutError)
    assert (total.phase, total.outcome_unknown) == ("total", ambiguous)
    assert str(total) == "total timeout"

    reset = _mapped(aiohttp.ClientOSError(104, "Connection reset by peer"), ambiguous=ambiguous)
    assert type(reset) is mw.APIConnectionError
    assert reset.outcome_unknown is ambiguous
    assert str(reset) == "ClientOSError: [Errno 104] Connection reset by peer"

    silent = _mapped(aiohttp.ClientPayloadError(), ambiguous=ambiguous)
    assert str(silent) == "ClientPayloadError: ClientPayloadError"  # no text: the name twice


@pytest.mark.parametrize("value", ["gzip", "x-gzip", " GZIP ", "X-Gzip"])
def test_gzip_codings_are_decoded(value: str) -> None:
    """``gzip`` and its old alias ``x-gzip``, in any case and padding, decode as gzip."""
    inflater = _inflater({"Content-Encoding": value}, 200)
    assert inflater is not None
    assert inflater.inflate(gzip.compress(b"data: x\n\n")) == (b"data: x\n\n", None)


@pytest.mark.parametrize(
    "headers", [{}, {"Content-Encoding": ""}, {"Content-Encoding": "Identity"}]
)
def test_identity_needs_no_inflater(headers: dict[str, str]) -> None:
    """No coding, an empty one or ``identity`` leaves the body as it is."""
    assert _inflater(headers, 200) is None


def test_unsupported_coding_names_it_and_keeps_the_status() -> None:
    """An unknown coding is an UnexpectedResponseError with the status and a bounded name."""
    with pytest.raises(mw.UnexpectedResponseError) as caught:
        _inflater({"Content-Encoding": "br"}, 206)
    assert caught.value.status_code == 206
    assert str(caught.value) == "unsupported Content-Encoding 'br' (offered: gzip, deflate)"
    with pytest.raises(mw.UnexpectedResponseError) as long:
        _inflater({"Content-Encoding": "x" * 100}, 200)
    assert f"'{'x' * 40}'" in str(long.value)
    assert "x" * 41 not in str(long.value)


def test_a_bomb_is_inflated_in_bounded_steps() -> None:
    """A small input that inflates to 8 MiB comes out at most one step at a time."""
    bomb = gzip.compress(b"\0" * (8 * 1024 * 1024))
    inflater = _inflater({"Content-Encoding": "gzip"}, 200)
    assert inflater is not None
    out, error = inflater.inflate(bomb)
    assert error is None
    assert len(out) == _INFLATE_STEP
    assert inflater.pending
    total = len(out)
    while inflater.pending:
        out, error = inflater.inflate(b"")
        assert len(out) <= _INFLATE_STEP
        total += len(out)
    assert total == 8 * 1024 * 1024


def test_corruption_is_reported_after_the_bytes_before_it() -> None:
    """Bytes decoded before a corrupt spot come back with the error, not instead of it."""
    z = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    good = z.compress(b"data: kept\n\n") + z.flush(zlib.Z_SYNC_FLUSH)
    inflater = _inflater({"Content-Encoding": "gzip"}, 200)
    assert inflater is not None
    out, error = inflater.inflate(good + b"\xff" * 16)
    assert out == b"data: kept\n\n"
    assert isinstance(error, zlib.error)


# --- large bodies over a real socket ----------------------------------------------------------


async def _serve(handler: Any) -> Any:
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_route("*", "/x", handler)
    server = TestServer(app)
    await server.start_server()
    return server


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [64 * 1024 + 1, 300_000, 2 * 1024 * 1024 + 7])
async def test_a_large_reply_with_a_known_length_arrives_whole(size: int) -> None:
    """A reply over 64 KiB with a Content-Length is read into one buffer of that size:
    every byte arrives, in order."""
    from aiohttp import web

    payload = bytes(i % 251 for i in range(size))

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=payload, content_type="application/octet-stream")

    server = await _serve(handler)
    transport = AiohttpTransport()
    try:
        reply = await transport.request(
            "GET", str(server.make_url("/x")), {}, None, None, Timeout()
        )
    finally:
        await transport.aclose()
        await server.close()
    assert reply.status == 200
    assert bytes(reply.body) == payload


@pytest.mark.asyncio
@pytest.mark.parametrize("size", [LARGE_BODY + 1, 3 * LARGE_BODY + 12345])
async def test_a_large_request_body_is_sent_whole(size: int) -> None:
    """A request body over 1 MiB is written in slices: the server receives every byte, in
    order, with the right Content-Length and Content-Type."""
    from aiohttp import web

    data = bytes(i % 253 for i in range(size))
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        seen["length"] = request.content_length
        seen["type"] = request.content_type
        seen["body"] = await request.read()
        return web.Response(text="{}", content_type="application/json")

    server = await _serve(handler)
    transport = AiohttpTransport()
    try:
        reply = await transport.request(
            "POST", str(server.make_url("/x")), {}, data, None, Timeout()
        )
    finally:
        await transport.aclose()
        await server.close()
    assert reply.status == 200
    assert seen["length"] == size
    assert seen["type"] == "application/json"
    assert seen["body"] == data


async def _get(handler: Any) -> Any:
    """One GET through the aiohttp transport against ``handler``; the Reply."""
    server = await _serve(handler)
    transport = AiohttpTransport()
    try:
        return await transport.request("GET", str(server.make_url("/x")), {}, None, None, Timeout())
    finally:
        await transport.aclose()
        await server.close()


def _sized(payload: bytes) -> Any:
    from aiohttp import web

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=payload, content_type="application/octet-stream")

    return handler


def _chunked(payload: bytes, status: int = 200) -> Any:
    from aiohttp import web

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=status)
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(payload), 50_000):
            await response.write(payload[start : start + 50_000])
        await response.write_eof()
        return response

    return handler


@pytest.mark.asyncio
@pytest.mark.parametrize("framing", [_sized, _chunked])
async def test_the_body_cap_is_exact(monkeypatch: pytest.MonkeyPatch, framing: Any) -> None:
    """A reply body of exactly ``MAX_BODY`` bytes is read whole, with or without a
    Content-Length; one byte more is an UnexpectedResponseError carrying the status."""
    monkeypatch.setattr(transport_module, "MAX_BODY", 200_000)
    payload = bytes(i % 249 for i in range(200_000))
    assert bytes((await _get(framing(payload))).body) == payload
    with pytest.raises(mw.UnexpectedResponseError) as caught:
        await _get(framing(payload + b"!"))
    assert caught.value.status_code == 200
    assert "200000" in str(caught.value)


@pytest.mark.asyncio
@pytest.mark.parametrize("framing", [_sized, _chunked])
async def test_a_large_error_body_is_cut_at_the_error_cap(framing: Any) -> None:
    """A 400 reply's body is read for its message only: at most ``MAX_ERROR_BODY`` bytes."""
    from aiohttp import web

    payload = b"e" * (3 * MAX_ERROR_BODY)
    if framing is _sized:

        async def handler(request: web.Request) -> web.StreamResponse:
            return web.Response(status=400, body=payload)

    else:
        handler = _chunked(payload, status=400)
    reply = await _get(handler)
    assert reply.status == 400
    assert bytes(reply.body) == payload[:MAX_ERROR_BODY]


# --- opening a stream ----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_stream_context_is_entered_once() -> None:
    """A stream context opens one request: entering it again is a ClientStateError naming the
    rule, before anything is sent."""
    from aiohttp import web

    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.method)
        return web.Response(text="data: x\n\n", content_type="text/event-stream")

    server = await _serve(handler)
    transport = AiohttpTransport()
    try:
        context = transport.stream("POST", str(server.make_url("/x")), {}, b"{}", None)
        async with context as reply:
            assert await reply.read() == b"data: x\n\n"
        with pytest.raises(mw.ClientStateError) as caught:
            await context.__aenter__()
        assert str(caught.value) == "a stream context can be entered only once"
    finally:
        await transport.aclose()
        await server.close()
    assert hits == ["POST"]


@pytest.mark.asyncio
async def test_a_stream_offers_only_the_codings_it_decodes() -> None:
    """The stream request's Accept-Encoding is exactly the codings StreamReply can decode, even
    when the caller's headers name others (brotli would arrive undecodable)."""
    from aiohttp import web

    seen: list[list[str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.getall("Accept-Encoding", []))
        return web.Response(text="data: x\n\n", content_type="text/event-stream")

    server = await _serve(handler)
    transport = AiohttpTransport()
    try:
        for headers in ({}, {"Accept-Encoding": "br"}):
            url = str(server.make_url("/x"))
            async with transport.stream("POST", url, headers, b"{}", None) as reply:
                await reply.read()
    finally:
        await transport.aclose()
        await server.close()
    assert seen == [["gzip, deflate"], ["gzip, deflate"]]


@pytest.mark.asyncio
async def test_a_stream_never_follows_a_redirect() -> None:
    """A redirect answering the stream's POST is returned as is: following it would send the
    create a second time (to wherever the Location points)."""
    from aiohttp import web

    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        if request.path == "/x":
            return web.Response(status=307, headers={"Location": "/elsewhere"})
        return web.Response(text="data: x\n\n", content_type="text/event-stream")

    from aiohttp.test_utils import TestServer

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app)
    await server.start_server()
    transport = AiohttpTransport()
    try:
        async with transport.stream("POST", str(server.make_url("/x")), {}, b"{}", None) as reply:
            assert reply.status == 307
    finally:
        await transport.aclose()
        await server.close()
    assert hits == ["/x"]


@pytest.mark.asyncio
async def test_a_stream_is_bounded_only_by_its_connect_timeout() -> None:
    """On a borrowed session with short timeouts of its own, a stream still gets only its
    connect bound: a pause between events longer than the session's total and read timeouts
    does not cut it (the stream's own timers decide), and the connection is opened under the
    stream's connect timeout."""
    from aiohttp import web

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: 1\n\n")
        await asyncio.sleep(0.4)
        await response.write(b"data: 2\n\n")
        await response.write_eof()
        return response

    connects: list[aiohttp.ClientTimeout] = []

    class Recording(aiohttp.TCPConnector):
        async def connect(self, req: Any, traces: Any, timeout: aiohttp.ClientTimeout) -> Any:
            connects.append(timeout)
            return await super().connect(req, traces, timeout)

    server = await _serve(handler)
    session = aiohttp.ClientSession(
        connector=Recording(), timeout=aiohttp.ClientTimeout(total=0.2, sock_read=0.1)
    )
    transport = AiohttpTransport(session)
    try:
        async with transport.stream("POST", str(server.make_url("/x")), {}, b"{}", 7.5) as reply:
            assert await reply.read() == b"data: 1\n\ndata: 2\n\n"
    finally:
        await transport.aclose()
        await session.close()
        await server.close()
    assert [(t.total, t.sock_read, t.sock_connect) for t in connects] == [(None, None, 7.5)]


@pytest.mark.asyncio
async def test_a_stream_to_a_closed_port_is_a_connect_error() -> None:
    """Nothing listening: an APIConnectionError that says it could not connect and that the
    request was never sent (safe to retry)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = AiohttpTransport()
    try:
        with pytest.raises(mw.APIConnectionError) as caught:
            async with transport.stream("POST", f"http://127.0.0.1:{port}/x", {}, b"{}", None):
                pass
    finally:
        await transport.aclose()
    assert str(caught.value).startswith("cannot connect:")
    assert caught.value.outcome_unknown is False


# --- decoding a stream body (DecodedStream, no network) ---------------------------------------


class _Scripted(DecodedStream):
    """A DecodedStream whose raw chunks come from a list; an exception in it is raised."""

    __slots__ = ("_chunks",)

    def __init__(
        self, chunks: list[Any], headers: dict[str, str] | None = None, status: int = 200
    ) -> None:
        super().__init__(status, headers or {})
        self._chunks = chunks

    async def _recv(self) -> bytes:
        if not self._chunks:
            return b""
        item = self._chunks.pop(0)
        if isinstance(item, BaseException):
            raise item
        return bytes(item)


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9)


@pytest.mark.asyncio
async def test_an_error_body_read_stops_at_its_limit_across_chunks() -> None:
    """read(limit) gathers chunks up to exactly ``limit`` bytes, in order."""
    assert await _Scripted([b"abc", b"defgh", b"ij"]).read(6) == b"abcdef"
    assert await _Scripted([b"abc", b"de"]).read(100) == b"abcde"


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_a_compressed_error_body_is_inflated_to_exactly_its_limit() -> None:
    """A gzip bomb as an error body yields exactly ``limit`` decoded bytes, inflated in
    steps that only yield to the loop (no sleeping: loop time does not move)."""
    loop = asyncio.get_running_loop()
    bomb = _gzip(bytes(1024 * 1024))
    start = loop.time()
    out = await _Scripted([bomb], {"Content-Encoding": "gzip"}).read(3 * _INFLATE_STEP + 5)
    assert out == bytes(3 * _INFLATE_STEP + 5)
    assert loop.time() - start < 0.5


@pytest.mark.asyncio
async def test_an_error_body_keeps_what_came_before_a_failure() -> None:
    """Best effort: a connection error or corrupt coding ends the read with the bytes before
    it, never an error of its own."""
    cut = mw.APIConnectionError("reset", outcome_unknown=True)
    assert await _Scripted([b"partial ", cut]).read() == b"partial "
    z = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    good = z.compress(b"error: kept") + z.flush(zlib.Z_SYNC_FLUSH)
    corrupt = _Scripted([good + b"\xff" * 16, b"never read"], {"Content-Encoding": "gzip"})
    assert await corrupt.read() == b"error: kept"


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_a_compressed_stream_is_inflated_in_steps_to_its_end() -> None:
    """read_chunk() hands over a gzip bomb one bounded step at a time, every byte of it, then
    ``b""`` at the end, only yielding to the loop between steps (loop time does not move)."""
    loop = asyncio.get_running_loop()
    size = 5 * _INFLATE_STEP + 123
    stream = _Scripted([_gzip(bytes(size))], {"Content-Encoding": "gzip"})
    start = loop.time()
    steps = []
    while chunk := await stream.read_chunk():
        steps.append(len(chunk))
        assert len(steps) < 100
    assert sum(steps) == size
    assert max(steps) <= _INFLATE_STEP
    assert await stream.read_chunk() == b""
    assert loop.time() - start < 0.5


@pytest.mark.asyncio
async def test_a_corrupt_compressed_stream_fails_after_its_good_bytes() -> None:
    """The bytes before a corrupt spot are delivered first; the next read raises an
    APIConnectionError saying so, with the outcome unknown (the create was sent)."""
    z = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    good = z.compress(b"data: kept\n\n") + z.flush(zlib.Z_SYNC_FLUSH)
    stream = _Scripted([good + b"\xff" * 16], {"Content-Encoding": "gzip"})
    assert await stream.read_chunk() == b"data: kept\n\n"
    with pytest.raises(mw.APIConnectionError) as caught:
        await stream.read_chunk()
    assert str(caught.value) == "the compressed stream body is corrupt"
    assert caught.value.outcome_unknown is True


@pytest.mark.asyncio
async def test_an_unsupported_stream_coding_keeps_the_status() -> None:
    """A stream reply in a coding it cannot decode is an UnexpectedResponseError with the
    reply's status (a 503 in brotli is still a 503 to the retry policy)."""
    with pytest.raises(mw.UnexpectedResponseError) as caught:
        _Scripted([], {"Content-Encoding": "br"}, status=503)
    assert caught.value.status_code == 503


def test_a_tls_verification_failure_is_named_and_never_sent() -> None:
    """A certificate error is an APIConnectionError flagged ``tls``, saying so, known not to
    have reached the server."""
    from types import SimpleNamespace

    key = SimpleNamespace(host="api.example", port=443, ssl=True, is_ssl=True)
    cert = aiohttp.ClientConnectorCertificateError(key, ValueError("self-signed"))  # type: ignore[arg-type]
    error = _mapped(cert, ambiguous=True)
    assert type(error) is mw.APIConnectionError
    assert error.tls is True
    assert error.outcome_unknown is False
    assert str(error).startswith("TLS certificate verification failed: ")
    assert "api.example" in str(error)


# --- an open aiohttp stream (StreamReply) ------------------------------------------------------


async def _raw_server(reply: bytes) -> tuple[asyncio.Server, str]:
    """A one-shot HTTP server that answers any request with ``reply`` and then closes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/x"


@pytest.mark.asyncio
async def test_a_stream_cut_mid_body_is_an_ambiguous_connection_error() -> None:
    """A stream whose connection drops before its announced end delivers what came, then an
    APIConnectionError naming aiohttp's failure, with the outcome unknown."""
    server, url = await _raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 100\r\n\r\n"
        b"data: 1\n\n"
    )
    transport = AiohttpTransport()
    try:
        async with transport.stream("POST", url, {}, b"{}", None) as reply:
            assert await reply.read_chunk() == b"data: 1\n\n"
            with pytest.raises(mw.APIConnectionError) as caught:
                await reply.read_chunk()
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()
    assert caught.value.outcome_unknown is True
    assert str(caught.value).startswith("ClientPayloadError: ")


@pytest.mark.asyncio
async def test_a_closed_stream_stops_inflating() -> None:
    """Closing a stream while a compressed bomb is being inflated (a deadline timer does
    that) ends the inflating: the next read raises that the stream was closed, with the
    outcome unknown, instead of inflating the rest."""
    bomb = _gzip(bytes(8 * _INFLATE_STEP))
    server, url = await _raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\n"
        + f"Content-Length: {len(bomb)}\r\n\r\n".encode()
        + bomb
    )
    transport = AiohttpTransport()
    try:
        async with transport.stream("POST", url, {}, b"{}", None) as reply:
            assert len(await reply.read_chunk()) == _INFLATE_STEP
            reply.close()
            with pytest.raises(mw.APIConnectionError) as caught:
                await reply.read_chunk()
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()
    assert str(caught.value) == "the stream was closed"
    assert caught.value.outcome_unknown is True


@pytest.mark.asyncio
async def test_an_announced_oversized_body_is_refused_before_download(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Content-Length over ``MAX_BODY`` is refused from the headers: the call fails at once
    with the announced size, without waiting for (or downloading) the body."""
    monkeypatch.setattr(transport_module, "MAX_BODY", 1000)
    done = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 10)
        await writer.drain()
        await done.wait()  # the rest of the body never comes
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/x"
    transport = AiohttpTransport()
    try:
        with pytest.raises(mw.UnexpectedResponseError) as caught:
            await asyncio.wait_for(transport.request("GET", url, {}, None, None, Timeout()), 5)
    finally:
        done.set()
        await transport.aclose()
        server.close()
        await server.wait_closed()
    assert str(caught.value) == "reply body of 5000 bytes exceeds 1000"
    assert caught.value.status_code == 200


@pytest.mark.parametrize("limit", [1, 3, 1000, 1 << 16])
@pytest.mark.parametrize("step", [1, 5, 64, 1 << 20])
def test_gzip_members_decode_whole_at_any_split_and_step(limit: int, step: int) -> None:
    """Several gzip members (NUL padding between two of them) decode to all their bytes,
    however the input is split and however small each output step is; zlib alone stops at
    the end of the first member."""
    parts = [b"hello ", b"world", b"!" * 100_000]
    body = gzip.compress(parts[0]) + b"\x00\x00" + gzip.compress(parts[1])
    body += gzip.compress(parts[2])
    inflater = _Inflater("gzip")
    out = bytearray()
    for i in range(0, len(body), step):
        piece, error = inflater.inflate(body[i : i + step], limit)
        assert error is None
        out += piece
        while inflater.pending:
            piece, error = inflater.inflate(b"", limit)
            assert error is None
            assert len(piece) <= limit
            out += piece
    assert bytes(out) == b"".join(parts)


def test_bytes_after_a_gzip_member_that_start_no_member_are_corrupt() -> None:
    """What follows a member is another member or NUL padding; anything else is an error
    (after the first member's bytes), as in the gzip module."""
    inflater = _Inflater("gzip")
    out, error = inflater.inflate(gzip.compress(b"kept") + b"\x00garbage")
    assert out == b"kept"  # what came before the bad bytes, with the error
    assert isinstance(error, zlib.error)
    assert not inflater.pending
    padded = _Inflater("gzip")
    assert padded.inflate(gzip.compress(b"x") + b"\x00" * 9) == (b"x", None)
    assert padded.inflate(b"") == (b"", None)
    assert not padded.pending


class _CountingZlib:
    """``zlib`` as ``_transport`` sees it, counting what each decompressor is given."""

    error = zlib.error
    MAX_WBITS = zlib.MAX_WBITS

    def __init__(self) -> None:
        self.calls = 0
        self.fed = 0

    def decompressobj(self, wbits: int = zlib.MAX_WBITS) -> Any:
        return _CountingDecompressor(self, zlib.decompressobj(wbits))


class _CountingDecompressor:
    def __init__(self, owner: _CountingZlib, z: Any) -> None:
        self._owner, self._z = owner, z

    def decompress(self, data: Any, max_length: int = 0) -> bytes:
        self._owner.calls += 1
        self._owner.fed += len(data)
        return self._z.decompress(data, max_length)  # type: ignore[no-any-return]

    def copy(self) -> _CountingDecompressor:
        return _CountingDecompressor(self._owner, self._z.copy())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._z, name)


def _tiny_members(data: bytes) -> bytes:
    return b"".join(gzip.compress(data[i : i + 1]) for i in range(len(data)))


@pytest.mark.asyncio
async def test_many_tiny_gzip_members_cost_linear_work_in_yielding_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A body of one gzip member per byte (outside review s15c: 200,000 members held the loop
    28 s, the call's timeout ignored): zlib is given each input byte about once (the rest of
    the body was copied at every member's end before), in steps with loop turns between."""
    counting = _CountingZlib()
    monkeypatch.setattr(transport_module, "zlib", counting)
    data = b'{"conversation_id": "conv_1"}' * 700  # 20,300 members, ~450 KB on the wire
    body = _tiny_members(data)
    with loop_turns() as turns:
        out = await transport_module.decode_body(body, _Inflater("gzip"), 200)
    assert bytes(out) == data
    assert counting.fed <= 4 * len(body)
    # At most _IN_STEP bytes of input between two loop turns.
    assert turns[0] >= len(body) // transport_module._IN_STEP


@pytest.mark.asyncio
async def test_a_corrupt_body_fails_without_a_byte_by_byte_replay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A whole body is refused anyway, so nothing is salvaged: 2 MB of empty deflate blocks
    then a bad block took seconds of byte-by-byte replay on the loop (outside review s15c)."""
    counting = _CountingZlib()
    monkeypatch.setattr(transport_module, "zlib", counting)
    empty_block = b"\x00\x00\x00\xff\xff"  # a stored block of no bytes, not final
    body = gzip.compress(b"")[:10] + empty_block * 400_000 + b"\x07"  # then a reserved type
    with pytest.raises(mw.APIConnectionError, match="corrupt"):
        await transport_module.decode_body(body, _Inflater("gzip"), 200)
    assert counting.calls < 100
    assert counting.fed <= len(body)


@pytest.mark.asyncio
@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_a_compressed_body_cut_short_is_refused(coding: str) -> None:
    """A gzip body without its trailer (checksum and length), or a deflate stream without
    its final block, was accepted when the JSON happened to be whole (outside review s15c):
    the checksum was never checked."""
    data = b'{"conversation_id": "conv_1"}'
    whole = gzip.compress(data) if coding == "gzip" else zlib.compress(data)
    assert bytes(await transport_module.decode_body(whole, _Inflater(coding), 200)) == data
    if coding == "gzip":
        cut = whole[:-5]
    else:
        unfinished = zlib.compressobj()
        cut = unfinished.compress(data) + unfinished.flush(zlib.Z_SYNC_FLUSH)
    with pytest.raises(mw.APIConnectionError, match="cut short") as info:
        await transport_module.decode_body(cut, _Inflater(coding), 200)
    assert info.value.outcome_unknown is True
    assert await transport_module.decode_body(b"", _Inflater(coding), 204) == b""


class _Endless(DecodedStream):
    """A gzip reply whose body is empty gzip members forever, each read returning at once
    without suspending (as pyreqwest hands over buffered bytes)."""

    __slots__ = ("reads",)

    CHUNK = gzip.compress(b"") * 3000  # ~60 KB that decode to nothing

    def __init__(self, status: int = 200) -> None:
        super().__init__(status, {"Content-Encoding": "gzip"})
        self.reads = 0

    async def _recv(self) -> bytes:
        self.reads += 1
        return self.CHUNK


async def _loop_turns_while(awaitable: Any, reads: Callable[[], int], upto: int) -> int:
    """Run ``awaitable`` until it has made ``upto`` reads; the loop turns another task saw."""
    with loop_turns() as turns:
        task = asyncio.ensure_future(awaitable)
        try:
            while reads() < upto and not task.done():
                await asyncio.sleep(0)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, mw.APIError):
                await task
    return turns[0]


@pytest.mark.asyncio
async def test_a_stream_body_decoding_to_nothing_turns_the_loop_and_can_be_closed() -> None:
    """Empty gzip members forever, read without suspending (pyreqwest): read_chunk() held
    the loop for as long as the server sent them, past the stream's deadline (outside review
    s15d: 8 s). Now the loop turns between reads, and a close (what the deadline does) ends
    the read with APIConnectionError."""
    reply = _Endless()
    turns = await _loop_turns_while(reply.read_chunk(), lambda: reply.reads, 20)
    assert reply.reads >= 20
    assert turns >= 10  # the other task ran between the reads
    closing = _Endless()
    pending = asyncio.ensure_future(closing.read_chunk())
    while closing.reads < 3:
        await asyncio.sleep(0)
    closing._closed = True
    with pytest.raises(mw.APIConnectionError, match="closed"):
        await pending


@pytest.mark.asyncio
async def test_an_error_body_decoding_to_nothing_turns_the_loop_and_stops() -> None:
    """The same body as an error reply (a 503 before a stream, a call's error): read()
    and read_error_body() turned no loop (outside review s15d: a call's total overran by
    0.5 s, on pyreqwest) and read_error_body() read without end; now both turn the loop,
    and read_error_body() stops after MAX_BODY compressed bytes."""
    reply = _Endless(503)
    turns = await _loop_turns_while(reply.read(), lambda: reply.reads, 20)
    assert turns >= 10
    source = _Endless(503)
    inflater = transport_module._Inflater("gzip")
    turns = await _loop_turns_while(
        transport_module.read_error_body(source._recv, inflater), lambda: source.reads, 20
    )
    assert turns >= 10
    bounded = _Endless(503)
    body = await transport_module.read_error_body(bounded._recv, transport_module._Inflater("gzip"))
    assert body == b""
    assert bounded.reads <= transport_module.MAX_BODY // len(_Endless.CHUNK) + 2


def test_one_nul_after_each_member_costs_little(monkeypatch: pytest.MonkeyPatch) -> None:
    """A NUL byte after each of many members: padding was skipped by copying 64 KiB per NUL
    run (outside review s15d: 140 ms per step); now in windows growing from 32 bytes, so the
    bytes copied stay near the body's size. (The module's own ``bytes`` is counted.)"""
    copied = 0

    def counting_bytes(*args: Any) -> bytes:
        nonlocal copied
        made = bytes(*args)
        copied += len(made)
        return made

    monkeypatch.setattr(transport_module, "bytes", counting_bytes, raising=False)
    body = gzip.compress(b"data") + (gzip.compress(b"") + b"\x00") * 20_000
    inflater = _Inflater("gzip")
    out = bytearray()
    piece, error = inflater.inflate(body, 1 << 20)
    out += piece
    while inflater.pending:
        piece, error = inflater.inflate(b"", 1 << 20)
        assert error is None
        out += piece
    assert bytes(out) == b"data"
    assert copied <= 4 * len(body)
    padded = _Inflater("gzip")  # and a long run of it, in few windows
    tail = gzip.compress(b"x") + b"\x00" * (1 << 20) + gzip.compress(b"y")
    got = bytearray()
    piece, error = padded.inflate(tail, 1 << 20)
    got += piece
    while padded.pending:
        piece, error = padded.inflate(b"", 1 << 20)
        got += piece
    assert bytes(got) == b"xy"
