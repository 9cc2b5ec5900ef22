"""A virtual-time event loop for tests: time jumps to the next timer when nothing is ready.

Tests marked ``virtual_time`` run on it (see ``conftest.pytest_asyncio_loop_factories``). It
uses only public asyncio surface: a selector given to ``SelectorEventLoop``, ``time()`` and
``run_in_executor``.
When the loop would block until its next timer, the selector first looks for I/O (ready now,
or within 2 ms of real time: loopback replies, the self-pipe of a thread), and only when there
is none moves the loop's clock to that timer. CPU-bound work does not advance it, so a test
that needs a deadline to pass *during* computation stays on the real loop.

:meth:`VirtualTimeLoop.settled` waits until every other task is parked without moving the
clock (the governor tests' discrete-event steps).
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any


class _JumpingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualTimeLoop | None = None

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = super().select(0)
        if ready or timeout == 0:
            return ready
        assert self.loop is not None
        if self.loop.wake_settled():
            return []  # someone waits for "every task is parked": wake it, time stands still
        if timeout is None:
            return super().select(None)  # nothing scheduled: only I/O can wake the loop
        # A moment of real time for I/O already under way (loopback sockets, a thread's wake-up
        # through the self-pipe); none is taken when the loop watches no socket but its own
        # self-pipe and no thread works for it (pure virtual-time tests: thousands of jumps).
        if len(self.get_map()) > 1 or self.loop.busy_executor():
            ready = super().select(min(timeout, 0.002))
            if ready:
                return ready
        # ... then nothing can happen before the next timer: jump to it.
        self.loop.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """``loop.time()`` is virtual: it starts at 0 and advances only when every task waits for
    a timer (never while a socket or callback is ready)."""

    def __init__(self) -> None:
        selector = _JumpingSelector()
        super().__init__(selector)
        selector.loop = self
        self._virtual = 0.0
        self._settle_waiters: list[asyncio.Future[None]] = []
        self._threads_used = False

    def time(self) -> float:
        return self._virtual

    def advance(self, seconds: float) -> None:
        self._virtual += max(seconds, 0.0)

    def run_in_executor(self, executor: Any, func: Any, *args: Any) -> asyncio.Future[Any]:
        self._threads_used = True  # results come back through the self-pipe
        return super().run_in_executor(executor, func, *args)

    def busy_executor(self) -> bool:
        """Whether work was ever handed to a thread (whose result may still be on its way)."""
        return self._threads_used

    async def settled(self) -> None:
        """Return once every other task waits (for a timer or I/O), time not advanced."""
        waiter = self.create_future()
        self._settle_waiters.append(waiter)
        await waiter

    def wake_settled(self) -> bool:
        """Called when the loop would block: wake the :meth:`settled` callers, if any."""
        waiters, self._settle_waiters = self._settle_waiters, []
        woken = False
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
                woken = True
        return woken


class VirtualTimePolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return VirtualTimeLoop()
