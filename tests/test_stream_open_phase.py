"""A stream's opening phase (the wait before the POST, the wait for the reply's headers) is
bounded on the client's injected clock and sleep, like its reads (issue 13, item 1).

These tests run on a plain loop with a hand-driven clock: only :meth:`ManualTime.advance` moves
time, so a timeout that fires proves the SDK slept on the injected ``sleep`` and read the
injected ``clock`` (the loop's own timers would never fire within the test's real-time bound).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from _core_support import black_hole

import moveworks_async as mw

CID = "conv_open01"
_REAL_BOUND = 5.0  # real seconds; reached only when the feature is missing (the test fails)


class ManualTime:
    """A clock that moves only when the test says so; ``sleep`` parks until then."""

    def __init__(self) -> None:
        self.now = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        entry = (self.now + max(seconds, 0.0), future)
        self._sleepers.append(entry)
        try:
            await future
        finally:
            self._sleepers.remove(entry)

    def sleeping(self) -> int:
        return len(self._sleepers)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for at, future in self._sleepers:
            if at <= self.now and not future.done():
                future.set_result(None)


async def _until(condition: Any) -> None:
    """Wait (real I/O under way: the request reaching the black hole) until ``condition()``."""
    async with asyncio.timeout(_REAL_BOUND):
        while not condition():
            await asyncio.sleep(0.001)


async def _open(c: mw.AsyncMoveworks, **options: Any) -> None:
    async with c.responses.stream(CID, text="hi", max_retries=0, **options):
        pass


async def _time_out(task: asyncio.Task[None], t: ManualTime, seconds: float) -> None:
    """Advance the injected clock past the limit; the stream must fail at once."""
    t.advance(seconds)
    with contextlib.suppress(BaseException):
        await asyncio.wait_for(asyncio.shield(task), _REAL_BOUND)
    if not task.done():
        task.cancel()
        pytest.fail("the injected clock passed the limit, but the stream kept waiting")


@pytest.mark.asyncio
@pytest.mark.parametrize("option", ["first_event_timeout", "deadline"])
async def test_the_wait_for_reply_headers_is_on_the_injected_clock(option: str) -> None:
    t = ManualTime()
    async with (
        black_hole() as (url, seen),
        mw.AsyncMoveworks(
            assistant_name="acme", token="tok", base_url=url, clock=t.clock, sleep=t.sleep
        ) as c,
    ):
        task = asyncio.ensure_future(_open(c, **{option: 30.0}))
        await _until(lambda: seen)  # the POST went out; no reply will come
        await asyncio.sleep(0.01)
        t.advance(29.0)  # not yet
        await asyncio.sleep(0.01)
        assert not task.done()
        await _time_out(task, t, 1.0)
        with pytest.raises(mw.APITimeoutError) as caught:
            await task
    expected = mw.FirstEventTimeout if option == "first_event_timeout" else mw.DeadlineTimeout
    assert type(caught.value) is expected
    assert caught.value.outcome_unknown is True  # the POST went out
    if option == "first_event_timeout":
        assert str(caught.value) == "no reply within first_event_timeout"
    assert [line.split(b" ")[0] for line in seen] == [b"POST"]


@pytest.mark.asyncio
@pytest.mark.parametrize("option", ["first_event_timeout", "deadline"])
async def test_the_wait_before_the_post_is_on_the_injected_clock(option: str) -> None:
    t = ManualTime()
    async with black_hole() as (url, seen):
        creds = mw.ClientCredentials("id", "secret-open", token_url=url + "/oauth/v1/token")
        async with mw.AsyncMoveworks(
            assistant_name="acme", auth=creds, base_url=url, clock=t.clock, sleep=t.sleep
        ) as c:
            task = asyncio.ensure_future(_open(c, **{option: 30.0}))
            await _until(lambda: seen)  # the token request hangs: the POST never goes out
            await asyncio.sleep(0.01)
            await _time_out(task, t, 30.0)
            with pytest.raises(mw.APITimeoutError) as caught:
                await task
    expected = mw.FirstEventTimeout if option == "first_event_timeout" else mw.DeadlineTimeout
    assert type(caught.value) is expected
    assert caught.value.outcome_unknown is False  # nothing was sent
    limit = "first_event_timeout" if option == "first_event_timeout" else "its deadline"
    assert str(caught.value) == f"the stream did not start within {limit}"
    assert all(b"/oauth/" in line for line in seen)


@pytest.mark.asyncio
async def test_an_outer_cancellation_is_not_taken_for_the_open_timeout() -> None:
    t = ManualTime()
    async with (
        black_hole() as (url, seen),
        mw.AsyncMoveworks(
            assistant_name="acme", token="tok", base_url=url, clock=t.clock, sleep=t.sleep
        ) as c,
    ):
        task = asyncio.ensure_future(_open(c, first_event_timeout=30.0))
        await _until(lambda: seen)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert t.sleeping() == 0  # the timer's sleeper went with the stream
