"""``responses.wait``: polls until a terminal status with capped, jittered backoff, and holds
its deadline whatever the server answers (all on the fake clock: no real waiting)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _core_support import Call, R, Wire, response
from aioresponses import aioresponses

import moveworks_async as mw
from moveworks_async._polling import poll_delays

pytestmark = pytest.mark.asyncio

# Nominal schedule: 0.5 s growing by 1.5x, capped at 5 s.
NOMINAL = [0.5, 0.75, 1.125, 1.6875, 2.53125, 3.796875, 5.0, 5.0, 5.0]


@pytest.fixture
def wire() -> Iterator[Wire]:
    with aioresponses() as mock:
        yield Wire(mock)


def make_client(fake_time: Any, rng: float | None = None, **kwargs: Any) -> mw.AsyncMoveworks:
    client = mw.AsyncMoveworks(
        assistant_name="acme-capi",
        token="tok-test",
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        **kwargs,
    )
    if rng is not None:
        client._rng = lambda: rng  # pin the jitter to make the schedule exact
    return client


def statuses(*values: str) -> Any:
    """A handler answering the given statuses in order (the last one forever)."""
    queue = list(values)

    def handler(call: Call) -> Any:
        status = queue.pop(0) if len(queue) > 1 else queue[0]
        return response(status)

    return handler


@pytest.mark.parametrize("terminal", ["COMPLETED", "FAILED"])
async def test_wait_stops_at_terminal_status(wire: Wire, fake_time: Any, terminal: str) -> None:
    """Polling stops at COMPLETED or FAILED and returns that response (FAILED is not raised)."""
    wire.serve(statuses("CREATED", "IN_PROGRESS", "IN_PROGRESS", terminal))
    async with make_client(fake_time, rng=0.0) as client:
        resp = await client.responses.wait("conv_1", "resp_1")
    assert resp.status == terminal
    assert len(wire.calls) == 4
    assert all(
        c.method == "GET" and c.path.endswith("/conversations/conv_1/responses/resp_1")
        for c in wire.calls
    )
    assert fake_time.sleeps == NOMINAL[:3]


async def test_wait_returns_at_once_when_already_terminal(wire: Wire, fake_time: Any) -> None:
    """A response that is already complete costs one poll and no sleep."""
    wire.serve(statuses("COMPLETED"))
    async with make_client(fake_time) as client:
        resp = await client.responses.wait("conv_1", "resp_1")
    assert resp.text
    assert len(wire.calls) == 1
    assert fake_time.sleeps == []


async def test_backoff_schedule_without_jitter_is_capped(wire: Wire, fake_time: Any) -> None:
    """With jitter pinned to zero the delays grow 0.5 s x1.5 up to the 5 s cap."""
    wire.serve(statuses(*["IN_PROGRESS"] * 9, "COMPLETED"))
    async with make_client(fake_time, rng=0.0) as client:
        await client.responses.wait("conv_1", "resp_1")
    assert fake_time.sleeps == pytest.approx(NOMINAL)


async def test_backoff_schedule_full_jitter_shortens_by_a_fifth(wire: Wire, fake_time: Any) -> None:
    """With the jitter at its maximum every delay is 80% of the nominal one."""
    wire.serve(statuses(*["IN_PROGRESS"] * 9, "COMPLETED"))
    async with make_client(fake_time, rng=1.0) as client:
        await client.responses.wait("conv_1", "resp_1")
    assert fake_time.sleeps == pytest.approx([d * 0.8 for d in NOMINAL])


async def test_backoff_schedule_random_jitter_stays_in_bounds(wire: Wire, fake_time: Any) -> None:
    """With real randomness each delay lies in [0.8, 1.0] x nominal and never exceeds the cap."""
    wire.serve(statuses(*["IN_PROGRESS"] * 9, "COMPLETED"))
    async with make_client(fake_time) as client:
        await client.responses.wait("conv_1", "resp_1")
    assert len(fake_time.sleeps) == len(NOMINAL)
    for delay, nominal in zip(fake_time.sleeps, NOMINAL, strict=True):
        assert 0.8 * nominal <= delay <= nominal <= 5.0


async def test_jitter_differs_between_waiters(wire: Wire, fake_time: Any) -> None:
    """Two waits draw different jitter, so many waiting tasks do not poll in lockstep."""
    wire.serve(statuses(*["IN_PROGRESS"] * 6, "COMPLETED"))
    async with make_client(fake_time) as client:
        await client.responses.wait("conv_1", "resp_1")
        first = list(fake_time.sleeps)
        fake_time.sleeps.clear()
        wire.serve(statuses(*["IN_PROGRESS"] * 6, "COMPLETED"))
        await client.responses.wait("conv_1", "resp_1")
    assert first != fake_time.sleeps


async def test_poll_delays_generator() -> None:
    """The pure schedule: initial, factor, cap and jitter are honoured."""
    delays = poll_delays(initial=1.0, factor=2.0, cap=5.0, jitter=0.5, rng=lambda: 1.0)
    assert [next(delays) for _ in range(5)] == [0.5, 1.0, 2.0, 2.5, 2.5]


async def test_unknown_status_is_not_terminal(wire: Wire, fake_time: Any) -> None:
    """An undocumented status keeps the wait polling."""
    wire.serve(statuses("PAUSED", "QUEUED", "COMPLETED"))
    async with make_client(fake_time) as client:
        resp = await client.responses.wait("conv_1", "resp_1")
    assert resp.status == "COMPLETED"
    assert len(wire.calls) == 3


async def test_deadline_holds_against_in_progress_forever(wire: Wire, fake_time: Any) -> None:
    """A server answering IN_PROGRESS forever gets WaitTimeoutError exactly at the deadline."""
    wire.serve(statuses("IN_PROGRESS"))
    async with make_client(fake_time) as client:
        start = fake_time.clock()
        with pytest.raises(mw.WaitTimeoutError) as info:
            await client.responses.wait("conv_1", "resp_1", timeout=150.0)
    assert fake_time.clock() - start == pytest.approx(150.0)
    assert max(fake_time.sleeps) <= 5.0
    assert 30 <= len(wire.calls) <= 40  # ~150 s at <= 5 s per poll, not a busy loop
    error = info.value
    assert isinstance(error, TimeoutError)
    assert isinstance(error, mw.MoveworksError)
    assert error.response_id == "resp_1"
    assert isinstance(error.response, mw.Response)
    assert error.response.status == "IN_PROGRESS"
    assert "150" in str(error)


async def test_deadline_holds_with_unknown_status(wire: Wire, fake_time: Any) -> None:
    """An unknown status forever also ends at the deadline, with that response attached."""
    wire.serve(statuses("PAUSED"))
    async with make_client(fake_time) as client:
        with pytest.raises(mw.WaitTimeoutError) as info:
            await client.responses.wait("conv_1", "resp_1", timeout=20)
    assert info.value.response is not None
    assert info.value.response.status == "PAUSED"
    assert fake_time.clock() - 1000.0 == pytest.approx(20.0)


async def test_last_seen_response_is_attached(wire: Wire, fake_time: Any) -> None:
    """``.response`` is the newest response seen, not the first."""
    seen = iter(range(1000))

    def handler(call: Call) -> Any:
        return response("IN_PROGRESS", created_at=f"2025-01-20T10:00:{next(seen) % 60:02d}Z")

    wire.serve(handler)
    async with make_client(fake_time) as client:
        with pytest.raises(mw.WaitTimeoutError) as info:
            await client.responses.wait("conv_1", "resp_1", timeout=10)
    last = info.value.response
    assert last is not None
    assert last.created_at.second == (len(wire.calls) - 1) % 60


async def test_deadline_holds_when_polls_are_slow(wire: Wire, fake_time: Any) -> None:
    """Polls that each take 60 s of (fake) time do not stretch a 150 s deadline into more polls."""

    def handler(call: Call) -> Any:
        fake_time.now += 60
        return response("IN_PROGRESS")

    wire.serve(handler)
    async with make_client(fake_time) as client:
        with pytest.raises(mw.WaitTimeoutError):
            await client.responses.wait("conv_1", "resp_1", timeout=150)
    assert len(wire.calls) == 3


async def test_short_timeout(wire: Wire, fake_time: Any) -> None:
    """A timeout shorter than the first delay polls once and sleeps only until the deadline."""
    wire.serve(statuses("IN_PROGRESS"))
    async with make_client(fake_time) as client:
        with pytest.raises(mw.WaitTimeoutError):
            await client.responses.wait("conv_1", "resp_1", timeout=0.1)
    assert len(wire.calls) == 1
    assert fake_time.sleeps == [pytest.approx(0.1)]


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "150"])
async def test_bad_timeout_is_refused_before_any_poll(wire: Wire, fake_time: Any, bad: Any) -> None:
    """A timeout that is not a positive finite number (nan, inf...) is an
    InvalidParameterError before any request, not a wait without a deadline."""
    wire.serve(statuses("IN_PROGRESS"))
    async with make_client(fake_time) as client:
        with pytest.raises(mw.InvalidParameterError, match="timeout"):
            await client.responses.wait("conv_1", "resp_1", timeout=bad)
    assert wire.calls == []


async def test_poll_errors_propagate(wire: Wire, fake_time: Any) -> None:
    """A 404 while polling is raised as NotFoundError, not swallowed until the deadline."""
    wire.serve(lambda call: R(404, {"error": {"code": "NOT_FOUND", "message": "gone"}}))
    async with make_client(fake_time) as client:
        with pytest.raises(mw.NotFoundError):
            await client.responses.wait("conv_1", "resp_1")
    assert len(wire.calls) == 1


async def test_transient_poll_error_is_retried(wire: Wire, fake_time: Any) -> None:
    """A 503 during polling is retried by the GET and the wait goes on to completion."""
    replies = [
        response("IN_PROGRESS"),
        R(503, {"error": {"code": "X", "message": "later"}}),
        response("COMPLETED"),
    ]
    wire.serve(lambda call: replies.pop(0))
    async with make_client(fake_time) as client:
        resp = await client.responses.wait("conv_1", "resp_1")
    assert resp.status == "COMPLETED"
    assert len(wire.calls) == 3


async def test_default_timeout_is_150_seconds(wire: Wire, fake_time: Any) -> None:
    """Without ``timeout=`` the wait gives up after the documented 150 s."""
    wire.serve(statuses("IN_PROGRESS"))
    async with make_client(fake_time) as client:
        with pytest.raises(mw.WaitTimeoutError):
            await client.responses.wait("conv_1", "resp_1")
    assert fake_time.clock() - 1000.0 == pytest.approx(150.0)
