"""The whole-call deadline (issue 16): ``asyncio.timeout``'s semantics, one timer per call length.

The timeout behaviour over real transports is in tests/test_timeouts.py and tests/reliability;
these tests pin what the cheaper mechanism must keep: a call past its ``total`` ends with
``TotalTimeout`` in (virtual) time, an outside cancellation still wins, the task's cancel
count is balanced, many calls in flight share one loop timer, and idle lanes go away.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

import moveworks_async as mw
from moveworks_async._deadline import IDLE_LANES, DeadlineLane, Lanes, LaneTimeout
from moveworks_async._transport import Reply, Timeout

BODY = (
    b'{"response_id": "resp_1", "conversation_id": "conv_1", "status": "COMPLETED",'
    b' "outputs": [], "created_at": "2025-01-20T10:00:00Z"}'
)


class HeldTransport:
    """Replies 200 to every request once ``release`` is set (never, unless a test sets it)."""

    owner = "AsyncMoveworks"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.waiting = 0
        self.is_closed = False
        self.has_open_owned_session = False

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
        params: Mapping[str, str] | None,
        timeout: Timeout,
    ) -> Reply:
        self.waiting += 1
        try:
            await self.release.wait()
        finally:
            self.waiting -= 1
        return Reply(200, {"Content-Type": "application/json"}, BODY)

    def stream(self, *args: Any) -> Any:  # pragma: no cover - not used here
        raise NotImplementedError

    async def aclose(self) -> None:
        self.is_closed = True


def _client(
    transport: HeldTransport | _HeldStreams, timeout: float | None = 600.0
) -> mw.AsyncMoveworks:
    return mw.AsyncMoveworks(
        assistant_name="a",
        token="t",
        base_url="http://127.0.0.1:1",
        transport=transport,  # type: ignore[arg-type]
        timeout=timeout,
        max_retries=0,
    )


async def _until_waiting(transport: HeldTransport, count: int) -> None:
    for _ in range(1000):
        if transport.waiting >= count:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{transport.waiting} of {count} calls reached the transport")


def _record_timers(monkeypatch: pytest.MonkeyPatch) -> list[asyncio.TimerHandle]:
    """Every timer the running loop arms from now on (its ``call_at``, recorded)."""
    loop = asyncio.get_running_loop()
    handles: list[asyncio.TimerHandle] = []
    call_at = loop.call_at

    def recording(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        handle = call_at(when, callback, *args, **kwargs)
        handles.append(handle)
        return handle

    monkeypatch.setattr(loop, "call_at", recording)
    return handles


@pytest.mark.asyncio
async def test_calls_in_flight_share_one_loop_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    """32 calls in flight (the default governor's concurrency) with the same total arm one
    timer (``asyncio.timeout`` armed 32), and every call still completes."""
    loop = asyncio.get_running_loop()
    armed = _record_timers(monkeypatch)
    transport = HeldTransport()
    async with _client(transport) as client:
        tasks = [asyncio.ensure_future(client.responses.get("conv_1", "resp_1")) for _ in range(32)]
        await _until_waiting(transport, 32)
        assert len(armed) == 1
        assert armed[0].when() == pytest.approx(loop.time() + 600.0, abs=5.0)
        transport.release.set()
        results = await asyncio.gather(*tasks)
    assert [r.response_id for r in results] == ["resp_1"] * 32
    assert len(armed) == 1


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_call_past_its_total_is_a_total_timeout() -> None:
    """A call still waiting at ``total`` ends with TotalTimeout at that time; the task's
    cancellation count is back to where it was, so the caller's next await runs normally."""
    loop = asyncio.get_running_loop()
    transport = HeldTransport()
    async with _client(transport, timeout=5.0) as client:
        start = loop.time()
        with pytest.raises(mw.TotalTimeout) as info:
            await client.responses.get("conv_1", "resp_1")
        assert loop.time() - start == pytest.approx(5.0, abs=0.01)
        assert "5 s" in str(info.value)
        assert info.value.__context__ is None
        task = asyncio.current_task()
        assert task is not None
        assert task.cancelling() == 0
        await asyncio.sleep(1.0)  # not cancelled by a leftover request
        assert transport.waiting == 0


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_outside_cancellation_at_the_deadline_wins() -> None:
    """A caller's cancel arriving with the deadline stays a CancelledError (as with
    ``asyncio.timeout``): the deadline does not swallow it into a TotalTimeout."""
    loop = asyncio.get_running_loop()
    transport = HeldTransport()
    async with _client(transport, timeout=5.0) as client:
        task = asyncio.ensure_future(client.responses.get("conv_1", "resp_1"))
        await _until_waiting(transport, 1)
        loop.call_at(loop.time() + 5.0, task.cancel)
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_calls_of_different_lengths_each_keep_their_deadline() -> None:
    """A short call started after a long one still ends at its own deadline (one lane per
    length), and the long one is not cancelled by it."""
    loop = asyncio.get_running_loop()
    transport = HeldTransport()
    async with _client(transport, timeout=50.0) as client:
        start = loop.time()
        long_call = asyncio.ensure_future(client.responses.get("conv_1", "resp_1"))
        await _until_waiting(transport, 1)
        with pytest.raises(mw.TotalTimeout):
            await client.responses.get("conv_1", "resp_1", timeout=2.0)
        assert loop.time() - start == pytest.approx(2.0, abs=0.01)
        assert not long_call.done()
        transport.release.set()
        assert (await long_call).response_id == "resp_1"


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_idle_lanes_leave_the_registry() -> None:
    """Calls with many distinct totals (a shrinking per-call timeout) leave no lane behind
    once their timers have fired."""
    transport = HeldTransport()
    transport.release.set()
    async with _client(transport) as client:
        for index in range(20):
            await client.responses.get("conv_1", "resp_1", timeout=1.0 + index / 100)
        lanes = client._lanes
        assert lanes is not None
        assert 0 < len(lanes) <= 20
        await asyncio.sleep(2.0)
        assert len(lanes) == 0


@pytest.mark.asyncio
async def test_finished_calls_with_distinct_totals_leave_no_armed_timer_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A remaining-budget pattern (every call its own total) keeps at most IDLE_LANES idle
    lanes and as many armed timers, not one per finished call until its total runs out (the
    outside review measured 6,560 live timers and +5 MB after 5,000 such calls)."""
    handles = _record_timers(monkeypatch)
    transport = HeldTransport()
    transport.release.set()
    async with _client(transport) as client:
        for index in range(200):
            await client.responses.get("conv_1", "resp_1", timeout=300.0 - index / 10)
        lanes = client._lanes
        assert lanes is not None
        assert len(lanes) <= IDLE_LANES
        armed = [h for h in handles if not h.cancelled()]
        assert len(handles) >= 200  # one per lane as it started: the count below means something
        assert len(armed) <= IDLE_LANES


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_a_task_spawned_during_a_call_keeps_its_own_timeout() -> None:
    """A task a hook starts during a call copies the call's context, but the call's bounds
    are not its own: its call ends at its own total, neither at the parent's deadline (when
    the parent ended first) nor never (when the parent's scope was assumed to bound it)."""
    loop = asyncio.get_running_loop()
    transport = HeldTransport()
    spawned: list[asyncio.Task[Any]] = []
    fast = HeldTransport()
    fast.release.set()

    class Spawner(mw.Hooks):
        def on_request(self, info: mw.RequestInfo) -> None:
            if not spawned:
                spawned.append(
                    asyncio.ensure_future(client.responses.get("conv_1", "resp_1", timeout=10.0))
                )

    hooked = mw.AsyncMoveworks(
        assistant_name="a",
        token="t",
        base_url="http://127.0.0.1:1",
        transport=fast,  # type: ignore[arg-type]
        max_retries=0,
        hooks=[Spawner()],
    )
    async with _client(transport) as client, hooked:
        start = loop.time()
        await hooked.responses.get("conv_1", "resp_1", timeout=2.0)
        with pytest.raises(mw.TotalTimeout):
            await spawned[0]
        assert loop.time() - start == pytest.approx(10.0, abs=0.05)


class _RecordingTransport:
    """Answers at once: a token to the token endpoint, ``status`` (``BODY`` if 200) to the
    rest; records the per-attempt ``Timeout`` each request was sent with."""

    owner = "AsyncMoveworks"
    is_closed = False
    has_open_owned_session = False

    def __init__(self, status: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.headers = dict(headers or {})
        self.sent: list[tuple[str, Timeout]] = []

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
        params: Mapping[str, str] | None,
        timeout: Timeout,
    ) -> Reply:
        self.sent.append((url, timeout))
        await asyncio.sleep(0)
        if url.endswith("/oauth/v1/token"):
            token = b'{"access_token": "tok", "expires_in": 3600}'
            return Reply(200, {"Content-Type": "application/json"}, token)
        body = BODY if self.status == 200 else b'{"code": "unavailable", "message": "later"}'
        return Reply(self.status, {"Content-Type": "application/json", **self.headers}, body)

    def stream(self, *args: Any) -> Any:  # pragma: no cover - not used here
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_a_token_fetch_inside_a_call_with_a_total_takes_the_calls_attempt_bounds() -> None:
    """The token fetch a call starts sends with that call's connect/read timeouts (not the
    client's defaults), whole-call deadline or not: the call publishes its bounds to it."""
    transport = _RecordingTransport()
    own = Timeout(connect=0.5, read=0.25, total=30.0)
    async with mw.AsyncMoveworks(
        assistant_name="a",
        auth=mw.ClientCredentials("id", "secret-deadline"),
        base_url="http://127.0.0.1:1",
        transport=transport,  # type: ignore[arg-type]
        max_retries=0,
    ) as client:
        await client.responses.get("conv_1", "resp_1", timeout=own)
    assert [url.rsplit("/", 1)[-1] for url, _ in transport.sent] == ["token", "resp_1"]
    assert transport.sent[0][1] is own  # the token fetch's attempt
    assert transport.sent[1][1] is own


@pytest.mark.asyncio
@pytest.mark.virtual_time
@pytest.mark.parametrize("where", ["hook", "own transport"])
async def test_a_call_made_inside_a_call_inherits_its_deadline(where: str) -> None:
    """A call awaited inside another call, from a hook or from a transport of your own (the
    outer call then a plain, static-token, hook-less one), runs within it: it sees the outer
    call's earlier deadline, so a Retry-After wait past it ends at once with the outer call's
    TotalTimeout instead of sleeping until the outer scope cancels it."""
    loop = asyncio.get_running_loop()
    busy = _RecordingTransport(503, {"retry-after": "30"})
    inner = mw.AsyncMoveworks(
        assistant_name="a",
        token="t",
        base_url="http://127.0.0.1:1",
        transport=busy,  # type: ignore[arg-type]
        max_retries=2,
    )

    class Nested(mw.Hooks):
        async def on_request(self, info: mw.RequestInfo) -> None:
            await inner.responses.get("conv_1", "resp_1")

    class Consulting(_RecordingTransport):
        async def request(self, *args: Any, **kwargs: Any) -> Reply:
            await inner.responses.get("conv_1", "resp_1")
            return await super().request(*args, **kwargs)

    outer = mw.AsyncMoveworks(
        assistant_name="a",
        token="t",
        base_url="http://127.0.0.1:1",
        transport=(Consulting() if where == "own transport" else _RecordingTransport()),  # type: ignore[arg-type]
        max_retries=0,
        hooks=[Nested()] if where == "hook" else None,
    )
    async with outer, inner:
        start = loop.time()
        with pytest.raises(mw.TotalTimeout) as info:
            await outer.responses.get("conv_1", "resp_1", timeout=5.0)
        assert loop.time() - start < 0.01  # not at 5 s: the wait was never started
    assert "5 s" in str(info.value)
    assert len(busy.sent) == 1


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_lane_cancels_due_calls_in_order_and_rearms() -> None:
    """The lane's timer cancels only the calls that are due, skips ended ones and re-arms for
    the oldest call left."""
    loop = asyncio.get_running_loop()
    lanes = Lanes(loop)
    lane: DeadlineLane = lanes.lane(3.0)

    async def wait() -> None:
        await asyncio.sleep(100)

    tasks = [asyncio.ensure_future(wait()) for _ in range(3)]
    await asyncio.sleep(0)
    start = loop.time()
    first = lane.add(tasks[0], start + 3.0)
    await asyncio.sleep(1.0)
    second = lane.add(tasks[1], loop.time() + 3.0)
    third = lane.add(tasks[2], loop.time() + 3.0)
    lane.remove(second)  # ended before its deadline
    await asyncio.sleep(2.5)
    assert first.expired
    assert tasks[0].cancelled()
    assert not second.expired
    assert not third.expired
    assert not tasks[2].done()
    assert len(lane) == 1
    await asyncio.sleep(1.0)
    assert third.expired
    assert tasks[2].cancelled()
    assert not tasks[1].done()
    assert len(lane) == 0
    assert len(lanes) == 0
    tasks[1].cancel()


# --- LaneTimeout: asyncio.timeout_at's interface on a lane (a stream's opening phase) -------


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_lane_timeout_expires_as_asyncio_timeout_does() -> None:
    loop = asyncio.get_running_loop()
    lanes = Lanes(loop)
    scope = LaneTimeout(lanes.lane(5.0), loop.time() + 5.0)
    start = loop.time()
    with pytest.raises(TimeoutError):
        async with scope:
            await asyncio.sleep(60.0)
    assert loop.time() - start == pytest.approx(5.0, abs=0.01)
    assert scope.expired()
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    await asyncio.sleep(1.0)  # no cancellation left over


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_lane_timeout_disarmed_lets_the_block_run_on() -> None:
    loop = asyncio.get_running_loop()
    lanes = Lanes(loop)
    scope = LaneTimeout(lanes.lane(5.0), loop.time() + 5.0)
    async with scope:
        scope.reschedule(None)
        await asyncio.sleep(60.0)
    assert not scope.expired()
    with pytest.raises(ValueError, match="disarmed"):
        scope.reschedule(loop.time() + 1.0)


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_lane_timeout_leaves_an_outside_cancellation_alone() -> None:
    loop = asyncio.get_running_loop()
    lanes = Lanes(loop)
    scope = LaneTimeout(lanes.lane(5.0), loop.time() + 5.0)

    async def block() -> None:
        async with scope:
            await asyncio.sleep(60.0)

    task = asyncio.ensure_future(block())
    await asyncio.sleep(0)
    loop.call_at(loop.time() + 5.0, task.cancel)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()  # not turned into a TimeoutError


class _HeldStreams:
    """A transport whose streams never get their reply headers."""

    owner = "AsyncMoveworks"
    is_closed = False
    has_open_owned_session = False

    def __init__(self) -> None:
        self.waiting = 0

    async def request(self, *args: Any) -> Any:  # pragma: no cover - not used here
        raise NotImplementedError

    def stream(self, *args: Any) -> Any:
        transport = self

        class Opener:
            async def __aenter__(self) -> Any:
                transport.waiting += 1
                try:
                    await asyncio.Event().wait()
                finally:
                    transport.waiting -= 1

            async def __aexit__(self, *exc: object) -> None:
                return None

            def close(self) -> None:
                return None

        return Opener()

    async def aclose(self) -> None:
        self.is_closed = True


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_streams_opening_share_one_loop_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    """30 streams waiting for their reply headers arm one loop timer between them (two
    ``asyncio.timeout`` scopes per stream armed 60), and each still ends with its
    FirstEventTimeout at first_event_timeout."""
    loop = asyncio.get_running_loop()
    armed = _record_timers(monkeypatch)
    transport = _HeldStreams()

    async def one(client: mw.AsyncMoveworks) -> None:
        async with client.responses.stream("conv_1", text="q", first_event_timeout=7.0):
            raise AssertionError("no stream can open here")

    async with _client(transport, timeout=None) as client:
        start = loop.time()
        tasks = [asyncio.ensure_future(one(client)) for _ in range(30)]
        for _ in range(100):
            await asyncio.sleep(0)
        assert transport.waiting == 30
        assert len(armed) == 1
        results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(type(r) is mw.FirstEventTimeout for r in results)
    assert all(r.outcome_unknown for r in results if isinstance(r, mw.FirstEventTimeout))
    assert loop.time() - start == pytest.approx(7.0, abs=0.01)


class _LateLoop:
    """A loop stand-in whose clock a test sets, recording the timers a lane arms."""

    def __init__(self) -> None:
        self.now = 0.0
        self.armed: list[float] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Any) -> Any:
        self.armed.append(when)

        class Handle:
            def cancel(self) -> None:
                return None

        return Handle()


class _Task:
    def __init__(self) -> None:
        self.cancels = 0

    def cancelling(self) -> int:
        return 0

    def cancel(self) -> None:
        self.cancels += 1


def test_a_late_timer_expires_only_what_was_due_when_it_was_armed() -> None:
    """When the loop runs the lane's timer late (it was busy), the calls due after the time
    the timer was armed for are not expired with it: each gets a timer of its own, so another
    timer due before them (a caller's asyncio.timeout) still runs first, as with one
    asyncio.timeout per call."""
    loop = _LateLoop()
    lane = DeadlineLane(loop)  # type: ignore[arg-type]
    first, second = _Task(), _Task()
    a = lane.add(first, 1.0)  # type: ignore[arg-type]
    b = lane.add(second, 1.2)  # type: ignore[arg-type]
    assert loop.armed == [1.0]
    loop.now = 1.5  # the loop was busy past both deadlines
    lane._fire()
    assert (a.expired, first.cancels) == (True, 1)
    assert (b.expired, second.cancels) == (False, 0)
    assert loop.armed == [1.0, 1.2]  # the second call's own turn, in the loop's order
    lane._fire()
    assert (b.expired, second.cancels) == (True, 1)
    assert len(lane) == 0


@pytest.mark.asyncio
@pytest.mark.real_time_timers("a loop that runs its timers late (busy for 50 ms) is the point")
async def test_a_callers_earlier_timeout_wins_when_the_loop_runs_late() -> None:
    """Two streams waiting for headers; the second inside the caller's own asyncio.timeout,
    due before its first_event_timeout. The loop is busy across both deadlines: the caller's
    TimeoutError still comes first (the lane timer that fires for the first stream must not
    expire the second one ahead of the caller's timer)."""
    import time

    loop = asyncio.get_running_loop()
    transport = _HeldStreams()
    async with _client(transport, timeout=None) as client:

        async def first() -> BaseException | None:
            try:
                async with client.responses.stream("conv_1", text="a", first_event_timeout=0.3):
                    pass
            except mw.FirstEventTimeout as exc:
                return exc
            return None

        async def second() -> BaseException | None:
            try:
                async with (
                    asyncio.timeout(0.3),
                    client.responses.stream("conv_1", text="b", first_event_timeout=0.3),
                ):
                    pass
            except (TimeoutError, mw.APIError) as exc:
                return exc
            return None

        start = loop.time()
        one = asyncio.ensure_future(first())
        await asyncio.sleep(0.01)
        two = asyncio.ensure_future(second())
        loop.call_at(start + 0.299, time.sleep, 0.05)  # the application is busy
        got_one, got_two = await asyncio.gather(one, two)
    assert type(got_one) is mw.FirstEventTimeout
    assert type(got_two) is TimeoutError  # the caller's own, not the stream's
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
