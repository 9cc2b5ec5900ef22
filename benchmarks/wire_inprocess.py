"""JSON bytes -> Response in-process: the msgspec wire path against the reference (issue 16).

``python -m benchmarks.wire_inprocess [--repeats 3] [--number 20000]``

For the benchmark's 2.4 KB Response (``payloads.response(0)``) and a create's 220 B CREATED
Response: the reference path the SDK takes without msgspec (``_json.loads`` then
``_converter.structure_fast``), the msgspec wire path (``_wire.decode``: msgspec's typed decode
into the generated Structs, then the generated builder of the attrs models), and its two halves.
Each repeat times every variant once (``timeit``, ``number`` calls, gc enabled as in a real
process); the table shows the median and the min-max of the repeats, in µs per call, and the
wire path's time as a fraction of the reference's, paired per repeat.
"""

from __future__ import annotations

import argparse
import json
import statistics
import timeit
from collections.abc import Callable
from typing import Any

from . import payloads

CREATE: dict[str, Any] = {
    "response_id": "resp_0000000001",
    "conversation_id": payloads.CONV,
    "status": "CREATED",
    "created_at": "2026-11-26T10:00:00.000000Z",
    "outputs": [],
}


def main() -> None:
    from moveworks_async import _json, _wire
    from moveworks_async._converter import structure_fast
    from moveworks_async._models import Response

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--number", type=int, default=20_000)
    args = parser.parse_args()
    if not _wire.ENABLED:
        raise SystemExit("msgspec is not installed (or MOVEWORKS_ASYNC_MSGSPEC=0)")
    print(f"orjson: {_json.using_orjson}; medians of {args.repeats} repeats (min-max), µs/call")
    print("| payload | reference (`loads` + `structure_fast`) | msgspec wire path | "
          "msgspec decode only | model build only | wire / reference |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name, data in (("2.4 KB Response", payloads.response(0)), ("220 B create", CREATE)):
        body = json.dumps(data, separators=(",", ":")).encode()
        assert _wire.supports(Response)
        assert _wire.decode(body, Response) is not _wire.MISS
        entry = _wire._entries[Response]
        assert entry is not None
        decode, build = entry.decode, entry.build
        structs = decode(body)
        variants: dict[str, Callable[[], Any]] = {
            "ref": lambda b=body: structure_fast(_json.loads(b), Response),
            "wire": lambda b=body: _wire.decode(b, Response),
            "decode": lambda b=body, f=decode: f(b),
            "build": lambda s=structs, f=build: f(s),
        }
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(args.repeats):
            for key, fn in variants.items():
                times[key].append(timeit.timeit(fn, number=args.number) / args.number * 1e6)
        ratios = [w / r for w, r in zip(times["wire"], times["ref"], strict=True)]

        def cell(xs: list[float], unit: str = "") -> str:
            return f"{statistics.median(xs):.2f}{unit} ({min(xs):.2f}-{max(xs):.2f})"

        print(
            f"| {name} ({len(body)} B) | {cell(times['ref'])} | {cell(times['wire'])} | "
            f"{cell(times['decode'])} | {cell(times['build'])} | {cell(ratios, 'x')} |"
        )


if __name__ == "__main__":
    main()
