"""#1: ``responses.create`` / ``responses.get`` req/s and client CPU per request.

Variants, each in its own long-lived worker process pinned to CPU 0, against ``benchmarks.server``
on CPU 1: ``moveworks_async`` (the SDK), ``aiohttp`` (raw: same connector limit, same headers,
the body read and parsed with the same JSON decoder), ``aiohttp+models`` (the same plus this
package's conversion of the body into its typed models: the floor for any typed client on
aiohttp, nothing else of the SDK), ``moveworks_async (pyreqwest)`` (the SDK on the ``[fast]``
transport, with msgspec's wire Structs when ``speedups`` is installed; the default row has them
off), ``pyreqwest`` (raw) and ``pyreqwest+models`` (raw pyreqwest plus the fastest conversion
installed: the typed floor on pyreqwest), ``httpx.AsyncClient`` and openai-python's
``AsyncOpenAI`` (``client.post/get(path, cast_to=object)``: its full request stack, JSON
parsing included, ``max_retries=0``). Every pool allows ``LIMIT`` connections.

A measurement runs ``conc`` tasks that loop on the call; after ``warmup`` seconds it counts the
calls completed in a ``window`` and the worker's ``time.process_time`` over it, then cancels
the tasks. Repeats interleave the variants (order rotated per repeat); ratios are paired.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from . import payloads
from ._common import Row, Server, Worker, fmt_mmm, human, mmm, process_cpu, rotate, worker_main

LIMIT = 1000
VARIANTS = (
    "moveworks_async",
    "moveworks_async (pyreqwest)",
    "aiohttp",
    "aiohttp+models",
    "aiohttp+uvloop",
    "pyreqwest",
    "pyreqwest+models",
    "httpx",
    "openai",
)
#: Variants of the ``[fast]`` extra (issue 16): the SDK on the Rust transport, and its anchors.
FAST_SDK = "moveworks_async (pyreqwest)"
BASELINE = "aiohttp"
RESPONSE_ID = "resp_0000000001"
QUESTION = "How do I reset my VPN password?"
HEADERS = {
    "Assistant-Name": "bench",
    "Accept": "application/json",
    "User-Agent": "bench/0",
    "Authorization": "Bearer bench-token",
}
BODY_HEADERS = {**HEADERS, "Content-Type": "application/json"}


# --- worker side ---------------------------------------------------------------------------

Call = Callable[[], Awaitable[Any]]


async def _client(kind: str, url: str) -> tuple[Call, Call, Callable[[], Awaitable[None]]]:
    """(create, get, aclose) for one client library."""
    base = url + payloads.PREFIX
    create_url = f"{base}/conversations/{payloads.CONV}/responses"
    get_url = f"{create_url}/{RESPONSE_ID}"
    body = payloads.create_request_body()
    if kind in ("moveworks_async", FAST_SDK):
        import moveworks_async as mw
        from moveworks_async import _wire

        # The default row decodes as the default install does, but with the anchors' JSON
        # decoder (orjson when installed): msgspec (speedups) is only on in the [fast] row.
        _wire.ENABLED = _wire.ENABLED and kind == FAST_SDK

        client = mw.AsyncMoveworks(
            assistant_name="bench",
            token="bench-token",
            base_url=url,
            max_connections=LIMIT,
            transport="pyreqwest" if kind == FAST_SDK else "aiohttp",
        )
        responses = client.responses

        async def create() -> Any:
            return await responses.create(payloads.CONV, text=QUESTION)

        async def get() -> Any:
            return await responses.get(payloads.CONV, RESPONSE_ID)

        return create, get, client.aclose
    if kind in ("pyreqwest", "pyreqwest+models"):
        # Raw pyreqwest: same pool size, headers and JSON decoder as raw aiohttp.
        from pyreqwest.client import ClientBuilder

        from moveworks_async._json import loads

        if kind == "pyreqwest+models":
            loads = _typed_reader()
        rclient = ClientBuilder().max_connections(LIMIT).follow_redirects(False).build()

        async def create() -> Any:
            r = await rclient.post(create_url).headers(BODY_HEADERS).body_bytes(body).build().send()
            data = await r.bytes()
            if r.status != 200:
                raise RuntimeError(f"status {r.status}")
            return loads(bytes(data))

        async def get() -> Any:
            r = await rclient.get(get_url).headers(HEADERS).build().send()
            data = await r.bytes()
            if r.status != 200:
                raise RuntimeError(f"status {r.status}")
            return loads(bytes(data))

        return create, get, rclient.close
    if kind in ("aiohttp", "aiohttp+models", "aiohttp+uvloop"):
        import aiohttp

        from moveworks_async._json import loads

        if kind == "aiohttp+models":
            # The typed floor: raw aiohttp plus this package's model conversion of the body,
            # and nothing else (no auth, governor, retries, validation or error mapping).
            from moveworks_async._converter import structure_fast
            from moveworks_async._models import Response

            def parse(data: bytes) -> Any:
                return structure_fast(loads(data), Response)
        else:
            parse = loads

        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=LIMIT, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(total=600, sock_connect=5, sock_read=60),
        )

        async def create() -> Any:
            async with session.post(create_url, data=body, headers=BODY_HEADERS) as r:
                data = await r.read()
                if r.status != 200:
                    raise RuntimeError(f"status {r.status}")
                return parse(data)

        async def get() -> Any:
            async with session.get(get_url, headers=HEADERS) as r:
                data = await r.read()
                if r.status != 200:
                    raise RuntimeError(f"status {r.status}")
                return parse(data)

        return create, get, session.close
    if kind == "httpx":
        import httpx

        from moveworks_async._json import loads

        hclient = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=LIMIT, max_keepalive_connections=LIMIT),
            trust_env=False,
            timeout=60.0,
        )

        async def create() -> Any:
            r = await hclient.post(create_url, content=body, headers=BODY_HEADERS)
            if r.status_code != 200:
                raise RuntimeError(f"status {r.status_code}")
            return loads(r.content)

        async def get() -> Any:
            r = await hclient.get(get_url, headers=HEADERS)
            if r.status_code != 200:
                raise RuntimeError(f"status {r.status_code}")
            return loads(r.content)

        return create, get, hclient.aclose
    if kind == "openai":
        import openai

        try:
            import httpx2 as hx
        except ImportError:  # older openai releases are built on httpx
            import httpx as hx  # type: ignore[no-redef]
        oclient = openai.AsyncOpenAI(
            api_key="bench-token",
            base_url=base,
            max_retries=0,
            default_headers={"Assistant-Name": "bench"},
            http_client=openai.DefaultAsyncHttpxClient(
                limits=hx.Limits(max_connections=LIMIT, max_keepalive_connections=LIMIT),
                trust_env=False,
            ),
        )
        create_path = f"/conversations/{payloads.CONV}/responses"
        get_path = f"{create_path}/{RESPONSE_ID}"
        request_body = {"input": {"text": QUESTION}}

        async def create() -> Any:
            return await oclient.post(create_path, cast_to=object, body=request_body)

        async def get() -> Any:
            return await oclient.get(get_path, cast_to=object)

        return create, get, oclient.close
    raise ValueError(kind)


def _typed_reader() -> Callable[[bytes], Any]:
    """Body bytes -> this package's Response by the fastest path installed and nothing else:
    msgspec's wire Structs (``speedups``) when they read the body, else ``loads`` and the
    generated structure functions. Raw pyreqwest plus this is the typed floor on pyreqwest:
    what any client returning these models over pyreqwest pays at least."""
    from moveworks_async import _wire
    from moveworks_async._converter import structure_fast
    from moveworks_async._json import loads
    from moveworks_async._models import Response

    def read(data: bytes) -> Any:
        value = _wire.decode(data, Response)
        return structure_fast(loads(data), Response) if value is _wire.MISS else value

    return read


async def measure(
    kind: str, url: str, method: str, conc: int, warmup: float, window: float, server_pid: int
) -> dict[str, Any]:
    create, get, aclose = await _client(kind, url)
    call = create if method == "create" else get
    state = {"counting": False, "stop": False}
    count = errors = 0
    first_error = ""
    latencies: list[float] = []
    perf = time.perf_counter

    async def loop() -> None:
        nonlocal count, errors, first_error
        while not state["stop"]:
            t0 = perf()
            try:
                await call()
            except Exception as exc:
                errors += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"[:200]
                await asyncio.sleep(0.001)
                continue
            if state["counting"]:
                count += 1
                latencies.append(perf() - t0)

    tasks = [asyncio.create_task(loop()) for _ in range(conc)]
    try:
        await asyncio.sleep(warmup)
        state["counting"] = True
        s0, c0, t0 = process_cpu(server_pid), time.process_time(), perf()
        await asyncio.sleep(window)
        state["counting"] = False
        s1, c1, t1 = process_cpu(server_pid), time.process_time(), perf()
    finally:
        state["stop"] = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):  # a peer's slow close must not hang the run
            await asyncio.wait_for(aclose(), 10)
    elapsed = t1 - t0
    latencies.sort()
    return {
        "rps": count / elapsed,
        "cpu_us": (c1 - c0) / max(count, 1) * 1e6,
        "server_cpu": (s1 - s0) / elapsed if s0 is not None and s1 is not None else None,
        "p50_ms": latencies[len(latencies) // 2] * 1e3 if latencies else None,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1e3 if latencies else None,
        "count": count,
        "errors": errors,
        "first_error": first_error,
    }


def handle(kind: str, cmd: dict[str, Any]) -> dict[str, Any]:
    if cmd["op"] == "ping":
        try:
            if kind == "openai":
                import openai  # noqa: F401
            elif kind == "httpx":
                import httpx  # noqa: F401
            elif kind in ("pyreqwest", "pyreqwest+models", FAST_SDK):
                import pyreqwest  # noqa: F401
            elif kind == "aiohttp+uvloop":
                import uvloop
        except ImportError as exc:
            return {"available": False, "reason": str(exc)}
        return {"available": True}
    runner: Any = asyncio.run
    if kind == "aiohttp+uvloop":
        import uvloop

        runner = uvloop.run
    return runner(
        measure(
            kind,
            cmd["url"],
            cmd["method"],
            cmd["conc"],
            cmd["warmup"],
            cmd["window"],
            cmd["server_pid"],
        )
    )


# --- driver side ---------------------------------------------------------------------------


def run(quick: bool, log: Callable[[str], None] = print) -> tuple[list[Row], list[str]]:
    """Measure every (variant, method, concurrency); return table rows and detail lines."""
    repeats = 3
    warmup, window = (0.25, 0.6) if quick else (1.0, 3.0)
    # httpx's pool blocks the event loop for ~15 s per measurement at c=512 (encode/httpx#3215);
    # the quick mode leaves that cell out.
    skip = {("httpx", 512)} if quick else set()
    concs = (1, 64, 512)
    methods = ("create", "get")
    results: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    workers: dict[str, Worker] = {}
    with Server() as server:
        try:
            for kind in VARIANTS:
                worker = Worker("benchmarks.bench_http", kind)
                workers[kind] = worker
                if not worker.available:
                    log(f"  #1: {kind} not installed ({worker.reason}); skipped")
            live = [k for k, w in workers.items() if w.available]
            for rep in range(repeats):
                for method in methods:
                    for conc in concs:
                        for kind in rotate(live, rep):
                            if (kind, conc) in skip:
                                continue
                            res = workers[kind].call(
                                {
                                    "op": "http",
                                    "url": server.url,
                                    "method": method,
                                    "conc": conc,
                                    "warmup": warmup,
                                    "window": window,
                                    "server_pid": server.pid,
                                }
                            )
                            results.setdefault((kind, method, conc), []).append(res)
                log(f"  #1 repeat {rep + 1}/{repeats} done")
        finally:
            for worker in workers.values():
                worker.stop()
    return _rows(results, live, methods, concs)


def _rows(
    results: dict[tuple[str, str, int], list[dict[str, Any]]],
    live: list[str],
    methods: tuple[str, ...],
    concs: tuple[int, ...],
) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    detail = [
        "| call | conc | client | req/s | CPU µs/req | p50 ms | p99 ms | server CPU | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    sdk = "moveworks_async"
    for method in methods:
        for conc in concs:
            base = results[(BASELINE, method, conc)]
            for kind in live:
                if (kind, method, conc) not in results:
                    rows.append(Row("1", f"{method} c={conc}", kind, "skipped in --quick"))
                    continue
                res = results[(kind, method, conc)]
                errors = sum(r["errors"] for r in res)
                srv = [r["server_cpu"] for r in res if r["server_cpu"] is not None]
                cpu_vs = ""
                if kind != BASELINE:  # client cost, paired: steadier than req/s on a busy box
                    cpu = [r["cpu_us"] / b["cpu_us"] for r, b in zip(res, base, strict=True)]
                    cpu_vs = f" ({mmm(cpu)[1]:.2f}x aiohttp's)"
                absolute = (
                    f"{human(mmm(r['rps'] for r in res)[1])} req/s, "
                    f"{mmm(r['cpu_us'] for r in res)[1]:.0f} µs CPU/req{cpu_vs}"
                    + (f", server {mmm(srv)[1] * 100:.0f}%" if srv else "")
                    + (f", {errors} errors" if errors else "")
                )
                ratios = [r["rps"] / b["rps"] for r, b in zip(res, base, strict=True)]
                goal, met = "", None
                if kind == sdk:
                    goal = ">= 0.85x raw aiohttp, 0 errors"
                    met = mmm(ratios)[1] >= 0.85 and errors == 0
                elif kind == FAST_SDK and conc in (64, 512):
                    want = 1.3 if conc == 64 else 1.5
                    goal = f">= {want}x raw aiohttp, 0 errors (issue 16)"
                    met = mmm(ratios)[1] >= want and errors == 0
                rows.append(
                    Row(
                        "1",
                        f"{method} c={conc}",
                        kind,
                        absolute,
                        None if kind == BASELINE else ratios,
                        "req/s vs aiohttp",
                        goal,
                        met,
                    )
                )
                p50 = [r["p50_ms"] for r in res if r["p50_ms"] is not None]
                p99 = [r["p99_ms"] for r in res if r["p99_ms"] is not None]
                detail.append(
                    f"| {method} | {conc} | {kind} | "
                    f"{fmt_mmm((r['rps'] for r in res), '{:.0f}')} | "
                    f"{fmt_mmm((r['cpu_us'] for r in res), '{:.0f}')} | "
                    f"{fmt_mmm(p50) if p50 else '-'} | {fmt_mmm(p99) if p99 else '-'} | "
                    f"{fmt_mmm((s * 100 for s in srv), '{:.0f}%') if srv else '-'} | {errors} |"
                    + (f" {res[0]['first_error'] or ''}" if errors else "")
                )
        if 64 in concs and 512 in concs:
            for kind in (sdk, BASELINE):
                if kind not in live:
                    continue
                hi, lo = results[(kind, method, 512)], results[(kind, method, 64)]
                growth = [a["cpu_us"] / b["cpu_us"] for a, b in zip(hi, lo, strict=True)]
                is_sdk = kind == sdk
                rows.append(
                    Row(
                        "1",
                        f"{method} CPU/req c=512 vs c=64",
                        kind,
                        f"{mmm(r['cpu_us'] for r in hi)[1]:.0f} vs "
                        f"{mmm(r['cpu_us'] for r in lo)[1]:.0f} µs",
                        growth,
                        "",
                        "<= 1.3x" if is_sdk else "",
                        mmm(growth)[1] <= 1.3 if is_sdk else None,
                    )
                )
    return rows, detail


if __name__ == "__main__":
    worker_main(handle)
