"""The client-wide rate governor (first cut: shared 429 pause, token bucket, concurrency cap).

Every attempt of every task of a client passes through ``acquire()``/``release()``; replies
are fed back through ``on_response()``. A 429 moves one shared ``pause_until`` forward, so all
tasks wait once, together, instead of each sleeping on its own.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable

import anyio
from attrs import frozen

__all__ = ["GovernorSnapshot", "RateGovernor"]


@frozen
class GovernorSnapshot:
    """Observable state of a governor at one instant."""

    rate: float | None
    burst: float | None
    max_concurrency: int | None
    in_flight: int
    waiting: int
    pause_until: float | None
    rate_limited: int


class RateGovernor:
    """Paces the attempts of every task that shares it.

    Args:
        rate: requests per second allowed (token bucket), or None for no static limit.
        burst: bucket size (default: ``rate``, at least 1).
        max_concurrency: attempts in flight at once, or None.
        clock: monotonic seconds (default: the event loop's clock).
        sleep: async sleep (default ``anyio.sleep``); inject both to test without waiting.
    """

    def __init__(
        self,
        rate: float | None = None,
        burst: float | None = None,
        max_concurrency: int | None = None,
        *,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._rate = rate
        self._burst = float(burst if burst is not None else max(rate or 1.0, 1.0))
        self._max_concurrency = max_concurrency
        self._clock = clock or anyio.current_time
        self._sleep = sleep or anyio.sleep
        self._rng = rng
        self._tokens = self._burst
        self._stamp: float | None = None
        self._in_flight = 0
        self._waiting = 0
        self._pause_until = 0.0
        self._rate_limited = 0
        self._slots = anyio.Semaphore(max_concurrency) if max_concurrency else None

    async def acquire(self) -> None:
        """Wait until this governor lets one more attempt go."""
        self._waiting += 1
        try:
            while True:
                now = self._clock()
                if now < self._pause_until:
                    await self._sleep(self._pause_until - now + self._rng() * 0.05)
                    continue
                if self._rate is not None:
                    wait = self._take_token(now)
                    if wait > 0:
                        await self._sleep(wait)
                        continue
                break
            if self._slots is not None:
                await self._slots.acquire()
        finally:
            self._waiting -= 1
        self._in_flight += 1

    def _take_token(self, now: float) -> float:
        assert self._rate is not None
        if self._stamp is not None:
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self._rate

    def release(self) -> None:
        """Give back the slot taken by :meth:`acquire`."""
        self._in_flight -= 1
        if self._slots is not None:
            self._slots.release()

    def on_response(self, status: int | None, pause: float | None = None) -> None:
        """Feed back one attempt's outcome; a 429 pauses every task for ``pause`` seconds."""
        if status == 429:
            self._rate_limited += 1
            if pause is not None:
                self._pause_until = max(self._pause_until, self._clock() + pause)

    def snapshot(self) -> GovernorSnapshot:
        """Current rate, concurrency, pause and counters."""
        now = self._clock()
        return GovernorSnapshot(
            rate=self._rate,
            burst=self._burst if self._rate is not None else None,
            max_concurrency=self._max_concurrency,
            in_flight=self._in_flight,
            waiting=self._waiting,
            pause_until=self._pause_until if self._pause_until > now else None,
            rate_limited=self._rate_limited,
        )
