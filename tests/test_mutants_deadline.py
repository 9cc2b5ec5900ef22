"""Tests written to kill the mutants of ``_deadline`` the suite let survive (docs/mutants.md).

Each pins behaviour the client and the stream's opening phase rely on: a lane shared by the
calls of one length stays registered while in use, a retired lane still times out a block
entered on it later, a finished block is never cancelled afterwards, and ``LaneTimeout``
answers as ``asyncio.Timeout`` does.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from moveworks_async._deadline import IDLE_LANES, DeadlineLane, Lanes, LaneTimeout

pytestmark = [pytest.mark.asyncio, pytest.mark.virtual_time]


def _loop_errors(loop: asyncio.AbstractEventLoop) -> list[dict[str, Any]]:
    """Record what the loop's exception handler is given (an error in a timer callback)."""
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    return errors


async def _sleeper() -> None:
    await asyncio.sleep(1000.0)


async def test_a_lane_that_rearmed_stays_the_lane_of_its_length() -> None:
    """After the timer cancels a due call and re-arms for the next one, the lane is still
    the registry's lane of that length: the next call of that length joins it (one timer),
    it does not get a lane and a timer of its own."""
    loop = asyncio.get_running_loop()
    lanes = Lanes(loop)
    lane = lanes.lane(3.0)
    first, second = asyncio.ensure_future(_sleeper()), asyncio.ensure_future(_sleeper())
    await asyncio.sleep(0)
    lane.add(first, loop.time() + 3.0)
    await asyncio.sleep(1.0)
    lane.add(second, loop.time() + 3.0)
    await asyncio.sleep(2.5)  # the first is due and cancelled, the timer re-armed
    assert first.cancelled()
    assert not second.done()
    assert lanes.lane(3.0) is lane
    assert len(lanes) == 1
    second.cancel()
    await asyncio.sleep(0)


async def test_a_standalone_lane_fires_without_an_error() -> None:
    """A lane without a registry (``owner=None``) cancels its due call and goes idle; its
    timer reports nothing to the loop's exception handler."""
    loop = asyncio.get_running_loop()
    errors = _loop_errors(loop)
    try:
        lane = DeadlineLane(loop)
        task = asyncio.ensure_future(_sleeper())
        await asyncio.sleep(0)
        entry = lane.add(task, loop.time() + 2.0)
        await asyncio.sleep(3.0)
        assert entry.expired
        assert task.cancelled()
        assert len(lane) == 0
        assert errors == []
    finally:
        loop.set_exception_handler(None)


async def test_as_many_idle_lanes_as_allowed_stay_registered() -> None:
    """A client's few call lengths keep their lanes while idle: with exactly IDLE_LANES
    lengths used and ended, every one of them is still registered (the cheap path); one
    more length makes an idle lane retire."""
    loop = asyncio.get_running_loop()
    lanes = Lanes(loop)
    task = asyncio.current_task()
    assert task is not None
    for length in range(1, IDLE_LANES + 1):
        lane = lanes.lane(float(length))
        lane.remove(lane.add(task, loop.time() + length))
    assert len(lanes) == IDLE_LANES
    lane = lanes.lane(100.0)
    lane.remove(lane.add(task, loop.time() + 100.0))
    assert len(lanes) == IDLE_LANES  # the idle lane just used retired at once


async def test_a_lane_retired_before_a_block_enters_still_times_it_out() -> None:
    """A LaneTimeout takes its lane when built; if that lane goes idle and retires before
    the block is entered, the block still ends at its deadline."""
    loop = asyncio.get_running_loop()
    lanes = Lanes(loop)
    me = asyncio.current_task()
    assert me is not None
    for length in range(1, IDLE_LANES + 1):  # fill the registry with idle lanes
        lane = lanes.lane(float(length))
        lane.remove(lane.add(me, loop.time() + length))
    lane = lanes.lane(5.0)
    other = lane.add(me, loop.time() + 5.0)
    scope = LaneTimeout(lane, loop.time() + 5.0)
    lane.remove(other)  # the lane is idle now, over the limit: it retires
    assert lanes.lane(5.0) is not lane
    start = loop.time()
    with pytest.raises(TimeoutError):
        async with scope:
            await asyncio.sleep(60.0)
    assert scope.expired()
    assert loop.time() - start == pytest.approx(5.0, abs=0.01)


async def test_a_finished_block_is_not_cancelled_at_its_old_deadline() -> None:
    """Leaving a LaneTimeout block early takes it off the lane: the task runs on past the
    block's deadline without a stray cancellation."""
    loop = asyncio.get_running_loop()
    lanes = Lanes(loop)
    lane = lanes.lane(5.0)
    scope = LaneTimeout(lane, loop.time() + 5.0)
    async with scope:
        await asyncio.sleep(1.0)
    assert len(lane) == 0
    await asyncio.sleep(10.0)  # past the old deadline: not cancelled
    assert scope.expired() is False


async def test_lane_timeout_expired_is_false_until_it_expires() -> None:
    """As ``asyncio.Timeout.expired()``: ``False`` (a bool) before the block is entered,
    inside it, and after it ended in time; disarming a block not yet entered is harmless."""
    loop = asyncio.get_running_loop()
    lanes = Lanes(loop)
    scope = LaneTimeout(lanes.lane(5.0), loop.time() + 5.0)
    assert scope.expired() is False
    scope.reschedule(None)
    scope = LaneTimeout(lanes.lane(5.0), loop.time() + 5.0)
    async with scope:
        assert scope.expired() is False
    assert scope.expired() is False


async def test_lane_timeout_errors_say_what_went_wrong() -> None:
    loop = asyncio.get_running_loop()
    scope = LaneTimeout(Lanes(loop).lane(5.0), loop.time() + 5.0)
    with pytest.raises(ValueError) as caught:
        scope.reschedule(loop.time() + 1.0)
    assert str(caught.value) == "a LaneTimeout can only be disarmed"
    # Entered outside any task (a loop callback driving the coroutine by hand).
    outcome: list[BaseException] = []

    def enter_outside_a_task() -> None:
        coro = LaneTimeout(Lanes(loop).lane(5.0), loop.time() + 5.0).__aenter__()
        try:
            coro.send(None)
        except BaseException as exc:  # recorded and asserted below
            outcome.append(exc)

    loop.call_soon(enter_outside_a_task)
    await asyncio.sleep(0)
    assert len(outcome) == 1
    assert type(outcome[0]) is RuntimeError
    assert str(outcome[0]) == "LaneTimeout must be used inside a task"
