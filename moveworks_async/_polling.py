"""Polling schedule of ``responses.wait``: a pure generator of delays.

Capped exponential backoff with jitter: the first poll comes quickly (answers often finish in
a few seconds), later ones spread out to at most ``cap`` seconds, and a jitter factor in
``[1 - jitter, 1]`` keeps many waiting tasks from polling in lockstep.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

__all__ = ["poll_delays"]


def poll_delays(
    initial: float = 0.5,
    factor: float = 1.5,
    cap: float = 5.0,
    jitter: float = 0.2,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Yield the delay before each successive poll, forever."""
    delay = initial
    while True:
        yield delay * (1.0 - jitter * rng())
        delay = min(cap, delay * factor)
