"""#5: memory per open stream with 1,000 idle streams (the server sends keep-alive comments).

Each measurement is a fresh worker process (pinned to CPU 0), so RSS figures are clean: it
imports its client, warms it with a few short streams, takes a baseline RSS after ``gc``, then
opens 1,000 streams at once to ``/conversations/idle_S/...`` (RESPONSE_CREATED at once, a
``: keep-alive`` comment every second for S seconds, then RESPONSE_COMPLETED). A sampler
records RSS every 20 ms. Reported: KB per stream above the baseline at the peak, and the time
until every stream has delivered its first event.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
from collections.abc import Callable
from typing import Any

from . import payloads
from ._common import Row, Server, Worker, fmt_mmm, mmm, process_rss, rotate, worker_main

VARIANTS = ("moveworks_async", "aiohttp")
BASELINE = "aiohttp"
QUESTION = "How do I reset my VPN password?"


async def measure(kind: str, url: str, streams: int, seconds: int) -> dict[str, Any]:
    opened = 0
    all_open = asyncio.Event()
    errors: list[str] = []
    t_open: float | None = None

    def on_first() -> None:
        nonlocal opened, t_open
        opened += 1
        if opened == streams:
            t_open = time.perf_counter()
            all_open.set()

    if kind == "moveworks_async":
        import moveworks_async as mw

        client = mw.AsyncMoveworks(
            assistant_name="bench", token="bench-token", base_url=url, max_connections=streams + 100
        )

        async def one(cid: str, first: Callable[[], None] | None) -> None:
            async with client.responses.stream(cid, text=QUESTION) as stream:
                async for _event in stream:
                    if first is not None:
                        first()
                        first = None

        aclose = client.aclose
    else:
        import aiohttp

        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=streams + 100, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
        )
        body = payloads.create_request_body()
        headers = {
            "Assistant-Name": "bench",
            "Accept": "text/event-stream",
            "Content-Type": "application/json",
            "Authorization": "Bearer bench-token",
        }
        prefix = url + payloads.PREFIX

        async def one(cid: str, first: Callable[[], None] | None) -> None:
            rest = b""
            async with session.post(
                f"{prefix}/conversations/{cid}/responses/stream", data=body, headers=headers
            ) as r:
                async for chunk in r.content.iter_any():
                    lines = (rest + chunk).split(b"\n")
                    rest = lines.pop()
                    if first is not None and any(x.startswith(b"data:") for x in lines):
                        first()
                        first = None

        aclose = session.close

    async def guarded(cid: str, first: Callable[[], None] | None) -> None:
        try:
            await one(cid, first)
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}"[:200])

    pid = os.getpid()
    try:
        await asyncio.gather(*(guarded("ev_50", None) for _ in range(10)))
        gc.collect()
        await asyncio.sleep(0.1)
        base = process_rss(pid) or 0
        peak = base
        stop = False

        async def sampler() -> None:
            nonlocal peak
            while not stop:
                peak = max(peak, process_rss(pid) or 0)
                await asyncio.sleep(0.02)

        sampling = asyncio.create_task(sampler())
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(guarded(f"idle_{seconds}", on_first)) for _ in range(streams)]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_open.wait(), timeout=seconds)
        rss_open = process_rss(pid) or 0
        await asyncio.gather(*tasks)
        stop = True
        await sampling
    finally:
        await aclose()
    return {
        "base_mb": base / 2**20,
        "open_mb": rss_open / 2**20,
        "peak_mb": peak / 2**20,
        "kb_per_stream": (peak - base) / streams / 1024,
        "kb_per_stream_open": (rss_open - base) / streams / 1024,
        "t_open": (t_open - t0) if t_open is not None else None,
        "opened": opened,
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
    }


def handle(kind: str, cmd: dict[str, Any]) -> dict[str, Any]:
    if cmd["op"] == "ping":
        if kind == "moveworks_async":
            try:
                from moveworks_async import _streaming  # noqa: F401
            except ImportError as exc:
                return {"available": False, "reason": str(exc)}
        return {"available": True}
    return asyncio.run(measure(kind, cmd["url"], cmd["streams"], cmd["seconds"]))


def run(quick: bool, log: Callable[[str], None] = print) -> tuple[list[Row], list[str]]:
    repeats = 3
    streams = 1000
    seconds = 2 if quick else 10
    results: dict[str, list[dict[str, Any]]] = {k: [] for k in VARIANTS}
    with Server() as server:
        for rep in range(repeats):
            for kind in rotate(VARIANTS, rep):
                worker = Worker("benchmarks.bench_memory", kind)  # a fresh process each time
                try:
                    if not worker.available:
                        return [Row("5", "memory", kind, f"not available: {worker.reason}")], []
                    results[kind].append(
                        worker.call(
                            {"op": "run", "url": server.url, "streams": streams, "seconds": seconds}
                        )
                    )
                finally:
                    worker.stop()
        log(f"  #5 {repeats} repeats done")
    rows: list[Row] = []
    detail = [
        f"{streams} streams held {seconds} s each; RSS above the warmed baseline; min/median/max",
        "",
        "| client | base RSS MB | peak RSS MB | KB/stream (all open) | KB/stream (peak) | "
        "time to open all s | opened | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = results[BASELINE]
    for kind in VARIANTS:
        res = results[kind]
        kb = [r["kb_per_stream"] for r in res]
        t_open = [r["t_open"] for r in res if r["t_open"] is not None]
        errors = sum(r["errors"] for r in res)
        ratios = [r["kb_per_stream"] / b["kb_per_stream"] for r, b in zip(res, base, strict=True)]
        is_sdk = kind == "moveworks_async"
        all_opened = all(r["opened"] == streams for r in res)
        rows.append(
            Row(
                "5",
                f"memory, {streams} idle streams",
                kind,
                f"{mmm(kb)[1]:.1f} KB/stream peak, open all in "
                + (f"{mmm(t_open)[1]:.2f} s" if t_open else "never")
                + (f", {errors} errors" if errors else ""),
                None if kind == BASELINE else ratios,
                "KB/stream vs aiohttp",
                "<= 1.25x raw; all open < 0.5 s" if is_sdk else "",
                (mmm(ratios)[1] <= 1.25 and all_opened and mmm(t_open)[1] < 0.5 and not errors)
                if is_sdk and t_open
                else (False if is_sdk else None),
            )
        )
        detail.append(
            f"| {kind} | {fmt_mmm(r['base_mb'] for r in res)} | "
            f"{fmt_mmm(r['peak_mb'] for r in res)} | "
            f"{fmt_mmm(r['kb_per_stream_open'] for r in res)} | {fmt_mmm(kb)} | "
            f"{fmt_mmm(t_open) if t_open else '-'} | {min(r['opened'] for r in res)} | {errors} |"
            + (f" {res[0]['first_error']}" if errors else "")
        )
    return rows, detail


if __name__ == "__main__":
    worker_main(handle)
