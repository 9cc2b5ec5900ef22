"""What faults do to a reply: gate answers, JSON mutations, HTML pages, slow writes, aborts.

Stream-specific behaviour lives in ``_sse``; this module holds what plain replies and streams
share, and the replies that gate faults send instead of the endpoint's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import socket
import struct
import time
import zlib
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web

from . import _faults as f
from ._stats import Stats
from ._wire import Generation, dumps, error_response, flat_error, trace_id

__all__ = [
    "UNKNOWN_KEY",
    "abort_connection",
    "add_unknown_fields",
    "CORRUPT_BYTES",
    "apply_plain_faults",
    "compressor",
    "gate_response",
    "html_page",
    "rate_limited_response",
    "retry_after_headers",
    "status_error_code",
]

UNKNOWN_KEY: Final = "x_future_field"
_FUTURE_OUTPUT: Final = {
    "type": "FUTURE_OUTPUT",
    "future_output": {
        "content": {"type": "FUTURE_CONTENT", "future_content": {"text": "from a newer server"}}
    },
}
# After a sync flush the next deflate block starts on a byte boundary; 0xff is BFINAL=1 with
# the reserved block type 3, which every inflater rejects ("invalid block type").
CORRUPT_BYTES: Final = b"\xff" * 16
_WBITS: Final = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_FUTURE_ACTION: Final = {"type": "FUTURE_ACTION", "label": "Future", "future_action": {}}

# The documented code for each status (https://help.moveworks.com/api-reference/errors); 5xx all
# map to INTERNAL_ERROR.
_CODES: Final = {
    400: "INVALID_INPUT",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    429: "RATE_LIMIT_EXCEEDED",
}


def status_error_code(status: int) -> str:
    """Return the documented error code for an HTTP status."""
    return _CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "INVALID_REQUEST")


def retry_after_headers(spec: str | None, wait: float = 1.0) -> dict[str, str]:
    """Return the rate-limit headers for ``spec``.

    ``None``: no header. ``"http-date"``: ``Retry-After`` as an IMF-fixdate ``wait`` seconds
    ahead (rounded up to a whole second). ``"ms:1500"``: ``retry-after-ms: 1500`` only.
    ``"auto"``: ``Retry-After`` in whole seconds, ``ceil(wait)``. Anything else is sent
    verbatim as ``Retry-After`` (``"7"``, or garbage such as ``"1e9"`` to test clients).
    """
    if spec is None:
        return {}
    if spec == "http-date":
        return {"Retry-After": formatdate(math.ceil(time.time() + wait), usegmt=True)}
    if spec.startswith("ms:"):
        return {"retry-after-ms": spec[3:]}
    if spec == "auto":
        return {"Retry-After": str(max(1, math.ceil(wait)))}
    return {"Retry-After": spec}


def rate_limited_response(
    gen: Generation | None, spec: str | None, wait: float, flat: bool
) -> web.Response:
    """Return a 429 ``RATE_LIMIT_EXCEEDED`` with the headers ``spec`` asks for."""
    message = "Rate limit exceeded. Slow down."
    if flat:
        resp = flat_error(429, "RATE_LIMIT_EXCEEDED", message)
    else:
        resp = error_response(429, "RATE_LIMIT_EXCEEDED", message, gen)
    resp.headers.update(retry_after_headers(spec, wait))
    return resp


def html_page(status: int) -> web.Response:
    """Return an nginx-style HTML error page (or a 200 HTML page) with ``status``."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    body = (
        f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return web.Response(text=body, status=status, content_type="text/html")


def gate_response(fault: f.Fault, gen: Generation | None, flat: bool) -> web.Response:
    """Return the reply a gate fault sends instead of the endpoint's (not reset: no reply)."""
    if isinstance(fault, f.RateLimited):
        return rate_limited_response(gen, fault.retry_after, 1.0, flat)
    if isinstance(fault, f.ExpireToken):
        return error_response(401, "UNAUTHORIZED", "The access token has expired.", gen)
    assert isinstance(fault, f.Status)
    if fault.html:
        resp = html_page(fault.code)
        if gen is not None and gen.trace_header is not None:
            resp.headers[gen.trace_header] = trace_id()
        return resp
    code = fault.error_code or status_error_code(fault.code)
    message = f"Injected {fault.code} error."
    if flat:
        return flat_error(fault.code, code, message)
    return error_response(fault.code, code, message, gen)


def add_unknown_fields(value: Any) -> Any:
    """Return a copy of ``value`` with an unknown key in every object and unknown enum members.

    Every ``outputs`` list gains a ``FUTURE_OUTPUT`` item and every ``actions`` list a
    ``FUTURE_ACTION``, appended after the real ones so the known data stays intact.
    """
    if isinstance(value, list):
        return [add_unknown_fields(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {k: add_unknown_fields(v) for k, v in value.items()}
    out[UNKNOWN_KEY] = {"note": "unknown to this client", "level": 1}
    if isinstance(out.get("outputs"), list):
        out["outputs"].append(dict(_FUTURE_OUTPUT))
    if isinstance(out.get("actions"), list):
        out["actions"].append(dict(_FUTURE_ACTION))
    return out


def compressor(encoding: str) -> Any:
    """Return a zlib compressobj producing ``encoding`` (``"gzip"``, or zlib-wrapped ``"deflate"``
    as HTTP defines it)."""
    return zlib.compressobj(wbits=_WBITS[encoding])


def _compressed(resp: web.Response, body: bytes, fault: f.Compress) -> web.Response:
    pack = compressor(fault.encoding)
    packed = pack.compress(body) + pack.flush()
    headers = dict(resp.headers)
    headers.pop("Content-Length", None)
    headers["Content-Encoding"] = fault.encoding
    return web.Response(body=packed, status=resp.status, headers=headers)


async def apply_plain_faults(
    request: web.Request,
    resp: web.Response,
    faults: list[f.Fault],
    pause: Callable[[float], Awaitable[None]],
    stats: Stats,
) -> web.StreamResponse:
    """Apply unknown-fields, compress and slow-loris faults (in that order) to a JSON reply."""
    body = resp.body if isinstance(resp.body, bytes) else b""
    if body and any(isinstance(x, f.UnknownFields) for x in faults):
        body = dumps(add_unknown_fields(json.loads(body)))
        resp = web.Response(body=body, status=resp.status, headers=resp.headers)
    compress = next((x for x in faults if isinstance(x, f.Compress)), None)
    if compress is not None:
        resp = _compressed(resp, body, compress)
        body = resp.body if isinstance(resp.body, bytes) else b""
        stats.compressed_replies += 1
    loris = next((x for x in faults if isinstance(x, f.SlowLoris)), None)
    if loris is None:
        return resp
    headers = dict(resp.headers)
    headers["Content-Length"] = str(len(body))
    out = web.StreamResponse(status=resp.status, headers=headers)
    clock = asyncio.get_running_loop().time
    deadline = clock() + loris.max_seconds
    with contextlib.suppress(ConnectionError):
        await out.prepare(request)
        for i in range(len(body)):
            if clock() >= deadline:
                abort_connection(request)  # the promised Content-Length is never reached
                break
            await pause(loris.delay)
            await out.write(body[i : i + 1])
    return out


def abort_connection(request: web.BaseRequest, rst: bool = True) -> None:
    """Drop the request's TCP connection at once; with ``rst`` the peer sees a reset."""
    transport = request.transport
    if transport is None:
        return
    if rst:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # SO_LINGER(on, 0) makes close() send RST instead of FIN (reliability fault #3/#7).
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
