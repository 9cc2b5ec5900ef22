"""JSON -> models in-process: the msgspec wire path against the reference (issue 16).

``python -m benchmarks.wire_inprocess [--repeats 3] [--number 20000]``

For the benchmark's 2.4 KB Response (``payloads.response(0)``) and a create's 220 B CREATED
Response: the reference path the SDK takes without msgspec (``_json.loads`` then
``_converter.structure_fast``), the msgspec wire path (``_wire.decode``: msgspec's typed decode
into the generated Structs, then the generated builder of the attrs models), and its two halves.
Each repeat times every variant once (``timeit``, ``number`` calls, gc enabled as in a real
process); the table shows the median and the min-max of the repeats, in µs per call, and the
wire path's time as a fraction of the reference's, paired per repeat. Then the same for three
frames of the benchmark's 50-event stream (IN_PROGRESS, a delta, COMPLETED).
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
    for name, data in (("2.4 KB Response", payloads.response(0)), ("create's Response", CREATE)):
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
    _events(args.repeats, args.number)


def _events(repeats: int, number: int) -> None:
    """The stream's frames: ``parse_event`` on ``loads_plain`` (what the stream machine runs
    once a read's checks cleared) against ``_wire.event``."""
    from moveworks_async import _json, _wire
    from moveworks_async._events import parse_event
    from moveworks_async._sse import SSEDecoder

    decoder = SSEDecoder()
    frames = [sse for chunk in payloads.stream_events(50) for sse in decoder.feed(chunk)]
    print()
    print("| event | reference (`loads_plain` + `parse_event`) | msgspec wire path | "
          "wire / reference |")  # fmt: skip
    print("|---|---|---|---|")
    for frame in (frames[1], frames[2], frames[-1]):
        assert _wire.event(frame.event, frame.data) is not _wire.MISS
        ref: list[float] = []
        wire: list[float] = []
        for _ in range(repeats):
            ref.append(
                timeit.timeit(
                    lambda f=frame: parse_event(f.event, _json.loads_plain(f.data)), number=number
                )
                / number
                * 1e6
            )
            wire.append(
                timeit.timeit(lambda f=frame: _wire.event(f.event, f.data), number=number)
                / number
                * 1e6
            )
        ratios = [w / r for w, r in zip(wire, ref, strict=True)]
        print(
            f"| {frame.event} ({len(frame.data)} B) | {statistics.median(ref):.2f} "
            f"({min(ref):.2f}-{max(ref):.2f}) | {statistics.median(wire):.2f} "
            f"({min(wire):.2f}-{max(wire):.2f}) | {statistics.median(ratios):.2f}x "
            f"({min(ratios):.2f}-{max(ratios):.2f}) |"
        )


if __name__ == "__main__":
    main()
