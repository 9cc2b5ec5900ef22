"""Where a call's client CPU goes, by layer and by thread (issue 16).

``python -m benchmarks.call_split [--op get|create] [--conc 64] [--seconds 2.5] [--repeats 3]
[--only variant,...] [--busy 2000]``

Each variant runs in a fresh process pinned to CPU 0 (``benchmarks.server`` on CPU 1), ``conc``
tasks looping on one call, and reports req/s, client CPU per call (every thread of the process:
``time.process_time``) and the event-loop thread's share (``time.thread_time``); the rest is
pyreqwest's tokio thread, and the process's context switches per call (``getrusage``: voluntary,
a thread blocking, for example on the GIL; involuntary, a thread preempted: with both threads
on one CPU, pyreqwest's runtime thread waking while the loop thread runs). The variants peel
the SDK's layers off one by one:

* ``pyreqwest``: raw pyreqwest (``build().send()``, ``bytes()``) and this package's ``loads``;
* ``pyreqwest-streamed``: the same through ``build_streamed()`` (``async with``, then
  ``body_reader.bytes()``), as the SDK's adapter reads a reply;
* ``pyreqwest-busy``, ``aiohttp-busy``: raw pyreqwest / aiohttp plus ``--busy`` iterations of
  an empty Python loop per call (its cost in a tight loop, measured before the run, is shown
  in the variant's name): what one µs of a client's own Python work per call costs here;
* ``transport``: ``PyreqwestTransport.request`` and ``loads`` (the adapter, no SDK);
* ``transport-aiohttp``: the same with ``AiohttpTransport``;
* ``sdk-pyreqwest``: ``client.responses.get``/``create`` on ``transport="pyreqwest"``;
* ``sdk-pyreqwest-nototal``: the same with ``Timeout(total=None)`` (no whole-call deadline);
* ``aiohttp``, ``sdk-aiohttp``, ``sdk-aiohttp-nototal``: the same on aiohttp;
* ``sdk-pyreqwest-nomsgspec``, ``sdk-aiohttp-nomsgspec``: the SDK with its msgspec wire path
  switched off (``_wire.ENABLED = False``: the default install's ``_json.loads`` + converter),
  to pair with ``sdk-pyreqwest`` / ``sdk-aiohttp`` in the same run (nothing else differs).

Repeats rotate the order; the report gives the median of each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from . import payloads
from ._common import CLIENT_CPU, Server, pinned, rotate

VARIANTS = (
    "pyreqwest",
    "pyreqwest-streamed",
    "pyreqwest-busy",
    "aiohttp-busy",
    "transport",
    "transport-aiohttp",
    "sdk-pyreqwest",
    "sdk-pyreqwest-nototal",
    "aiohttp",
    "sdk-aiohttp",
    "sdk-aiohttp-nototal",
    "sdk-pyreqwest-nomsgspec",
    "sdk-aiohttp-nomsgspec",
)
_HEADERS = {"Authorization": "Bearer bench-token", "Accept": "application/json"}
_BODY_HEADERS = {**_HEADERS, "Content-Type": "application/json"}


#: Iterations of the busy variants' empty loop per call (``--busy``).
BUSY_LOOPS = 2000


def _busy_loop(loops: int) -> Callable[[], None]:
    """A call's worth of pure Python work: an empty loop of ``loops`` iterations (no memory
    touched, no allocation), what any client's own work per call adds on top of the HTTP."""

    def busy() -> None:
        for _ in range(loops):
            pass

    return busy


def _isolated_us(work: Callable[[], None], calls: int = 2000) -> float:
    """``work``'s cost in µs per call in a tight loop before the run (the process idle)."""
    started = time.perf_counter()
    for _ in range(calls):
        work()
    return 1e6 * (time.perf_counter() - started) / calls


async def _measure(
    url: str, variant: str, op: str, conc: int, seconds: float, busy_loops: int = BUSY_LOOPS
) -> dict[str, Any]:
    import moveworks_async as mw
    from moveworks_async._json import loads

    base = url + payloads.PREFIX
    create_url = f"{base}/conversations/{payloads.CONV}/responses"
    get_url = f"{create_url}/resp_1"
    body = payloads.create_request_body()
    closers: list[Any] = []
    busy = _busy_loop(busy_loops) if variant.endswith("-busy") else None
    busy_us = _isolated_us(busy) if busy is not None else 0.0
    if variant in ("pyreqwest", "pyreqwest-busy"):
        from pyreqwest.client import ClientBuilder

        rc = ClientBuilder().max_connections(1000).follow_redirects(False).build()
        closers.append(rc.close)

        async def call() -> Any:
            if op == "get":
                r = await rc.get(get_url).headers(_HEADERS).build().send()
            else:
                builder = rc.post(create_url).headers(_BODY_HEADERS).body_bytes(body)
                r = await builder.build().send()
            data = bytes(await r.bytes())
            if busy is not None:
                busy()
            return loads(data)

    elif variant == "pyreqwest-streamed":
        from pyreqwest.client import ClientBuilder

        rc = ClientBuilder().max_connections(1000).follow_redirects(False).build()
        closers.append(rc.close)

        async def call() -> Any:
            if op == "get":
                builder = rc.get(get_url).headers(_HEADERS)
            else:
                builder = rc.post(create_url).headers(_BODY_HEADERS).body_bytes(body)
            async with builder.build_streamed() as r:
                return loads(bytes(await r.body_reader.bytes()))

    elif variant in ("transport", "transport-aiohttp"):
        from moveworks_async._transport import AiohttpTransport, Timeout

        if variant == "transport":
            from moveworks_async._transport_pyreqwest import PyreqwestTransport

            transport: Any = PyreqwestTransport(max_connections=1000)
        else:
            transport = AiohttpTransport(max_connections=1000)
        closers.append(transport.aclose)
        timeout = Timeout(connect=5.0, read=60.0, total=None)

        async def call() -> Any:
            if op == "get":
                reply = await transport.request("GET", get_url, _HEADERS, None, None, timeout)
            else:
                reply = await transport.request(
                    "POST", create_url, _BODY_HEADERS, body, None, timeout
                )
            return loads(reply.body)

    elif variant in ("aiohttp", "aiohttp-busy"):
        import aiohttp

        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1000, limit_per_host=0)
        )
        closers.append(session.close)

        async def call() -> Any:
            if op == "get":
                async with session.get(get_url, headers=_HEADERS) as r:
                    data = await r.read()
            else:
                async with session.post(create_url, data=body, headers=_BODY_HEADERS) as r:
                    data = await r.read()
            if busy is not None:
                busy()
            return loads(data)

    else:
        options: dict[str, Any] = {}
        if variant.endswith("-nomsgspec"):
            from moveworks_async import _wire

            # Restored at the end: tests/test_benchmarks.py runs the variants in-process.
            saved, _wire.ENABLED = _wire.ENABLED, False

            def restore() -> None:
                _wire.ENABLED = saved

            closers.append(restore)
        if variant.endswith("-nototal"):
            options["timeout"] = mw.Timeout(total=None)
        client = mw.AsyncMoveworks(
            assistant_name="bench",
            token="bench-token",
            base_url=url,
            max_connections=1000,
            transport="pyreqwest" if "pyreqwest" in variant else "aiohttp",
            **options,
        )
        closers.append(client.aclose)
        responses = client.responses

        async def call() -> Any:
            if op == "get":
                return await responses.get(payloads.CONV, "resp_1")
            return await responses.create(payloads.CONV, text="q")

    done = 0
    running = True

    async def worker() -> None:
        nonlocal done
        while running:
            await call()
            done += 1

    tasks = [asyncio.create_task(worker()) for _ in range(conc)]
    await asyncio.sleep(min(1.0, seconds / 2))  # warm-up: pools filled, code paths warm
    n0, cpu0, loop0, wall0 = done, time.process_time(), time.thread_time(), time.perf_counter()
    use0 = resource.getrusage(resource.RUSAGE_SELF)
    await asyncio.sleep(seconds)
    n1, cpu1, loop1, wall1 = done, time.process_time(), time.thread_time(), time.perf_counter()
    use1 = resource.getrusage(resource.RUSAGE_SELF)
    running = False
    await asyncio.gather(*tasks, return_exceptions=True)
    for close in closers:
        done_closing = close()
        if done_closing is not None:
            await done_closing
    calls = max(1, n1 - n0)
    return {
        "rps": calls / (wall1 - wall0),
        "cpu": 1e6 * (cpu1 - cpu0) / calls,
        "loop": 1e6 * (loop1 - loop0) / calls,
        "vcsw": (use1.ru_nvcsw - use0.ru_nvcsw) / calls,
        "ivcsw": (use1.ru_nivcsw - use0.ru_nivcsw) / calls,
        "busy": busy_us,
    }


def _child(argv: list[str]) -> None:
    url, variant, op, conc, seconds, busy_loops = argv
    result = asyncio.run(_measure(url, variant, op, int(conc), float(seconds), int(busy_loops)))
    print("RESULT " + json.dumps(result), flush=True)
    # Raw pyreqwest 0.15 (``build().send()``, client closed) aborted at interpreter
    # finalization in 2 of 6 runs here ("PyGILState_Release: thread state ... must be current",
    # a tokio thread still touching Python): the figures are out, so skip finalization.
    # (The SDK's own pyreqwest transport exited cleanly in 36 runs, closed or not.)
    os._exit(0)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--op", choices=("get", "create"), default="get")
    parser.add_argument("--conc", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=2.5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated variants")
    parser.add_argument(
        "--busy", type=int, default=BUSY_LOOPS, help="loop iterations per call of *-busy"
    )
    args = parser.parse_args()
    variants = [v for v in args.only.split(",") if v] or list(VARIANTS)
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    with Server() as server:
        for repeat in range(args.repeats):
            for variant in rotate(variants, repeat):
                argv = [sys.executable, "-m", "benchmarks.call_split", "--child", server.url]
                argv += [variant, args.op, str(args.conc), str(args.seconds), str(args.busy)]
                out = subprocess.run(
                    pinned(CLIENT_CPU, argv), capture_output=True, text=True, check=True
                ).stdout
                line = next(x for x in out.splitlines() if x.startswith("RESULT "))
                results[variant].append(json.loads(line[7:]))
    print(f"op={args.op} conc={args.conc}, medians of {args.repeats} repeats (min-max)")
    print(
        "| variant | req/s | client CPU µs/call | event-loop thread | other threads "
        "| context switches/call (voluntary + involuntary) |"
    )
    print("|---|---|---|---|---|---|")
    for variant, rows in results.items():
        rps = [r["rps"] for r in rows]
        cpus = [r["cpu"] for r in rows]
        cpu = statistics.median(cpus)
        loop = statistics.median(r["loop"] for r in rows)
        vcsw = statistics.median(r["vcsw"] for r in rows)
        ivcsw = statistics.median(r["ivcsw"] for r in rows)
        busy_us = statistics.median(r["busy"] for r in rows)
        name = f"{variant} (+{busy_us:.1f} µs isolated)" if busy_us else variant
        print(
            f"| {name} | {statistics.median(rps):,.0f} ({min(rps):,.0f}-{max(rps):,.0f}) "
            f"| {cpu:.1f} ({min(cpus):.1f}-{max(cpus):.1f}) | {loop:.1f} "
            f"| {max(0.0, cpu - loop):.1f} | {vcsw:.2f} + {ivcsw:.2f} |"
        )


if __name__ == "__main__":
    main()
