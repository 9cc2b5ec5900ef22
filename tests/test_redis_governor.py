"""RedisRateGovernor against a real redis-server: the shared bucket and pause, the failure
policy when Redis is unreachable, and four processes sharing one limit.

The ``redis_url`` fixture starts its own ``redis-server`` on a free loopback port (no
persistence) and skips the tests when the binary is missing; under CI=true a missing binary
fails instead, since .ci/run installs it with apt.
These tests run in real time, a few seconds in all.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require

import moveworks_async as mw
from moveworks_async.testing import FakeMoveworks

pytestmark = [pytest.mark.asyncio, pytest.mark.redis]

WORKER = Path(__file__).with_name("redis_worker.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _redis_server(port: int) -> Iterator[str]:
    binary = shutil.which("redis-server")
    require(binary is not None, "redis-server is not installed (apt-get install redis-server)")
    assert binary is not None
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A private redis-server for this module."""
    with _redis_server(_free_port()) as url:
        yield url


@pytest.fixture
def key() -> str:
    """A fresh bucket key per test."""
    return f"mw-test:{uuid.uuid4().hex}"


async def test_two_governors_share_one_bucket(redis_url: str, key: str) -> None:
    """Two governors on one key: burst 5 then 50/s in total, not 50/s each."""
    a = mw.RedisRateGovernor(redis_url, key, rate=50, burst=5)
    b = mw.RedisRateGovernor(redis_url, key, rate=50, burst=5)
    times: list[float] = []

    async def one(g: mw.RedisRateGovernor) -> None:
        ticket = await g.acquire()
        times.append(time.monotonic())
        g.release(ticket, 200)

    t0 = time.monotonic()
    await asyncio.gather(*(one(a if i % 2 else b) for i in range(30)))
    elapsed = time.monotonic() - t0
    await a.aclose()
    await b.aclose()
    assert (30 - 5) / 50 * 0.9 <= elapsed <= 1.5
    assert sum(1 for t in times if t - t0 < 0.05) <= 5 + 0.05 * 50 + 1  # burst + refill


async def test_429_on_one_governor_pauses_the_other(redis_url: str, key: str) -> None:
    """A 429 reported by process A (Retry-After 0.5) holds process B's next send >= 0.5 s."""
    a = mw.RedisRateGovernor(redis_url, key, rate=100)
    b = mw.RedisRateGovernor(redis_url, key, rate=100)
    ticket = await a.acquire()
    a.release(ticket, 429)
    assert await a.report_rate_limit(ticket, 0.5) is True
    waits: list[tuple[float | None, str]] = []

    async def on_wait(delay: float | None, reason: str) -> None:
        waits.append((delay, reason))

    t0 = time.monotonic()
    other = await b.acquire(on_wait)
    assert time.monotonic() - t0 >= 0.45
    assert waits[0][1] == "paused"
    b.release(other, 200)
    # A second 429 for a ticket issued before the pause is collateral: no new epoch.
    assert await b.report_rate_limit(ticket, 0.1) is False
    assert b.snapshot().rate_limited == 1
    await a.aclose()
    await b.aclose()


async def test_collateral_shorter_retry_after_never_shortens_the_shared_pause(
    redis_url: str, key: str
) -> None:
    """Rule for the shared pause: process A's 429 asks 0.6 s; a collateral 429 reported by
    process B asking 0.1 s leaves the pause at 0.6 s for everyone."""
    a = mw.RedisRateGovernor(redis_url, key, rate=100)
    b = mw.RedisRateGovernor(redis_url, key, rate=100)
    first, second = await a.acquire(), await b.acquire()
    t0 = time.monotonic()
    a.release(first, 429)
    assert await a.report_rate_limit(first, 0.6) is True
    b.release(second, 429)
    assert await b.report_rate_limit(second, 0.1) is False
    assert b.snapshot().paused_for > 0.45
    ticket = await b.acquire()
    assert time.monotonic() - t0 >= 0.55
    b.release(ticket, 200)
    await a.aclose()
    await b.aclose()


async def test_one_off_429_pauses_then_resumes_at_the_configured_rate(
    redis_url: str, key: str
) -> None:
    """A one-off 429 (Retry-After 0.3) pauses, then the configured 100/s holds again: 30
    sends right after the pause take the refilled burst plus 1/rate each, not longer."""
    g = mw.RedisRateGovernor(redis_url, key, rate=100, burst=10)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 0.3)
    t0 = time.monotonic()
    times: list[float] = []

    async def one() -> None:
        t = await g.acquire()
        times.append(time.monotonic())
        g.release(t, 200)

    await asyncio.gather(*(one() for _ in range(30)))
    await g.aclose()
    assert min(times) - t0 >= 0.25
    # 10 from the refilled bucket, 20 paced at 100/s: 0.2 s (generous bound for a busy VM).
    assert max(times) - min(times) <= 0.2 + 0.4
    assert g.snapshot().rate == 100


async def test_one_redis_round_trip_per_request_while_pacing(redis_url: str, key: str) -> None:
    """Pacing at 200/s with an empty bucket: the next token is reserved in the same call,
    so 40 requests cost 40 round trips, not one per wait plus one per token."""
    g = mw.RedisRateGovernor(redis_url, key, rate=200, burst=1)

    async def one() -> None:
        t = await g.acquire()
        g.release(t, 200)

    await asyncio.gather(*(one() for _ in range(40)))
    await g.aclose()
    assert g.redis_round_trips == 40


async def test_shared_pause_above_max_wait_fails_fast(redis_url: str, key: str) -> None:
    """A shared pause longer than max_wait gives RateLimitError instead of a long sleep."""
    g = mw.RedisRateGovernor(redis_url, key, rate=10, max_wait=5)
    ticket = await g.acquire()
    g.release(ticket, 429)
    await g.report_rate_limit(ticket, 30.0)
    t0 = time.monotonic()
    with pytest.raises(mw.RateLimitError) as info:
        await g.acquire()
    assert time.monotonic() - t0 < 1.0
    assert 29.0 <= (info.value.retry_after or 0) <= 30.0
    snap = g.snapshot()
    assert snap.paused_for > 29.0
    assert (snap.in_flight, snap.waiting) == (0, 0)
    await g.aclose()


async def test_local_concurrency_cap_applies_on_top(redis_url: str, key: str) -> None:
    """max_concurrency limits this process's attempts in flight."""
    g = mw.RedisRateGovernor(redis_url, key, rate=1000, max_concurrency=2)
    a, b = await g.acquire(), await g.acquire()
    third = asyncio.ensure_future(g.acquire())
    await asyncio.sleep(0.05)
    assert not third.done()
    g.release(a, 200)
    c = await asyncio.wait_for(third, 1.0)
    assert g.snapshot().in_flight == 2
    g.release(b, 200)
    g.release(c, 200)
    await g.aclose()


# --- Redis unreachable --------------------------------------------------------------------


async def test_unreachable_redis_fails_open_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """'open': requests go through a local fallback; one WARNING however many acquires."""
    caplog.set_level(logging.INFO, logger="moveworks_async")
    url = f"redis://:hunter2@127.0.0.1:{_free_port()}/0"
    g = mw.RedisRateGovernor(url, "k", rate=100, burst=10, on_redis_error="open")
    for _ in range(20):
        ticket = await g.acquire()
        g.release(ticket, 200)
    assert g.degraded
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "falling back to a local governor" in warnings[0].getMessage()
    assert "hunter2" not in warnings[0].getMessage()  # the URL's password is never logged
    snap = g.snapshot()
    assert (snap.rate, snap.in_flight) == (100.0, 0)
    # A 429 while degraded pauses the local fallback.
    ticket = await g.acquire()
    g.release(ticket, 429)
    assert await g.report_rate_limit(ticket, 0.2) is True
    assert g.snapshot().paused_for > 0.1
    await g.aclose()


async def test_fail_open_recovers_when_redis_comes_back(caplog: pytest.LogCaptureFixture) -> None:
    """After retry_redis_after, a reachable Redis is used again (logged at INFO)."""
    caplog.set_level(logging.INFO, logger="moveworks_async")
    port = _free_port()
    key = f"mw-test:{uuid.uuid4().hex}"
    g = mw.RedisRateGovernor(f"redis://127.0.0.1:{port}/0", key, rate=100, retry_redis_after=0.2)
    g.release(await g.acquire(), 200)
    states = [g.degraded]
    with _redis_server(port):
        await asyncio.sleep(0.25)
        g.release(await g.acquire(), 200)
        states.append(g.degraded)
        assert states == [True, False]
        assert any("reachable again" in r.getMessage() for r in caplog.records)
        await g.aclose()


async def test_unreachable_redis_fails_closed_with_a_typed_error() -> None:
    """'closed': acquire raises GovernorUnavailableError and nothing is let through."""
    g = mw.RedisRateGovernor(
        f"redis://127.0.0.1:{_free_port()}/0", "k", rate=100, on_redis_error="closed"
    )
    with pytest.raises(mw.GovernorUnavailableError, match="unreachable"):
        await g.acquire()
    assert g.snapshot().in_flight == 0
    with pytest.raises(mw.GovernorUnavailableError):
        await g.report_rate_limit(0, 1.0)
    await g.aclose()


async def test_fail_closed_surfaces_through_the_client() -> None:
    """A client with a fail-closed governor raises GovernorUnavailableError, sends nothing."""
    g = mw.RedisRateGovernor(
        f"redis://127.0.0.1:{_free_port()}/0", "k", rate=100, on_redis_error="closed"
    )
    async with FakeMoveworks(stream_delay=0) as server:
        async with mw.AsyncMoveworks(
            assistant_name="acme-capi", token="test-token", base_url=server.url, governor=g
        ) as client:
            with pytest.raises(mw.GovernorUnavailableError):
                await client.conversations.create()
        assert server.stats.requests_total == 0


async def test_missing_redis_py_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without redis-py installed, the ImportError says which extra to install."""
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ImportError, match=r"moveworks-async\[redis\]"):
        mw.RedisRateGovernor("redis://localhost", "k", rate=1)


async def test_bad_settings_are_rejected() -> None:
    """Bad URL, key or failure policy raise InvalidParameterError."""
    with pytest.raises(mw.InvalidParameterError):
        mw.RedisRateGovernor("", "k", rate=1)
    with pytest.raises(mw.InvalidParameterError):
        mw.RedisRateGovernor("redis://x", "", rate=1)
    with pytest.raises(mw.InvalidParameterError):
        mw.RedisRateGovernor("redis://x", "k", rate=1, on_redis_error="maybe")  # type: ignore[arg-type]
    with pytest.raises(mw.InvalidParameterError):
        mw.RedisRateGovernor("redis://x", "k", rate=0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"key_ttl": 0}, "key_ttl"),
        ({"key_ttl": 0.001}, "key_ttl"),
        ({"key_ttl": float("nan")}, "key_ttl"),
        ({"redis_timeout": 0}, "redis_timeout"),
        ({"redis_timeout": float("nan")}, "redis_timeout"),
        ({"redis_timeout": float("inf")}, "redis_timeout"),
        ({"retry_redis_after": -1}, "retry_redis_after"),
        ({"retry_redis_after": float("nan")}, "retry_redis_after"),
        ({"fallback": "x"}, "fallback"),
        ({"key": "\ud800"}, "key"),
        ({"key": "k" * 100_000}, "key"),
        ({"key": 5}, "key"),
        ({"rate": float("nan")}, "rate"),
        ({"rate": True}, "rate"),
        ({"burst": 0}, "burst"),
        ({"max_concurrency": 0}, "max_concurrency"),
    ],
    ids=lambda v: repr(v)[:40],
)
async def test_every_argument_is_validated_before_any_io(kwargs: dict[str, Any], name: str) -> None:
    """Review defect 5: each of these used to be accepted and then disabled the limit
    (key_ttl=0), failed later with a bare ValueError/TimeoutError/AttributeError, or
    UnicodeEncodeError at acquire(). Now InvalidParameterError names the argument at once."""
    args: dict[str, Any] = {"rate": 10, "fallback": None, **kwargs}
    key = args.pop("key", "k")
    with pytest.raises(mw.InvalidParameterError, match=name):
        mw.RedisRateGovernor("redis://127.0.0.1:1", key, **args)


async def test_unix_socket_url_is_named_in_errors() -> None:
    """A unix:// URL is described by its path, not as localhost:6379."""
    g = mw.RedisRateGovernor("unix:///nonexistent/redis.sock", "k", rate=1)
    assert "/nonexistent/redis.sock" in repr(g)
    assert "6379" not in repr(g)


# --- four processes, one limit --------------------------------------------------------------


def _max_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    return max((bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times)), default=0)


async def _run_workers(
    server: FakeMoveworks, redis_url: str, mode: str, tasks: int
) -> tuple[list[dict[str, Any]], float]:
    async with mw.AsyncMoveworks(
        assistant_name="acme-capi", token="setup", base_url=server.url
    ) as setup:
        conversation = await setup.conversations.create()
        response = await setup.responses.create(conversation.conversation_id, text="hi")
    await asyncio.sleep(1.1)  # let the server's bucket refill after the setup calls
    server.requests.clear()
    start_at = time.time() + 2.0  # time for the four interpreters to start
    key = f"mw-test:{uuid.uuid4().hex}"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(WORKER),
            "--url",
            server.url,
            "--redis",
            redis_url,
            "--key",
            key,
            "--rate",
            "50",
            "--burst",
            "50",
            "--tasks",
            str(tasks),
            "--conversation",
            conversation.conversation_id,
            "--response",
            response.response_id,
            "--start-at",
            str(start_at),
            "--mode",
            mode,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(4)
    ]
    results = []
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    return results, start_at


async def test_four_processes_share_one_limit(redis_url: str) -> None:
    """4 processes x 60 calls, one 50/s (burst 50) limit: the server never sees more."""
    async with FakeMoveworks(stream_delay=0, token=None, rate_limit=(50, 50)) as server:
        results, _ = await _run_workers(server, redis_url, "redis", 60)
        times = [r.time for r in server.requests if "/responses/" in r.path]
        limited = server.stats.rate_limited
    ok = sum(r["ok"] for r in results)
    peak = _max_in_any_second(times)
    span = max(times) - min(times)
    print(
        f"\n[redis, 4 processes] ok={ok}/240 server requests={len(times)} 429s={limited} "
        f"peak 1 s window={peak} (limit 50 + burst 50) span={span:.2f}s "
        f"steady rate={(len(times) - 50) / span:.1f}/s"
    )
    assert ok == 240
    assert all(not r["errors"] for r in results)
    # Sends are paced exactly (burst + rate x 1 s per second); arrivals can bunch by a few
    # because connection set-up delays the burst more than later requests.
    assert peak <= (50 + 50) * 1.05
    assert limited <= 240 * 0.05
    assert span >= (240 - 50) / 50 * 0.9  # paced at the shared rate, not 4x it
    steady = (len(times) - 50) / span
    assert steady <= 50 * 1.05


async def test_four_processes_without_redis_overrun_the_limit(redis_url: str) -> None:
    """Control: 4 processes each with a local 50/s governor hit 429s (4x the limit)."""
    async with FakeMoveworks(stream_delay=0, token=None, rate_limit=(50, 50)) as server:
        results, _ = await _run_workers(server, redis_url, "local", 60)
        times = [r.time for r in server.requests if "/responses/" in r.path]
        limited = server.stats.rate_limited
    ok = sum(r["ok"] for r in results)
    print(
        f"\n[local, 4 processes] ok={ok}/240 server requests={len(times)} 429s={limited} "
        f"peak 1 s window={_max_in_any_second(times)}"
    )
    assert limited > 0


class _HangingRedis:
    """A Redis client whose every script call times out after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.calls = 0

    def register_script(self, script: str) -> Any:
        async def call(keys: Any = None, args: Any = None) -> Any:
            from redis.exceptions import TimeoutError as RedisTimeout

            self.calls += 1
            await asyncio.sleep(self.delay)
            raise RedisTimeout("Timeout reading from socket")

        return call


async def test_queued_tasks_do_not_each_wait_for_a_dead_redis() -> None:
    """Redis timing out: one task pays the timeout, the 19 queued behind it fall back at once."""
    fake = _HangingRedis(0.3)
    g = mw.RedisRateGovernor("redis://unused", "k", rate=1000, client=fake)

    async def one() -> None:
        g.release(await g.acquire(), 200)

    t0 = time.monotonic()
    await asyncio.gather(*(one() for _ in range(20)))
    assert time.monotonic() - t0 < 1.0
    assert fake.calls == 1
    assert g.degraded


async def test_closing_a_client_wakes_its_call_in_the_pause(redis_url: str, key: str) -> None:
    """A call waiting out a pause of the Redis governor (a 429 another process reported) ends
    at once with ClientStateError when its client closes; the governor itself stays usable."""
    asleep: list[float] = []

    async def sleep(seconds: float) -> None:  # virtual time that does not pass
        asleep.append(seconds)
        await asyncio.Event().wait()

    other = mw.RedisRateGovernor(redis_url, key, rate=100)
    ticket = await other.acquire()
    other.release(ticket, 429)
    assert await other.report_rate_limit(ticket, 30.0) is True
    governor = mw.RedisRateGovernor(redis_url, key, rate=100, sleep=sleep)
    client = mw.AsyncMoveworks(
        assistant_name="acme-capi", token="t", base_url="http://127.0.0.1:9", governor=governor
    )
    call = asyncio.ensure_future(client.responses.get("conv_1", "resp_1"))
    for _ in range(200):  # until the call sleeps out the shared pause
        if asleep:
            break
        await asyncio.sleep(0.01)
    assert asleep
    assert asleep[0] >= 29
    await client.aclose()
    with pytest.raises(mw.ClientStateError):
        await asyncio.wait_for(call, 5.0)
    assert governor.snapshot().waiting == 0
    await governor.aclose()
    await other.aclose()
