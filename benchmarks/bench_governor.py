"""#6: the rate governor: storms against a 100/s server, and one-off 429s.

Storm: the package's fake server runs in its own process (``python -m moveworks_async.testing
--rate-limit 100,100``: a token bucket of 100/s, burst 100, answering 429 with
``Retry-After: 1`` when empty). 1,000 tasks each call ``responses.create`` once through one
client. Measured: wall time until every task is done, against the ideal N/L = 10 s, and the
requests the server saw (its ``/_fake/stats`` counters, 429s included) against N. With the
full bucket at the start, the physical floor is (N - burst) / L = 9 s, so a ratio below 1.0
is possible.

Variants: ``RateGovernor(rate=100, burst=100)`` (configured to the server's limit) and the
default governor (nothing configured: it learns only from 429s) at ``max_connections`` 100,
1,000 and 2,000 (the default governor's concurrency cap is the pool size).

One-off: an in-process fake server with no limit answers ONE early call with 429 +
``Retry-After: 1`` (``Fault.rate_limited``, times=1), 200 concurrent creates, then 20 more:
how long the 20 take once the pause is over (the learned-rate collapse of issue #11 made
them take minutes). Default governor and ``RateGovernor(rate=200, burst=200)``.

Redis: when ``redis-server`` is on PATH, the storm also runs through
``RedisRateGovernor(rate=100, burst=100)`` on a private redis-server, and reports the Redis
round trips per request (``redis_round_trips`` / N).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

from ._common import Row, Server, Worker, fmt_mmm, mmm, worker_main

RATE, BURST = 100, 100
#: kind -> (label, governor settings or None for the default, max_connections)
VARIANTS: dict[str, tuple[str, dict[str, float] | None, int]] = {
    "configured": (
        f"RateGovernor(rate={RATE}, burst={BURST})",
        {"rate": RATE, "burst": BURST},
        1000,
    ),
    "default-100": ("default, max_connections=100", None, 100),
    "default-1000": ("default, max_connections=1000", None, 1000),
    "default-2000": ("default, max_connections=2000", None, 2000),
    "redis": (
        f"RedisRateGovernor(rate={RATE}, burst={BURST})",
        {"rate": RATE, "burst": BURST},
        1000,
    ),
}
ONE_OFF: dict[str, tuple[str, dict[str, float] | None]] = {
    "oneoff-default": ("one-off 429, default", None),
    "oneoff-configured": (
        "one-off 429, RateGovernor(rate=200, burst=200)",
        {"rate": 200, "burst": 200},
    ),
}


def _stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/_fake/stats", timeout=10) as r:  # 127.0.0.1 only
        data: dict[str, Any] = json.loads(r.read())
        return data


async def measure(kind: str, url: str, n: int, redis_url: str = "") -> dict[str, Any]:
    import moveworks_async as mw

    _, settings, pool = VARIANTS[kind]
    governor: Any = None
    if kind == "redis":
        governor = mw.RedisRateGovernor(
            redis_url, f"bench:{uuid.uuid4().hex}", rate=RATE, burst=BURST
        )
    elif settings:
        governor = mw.RateGovernor(rate=settings["rate"], burst=settings["burst"])
    async with mw.AsyncMoveworks(
        assistant_name="acme-capi",
        token="test-token",
        base_url=url,
        governor=governor,
        max_connections=pool,
    ) as client:
        conversation = await client.conversations.create()
        await asyncio.sleep(1.2)  # let the server's bucket refill after the previous run
        before = await asyncio.to_thread(_stats, url)
        errors: list[str] = []

        async def one(i: int) -> None:
            try:
                await client.responses.create(conversation.conversation_id, text=f"question {i}")
            except mw.APIError as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:200])

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - t0
        after = await asyncio.to_thread(_stats, url)
    round_trips = None
    if kind == "redis":
        round_trips = governor.redis_round_trips
        await governor.aclose()
    return {
        "round_trips": round_trips,
        "wall": wall,
        "requests": after["requests_total"] - before["requests_total"],
        "rate_limited": after["rate_limited"] - before["rate_limited"],
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
    }


async def measure_one_off(kind: str) -> dict[str, Any]:
    """200 concurrent creates, the first answered 429 + Retry-After 1; then 20 more."""
    import moveworks_async as mw
    from moveworks_async.testing import FakeMoveworks, Fault

    _, settings = ONE_OFF[kind]
    async with FakeMoveworks(token=None, record=False) as server:
        governor = (
            mw.RateGovernor(rate=settings["rate"], burst=settings["burst"]) if settings else None
        )
        async with mw.AsyncMoveworks(
            assistant_name="acme-capi", token="t", base_url=server.url, governor=governor
        ) as client:
            cid = (await client.conversations.create()).conversation_id
            await client.responses.create(cid, text="warm-up")
            server.inject(Fault.rate_limited(retry_after="1"), times=1)
            t0 = time.perf_counter()
            await asyncio.gather(*(client.responses.create(cid, text="q") for _ in range(200)))
            t1 = time.perf_counter()
            await asyncio.gather(*(client.responses.create(cid, text="q") for _ in range(20)))
            t2 = time.perf_counter()
            rate = client.governor.snapshot().rate
    return {"first": t1 - t0, "then": t2 - t1, "rate": rate}


def handle(kind: str, cmd: dict[str, Any]) -> dict[str, Any]:
    if cmd["op"] == "ping":
        return {"available": True}
    if kind in ONE_OFF:
        return asyncio.run(measure_one_off(kind))
    return asyncio.run(measure(kind, cmd["url"], cmd["n"], cmd.get("redis_url", "")))


def _redis_server() -> tuple[subprocess.Popen[bytes], str] | None:
    """A private, non-persistent redis-server on a free loopback port (None: not installed)."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.terminate()
    proc.wait(timeout=10)
    return None


def run(quick: bool, log: Callable[[str], None] = print) -> tuple[list[Row], list[str]]:
    n = 1000
    repeats = 1 if quick else 3
    ideal = n / RATE
    redis = _redis_server()
    variants = {k: v for k, v in VARIANTS.items() if k != "redis" or redis is not None}
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in (*variants, *ONE_OFF)}
    with Server("--rate-limit", f"{RATE},{BURST}", "--any-token", fake=True) as server:
        workers = {k: Worker("benchmarks.bench_governor", k) for k in (*variants, *ONE_OFF)}
        try:
            for _ in range(repeats):
                for kind in variants:
                    cmd = {"op": "run", "url": server.url, "n": n}
                    if redis is not None:
                        cmd["redis_url"] = redis[1]
                    results[kind].append(workers[kind].call(cmd))
                for kind in ONE_OFF:
                    results[kind].append(workers[kind].call({"op": "run"}))
            log(f"  #6 {repeats} repeat(s) done")
        finally:
            for worker in workers.values():
                worker.stop()
            if redis is not None:
                redis[0].terminate()
                redis[0].wait(timeout=10)
    rows: list[Row] = []
    detail = [
        f"Storm: N = {n} tasks, server limit L = {RATE}/s (burst {BURST}); ideal N/L = "
        f"{ideal:.1f} s; min/median/max",
        "",
        "| governor | wall s | wall / ideal | requests sent | requests / N | 429s | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, (label, settings, _) in variants.items():
        res = results[kind]
        walls = [r["wall"] / ideal for r in res]
        reqs = [r["requests"] / n for r in res]
        errors = sum(r["errors"] for r in res)
        wall_goal, req_goal = (1.15, 1.05) if settings else (1.2, 1.1)
        rows.append(
            Row(
                "6",
                "governor storm: wall vs ideal N/L",
                label,
                f"{mmm(r['wall'] for r in res)[1]:.2f} s (ideal {ideal:.1f} s)"
                + (f", {errors} errors" if errors else ""),
                walls,
                "wall / ideal",
                f"<= {wall_goal}x",
                mmm(walls)[1] <= wall_goal and not errors,
            )
        )
        rows.append(
            Row(
                "6",
                "governor storm: requests sent vs N",
                label,
                f"{mmm(r['requests'] for r in res)[1]:.0f} requests, "
                f"{mmm(r['rate_limited'] for r in res)[1]:.0f} answered 429",
                reqs,
                "requests / N",
                f"<= {req_goal}x",
                mmm(reqs)[1] <= req_goal,
            )
        )
        detail.append(
            f"| {label} | {fmt_mmm(r['wall'] for r in res)} | {fmt_mmm(walls)} | "
            f"{fmt_mmm((r['requests'] for r in res), '{:.0f}')} | {fmt_mmm(reqs)} | "
            f"{fmt_mmm((r['rate_limited'] for r in res), '{:.0f}')} | {errors} |"
            + (f" {res[0]['first_error']}" if errors else "")
        )
    if "redis" in variants:
        trips = [r["round_trips"] / n for r in results["redis"]]
        rows.append(
            Row(
                "6",
                "RedisRateGovernor: Redis round trips per request",
                VARIANTS["redis"][0],
                f"{mmm(r['round_trips'] for r in results['redis'])[1]:.0f} round trips",
                trips,
                "per request",
                "<= 1",
                mmm(trips)[1] <= 1.0,
            )
        )
        detail.append(
            f"\nRedis round trips per request (acquires + 429 reports, / N): {fmt_mmm(trips)}"
        )
    else:
        detail.append("\n(redis-server not installed: the RedisRateGovernor case was skipped)")
    detail += [
        "",
        "One-off: 200 concurrent creates, the first answered 429 + Retry-After 1 (no server "
        "limit), then 20 creates",
        "",
        "| governor | 200 creates s | next 20 creates s | rate afterwards |",
        "|---|---|---|---|",
    ]
    for kind, (label, _) in ONE_OFF.items():
        res = results[kind]
        rows.append(
            Row(
                "6",
                "governor one-off 429: next 20 creates",
                label,
                f"{mmm(r['then'] for r in res)[1] * 1000:.0f} ms",
                [r["then"] for r in res],
                "seconds",
                "<= 2 s",
                mmm(r["then"] for r in res)[1] <= 2.0,
            )
        )
        detail.append(
            f"| {label} | {fmt_mmm(r['first'] for r in res)} | {fmt_mmm(r['then'] for r in res)} | "
            f"{res[-1]['rate']} |"
        )
    return rows, detail


if __name__ == "__main__":
    worker_main(handle)
