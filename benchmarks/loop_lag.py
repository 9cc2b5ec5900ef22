"""Event-loop stalls while a big reply is decoded: ``python -m benchmarks.loop_lag``.

A Data API page of N interaction records (1 to 30 MiB of JSON) is fetched from the package's
fake server, which runs in its own process so that its own JSON encoding stalls nothing here.
A ticker task on the client's loop wakes every millisecond and records the longest gap
between two wake-ups while the page is fetched, decoded and its first record converted
(``anext(data.interactions())``). Each size runs with the decoding off the loop (the package
as it is) and inline (``OFF_LOOP_BODY`` and ``STEPWISE_SIZE`` raised past any body: the
behaviour before issue 12's fix), alternating, and the medians are printed.

``--no-orjson`` hides orjson (the stdlib backend); without it, orjson is used where the
package uses it (documents up to 1 MiB). ``--quick``: 1 and 8 MiB, 3 repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import sys
import time
from typing import Any

KEY = "loop-lag-key"
#: Interaction records per MiB of page JSON (measured on the fake server's records).
RECORDS_PER_MIB = 2600


def _serve(port: int, records: int) -> None:
    from moveworks_async.testing import FakeMoveworks

    async def main() -> None:
        async with FakeMoveworks(data_api_key=KEY, port=port) as server:
            server.data_api.page_size = records
            server.data_api.generate("interactions", records)
            await asyncio.Event().wait()

    asyncio.run(main())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _one(url: str) -> tuple[float, float, int]:
    """(longest loop gap in s, call duration in s, page bytes) of one first-page fetch."""
    import moveworks_async as mw
    from moveworks_async import _json

    sizes: list[int] = []
    loads_exact = _json.loads_exact

    def measured(data: Any) -> Any:
        sizes.append(len(data))
        return loads_exact(data)

    _json.loads_exact = measured
    gaps: list[float] = []
    done = False

    async def ticker() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    try:
        async with mw.AsyncDataAPI(api_key=KEY, base_url=url) as data:
            task = asyncio.create_task(ticker())
            await asyncio.sleep(0.01)
            gaps.clear()
            start = time.perf_counter()
            await anext(data.interactions())
            took = time.perf_counter() - start
            done = True
            await task
    finally:
        _json.loads_exact = loads_exact
    return max(gaps), took, sizes[-1]


def _set_inline(inline: bool, saved: dict[str, int]) -> None:
    from moveworks_async import _json, _off_loop

    if not saved:
        saved.update(off=_off_loop.OFF_LOOP_BODY, step=_json.STEPWISE_SIZE)
    _off_loop.OFF_LOOP_BODY = 1 << 40 if inline else saved["off"]
    _json.STEPWISE_SIZE = 1 << 40 if inline else saved["step"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-orjson", action="store_true")
    args = parser.parse_args()
    if args.no_orjson:
        sys.modules["orjson"] = None  # type: ignore[assignment]  # import orjson fails
    from moveworks_async import _json

    sizes = [1, 8] if args.quick else [1, 4, 16, 30]
    repeats = 3 if args.quick else 5
    backend = "orjson" if _json.using_orjson else "stdlib json"
    print(f"backend: {backend}; median of {repeats} alternating runs per cell")
    print("| page | decoding | longest loop stall | fetch + decode |")
    print("| ---: | --- | ---: | ---: |")
    saved: dict[str, int] = {}
    for mib in sizes:
        port = _free_port()
        server = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(port, int(mib * RECORDS_PER_MIB)), daemon=True
        )
        server.start()
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(200):  # wait for the server to listen (bounded)
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            results: dict[bool, list[tuple[float, float, int]]] = {True: [], False: []}
            for _ in range(repeats):
                for inline in (True, False):
                    _set_inline(inline, saved)
                    results[inline].append(asyncio.run(_one(url)))
            _set_inline(False, saved)
            for inline in (True, False):
                gap = statistics.median(r[0] for r in results[inline])
                took = statistics.median(r[1] for r in results[inline])
                body = results[inline][0][2] / 2**20
                how = "inline (before)" if inline else "worker thread, stepwise"
                print(f"| {body:.1f} MiB | {how} | {gap * 1000:.0f} ms | {took * 1000:.0f} ms |")
        finally:
            server.terminate()
            server.join(10)


if __name__ == "__main__":
    main()
