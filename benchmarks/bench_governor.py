"""#6: the rate governor: 1,000 tasks against a server that allows 200 requests/s.

The package's fake server runs in its own process (``python -m moveworks_async.testing
--rate-limit 200,200``: a token bucket of 200/s, burst 200, answering 429 with
``Retry-After: 1`` when empty). 1,000 tasks each call ``responses.create`` once through one
client. Measured: wall time until every task is done, against the ideal N/L = 5 s, and the
requests the server saw (its ``/_fake/stats`` counters, 429s included) against N.

Variants: ``RateGovernor(rate=200, burst=200)`` (configured to the server's limit) and the
default governor (nothing configured: it learns only from 429s). With the full bucket at the
start, the physical floor is (N - burst) / L = 4 s, so a ratio below 1.0 is possible.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from ._common import Row, Server, Worker, fmt_mmm, mmm, worker_main

RATE, BURST = 200, 200
VARIANTS = ("configured", "default")


def _stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/_fake/stats", timeout=10) as r:  # 127.0.0.1 only
        data: dict[str, Any] = json.loads(r.read())
        return data


async def measure(kind: str, url: str, n: int) -> dict[str, Any]:
    import moveworks_async as mw

    governor = mw.RateGovernor(rate=RATE, burst=BURST) if kind == "configured" else None
    async with mw.AsyncMoveworks(
        assistant_name="acme-capi", token="test-token", base_url=url, governor=governor
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


def handle(kind: str, cmd: dict[str, Any]) -> dict[str, Any]:
    if cmd["op"] == "ping":
        return {"available": True}
    return asyncio.run(measure(kind, cmd["url"], cmd["n"]))


def run(quick: bool, log: Callable[[str], None] = print) -> tuple[list[Row], list[str]]:
    n = 1000
    repeats = 1 if quick else 3
    ideal = n / RATE
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in VARIANTS}
    with Server("--rate-limit", f"{RATE},{BURST}", "--any-token", fake=True) as server:
        workers = {k: Worker("benchmarks.bench_governor", k) for k in VARIANTS}
        try:
            for _ in range(repeats):
                for kind in VARIANTS:
                    results[kind].append(
                        workers[kind].call({"op": "run", "url": server.url, "n": n})
                    )
            log(f"  #6 {repeats} repeat(s) done")
        finally:
            for worker in workers.values():
                worker.stop()
    rows: list[Row] = []
    detail = [
        f"N = {n} tasks, server limit L = {RATE}/s (burst {BURST}); ideal N/L = {ideal:.1f} s; "
        "min/median/max",
        "",
        "| governor | wall s | wall / ideal | requests sent | requests / N | 429s | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind in VARIANTS:
        res = results[kind]
        walls = [r["wall"] / ideal for r in res]
        reqs = [r["requests"] / n for r in res]
        errors = sum(r["errors"] for r in res)
        label = f"RateGovernor(rate={RATE}, burst={BURST})" if kind == "configured" else "default"
        is_goal = kind == "configured"
        rows.append(
            Row(
                "6",
                "governor: wall vs ideal N/L",
                label,
                f"{mmm(r['wall'] for r in res)[1]:.2f} s (ideal {ideal:.1f} s)"
                + (f", {errors} errors" if errors else ""),
                walls,
                "wall / ideal",
                "<= 1.15x" if is_goal else "",
                (mmm(walls)[1] <= 1.15 and not errors) if is_goal else None,
            )
        )
        rows.append(
            Row(
                "6",
                "governor: requests sent vs N",
                label,
                f"{mmm(r['requests'] for r in res)[1]:.0f} requests, "
                f"{mmm(r['rate_limited'] for r in res)[1]:.0f} answered 429",
                reqs,
                "requests / N",
                "<= 1.05x" if is_goal else "",
                mmm(reqs)[1] <= 1.05 if is_goal else None,
            )
        )
        detail.append(
            f"| {label} | {fmt_mmm(r['wall'] for r in res)} | {fmt_mmm(walls)} | "
            f"{fmt_mmm((r['requests'] for r in res), '{:.0f}')} | {fmt_mmm(reqs)} | "
            f"{fmt_mmm((r['rate_limited'] for r in res), '{:.0f}')} | {errors} |"
            + (f" {res[0]['first_error']}" if errors else "")
        )
    return rows, detail


if __name__ == "__main__":
    worker_main(handle)
