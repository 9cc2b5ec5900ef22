"""Run the fake server as a process: ``python -m moveworks_async.testing --port 8089``.

Prints the base URL as the first line of stdout, then serves until SIGINT or SIGTERM.
Request recording is off (nobody can read it from outside); ``GET /_fake/stats`` returns
the counters.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
from collections.abc import Sequence

from ._server import DEFAULT_STREAM_DELAY, FakeMoveworks

__all__ = ["main"]


def _rate_limit(value: str) -> tuple[float, float]:
    try:
        rate, burst = (float(part) for part in value.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError("expected RATE,BURST, e.g. 200,200") from exc
    return rate, burst


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m moveworks_async.testing", description="Run the fake Moveworks API."
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8089)
    p.add_argument("--token", default="test-token", help="static bearer accepted")
    p.add_argument("--any-token", action="store_true", help="accept any non-empty bearer")
    p.add_argument("--assistant-name", default="acme-capi")
    p.add_argument("--client-id", default="test-client")
    p.add_argument("--client-secret", default="test-secret")
    p.add_argument("--token-ttl", type=float, default=3600.0)
    p.add_argument("--token-reply", choices=("wrapped", "flat"), default="wrapped")
    p.add_argument("--rate-limit", type=_rate_limit, default=None, metavar="RATE,BURST")
    p.add_argument("--rate-limit-retry-after", default="1", help='"none" to omit the header')
    p.add_argument(
        "--stream-delay",
        type=float,
        default=DEFAULT_STREAM_DELAY,
        help=f"seconds between SSE events (default {DEFAULT_STREAM_DELAY}; 0: all at once)",
    )
    p.add_argument("--polls-to-complete", type=int, default=2)
    p.add_argument("--data-api-key", default="test-data-key", help="Data API bearer accepted")
    p.add_argument(
        "--data-records",
        type=int,
        default=0,
        metavar="N",
        help="records per Data API table",
    )
    p.add_argument(
        "--event", action="append", default=[], metavar="UUID", help="define an Events API event"
    )
    return p


async def _serve(args: argparse.Namespace) -> None:
    retry_after = None if args.rate_limit_retry_after == "none" else args.rate_limit_retry_after
    server = FakeMoveworks(
        assistant_name=args.assistant_name,
        token=None if args.any_token else args.token,
        client_id=args.client_id,
        client_secret=args.client_secret,
        token_ttl=args.token_ttl,
        token_reply=args.token_reply,
        polls_to_complete=args.polls_to_complete,
        stream_delay=args.stream_delay,
        rate_limit=args.rate_limit,
        rate_limit_retry_after=retry_after,
        host=args.host,
        port=args.port,
        record=False,
        data_api_key=args.data_api_key,
    )
    for event_id in args.event:
        server.events_api.register(event_id)
    if args.data_records:
        for kind in ("conversations", "interactions", "plugin-calls", "plugin-resources", "users"):
            server.data_api.generate(kind, args.data_records)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows has no signal handlers
            loop.add_signal_handler(sig, stop.set)
    async with server:
        # This process exists only to serve benchmarks, so tune the collector for it: every
        # create keeps ~50 small containers alive, and default thresholds spend ~40 % of a
        # create in gen-0/1 collections. Freezing moves the startup heap out of their way.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        print(server.url, flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and serve until interrupted; return the exit code."""
    args = _parser().parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
