"""#7: ``AsyncDataAPI.export`` of 1,000,000 records through the fake server: records/s and
peak RSS.

The fake server (``FakeMoveworks``, Data API records generated on demand, 1,000 per page) runs
in its own process pinned to CPU 1. Each export runs in a fresh worker process pinned to CPU 0,
which reports its RSS after imports and a warm-up export (baseline) and its peak RSS
(``ru_maxrss``) after the big export. Two sizes, 100,000 and 1,000,000 records: if memory is
flat (one page in memory), the peak above the baseline is the same for both.

Run alone: ``python -m benchmarks.bench_export [--quick]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from ._common import CLIENT_CPU, ROOT, SERVER_CPU, Row, _env, fmt_mmm, mmm, pinned

KIND = "interactions"
PAGE_SIZE = 1000
KEY = "bench-data-key"
#: Peak RSS growth above which the export is not "flat" (one 1,000-record page is ~0.5 MB of
#: JSON; decoded, a few MB).
FLAT_MB = 64.0

_SERVER = """
import asyncio, sys
from moveworks_async.testing import FakeMoveworks

async def main():
    server = FakeMoveworks(data_api_key=%(key)r, record=False)
    server.data_api.page_size = %(page)d
    server.data_api.generate(%(kind)r, %(count)d)
    async with server:
        print(server.url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""

_CLIENT = """
import asyncio, json, os, resource, sys, time
import moveworks_async as mw

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

async def main(url, path, count):
    async with mw.AsyncDataAPI(api_key=%(key)r, base_url=url) as data:
        await data.export(%(kind)r, path, top=2000, resume=False)  # warm-up: imports, pool
        baseline = rss_mb()
        t0 = time.perf_counter()
        written = await data.export(%(kind)r, path, top=count, resume=False)
        elapsed = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = os.path.getsize(path)
    print("RESULT " + json.dumps({"records": written, "seconds": elapsed, "baseline_mb": baseline,
                                  "peak_mb": peak, "bytes": size}))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def _export(url: str, count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{KIND}.jsonl")
        code = _CLIENT % {"key": KEY, "kind": KIND}
        proc = subprocess.run(
            pinned(CLIENT_CPU, [sys.executable, "-c", code, url, path, str(count)]),
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=_env(),
            timeout=3600,
        )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"export worker failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1][7:])
    if result["records"] != count:
        raise RuntimeError(f"exported {result['records']} records, expected {count}")
    return result


def run(quick: bool, log: Callable[[str], None] = print) -> tuple[list[Row], list[str]]:
    sizes = (100_000, 300_000) if quick else (100_000, 1_000_000)
    repeats = 1 if quick else 2
    code = _SERVER % {"key": KEY, "page": PAGE_SIZE, "kind": KIND, "count": max(sizes)}
    server = subprocess.Popen(
        pinned(SERVER_CPU, [sys.executable, "-c", code]),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_env(),
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        if not url.startswith("http"):
            raise RuntimeError("the fake server did not start")
        results: dict[int, list[dict[str, Any]]] = {n: [] for n in sizes}
        for repeat in range(repeats):
            for n in sizes:
                t0 = time.perf_counter()
                result = _export(url, n)
                results[n].append(result)
                log(
                    f"  #7 {n} records: {n / result['seconds']:.0f} records/s, peak "
                    f"{result['peak_mb']:.0f} MB (baseline {result['baseline_mb']:.0f} MB) "
                    f"[{time.perf_counter() - t0:.0f} s, repeat {repeat + 1}]"
                )
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=30)
    rows: list[Row] = []
    detail = [
        f"Fake server: {KIND} generated on demand, {PAGE_SIZE} per page, in its own process; "
        "each export in a fresh worker. min/median/max over repeats.",
        "",
        "| records | records/s | MB/s written | baseline RSS MB | peak RSS MB | peak - baseline |",
        "|---|---|---|---|---|---|",
    ]
    growth: dict[int, float] = {}
    for n in sizes:
        rates = [n / r["seconds"] for r in results[n]]
        mbps = [r["bytes"] / r["seconds"] / 2**20 for r in results[n]]
        base = [r["baseline_mb"] for r in results[n]]
        peak = [r["peak_mb"] for r in results[n]]
        grow = [r["peak_mb"] - r["baseline_mb"] for r in results[n]]
        growth[n] = mmm(grow)[1]
        detail.append(
            f"| {n:,} | {fmt_mmm(rates, '{:.0f}')} | {fmt_mmm(mbps, '{:.1f}')} | "
            f"{fmt_mmm(base, '{:.0f}')} | {fmt_mmm(peak, '{:.0f}')} | {fmt_mmm(grow, '{:.1f}')} |"
        )
    big, small = max(sizes), min(sizes)
    rate = mmm(big / r["seconds"] for r in results[big])[1]
    peak_big = mmm(r["peak_mb"] for r in results[big])[1]
    rows.append(
        Row(
            "7",
            f"Data API export of {big:,} records (JSON Lines)",
            "moveworks_async",
            f"{rate:,.0f} records/s, peak RSS {peak_big:.0f} MB "
            f"(+{growth[big]:.1f} MB; +{growth[small]:.1f} MB at {small:,})",
            None,
            "",
            f"flat memory: peak growth < {FLAT_MB:.0f} MB at any size",
            growth[big] < FLAT_MB and growth[big] - growth[small] < FLAT_MB / 4,
        )
    )
    return rows, detail


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    got, lines = run(quick)
    from ._common import table

    print(table(got))
    print("\n".join(lines))
