"""#4: converting realistic Response payloads: dict -> model, JSON -> model, model -> JSON.

moveworks_async (``_converter.structure`` / ``_json.loads`` + structure / ``converter.unstructure``
+ ``_json.dumps``) against pydantic v2 models of the same wire shape (``model_validate``,
``model_validate_json``, ``model_dump_json``) and msgspec Structs (the ceiling). Each Response
(``payloads.response``) has 2 reasoning outputs and a message with 2 citations (display title,
body, attribute), 2 content references, feedback and 2 actions: 2.4 KB of JSON.

Runs in a worker pinned to CPU 0. Variants are interleaved within every repeat and ratios
are paired per repeat.
"""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable
from typing import Any

from . import payloads
from ._common import Row, Worker, fmt_mmm, mmm, rotate, worker_main

DISTINCT = 2000  # distinct payloads, cycled up to N

# --- worker side ---------------------------------------------------------------------------

Op = Callable[[Any], Any]


def _variants() -> dict[str, dict[str, tuple[Op, str]]]:
    """{operation: {variant: (function, input kind)}}; input kinds: dict, json, model."""
    from moveworks_async import _json
    from moveworks_async._converter import converter, structure
    from moveworks_async._models import Response

    loads, dumps, unstructure = _json.loads, _json.dumps, converter.unstructure
    out: dict[str, dict[str, tuple[Op, str]]] = {
        "dict -> model": {},
        "JSON -> model": {},
        "model -> JSON": {},
    }
    out["dict -> model"]["moveworks_async"] = (lambda d: structure(d, Response), "dict")
    out["JSON -> model"]["moveworks_async"] = (lambda b: structure(loads(b), Response), "json")
    if _json.using_orjson:
        out["JSON -> model"]["moveworks_async (stdlib json)"] = (
            lambda b: structure(json.loads(b), Response),
            "json",
        )
    from moveworks_async import _wire

    if _wire.ENABLED:
        # What the SDK runs for a reply with the speedups extra: msgspec wire Structs, then
        # the models (moveworks_async/_wire.py); the row above is the path without msgspec.
        out["JSON -> model"]["moveworks_async (msgspec wire)"] = (
            lambda b: _wire.decode(b, Response),
            "json",
        )
    out["model -> JSON"]["moveworks_async"] = (lambda m: dumps(unstructure(m)), "mw")
    try:
        from ._peer_models import pydantic_models

        PResponse = pydantic_models()
    except ImportError:
        pass
    else:
        out["dict -> model"]["pydantic"] = (PResponse.model_validate, "dict")
        out["JSON -> model"]["pydantic"] = (PResponse.model_validate_json, "json")
        out["model -> JSON"]["pydantic"] = (lambda m: m.model_dump_json(), "pd")
    try:
        import msgspec

        from ._peer_models import msgspec_models

        MResponse = msgspec_models()
    except ImportError:
        pass
    else:
        decoder, encoder = msgspec.json.Decoder(MResponse), msgspec.json.Encoder()
        out["dict -> model"]["msgspec"] = (lambda d: msgspec.convert(d, MResponse), "dict")
        out["JSON -> model"]["msgspec"] = (decoder.decode, "json")
        out["model -> JSON"]["msgspec"] = (encoder.encode, "ms")
    return out


_STATE: dict[str, Any] = {}


def _inputs(n: int) -> dict[str, list[Any]]:
    if _STATE.get("n") != n:
        from moveworks_async._converter import structure
        from moveworks_async._models import Response

        dicts = [payloads.response(i) for i in range(DISTINCT)]
        inputs: dict[str, list[Any]] = {
            "dict": dicts,
            "json": [payloads.dumps(d) for d in dicts],
            "mw": [structure(d, Response) for d in dicts],
        }
        ops = _variants()
        if "pydantic" in ops["dict -> model"]:
            inputs["pd"] = [ops["dict -> model"]["pydantic"][0](d) for d in dicts]
        if "msgspec" in ops["dict -> model"]:
            inputs["ms"] = [ops["dict -> model"]["msgspec"][0](d) for d in dicts]
        # Cycle the distinct payloads up to n (the same objects, so memory stays small).
        _STATE.update(n=n, inputs={k: (v * (n // len(v) + 1))[:n] for k, v in inputs.items()})
        _STATE["ops"] = ops
    return _STATE["inputs"]


def _time_one(fn: Op, items: list[Any]) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        for item in items:
            fn(item)
        return time.perf_counter() - start
    finally:
        gc.enable()


def handle(kind: str, cmd: dict[str, Any]) -> dict[str, Any]:
    if cmd["op"] == "ping":
        return {"available": True}
    n = cmd["n"]
    inputs = _inputs(n)
    ops = _STATE["ops"]
    result: dict[str, dict[str, float]] = {}
    for op_name in ops:  # one repeat: every variant once, in the rotated order
        result[op_name] = {}
        for variant in rotate(list(ops[op_name]), cmd["repeat"]):
            fn, source = ops[op_name][variant]
            result[op_name][variant] = _time_one(fn, inputs[source]) / n * 1e6
    sizes = [len(b) for b in inputs["json"][:DISTINCT]]
    return {"us": result, "json_bytes": sum(sizes) / len(sizes)}


# --- driver side ---------------------------------------------------------------------------


def run(quick: bool, log: Callable[[str], None] = print) -> tuple[list[Row], list[str]]:
    n = 20_000 if quick else 100_000
    repeats = 3 if quick else 5
    worker = Worker("benchmarks.bench_models", "models")
    runs: list[dict[str, Any]] = []
    try:
        for rep in range(repeats):
            runs.append(worker.call({"op": "run", "n": n, "repeat": rep}))
        log(f"  #4 {repeats} repeats of {n} objects done")
    finally:
        worker.stop()
    rows: list[Row] = []
    detail = [
        f"{n} Response payloads per repeat (avg {runs[0]['json_bytes']:.0f} B of JSON), "
        f"{repeats} repeats; µs per object min/median/max",
        "",
        "| operation | variant | µs/object | vs pydantic (time) |",
        "|---|---|---|---|",
    ]
    goals = {"dict -> model": 0.85, "JSON -> model": 0.9}
    for op_name in runs[0]["us"]:
        for variant in runs[0]["us"][op_name]:
            times = [r["us"][op_name][variant] for r in runs]
            has_pd = "pydantic" in runs[0]["us"][op_name]
            ratios = (
                [r["us"][op_name][variant] / r["us"][op_name]["pydantic"] for r in runs]
                if has_pd and variant != "pydantic"
                else None
            )
            goal, met = "", None
            if variant == "moveworks_async" and op_name in goals and ratios:
                goal = f"<= {goals[op_name]}x pydantic's time"
                met = mmm(ratios)[1] <= goals[op_name]
            rows.append(
                Row(
                    "4",
                    op_name,
                    variant,
                    f"{mmm(times)[1]:.2f} µs/object",
                    ratios,
                    "time vs pydantic",
                    goal,
                    met,
                )
            )
            detail.append(
                f"| {op_name} | {variant} | {fmt_mmm(times)} | "
                f"{fmt_mmm(ratios) + 'x' if ratios else '-'} |"
            )
    return rows, detail


if __name__ == "__main__":
    worker_main(handle)
