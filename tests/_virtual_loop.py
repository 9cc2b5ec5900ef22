"""A virtual-time event loop for tests: time jumps to the next timer when nothing is ready.

Tests marked ``virtual_time`` run on it (see ``conftest.pytest_asyncio_loop_factories``). It
uses only public asyncio surface: a selector given to ``SelectorEventLoop`` and ``time()``.
When the loop would block until its next timer, the selector first looks for I/O (ready now,
or within 2 ms of real time: loopback replies, the self-pipe of a thread), and only when there
is none moves the loop's clock to that timer. CPU-bound work does not advance it, so a test
that needs a deadline to pass *during* computation stays on the real loop.
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
        if timeout is None:
            return super().select(None)  # nothing scheduled: only I/O can wake the loop
        # A moment of real time for I/O already under way (loopback, the self-pipe) ...
        ready = super().select(min(timeout, 0.002))
        if ready:
            return ready
        # ... then nothing can happen before the next timer: jump to it.
        assert self.loop is not None
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

    def time(self) -> float:
        return self._virtual

    def advance(self, seconds: float) -> None:
        self._virtual += max(seconds, 0.0)


class VirtualTimePolicy(asyncio.DefaultEventLoopPolicy):
    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return VirtualTimeLoop()
