"""pyreqwest's coroutines are awaited in the caller's own task (issue 16: a task and a future
per chunk read were most of a stream's cost per chunk on this transport, and a task per call
a large part of a call's).

The unit tests drive ``_carrying_cancel`` and ``PyreqwestTransport._exit`` with stand-ins for
pyreqwest's pyo3 coroutines (no Rust runtime is started, so they are fork-safe and run under
``nox -s mutants``); the end-to-end tests count the tasks a real stream and a real call create.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
import pytest_asyncio

import moveworks_async as mw
from moveworks_async._errors import APIConnectionError
from moveworks_async.testing import FakeMoveworks

pytest.importorskip("pyreqwest")
from moveworks_async import _transport_pyreqwest as tp


class FakeCoro:
    """A pyo3 coroutine as pyreqwest returns one: ``send`` polls (the value comes back in
    ``StopIteration``; pending, it yields the future its Rust side will wake, or ``None`` when
    woken during the poll); ``throw`` delivers a cancellation, answered with pyreqwest's own
    ``CancelledError``; ``close`` drops it."""

    def __init__(self, value: Any = b"chunk", *, waits: list[Any] | None = None) -> None:
        self.value = value
        self.waits = list(waits or [])  # what successive pending polls yield
        self.sends = 0
        self.thrown: list[BaseException] = []
        self.closed = False

    def send(self, _: None) -> Any:
        if self.closed:
            raise RuntimeError("cannot reuse already awaited coroutine")
        self.sends += 1
        while self.waits:
            wait = self.waits[0]
            if wait is None:
                self.waits.pop(0)
                return None
            if not wait.done():
                wait._asyncio_future_blocking = True
                return wait
            self.waits.pop(0)
        self.closed = True
        raise StopIteration(self.value)

    def throw(self, exc: BaseException) -> Any:
        self.thrown.append(exc)
        self.closed = True
        raise asyncio.CancelledError("Read was cancelled")

    def close(self) -> None:
        self.closed = True


def test_a_ready_coroutine_returns_without_suspending() -> None:
    """Bytes already received come back in the same step: no task, no loop turn."""
    coro = FakeCoro(b"ready")
    driver = tp._carrying_cancel(coro)
    with pytest.raises(StopIteration) as stop:
        driver.send(None)
    assert stop.value.value == b"ready"
    assert coro.sends == 1


@pytest.mark.asyncio
async def test_a_pending_coroutine_is_resumed_when_its_future_is_woken() -> None:
    loop = asyncio.get_running_loop()
    wait = loop.create_future()
    coro = FakeCoro(b"later", waits=[wait, None])
    task = asyncio.ensure_future(tp._carrying_cancel(coro))
    await asyncio.sleep(0)
    assert not task.done()
    assert coro.sends == 1
    wait.set_result(None)
    assert await task == b"later"
    assert coro.sends == 3  # woken, a bare yield (woken during a poll), then the value
    assert coro.thrown == []


@pytest.mark.asyncio
async def test_a_cancellation_keeps_its_message_and_reaches_pyreqwest() -> None:
    """The caller sees its own cancellation (anyio's scopes know theirs by the message), and
    pyreqwest is told (it drops its Rust future) before the coroutine is closed."""
    wait = asyncio.get_running_loop().create_future()
    coro = FakeCoro(waits=[wait])
    task = asyncio.ensure_future(tp._carrying_cancel(coro))
    await asyncio.sleep(0)
    task.cancel("the caller's own")
    with pytest.raises(asyncio.CancelledError) as raised:
        await task
    assert raised.value.args == ("the caller's own",)
    assert len(coro.thrown) == 1
    assert isinstance(coro.thrown[0], asyncio.CancelledError)
    assert coro.closed


def test_a_closed_driver_closes_the_coroutine_without_a_cancellation() -> None:
    """A driver dropped while suspended (its task's coroutine closed) drops pyreqwest's."""
    loop = asyncio.new_event_loop()
    try:
        coro = FakeCoro(waits=[loop.create_future()])
        driver = tp._carrying_cancel(coro)
        assert driver.send(None) is coro.waits[0]
        driver.close()
        assert coro.closed
        assert coro.thrown == []
    finally:
        loop.close()


class FakeOpener:
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class FakeResponse:
    status = 200
    headers: ClassVar[dict[str, str]] = {}

    def __init__(self, reads: list[FakeCoro]) -> None:
        self.body_reader = self
        self._reads = reads

    def read_chunk(self) -> FakeCoro:
        return self._reads.pop(0)


def _reply(*reads: FakeCoro) -> tuple[tp.PyreqwestStreamReply, FakeOpener]:
    opener = FakeOpener()
    return tp.PyreqwestStreamReply(opener, FakeResponse(list(reads))), opener  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_stream_reads_come_back_as_bytes_and_end_with_empty_bytes() -> None:
    reply, _ = _reply(FakeCoro(bytearray(b"abc")), FakeCoro(None))
    first = await reply.read_chunk()
    assert first == b"abc"
    assert type(first) is bytes
    assert not reply.ended
    assert await reply.read_chunk() == b""
    assert reply.ended


@pytest.mark.asyncio
async def test_close_stops_a_pending_read() -> None:
    """close() from another task cancels the future the read waits on: the read raises "the
    stream was closed" (not a cancellation: the reading task was not cancelled) at once, and
    pyreqwest's read is cancelled so that its close does not wait for it."""
    wait = asyncio.get_running_loop().create_future()
    read = FakeCoro(waits=[wait])
    reply, opener = _reply(read)
    task = asyncio.ensure_future(reply.read_chunk())
    await asyncio.sleep(0)
    assert reply._waiting is wait
    reply.close()
    assert wait.cancelled()
    with pytest.raises(APIConnectionError, match="the stream was closed"):
        await task
    assert len(read.thrown) == 1
    assert read.closed
    assert reply._waiting is None
    assert opener.closed == 1


@pytest.mark.asyncio
async def test_a_read_resumed_after_close_is_stopped() -> None:
    """A read woken during its poll (a bare yield: no future for close() to cancel) that
    resumes after close() is stopped before it polls again (it could wait for bytes forever)."""
    read = FakeCoro(waits=[None, asyncio.get_running_loop().create_future()])
    reply, _ = _reply(read)
    task = asyncio.ensure_future(reply.read_chunk())
    await asyncio.sleep(0)  # the read took its first step and is scheduled to resume
    assert reply._waiting is None
    reply.close()
    with pytest.raises(APIConnectionError, match="the stream was closed"):
        await task
    assert read.sends == 1
    assert len(read.thrown) == 1


@pytest.mark.asyncio
async def test_a_read_after_close_raises_without_reading() -> None:
    read = FakeCoro(b"never")
    reply, _ = _reply(read)
    reply.close()
    with pytest.raises(APIConnectionError, match="the stream was closed"):
        await reply.read_chunk()
    assert read.sends == 0


@pytest.mark.asyncio
async def test_a_cancelled_read_is_a_cancellation_of_the_reader() -> None:
    wait = asyncio.get_running_loop().create_future()
    read = FakeCoro(waits=[wait])
    reply, _ = _reply(read)
    task = asyncio.ensure_future(reply.read_chunk())
    await asyncio.sleep(0)
    task.cancel("deadline")
    with pytest.raises(asyncio.CancelledError) as raised:
        await task
    assert raised.value.args == ("deadline",)
    assert reply._waiting is None
    assert read.closed


@pytest.mark.asyncio
async def test_a_read_after_a_cancelled_read_fails_as_a_broken_connection() -> None:
    """pyreqwest drops what a cancelled read was receiving: the next read says the body is
    broken (a stream recovers by polling) rather than handing out the rest of a torn event."""
    wait = asyncio.get_running_loop().create_future()
    later = FakeCoro(b"the second half of an event")
    reply, _ = _reply(FakeCoro(waits=[wait]), later)
    task = asyncio.ensure_future(reply.read_chunk())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(APIConnectionError, match="cancelled read lost") as info:
        await reply.read_chunk()
    assert info.value.outcome_unknown
    assert later.sends == 0  # nothing more is read from the torn body


class FakeRequest:
    def __init__(self, closer: FakeCoro) -> None:
        self.closer = closer
        self.exits: list[tuple[Any, ...]] = []

    def __aexit__(self, *args: Any) -> FakeCoro:
        self.exits.append(args)
        return self.closer


@pytest.mark.asyncio
async def test_exit_closes_in_one_step_without_a_task() -> None:
    transport = tp.PyreqwestTransport()
    transport._loop = asyncio.get_running_loop()
    closer = FakeCoro(None)
    request = FakeRequest(closer)
    transport._exit(request)
    assert request.exits == [(None, None, None)]
    assert closer.sends == 1
    assert closer.closed
    assert not transport._closers


@pytest.mark.asyncio
async def test_exit_leaves_a_close_that_suspends_to_a_task() -> None:
    """A close that does not end at its first step is finished by a task of its own (never
    cut short by the caller's cancellation), which aclose() waits for; its error is dropped."""
    transport = tp.PyreqwestTransport()
    transport._loop = asyncio.get_running_loop()
    wait = transport._loop.create_future()
    closer = FakeCoro(None, waits=[wait])
    transport._exit(FakeRequest(closer))
    assert closer.sends == 1
    assert not closer.closed
    (task,) = transport._closers
    await asyncio.sleep(0)
    assert not task.done()
    wait.set_result(None)
    await task
    assert closer.sends == 2
    assert closer.closed
    assert closer.thrown == []
    assert not transport._closers


@pytest.mark.asyncio
async def test_a_failing_close_left_to_a_task_is_not_reported() -> None:
    class Failing(FakeCoro):
        def send(self, value: None) -> Any:
            if self.sends:
                raise RuntimeError("Client was closed")
            return super().send(value)

    transport = tp.PyreqwestTransport()
    transport._loop = asyncio.get_running_loop()
    wait = transport._loop.create_future()
    transport._exit(FakeRequest(Failing(waits=[wait])))
    (task,) = transport._closers
    wait.set_result(None)
    await task
    assert task.exception() is None


# --- end to end: the tasks a real stream and a real call create ------------------------------


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeMoveworks]:
    async with FakeMoveworks(stream_delay=0.002, polls_to_complete=2) as s:
        yield s


def _counting(loop: asyncio.AbstractEventLoop) -> list[Any]:
    """Record the coroutine of every task created on ``loop`` from now on that runs the
    transport's code or a pyreqwest coroutine (the fake server's own tasks are left out)."""
    seen: list[Any] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kw: Any) -> asyncio.Task[Any]:
        code = getattr(coro, "cr_code", None)
        if type(coro).__name__ == "Coroutine" or (
            code is not None and code.co_filename == tp.__file__
        ):
            seen.append(coro)
        return asyncio.Task(coro, loop=loop, **kw)

    loop.set_task_factory(factory)
    return seen


@pytest.mark.asyncio
@pytest.mark.fork_unsafe
async def test_a_stream_creates_no_task_per_read(server: FakeMoveworks) -> None:
    """Only the close of the response is a task (pyreqwest closes by a coroutine), however
    many chunks the stream reads."""
    loop = asyncio.get_running_loop()
    async with mw.AsyncMoveworks(
        assistant_name="acme-capi", token="test-token", base_url=server.url, transport="pyreqwest"
    ) as client:
        cid = (await client.conversations.create()).conversation_id
        seen = _counting(loop)
        try:
            async with client.responses.stream(cid, text="hi") as stream:
                events = [event async for event in stream]
        finally:
            loop.set_task_factory(None)
    assert len(events) >= 4  # several writes, so several reads
    assert isinstance(events[-1], mw.ResponseCompleted)
    assert len(seen) <= 1, seen


@pytest.mark.asyncio
@pytest.mark.fork_unsafe
async def test_a_call_creates_no_task(server: FakeMoveworks) -> None:
    loop = asyncio.get_running_loop()
    async with mw.AsyncMoveworks(
        assistant_name="acme-capi", token="test-token", base_url=server.url, transport="pyreqwest"
    ) as client:
        conv = await client.conversations.create()  # the reqwest client is built first
        seen = _counting(loop)
        try:
            again = await client.conversations.get(conv.conversation_id)
        finally:
            loop.set_task_factory(None)
    assert again.conversation_id == conv.conversation_id
    assert seen == []


@pytest.mark.asyncio
@pytest.mark.fork_unsafe
@pytest.mark.parametrize("status", [200, 429])
async def test_a_compressed_reply_is_decoded_once(status: int) -> None:
    """The body of a gzip reply comes back decoded, an error reply's too (that one is decoded
    while it is read, for its message only, and must not go through the inflater again)."""
    from aiohttp import web

    from moveworks_async._transport import Timeout

    plain = b'{"error": {"code": "RATE_LIMITED", "message": "slow down"}}'
    packer = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    packed = packer.compress(plain) + packer.flush()

    async def handler(_: web.Request) -> web.Response:
        return web.Response(
            status=status,
            body=packed,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    app = web.Application()
    app.router.add_get("/x", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    transport = tp.PyreqwestTransport()
    try:
        reply = await transport.request(
            "GET", f"http://127.0.0.1:{port}/x", {}, None, None, Timeout()
        )
    finally:
        await transport.aclose()
        await runner.cleanup()
    assert reply.status == status
    assert bytes(reply.body) == plain


@pytest.mark.asyncio
async def test_a_cancelled_error_body_read_keeps_the_callers_message() -> None:
    """An error reply's body is read through ``_carrying_cancel`` like every other read: a
    cancellation arriving while the shared error-body reader waits for a chunk is the
    caller's own (anyio's scopes know theirs by the message), and pyreqwest is told. (That
    reader was first handed pyreqwest's bare ``read_chunk``: the cancellation came out as
    pyreqwest's "Read was cancelled".)"""
    wait = asyncio.get_running_loop().create_future()
    read = FakeCoro(waits=[wait])
    task = asyncio.ensure_future(
        tp.read_error_body(tp._chunks(FakeResponse([read])), tp._Inflater("gzip"))
    )
    await asyncio.sleep(0)
    task.cancel("the caller's own")
    with pytest.raises(asyncio.CancelledError) as raised:
        await task
    assert raised.value.args == ("the caller's own",)
    assert len(read.thrown) == 1
    assert read.closed


@pytest.mark.asyncio
async def test_a_call_reads_its_error_body_through_the_carrying_reader(
    server: FakeMoveworks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The transport hands the error-body reader ``_chunks(body_reader)``: reads that keep a
    cancellation's message (see the test above)."""
    from moveworks_async.testing import Fault

    wrapped: list[Any] = []
    original = tp._chunks

    def recorded(reader: Any) -> Any:
        wrapped.append(reader)
        return original(reader)

    monkeypatch.setattr(tp, "_chunks", recorded)
    server.inject(Fault.status(404), times=1)
    async with mw.AsyncMoveworks(
        assistant_name="a", token="t", base_url=server.url, transport="pyreqwest"
    ) as client:
        with pytest.raises(mw.NotFoundError):
            await client.conversations.get("conv_1")
    assert len(wrapped) == 1
