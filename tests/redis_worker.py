"""One worker process of the multi-process RedisRateGovernor test (tests/test_redis_governor.py).

Runs ``--tasks`` concurrent ``responses.get`` calls against the fake server through one client
whose governor is either a ``RedisRateGovernor`` on the shared ``--key`` (``--mode redis``) or
a process-local ``RateGovernor`` with the same rate (``--mode local``, the control). Prints one
JSON line: successes, errors, wall seconds, and the governor's snapshot counters.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

import moveworks_async as mw


async def run(args: argparse.Namespace) -> dict[str, Any]:
    governor: Any
    if args.mode == "redis":
        governor = mw.RedisRateGovernor(
            args.redis, args.key, rate=args.rate, burst=args.burst, on_redis_error="closed"
        )
    else:
        # The control: each process paces itself at the full rate, unaware of the others.
        governor = mw.RateGovernor(rate=args.rate, burst=args.burst, adaptive=False)
    errors: list[str] = []
    ok = 0
    async with mw.AsyncMoveworks(
        assistant_name="acme-capi", token="any-token", base_url=args.url, governor=governor
    ) as client:

        async def one() -> None:
            nonlocal ok
            try:
                await client.responses.get(args.conversation, args.response)
                ok += 1
            except mw.MoveworksError as exc:
                errors.append(type(exc).__name__)

        # Start together: the parent releases every worker at the same wall-clock instant.
        await asyncio.sleep(max(0.0, args.start_at - time.time()))
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(args.tasks)))
        wall = time.perf_counter() - t0
        snapshot = governor.snapshot()
    if args.mode == "redis":
        await governor.aclose()
    return {
        "ok": ok,
        "errors": errors,
        "wall": wall,
        "rate_limited": snapshot.rate_limited,
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the calls, print the JSON result."""
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--redis", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--burst", type=float, required=True)
    p.add_argument("--tasks", type=int, required=True)
    p.add_argument("--conversation", required=True)
    p.add_argument("--response", required=True)
    p.add_argument("--start-at", type=float, required=True)
    p.add_argument("--mode", choices=("redis", "local"), default="redis")
    args = p.parse_args(argv)
    print(json.dumps(asyncio.run(run(args))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
