"""``tests/_virtual_loop.VirtualTimeLoop``: the loop that runs the stream timeout tests in
virtual time (marker ``virtual_time``). Time jumps to the next timer only when nothing else can
happen, so a stream's real-length timeouts (60 s) cost no real time, and I/O is never skipped."""

from __future__ import annotations

import asyncio
import time

import pytest
from _stream_support import make_client

import moveworks_async as mw
from moveworks_async.testing import FakeMoveworks

pytestmark = [pytest.mark.asyncio, pytest.mark.virtual_time]

ANSWER = "The answer."


async def test_runs_on_the_virtual_loop() -> None:
    assert type(asyncio.get_running_loop()).__name__ == "VirtualTimeLoop"


async def test_an_hour_of_sleep_is_virtual() -> None:
    loop = asyncio.get_running_loop()
    start, wall = loop.time(), time.monotonic()
    await asyncio.sleep(3600)
    assert loop.time() - start == pytest.approx(3600)
    assert time.monotonic() - wall < 60  # not an hour: the loop jumped


async def test_io_ready_before_a_timer_is_served_first() -> None:
    """A reply already on its way over loopback wins over a 10 s timer: no jump past it."""

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readexactly(4))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping")
        got = await asyncio.wait_for(reader.readexactly(4), timeout=10)
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
    assert got == b"ping"
    assert loop.time() - start < 10


async def test_a_minute_long_idle_timeout_recovers_in_virtual_time() -> None:
    """idle_timeout=60 (the default) and a server that stalls 5 minutes between events: the
    stream recovers by polling; a minute and more of loop time, little real time."""
    async with (
        FakeMoveworks(stream_delay=300.0, polls_to_complete=1, answer={"hi": ANSWER}) as server,
        make_client(server.url, "v1beta1") as client,
    ):
        cid = (await client.conversations.create()).conversation_id
        loop = asyncio.get_running_loop()
        start, wall = loop.time(), time.monotonic()
        async with client.responses.stream(cid, text="hi", idle_timeout=60.0) as stream:
            events = [event async for event in stream]
        assert isinstance(events[-1], mw.ResponseCompleted)
        assert events[-1].recovered
        assert events[-1].response.text == ANSWER
        assert loop.time() - start >= 60
        assert time.monotonic() - wall < 60


async def test_settled_runs_every_task_to_its_wait_without_moving_the_clock() -> None:
    from _virtual_loop import VirtualTimeLoop

    loop = asyncio.get_running_loop()
    assert isinstance(loop, VirtualTimeLoop)
    steps: list[str] = []

    async def worker() -> None:
        for step in ("a", "b", "c"):
            steps.append(step)
            await asyncio.sleep(0)
        await asyncio.sleep(5)
        steps.append("woke")

    start = loop.time()
    task = asyncio.ensure_future(worker())
    await loop.settled()
    assert steps == ["a", "b", "c"]
    assert loop.time() == start
    await task
    assert steps[-1] == "woke"
    assert loop.time() - start == pytest.approx(5)
