"""Errors at close and in stream failures: what a call gets when ``client.aclose()`` ends it, and
what a stream's protocol error says about the response.

Each behaviour runs on both transports in every run (loopback servers, no fake transport):

* a :class:`StreamProtocolError` carries the stream's ``response_id`` when the stream knew it;
* a recovery poll in flight when the client closes ends with ``StreamInterruptedError``
  naming the response, while a poll that fails on the wire with the client open ends the
  recovery with the connection error as its cause;
* a call that never sent its request when the client closed (waiting for a governor turn or
  for a connection) fails with ``ClientStateError``; a create that may have been sent keeps
  ``APIConnectionError(outcome_unknown=True)``;
* a call sleeping out a 429 pause, a retry backoff or the pause between two polls is woken by
  the close (with the same errors), and only the closed client's calls are.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from _stream_support import (
    CID,
    RID,
    collect_into,
    completed_response,
    event,
    frame,
    message_item,
    response_json,
    settle,
)
from aiohttp import web
from aiohttp.test_utils import TestServer

import moveworks_async as mw
from moveworks_async._retry import Decision
from moveworks_async._stream_machine import StreamMachine
from moveworks_async._transport import AiohttpTransport

pytest.importorskip("pyreqwest")

TRANSPORTS = ["aiohttp", pytest.param("pyreqwest", marks=pytest.mark.fork_unsafe)]
TOKEN = "test-token-0123456789"
CREATES = "/rest/v1beta1/conversations/{cid}/responses"
CREATED = event("RESPONSE_CREATED", 1, response=response_json("CREATED"))

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Server:
    """A loopback API whose create, stream and poll handlers a test sets; records paths."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.create: Handler = self._hang
        self.stream: Handler = self._hang
        self.poll: Handler = self._hang
        self.release = asyncio.Event()

    async def _hang(self, request: web.Request) -> web.StreamResponse:
        await self.release.wait()  # never set: the client's close (or cleanup) ends it
        return web.json_response({})

    def count(self, part: str) -> int:
        return sum(part in p for p in self.paths)

    def app(self) -> web.Application:
        def recording(name: str) -> Handler:
            async def record(request: web.Request) -> web.StreamResponse:
                self.paths.append(f"{request.method} {request.path}")
                handler: Handler = getattr(self, name)
                return await handler(request)

            return record

        app = web.Application()
        app.router.add_post(CREATES, recording("create"))
        app.router.add_post(CREATES + "/stream", recording("stream"))
        app.router.add_get(CREATES + "/{rid}", recording("poll"))
        return app


@asynccontextmanager
async def serving() -> AsyncIterator[tuple[Server, str]]:
    server = Server()
    test_server = TestServer(server.app(), handler_cancellation=True)
    await test_server.start_server()
    try:
        yield server, str(test_server.make_url("")).rstrip("/")
    finally:
        server.release.set()  # a connection pyreqwest abandoned is not closed at once
        await test_server.close()


def client_of(url: str, transport: str, **kw: Any) -> mw.AsyncMoveworks:
    return mw.AsyncMoveworks(
        assistant_name="acme-capi",
        token=TOKEN,
        base_url=url,
        api_version="v1beta1",
        transport=transport,
        **kw,
    )


def sse_body(body: bytes) -> Handler:
    """A stream handler that sends ``body`` and ends (before a terminal event, here)."""

    async def stream(request: web.Request) -> web.StreamResponse:
        out = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await out.prepare(request)
        await out.write(body)
        await out.write_eof()
        return out

    return stream


#: A stream that names its response, then ends early: the stream recovers by polling.
created_then_eof = sse_body(CREATED)


async def protocol_error(name: str, body: bytes) -> tuple[mw.StreamProtocolError, list[Any]]:
    """The StreamProtocolError a stream of ``body`` raises, and the events before it."""
    async with serving() as (server, url):
        server.stream = sse_body(body)
        async with (
            client_of(url, name, max_retries=0) as client,
            client.responses.stream(CID, text="q") as live,
        ):
            events: list[Any] = []
            with pytest.raises(mw.StreamProtocolError) as caught:
                await collect_into(live, events)
            assert caught.value.response_id == live.response_id
    return caught.value, events


async def outcome(task: asyncio.Future[Any]) -> BaseException | None:
    """What ``task`` ended with (bounded: only a failing test waits that long)."""
    try:
        await asyncio.wait_for(task, 10.0)
    except BaseException as exc:  # the tests look at exactly what came out
        return exc
    return None


# --- 1. StreamProtocolError.response_id --------------------------------------------------------


def _feed(machine: StreamMachine, chunk: bytes) -> None:
    for sse in machine.feed(chunk):
        machine.accept(sse)


def _machine_after_created() -> StreamMachine:
    machine = StreamMachine(1024)
    machine.request_id = "trace-9"
    _feed(machine, CREATED)
    assert machine.response_id == RID
    return machine


@pytest.mark.parametrize(
    "chunk",
    [
        pytest.param(frame("RESPONSE_IN_PROGRESS", "{nope"), id="bad-json"),
        pytest.param(frame("RESPONSE_IN_PROGRESS", "[1, 2]"), id="not-an-object"),
        pytest.param(b"data: " + b"x" * 2000 + b"\n\n", id="event-too-large"),
        pytest.param(b": keep-alive\n" * 100, id="bytes-without-an-event"),
    ],
)
def test_a_protocol_error_after_created_names_the_response(chunk: bytes) -> None:
    """Every kind of protocol error raised after RESPONSE_CREATED carries the response id (to
    poll the outcome) and the request's trace id."""
    machine = _machine_after_created()
    with pytest.raises(mw.StreamProtocolError) as caught:
        _feed(machine, chunk)
    assert caught.value.response_id == RID
    assert caught.value.request_id == "trace-9"


def test_a_protocol_error_before_created_names_no_response() -> None:
    machine = StreamMachine(64)
    with pytest.raises(mw.StreamProtocolError) as caught:
        _feed(machine, frame("RESPONSE_CREATED", "{nope"))
    assert caught.value.response_id is None


def test_the_error_takes_response_id_as_a_keyword() -> None:
    """Built by hand (a test double, a re-raise) it works with and without the id."""
    assert mw.StreamProtocolError("bad").response_id is None
    error = mw.StreamProtocolError("bad", response_id=RID, request_id="t")
    assert (error.response_id, error.request_id, error.outcome_unknown) == (RID, "t", False)
    assert RID not in str(error)  # the id is an attribute, as on StreamError


@pytest.mark.asyncio
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_a_stream_protocol_error_carries_the_response_id(name: str) -> None:
    """Malformed JSON after RESPONSE_CREATED: the error says which response to poll, the
    outcome is known (not ``outcome_unknown``), and no credential is in its str or repr."""
    bad = frame("RESPONSE_OUTPUT_DELTA", "{" + TOKEN)  # a server echoing the bearer, broken
    error, events = await protocol_error(name, CREATED + bad)
    assert [type(e) for e in events] == [mw.ResponseCreated]
    assert error.response_id == RID
    assert error.outcome_unknown is False
    for text in (str(error), repr(error), repr(error.args)):
        assert TOKEN not in text


@pytest.mark.asyncio
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_a_stream_protocol_error_before_created_has_no_response_id(name: str) -> None:
    delta = event("RESPONSE_OUTPUT_DELTA", 1, output=message_item("hi"))
    error, events = await protocol_error(name, delta + frame("RESPONSE_IN_PROGRESS", "{nope"))
    assert len(events) == 1
    assert error.response_id is None
    assert error.outcome_unknown is True


# --- 2. a recovery poll in flight when the client closes ---------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_closing_the_client_under_a_recovery_poll(name: str) -> None:
    """The stream ended early and its recovery's poll waits for the server when the client
    closes: the stream ends with StreamInterruptedError naming the response (its create was
    made: never a ClientStateError, which says nothing was sent), not a bare network error,
    and the create is never sent again."""
    async with serving() as (server, url):
        server.stream = created_then_eof
        client = client_of(url, name, max_retries=0)

        async def read_all() -> None:
            async with client.responses.stream(CID, text="q") as live:
                async for _ in live:
                    pass

        task = asyncio.ensure_future(read_all())
        assert await settle(lambda: server.count("GET ") == 1, timeout=10.0)
        await client.aclose()
        error = await outcome(task)
    assert isinstance(error, mw.StreamInterruptedError), repr(error)
    assert not isinstance(error, mw.ClientStateError)
    assert "client was closed" in str(error)
    assert error.response_id is not None
    assert error.outcome_unknown is False
    assert server.count("/stream") == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_a_poll_failing_on_the_wire_stays_a_connection_error(name: str) -> None:
    """Not every failure near a close is the close: a poll whose connection the server resets
    while the client is open ends the recovery with StreamInterruptedError (an
    APIConnectionError) caused by that connection error, and the client stays usable."""

    async def reset(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.abort()
        return web.Response()

    async with serving() as (server, url):
        server.stream = created_then_eof
        server.poll = reset
        async with client_of(url, name, max_retries=0) as client:
            async with client.responses.stream(CID, text="q") as live:
                with pytest.raises(mw.APIConnectionError) as caught:
                    async for _ in live:
                        pass
            assert not isinstance(caught.value, mw.ClientStateError)
            assert type(caught.value.__cause__) is mw.APIConnectionError
            assert not client.is_closed

            async def answer(request: web.Request) -> web.StreamResponse:
                return web.json_response(completed_response())

            server.poll = answer
            assert (await client.responses.get(CID, RID)).status is mw.ResponseStatus.COMPLETED


# --- 3. calls that never sent their request when the client closed -----------------------------


async def _create(client: mw.AsyncMoveworks) -> None:
    await client.responses.create(CID, text="q")


async def _open_stream(client: mw.AsyncMoveworks) -> None:
    async with client.responses.stream(CID, text="q"):
        raise AssertionError("the stream must not start")


CALLS = [pytest.param(_create, id="create"), pytest.param(_open_stream, id="stream")]


@pytest.mark.asyncio
@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_a_call_waiting_for_a_governor_turn_at_close(
    name: str, call: Callable[[mw.AsyncMoveworks], Awaitable[None]]
) -> None:
    """One create holds the governor's only turn, another call waits for it: closing the
    client fails the waiting call with ClientStateError (nothing sent) and the create in
    flight with APIConnectionError(outcome_unknown=True) (it may have been applied)."""
    async with serving() as (server, url):
        client = client_of(url, name, max_retries=0, governor=mw.RateGovernor(max_concurrency=1))
        in_flight = asyncio.ensure_future(_create(client))
        assert await settle(lambda: server.count("POST ") == 1, timeout=10.0)
        waiting = asyncio.ensure_future(call(client))
        assert await settle(lambda: client.governor.snapshot().waiting == 1, timeout=10.0)
        await client.aclose()
        sent, unsent = await outcome(in_flight), await outcome(waiting)
    assert isinstance(sent, mw.APIConnectionError), repr(sent)
    assert sent.outcome_unknown is True
    assert isinstance(unsent, mw.ClientStateError), repr(unsent)
    assert server.count("POST ") == 1


def _pool_waiters(client: mw.AsyncMoveworks) -> int:
    transport = client._transport
    assert isinstance(transport, AiohttpTransport)
    session = transport._session
    connector = session.connector if session is not None else None
    return sum(len(w) for w in connector._waiters.values()) if connector is not None else 0


async def _one_create_on_the_only_connection(
    server: Server, url: str, name: str
) -> tuple[mw.AsyncMoveworks, asyncio.Future[None]]:
    """A client with one connection and a governor that does not cap concurrency (so calls
    queue in the transport's pool), and a create on that connection, received by ``server``."""
    client = client_of(
        url,
        name,
        max_retries=0,
        max_connections=1,
        governor=mw.RateGovernor(max_concurrency=None),
    )
    in_flight = asyncio.ensure_future(_create(client))
    assert await settle(lambda: server.count("POST ") == 1, timeout=10.0)
    return client, in_flight


@pytest.mark.asyncio
@pytest.mark.parametrize("call", CALLS)
async def test_a_call_waiting_for_a_connection_at_close(
    call: Callable[[mw.AsyncMoveworks], Awaitable[None]],
) -> None:
    """aiohttp: with a governor that does not cap concurrency, a call can wait in the
    connection pool (one connection here). Closing the client cancels that wait: the call
    fails with ClientStateError (it had no connection, so nothing was sent), not with a
    CancelledError that nobody asked for; the create on the wire keeps outcome_unknown."""
    async with serving() as (server, url):
        client, in_flight = await _one_create_on_the_only_connection(server, url, "aiohttp")
        waiting = asyncio.ensure_future(call(client))
        assert await settle(lambda: _pool_waiters(client) == 1, timeout=10.0)
        await client.aclose()
        sent, unsent = await outcome(in_flight), await outcome(waiting)
    assert isinstance(sent, mw.APIConnectionError), repr(sent)
    assert sent.outcome_unknown is True
    assert isinstance(unsent, mw.ClientStateError), repr(unsent)
    assert "closed" in str(unsent)
    assert server.count("POST ") == 1


@pytest.mark.asyncio
@pytest.mark.fork_unsafe
async def test_pyreqwest_proves_a_queued_create_unsent() -> None:
    """A create over the connection limit waits in the transport (its slots are counted in
    Python), never inside pyreqwest: ``aclose()`` ends that wait with ClientStateError, and
    it was never sent. Before, it queued inside Rust, where pyreqwest failed queued and sent
    requests alike with "Client was closed", so it had to keep ``outcome_unknown=True``. The
    default governor caps attempts at the pool size, so this takes a governor that does not.
    The create on the wire keeps its connection error and ``outcome_unknown=True``."""
    async with serving() as (server, url):
        client, in_flight = await _one_create_on_the_only_connection(server, url, "pyreqwest")
        waiting = asyncio.ensure_future(_create(client))
        for _ in range(20):  # the second create waits for the only slot
            await asyncio.sleep(0)
        await client.aclose()
        sent, queued = await outcome(in_flight), await outcome(waiting)
    assert isinstance(sent, mw.APIConnectionError), repr(sent)
    assert sent.outcome_unknown is True
    assert isinstance(queued, mw.ClientStateError), repr(queued)
    assert server.count("POST ") == 1


@pytest.mark.asyncio
async def test_only_a_closed_pool_counts_as_never_sent() -> None:
    """The aiohttp transport's proof that nothing was sent: its own close cancelled the wait
    for a connection, or failed a connection opened meanwhile ("Connector is closed", before
    anything is written to it). A reset or another message is no proof, and nothing is proof
    while the transport is open."""
    transport = AiohttpTransport()
    pool_closed = aiohttp.ClientConnectionError("Connector is closed.")
    assert not transport._closed_before_sending(pool_closed)
    await transport.aclose()
    assert transport._closed_before_sending(pool_closed)
    assert transport._closed_before_sending(aiohttp.ClientConnectionError("Connector is closed"))
    assert transport._closed_before_sending(asyncio.CancelledError())
    assert not transport._closed_before_sending(aiohttp.ServerDisconnectedError())
    assert not transport._closed_before_sending(aiohttp.ClientConnectionError("Connection closed"))
    assert not transport._closed_before_sending(aiohttp.ClientOSError(104, "reset"))

    async def cancelled() -> bool:
        try:
            await asyncio.sleep(10.0)
        except asyncio.CancelledError as exc:
            return transport._closed_before_sending(exc)
        return True

    probe = asyncio.ensure_future(cancelled())
    await asyncio.sleep(0)
    probe.cancel()  # a cancellation of the caller itself is never the close
    assert await probe is False


@pytest.mark.asyncio
@pytest.mark.parametrize("name", TRANSPORTS)
@pytest.mark.parametrize("received", ["half-a-reply", "nothing"])
async def test_closing_the_client_under_a_get_on_the_wire_ends_it(name: str, received: str) -> None:
    """A GET the server has received when the client closes fails at once with
    ClientStateError, whether part of its reply arrived or none did, and the message does not
    claim the call was still waiting for a connection.

    Half a reply: on aiohttp a session close neither wakes a pending body read nor keeps its
    read timeout running, so before the fix the call hung until Timeout.total (here 30 s; 600 s
    by default). No reply: aiohttp's re-send of an idempotent request hit the closed pool, and
    an outside review read "waited for a connection" for a request the server had logged."""
    arrived = asyncio.Event()
    finish = asyncio.Event()
    handlers: list[asyncio.Task[Any]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handlers.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await reader.readuntil(b"\r\n\r\n")
            if received == "half-a-reply":
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 5000\r\n\r\n" + b'{"response_id": "resp_1", '
                )
                await writer.drain()
            arrived.set()
            await finish.wait()  # the rest never comes
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = client_of(f"http://127.0.0.1:{port}", name, max_retries=0, timeout=30.0)
    try:
        call = asyncio.ensure_future(client.responses.get(CID, "resp_1"))
        await asyncio.wait_for(arrived.wait(), 10.0)
        for _ in range(5):  # the call reaches its read and waits there
            await asyncio.sleep(0)
        assert not call.done()
        await client.aclose()
        error = await asyncio.wait_for(outcome(call), 10.0)
    finally:
        finish.set()
        await asyncio.gather(*handlers, return_exceptions=True)
        server.close()
        await server.wait_closed()
    assert isinstance(error, mw.ClientStateError), repr(error)
    assert "waited for a connection" not in str(error)


# --- 4. calls sleeping out a 429 pause, a retry backoff or a pause between polls ---------------


class Asleep:
    """An injected ``sleep`` that never ends by itself (virtual time that does not pass): it
    records each delay asked for, and only a cancellation (the client's close) ends it."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.Event().wait()


def status_handler(status: int, body: Any, headers: dict[str, str] | None = None) -> Handler:
    async def reply(request: web.Request) -> web.StreamResponse:
        return web.json_response(body, status=status, headers=headers)

    return reply


ERROR_BODY = {"error": {"code": "ERR", "message": "no"}}


async def _closed_while_asleep(
    client: mw.AsyncMoveworks, asleep: Callable[[], bool], call: Awaitable[Any]
) -> BaseException | None:
    """Run ``call`` until ``asleep()`` says it sleeps, close the client, and return what the
    call ended with (before the fix: nothing within outcome()'s 10 s, the wait never ended)."""
    task = asyncio.ensure_future(call)
    assert await settle(asleep, timeout=10.0)
    assert not task.done()
    await client.aclose()
    return await outcome(task)


@pytest.mark.asyncio
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_closing_wakes_a_call_sleeping_out_a_retry_backoff(name: str) -> None:
    """A GET that got a 500 sleeps before its retry: closing the client ends the sleep at
    once with ClientStateError (a read: it can be made again on another client)."""
    sleep = Asleep()
    async with serving() as (server, url):
        server.poll = status_handler(500, ERROR_BODY)
        client = client_of(url, name, max_retries=3, sleep=sleep)
        get = client.responses.get(CID, RID)
        error = await _closed_while_asleep(client, lambda: bool(sleep.delays), get)
    assert isinstance(error, mw.ClientStateError), repr(error)
    assert sleep.delays[0] > 0  # the backoff (the only sleep of a get)
    assert server.count("GET ") == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_closing_wakes_a_create_sleeping_out_a_429_pause(
    name: str, call: Callable[[mw.AsyncMoveworks], Awaitable[None]]
) -> None:
    """A create (or a stream's create) refused with 429 waits out the governor's pause before
    its retry: closing the client ends that wait with ClientStateError (a 429 was refused
    before processing: nothing was applied), and the create is not sent again."""
    sleep = Asleep()
    async with serving() as (server, url):
        server.create = server.stream = status_handler(429, ERROR_BODY, {"Retry-After": "30"})
        client = client_of(url, name, max_retries=3, sleep=sleep)

        def paused() -> bool:  # the retry waits in the governor (a stream's timer sleeps too)
            return client.governor.snapshot().waiting == 1

        error = await _closed_while_asleep(client, paused, call(client))
    assert isinstance(error, mw.ClientStateError), repr(error)
    assert any(delay >= 30 for delay in sleep.delays)  # the governor's pause
    assert server.count("POST ") == 1


class _RetryAnything(mw.RetryPolicy):
    """A policy no client of this package has: it retries a create after a 500 (whose outcome
    is unknown), to show what a close during that backoff says."""

    def decide(self, error: mw.APIError, **_: Any) -> Decision:
        return Decision(True, delay=5.0, reason="test")


@pytest.mark.asyncio
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_a_create_that_may_have_been_applied_keeps_saying_so_at_close(name: str) -> None:
    """Were a create retried after an attempt that may have reached the server, a close
    during its backoff says APIConnectionError(outcome_unknown=True), caused by that attempt's
    error: never ClientStateError, which says nothing was sent."""
    sleep = Asleep()
    async with serving() as (server, url):
        server.create = status_handler(500, ERROR_BODY)
        client = client_of(url, name, retry_policy=_RetryAnything(), sleep=sleep)
        error = await _closed_while_asleep(client, lambda: bool(sleep.delays), _create(client))
    assert type(error) is mw.APIConnectionError, repr(error)
    assert error.outcome_unknown is True
    assert type(error.__cause__) is mw.InternalServerError
    assert server.count("POST ") == 1


@pytest.mark.asyncio
@pytest.mark.parametrize("name", TRANSPORTS)
async def test_closing_wakes_a_wait_between_two_polls(name: str) -> None:
    """responses.wait() sleeps between polls of a response in progress: the close ends that
    pause with ClientStateError; a stream's recovery in that pause ends with
    StreamInterruptedError naming the response (its create was made)."""
    sleep = Asleep()
    async with serving() as (server, url):
        server.poll = status_handler(200, response_json("IN_PROGRESS"))
        client = client_of(url, name, sleep=sleep)
        wait = client.responses.wait(CID, RID)
        error = await _closed_while_asleep(client, lambda: bool(sleep.delays), wait)
    assert isinstance(error, mw.ClientStateError), repr(error)
    assert server.count("GET ") == 1

    sleep = Asleep()
    marks: list[int] = []  # the sleeps asked for when the poll arrived (the stream's timer)

    async def in_progress(request: web.Request) -> web.StreamResponse:
        marks.append(len(sleep.delays))
        return web.json_response(response_json("IN_PROGRESS"))

    async with serving() as (server, url):
        server.stream = created_then_eof
        server.poll = in_progress
        client = client_of(url, name, sleep=sleep)

        async def read_all() -> None:
            async with client.responses.stream(CID, text="q") as live:
                async for _ in live:
                    pass

        def pausing() -> bool:  # a sleep after the poll: the pause before the next one
            return bool(marks) and len(sleep.delays) > marks[0]

        error = await _closed_while_asleep(client, pausing, read_all())
    assert isinstance(error, mw.StreamInterruptedError), repr(error)
    assert error.response_id == RID
    assert error.outcome_unknown is False
    assert server.count("/stream") == 1


@pytest.mark.asyncio
async def test_closing_one_client_leaves_the_waits_of_another_on_a_shared_governor() -> None:
    """Two clients share a paused governor: closing one ends only its own call's wait."""
    sleep = Asleep()
    governor = mw.RateGovernor(sleep=sleep)
    ticket = await governor.acquire()
    governor.release(ticket, 429)
    await governor.report_rate_limit(ticket, 30.0)
    first = client_of("http://127.0.0.1:9", "aiohttp", governor=governor)
    second = client_of("http://127.0.0.1:9", "aiohttp", governor=governor)
    one = asyncio.ensure_future(first.responses.get(CID, RID))
    two = asyncio.ensure_future(second.responses.get(CID, RID))
    assert await settle(lambda: governor.snapshot().waiting == 2, timeout=10.0)
    await first.aclose()
    assert isinstance(await outcome(one), mw.ClientStateError)
    for _ in range(5):
        await asyncio.sleep(0)
    assert not two.done()
    await second.aclose()
    assert isinstance(await outcome(two), mw.ClientStateError)
