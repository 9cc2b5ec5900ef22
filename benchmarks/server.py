"""A minimal, precomputed-reply Conversations API server for the benchmarks.

``python -m benchmarks.server --port 0`` prints its base URL on the first stdout line and serves
until SIGTERM. Every body is built once at start (or once per stream length), so the server does
as little Python work per request as aiohttp.web allows; it is still single-core Python, so the
driver reports its CPU use next to the client figures (a server near 100 % co-limits them).

Routes (under ``payloads.PREFIX``, the SDK's default generation's prefix, ``/rest/v1``):

* ``POST /conversations/{id}/responses``: a 220 B CREATED Response.
* ``GET /conversations/{id}/responses/{rid}``: a 2.3 KB COMPLETED Response (2 reasoning outputs,
  a message with citations, references, feedback and actions).
* ``POST /conversations/ev_N/responses/stream``: N SSE events (``payloads.stream_events``),
  written ``--batch`` events per write (default 16); ``ev_N_bK``: K events per write (``_b1``:
  one write per event, as a server producing events one by one does).
* ``POST /conversations/idle_S/responses/stream``: RESPONSE_CREATED at once, then a
  ``: keep-alive`` comment every second for S seconds, then RESPONSE_COMPLETED.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from pathlib import Path

from aiohttp import web

if __package__ in (None, ""):  # run as a script from a checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import payloads
else:
    from . import payloads

JSON_HEADERS = {"Content-Type": "application/json", "x-moveworks-root-uuid": "bench-root-uuid"}
SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "x-moveworks-root-uuid": "bench-root-uuid",
}
KEEPALIVE = b": keep-alive\n\n"


def make_app(batch: int) -> web.Application:
    create_body = payloads.dumps(payloads.response(1, "CREATED", outputs=False))
    get_body = payloads.dumps(payloads.response(1))
    streams: dict[tuple[int, int], list[bytes]] = {}

    def stream_writes(n: int, per_write: int = batch) -> list[bytes]:
        cached = streams.get((n, per_write))
        if cached is None:
            frames = payloads.stream_events(n)
            step = per_write
            cached = [b"".join(frames[i : i + step]) for i in range(0, len(frames), step)]
            streams[(n, per_write)] = cached
        return cached

    async def create(request: web.Request) -> web.Response:
        with contextlib.suppress(ConnectionError):
            await request.read()
        return web.Response(body=create_body, headers=JSON_HEADERS)

    async def get(request: web.Request) -> web.Response:
        return web.Response(body=get_body, headers=JSON_HEADERS)

    async def stream(request: web.Request) -> web.StreamResponse:
        with contextlib.suppress(ConnectionError):
            await request.read()
        cid = request.match_info["cid"]
        kind, _, arg = cid.partition("_")
        out = web.StreamResponse(headers=SSE_HEADERS)
        await out.prepare(request)
        try:
            if kind == "idle":
                frames = stream_writes(3)
                await out.write(frames[0][: frames[0].index(b"\n\n") + 2])
                for _ in range(int(arg)):
                    await asyncio.sleep(1.0)
                    await out.write(KEEPALIVE)
                await out.write(payloads.stream_events(3)[-1])
            else:
                count, _, per_write = arg.partition("_b")
                writes = stream_writes(int(count or 50), int(per_write or batch))
                for chunk in writes:
                    await out.write(chunk)
            await out.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return out

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    p = payloads.PREFIX
    app.router.add_post(p + "/conversations/{cid}/responses", create)
    app.router.add_get(p + "/conversations/{cid}/responses/{rid}", get)
    app.router.add_post(p + "/conversations/{cid}/responses/stream", stream)
    app.router.add_get("/_bench/ping", ping)
    return app


async def serve(port: int, batch: int) -> None:
    runner = web.AppRunner(make_app(batch), access_log=None, handle_signals=False)
    await runner.setup()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    site = web.SockSite(runner, sock, backlog=4096)
    await site.start()
    print(f"http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)  # client resets are expected
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--batch", type=int, default=16, help="SSE events per write")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.batch))


if __name__ == "__main__":
    main()
