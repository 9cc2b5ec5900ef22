"""Fault behaviours shared by plain replies and streams: mutations, HTML pages, aborts."""

from __future__ import annotations

import contextlib
import socket
import struct
from http import HTTPStatus
from typing import Any, Final

from aiohttp import web

__all__ = [
    "UNKNOWN_KEY",
    "abort_connection",
    "add_unknown_fields",
    "html_page",
    "status_error_code",
]

UNKNOWN_KEY: Final = "x_future_field"
_FUTURE_OUTPUT: Final = {
    "type": "FUTURE_OUTPUT",
    "future_output": {
        "content": {"type": "FUTURE_CONTENT", "future_content": {"text": "from a newer server"}}
    },
}
_FUTURE_ACTION: Final = {"type": "FUTURE_ACTION", "label": "Future", "future_action": {}}

# The documented code for each status (reference section 8.2); 5xx all map to INTERNAL_ERROR.
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
