"""Lifecycle and real transport behaviour: session ownership, ResourceWarning, closed clients,
event-loop binding, timeouts, retries against real sockets, connection pooling."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import gzip
import json
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from _core_support import RawServer, Wire, conversation, free_port, http_loop, http_reply, response
from aioresponses import aioresponses

import moveworks_async as mw

pytestmark = pytest.mark.asyncio

CONV = json.dumps(conversation("conv_1")).encode()
CREATED = json.dumps(response("CREATED")).encode()
ERROR = b'{"error": {"code": "INTERNAL_ERROR", "message": "boom"}}'


@pytest.fixture
def wire() -> Iterator[Wire]:
    with aioresponses() as mock:
        w = Wire(mock)
        w.always(conversation())
        yield w


def make_client(fake_time: Any, **kwargs: Any) -> mw.AsyncMoveworks:
    kwargs.setdefault("token", "tok-test")
    return mw.AsyncMoveworks(
        assistant_name="acme-capi", clock=fake_time.clock, sleep=fake_time.sleep, **kwargs
    )


@contextlib.asynccontextmanager
async def serving(reply: Any) -> AsyncIterator[RawServer]:
    async with RawServer(http_loop(reply)).running() as server:
        yield server


@contextlib.asynccontextmanager
async def served(
    fake_time: Any, reply: Any, **kwargs: Any
) -> AsyncIterator[tuple[RawServer, mw.AsyncMoveworks]]:
    """A local server answering with ``reply`` and a client pointed at it."""
    async with (
        serving(reply) as server,
        make_client(fake_time, base_url=server.url, **kwargs) as client,
    ):
        yield server, client


def STALL(n: int, head: bytes) -> str:
    """Never answer."""
    return "stall"


def ok(body: bytes = CONV, status: int = 200) -> Any:
    return lambda n, head: http_reply(status, body)


# --- ownership and closing -------------------------------------------------------------------


async def test_async_with_closes_the_owned_session(fake_time: Any) -> None:
    """Leaving ``async with`` closes the client's own pool: the server sees every socket close."""
    async with serving(ok()) as server:
        async with make_client(fake_time, base_url=server.url) as client:
            await client.conversations.get("conv_1")
            assert server.open == 1
            assert not client.is_closed
        assert client.is_closed
        await server.wait_idle()
        assert server.open == 0


async def test_aclose_is_idempotent(fake_time: Any, wire: Wire) -> None:
    """``aclose()`` can be called any number of times."""
    client = make_client(fake_time)
    await client.conversations.get("conv_1")
    await client.aclose()
    await client.aclose()
    assert client.is_closed


async def test_caller_owned_session_is_not_closed(fake_time: Any) -> None:
    """A session passed in by the caller stays open (and its connection pooled) after aclose."""
    async with serving(ok()) as server:
        async with aiohttp.ClientSession() as session:
            async with make_client(fake_time, base_url=server.url, session=session) as client:
                await client.conversations.get("conv_1")
            assert not session.closed
            assert server.open == 1  # still pooled by the caller's session
            async with session.get(server.url + "/ping") as reply:
                assert reply.status == 200
        await server.wait_idle()
    assert server.requests == 2


async def test_caller_owned_session_is_used(fake_time: Any, wire: Wire) -> None:
    """Requests go through the caller's session (its default headers are applied)."""
    async with aiohttp.ClientSession(headers={"X-Caller": "yes"}) as session:
        async with make_client(fake_time, session=session) as client:
            await client.conversations.get("conv_1")
        assert not session.closed
    assert wire.calls[0].headers["X-Caller"] == "yes"


async def test_resource_warning_when_collected_open(fake_time: Any, wire: Wire) -> None:
    """A used client garbage-collected without aclose() warns with a ResourceWarning."""
    client = make_client(fake_time)
    await client.conversations.get("conv_1")
    session = client._transport._session  # kept only to close it after the check
    assert session is not None
    with pytest.warns(ResourceWarning, match="AsyncMoveworks client was not closed"):  # noqa: PT031
        del client
        gc.collect()
    await session.close()


async def test_no_resource_warning_when_closed(fake_time: Any, wire: Wire) -> None:
    """A closed client, and one that never opened a session, are collected silently."""
    closed = make_client(fake_time)
    await closed.conversations.get("conv_1")
    await closed.aclose()
    unused = make_client(fake_time)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del closed, unused
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_no_resource_warning_for_borrowed_session(fake_time: Any, wire: Wire) -> None:
    """A client on a caller-owned session has nothing of its own to leak."""
    async with aiohttp.ClientSession() as session:
        client = make_client(fake_time, session=session)
        await client.conversations.get("conv_1")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del client
            gc.collect()
    assert [w for w in caught if "AsyncMoveworks" in str(w.message)] == []


async def test_use_after_close_raises(fake_time: Any, wire: Wire) -> None:
    """Calls on a closed client raise RuntimeError, and so does re-entering it."""
    async with make_client(fake_time) as client:
        await client.conversations.get("conv_1")
    with pytest.raises(RuntimeError, match="closed"):
        await client.conversations.get("conv_1")
    with pytest.raises(RuntimeError, match="closed"):
        async with client:
            pass
    assert len(wire.calls) == 1


async def test_close_before_first_use(fake_time: Any, wire: Wire) -> None:
    """A client closed before its first call refuses calls and never opens a session."""
    client = make_client(fake_time)
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await client.conversations.get("conv_1")
    assert wire.calls == []


async def test_second_event_loop_raises(fake_time: Any, wire: Wire) -> None:
    """A client used on one event loop raises a clear RuntimeError on another."""
    async with make_client(fake_time) as client:
        await client.conversations.get("conv_1")

        def other_loop() -> BaseException | None:
            try:
                asyncio.run(client.conversations.get("conv_1"))
            except BaseException as exc:
                return exc
            return None

        error = await asyncio.to_thread(other_loop)
        assert isinstance(error, RuntimeError)
        assert "event loop" in str(error)
        await client.conversations.get("conv_1")  # still fine on its own loop
    assert len(wire.calls) == 2


async def test_caller_session_on_other_loop_raises(fake_time: Any, wire: Wire) -> None:
    """A client whose borrowed session was first used on one loop refuses another loop."""
    async with aiohttp.ClientSession() as session:
        client = make_client(fake_time, session=session)
        await client.conversations.get("conv_1")

        def other_loop() -> BaseException | None:
            try:
                asyncio.run(client.conversations.get("conv_1"))
            except BaseException as exc:
                return exc
            return None

        assert isinstance(await asyncio.to_thread(other_loop), RuntimeError)
        await client.aclose()


# --- timeouts --------------------------------------------------------------------------------


async def test_per_call_timeout_overrides_client_timeout(fake_time: Any) -> None:
    """A stalled reply with ``timeout=0.2`` raises APITimeoutError fast despite a 30 s default."""
    async with served(fake_time, STALL, timeout=30, max_retries=0) as (_, client):
        started = time.monotonic()
        with pytest.raises(mw.APITimeoutError) as info:
            await client.conversations.get("conv_1", timeout=0.2)
        assert time.monotonic() - started < 5
    assert info.value.phase == "total"
    assert type(info.value) is mw.TotalTimeout
    assert isinstance(info.value, mw.APIConnectionError)


async def test_per_call_read_timeout(fake_time: Any) -> None:
    """A ``Timeout(read=...)`` per call raises with phase ``read``."""
    async with served(fake_time, STALL, max_retries=0) as (_, client):
        with pytest.raises(mw.APITimeoutError) as info:
            await client.conversations.get("conv_1", timeout=mw.Timeout(read=0.2))
    assert info.value.phase == "read"
    assert type(info.value) is mw.ReadTimeout


async def test_client_timeout_applies_to_every_call(fake_time: Any) -> None:
    """The client's ``timeout=`` is used when a call gives none."""
    async with served(fake_time, STALL, timeout=0.2, max_retries=0) as (_, client):
        with pytest.raises(mw.APITimeoutError):
            await client.responses.get("conv_1", "resp_1")


async def test_timed_out_get_is_retried(fake_time: Any) -> None:
    """A GET whose attempt timed out is retried (it is idempotent) and can then succeed.

    The per-attempt bound is ``Timeout(read=...)``; a plain number bounds the whole call."""
    async with served(
        fake_time,
        lambda n, h: "stall" if n < 3 else http_reply(200, CONV),
        timeout=mw.Timeout(read=0.15),
        max_retries=2,
    ) as (server, client):
        conv = await client.conversations.get("conv_1")
    assert conv.conversation_id == "conv_1"
    assert server.requests == 3


async def test_timed_out_create_is_not_retried(fake_time: Any) -> None:
    """A create that timed out waiting for the reply is not replayed: outcome unknown."""
    async with (
        serving(STALL) as server,
        make_client(fake_time, base_url=server.url, timeout=0.15, max_retries=3) as client,
    ):
        with pytest.raises(mw.APITimeoutError) as info:
            await client.responses.create("conv_1", text="hi")
    assert server.requests == 1
    assert info.value.outcome_unknown is True


# --- retries against real sockets ------------------------------------------------------------


async def test_get_retried_on_500_then_success(fake_time: Any) -> None:
    """The server sees a failed GET and its retry; the caller sees only the success."""
    async with (
        serving(lambda n, h: http_reply(500, ERROR) if n == 1 else http_reply(200, CONV)) as server,
        make_client(fake_time, base_url=server.url) as client,
    ):
        conv = await client.conversations.get("conv_1")
    assert conv.conversation_id == "conv_1"
    assert server.requests == 2
    assert len(fake_time.sleeps) == 1


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_create_not_retried_on_5xx(fake_time: Any, status: int) -> None:
    """A create answered with a 5xx is sent exactly once and flagged ``outcome_unknown``."""
    async with served(fake_time, ok(ERROR, status), max_retries=3) as (server, client):
        with pytest.raises(mw.InternalServerError) as info:
            await client.responses.create("conv_1", text="hi")
    assert server.requests == 1
    assert info.value.status_code == status
    assert info.value.outcome_unknown is True


async def test_create_retried_after_connection_refused(fake_time: Any) -> None:
    """A refused connection never reached the server, so a create is retried safely."""
    port = free_port()
    server = RawServer(http_loop(lambda n, h: http_reply(202, CREATED)))
    stack = contextlib.AsyncExitStack()
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        # The server comes up during the backoff after the first, refused attempt.
        sleeps.append(seconds)
        if server.server is None:
            await stack.enter_async_context(server.running(port))

    async with (
        stack,
        mw.AsyncMoveworks(
            assistant_name="acme-capi",
            token="tok-test",
            base_url=f"http://127.0.0.1:{port}",
            clock=fake_time.clock,
            sleep=sleep,
        ) as client,
    ):
        resp = await client.responses.create("conv_1", text="hi")
    assert resp.status == "CREATED"
    assert len(sleeps) == 1
    assert server.requests == 1


async def test_connection_refused_exhausts_retries(fake_time: Any) -> None:
    """With nothing listening, the call fails with APIConnectionError (not ambiguous)."""
    async with make_client(
        fake_time, base_url=f"http://127.0.0.1:{free_port()}", max_retries=2
    ) as client:
        with pytest.raises(mw.APIConnectionError) as info:
            await client.responses.create("conv_1", text="hi")
    assert not isinstance(info.value, mw.APITimeoutError)
    assert info.value.outcome_unknown is False
    assert len(fake_time.sleeps) == 2


async def test_create_reset_after_request_is_ambiguous(fake_time: Any) -> None:
    """A connection reset after the create was sent raises APIConnectionError(outcome_unknown=True),
    with exactly one request on the server."""
    async with served(fake_time, lambda n, h: "reset", max_retries=3) as (server, client):
        with pytest.raises(mw.APIConnectionError) as info:
            await client.responses.create("conv_1", text="hi")
    assert info.value.outcome_unknown is True
    assert server.requests == 1


async def test_get_reset_after_request_is_retried(fake_time: Any) -> None:
    """A GET reset mid-flight is retried and succeeds."""
    async with served(fake_time, lambda n, h: "reset" if n == 1 else http_reply(200, CONV)) as (
        server,
        client,
    ):
        assert (await client.conversations.get("conv_1")).conversation_id == "conv_1"
    assert server.requests == 2


async def test_get_reset_every_time_is_not_outcome_unknown(fake_time: Any) -> None:
    """A GET that keeps being reset fails after its retries with outcome_unknown=False:
    re-sending a read is always safe, so there is nothing for the caller to check."""
    async with served(fake_time, lambda n, h: "reset", max_retries=2) as (server, client):
        with pytest.raises(mw.APIConnectionError) as info:
            await client.conversations.get("conv_1")
    assert info.value.outcome_unknown is False
    # 3 attempts; aiohttp itself resends a GET once on a dropped connection (reliability V7),
    # pyreqwest does not (a documented difference between the transports).
    aiohttp_resends = type(client._transport).__name__ == "AiohttpTransport"
    assert server.requests == (6 if aiohttp_resends else 3)


async def test_redirects_are_not_followed(fake_time: Any) -> None:
    """A 3xx is not followed (it could carry the bearer elsewhere or turn POST into GET)."""
    redirect = (
        b"HTTP/1.1 307 Temporary Redirect\r\n"
        b"Location: http://127.0.0.1:1/x\r\nContent-Length: 0\r\n\r\n"
    )
    async with served(fake_time, lambda n, h: redirect, max_retries=0) as (server, client):
        with pytest.raises(mw.APIStatusError) as info:
            await client.conversations.get("conv_1")
    assert info.value.status_code == 307
    assert server.requests == 1


# --- connection pooling ----------------------------------------------------------------------


async def test_sequential_calls_reuse_one_connection(fake_time: Any) -> None:
    """Ten sequential calls travel over one pooled keep-alive connection."""
    async with serving(ok()) as server:
        async with make_client(fake_time, base_url=server.url) as client:
            for _ in range(10):
                await client.conversations.get("conv_1")
        await server.wait_idle()
    assert server.requests == 10
    assert server.connections == 1


async def test_max_connections_caps_the_pool(fake_time: Any) -> None:
    """``max_connections=2`` keeps at most two sockets open under 12 concurrent calls."""
    async with serving(ok()) as server:
        async with make_client(fake_time, base_url=server.url, max_connections=2) as client:
            await asyncio.gather(*(client.conversations.get("conv_1") for _ in range(12)))
            aiohttp_pool = type(client._transport).__name__ == "AiohttpTransport"
        await server.wait_idle()
    assert server.requests == 12
    # reqwest caps requests in flight, not sockets: one closing while the next opens can make
    # one more briefly open (README, Transports).
    assert server.max_open <= (2 if aiohttp_pool else 3)


async def test_error_replies_do_not_leak_connections(fake_time: Any) -> None:
    """Error replies are read fully, so their connections return to the pool."""
    async with serving(ok(ERROR, 404)) as server:
        async with make_client(fake_time, base_url=server.url) as client:
            for _ in range(5):
                with pytest.raises(mw.NotFoundError):
                    await client.conversations.get("conv_1")
        await server.wait_idle()
    assert server.connections == 1


# --- body size cap ---------------------------------------------------------------------------


def _chunked(body: bytes) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    return head + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"


def _gzipped(body: bytes) -> bytes:
    packed = gzip.compress(body)
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        + f"Content-Length: {len(packed)}\r\n\r\n".encode()
        + packed
    )


BIG = json.dumps(conversation("conv_1", title="x" * 5000)).encode()


@pytest.mark.parametrize(
    "reply",
    [lambda n, h: _chunked(BIG), lambda n, h: _gzipped(BIG), lambda n, h: http_reply(200, BIG)],
    ids=["chunked", "gzip-bomb", "content-length"],
)
async def test_body_over_the_cap_is_refused(
    fake_time: Any, monkeypatch: pytest.MonkeyPatch, reply: Any
) -> None:
    """A reply body past MAX_BODY is refused however it is framed (chunked, compressed, sized),
    and not retried: a retry would only download the same oversized body again."""
    monkeypatch.setattr("moveworks_async._transport.MAX_BODY", 4096)
    assert len(gzip.compress(BIG)) < 4096 < len(BIG)
    async with served(fake_time, reply, max_retries=2) as (server, client):
        with pytest.raises(mw.UnexpectedResponseError, match="exceeds"):
            await client.conversations.get("conv_1")
    assert server.requests == 1


def _big_429(framing: str) -> bytes:
    body = json.dumps({"error": {"code": "RATE_LIMITED", "message": "x" * 200_000}}).encode()
    head = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    if framing == "gzip":
        packed = gzip.compress(body)
        head += f"Content-Encoding: gzip\r\nContent-Length: {len(packed)}\r\n\r\n"
        return head.encode() + packed
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


@pytest.mark.parametrize("framing", ["gzip-bomb", "content-length"])
async def test_oversized_429_still_reaches_the_governor(
    fake_time: Any, monkeypatch: pytest.MonkeyPatch, framing: str
) -> None:
    """A 429 whose body is past the cap (or a bomb) is still a 429: the status decides, the
    governor pauses, and the create is retried (only the error's message body is cut)."""
    monkeypatch.setattr("moveworks_async._transport.MAX_BODY", 4096)
    replies = [_big_429("gzip" if framing == "gzip-bomb" else "plain"), http_reply(200, CONV)]
    governor = mw.RateGovernor(clock=fake_time.clock, sleep=fake_time.sleep)
    async with served(fake_time, lambda n, h: replies[0 if n == 1 else 1], governor=governor) as (
        server,
        client,
    ):
        conv = await client.conversations.get("conv_1")
    assert conv.conversation_id == "conv_1"
    assert server.requests == 2
    assert governor.snapshot().rate_limited == 1


@pytest.mark.parametrize(
    "reply",
    [lambda n, h: _chunked(CONV), lambda n, h: _gzipped(CONV)],
    ids=["chunked", "gzip"],
)
async def test_body_under_the_cap_is_read_whole(fake_time: Any, reply: Any) -> None:
    """Chunked and compressed replies within the cap are decoded completely."""
    async with served(fake_time, reply) as (_, client):
        conv = await client.conversations.get("conv_1")
    assert conv.conversation_id == "conv_1"
    assert conv.title == "Help with user permissions"
