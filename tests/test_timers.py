"""``_timers``: a timeout on the client's injected clock and sleep, with ``asyncio.timeout``'s
contract (the stream's opening phase uses it; see tests/test_stream_open_phase.py)."""

from __future__ import annotations

import asyncio

import pytest
from test_stream_open_phase import ManualTime

from moveworks_async._timers import SleepTimeout, timeout_at

pytestmark = pytest.mark.asyncio


async def _turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_expiry_by_the_injected_clock_is_a_timeout_error() -> None:
    t = ManualTime()
    timeout = SleepTimeout(10.0, t.clock, t.sleep)
    gate = asyncio.Event()

    async def body() -> None:
        async with timeout:
            await gate.wait()

    task = asyncio.ensure_future(body())
    await _turns()
    t.advance(9.9)
    await _turns()
    assert not task.done()
    assert not timeout.expired()
    t.advance(0.1)
    await _turns()
    assert task.done()
    with pytest.raises(TimeoutError):
        task.result()
    assert timeout.expired()
    assert t.sleeping() == 0


async def test_a_later_deadline_means_sleeping_again_and_none_disarms() -> None:
    t = ManualTime()
    timeout = SleepTimeout(10.0, t.clock, t.sleep)
    gate = asyncio.Event()

    async def body() -> None:
        async with timeout:
            await gate.wait()

    task = asyncio.ensure_future(body())
    await _turns()
    timeout.reschedule(20.0)
    assert timeout.when() == 20.0
    t.advance(15.0)
    await _turns()
    assert not task.done()
    timeout.reschedule(None)
    assert timeout.when() is None
    await _turns()  # the cancelled watcher's sleep unwinds
    assert t.sleeping() == 0  # disarmed: no watcher left
    t.advance(100.0)
    await _turns()
    assert not task.done()
    gate.set()
    await task  # finished in time: no error
    assert not timeout.expired()


async def test_a_block_that_ends_in_time_leaves_no_watcher() -> None:
    t = ManualTime()
    async with SleepTimeout(5.0, t.clock, t.sleep) as timeout:
        await _turns()
        assert t.sleeping() == 1
    await _turns()  # the cancelled watcher's sleep unwinds
    assert t.sleeping() == 0
    assert not timeout.expired()


async def test_an_outer_cancellation_stays_a_cancellation() -> None:
    t = ManualTime()
    timeout = SleepTimeout(5.0, t.clock, t.sleep)

    async def body() -> None:
        async with timeout:
            await asyncio.Event().wait()

    task = asyncio.ensure_future(body())
    await _turns()
    task.cancel()
    t.advance(10.0)  # the timer passes too, in the same turn
    await _turns()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_the_default_clock_gets_the_loop_timer() -> None:
    loop = asyncio.get_running_loop()
    assert isinstance(timeout_at(1.0, loop.time, asyncio.sleep, loop_timer=True), asyncio.Timeout)
    t = ManualTime()
    assert isinstance(timeout_at(1.0, t.clock, t.sleep, loop_timer=False), SleepTimeout)


async def test_a_failing_injected_sleep_fires_the_timeout_instead_of_dying_unseen() -> None:
    """An injected ``sleep`` that raises cannot be waited on: the timeout fires at once (the
    block stays bounded) and the watcher ends cleanly (no 'Task exception was never
    retrieved' when it is collected)."""
    calls: list[float] = []

    async def broken_sleep(seconds: float) -> None:
        calls.append(seconds)
        raise RuntimeError("this sleep is broken")

    timeout = SleepTimeout(10.0, lambda: 0.0, broken_sleep)
    expired_by: list[bool] = []

    async def body() -> None:
        try:
            async with timeout:
                await asyncio.Event().wait()
        except TimeoutError:
            expired_by.append(True)

    await asyncio.wait_for(body(), 5.0)  # real bound, reached only if the timeout never fires
    assert expired_by == [True]
    assert timeout.expired()
    assert calls == [10.0]
