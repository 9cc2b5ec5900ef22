"""A timeout on the client's injected clock and sleep, with ``asyncio.timeout``'s contract.

A stream's opening phase (the wait before the POST, the wait for the reply's headers) is bounded
on the same time as its reads: the client's ``clock`` and ``sleep``, so an injected clock drives
it (virtual time in tests, a simulated clock in a caller's harness). On the default clock and
sleep (the loop's own) ``timeout_at`` returns ``asyncio.timeout_at`` itself: a loop timer, no
task, the cheap path.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from types import TracebackType

__all__ = ["SleepTimeout", "timeout_at"]


class SleepTimeout:
    """Cancel the enclosing task once ``clock() >= when``, waiting with ``sleep``.

    Same contract as :class:`asyncio.Timeout`: on expiry the block's ``CancelledError`` becomes
    ``TimeoutError`` (never an outer cancellation, which is counted with ``uncancel``);
    :meth:`expired` says whether this timeout caused it; :meth:`reschedule` moves (``None``:
    disarms) it. One watcher task sleeps towards ``when``, and sleeps again if ``when`` moved
    later meanwhile.
    """

    __slots__ = ("_cancelling", "_clock", "_expired", "_sleep", "_task", "_watcher", "_when")

    def __init__(
        self,
        when: float | None,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[object]],
    ) -> None:
        self._when = math.inf if when is None else when
        self._clock = clock
        self._sleep = sleep
        self._task: asyncio.Task[object] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._cancelling = 0
        self._expired = False

    def when(self) -> float | None:
        return None if self._when == math.inf else self._when

    def expired(self) -> bool:
        return self._expired

    def reschedule(self, when: float | None) -> None:
        self._when = math.inf if when is None else when
        if self._task is not None and not self._expired:
            self._arm()

    def _arm(self) -> None:
        watcher = self._watcher
        if watcher is not None:
            self._watcher = None
            watcher.cancel()
        if self._when != math.inf:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        clock = self._clock
        while True:
            now = clock()
            when = self._when
            if now >= when:
                break
            try:
                await self._sleep(when - now)
            except Exception:
                # An injected sleep that fails cannot be waited on: the timeout fires now
                # rather than never (the block stays bounded, and no task dies unobserved).
                break
        self._watcher = None
        self._expired = True
        assert self._task is not None
        self._task.cancel()

    async def __aenter__(self) -> SleepTimeout:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - asyncio always runs a coroutine in a task
            raise RuntimeError("SleepTimeout must be used inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        self._arm()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        watcher = self._watcher
        if watcher is not None:
            self._watcher = None
            watcher.cancel()
        if self._expired:
            assert self._task is not None
            # Our cancel is taken back; a cancellation from outside (counted above ours) is
            # never turned into a timeout.
            if self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
                raise TimeoutError from exc


def timeout_at(
    when: float | None,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[object]],
    *,
    loop_timer: bool,
) -> asyncio.Timeout | SleepTimeout:
    """A timeout at ``when`` on ``clock``: ``asyncio.timeout_at`` when ``loop_timer`` (the
    clock is the running loop's and the sleep the default one), else a :class:`SleepTimeout`."""
    if loop_timer:
        return asyncio.timeout_at(when)
    return SleepTimeout(when, clock, sleep)
