"""The rate governor: one gate that every attempt of every task sharing it passes through.

Why it exists: with a per-task retry sleep (what openai-python, anthropic and slack_sdk do),
1,000 tasks that hit a 429 together sleep the same Retry-After and come back together, and
the server sees up to 40 times its limit (measured by ``benchmarks/``' governor storm). Here a
429 moves one shared ``pause_until`` forward, every new send waits for it, and the waiting
tasks are released gradually afterwards, so the server sees about one extra request per 429
event.

Contract between the client and a governor (the :class:`Governor` protocol):

* ``ticket = await acquire(on_wait)`` before each attempt; may wait (pause, rate slot,
  concurrency slot), may raise :class:`RateLimitError` when the shared pause is longer than
  ``max_wait``. ``on_wait(delay, reason)`` is awaited before each wait (for hooks and logs).
* ``release(ticket, status)`` after the attempt, with the HTTP status or ``None`` (transport
  error, cancellation).
* ``await report_rate_limit(ticket, retry_after)`` after a 429 (a command: it pauses every
  task sharing the governor; ``rate_limited`` is its deprecated old name). It returns True
  when this 429 is the first one since the attempt was let through (the governor's pace was
  wrong: it counts as a retry) and False when another task's 429 had already paused the
  governor while this attempt was in flight ("collateral": the client retries it without
  using up a retry).
* ``snapshot()`` for observability.

:class:`RateGovernor` is the in-process implementation; ``RedisRateGovernor`` shares the
bucket and the pause between processes.

The adaptive algorithm and where it comes from
----------------------------------------------

Two older designs solve the same problem: sending as fast as a shared resource allows
without knowing its capacity, learning only from refusals.

* **TCP congestion control.** A sender keeps a *congestion window* (segments in flight). It
  starts small (RFC 6928: 10 segments) and grows by one per acknowledged segment (*slow
  start*: doubling per round trip; with delayed ACKs, one per two segments, ~1.5x per round
  trip), and on a loss halves the window (*multiplicative decrease*) before growing again
  (*additive increase*: AIMD, Jacobson 1988, RFC 5681). CUBIC (Ha, Rhee, Xu 2008; RFC 8312)
  replaces the linear regrowth by a cubic curve of the time since the loss,
  ``W(t) = C (t - K)^3 + W_max``: fast at first, flat around ``W_max`` (the window where the
  loss came), then probing beyond it; its decrease factor is ``beta = 0.7``, not 0.5.
* **AWS SDK adaptive retry mode** (botocore ``retries/adaptive.py``, ``bucket.py``,
  ``throttling.py``) applies CUBIC to a *rate*: a client-side token bucket whose fill rate
  is set, on a throttle, to ``beta = 0.7`` times the smoothed measured send rate, regrown
  along the cubic curve (``C = 0.4``), never below a minimum rate of 0.5/s. Its weakness is
  the one this package had: the measured rate is a 0.5 s bucket average, so a throttle in
  the first half second of a burst measures ~0 and sets the rate to the minimum.

This governor combines them, with three changes of our own (what the issue #11 tests pin):

1. **The rate never falls below ``beta`` x the rate in force.** On a 429, with a rate in
   force ``r`` the new rate is ``max(0.7 r, m)`` (at most ``r``), where ``m`` is what the
   server was shown to accept (see *The measurement* below). ``m`` only counts when the
   window held at least ``_MIN_SAMPLES`` replies: a measurement from a tiny window is not a
   measurement. With no rate in force (the default governor before its first 429), a valid
   ``m`` becomes the rate and grows by slow start (doubling every ``_DOUBLING`` seconds of
   demand) up to ``_SLOW_START_END`` x ``m``, from where CUBIC probes (rule 2). Without a
   valid ``m`` the first pause sets no rate at all: the pause and the in-flight window below
   are the whole reaction to a one-off 429. A *second* pause still without a valid ``m`` is
   no one-off but a small-burst server (see *Small bursts* below).
2. **Recovery is CUBIC in seconds of demand, scale-free.** After a decrease from ``W_max`` to
   ``W_0`` the rate follows ``W_max + (W_max - W_0) ((t - K) / K)^3`` with ``K = 2 s``: back
   to 90 % of ``W_max`` in under 1 s of demand, flat around it, probing above it after ``K``
   (botocore's fixed ``C`` makes ``K`` grow with the rate, 20 s at 10,000/s). ``t`` counts only
   time during which tasks queued behind the rate, the time a higher rate would have been
   used. Without a configured rate, a learned rate that reaches ``_UNLIMIT`` x ``W_max``
   without a 429 (about 9 s of saturated demand after slow start ended) is dropped: the
   governor is unlimited again. While 429s keep coming a learned rate is never dropped.
3. **A configured ``rate`` is knowledge, not a guess.** ``RateGovernor(rate=...)`` pauses for
   each 429's Retry-After and resumes at the configured rate; only ``adapt_below_rate=True``
   lets 429s lower it (by the rules above, the configured rate as ceiling).

**The measurement** (revised after an outside review found the first version right only at
~4 ms replies). ``m`` = accepted replies / (busy time + up to ``_REFILL`` = 1 s per pause),
over a window that spans every epoch since the governor last became busy (short epochs
between pauses add up; past ``_SAMPLES`` replies it forgets half its past, so a limit that
moved is re-measured within a few epochs). Why a capped pause: a token bucket server that
answered 429 is empty, and what it accepts in the next epoch is what refilled during the
pause (at most its burst ``B``) plus its rate ``L`` times the busy time. Dividing by the busy
time alone (the "sending time" estimate) counts the refilled burst as rate: with 4 ms
replies an epoch lasts ~20 ms and the estimate is 10-50x too high, and 0.7 steps down from
there cost one pause each (we measured 1.3-1.5x requests). Dividing by the whole pause (the
first version) is exact when the pause equals ``B / L`` but deflates a long Retry-After: 5 s
gave 21/s for a 100/s server. Counting at most 1 s per pause is exact for the common "burst
= one second of rate" bucket at any Retry-After, errs low for a small burst (10 for 100/s:
learns ~10/s, then slow start and CUBIC probe up, at the cost of a few more pauses) and high
for a burst above one second of rate (then the 0.7 decrease converges). Slow start stops at
2x ``m`` because the server's refilled bucket absorbs about a second of overshoot before a
429 can say so: doubling on for that second carried the rate to 16x (the earlier
``_UNLIMIT`` rule then dropped it and the storm started over). The ``--sweep`` of
``benchmarks/governor_sim.py`` is the design loop; its table is in ``benchmarks/README.md``.

**Small bursts** (second review round). Against a server whose bucket holds 1-10 requests
each epoch sends the in-flight window (32) at once after the pause and the server takes its
few tokens: 1 accepted reply per ~1 s epoch at burst 1, so a measurement (20 replies) took
20 pauses, ~300 of 1,000 calls ran out of retries and the wall was ~24x the ideal. A window
sent at once says nothing about a rate (all its replies come within one round trip), so on
the second pause without a measurement the governor starts *pacing* to find out, as TCP
restarts from a small window after a timeout: the rate starts at the low estimate
``max(min_rate, accepted / (busy time + up to 1 s per pause))`` (~1/s at burst 1, ~10/s at
burst 10), paced with burst 1 (a learned 50 ms burst of 5 would itself be refused by a
burst-1 server), and grows by slow start (doubling per ``_DOUBLING`` of demand) up to the
next 429 (or ``_PROBE_END`` x its start, from where CUBIC probes and ``_UNLIMIT`` applies);
that 429 finds a rate in force, so the 0.7 decrease and CUBIC take over. Measured (sweep,
4 ms replies): burst 1 from 4.03x requests / 23.5x wall / 309 failed calls to 1.07x /
2.7x / none; burst 10 from 2.72x to 2.14x wall. In the whole sweep one call fails (1 s
replies, Retry-After 5 s), down from up to 313 per cell. Not solved: at 100 ms-1 s replies a
burst-1 server still costs 8-14x the ideal wall (23-37x with Retry-After 5 s): the replies'
jitter reorders paced sends, a burst-1 bucket refuses any two that arrive closer than its
interval, and each such 429 is a full Retry-After pause. The probe overshoots by what it
grows during one round trip (at 200 ms ~2x), and the 0.7 floor then costs a pause per step
back down; burst 10 at 200 ms with Retry-After 2-5 s got slightly slower for that reason
(3.7x -> 3.8x, 6.8x -> 7.7x). An estimator from the accepted rate *while refusing* (BBR's
delivery rate) and TCP's one-decrease-per-window rule are the next steps. Tried and
dropped: a delivery-rate cap on the probe (1.5x the replies accepted in the last 0.5 s)
starved low rates (it can only grow by what it already sees); doubling once per sampled
round trip instead of per 0.25 s was mixed (1 s replies: fewer requests, longer wall).

**The first wave.** Before any 429 the default governor knows no rate, and a pool of 1,000
connections would otherwise put 1,000 requests on the wire at once. It keeps a TCP-style
slow-start window on requests in flight: ``_INITIAL_WINDOW`` at first, plus ``_WINDOW_GAIN``
per accepted reply while the window is full (~1.5x per round trip, TCP with delayed ACKs),
halved (not below the initial window) by a 429 that starts a pause, and never above
``max_concurrency``. Against a token bucket server the overshoot of a storm is then about
the window when the bucket runs dry (``_INITIAL_WINDOW + _WINDOW_GAIN * burst``), whatever
the pool size. The cost is paid by unlimited work at high latency: N calls at once need
about ``log1.5(N / 32)`` round trips instead of one (1,000 calls at 1 s replies: ~6 s instead
of 1 s; 64 calls at 300 ms: 0.6 s instead of 0.3 s). TCP's doubling per round trip
(``_WINDOW_GAIN = 1``) saves one or two round trips there but overshot a 100/s server by
1.16-1.2x at 200 ms-1 s replies; an initial window of 32 (RFC 6928 uses 10 segments) halved
the cost of small bursts (64 calls) at no measurable overshoot. Pass ``adaptive=False`` or a
``rate`` when the limit is known or there is none.

**The shared pause.** Each 429 asks for a pause until ``now + Retry-After`` (or the
governor's exponential backoff when the server gave none). The pause end only ever moves
later: a collateral 429 (sent before the pause began) with a shorter Retry-After, or an own
429 that asks less than the pause left, never shortens it; only the first 429 of an epoch
adapts the rate and the window.
"""

from __future__ import annotations

import math
import random
import sys
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final, Literal, Protocol, runtime_checkable

import anyio
from attrs import frozen

from ._errors import InvalidParameterError, RateLimitError
from ._validate import check_int, check_positive

__all__ = ["Governor", "GovernorSnapshot", "RateGovernor", "WaitCallback"]

#: ``on_wait(delay, reason)``: awaited before the governor makes a task wait. ``delay`` is in
#: seconds (``None`` when unknown, as for a concurrency slot); ``reason`` is ``"paused"``,
#: ``"rate"`` or ``"concurrency"``.
WaitCallback = Callable[[float | None, str], Awaitable[None]]

Adaptive = bool | Literal["rate", "concurrency", "both"]

_BETA = 0.7  # multiplicative decrease of the rate on a 429 (CUBIC, botocore)
_CUBIC_K = 2.0  # seconds of demand to regrow from beta * W_max to W_max
_MIN_SAMPLES = 20  # accepted replies a measurement window needs to count
_DOUBLING = 0.25  # seconds of demand per doubling of a freshly learned rate (slow start)
_UNLIMIT = 16.0  # a learned rate this many times W_max without a 429 is dropped
_SLOW_START_END = 2.0  # slow start stops at this many times the measurement; CUBIC probes on
_PROBE_END = 1024.0  # a small-burst probe's slow start ends this many times its start
_REFILL = 1.0  # seconds of a pause counted as the server's bucket refilling (see above)
_SAMPLES = 200  # accepted replies beyond which the measurement forgets half its past
_INITIAL_WINDOW = 32.0  # requests in flight before the first accepted reply (default governor)
_WINDOW_GAIN = 0.5  # window growth per accepted reply while the window is full
_WINDOW_BETA = 0.5  # window decrease on a 429 that starts a pause
_CONC_BETA = 0.5  # decrease of the adaptive concurrency limit (adaptive="concurrency")
_IDLE_RESET = 1.0  # seconds idle after which the adaptive measurement starts afresh


@frozen
class GovernorSnapshot:
    """Observable state of a governor at one instant.

    Attributes:
        rate: requests per second currently allowed (``None``: no limit known yet).
        burst: requests that may go at once when the bucket is full (``None`` with no rate).
        max_concurrency: attempts allowed in flight at once (``None``: unlimited).
        in_flight: attempts let through and not yet released.
        waiting: tasks waiting inside ``acquire``.
        pause_until: governor-clock time before which nothing is sent, or ``None``.
        paused_for: seconds left of the pause (0.0 when not paused).
        rate_limited: 429 replies reported so far.
        throttle_events: 429s that started a new pause (the others were collateral).
        window: the default governor's slow-start window on attempts in flight (``None``:
            no window, as with a configured ``rate`` or ``adaptive=False``).
    """

    rate: float | None
    burst: float | None
    max_concurrency: int | None
    in_flight: int
    waiting: int
    pause_until: float | None
    paused_for: float
    rate_limited: int
    throttle_events: int
    window: int | None = None


@runtime_checkable
class Governor(Protocol):
    """What ``AsyncMoveworks`` needs from a rate governor (see the module docstring)."""

    async def acquire(self, on_wait: WaitCallback | None = None) -> int:
        """Wait for a turn; return a ticket for :meth:`release` and :meth:`report_rate_limit`."""
        ...

    def release(self, ticket: int, status: int | None) -> None:
        """The attempt of ``ticket`` finished with ``status`` (``None``: no HTTP status)."""
        ...

    async def report_rate_limit(self, ticket: int, retry_after: float | None) -> bool:
        """Report a 429 (pause everyone); True if it is the first since ``ticket`` was issued."""
        ...

    def snapshot(self) -> GovernorSnapshot:
        """Current state."""
        ...


def _deprecated_name(cls: type) -> None:
    warnings.warn(
        f"{cls.__name__}.rate_limited() is deprecated: call report_rate_limit()",
        DeprecationWarning,
        stacklevel=3,
    )


def check_governor(governor: object, error: str) -> Governor:
    """``governor`` as a :class:`Governor`, or :class:`InvalidParameterError` saying ``error``.

    A custom governor written before the rename, with ``rate_limited`` instead of
    ``report_rate_limit``, still works: a ``DeprecationWarning`` now, and
    :func:`report_rate_limit` calls its old method.
    """
    if isinstance(governor, Governor):
        return governor
    if all(callable(getattr(governor, name, None)) for name in _LEGACY_MEMBERS):
        warnings.warn(
            f"{type(governor).__name__} implements rate_limited(), the deprecated name of "
            "Governor.report_rate_limit(); rename the method",
            DeprecationWarning,
            stacklevel=3,
        )
        return governor  # type: ignore[return-value]
    raise InvalidParameterError(error)


_LEGACY_MEMBERS: Final = ("acquire", "release", "rate_limited", "snapshot")


def report_rate_limit(
    governor: Governor, ticket: int, retry_after: float | None
) -> Awaitable[bool]:
    """``governor.report_rate_limit(...)``, or the old ``rate_limited`` of a legacy governor."""
    report = getattr(governor, "report_rate_limit", None)
    if report is None:
        report = governor.rate_limited  # type: ignore[attr-defined]
    return report(ticket, retry_after)  # type: ignore[no-any-return]


def rate_limit_pause(
    retry_after: float | None, strikes: int, base: float, cap: float, max_pause: float
) -> float:
    """How long a 429 pauses a governor: the server's Retry-After (up to ``max_pause``), or
    without one ``base * 2**strikes`` seconds up to ``cap`` (strikes: 429s in a row)."""
    if retry_after is not None and retry_after > 0:
        return min(float(retry_after), max_pause)
    return min(cap, base * 2.0 ** min(strikes, 30))


class RateGovernor:
    """Paces the attempts of every task (and every client) that shares it.

    With no arguments (the default of ``AsyncMoveworks``) no rate is limited until the server
    answers 429, and a slow-start window bounds the attempts in flight; from a 429 on the
    governor pauses everyone until the server's Retry-After moment and, once it has a
    measurement, paces sends at a rate learned from what the server accepted (adaptive mode).

    Args:
        rate: requests per second (token bucket), your knowledge of the limit: 429s pause
            but never lower it, unless ``adapt_below_rate=True`` (then it is the ceiling of
            the adapted rate); ``None``: no static limit.
        burst: bucket size, the requests that may go at once (default: ``rate``, at least 1;
            for a learned rate: 50 ms worth, at least 1).
        max_concurrency: attempts in flight at once (``None``: unlimited).
        adaptive: what 429s adapt (see the module docstring for the algorithm).
            ``True``/``"rate"``: the rate (with no ``rate`` configured, also a slow-start
            window on requests in flight that bounds the first wave of a storm),
            ``"concurrency"`` the concurrency limit, ``"both"`` both, ``False`` neither
            (static limits and the shared pause only). A 429 never lowers the rate below
            0.7 x the rate in force when it came, and after a one-off 429 the rate is back
            to 90 % of that within the pause plus about a second of demand. The concurrency
            limit halves on a 429 and grows by one per limit's worth of accepted replies.
        adapt_below_rate: with a ``rate`` configured, let 429s lower the rate below it
            (adaptively, the configured rate as ceiling). Default ``False``: the configured
            rate is your knowledge of the limit, so a 429 pauses for its Retry-After and
            sending resumes at the configured rate.
        backoff_base, backoff_cap: the pause after a 429 without a usable ``Retry-After``:
            ``min(cap, base * 2**k)`` for the k-th 429 in a row with no other reply between.
        jitter: positive jitter. After a pause each waiting task is released at a random
            moment in ``[pause_end, pause_end + jitter * pause]`` when no rate is known, or on
            its rate slot plus up to ``jitter`` of one interval. Never earlier than asked.
        max_wait: a task that would wait longer than this for a pause (a huge Retry-After)
            gets :class:`RateLimitError` at once instead (``.retry_after`` = time left).
        max_pause: the longest pause a single 429 can impose (a ``Retry-After`` of a year is
            honoured for an hour, during which tasks fail fast as above).
        min_rate: floor of the learned rate.
        clock: monotonic seconds (default ``time.monotonic``, the asyncio loop's clock).
        sleep: async sleep (default ``anyio.sleep``); inject both to test without waiting.
        rng: ``() -> float`` in ``[0, 1)`` for jitter.

    The governor is not bound to an event loop until a task waits on it, but its waiting
    tasks must all run on one loop.
    """

    def __init__(
        self,
        rate: float | None = None,
        burst: float | None = None,
        max_concurrency: int | None = None,
        *,
        adaptive: Adaptive = True,
        adapt_below_rate: bool = False,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        jitter: float = 0.1,
        max_wait: float = 60.0,
        max_pause: float = 3600.0,
        min_rate: float = 0.5,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._ceiling = check_positive(rate, "rate", optional=True)
        self._burst_conf = check_positive(burst, "burst", optional=True, minimum=0.999)
        if max_concurrency is not None:
            check_int(max_concurrency, "max_concurrency", 1)
        if not isinstance(adaptive, bool) and adaptive not in ("rate", "concurrency", "both"):
            raise InvalidParameterError(
                "adaptive must be True, False, 'rate', 'concurrency' or 'both'"
            )
        if not isinstance(adapt_below_rate, bool):
            raise InvalidParameterError("adapt_below_rate must be True or False")
        self._adapt_rate = adaptive in (True, "rate", "both")
        # With a configured rate and no permission to go below it, 429s only pause.
        if self._ceiling is not None and not adapt_below_rate:
            self._adapt_rate = False
        self._adapt_conc = adaptive in ("concurrency", "both")
        self._backoff_base = float(
            check_positive(backoff_base, "backoff_base", optional=True) or 1.0
        )
        self._backoff_cap = float(check_positive(backoff_cap, "backoff_cap", optional=True) or 60.0)
        if isinstance(jitter, bool) or not isinstance(jitter, int | float) or not 0 <= jitter <= 1:
            raise InvalidParameterError("jitter must be a number in [0, 1]")
        self._jitter = float(jitter)
        self._max_wait = float(check_positive(max_wait, "max_wait", optional=True) or 60.0)
        self._max_pause = float(check_positive(max_pause, "max_pause", optional=True) or 3600.0)
        self._min_rate = float(check_positive(min_rate, "min_rate", optional=True) or 0.5)
        self._clock = clock or time.monotonic
        self._sleep = sleep or anyio.sleep
        self._rng = rng

        # Token bucket as GCRA: ``_tat`` is the theoretical arrival time of the next request;
        # a request conforms at ``now`` when ``_tat - _tau <= now``. Waiters form a FIFO line.
        self._rate: float | None = None
        self._interval = 0.0
        self._tau = 0.0
        self._burst = 0.0
        self._tat = -math.inf
        self._line: deque[anyio.Event] = deque()
        # True once the server showed a small burst (two pauses, too few replies to measure):
        # slow start probes up to the next 429 and the learned rate is paced with burst 1.
        self._small_burst = False
        if self._ceiling is not None:
            self._set_rate(self._ceiling)

        self._conc_ceiling = max_concurrency
        self._limit: float | None = None  # the concurrency limit (float: AIMD steps by 1/limit)
        self._cap = sys.maxsize  # min(limit, window) as an int, or "unlimited"
        # The slow-start window on requests in flight: only while no rate was configured (a
        # configured rate bounds the first wave by itself).
        self._window_floor = min(_INITIAL_WINDOW, float(max_concurrency or _INITIAL_WINDOW))
        self._cwnd: float | None = (
            self._window_floor if self._adapt_rate and self._ceiling is None else None
        )
        self._set_limit(float(max_concurrency) if max_concurrency else None)
        self._slot_waiters: deque[anyio.Event] = deque()

        self._in_flight = 0
        self._waiting = 0
        self._pause_until = 0.0
        self._last_pause = self._backoff_base
        self._epoch = 0  # bumped by each 429 that starts a pause; tickets are epochs
        self._strikes = 0  # 429 pauses in a row with no other reply in between
        self._rate_limited = 0
        self._throttles = 0
        # Adaptive measurement: replies other than 429 since the window began (the end of
        # the last pause, or the moment the governor became busy after an idle second).
        self._window_start = 0.0
        self._window_ok = 0.0
        self._window_time = 0.0  # busy time of earlier epochs plus their refill credit
        self._window_busy = 0.0  # busy time of earlier epochs alone
        self._window_pauses = 0  # 429 pauses since the window began
        self._idle_since = -math.inf
        # Recovery after a decrease: rate = f(seconds of demand since the pause ended).
        self._w_max = 0.0  # the rate in force when the last 429 came
        self._w_0 = 0.0  # the rate set by that 429
        self._slow_start = False  # True: the rate was learned from no rate; doubling growth
        self._demand = 0.0
        self._last_growth = 0.0
        # The hot path: no rate and no pause (a concurrency cap is checked inline); acquire
        # and release are then a few integer operations and no await.
        self._fast = self._rate is None

    # --- configuration helpers -------------------------------------------------------------

    def _set_limit(self, limit: float | None) -> None:
        self._limit = limit
        self._recap()

    def _recap(self) -> None:
        cap = sys.maxsize if self._limit is None else int(self._limit)
        if self._cwnd is not None and self._cwnd < cap:
            cap = int(self._cwnd)
        self._cap = cap

    def _set_rate(self, rate: float) -> None:
        self._rate = rate
        self._interval = 1.0 / rate
        burst = self._burst_conf
        if burst is None:
            burst = 1.0 if self._small_burst else max(1.0, rate * 0.05)
        if self._burst_conf is None and self._ceiling is not None and rate == self._ceiling:
            burst = max(1.0, rate)
        self._burst = burst
        self._tau = (burst - 1.0) * self._interval

    @property
    def rate(self) -> float | None:
        """Requests per second currently allowed (``None``: none known yet)."""
        return self._rate

    # --- acquire -----------------------------------------------------------------------------

    def try_acquire(self) -> int | None:
        """A ticket if one more attempt may go right now without waiting, else None.

        The client's hot path: no pause, no known rate to pace, a free concurrency slot and
        nobody queued for one. Otherwise the caller must ``await acquire()``."""
        if self._fast and self._in_flight < self._cap and not self._slot_waiters:
            if not self._in_flight:
                self._busy(self._clock())
            self._in_flight += 1
            return self._epoch
        return None

    async def acquire(self, on_wait: WaitCallback | None = None) -> int:
        """Wait until this governor lets one more attempt go; return its ticket."""
        ticket = self.try_acquire()
        if ticket is not None:
            return ticket
        return await self._acquire_slow(on_wait)

    def _busy(self, now: float) -> None:
        """Idle -> busy. After a real idle gap the server's bucket has refilled, so what it
        accepted before says nothing about now: the measurement window restarts."""
        if now - self._idle_since > _IDLE_RESET:
            self._window_start = max(now, self._pause_until)
            self._window_ok = 0.0
            self._window_time = 0.0
            self._window_busy = 0.0
            self._window_pauses = 0

    async def _acquire_slow(self, on_wait: WaitCallback | None) -> int:
        if not self._in_flight and not self._waiting:
            self._busy(self._clock())
        self._waiting += 1
        try:
            while True:
                if self._interval:
                    await self._paced(on_wait)
                else:
                    now = self._clock()
                    left = self._pause_until - now
                    if left > 0:
                        self._check_max_wait(left)
                        # No rate known: each task picks its own moment in the release
                        # window, so the waiting tasks trickle out instead of stampeding.
                        delay = left + self._rng() * self._jitter * self._last_pause
                        if on_wait is not None:
                            await on_wait(delay, "paused")
                        await self._sleep(delay)
                        continue  # the pause may have been extended, or a rate learned
                    self._pause_until = 0.0
                    self._fast = True
                if self._cap < sys.maxsize:
                    await self._take_slot(on_wait)
                    if self._pause_until > self._clock():
                        # Paused while we queued for a slot: give it back and wait again.
                        self._in_flight -= 1
                        self._wake()
                        continue
                else:
                    self._in_flight += 1
                return self._epoch
        finally:
            self._waiting -= 1

    def _check_max_wait(self, left: float) -> None:
        if left > self._max_wait:
            raise RateLimitError(
                f"rate limited: the governor is paused for another {left:.1f} s "
                f"(above max_wait={self._max_wait:g} s)",
                status_code=429,
                retry_after=left,
            )

    async def _paced(self, on_wait: WaitCallback | None) -> None:
        """Take one token of the bucket (GCRA), waiting in a FIFO line when there is none.

        Only the head of the line sleeps on the clock; it recomputes its slot from the
        current rate and pause after every sleep, so a 429 or a rate change applies at once
        to everyone queued, and N waiters cost N sleeps, never N polls.
        """
        line = self._line
        if not line:
            now = self._clock()
            if now >= self._pause_until and self._tat - self._tau <= now:
                self._take(now, saturated=False)
                return
        event = anyio.Event()
        line.append(event)
        try:
            if line[0] is not event:
                await event.wait()  # the task ahead hands the head over when it leaves
            limited = len(line) > 1
            while True:
                now = self._clock()
                left = self._pause_until - now
                self._check_max_wait(left)
                slot = max(now, self._pause_until, self._tat - self._tau)
                if slot <= now:
                    break
                limited = limited or left <= 0
                delay = slot - now + self._rng() * self._jitter * self._interval
                if on_wait is not None:
                    await on_wait(delay, "paused" if left > 0 else "rate")
                await self._sleep(delay)
            # Growth only while the rate (not a pause) is what holds tasks back: that is
            # when a higher rate would have been used.
            self._take(now, saturated=limited or len(line) > 1)
        finally:
            if line and line[0] is event:
                line.popleft()
                if line:
                    line[0].set()
            else:
                line.remove(event)

    def _take(self, now: float, *, saturated: bool) -> None:
        tat = self._tat
        self._tat = (tat if tat > now else now) + self._interval
        if saturated and self._adapt_rate:
            self._grow(now)

    async def _take_slot(self, on_wait: WaitCallback | None) -> None:
        if self._in_flight < self._cap and not self._slot_waiters:
            self._in_flight += 1
            return
        if on_wait is not None:
            await on_wait(None, "concurrency")
        event = anyio.Event()
        self._slot_waiters.append(event)
        try:
            await event.wait()
        except BaseException:
            if event.is_set():
                # Granted in the same instant as we were cancelled: pass the slot on.
                self._in_flight -= 1
                self._wake()
            else:
                self._slot_waiters.remove(event)
            raise
        # ``_wake`` counted us in ``_in_flight`` already.

    def _wake(self) -> None:
        waiters = self._slot_waiters
        while waiters and self._in_flight < self._cap:
            self._in_flight += 1
            waiters.popleft().set()

    # --- feedback ----------------------------------------------------------------------------

    def release(self, ticket: int, status: int | None) -> None:
        """The attempt of ``ticket`` finished with HTTP ``status`` (``None``: no status).

        Every status but 429 counts as accepted by the server (adaptive measurement)."""
        full = self._in_flight >= self._cap or self._slot_waiters
        self._in_flight -= 1
        if not self._in_flight and not self._waiting:
            self._idle_since = self._clock()
        if self._slot_waiters:
            self._wake()
        if status is not None and status != 429:
            # Any reply but a 429 went through the server's rate limiter (a 401 or a 404
            # costs the same as a 200 there), so it counts as accepted.
            self._strikes = 0
            cwnd = self._cwnd
            if (
                full
                and cwnd is not None
                and (self._conc_ceiling is None or cwnd < self._conc_ceiling)
            ):
                # Slow start: the window grows only while it is what holds tasks back.
                self._cwnd = cwnd + _WINDOW_GAIN
                self._recap()
                if self._slot_waiters:
                    self._wake()
            # Replies to attempts sent before the last 429 describe the old, too-fast regime:
            # neither the measurement nor the growth counts them.
            if ticket == self._epoch:
                self._window_ok += 1
                if self._adapt_conc and self._limit is not None:
                    ceiling = self._conc_ceiling
                    limit = self._limit + 1.0 / self._limit
                    self._set_limit(limit if ceiling is None else min(limit, float(ceiling)))

    def _grow(self, now: float) -> None:
        """Regrow the learned rate while tasks queue behind it (called per token taken)."""
        # Only time spent saturated counts: a gap longer than a few slots means demand
        # stopped, and the server's tolerance above the current rate was not tested then.
        dt = min(now - self._last_growth, 4.0 * self._interval)
        self._last_growth = now
        if dt <= 0:
            return
        self._demand += dt
        w_max = self._w_max
        if self._slow_start:
            rate = self._w_0 * 2.0 ** min(self._demand / _DOUBLING, 60.0)
        else:
            # CUBIC: concave back to W_max, flat around it, convex probing beyond it.
            amplitude = max(w_max - self._w_0, (1.0 - _BETA) * w_max)
            rate = w_max + amplitude * ((self._demand - _CUBIC_K) / _CUBIC_K) ** 3
        end = _PROBE_END if self._small_burst else _SLOW_START_END
        if self._slow_start and rate >= end * w_max:
            # Slow start ends far above the measurement: from here CUBIC probes, flat at
            # first, and a rate only 429-free demand carries that far is dropped.
            self._slow_start = False
            self._w_0 = self._w_max = rate = end * w_max
            self._demand = 0.0
        if self._ceiling is not None:
            rate = min(rate, self._ceiling)
        elif not self._slow_start and rate >= _UNLIMIT * w_max:
            # Far above anything the server refused: no limit is known any more.
            self._rate = None
            self._interval = self._tau = self._burst = 0.0
            self._tat = -math.inf
            self._fast = now >= self._pause_until  # tokens are only taken after a pause
            return
        if rate > (self._rate or 0.0):
            self._set_rate(rate)

    async def rate_limited(self, ticket: int, retry_after: float | None) -> bool:
        """Deprecated name of :meth:`report_rate_limit`."""
        _deprecated_name(type(self))
        return await self.report_rate_limit(ticket, retry_after)

    async def report_rate_limit(self, ticket: int, retry_after: float | None) -> bool:
        """Report a 429 for the attempt of ``ticket``; pause everyone.

        ``retry_after`` is the server's wait in seconds; ``None`` or ``<= 0`` means "not
        given" and the governor's own exponential backoff applies. Returns True if this is
        the first 429 since ``ticket`` was issued, False if it is collateral.
        """
        now = self._clock()
        self._rate_limited += 1
        own = ticket == self._epoch
        asked = None
        if retry_after is not None and retry_after > 0:
            asked = min(float(retry_after), self._max_pause)
        if own:
            asked = rate_limit_pause(
                retry_after, self._strikes, self._backoff_base, self._backoff_cap, self._max_pause
            )
            self._last_pause = asked
            self._strikes += 1
            self._throttles += 1
            self._epoch += 1
            until = now + asked
            if self._adapt_rate:
                self._adapt_rate_down(now, until)
            if self._cwnd is not None:
                self._cwnd = max(self._window_floor, self._cwnd * _WINDOW_BETA)
                self._recap()
            if self._adapt_conc:
                base = self._limit if self._limit is not None else float(self._in_flight + 1)
                self._set_limit(max(1.0, math.floor(base * _CONC_BETA)))
        else:
            # Every reply's Retry-After moment is honoured (never earlier than asked), but
            # only the first 429 of an epoch adapts the rate.
            until = now + (asked if asked is not None else self._last_pause)
        # The pause end only ever moves later: a shorter Retry-After never shortens it.
        if until > self._pause_until:
            self._pause_until = until
        self._window_start = self._pause_until
        if self._interval:
            # The server's bucket is empty now: restart the schedule from an empty bucket, so
            # that at the pause end it holds what refilled meanwhile (at most ``burst``).
            self._tat = now + self._tau + self._interval
        self._fast = False
        return own

    def _adapt_rate_down(self, now: float, until: float) -> None:
        """A 429 that starts a pause: multiplicative decrease (see the module docstring)."""
        # The window spans every epoch since the governor became busy: short epochs between
        # pauses add up (a small-burst server answers only a few replies per epoch).
        busy = max(0.0, now - self._window_start)
        self._window_time += busy + min(until - now, _REFILL)
        self._window_busy += busy
        self._window_pauses += 1
        ok = self._window_ok
        if ok > _SAMPLES:
            # Forget half the past, so a limit that moved is measured within a few epochs.
            self._window_ok = ok = ok / 2.0
            self._window_time /= 2.0
            self._window_busy /= 2.0
        measured = None
        if ok >= _MIN_SAMPLES and self._window_time > 0:
            # What the server accepted per second of busy time plus, per pause, up to
            # _REFILL seconds of refill (for a token bucket server that refills within
            # _REFILL it is its rate; a longer pause does not deflate the measurement).
            measured = ok / self._window_time
        rate = self._rate
        if rate is not None and self._small_burst and measured is None:
            # No measurement yet: the rate in force is the best estimate.
            new = _BETA * rate
            self._w_max, self._slow_start = rate, False
        elif rate is not None:
            new = max(_BETA * rate, min(measured or 0.0, rate))
            self._w_max, self._slow_start = rate, False
        elif measured is not None:
            new = measured
            self._w_max, self._slow_start = measured, True
        elif self._window_pauses >= 2:
            # A second pause and still too few replies to measure: not a one-off but a
            # small-burst limit (each epoch sends the window at once and the server takes
            # its few tokens). A window sent at once says nothing about a rate, so pace to
            # find out: start at the low estimate (refill credit counted) and slow-start up
            # to the high one (the burst counted as rate) or the next 429, whichever first.
            new = max(self._min_rate, ok / self._window_time)
            self._w_max, self._slow_start, self._small_burst = new, True, True
        else:
            # Nothing in force and nothing measured (a 429 among the first replies): no
            # rate is invented; the pause and the in-flight window are the reaction.
            return
        new = max(self._min_rate, new)
        if self._ceiling is not None:
            new = min(new, self._ceiling)
        self._w_0 = new
        self._demand = 0.0
        self._set_rate(new)
        self._last_growth = until

    # --- observability -------------------------------------------------------------------------

    def snapshot(self) -> GovernorSnapshot:
        """Current rate, concurrency limit, pause and counters."""
        now = self._clock()
        paused = self._pause_until > now
        return GovernorSnapshot(
            rate=self._rate,
            burst=self._burst if self._rate is not None else None,
            max_concurrency=int(self._limit) if self._limit is not None else None,
            in_flight=self._in_flight,
            waiting=self._waiting,
            pause_until=self._pause_until if paused else None,
            paused_for=self._pause_until - now if paused else 0.0,
            rate_limited=self._rate_limited,
            throttle_events=self._throttles,
            window=int(self._cwnd) if self._cwnd is not None else None,
        )

    def __repr__(self) -> str:
        s = self.snapshot()
        return (
            f"RateGovernor(rate={s.rate!r}, burst={s.burst!r}, "
            f"max_concurrency={s.max_concurrency!r}, in_flight={s.in_flight}, "
            f"waiting={s.waiting}, paused_for={s.paused_for:.2f}, rate_limited={s.rate_limited})"
        )
