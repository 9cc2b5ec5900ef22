"""The benchmark driver: ``python -m benchmarks [--quick] [--only 1,4] [--output FILE]``.

Runs the benchmarks of issue 6 (and #7, issue 15) and prints ONE table of ratios measured side
by side in this run (interleaved repeats, medians, ratios paired per repeat), with absolute
figures, then the per-benchmark details. Servers run in their own process pinned to CPU 1 and
clients in workers pinned to CPU 0 (where ``taskset`` works). ``--quick`` finishes in under 3
minutes.

1. HTTP create/get req/s and CPU/request vs raw aiohttp, httpx, openai (``bench_http``)
2. streaming typed events/s vs raw aiohttp ``iter_any`` + hand line splitting (``bench_stream``)
3. SSE decoding in-process vs httpx-sse (``bench_sse``)
4. Response conversion vs pydantic v2 and msgspec (``bench_models``)
5. memory per idle open stream vs raw aiohttp (``bench_memory``)
6. the rate governor against a 200 req/s server limit (``bench_governor``)
7. Data API export of 1,000,000 records: records/s and peak RSS (``bench_export``, issue 15)
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

from ._common import CLIENT_CPU, Row, pinned, table, taskset_works

Runner = Callable[[bool, Callable[[str], None]], tuple[list[Row], list[str]]]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_sse(quick: bool, log: Callable[[str], None]) -> tuple[list[Row], list[str]]:
    """#3: ``benchmarks/bench_sse.py``'s ``run(quick)``, in a process pinned to CPU 0."""
    code = (
        "import json, sys; from benchmarks import bench_sse; "
        f"print('RESULT ' + json.dumps(bench_sse.run(quick={quick!r})))"
    )
    from ._common import ROOT, _env

    proc = subprocess.run(
        pinned(CLIENT_CPU, [sys.executable, "-c", code]),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(),
        timeout=900,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"bench_sse failed: {proc.stderr[-2000:]}")
    results: list[dict[str, Any]] = json.loads(lines[-1][7:])
    log(f"  #3 {len(results)} rows")
    from . import bench_sse

    rows: list[Row] = []
    for r in results:
        kib = r["chunk_size"] // 1024
        name = r["decoder"]
        ratio = r.get("vs_httpx_sse")
        is_ours = name == "moveworks_async"
        if name == "httpx-sse":
            ratio = None
        rows.append(
            Row(
                "3",
                f"SSE decode {r['line_end']} {kib} KiB chunks",
                name,
                f"{r['mb_per_s']:.0f} MB/s, {r['events_per_s'] / 1e3:.0f}k events/s",
                [ratio] if ratio else None,
                "speed vs httpx-sse (ratio of medians)",
                ">= 1.5x httpx-sse" if is_ours else "",
                (ratio is not None and ratio >= 1.5) if is_ours else None,
            )
        )
    first = results[0]
    detail = [
        f"{first['bytes'] / 2**20:.1f} MB per stream, {first['events']} events; "
        f"{first['rounds']} interleaved rounds; MB/s min/median/max",
        "",
        bench_sse.format_table(results),
    ]
    return rows, detail


def _runners() -> dict[str, tuple[str, Runner]]:
    from . import (
        bench_export,
        bench_governor,
        bench_http,
        bench_memory,
        bench_models,
        bench_stream,
    )

    return {
        "1": ("HTTP create/get vs raw aiohttp, httpx, openai", bench_http.run),
        "2": ("streaming typed events vs raw aiohttp", bench_stream.run),
        "3": ("SSE decoding vs httpx-sse", run_sse),
        "4": ("Response conversion vs pydantic, msgspec", bench_models.run),
        "5": ("memory per idle open stream vs raw aiohttp", bench_memory.run),
        "6": ("rate governor vs the ideal", bench_governor.run),
        "7": ("Data API export: records/s and peak RSS", bench_export.run),
    }


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = []
    for dist in (
        "aiohttp", "attrs", "cattrs", "orjson", "httpx", "httpx-sse", "openai", "pydantic",
        "msgspec",
    ):  # fmt: skip
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{dist} -")
    import os

    pin = "client CPU 0 / server CPU 1 (taskset)" if taskset_works() else "not pinned"
    return (
        f"{cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}, "
        f"CPython {platform.python_version()}; {pin}\n" + ", ".join(versions)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="smaller N, shorter windows (< 3 min)")
    parser.add_argument("--only", default="", help="comma-separated benchmark numbers, e.g. 1,4")
    parser.add_argument("--output", help="also write the report (markdown) to this file")
    args = parser.parse_args(argv)
    runners = _runners()
    selected = [n.strip() for n in args.only.split(",") if n.strip()] or list(runners)
    unknown = [n for n in selected if n not in runners]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    start = time.perf_counter()
    rows: list[Row] = []
    details: list[str] = []
    for num in selected:
        title, runner = runners[num]
        _log(f"#{num} {title} ...")
        t0 = time.perf_counter()
        try:
            got_rows, detail = runner(args.quick, _log)
        except Exception as exc:  # one broken benchmark must not lose the others
            import traceback

            traceback.print_exc()
            got_rows = [Row(num, title, "-", f"FAILED: {type(exc).__name__}: {exc}"[:200])]
            detail = []
        rows += got_rows
        details += [f"### {num}. {title} ({time.perf_counter() - t0:.0f} s)", "", *detail, ""]
    mode = "--quick" if args.quick else "full"
    command = "python -m benchmarks" + (" --quick" if args.quick else "")
    if args.only:
        command += f" --only {args.only}"
    report = "\n".join(
        [
            f"## Results ({mode}, {time.strftime('%Y-%m-%d %H:%M')}, "
            f"{time.perf_counter() - start:.0f} s)",
            "",
            "Machine: " + machine(),
            "",
            f"Command: `{command}`",
            "",
            table(rows),
            "",
            *details,
        ]
    )
    print(report)
    if args.output:
        with open(args.output, "w") as f:
            f.write(report + "\n")
    missed = [r for r in rows if r.met is False]
    _log(f"done in {time.perf_counter() - start:.0f} s; {len(missed)} goal(s) missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
