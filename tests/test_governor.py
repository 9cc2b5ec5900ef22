"""RateGovernor: shared 429 pause, token bucket, concurrency cap, adaptive rate, snapshot.

Every test runs in virtual time: ``VirtualTime`` is a clock plus a sleep that parks the task
until the test's scheduler advances the clock to its wake-up time, so many concurrent tasks
see one consistent timeline and nothing waits in real time.
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest
from _virtual_loop import VirtualTimeLoop

import moveworks_async as mw
from moveworks_async._governor import Governor

pytestmark = [pytest.mark.asyncio, pytest.mark.virtual_time]

T = TypeVar("T")


class VirtualTime:
    """The governor's clock and sleep on the running :class:`VirtualTimeLoop` (these tests are
    marked ``virtual_time``): ``now`` is the loop's time plus an offset (tests start at 1000),
    ``sleep`` records each delay and sleeps on the loop, whose clock jumps to the next timer
    as soon as every task waits."""

    def __init__(self, start: float = 1000.0) -> None:
        self._start = start
        self._offset: float | None = None
        self.sleeps: list[float] = []

    def _loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    @property
    def now(self) -> float:
        if self._offset is None:
            self._offset = self._start - self._loop_time()
        return self._loop_time() + self._offset

    @now.setter
    def now(self, value: float) -> None:
        self._offset = value - self._loop_time()  # a jump of the governor's clock only

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await asyncio.sleep(max(seconds, 0.0))

    async def run(self, *coros: Awaitable[T]) -> list[T]:
        """Run ``coros`` concurrently to completion; return their results."""
        tasks = [asyncio.ensure_future(c) for c in coros]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for t in tasks:
                t.cancel()

    async def _settle(self) -> None:
        """Let every runnable task run until all wait; the clock does not move."""
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        await loop.settled()

    async def advance(self) -> None:
        """Let every task run until all wait (the loop then jumps to the next timer)."""
        await self._settle()
        await asyncio.sleep(0)


class SeqRng:
    """A deterministic ``rng`` returning the given values in turn (then the last forever)."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)

    def __call__(self) -> float:
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


@pytest.fixture
def vt() -> VirtualTime:
    """A fresh virtual clock."""
    return VirtualTime()


def gov(vt: VirtualTime, *args: Any, **kwargs: Any) -> mw.RateGovernor:
    kwargs.setdefault("rng", lambda: 0.0)
    return mw.RateGovernor(*args, clock=vt.clock, sleep=vt.sleep, **kwargs)


async def send_at(g: Governor, vt: VirtualTime, times: list[float], status: int = 200) -> int:
    """Acquire, note the virtual send time, release with ``status``; return the ticket."""
    ticket = await g.acquire()
    times.append(vt.now)
    g.release(ticket, status)
    return ticket


# --- protocol and hot path ------------------------------------------------------------------


async def test_rate_governor_implements_the_protocol() -> None:
    """RateGovernor satisfies the Governor protocol the client checks for."""
    assert isinstance(mw.RateGovernor(), Governor)


async def test_default_governor_lets_everything_through_without_waiting(vt: VirtualTime) -> None:
    """With nothing configured and no 429 yet, acquires within the window never sleep."""
    g = gov(vt)
    for _ in range(1000):
        tickets = [await g.acquire() for _ in range(8)]
        assert g.snapshot().in_flight == 8
        for t in tickets:
            g.release(t, 200)
    assert vt.sleeps == []
    snap = g.snapshot()
    assert (snap.in_flight, snap.waiting, snap.rate, snap.pause_until) == (0, 0, None, None)


async def test_try_acquire_gives_a_free_turn_without_waiting(vt: VirtualTime) -> None:
    """try_acquire: a ticket while a turn is free, None once the concurrency cap is reached."""
    g = gov(vt, max_concurrency=2)
    first, second = g.try_acquire(), g.try_acquire()
    assert first is not None
    assert second is not None
    assert g.try_acquire() is None  # the cap: the caller has to await acquire()
    assert g.snapshot().in_flight == 2
    g.release(first, 200)
    assert g.try_acquire() is not None
    assert vt.sleeps == []


async def test_try_acquire_refuses_while_paused_or_paced(vt: VirtualTime) -> None:
    """A 429 pause, or a configured rate to pace, always goes through acquire()."""
    g = gov(vt)
    ticket = g.try_acquire()
    assert ticket is not None
    await g.report_rate_limit(ticket, 2.0)
    g.release(ticket, 429)
    assert g.try_acquire() is None
    assert g.snapshot().in_flight == 0  # a refused try takes nothing
    assert gov(vt, rate=10.0).try_acquire() is None


# --- the shared 429 pause ---------------------------------------------------------------------


async def test_429_pauses_every_new_send_until_the_retry_after_moment(vt: VirtualTime) -> None:
    """After one 429 with Retry-After 2, no task is let through before t0 + 2 s."""
    g = gov(vt, adaptive=False)
    t0 = vt.now
    ticket = await g.acquire()
    g.release(ticket, 429)
    assert await g.report_rate_limit(ticket, 2.0) is True
    times: list[float] = []
    await vt.run(*(send_at(g, vt, times) for _ in range(50)))
    assert len(times) == 50
    assert min(times) >= t0 + 2.0


async def test_release_after_pause_is_gradual_with_positive_jitter(vt: VirtualTime) -> None:
    """Without a rate, waiters are released over [end, end + jitter * pause], never before."""
    rng = SeqRng(*[i / 100 for i in range(100)])
    g = mw.RateGovernor(adaptive=False, jitter=0.1, clock=vt.clock, sleep=vt.sleep, rng=rng)
    t0 = vt.now
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 10.0)
    times: list[float] = []
    await vt.run(*(send_at(g, vt, times) for _ in range(100)))
    assert min(times) >= t0 + 10.0
    assert max(times) <= t0 + 10.0 + 1.0
    assert len(set(times)) > 90  # spread out, not released in one instant


async def test_pause_uses_retry_after_in_any_unit_from_the_client() -> None:
    """The governor takes seconds; parse_retry_after turns ms and HTTP-dates into seconds."""
    from moveworks_async._protocol import parse_retry_after

    now = 1_700_000_000.0
    assert parse_retry_after({"retry-after-ms": "1500"}, now) == 1.5
    assert parse_retry_after({"retry-after": "3"}, now) == 3.0
    date = "Tue, 14 Nov 2023 22:13:27 GMT"  # now + 7 s
    assert parse_retry_after({"retry-after": date}, now) == pytest.approx(7.0)


async def test_absent_retry_after_backs_off_exponentially_from_one_second(
    vt: VirtualTime,
) -> None:
    """429s in a row without Retry-After pause 1, 2, 4, 8 s; a success resets the series."""
    g = gov(vt, adaptive=False)
    pauses = []
    for _ in range(4):
        first = (await vt.run(g.acquire()))[0]
        g.release(first, 429)
        await g.report_rate_limit(first, None)
        pauses.append(g.snapshot().paused_for)
    assert pauses == [1.0, 2.0, 4.0, 8.0]
    ticket = (await vt.run(g.acquire()))[0]
    g.release(ticket, 200)
    ticket = (await vt.run(g.acquire()))[0]
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, None)
    assert g.snapshot().paused_for == 1.0


async def test_backoff_pause_is_capped(vt: VirtualTime) -> None:
    """The exponential pause stops at backoff_cap."""
    g = gov(vt, adaptive=False, backoff_cap=5.0)
    for _ in range(6):
        ticket = (await vt.run(g.acquire()))[0]
        g.release(ticket, 429)
        await g.report_rate_limit(ticket, None)
    assert g.snapshot().paused_for == 5.0


@pytest.mark.parametrize("value", [0.0, -3.0])
async def test_non_positive_retry_after_falls_back_to_backoff(
    vt: VirtualTime, value: float
) -> None:
    """Retry-After 0 (or a clamped negative) is no hint: the 1 s backoff applies."""
    g = gov(vt, adaptive=False)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, value)
    assert g.snapshot().paused_for == 1.0


async def test_collateral_429_does_not_start_a_new_epoch(vt: VirtualTime) -> None:
    """Only the first 429 of attempts let through together is "own"; later ones are collateral."""
    g = gov(vt, adaptive=False)
    tickets = [await g.acquire() for _ in range(5)]
    for t in tickets:
        g.release(t, 429)
    results = [await g.report_rate_limit(t, 1.0) for t in tickets]
    assert results == [True, False, False, False, False]
    snap = g.snapshot()
    assert (snap.rate_limited, snap.throttle_events) == (5, 1)


async def test_collateral_429_extends_the_pause_to_its_own_moment(vt: VirtualTime) -> None:
    """A later collateral 429 with Retry-After moves the pause end: never earlier than asked."""
    g = gov(vt, adaptive=False)
    a, b = await g.acquire(), await g.acquire()
    g.release(a, 429)
    await g.report_rate_limit(a, 1.0)
    vt.now += 0.5
    g.release(b, 429)
    await g.report_rate_limit(b, 1.0)
    assert g.snapshot().paused_for == pytest.approx(1.0)


# A collateral 429's shorter Retry-After never shortens the shared pause: one test per rule.


@pytest.mark.parametrize("adaptive", [False, True], ids=["static", "adaptive"])
async def test_collateral_shorter_retry_after_at_once_keeps_the_pause(
    vt: VirtualTime, adaptive: bool
) -> None:
    """Rule 1: a collateral 429 asking 1 s right after an own 429 asking 5 s: still 5 s."""
    g = gov(vt, adaptive=adaptive)
    a, b = await g.acquire(), await g.acquire()
    t0 = vt.now
    g.release(a, 429)
    assert await g.report_rate_limit(a, 5.0)
    g.release(b, 429)
    assert not await g.report_rate_limit(b, 1.0)
    assert g.snapshot().pause_until == pytest.approx(t0 + 5.0)


async def test_collateral_shorter_retry_after_later_keeps_the_pause(vt: VirtualTime) -> None:
    """Rule 2: 2 s into a 5 s pause, a collateral 429 asking 1 s (ends at 3 s): still 5 s."""
    g = gov(vt)
    a, b = await g.acquire(), await g.acquire()
    t0 = vt.now
    g.release(a, 429)
    await g.report_rate_limit(a, 5.0)
    vt.now += 2.0
    g.release(b, 429)
    await g.report_rate_limit(b, 1.0)
    assert g.snapshot().pause_until == pytest.approx(t0 + 5.0)


async def test_collateral_without_retry_after_keeps_the_pause(vt: VirtualTime) -> None:
    """Rule 3: a collateral 429 with no Retry-After (backoff 1 s) inside a 5 s pause: 5 s."""
    g = gov(vt, backoff_base=1.0)
    a, b, c = await g.acquire(), await g.acquire(), await g.acquire()
    t0 = vt.now
    g.release(a, 429)
    await g.report_rate_limit(a, 5.0)
    g.release(b, 429)
    await g.report_rate_limit(b, None)
    vt.now += 3.0
    g.release(c, 429)
    await g.report_rate_limit(c, None)
    assert g.snapshot().pause_until is not None
    assert g.snapshot().pause_until >= t0 + 5.0


@pytest.mark.parametrize("value", [0.0, -3.0])
async def test_collateral_non_positive_retry_after_keeps_the_pause(
    vt: VirtualTime, value: float
) -> None:
    """Rule 4: a collateral Retry-After of 0 or below is no hint and shortens nothing."""
    g = gov(vt)
    a, b = await g.acquire(), await g.acquire()
    t0 = vt.now
    g.release(a, 429)
    await g.report_rate_limit(a, 5.0)
    g.release(b, 429)
    await g.report_rate_limit(b, value)
    assert g.snapshot().pause_until == pytest.approx(t0 + 5.0)


@pytest.mark.parametrize("rate", [None, 10.0], ids=["unpaced", "paced"])
async def test_tasks_waiting_in_the_pause_are_not_released_early_by_a_collateral(
    vt: VirtualTime, rate: float | None
) -> None:
    """Rule 5: tasks waiting when a shorter collateral 429 arrives, and tasks arriving after
    its moment, still wait the whole pause (unpaced waiters and the rate-paced FIFO line)."""
    g = gov(vt, rate, burst=1 if rate else None, adaptive=False)
    a = await g.acquire()
    vt.now += 0.2  # the second attempt goes one slot later when paced
    b = (await vt.run(g.acquire()))[0]
    t0 = vt.now
    g.release(a, 429)
    await g.report_rate_limit(a, 5.0)
    times: list[float] = []
    waiters = [asyncio.ensure_future(send_at(g, vt, times)) for _ in range(3)]
    await vt._settle()
    g.release(b, 429)
    assert not await g.report_rate_limit(b, 0.5)
    vt.now += 1.0  # after the collateral's moment: newcomers wait for the pause too
    waiters += [asyncio.ensure_future(send_at(g, vt, times)) for _ in range(3)]
    await vt.run(*waiters)
    assert len(times) == 6
    assert min(times) >= t0 + 5.0


async def test_long_pause_fails_fast_with_rate_limit_error(vt: VirtualTime) -> None:
    """A pause above max_wait raises RateLimitError at once, with the time left."""
    g = gov(vt, max_wait=60.0)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 121.0)
    with pytest.raises(mw.RateLimitError) as info:
        await g.acquire()
    assert info.value.retry_after == pytest.approx(121.0)
    assert info.value.status_code == 429
    assert vt.sleeps == []
    assert g.snapshot().waiting == 0


async def test_absurd_retry_after_is_capped_at_max_pause(vt: VirtualTime) -> None:
    """A Retry-After of a billion seconds pauses for max_pause, not 31 years."""
    g = gov(vt, max_pause=3600.0)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 1e9)
    assert g.snapshot().paused_for == 3600.0


async def test_pause_ends_and_fast_path_returns_without_a_rate(vt: VirtualTime) -> None:
    """A non-adaptive governor with no limits goes back to zero-cost acquires after a pause."""
    g = gov(vt, adaptive=False)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 1.0)
    await vt.run(send_at(g, vt, []))
    count = len(vt.sleeps)
    for _ in range(10):
        g.release(await g.acquire(), 200)
    assert len(vt.sleeps) == count
    assert g.snapshot().pause_until is None


# --- token bucket --------------------------------------------------------------------------------


async def test_token_bucket_allows_burst_then_paces_at_rate(vt: VirtualTime) -> None:
    """rate=10, burst=5: five sends at once, then one every 0.1 s."""
    g = gov(vt, rate=10, burst=5)
    t0 = vt.now
    times: list[float] = []
    await vt.run(*(send_at(g, vt, times) for _ in range(15)))
    offsets = sorted(round(t - t0, 6) for t in times)
    assert offsets[:5] == [0.0] * 5
    assert offsets[5:] == pytest.approx([0.1 * i for i in range(1, 11)])


async def test_token_bucket_never_exceeds_rate_plus_burst_in_any_second(vt: VirtualTime) -> None:
    """1,000 tasks through rate=200, burst=200: no 1 s window holds more than 400 sends."""
    g = gov(vt, rate=200, burst=200)
    times: list[float] = []
    await vt.run(*(send_at(g, vt, times) for _ in range(1000)))
    times.sort()
    worst = max(bisect.bisect_left(times, start + 1.0) - i for i, start in enumerate(times))
    assert worst <= 400
    assert times[-1] - times[0] == pytest.approx(4.0, abs=0.01)


async def test_waiters_are_served_in_fifo_order(vt: VirtualTime) -> None:
    """Tasks queued behind the bucket are let through in arrival order."""
    g = gov(vt, rate=1, burst=1)
    order: list[int] = []

    async def one(i: int) -> None:
        ticket = await g.acquire()
        order.append(i)
        g.release(ticket, 200)

    await vt.run(*(one(i) for i in range(10)))
    assert order == list(range(10))


async def test_cancelled_waiter_leaves_the_line(vt: VirtualTime) -> None:
    """Cancelling a task waiting in the line neither blocks nor skips the others."""
    g = gov(vt, rate=1, burst=1)
    times: list[float] = []
    g.release(await g.acquire(), 200)
    head = asyncio.ensure_future(send_at(g, vt, times))
    middle = asyncio.ensure_future(send_at(g, vt, times))
    tail = asyncio.ensure_future(send_at(g, vt, times))
    await vt._settle()
    middle.cancel()
    await vt.run(asyncio.gather(head, tail))
    assert len(times) == 2
    assert g.snapshot().waiting == 0


async def test_429_empties_the_bucket_and_pause_refills_it(vt: VirtualTime) -> None:
    """After a 429 and a 1 s pause, a rate=10 burst=5 bucket holds 5 tokens (not more)."""
    g = gov(vt, rate=10, burst=5, adaptive=False)
    ticket = await g.acquire()
    g.release(ticket, 429)
    t0 = vt.now
    await g.report_rate_limit(ticket, 1.0)
    times: list[float] = []
    await vt.run(*(send_at(g, vt, times) for _ in range(7)))
    offsets = sorted(round(t - t0, 6) for t in times)
    assert offsets == pytest.approx([1.0] * 5 + [1.1, 1.2])


async def test_429_while_queued_applies_to_everyone_in_line(vt: VirtualTime) -> None:
    """Tasks already queued for a rate slot wait for a pause that starts after they queued."""
    g = gov(vt, rate=10, burst=1, adaptive=False)
    first = await g.acquire()
    times: list[float] = []
    queued = [asyncio.ensure_future(send_at(g, vt, times)) for _ in range(3)]
    await vt._settle()
    t0 = vt.now
    g.release(first, 429)
    await g.report_rate_limit(first, 5.0)
    await vt.run(asyncio.gather(*queued))
    assert min(times) >= t0 + 5.0


# --- concurrency cap --------------------------------------------------------------------------


async def test_concurrency_cap_holds_the_third_attempt(vt: VirtualTime) -> None:
    """max_concurrency=2: a third acquire waits until one of the two is released."""
    g = gov(vt, max_concurrency=2)
    a, b = await g.acquire(), await g.acquire()
    third = asyncio.ensure_future(g.acquire())
    await vt._settle()
    assert not third.done()
    snap = g.snapshot()
    assert (snap.in_flight, snap.waiting, snap.max_concurrency) == (2, 1, 2)
    g.release(a, 200)
    await vt._settle()
    assert third.done()
    assert g.snapshot().in_flight == 2
    g.release(b, 200)
    g.release(third.result(), 200)
    assert g.snapshot().in_flight == 0


async def test_cancelled_concurrency_waiter_does_not_leak_a_slot(vt: VirtualTime) -> None:
    """A waiter cancelled while queued for a slot leaves in_flight and the queue consistent."""
    g = gov(vt, max_concurrency=1)
    a = await g.acquire()
    waiter = asyncio.ensure_future(g.acquire())
    await vt._settle()
    waiter.cancel()
    await vt._settle()
    g.release(a, 200)
    b = await g.acquire()
    assert g.snapshot().in_flight == 1
    g.release(b, 200)
    assert g.snapshot().in_flight == 0


async def test_concurrency_never_exceeds_cap_under_load(vt: VirtualTime) -> None:
    """200 tasks with random hold times never have more than 5 attempts in flight."""
    g = gov(vt, max_concurrency=5)
    peak = 0

    async def one(i: int) -> None:
        nonlocal peak
        ticket = await g.acquire()
        peak = max(peak, g.snapshot().in_flight)
        await vt.sleep(0.01 * (i % 7 + 1))
        g.release(ticket, 200)

    await vt.run(*(one(i) for i in range(200)))
    assert peak == 5
    assert g.snapshot().in_flight == 0


# --- adaptive mode -------------------------------------------------------------------------------


async def _call(
    g: Governor,
    vt: VirtualTime,
    server: _ServerBucket | None,
    stats: dict[str, int],
    rtt: float = 0.002,
    retry_after: float = 1.0,
) -> None:
    """One call as the client makes it: acquire, send (``rtt``), release, report a 429, retry."""
    while True:
        ticket = await g.acquire()
        stats["sent"] = stats.get("sent", 0) + 1
        await vt.sleep(rtt)
        if server is None or server.take():
            g.release(ticket, 200)
            return
        stats["429"] = stats.get("429", 0) + 1
        g.release(ticket, 429)
        await g.report_rate_limit(ticket, retry_after)


async def _learned(vt: VirtualTime, **kwargs: Any) -> mw.RateGovernor:
    """A default governor that learned a rate: 100 accepted in 0.1 s, then a 429 (R = 1 s)."""
    g = gov(vt, **kwargs)
    await vt.run(*(_call(g, vt, None, {}) for _ in range(400)))  # opens the window
    assert (g.snapshot().window or 0) > 101
    vt.now += 2.0  # idle: the measurement starts afresh
    tickets = [await g.acquire() for _ in range(101)]
    vt.now += 0.1
    for t in tickets[:100]:
        g.release(t, 200)
    g.release(tickets[100], 429)
    assert await g.report_rate_limit(tickets[100], 1.0)
    return g


async def test_adaptive_rate_learns_accepted_over_busy_time_plus_pause(vt: VirtualTime) -> None:
    """100 accepted in 0.1 s, then a 429 with Retry-After 1: learned rate = 100 / 1.1 s."""
    g = await _learned(vt)
    assert g.rate == pytest.approx(100 / 1.1)


async def test_collateral_429s_do_not_adapt_the_rate_again(vt: VirtualTime) -> None:
    """Only the first 429 of an epoch lowers the rate; the ones in flight with it do not."""
    g = gov(vt, rate=100, adapt_below_rate=True)
    tickets = [await g.acquire() for _ in range(5)]
    g.release(tickets[0], 429)
    assert await g.report_rate_limit(tickets[0], 1.0)
    assert g.rate == pytest.approx(70)
    for t in tickets[1:]:
        g.release(t, 429)
        assert not await g.report_rate_limit(t, 1.0)
    assert g.rate == pytest.approx(70)


@pytest.mark.parametrize("accepted", [0, 1, 5, 19, 20, 100])
async def test_a_429_never_pulls_the_rate_below_beta_times_the_rate_in_force(
    vt: VirtualTime, accepted: int
) -> None:
    """Invariant 1: whatever the window held, the new rate is >= 0.7 x the rate in force."""
    g = gov(vt, rate=200, burst=200, adapt_below_rate=True)
    tickets = [await g.acquire() for _ in range(accepted + 1)]
    vt.now += 0.01
    for t in tickets[:accepted]:
        g.release(t, 200)
    g.release(tickets[-1], 429)
    await g.report_rate_limit(tickets[-1], 1.0)
    assert g.rate is not None
    assert g.rate >= 0.7 * 200 - 1e-9


async def test_repeated_429s_lower_a_learned_rate_by_beta_each(vt: VirtualTime) -> None:
    """Each 429 that starts a pause lowers a learned rate, by at most 0.7x (to what the
    window measured across its epochs when that is higher), never below min_rate."""
    g = await _learned(vt, min_rate=20)
    rate = g.rate
    assert rate is not None
    for _ in range(8):
        ticket = (await vt.run(g.acquire()))[0]
        g.release(ticket, 429)
        await g.report_rate_limit(ticket, 0.5)
        assert g.rate is not None
        assert max(20.0, 0.7 * rate) - 1e-9 <= g.rate < rate
        rate = g.rate
    assert g.rate == 20.0


@pytest.mark.parametrize("accepted", [0, 1, 19])
async def test_a_tiny_window_is_not_a_measurement(vt: VirtualTime, accepted: int) -> None:
    """Invariant 1: with no rate in force, fewer than 20 replies set no rate at all."""
    g = gov(vt)
    tickets = [await g.acquire() for _ in range(min(accepted + 1, 8))]
    for t in tickets[:-1]:
        g.release(t, 200)
    for _ in range(accepted - len(tickets) + 1):
        g.release(await g.acquire(), 200)
    g.release(tickets[-1], 429)
    await g.report_rate_limit(tickets[-1], 1.0)
    assert g.rate is None


async def test_issue_11_one_off_429_on_the_second_call_costs_one_pause(vt: VirtualTime) -> None:
    """Invariant 2, the issue's case: rate=200, 200 creates, the 2nd answered 429 + R = 1.

    Afterwards the rate is still 200 and the next 20 calls take well under 2 s (they took
    209 s before)."""
    g = gov(vt, rate=200, burst=200)
    calls = {"n": 0}

    async def create() -> None:
        while True:
            ticket = await g.acquire()
            calls["n"] += 1
            refused = calls["n"] == 2
            await vt.sleep(0.05)
            if not refused:
                g.release(ticket, 200)
                return
            g.release(ticket, 429)
            await g.report_rate_limit(ticket, 1.0)

    t0 = vt.now
    await vt.run(*(create() for _ in range(200)))
    assert vt.now - t0 <= 1.0 + 0.1 + 0.2  # the pause, a round trip, jitter
    assert g.rate == 200
    t1 = vt.now
    await vt.run(*(create() for _ in range(20)))
    assert vt.now - t1 <= 2.0
    assert vt.now - t1 < 0.2


@pytest.mark.parametrize("fail_call", [2, 50])
async def test_default_governor_recovers_from_a_one_off_429(
    vt: VirtualTime, fail_call: int
) -> None:
    """Invariant 2 for the default governor: a one-off 429 early or on the 50th call."""
    g = gov(vt)
    calls = {"n": 0}

    async def create() -> None:
        while True:
            ticket = await g.acquire()
            calls["n"] += 1
            refused = calls["n"] == fail_call
            await vt.sleep(0.002)
            if not refused:
                g.release(ticket, 200)
                return
            g.release(ticket, 429)
            await g.report_rate_limit(ticket, 1.0)

    await vt.run(*(create() for _ in range(200)))
    t1 = vt.now
    await vt.run(*(create() for _ in range(20)))
    assert vt.now - t1 <= 2.0
    t1 = vt.now
    await vt.run(*(create() for _ in range(200)))
    assert vt.now - t1 <= 2.5


@pytest.mark.parametrize("origin", ["learned", "adapt_below_rate"])
async def test_rate_is_back_to_90_percent_within_retry_after_plus_5_s(
    vt: VirtualTime, origin: str
) -> None:
    """Invariant 2: after an isolated 429 (R = 1) the rate drops to 0.7x and is back to
    >= 90 % of the previous rate within R + 5 s of demand; 20 calls never take 2 s."""
    if origin == "learned":
        g = await _learned(vt)  # a rate in force learned by a first 429
    else:
        g = gov(vt, rate=400, burst=400, adapt_below_rate=True)
    before = g.rate
    assert before is not None
    ticket = (await vt.run(g.acquire()))[0]
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 1.0)
    assert g.rate == pytest.approx(0.7 * before)
    t0 = vt.now
    rates: list[tuple[float, float | None]] = []
    first_20: list[float] = []

    async def worker() -> None:
        while vt.now < t0 + 6.5:
            await _call(g, vt, None, {})
            if len(first_20) < 20:
                first_20.append(vt.now)

    async def sampler() -> None:
        while vt.now < t0 + 6.0:
            rates.append((vt.now - t0, g.rate))
            await vt.sleep(0.05)

    await vt.run(sampler(), *(worker() for _ in range(50)))
    reached = [t for t, r in rates if r is None or r >= 0.9 * before]
    assert reached, rates
    assert reached[0] <= 1.0 + 5.0
    assert first_20[-1] - t0 <= 1.0 + 2.0  # the pause, then 20 calls in under 2 s


async def test_configured_rate_pauses_then_resumes_at_the_configured_rate(
    vt: VirtualTime,
) -> None:
    """Invariant 3: rate=100: a 429 pauses for its Retry-After, then 100/s again."""
    g = gov(vt, rate=100, burst=1)
    ticket = await g.acquire()
    g.release(ticket, 429)
    t0 = vt.now
    await g.report_rate_limit(ticket, 2.0)
    assert g.rate == 100
    times: list[float] = []
    await vt.run(*(send_at(g, vt, times) for _ in range(101)))
    times.sort()
    assert times[0] >= t0 + 2.0
    assert times[-1] - times[0] == pytest.approx(1.0, abs=0.02)  # 100 intervals at 100/s
    assert g.rate == 100


async def test_adapt_below_rate_lets_429s_lower_a_configured_rate(vt: VirtualTime) -> None:
    """Invariant 3, the opt-in: adapt_below_rate=True lowers the rate (0.7x) on a 429."""
    g = gov(vt, rate=100, adapt_below_rate=True)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 1.0)
    assert g.rate == pytest.approx(70)


async def test_learned_rate_never_exceeds_configured_ceiling(vt: VirtualTime) -> None:
    """With rate=100 and adapt_below_rate, regrowth while saturated stops at 100."""
    g = gov(vt, rate=100, burst=1, adapt_below_rate=True)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 0.01)
    times: list[float] = []
    await vt.run(*(send_at(g, vt, times) for _ in range(3000)))
    assert g.rate == pytest.approx(100)
    times.sort()
    assert times[-1] - times[0] >= 2999 / 100 - 1


async def test_adaptive_false_keeps_the_configured_rate(vt: VirtualTime) -> None:
    """adaptive=False: a 429 pauses but never changes the rate."""
    g = gov(vt, rate=100, adaptive=False, adapt_below_rate=True)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 1.0)
    assert g.rate == 100


async def test_learned_rate_far_above_the_last_429_is_dropped(vt: VirtualTime) -> None:
    """Without a configured rate, a learned rate that regrows to 16x W_max without a 429
    (slow start to 2x the measurement, then ~9 s of CUBIC probing) is dropped: the governor
    is unlimited (and on its free path) again."""
    g = await _learned(vt)
    assert g.rate is not None
    await vt.run(*(_call(g, vt, None, {}) for _ in range(3000)))
    assert g.rate is not None  # not after ~1 s of demand (review defect 4)
    await vt.run(*(_call(g, vt, None, {}) for _ in range(30000)))
    assert g.rate is None
    assert g.try_acquire() is not None


# --- the first wave --------------------------------------------------------------------------


async def test_default_governor_first_wave_is_a_slow_start_window(vt: VirtualTime) -> None:
    """No rate known: 32 attempts in flight at first, +0.5 per accepted reply while full."""
    g = gov(vt, max_concurrency=1000)
    waiters = [asyncio.ensure_future(g.acquire()) for _ in range(100)]
    await vt._settle()
    assert g.snapshot().in_flight == 32
    assert g.snapshot().window == 32
    granted = [w.result() for w in waiters if w.done()]
    for t in granted:
        g.release(t, 200)
    await vt._settle()
    assert g.snapshot().window == 48
    assert g.snapshot().in_flight == 48
    for w in waiters:
        w.cancel()


async def test_window_halves_on_a_429_but_not_below_its_start(vt: VirtualTime) -> None:
    """A 429 that starts a pause halves the window (never below 32); collateral ones do not."""
    g = gov(vt)
    await vt.run(*(_call(g, vt, None, {}) for _ in range(400)))
    window = g.snapshot().window
    assert window is not None
    assert window >= 128
    tickets = [await g.acquire() for _ in range(3)]
    g.release(tickets[0], 429)
    await g.report_rate_limit(tickets[0], 1.0)
    assert g.snapshot().window == window // 2
    for t in tickets[1:]:
        g.release(t, 429)
        await g.report_rate_limit(t, 1.0)
    assert g.snapshot().window == window // 2
    for _ in range(10):
        ticket = (await vt.run(g.acquire()))[0]
        g.release(ticket, 429)
        await g.report_rate_limit(ticket, 0.1)
    assert g.snapshot().window == 32


async def test_window_does_not_grow_when_it_is_not_what_holds_tasks_back(
    vt: VirtualTime,
) -> None:
    """An hour of one call at a time leaves the window as it was: a later storm is bounded."""
    g = gov(vt)
    for _ in range(1000):
        g.release(await g.acquire(), 200)
    assert g.snapshot().window == 32
    assert vt.sleeps == []


async def test_window_stops_at_max_concurrency(vt: VirtualTime) -> None:
    """The window never lets more than max_concurrency through."""
    g = gov(vt, max_concurrency=20)
    peak = 0

    async def call() -> None:
        nonlocal peak
        ticket = await g.acquire()
        peak = max(peak, g.snapshot().in_flight)
        await vt.sleep(0.002)
        g.release(ticket, 200)

    await vt.run(*(call() for _ in range(500)))
    assert peak == 20
    assert (g.snapshot().window or 0) <= 20


@pytest.mark.parametrize("rtt", [0.1, 0.2])
async def test_storm_at_realistic_latency_stays_within_10_percent(
    vt: VirtualTime, rtt: float
) -> None:
    """Review defect 2: with replies taking 100-200 ms the first wave overshot by 1.2-1.5x.
    1,000 calls, pool 1,000, 100/s burst 100: <= 1,100 requests, <= 1.2 x 10 s."""
    server = _ServerBucket(vt, rate=100, burst=100)
    g = gov(vt, max_concurrency=1000)
    stats: dict[str, int] = {}
    t0 = vt.now
    await vt.run(*(_call(g, vt, server, stats, rtt=rtt) for _ in range(1000)))
    assert stats["sent"] <= 1100, stats
    assert vt.now - t0 <= 1.2 * 10.0


async def test_storm_against_a_small_burst_server_learns_a_rate(vt: VirtualTime) -> None:
    """Review defect 1: against 100/s with burst 10 no epoch held 20 accepted replies, so no
    rate was ever learned (2.0x requests, 98 s for 1,000 calls). Now the epochs add up."""
    server = _ServerBucket(vt, rate=100, burst=10)
    g = gov(vt, max_concurrency=1000)
    stats: dict[str, int] = {}
    t0 = vt.now
    await vt.run(*(_call(g, vt, server, stats, rtt=0.004) for _ in range(1000)))
    assert g.rate is not None
    assert stats["sent"] <= 1100, stats
    assert vt.now - t0 <= 30.0


async def test_storm_with_a_long_retry_after_keeps_its_learned_rate(vt: VirtualTime) -> None:
    """Review defect 4: with Retry-After 5 the pause deflated the measurement (~21/s for
    100/s) and the learned rate was dropped within ~1 s, so 429s kept coming (35.6 s)."""
    server = _ServerBucket(vt, rate=100, burst=100)
    g = gov(vt, max_concurrency=1000)
    stats: dict[str, int] = {}
    t0 = vt.now
    await vt.run(*(_call(g, vt, server, stats, rtt=0.004, retry_after=5.0) for _ in range(1000)))
    assert stats["sent"] <= 1100, stats
    assert g.rate is not None
    assert g.rate >= 70.0  # kept, near the server's 100/s
    assert vt.now - t0 <= 32.0  # first pause 5 s + 9 s of sending + ~3 more pauses


async def test_a_long_pause_counts_as_one_second_of_refill(vt: VirtualTime) -> None:
    """Review defect 4: 100 accepted in 0.1 s, then a 429 with Retry-After 5 measures
    100 / (0.1 + 1) s, as with Retry-After 1 (it measured 100 / 5.1 s)."""
    g = gov(vt)
    await vt.run(*(_call(g, vt, None, {}) for _ in range(400)))  # opens the window
    vt.now += 2.0
    tickets = [await g.acquire() for _ in range(101)]
    vt.now += 0.1
    for t in tickets[:100]:
        g.release(t, 200)
    g.release(tickets[100], 429)
    assert await g.report_rate_limit(tickets[100], 5.0)
    assert g.rate == pytest.approx(100 / 1.1)


async def test_a_second_pause_without_a_measurement_starts_a_paced_probe(vt: VirtualTime) -> None:
    """Small-burst server: each epoch holds only 7 accepted replies, fewer than a measurement
    needs. The first pause sets no rate (it may be a one-off); the second shows a real limit,
    so the governor paces from the low estimate (accepted / (busy + 1 s per pause)) with
    burst 1 (a window sent at once says nothing about a rate). Until govfix2 the rate stayed
    unset until 20 replies had accumulated over many pauses."""
    g = gov(vt)
    rates = []
    for _ in range(2):
        tickets = [await g.acquire() for _ in range(8)]
        for t in tickets[:7]:
            vt.now += 0.01
            g.release(t, 200)
        g.release(tickets[7], 429)
        await g.report_rate_limit(tickets[7], 1.0)
        rates.append(g.rate)
        vt.now = g.snapshot().pause_until or vt.now
    assert rates[0] is None
    assert rates[1] == pytest.approx(14 / (2 * 0.07 + 2 * 1.0))
    assert g.snapshot().burst == 1.0


async def _strict_call(
    g: Governor, vt: VirtualTime, server: _ServerBucket, stats: dict[str, int], rtt: float
) -> None:
    """As ``_call``, but gives up as the client's default RetryPolicy does (2 retries for
    its own 429s, 3 more for collateral ones) and counts the calls that failed."""
    retries = grace = 0
    while True:
        ticket = await g.acquire()
        stats["sent"] = stats.get("sent", 0) + 1
        await vt.sleep(rtt)
        if server.take():
            g.release(ticket, 200)
            return
        g.release(ticket, 429)
        if await g.report_rate_limit(ticket, 1.0) or grace >= 3:
            retries += 1
        else:
            grace += 1
        if retries > 2:
            stats["failed"] = stats.get("failed", 0) + 1
            return


@pytest.mark.parametrize("burst", [1, 10])
async def test_storm_against_a_small_burst_server_fails_no_call(
    vt: VirtualTime, burst: int
) -> None:
    """1,000 concurrent calls, default governor, server 100/s with burst 1 or 10, 4 ms replies:
    no call fails with RateLimitError, <= 1.1x requests, wall <= 2.5x the ideal (virtual time).
    Before govfix2 burst 1 failed ~300 calls and took ~24x the ideal: each 1 s epoch sent the
    window of 32 at once and the server took one."""
    server = _ServerBucket(vt, rate=100, burst=burst)
    g = gov(vt)
    stats: dict[str, int] = {}
    t0 = vt.now
    await vt.run(*(_strict_call(g, vt, server, stats, rtt=0.004) for _ in range(1000)))
    assert stats.get("failed", 0) == 0, stats
    assert stats["sent"] <= 1100, stats
    assert vt.now - t0 <= 2.5 * (1000 - burst) / 100, vt.now - t0


async def test_slow_start_costs_little_at_high_latency(vt: VirtualTime) -> None:
    """Review defect 3: 64 calls at once with 300 ms replies and no server limit took four
    round trips (1.25 s) through the window; now two (the window starts at 32)."""
    g = gov(vt)
    t0 = vt.now
    await vt.run(*(_call(g, vt, None, {}, rtt=0.3) for _ in range(64)))
    assert vt.now - t0 <= 0.6 + 1e-9


@pytest.mark.parametrize("pool", [100, 1000, 2000])
async def test_storm_against_a_token_bucket_stays_within_10_percent(
    vt: VirtualTime, pool: int
) -> None:
    """1,000 concurrent calls, default governor, pool 100/1,000/2,000, server 100/s burst 100:
    <= 1,100 requests, <= 1.2 x the ideal 10 s (virtual time), every call succeeds."""
    server = _ServerBucket(vt, rate=100, burst=100)
    g = gov(vt, max_concurrency=pool)
    stats: dict[str, int] = {}
    t0 = vt.now
    await vt.run(*(_call(g, vt, server, stats, rtt=0.004) for _ in range(1000)))
    assert stats["sent"] <= 1100, stats
    assert vt.now - t0 <= 1.2 * 10.0


async def test_storm_through_a_configured_rate_sends_at_most_5_percent_more(
    vt: VirtualTime,
) -> None:
    """1,000 concurrent calls through RateGovernor(rate=100, burst=100): <= 1,050 requests."""
    server = _ServerBucket(vt, rate=100, burst=100)
    g = gov(vt, rate=100, burst=100)
    stats: dict[str, int] = {}
    await vt.run(*(_call(g, vt, server, stats, rtt=0.004) for _ in range(1000)))
    assert stats["sent"] <= 1050, stats


async def test_adaptive_rate_converges_to_a_simulated_server_limit(vt: VirtualTime) -> None:
    """Against a simulated 50/s token bucket server, 2,000 tasks all succeed with few 429s."""
    server = _ServerBucket(vt, rate=50, burst=50)
    g = gov(vt)
    stats: dict[str, int] = {}
    t0 = vt.now
    await vt.run(*(_call(g, vt, server, stats, rtt=0.001) for _ in range(2000)))
    assert stats["sent"] <= 2000 * 1.1, stats
    assert vt.now - t0 <= 2000 / 50 * 1.1


async def test_second_wave_after_learning_costs_almost_nothing(vt: VirtualTime) -> None:
    """Once the rate is learned, a second wave of 1,000 tasks sees at most 10 % extra sends."""
    server = _ServerBucket(vt, rate=200, burst=200)
    g = gov(vt)
    stats: dict[str, int] = {}
    await vt.run(*(_call(g, vt, server, stats) for _ in range(1000)))
    assert stats["sent"] <= 1100
    stats.clear()
    await vt.run(*(_call(g, vt, server, stats) for _ in range(1000)))
    assert stats["sent"] <= 1100, stats


async def test_adaptive_concurrency_halves_on_429_and_grows_on_success(vt: VirtualTime) -> None:
    """adaptive='concurrency': limit from in-flight halves on 429, +1 per limit successes."""
    g = gov(vt, adaptive="concurrency")
    tickets = [await g.acquire() for _ in range(40)]
    g.release(tickets[0], 429)
    await g.report_rate_limit(tickets[0], 0.1)
    assert g.snapshot().max_concurrency == 20
    assert g.rate is None
    for t in tickets[1:]:
        g.release(t, 200)
    grown = []
    for _ in range(45):
        ticket = (await vt.run(g.acquire()))[0]
        g.release(ticket, 200)
        grown.append(g.snapshot().max_concurrency)
    assert grown[-1] == 22


async def test_adaptive_concurrency_respects_the_configured_cap(vt: VirtualTime) -> None:
    """The grown concurrency limit never passes max_concurrency."""
    g = gov(vt, max_concurrency=4, adaptive="both")
    for _ in range(200):
        ticket = await g.acquire()
        g.release(ticket, 200)
    assert g.snapshot().max_concurrency == 4


# --- observability ---------------------------------------------------------------------------


async def test_snapshot_reports_rate_pause_waiting_and_counts(vt: VirtualTime) -> None:
    """snapshot() shows the learned rate, the pause, the waiting tasks and the 429s seen."""
    g = gov(vt, rate=50, burst=10)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 3.0)
    waiters = [asyncio.ensure_future(g.acquire()) for _ in range(4)]
    await vt._settle()
    snap = g.snapshot()
    assert snap.rate is not None
    assert snap.rate <= 50
    assert snap.burst == 10
    assert snap.waiting == 4
    assert snap.pause_until == pytest.approx(vt.now + 3.0)
    assert snap.paused_for == pytest.approx(3.0)
    assert (snap.rate_limited, snap.throttle_events) == (1, 1)
    assert "rate_limited=1" in repr(g)
    for w in waiters:
        w.cancel()
    await vt._settle()
    assert g.snapshot().waiting == 0


async def test_on_wait_reports_delay_and_reason(vt: VirtualTime) -> None:
    """The on_wait callback hears each wait: 'paused' after a 429, 'rate' behind the bucket."""
    g = gov(vt, rate=10, burst=1, adaptive=False)
    seen: list[tuple[float | None, str]] = []

    async def on_wait(delay: float | None, reason: str) -> None:
        seen.append((delay, reason))

    g.release(await g.acquire(on_wait), 200)
    await vt.run(g.acquire(on_wait))
    assert [reason for _, reason in seen] == ["rate"]
    assert seen[0][0] == pytest.approx(0.1)
    ticket = (await vt.run(g.acquire(on_wait)))[0]
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 2.0)
    seen.clear()
    await vt.run(g.acquire(on_wait))
    assert seen[0][1] == "paused"
    assert seen[0][0] == pytest.approx(2.0)


async def test_on_wait_reports_concurrency_waits(vt: VirtualTime) -> None:
    """A wait for a concurrency slot is reported with delay None."""
    g = gov(vt, max_concurrency=1)
    seen: list[tuple[float | None, str]] = []

    async def on_wait(delay: float | None, reason: str) -> None:
        seen.append((delay, reason))

    a = await g.acquire()
    waiter = asyncio.ensure_future(g.acquire(on_wait))
    await vt._settle()
    g.release(a, 200)
    g.release(await waiter, 200)
    assert seen == [(None, "concurrency")]


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate": 0},
        {"rate": -1},
        {"rate": math.inf},
        {"rate": math.nan},
        {"rate": True},
        {"burst": 0.5},
        {"max_concurrency": 0},
        {"max_concurrency": 1.5},
        {"adaptive": "sometimes"},
        {"adaptive": 1},
        {"adaptive": 0},
        {"jitter": 2},
        {"max_wait": 0},
        {"backoff_base": -1},
    ],
)
async def test_bad_settings_are_rejected(kwargs: dict[str, Any]) -> None:
    """Nonsense settings raise InvalidParameterError (a ValueError) at construction."""
    with pytest.raises(mw.InvalidParameterError):
        mw.RateGovernor(**kwargs)


async def test_constructing_outside_an_event_loop_is_fine() -> None:
    """A governor can be built at import time and used later on a loop."""
    result: list[int] = []

    def build() -> mw.RateGovernor:
        return mw.RateGovernor(rate=5, max_concurrency=2)

    g = await asyncio.to_thread(build)
    result.append(await g.acquire())
    g.release(result[0], 200)


# --- helpers -------------------------------------------------------------------------------------


class _ServerBucket:
    """A token bucket on the virtual clock, standing in for a rate-limited server."""

    def __init__(self, vt: VirtualTime, rate: float, burst: float) -> None:
        self.vt, self.rate, self.burst = vt, rate, burst
        self.tokens, self.last = burst, vt.now

    def take(self) -> bool:
        now = self.vt.now
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
