"""The per-call work of the hot path (issue 16): what it must still do, done cheaply."""

from __future__ import annotations

import asyncio

import anyio
import pytest

import moveworks_async as mw
from moveworks_async._seam import loop_time


@pytest.mark.asyncio
async def test_default_clock_is_the_running_loops_time() -> None:
    """The default clock is ``loop.time()`` (what ``anyio.current_time()`` gives on
    asyncio), read without anyio's backend lookup; an injected clock still wins."""
    client = mw.AsyncMoveworks(assistant_name="a", token="t", base_url="http://127.0.0.1:1")
    try:
        assert client._clock is loop_time
        loop = asyncio.get_running_loop()
        before = loop.time()
        now = client._clock()
        assert before <= now <= loop.time()
        assert abs(now - anyio.current_time()) < 1.0
    finally:
        await client.aclose()
    fake = mw.AsyncMoveworks(
        assistant_name="a", token="t", base_url="http://127.0.0.1:1", clock=lambda: 42.0
    )
    try:
        assert fake._clock() == 42.0
    finally:
        await fake.aclose()


@pytest.mark.asyncio
async def test_notifications_governor_keeps_its_own_clock_by_default() -> None:
    """The notifications governor takes the client's clock only when one was injected."""
    client = mw.AsyncMoveworks(assistant_name="a", token="t", base_url="http://127.0.0.1:1")
    fake_clock = lambda: 7.0  # noqa: E731
    fake = mw.AsyncMoveworks(
        assistant_name="a", token="t", base_url="http://127.0.0.1:1", clock=fake_clock
    )
    try:
        assert client.notifications.governor._clock is not loop_time
        assert fake.notifications.governor._clock is fake_clock
    finally:
        await client.aclose()
        await fake.aclose()
