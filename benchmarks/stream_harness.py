"""A repeatable per-stream cost harness (issue 13, item 5): no server, no sockets.

``python -m benchmarks.stream_harness [--rounds N] [--repeats R] [--case many|long]``

The SDK's whole stream path (``responses.stream``: validation, the attempt loop, the stream
shell, the machine, typing) reads pre-recorded chunks from an in-memory transport, and the
``aiohttp+typed`` floor of benchmark #2 (SSE decoder, ``loads``, ``parse_event``) reads the
same chunks from the same stub reply. Both yield to the loop once per chunk (as a socket read
would), so the difference is the SDK's own CPU per event. Cases as #2: ``many`` = 200
concurrent streams x 50 events, ``long`` = one stream of 10,000 events, 16 events per chunk
(``--per-write``).
CPU is ``time.process_time`` per round; each repeat alternates SDK and floor; the report gives
the median of the per-repeat ratios (and the minimum per event, the least disturbed figure).

Under ``valgrind --tool=callgrind`` the run is deterministic (no I/O): pass ``--only sdk`` or
``--only floor`` and take the difference of two ``--rounds`` counts as instructions per round.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from . import payloads

PER_WRITE = 16
CASES = {"many": (200, 50), "long": (1, 10_000)}
_HEADERS = {"Content-Type": "text/event-stream"}


def chunks(events: int, per_write: int = PER_WRITE) -> list[bytes]:
    frames = payloads.stream_events(events)
    return [b"".join(frames[i : i + per_write]) for i in range(0, len(frames), per_write)]


class StubReply:
    """An open streaming reply serving fixed chunks (OpenStream's contract)."""

    __slots__ = ("_chunks", "_index", "headers", "status")

    def __init__(self, data: list[bytes]) -> None:
        self._chunks = data
        self._index = 0
        self.status = 200
        self.headers: Mapping[str, str] = _HEADERS

    async def read(self, limit: int = 0) -> bytes:
        return b""

    async def read_chunk(self) -> bytes:
        await asyncio.sleep(0)  # a socket read suspends: a loop turn per chunk
        index = self._index
        if index >= len(self._chunks):
            return b""
        self._index = index + 1
        return self._chunks[index]

    @property
    def ended(self) -> bool:
        return self._index >= len(self._chunks)

    async def wait_eof(self) -> None:
        return None

    def close(self) -> None:
        return None


class StubOpener:
    __slots__ = ("_data",)

    def __init__(self, data: list[bytes]) -> None:
        self._data = data

    async def __aenter__(self) -> StubReply:
        return StubReply(self._data)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def close(self) -> None:
        return None


class StubTransport:
    """A Transport whose streams serve the same fixed chunks (no network)."""

    owner = "AsyncMoveworks"

    def __init__(self, data: list[bytes]) -> None:
        self._data = data
        self._closed = False

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def has_open_owned_session(self) -> bool:
        return False

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def stream(self, *args: Any, **kwargs: Any) -> StubOpener:
        return StubOpener(self._data)

    async def aclose(self) -> None:
        self._closed = True


async def _sdk_round(client: Any, streams: int) -> int:
    async def one() -> int:
        count = 0
        async with client.responses.stream(payloads.CONV, text="q") as stream:
            async for _event in stream:
                count += 1
        return count

    return sum(await asyncio.gather(*[one() for _ in range(streams)]))


async def _floor_round(data: list[bytes], streams: int) -> int:
    from moveworks_async._events import parse_event
    from moveworks_async._json import loads
    from moveworks_async._sse import SSEDecoder

    async def one() -> int:
        count = 0
        decoder = SSEDecoder()
        reply = StubReply(data)
        while chunk := await reply.read_chunk():
            for sse in decoder.feed(chunk):
                parse_event(sse.event, loads(sse.data))
                count += 1
        return count

    return sum(await asyncio.gather(*[one() for _ in range(streams)]))


async def measure(
    case: str, rounds: int, repeats: int, only: str | None, per_write: int = PER_WRITE
) -> dict[str, Any]:
    import moveworks_async as mw

    streams, events = CASES[case]
    data = chunks(events, per_write)
    client = mw.AsyncMoveworks(
        assistant_name="bench",
        token="bench-token",
        base_url="http://stub.invalid",
        transport=StubTransport(data),  # type: ignore[arg-type]
    )
    per_event: dict[str, list[float]] = {"sdk": [], "floor": []}
    total = streams * events
    async with client:
        for _ in range(repeats):
            for kind in ("sdk", "floor"):
                if only is not None and kind != only:
                    continue
                start = time.process_time()
                for _ in range(rounds):
                    if kind == "sdk":
                        got = await _sdk_round(client, streams)
                    else:
                        got = await _floor_round(data, streams)
                    assert got == total, (kind, got, total)
                per_event[kind].append((time.process_time() - start) / (rounds * total))
    result: dict[str, Any] = {"case": case, "streams": streams, "events": events}
    for kind, values in per_event.items():
        if values:
            result[kind + "_us_min"] = min(values) * 1e6
            result[kind + "_us_median"] = statistics.median(values) * 1e6
    if per_event["sdk"] and per_event["floor"]:
        ratios = [s / f for s, f in zip(per_event["sdk"], per_event["floor"], strict=True)]
        result["ratio_median"] = statistics.median(ratios)
        result["ratio_of_mins"] = min(per_event["sdk"]) / min(per_event["floor"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stream_harness")
    parser.add_argument("--case", choices=sorted(CASES), action="append")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--only", choices=("sdk", "floor"))
    parser.add_argument(
        "--per-write",
        type=int,
        default=PER_WRITE,
        help="events per chunk (benchmark #2's server writes 16, but against a fast local "
        "server one read often returns ~1,000)",
    )
    args = parser.parse_args()
    for case in args.case or ["many", "long"]:
        result = asyncio.run(measure(case, args.rounds, args.repeats, args.only, args.per_write))
        cells = (f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items())
        print(" ".join(cells))


if __name__ == "__main__":
    main()
