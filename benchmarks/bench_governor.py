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
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from ._common import Row, Server, Worker, fmt_mmm, mmm, worker_main

RATE, BURST = 100, 100
#: kind -> (label, governor settings or None for the default, max_connections)
VARIANTS: dict[str, tuple[str, dict[str, Any] | None, int]] = {
    "configured": (
        f"RateGovernor(rate={RATE}, burst={BURST})",
        {"rate": RATE, "burst": BURST},
        1000,
    ),
    "default-100": ("default, max_connections=100", None, 100),
    "default-1000": ("default, max_connections=1000", None, 1000),
    "default-2000": ("default, max_connections=2000", None, 2000),
}
ONE_OFF = {
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


async def measure(kind: str, url: str, n: int) -> dict[str, Any]:
    import moveworks_async as mw

    _, settings, pool = VARIANTS[kind]
    governor = mw.RateGovernor(**settings) if settings else None
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
    return {
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
        governor = mw.RateGovernor(**settings) if settings else None
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
    return asyncio.run(measure(kind, cmd["url"], cmd["n"]))


def run(quick: bool, log: Callable[[str], None] = print) -> tuple[list[Row], list[str]]:
    n = 1000
    repeats = 1 if quick else 3
    ideal = n / RATE
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in (*VARIANTS, *ONE_OFF)}
    with Server("--rate-limit", f"{RATE},{BURST}", "--any-token", fake=True) as server:
        workers = {k: Worker("benchmarks.bench_governor", k) for k in (*VARIANTS, *ONE_OFF)}
        try:
            for _ in range(repeats):
                for kind in VARIANTS:
                    results[kind].append(
                        workers[kind].call({"op": "run", "url": server.url, "n": n})
                    )
                for kind in ONE_OFF:
                    results[kind].append(workers[kind].call({"op": "run"}))
            log(f"  #6 {repeats} repeat(s) done")
        finally:
            for worker in workers.values():
                worker.stop()
    rows: list[Row] = []
    detail = [
        f"Storm: N = {n} tasks, server limit L = {RATE}/s (burst {BURST}); ideal N/L = "
        f"{ideal:.1f} s; min/median/max",
        "",
        "| governor | wall s | wall / ideal | requests sent | requests / N | 429s | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, (label, settings, _) in VARIANTS.items():
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
