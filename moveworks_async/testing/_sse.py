"""The streaming create endpoint: plan the SSE events of a response, then write them.

A stream is ``RESPONSE_CREATED``, ``RESPONSE_IN_PROGRESS``, one ``RESPONSE_OUTPUT_DELTA`` per
reasoning message, ``Answer.snapshots`` cumulative snapshots of the message (same
``message_id``) and ``RESPONSE_COMPLETED`` (or ``RESPONSE_FAILED``); sequence numbers start at
1; then the body ends. The plan is a list so that stream faults can duplicate, reorder or drop
events before anything is written; the terminal payload is computed lazily, when it is sent,
so a GET during the stream still sees ``IN_PROGRESS``.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Callable
from typing import Any, Final, TypeVar

import attrs
from aiohttp import web

from . import _faults as f
from . import _render as render
from ._chaos import CORRUPT_BYTES, abort_connection, add_unknown_fields, compressor
from ._host import Host
from ._store import ResponseRecord
from ._wire import Generation, ServerClosingError

__all__ = ["stream_response"]

DELTA: Final = "RESPONSE_OUTPUT_DELTA"
KEEPALIVE: Final = b": keep-alive\n"
# Data cut off mid-JSON, as a proxy truncating a line would leave it.
_BROKEN_FRAME: Final = f'event: {DELTA}\ndata: {{"event_type": "{DELTA}", "seq\n\n'.encode()


@attrs.define
class _Planned:
    name: str
    payload: dict[str, Any] | Callable[[], dict[str, Any]]
    seq: int = 0


class _StopStreamError(Exception):
    """A fault ended the stream early."""


def _snapshot_item(resp: ResponseRecord, gen: Generation, k: int, n: int) -> dict[str, Any]:
    msg = resp.message
    assert msg is not None
    if k == n:
        return render.message_item(msg, gen)
    text = msg.text
    partial = {
        "message_id": msg.message_id,
        "conversation_id": msg.conversation_id,
        "response_id": msg.response_id,
        "actor": msg.actor,
        "content": render.commonmark(text[: len(text) * k // n]),
        "created_at": msg.created_at,
    }
    return {"type": "MESSAGE", "message": partial}


def _plan(server: Host, gen: Generation, resp: ResponseRecord) -> list[_Planned]:
    def terminal() -> dict[str, Any]:
        server.store.finalize(resp)
        return {"response": render.snapshot(resp, gen)}

    plan = [
        _Planned("RESPONSE_CREATED", {"response": render.response(resp, gen, render.CREATED, [])}),
        _Planned(
            "RESPONSE_IN_PROGRESS", {"response": render.response(resp, gen, render.IN_PROGRESS, [])}
        ),
    ]
    plan.extend(_Planned(DELTA, {"output": item}) for item in resp.reasoning)
    if resp.message is not None:
        n = resp.answer.snapshots
        plan.extend(
            _Planned(DELTA, {"output": _snapshot_item(resp, gen, k, n)}) for k in range(1, n + 1)
        )
    plan.append(_Planned("RESPONSE_FAILED" if resp.answer.fail else "RESPONSE_COMPLETED", terminal))
    return plan


def _apply_plan_faults(plan: list[_Planned], faults: list[f.Fault]) -> list[_Planned]:
    """Interleave unknown events, number the events, then bend the numbering."""
    if any(isinstance(x, f.UnknownEvent) for x in faults):
        mixed: list[_Planned] = []
        for planned in plan[:-1]:
            thing = {"thing": {"kind": "future", "detail": "ignore me"}}
            mixed += [planned, _Planned("RESPONSE_FUTURE_THING", thing)]
        plan = [*mixed, plan[-1]]
    for seq, planned in enumerate(plan, start=1):
        planned.seq = seq
    deltas = [i for i, p in enumerate(plan) if p.name == DELTA]
    if any(isinstance(x, f.ReorderEvents) for x in faults) and len(deltas) >= 2:
        a, b = deltas[0], deltas[1]
        plan[a], plan[b] = plan[b], plan[a]
    if any(isinstance(x, f.SkipSequence) for x in faults):
        if deltas:
            del plan[deltas[0]]
        else:
            plan[-1].seq += 1
    if any(isinstance(x, f.DuplicateEvents) for x in faults):
        plan = [q for p in plan for q in ((p, p) if p.name == DELTA else (p,))]
    return plan


_F = TypeVar("_F", bound=f.Fault)


def _first(faults: list[f.Fault], kind: type[_F]) -> _F | None:
    for fault in faults:
        if isinstance(fault, kind):
            return fault
    return None


class _Writer:
    """Writes stream bytes, honouring line-ending, compress, trickle and slow-loris faults."""

    def __init__(self, server: Host, out: web.StreamResponse, faults: list[f.Fault]) -> None:
        self.server = server
        self.out = out
        ending = _first(faults, f.LineEnding)
        self.ending = ending.ending.encode() if ending is not None else b"\n"
        self.trickle = _first(faults, f.Trickle)
        self.loris = _first(faults, f.SlowLoris)
        compress = _first(faults, f.Compress)
        self.pack = compressor(compress.encoding) if compress is not None else None
        loop = asyncio.get_running_loop()
        self.clock = loop.time
        self.loris_deadline = self.clock() + (self.loris.max_seconds if self.loris else 0.0)

    async def send(self, data: bytes) -> None:
        if self.ending != b"\n":
            data = data.replace(b"\n", self.ending)
        if self.pack is not None:
            # A sync flush per write: whatever was sent so far can be decoded at once.
            data = self.pack.compress(data) + self.pack.flush(zlib.Z_SYNC_FLUSH)
        await self._write(data)

    async def _write(self, data: bytes) -> None:
        if self.loris is not None:
            for i in range(len(data)):
                if self.clock() >= self.loris_deadline:
                    raise _StopStreamError
                await self.server.pause(self.loris.delay)
                await self.out.write(data[i : i + 1])
        elif self.trickle is not None:
            step = self.trickle.bytes_per_write
            for i in range(0, len(data), step):
                await self.out.write(data[i : i + step])
                await self.server.pause(self.trickle.delay)
        else:
            await self.out.write(data)

    async def finish(self) -> None:
        """End the compressed data (its trailer), if the stream is compressed."""
        if self.pack is not None:
            pack, self.pack = self.pack, None
            await self._write(pack.flush())

    async def corrupt(self) -> None:
        """Write bytes that are not valid compressed data, then end the body."""
        self.pack = None
        await self._write(CORRUPT_BYTES)
        raise _StopStreamError

    async def pad_until_deadline(self) -> None:
        """Slow loris: keep dribbling comment bytes until the bound, so the stream never ends."""
        if self.loris is not None:
            while True:
                await self.send(KEEPALIVE)


def _frame(name: str, data: dict[str, Any]) -> bytes:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {name}\ndata: {body}\n\n".encode()


async def stream_response(
    server: Host, gen: Generation, request: web.Request, resp: ResponseRecord
) -> web.StreamResponse:
    """Answer a stream request for ``resp`` (already created), honouring stream faults."""
    headers = gen.headers()
    headers["Content-Type"] = "text/event-stream"
    headers["Cache-Control"] = "no-cache"
    out = web.StreamResponse(status=200, headers=headers)
    if id(request) in server.resetting:
        server.store.finalize(resp)
        return out  # the middleware aborts the connection: no header byte is sent
    faults = []
    if server.faults:
        faults = server.faults.take(request.path, resp.conversation_id, False, True)
    plan = _apply_plan_faults(_plan(server, gen, resp), faults)
    cut = _first(faults, f.CutStream)
    compress = _first(faults, f.Compress)
    if compress is not None:
        out.headers["Content-Encoding"] = compress.encoding
        server.stats.compressed_replies += 1
    opened = False
    try:
        await out.prepare(request)
        opened = True
        server.stats.stream_opened += 1
        await _write_stream(server, out, resp, plan, faults)
    except _StopStreamError:
        pass  # a fault ended the body early; finalize below
    except ServerClosingError:
        abort_connection(request, rst=False)
    except ConnectionError:
        pass  # the client went away; that is its right
    else:
        if cut is not None and cut.reset:
            abort_connection(request)
    finally:
        server.store.finalize(resp)  # the turn completes server-side whatever the wire did
        if opened:
            server.stats.stream_closed += 1
    return out


async def _write_stream(
    server: Host,
    out: web.StreamResponse,
    resp: ResponseRecord,
    plan: list[_Planned],
    faults: list[f.Fault],
) -> None:
    writer = _Writer(server, out, faults)
    await _write_events(server, writer, resp, plan, faults)
    await writer.finish()


async def _write_events(
    server: Host,
    writer: _Writer,
    resp: ResponseRecord,
    plan: list[_Planned],
    faults: list[f.Fault],
) -> None:
    stall = _first(faults, f.Stall)
    if stall is not None:
        await server.pause(stall.seconds)
    keepalive = _first(faults, f.KeepaliveOnly)
    if keepalive is not None:
        deadline = writer.clock() + keepalive.duration
        while writer.clock() < deadline:
            await writer.send(KEEPALIVE)
            await server.pause(min(keepalive.interval, max(0.0, deadline - writer.clock())))
        if not keepalive.then_events:
            return
    last = len(plan) - 1
    cut = _first(faults, f.CutStream)
    cut_at = min(cut.after_events, last) if cut is not None else -1
    error = _first(faults, f.ErrorEvent)
    error_at = min(error.after_events, last) if error is not None else -1
    broken = _first(faults, f.MalformedJson)
    broken_at = min(broken.after_events, last) if broken is not None else -1
    compress = _first(faults, f.Compress)
    corrupt_at = -1
    if compress is not None and compress.corrupt_after is not None:
        corrupt_at = min(compress.corrupt_after, last)
    comments = _first(faults, f.Comments)
    unknown_fields = _first(faults, f.UnknownFields) is not None
    delay = server.stream_delay
    for index, planned in enumerate(plan):
        if index == cut_at and cut is not None:
            if cut.partial:
                frame = _frame(planned.name, _data(planned, unknown_fields))
                await writer.send(frame[: len(frame) // 2])
            return
        if index == error_at and error is not None:
            body = {"error": {"code": error.code, "message": error.message}}
            server.store.finalize(resp, body["error"])
            await writer.send(_frame("ERROR", body))
            return
        if index == broken_at:
            await writer.send(_BROKEN_FRAME)
        if comments is not None and index % comments.every == 0:
            await writer.send(KEEPALIVE)
        if index and delay:
            await server.pause(delay)
        if index == corrupt_at:
            await writer.corrupt()
        await writer.send(_frame(planned.name, _data(planned, unknown_fields)))
    await writer.pad_until_deadline()


def _data(planned: _Planned, unknown_fields: bool) -> dict[str, Any]:
    payload = planned.payload() if callable(planned.payload) else planned.payload
    data = {"event_type": planned.name, "sequence_number": planned.seq, **payload}
    return add_unknown_fields(data) if unknown_fields else data
