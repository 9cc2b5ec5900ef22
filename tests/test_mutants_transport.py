"""The transport's pure helpers (found by ``nox -s mutants``): which package error each wire
failure becomes, which content codings a stream accepts, and the bounded, salvaging inflater.
"""

from __future__ import annotations

import gzip
import zlib
from typing import Any

import aiohttp
import pytest

import moveworks_async as mw
import moveworks_async._transport as transport_module
from moveworks_async._transport import (
    _INFLATE_STEP,
    LARGE_BODY,
    MAX_ERROR_BODY,
    AiohttpTransport,
    Timeout,
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
    order, with the right Content-Length."""
    from aiohttp import web

    data = bytes(i % 253 for i in range(size))
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        seen["length"] = request.content_length
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
