"""Per-call SDK work without sockets (issue 13, item 5: "create/get do not regress").

``python -m benchmarks.call_harness [--op get|create] [--calls N] [--tasks T] [--no-total]``

``responses.get`` or ``responses.create`` against a transport that answers with a prepared
reply (the Response of benchmark #1) after two event-loop turns, ``T`` tasks in parallel. Under
``valgrind --tool=callgrind`` the run is deterministic: take the difference of two ``--calls``
counts as instructions per call, and compare commits on the same machine. ``--no-total`` builds
the client with ``Timeout(total=None)``: the same call without a whole-call deadline, so the
difference of the two is what the deadline costs.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping
from typing import Any

from . import payloads


class StubTransport:
    """Answers every request with one prepared 200 reply after two loop turns."""

    owner = "AsyncMoveworks"
    is_closed = False
    has_open_owned_session = False

    def __init__(self, body: bytes) -> None:
        from moveworks_async._transport import Reply

        self._reply = Reply(200, {"Content-Type": "application/json"}, body)

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
        params: Mapping[str, str] | None,
        timeout: Any,
    ) -> Any:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return self._reply

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


async def run(op: str, calls: int, tasks: int, no_total: bool = False) -> float:
    import moveworks_async as mw

    # The bodies of benchmark #1's server (benchmarks/server.py).
    if op == "get":
        body = payloads.dumps(payloads.response(1))
    else:
        body = payloads.dumps(payloads.response(1, "CREATED", outputs=False))
    client = mw.AsyncMoveworks(
        assistant_name="bench",
        token="bench-token",
        base_url="http://stub.invalid",
        transport=StubTransport(body),  # type: ignore[arg-type]
        **({"timeout": mw.Timeout(total=None)} if no_total else {}),
    )
    per_task = calls // tasks

    async def worker() -> None:
        for _ in range(per_task):
            if op == "get":
                await client.responses.get(payloads.CONV, "resp_1")
            else:
                await client.responses.create(payloads.CONV, text="q")

    async with client:
        start = time.process_time()
        await asyncio.gather(*(worker() for _ in range(tasks)))
        return (time.process_time() - start) / (per_task * tasks)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.call_harness")
    parser.add_argument("--op", choices=("get", "create"), default="get")
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument(
        "--no-total",
        action="store_true",
        help="client built with Timeout(total=None): no whole-call deadline",
    )
    args = parser.parse_args()
    seconds = asyncio.run(run(args.op, args.calls, args.tasks, args.no_total))
    total = " total=None" if args.no_total else ""
    print(f"op={args.op}{total} calls={args.calls} us_per_call={seconds * 1e6:.2f}")


if __name__ == "__main__":
    main()
