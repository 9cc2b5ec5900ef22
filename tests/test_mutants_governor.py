"""Rate governor edges (found by ``nox -s mutants``): the exact CUBIC recovery curve, the
concurrency count, the smallest measurement window, and what a snapshot says at the pause end.

Everything runs on the virtual clock of test_governor.py: no real waiting.
"""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import Callable

import pytest
from test_governor import VirtualTime, _learned, gov

import moveworks_async as mw
from moveworks_async import GovernorSnapshot
from moveworks_async._governor import report_rate_limit

pytestmark = [pytest.mark.asyncio, pytest.mark.virtual_time]


@pytest.fixture
def vt() -> VirtualTime:
    """A fresh virtual clock."""
    return VirtualTime()


async def test_recovery_follows_the_cubic_curve(vt: VirtualTime) -> None:
    """After a 429 at 400/s the rate restarts at 280/s and, while tasks queue behind it,
    follows ``400 + 120 * ((t - 2) / 2) ** 3`` over ``t`` seconds of demand since the pause."""
    g = gov(vt, rate=400, burst=1, adapt_below_rate=True)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 1.0)
    assert g.rate == pytest.approx(280)
    pause_end = vt.now + 1.0
    samples: list[tuple[float, float]] = []

    async def worker() -> None:
        while vt.now < pause_end + 2.0:
            g.release(await g.acquire(), 200)
            rate = g.rate
            assert rate is not None
            samples.append((vt.now - pause_end, rate))

    await vt.run(*(worker() for _ in range(20)))
    checked = [(t, rate) for t, rate in samples if 0.05 <= t <= 1.95]
    assert len(checked) > 300
    for t, rate in checked:
        assert rate == pytest.approx(400 + 120 * ((t - 2) / 2) ** 3, abs=1.0), t


async def test_a_rate_of_one_per_second_still_drops_to_seventy_percent(vt: VirtualTime) -> None:
    """Without a measurement the decrease is 0.7x the rate in force, even at 1/s."""
    g = gov(vt, rate=1, adapt_below_rate=True, min_rate=0.1)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 1.0)
    assert g.rate == pytest.approx(0.7)


async def test_twenty_accepted_replies_are_a_measurement(vt: VirtualTime) -> None:
    """A window of exactly ``_MIN_SAMPLES`` (20) accepted replies sets the learned rate."""
    g = gov(vt)
    tickets = [await g.acquire() for _ in range(8)]  # the initial window
    for t in tickets:
        g.release(t, 200)
    for _ in range(12):
        g.release(await g.acquire(), 200)
    ticket = await g.acquire()
    vt.now += 1.0
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 1.0)
    assert g.rate == pytest.approx(20 / 2.0)  # 20 accepted over 1 s busy + 1 s pause


async def _spin() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_concurrency_slots_are_counted(vt: VirtualTime) -> None:
    """With max_concurrency=2 a third attempt waits until one of two in flight ends."""
    g = gov(vt, rate=1000, max_concurrency=2)
    first, second = await g.acquire(), await g.acquire()
    assert g.snapshot().in_flight == 2
    third = asyncio.ensure_future(g.acquire())
    await _spin()
    assert not third.done()
    g.release(first, 200)
    await _spin()
    assert third.done()
    assert g.snapshot().in_flight == 2
    g.release(second, 200)
    g.release(third.result(), 200)
    assert g.snapshot().in_flight == 0


async def test_snapshot_at_the_pause_end(vt: VirtualTime) -> None:
    """At the very moment a pause ends the snapshot no longer reports it."""
    g = gov(vt)
    snapshot = g.snapshot()
    assert (snapshot.rate, snapshot.burst) == (None, None)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 2.0)
    paused = g.snapshot()
    assert paused.pause_until == vt.now + 2.0
    assert paused.paused_for == pytest.approx(2.0)
    vt.now += 2.0
    ended = g.snapshot()
    assert ended.pause_until is None
    assert ended.paused_for == 0.0
    vt.now += 5.0
    assert g.snapshot().paused_for == 0.0


async def _throttled_at_400(vt: VirtualTime) -> tuple[mw.RateGovernor, float]:
    """A governor configured at 400/s that a 429 (Retry-After 1 s) just lowered to 280/s."""
    g = gov(vt, rate=400, burst=1, adapt_below_rate=True)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 1.0)
    assert g.rate == pytest.approx(280)
    return g, vt.now + 1.0


async def test_a_single_task_waiting_on_the_rate_regrows_it(vt: VirtualTime) -> None:
    """One task sending back to back is held by the rate, so the rate regrows (to 400/s
    after 2 s of such demand)."""
    g, pause_end = await _throttled_at_400(vt)

    async def worker() -> None:
        while vt.now < pause_end + 2.0:
            g.release(await g.acquire(), 200)

    await vt.run(worker())
    assert g.rate == pytest.approx(400, abs=2.0)


async def test_no_regrowth_without_queued_demand(vt: VirtualTime) -> None:
    """Requests spaced wider than the rate's interval never wait, so the rate stays put."""
    g, pause_end = await _throttled_at_400(vt)
    vt.now = pause_end
    for _ in range(100):
        g.release(await g.acquire(), 200)
        vt.now += 0.05
    assert g.rate == pytest.approx(280)


async def test_a_freshly_learned_rate_doubles_every_quarter_second_of_demand(
    vt: VirtualTime,
) -> None:
    """Slow start: a rate learned with no rate in force grows as ``r0 * 2 ** (t / 0.25)`` until
    it reaches twice the measurement (then CUBIC probing takes over, never faster)."""
    g = await _learned(vt)
    r0 = 100 / 1.1
    assert g.rate == pytest.approx(r0)
    pause_end = vt.now + 1.0
    samples: list[tuple[float, float]] = []

    async def worker() -> None:
        while vt.now < pause_end + 0.5:
            g.release(await g.acquire(), 200)
            if g.rate is not None:
                samples.append((vt.now - pause_end, g.rate))

    await vt.run(*(worker() for _ in range(20)))
    checked = [(t, rate) for t, rate in samples if 0.05 <= t <= 0.24]
    assert len(checked) > 10
    for t, rate in checked:
        assert rate == pytest.approx(r0 * 2 ** (t / 0.25), rel=0.05), t
    later = [(t, rate) for t, rate in samples if 0.3 <= t <= 0.45]
    assert later
    for t, rate in later:
        assert 2 * r0 * 0.95 <= rate <= r0 * 2 ** (t / 0.25), t


async def test_paced_waits_add_at_most_one_jitter_of_an_interval(vt: VirtualTime) -> None:
    """At 10/s with jitter 0.1 and the rng at 0.5, the next slot is 0.1 s + 0.005 s away."""
    g = gov(vt, rate=10, burst=1, jitter=0.1, rng=lambda: 0.5)
    g.release(await g.acquire(), 200)
    waits: list[tuple[float | None, str]] = []

    async def on_wait(delay: float | None, reason: str) -> None:
        waits.append((delay, reason))

    await vt.run(g.acquire(on_wait))
    assert waits == [(pytest.approx(0.105), "rate")]


async def test_a_short_pause_is_reported_as_a_pause(vt: VirtualTime) -> None:
    """A task held by a 0.5 s pause (with a rate in force) is told it waits for the pause."""
    g = gov(vt, rate=10, burst=1)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 0.5)
    waits: list[tuple[float | None, str]] = []

    async def on_wait(delay: float | None, reason: str) -> None:
        waits.append((delay, reason))

    await vt.run(g.acquire(on_wait))
    assert waits[0][1] == "paused"


async def test_bucket_sizes_of_configured_and_lowered_rates(vt: VirtualTime) -> None:
    """A configured rate's bucket holds one second of it (at least 1); a lowered or learned
    rate's holds 50 ms of it (at least 1)."""
    assert gov(vt, rate=400, adapt_below_rate=True).snapshot().burst == 400
    assert gov(vt, rate=0.5).snapshot().burst == 1
    g = gov(vt, rate=400, adapt_below_rate=True)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 1.0)
    assert g.snapshot().burst == pytest.approx(280 * 0.05)
    slow = gov(vt, rate=10, adapt_below_rate=True)
    ticket = await slow.acquire()
    slow.release(ticket, 429)
    await slow.report_rate_limit(ticket, 1.0)
    assert slow.snapshot().burst == 1


async def test_a_pause_refills_the_bucket_by_its_length_only(vt: VirtualTime) -> None:
    """At 10/s with a bucket of 5, a 0.2 s pause leaves 2 tokens at its end, not a full
    bucket: two sends at the pause end, then one per 0.1 s."""
    g = gov(vt, rate=10, burst=5)
    ticket = await g.acquire()
    g.release(ticket, 429)
    t0 = vt.now
    await g.report_rate_limit(ticket, 0.2)
    sent: list[float] = []

    async def sends() -> None:
        for _ in range(4):
            g.release(await g.acquire(), 200)
            sent.append(round(vt.now - t0, 6))

    await vt.run(sends())
    assert sent == [0.2, 0.2, 0.3, 0.4]


async def test_a_short_pause_without_a_rate_is_waited_out(vt: VirtualTime) -> None:
    """With no rate known, a 0.5 s pause still holds the next attempt until it ends."""
    g = gov(vt)
    ticket = await g.acquire()
    g.release(ticket, 429)
    t0 = vt.now
    await g.report_rate_limit(ticket, 0.5)
    await vt.run(g.acquire())
    assert vt.now - t0 >= 0.5


async def test_max_wait_error_says_how_long_and_why() -> None:
    """A pause beyond max_wait fails fast with the time left and the limit in the message."""
    vt = VirtualTime()
    g = gov(vt, max_wait=60)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 90.0)
    with pytest.raises(mw.RateLimitError) as caught:
        await g.acquire()
    assert caught.value.message == (
        "rate limited: the governor is paused for another 90.0 s (above max_wait=60 s)"
    )


async def test_throttle_epochs_tell_own_429s_from_collateral(vt: VirtualTime) -> None:
    """Each own 429 starts a new epoch: a 429 for an attempt sent before the latest one is
    collateral; the snapshot counts own 429s as throttle events."""
    g = gov(vt)
    first = await g.acquire()
    g.release(first, 429)
    assert await g.report_rate_limit(first, 0.1)
    second, third = await vt.run(g.acquire(), g.acquire())
    g.release(second, 429)
    assert await g.report_rate_limit(second, 0.1)
    g.release(third, 429)
    assert not await g.report_rate_limit(third, 0.1)
    assert g.snapshot().throttle_events == 2
    assert g.snapshot().rate_limited == 3


async def test_adaptive_concurrency_halves_down_to_one(vt: VirtualTime) -> None:
    """adaptive="concurrency": each own 429 halves the limit (floor), never below 1; with no
    limit yet, it starts from the attempts in flight when the 429 came."""
    g = gov(vt, max_concurrency=10, adaptive="concurrency")
    limits = []
    for _ in range(3):
        ticket = (await vt.run(g.acquire()))[0]
        g.release(ticket, 429)
        await g.report_rate_limit(ticket, 0.1)
        limits.append(g.snapshot().max_concurrency)
    assert limits == [5, 2, 1]
    unlimited = gov(vt, adaptive="concurrency")
    tickets = [await unlimited.acquire() for _ in range(5)]
    unlimited.release(tickets[0], 429)
    await unlimited.report_rate_limit(tickets[0], 0.1)
    assert unlimited.snapshot().max_concurrency == 2  # (4 in flight + 1) // 2


# --- construction: each setting's bounds, message and default -------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 0}, "rate must be a positive number or None"),
        ({"burst": 0.999}, "burst must be a number > 0.999 or None"),
        ({"max_concurrency": 0}, "max_concurrency must be an int >= 1"),
        ({"adaptive": "yes"}, "adaptive must be True, False, 'rate', 'concurrency' or 'both'"),
        ({"adapt_below_rate": 1}, "adapt_below_rate must be True or False"),
        ({"backoff_base": 0}, "backoff_base must be a positive number or None"),
        ({"backoff_cap": -1.0}, "backoff_cap must be a positive number or None"),
        ({"jitter": -0.001}, "jitter must be a number in [0, 1]"),
        ({"jitter": 1.001}, "jitter must be a number in [0, 1]"),
        ({"jitter": True}, "jitter must be a number in [0, 1]"),
        ({"jitter": "0.1"}, "jitter must be a number in [0, 1]"),
        ({"max_wait": 0}, "max_wait must be a positive number or None"),
        ({"max_pause": 0}, "max_pause must be a positive number or None"),
        ({"min_rate": 0}, "min_rate must be a positive number or None"),
    ],
)
async def test_each_bad_setting_is_named_in_its_error(
    kwargs: dict[str, object], message: str
) -> None:
    """The error says which argument is wrong and what it accepts, in so many words."""
    with pytest.raises(mw.InvalidParameterError) as caught:
        mw.RateGovernor(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rate": 0.001},
        {"burst": 1},
        {"max_concurrency": 1},
        {"adaptive": False},
        {"adaptive": "rate"},
        {"adaptive": "concurrency"},
        {"adaptive": "both"},
        {"adapt_below_rate": True},
        {"jitter": 0},
        {"jitter": 1},
        {"jitter": 0.5},
        {"backoff_base": None, "backoff_cap": None, "max_wait": None},
        {"max_pause": None, "min_rate": None, "rate": None, "burst": None},
    ],
)
async def test_settings_at_their_bounds_are_accepted(kwargs: dict[str, object]) -> None:
    """The smallest allowed value of each bound, every ``adaptive`` mode and ``None`` for
    every optional number build a governor."""
    assert isinstance(mw.RateGovernor(**kwargs), mw.RateGovernor)  # type: ignore[arg-type]


async def test_a_fresh_governor_snapshot() -> None:
    """What a new governor reports before any traffic, with and without a configured rate."""
    plain = mw.RateGovernor().snapshot()
    assert plain == GovernorSnapshot(
        rate=None,
        burst=None,
        max_concurrency=None,
        in_flight=0,
        waiting=0,
        pause_until=None,
        paused_for=0.0,
        rate_limited=0,
        throttle_events=0,
        window=32,
    )
    configured = mw.RateGovernor(rate=5, max_concurrency=3, burst=2).snapshot()
    assert (configured.rate, configured.burst, configured.max_concurrency) == (5.0, 2.0, 3)
    assert configured.window is None
    assert mw.RateGovernor(max_concurrency=3).snapshot().window == 3
    assert mw.RateGovernor(adaptive=False).snapshot().window is None


async def _pause_after_429s(g: mw.RateGovernor, vt: VirtualTime, count: int) -> float:
    """Report ``count`` 429s in a row without Retry-After; the pause the last one set."""
    for _ in range(count):
        vt.now += 10_000.0  # past any pause: each 429 is the task's own, a new strike
        ticket = await g.acquire()
        g.release(ticket, 429)
        await g.report_rate_limit(ticket, None)
    return g.snapshot().paused_for


@pytest.fixture(params=["omitted", "None"])
def defaults(request: pytest.FixtureRequest) -> Callable[..., dict[str, object]]:
    """The governor's defaults asked for both ways: the argument left out, or passed as None."""

    def make(*names: str) -> dict[str, object]:
        return {} if request.param == "omitted" else dict.fromkeys(names)

    return make


async def test_default_backoff_is_one_second_doubling_up_to_a_minute(
    vt: VirtualTime, defaults: Callable[..., dict[str, object]]
) -> None:
    """Without Retry-After the default backoff pauses 1 s, 2 s, 4 s ... for 429s in a row,
    never more than 60 s."""
    g = gov(vt, **defaults("backoff_base", "backoff_cap"), max_wait=1000)
    assert await _pause_after_429s(g, vt, 1) == pytest.approx(1.0)
    assert await _pause_after_429s(g, vt, 1) == pytest.approx(2.0)
    assert await _pause_after_429s(g, vt, 4) == pytest.approx(32.0)
    assert await _pause_after_429s(g, vt, 1) == pytest.approx(60.0)
    explicit = gov(vt, backoff_base=0.25, backoff_cap=0.75)
    assert await _pause_after_429s(explicit, vt, 1) == pytest.approx(0.25)
    assert await _pause_after_429s(explicit, vt, 2) == pytest.approx(0.75)


async def test_default_max_pause_is_an_hour(
    vt: VirtualTime, defaults: Callable[..., dict[str, object]]
) -> None:
    """By default a Retry-After of two hours is honoured for one hour."""
    g = gov(vt, **defaults("max_pause"))
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 7200.0)
    assert g.snapshot().paused_for == pytest.approx(3600.0)
    short = gov(vt, max_pause=10)
    ticket = await short.acquire()
    short.release(ticket, 429)
    await short.report_rate_limit(ticket, 100.0)
    assert short.snapshot().paused_for == pytest.approx(10.0)


@pytest.mark.parametrize(("retry_after", "fails_fast"), [(60.0, False), (60.5, True)])
async def test_default_max_wait_is_a_minute(
    vt: VirtualTime,
    defaults: Callable[..., dict[str, object]],
    retry_after: float,
    fails_fast: bool,
) -> None:
    """By default a task waits out a 60 s pause and fails fast on a longer one."""
    g = gov(vt, **defaults("max_wait"))
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, retry_after)
    if fails_fast:
        with pytest.raises(mw.RateLimitError):
            await g.acquire()
    else:
        start = vt.now
        await vt.run(g.acquire())
        assert vt.now - start == pytest.approx(60.0)


async def test_default_min_rate_is_half_a_request_per_second(
    vt: VirtualTime, defaults: Callable[..., dict[str, object]]
) -> None:
    """By default a 429 at 0.6/s lowers the rate to 0.5/s, not to 0.42/s."""
    g = gov(vt, rate=0.6, adapt_below_rate=True, **defaults("min_rate"))
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 1.0)
    assert g.rate == pytest.approx(0.5)


# --- the deprecated ``rate_limited`` name ---------------------------------------------------


def _assert_points_here(warning: warnings.WarningMessage) -> None:
    """The warning is attributed to this file. Not checked under ``nox -s mutants``: mutmut
    calls every function of the mutated module through a trampoline, one more stack frame,
    so no ``stacklevel`` is right there."""
    if "MUTANT_UNDER_TEST" not in os.environ:
        assert warning.filename == __file__


class _OldStyleGovernor:
    """A custom governor written before the rename: ``rate_limited``, no ``report_rate_limit``."""

    def __init__(self) -> None:
        self.reports: list[tuple[int, float | None]] = []

    async def acquire(self, on_wait: object = None) -> int:
        return 7

    def release(self, ticket: int, status: int | None) -> None:
        pass

    async def rate_limited(self, ticket: int, retry_after: float | None) -> bool:
        self.reports.append((ticket, retry_after))
        return True

    def snapshot(self) -> GovernorSnapshot:
        return GovernorSnapshot(None, None, None, 0, 0, None, 0.0, len(self.reports), 0)


async def test_old_style_governor_warning_points_at_the_callers_line() -> None:
    """Passing an old-style governor warns once, naming its class and the new method name,
    attributed to the line that built the client (not to the package's internals)."""
    old = _OldStyleGovernor()
    with pytest.warns(DeprecationWarning, match="rate_limited") as caught:
        client = mw.AsyncMoveworks(assistant_name="a", token="t", governor=old)  # type: ignore[arg-type]
    await client.aclose()
    assert len(caught) == 1
    assert str(caught[0].message) == (
        "_OldStyleGovernor implements rate_limited(), the deprecated name of "
        "Governor.report_rate_limit(); rename the method"
    )
    _assert_points_here(caught[0])


async def test_old_style_governor_gets_each_ticket_and_retry_after() -> None:
    """The client's 429 report reaches an old-style governor's ``rate_limited`` unchanged."""
    old = _OldStyleGovernor()
    assert await report_rate_limit(old, 7, 1.5) is True  # type: ignore[arg-type]
    assert old.reports == [(7, 1.5)]


async def test_rate_limited_alias_warning_points_at_the_callers_line(vt: VirtualTime) -> None:
    """``RateGovernor.rate_limited`` warns with its class name, at the caller's line."""
    g = gov(vt)
    ticket = await g.acquire()
    g.release(ticket, 429)
    with pytest.warns(DeprecationWarning, match="rate_limited") as caught:
        await g.rate_limited(ticket, 1.0)
    assert str(caught[0].message) == (
        "RateGovernor.rate_limited() is deprecated: call report_rate_limit()"
    )
    _assert_points_here(caught[0])


# --- the adaptive measurement and regrowth --------------------------------------------------


async def test_a_long_window_is_halved_without_changing_its_measurement(vt: VirtualTime) -> None:
    """Past 200 accepted replies the window forgets half its past (replies and time alike),
    so the rate it measures is still accepted / (busy + 1 s): 300 over 5 s busy -> 50/s."""
    g = gov(vt)
    for _ in range(300):
        g.release(await g.acquire(), 200)
    ticket = await g.acquire()
    vt.now += 5.0
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 1.0)
    assert g.rate == pytest.approx(300 / 6.0)


async def _small_burst_probe(vt: VirtualTime) -> mw.RateGovernor:
    """Two pauses of 7 accepted replies each: a paced probe at 14 / 2.14 s (see
    test_governor.test_a_second_pause_without_a_measurement_starts_a_paced_probe)."""
    g = gov(vt)
    for _ in range(2):
        tickets = [await g.acquire() for _ in range(8)]
        for t in tickets[:7]:
            vt.now += 0.01
            g.release(t, 200)
        g.release(tickets[7], 429)
        await g.report_rate_limit(tickets[7], 1.0)
        vt.now = g.snapshot().pause_until or vt.now
    assert g.rate == pytest.approx(14 / 2.14)
    return g


async def test_a_third_pause_still_unmeasured_lowers_the_probe_to_seventy_percent(
    vt: VirtualTime,
) -> None:
    """Against a small-burst server, a 429 that comes before 20 replies were accepted lowers
    the probing rate in force to 0.7x; the rate then regrows along CUBIC (back to the old rate after
    2 s of demand), not by doubling."""
    g = await _small_burst_probe(vt)
    for _ in range(3):
        g.release(await g.acquire(), 200)
    ticket = await g.acquire()
    probe = g.rate  # grown by the probe's slow start meanwhile
    assert probe is not None
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 1.0)
    assert g.rate == pytest.approx(0.7 * probe)
    pause_end = vt.now + 1.0
    samples: list[tuple[float, float]] = []

    async def worker() -> None:
        while vt.now < pause_end + 1.5:
            g.release(await g.acquire(), 200)
            rate = g.rate
            assert rate is not None
            samples.append((vt.now - pause_end, rate))

    await vt.run(*(worker() for _ in range(3)))
    assert samples
    assert max(rate for _, rate in samples) <= probe


async def test_probing_past_the_slow_start_end_is_flat_for_two_seconds(vt: VirtualTime) -> None:
    """Slow start ends at twice the measurement; from there CUBIC probes, flat around that
    rate: it starts to rise only after 2 s more of demand."""
    g = await _learned(vt)
    top = 2 * 100 / 1.1
    samples: list[tuple[float, float]] = []
    pause_end = vt.now + 1.0

    async def worker() -> None:
        while vt.now < pause_end + 4.0:
            g.release(await g.acquire(), 200)
            rate = g.rate
            assert rate is not None
            samples.append((vt.now, rate))

    await vt.run(*(worker() for _ in range(20)))
    reached = min(t for t, rate in samples if rate >= top * (1 - 1e-9))
    flat = [rate for t, rate in samples if reached < t <= reached + 1.9]
    assert len(flat) > 100
    assert all(rate == pytest.approx(top, rel=1e-9) for rate in flat)
    assert max(rate for t, rate in samples if t > reached + 3.0) > top * 1.01


# --- pauses without a rate ------------------------------------------------------------------


async def test_a_paused_task_reports_its_jittered_delay(vt: VirtualTime) -> None:
    """With no rate known a task waits the pause plus its share of ``jitter`` x the pause,
    and tells ``on_wait`` that delay and the reason ``"paused"`` first."""
    g = gov(vt, jitter=0.1, rng=lambda: 0.5)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 4.0)
    seen: list[tuple[float | None, str]] = []

    async def on_wait(delay: float | None, reason: str) -> None:
        seen.append((delay, reason))

    start = vt.now
    await vt.run(g.acquire(on_wait))
    assert seen == [(pytest.approx(4.0 + 0.5 * 0.1 * 4.0), "paused")]
    assert vt.now - start == pytest.approx(4.2)


async def test_a_waited_out_pause_is_over_on_a_clock_that_starts_at_zero() -> None:
    """The pause a task waited out is cleared whatever the clock reads (here it starts at 0):
    the snapshot shows no pause and the next task in line for a slot does not wait."""
    vt = VirtualTime(start=0.0)
    g = gov(vt, max_concurrency=1)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 0.25)
    first = await g.acquire()
    assert vt.now == pytest.approx(0.25)
    assert g.snapshot().pause_until is None
    second = asyncio.ensure_future(g.acquire())
    await vt._settle()
    g.release(first, 200)
    await second
    assert vt.now == pytest.approx(0.25)


async def test_a_collateral_429_with_retry_after_zero_extends_the_pause(vt: VirtualTime) -> None:
    """``Retry-After: 0`` means "not given": a collateral 429 then holds everyone for the
    last pause's length from now (it never shortens the pause either)."""
    g = gov(vt)
    first, second = await g.acquire(), await g.acquire()
    g.release(first, 429)
    await g.report_rate_limit(first, 1.0)
    vt.now += 0.5
    g.release(second, 429)
    assert not await g.report_rate_limit(second, 0.0)
    assert g.snapshot().pause_until == pytest.approx(vt.now + 1.0)


async def test_a_window_busy_throughout_keeps_counting(vt: VirtualTime) -> None:
    """While at least one attempt stays in flight the governor never goes idle, so the
    measurement window spans the whole busy time: 300 accepted over 5 s busy -> 50/s."""
    g = gov(vt)
    anchor = await g.acquire()
    for _ in range(300):
        g.release(await g.acquire(), 200)
    vt.now += 5.0
    g.release(anchor, 429)
    await g.report_rate_limit(anchor, 1.0)
    assert g.rate == pytest.approx(300 / 6.0)


# --- what each ``adaptive`` mode adapts, and the counts behind the limits ---------------------


@pytest.mark.parametrize(
    ("adaptive", "lowers_rate", "halves_limit"),
    [
        (True, True, False),
        ("rate", True, False),
        ("concurrency", False, True),
        ("both", True, True),
        (False, False, False),
    ],
)
async def test_each_adaptive_mode_adapts_what_it_names(
    vt: VirtualTime, adaptive: object, lowers_rate: bool, halves_limit: bool
) -> None:
    """A 429 lowers the rate (100/s -> 70/s) in the rate modes and halves the concurrency
    limit (4 -> 2) in the concurrency modes; ``False`` only pauses."""
    g = gov(vt, rate=100, adapt_below_rate=True, max_concurrency=4, adaptive=adaptive)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 1.0)
    snapshot = g.snapshot()
    assert snapshot.rate == pytest.approx(70.0 if lowers_rate else 100.0)
    assert snapshot.max_concurrency == (2 if halves_limit else 4)


async def test_paced_attempts_without_a_cap_are_counted_in_flight(vt: VirtualTime) -> None:
    """With a rate and no concurrency cap, every attempt let through counts as in flight."""
    g = gov(vt, rate=100, burst=10)
    tickets = [await g.acquire() for _ in range(3)]
    assert g.snapshot().in_flight == 3
    g.release(tickets[0], 200)
    assert g.snapshot().in_flight == 2


async def test_a_slot_granted_during_a_pause_is_given_back(vt: VirtualTime) -> None:
    """A task that gets a concurrency slot while a pause began gives it back and waits: the
    in-flight count is the other attempts' only."""
    g = gov(vt, max_concurrency=3)
    tickets = [await g.acquire() for _ in range(3)]
    waiter = asyncio.ensure_future(g.acquire())
    await vt._settle()
    g.release(tickets[0], 429)
    await g.report_rate_limit(tickets[0], 1.0)
    await vt._settle()
    snapshot = g.snapshot()
    assert (snapshot.in_flight, snapshot.waiting) == (2, 1)
    g.release(tickets[1], 200)
    g.release(tickets[2], 200)
    g.release(await waiter, 200)


async def test_the_first_wave_window_grows_when_full_and_never_past_the_cap(
    vt: VirtualTime,
) -> None:
    """The slow-start window grows by 0.5 per accepted reply that left it full (no queue
    needed), and stops at ``max_concurrency``."""
    g = gov(vt, max_concurrency=34)
    tickets = [await g.acquire() for _ in range(32)]
    for _ in range(2):  # full, nobody waiting: each accepted reply grows the window by 0.5
        g.release(tickets.pop(), 200)
        tickets.append(await g.acquire())
    assert g.snapshot().window == 33
    for _ in range(10):
        while g.snapshot().in_flight < min(g.snapshot().window or 0, 34):
            tickets.append(await g.acquire())
        g.release(tickets.pop(), 200)
    assert g.snapshot().window == 34


async def test_adaptive_concurrency_without_a_cap_learns_one_from_the_first_429(
    vt: VirtualTime,
) -> None:
    """``adaptive="concurrency"`` with no ``max_concurrency``: accepted replies change
    nothing until a 429 sets a limit of half the attempts in flight then (4 -> 2)."""
    g = gov(vt, adaptive="concurrency")
    g.release(await g.acquire(), 200)
    assert g.snapshot().max_concurrency is None
    tickets = [await g.acquire() for _ in range(4)]
    g.release(tickets[0], 429)
    await g.report_rate_limit(tickets[0], 1.0)
    assert g.snapshot().max_concurrency == 2
    for t in tickets[1:]:
        g.release(t, 200)


async def test_queued_demand_before_any_429_keeps_the_configured_rate(vt: VirtualTime) -> None:
    """``adapt_below_rate=True``: tasks queued behind the configured rate before any 429 are
    paced at exactly that rate (nothing to regrow towards, never above the ceiling)."""
    g = gov(vt, rate=50, burst=1, adapt_below_rate=True)
    times: list[float] = []

    async def worker() -> None:
        for _ in range(25):
            ticket = await g.acquire()
            times.append(vt.now)
            g.release(ticket, 200)

    await vt.run(*(worker() for _ in range(4)))
    assert g.rate == 50.0
    assert times[-1] - times[0] == pytest.approx(99 / 50)
