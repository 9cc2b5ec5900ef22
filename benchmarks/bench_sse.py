"""SSE decoding throughput: moveworks_async's decoder vs httpx-sse vs a bare line splitter.

Usage::

    python benchmarks/bench_sse.py [--quick] [--json]

The stream is ~206-byte events (an ``event:`` line and a ``data:`` line of JSON, like the
Conversations API's deltas), 20 MB of them (4 MB with ``--quick``), with LF and with CRLF line
ends, fed in 64 KiB and in 1 KiB chunks. Decoders run interleaved, round after round, and each
row reports the median of the rounds (``min/median/max`` MB/s), so drifts in machine speed hit
all decoders alike. ``vs httpx-sse`` is the ratio of medians measured in the same run.

* ``moveworks_async``: ``SSEDecoder.feed(chunk)`` per chunk.
* ``httpx-sse``: what ``EventSource.iter_sse`` does, minus httpx itself: an incremental UTF-8
  decoder (httpx's ``iter_text``), ``SSELineDecoder.decode`` per text chunk, then
  ``line.rstrip("\\n")`` and ``SSEDecoder.decode`` per line.
* ``bytes.split lines``: split on ``b"\\n"`` and count, no SSE work at all: a ceiling.

``run(quick)`` returns the rows as dicts for a benchmark driver.
"""

from __future__ import annotations

import argparse
import codecs
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from moveworks_async._sse import SSEDecoder

httpx_sse_decoders: Any
try:
    from httpx_sse import _decoders as httpx_sse_decoders
except ImportError:  # pragma: no cover - optional comparison
    httpx_sse_decoders = None

MB = 1_000_000
CHUNK_SIZES = (65536, 1024)


def build_stream(total_bytes: int, crlf: bool) -> tuple[bytes, int]:
    """About `total_bytes` of ~206-byte ``event:``+``data:`` JSON events; (body, event count)."""
    events = []
    size = 0
    n = 0
    while size < total_bytes:
        payload = {
            "event_type": "RESPONSE_OUTPUT_DELTA",
            "response_id": "resp_32bt7rXXugeJjvE3pQzOk",
            "sequence_number": n,
            "delta": {"text": "Hello there, this is a streamed chunk of text"},
        }
        event = (
            f"event: RESPONSE_OUTPUT_DELTA\ndata: {json.dumps(payload, separators=(',', ':'))}\n\n"
        )
        events.append(event)
        size += len(event) + (3 if crlf else 0)
        n += 1
    text = "".join(events)
    if crlf:
        text = text.replace("\n", "\r\n")
    return text.encode(), n


def decode_ours(chunks: list[bytes]) -> int:
    decoder = SSEDecoder()
    count = 0
    for chunk in chunks:
        count += len(decoder.feed(chunk))
    return count + len(decoder.close())


def decode_httpx_sse(chunks: list[bytes]) -> int:
    assert httpx_sse_decoders is not None
    text_decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    line_decoder = httpx_sse_decoders.SSELineDecoder()
    sse_decoder = httpx_sse_decoders.SSEDecoder()
    count = 0
    for chunk in chunks:
        for line in line_decoder.decode(text_decoder.decode(chunk)):
            if sse_decoder.decode(line.rstrip("\n")) is not None:
                count += 1
    for line in line_decoder.decode(text_decoder.decode(b"", final=True)) + line_decoder.flush():
        if sse_decoder.decode(line.rstrip("\n")) is not None:
            count += 1
    return count


def split_lines(chunks: list[bytes]) -> int:
    lines = 0
    rest = b""
    for chunk in chunks:
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        lines += len(parts)
    return lines


def _decoders() -> dict[str, Callable[[list[bytes]], int]]:
    decoders: dict[str, Callable[[list[bytes]], int]] = {"moveworks_async": decode_ours}
    if httpx_sse_decoders is not None:
        decoders["httpx-sse"] = decode_httpx_sse
    decoders["bytes.split lines (ceiling)"] = split_lines
    return decoders


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Run every case; one dict per (line end, chunk size, decoder)."""
    total = 4 * MB if quick else 20 * MB
    rounds = 3 if quick else 5
    decoders = _decoders()
    rows: list[dict[str, Any]] = []
    for line_end in ("LF", "CRLF"):
        body, n_events = build_stream(total, crlf=line_end == "CRLF")
        for chunk_size in CHUNK_SIZES:
            chunks = [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]
            times: dict[str, list[float]] = {name: [] for name in decoders}
            for _ in range(rounds):  # interleaved: one run of each decoder per round
                for name, decode in decoders.items():
                    gc.collect()
                    start = time.perf_counter()
                    count = decode(chunks)
                    times[name].append(time.perf_counter() - start)
                    if name != "bytes.split lines (ceiling)" and count != n_events:
                        raise AssertionError(f"{name} decoded {count} events, not {n_events}")
            base = statistics.median(times["httpx-sse"]) if "httpx-sse" in times else None
            for name, samples in times.items():
                median = statistics.median(samples)
                rows.append(
                    {
                        "line_end": line_end,
                        "chunk_size": chunk_size,
                        "decoder": name,
                        "bytes": len(body),
                        "events": n_events,
                        "rounds": rounds,
                        "mb_per_s_min": len(body) / max(samples) / MB,
                        "mb_per_s": len(body) / median / MB,
                        "mb_per_s_max": len(body) / min(samples) / MB,
                        "events_per_s": n_events / median,
                        "vs_httpx_sse": base / median if base else None,
                    }
                )
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| line end | chunk | decoder | MB/s min/median/max | events/s | vs httpx-sse |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = f"{row['vs_httpx_sse']:.2f}x" if row["vs_httpx_sse"] else "-"
        lines.append(
            f"| {row['line_end']} | {row['chunk_size'] // 1024} KiB | {row['decoder']} | "
            f"{row['mb_per_s_min']:.0f}/{row['mb_per_s']:.0f}/{row['mb_per_s_max']:.0f} | "
            f"{row['events_per_s'] / 1000:.0f} k | {ratio} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 MB and 3 rounds instead of 20/5")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args()
    rows = run(quick=args.quick)
    first = rows[0]
    print(
        f"Python {sys.version.split()[0]}; {first['bytes'] / MB:.1f} MB per stream, "
        f"{first['events']} events of ~{first['bytes'] / first['events']:.0f} B; "
        f"median of {first['rounds']} interleaved rounds"
    )
    print(format_table(rows))
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
