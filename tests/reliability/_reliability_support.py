"""Shared pieces of the reliability suite: the canary credentials every fault runs with, the
scan that counts them in exceptions and reprs, and client factories."""

from __future__ import annotations

import base64
import html
import json
import re
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import _scorecard

import moveworks_async as mw


def _b64(value: Any) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


#: The static bearer of every test client.
TOKEN = "tok-CANARY-7f3a91"
#: The client secret of every client-credentials test.
SECRET = "sec-CANARY-5d20c4"
#: A JWT the fault servers hand out as the access token; each of its segments is a canary too.
JWT = ".".join(
    [
        _b64({"alg": "HS256", "typ": "JWT", "kid": "CANARY-kid"}),
        _b64({"sub": "CANARY-sub", "exp": 4102444800}),
        "CANARYsig0123456789abcdef",
    ]
)
CANARIES: tuple[str, ...] = (TOKEN, SECRET, JWT, *JWT.split("."), "CANARY")


def _u_escape(text: str) -> str:
    return "".join(f"\\u{ord(ch):04x}" for ch in text)


def _entities(text: str) -> str:
    return "".join(f"&#x{ord(ch):x};" for ch in text)


def _percent(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


def _base64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


#: The encoded forms a fault server echoes credentials in (row 39), each one the masker
#: must undo; the canary scan looks through all of them (see :func:`canary_hits`).
ENCODINGS: dict[str, Callable[[str], str]] = {
    "plain": lambda text: text,
    "json-escaped": lambda text: json.dumps(text)[1:-1].replace("-", "\\u002d"),
    "u-escaped": _u_escape,
    "percent": _percent,
    "entities": _entities,
    "base64": _base64,
}

_U_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")
#: Base64 forms of the credentials (as a server echoes ``Authorization`` or a secret).
_B64_CANARIES = tuple(
    dict.fromkeys(
        form
        for value in (TOKEN, SECRET, JWT, "Bearer " + TOKEN, "Bearer " + JWT)
        for encoded in (base64.b64encode(value.encode()), base64.urlsafe_b64encode(value.encode()))
        for form in (encoded.decode(), encoded.decode().rstrip("="))
    )
)


def _decodings(text: str) -> list[str]:
    """``text`` and its decodings (entities, percent escapes, ``\\uXXXX``): a canary that
    reached a text in an encoded form is a leak too. Written apart from the package's masker
    on purpose: a scan sharing its code would go blind when the masker breaks."""
    found = [text]
    if "&" in text:
        found.append(html.unescape(text))
    if "%" in text:
        found.append(unquote(text))
    if "\\u" in text:
        found.append(_U_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text))
    return found


def canary_hits(text: str) -> int:
    """How many canary strings (or JWT segments) occur in ``text``, as they are or in any
    of the encoded forms of :data:`ENCODINGS`."""
    plain = sum(t.count(c) for t in _decodings(text) for c in CANARIES)
    return plain + sum(text.count(form) for form in _B64_CANARIES)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__]
        if isinstance(current, BaseExceptionGroup):
            todo += list(current.exceptions)
    return seen


def exception_texts(exc: BaseException) -> list[str]:
    """str, repr, args, attributes (bodies) of every exception in the cause/context chain,
    and the formatted traceback."""
    texts: list[str] = []
    for item in _chain(exc):
        texts += [str(item), repr(item), repr(item.args)]
        texts += [repr(v) for v in getattr(item, "__dict__", {}).values()]
    texts.append("".join(traceback.format_exception(exc)))
    return texts


def assert_clean(*things: Any) -> None:
    """No canary in any given exception (whole chain) or object repr/str (S8)."""
    texts: list[str] = []
    for thing in things:
        if isinstance(thing, BaseException):
            texts += exception_texts(thing)
        else:
            texts += [repr(thing), str(thing)]
    found = sum(canary_hits(t) for t in texts)
    _scorecard.CANARY["scans"] += len(texts)
    _scorecard.CANARY["found"] += found
    leaks = [t[:200] for t in texts if canary_hits(t)]
    assert found == 0, f"canary leaked: {leaks[:2]}"


def client(url: str, fake_time: Any = None, **kw: Any) -> mw.AsyncMoveworks:
    """A v1beta1 client of ``url`` with the canary token; with ``fake_time`` its sleeps are
    instant (virtual time)."""
    if fake_time is not None:
        kw.setdefault("clock", fake_time.clock)
        kw.setdefault("sleep", fake_time.sleep)
    if "auth" not in kw:
        kw.setdefault("token", TOKEN)
    kw.setdefault("api_version", "v1beta1")
    return mw.AsyncMoveworks(assistant_name="acme-capi", base_url=url, **kw)


def credentials(**kw: Any) -> mw.ClientCredentials:
    """Client credentials whose secret is the canary."""
    return mw.ClientCredentials(client_id="client-1", client_secret=SECRET, **kw)


CID = "conv_rel01"
RID = "resp_rel01"


# --- a raw-socket API on the fault server -------------------------------------------------------

Action = Any  # bytes to send and keep the connection, or an async callable (conn, request)


def api(
    *,
    stream: Action = None,
    create: Action = None,
    get: Action = None,
    token: Action = None,
    other: Action = None,
) -> Any:
    """A FaultServer handler answering the API routes with the given actions.

    Each action is bytes (written as the whole reply; the connection stays open for the next
    request), a list of such (one per request to that route, the last repeating), or an
    ``async (conn, request)`` callable that may do anything and returns ``False`` to end the
    connection. Routes: ``.../responses/stream`` (stream), ``POST .../responses`` (create),
    ``GET`` (get), ``/oauth/v1/token`` (token); everything else ``other`` (default: 404).
    """
    counters: dict[str, int] = {}
    default_404 = reply_json(404, {"error": {"code": "NOT_FOUND", "message": "no"}})

    async def handler(conn: Any) -> None:
        while True:
            request = await conn.read_request()
            if request is None:
                return
            if request.path.endswith("/oauth/v1/token"):
                name, action = "token", token
            elif request.path.endswith("/responses/stream"):
                name, action = "stream", stream
            elif request.method == "POST" and request.path.endswith("/responses"):
                name, action = "create", create
            elif request.method == "GET":
                name, action = "get", get
            else:
                name, action = "other", other
            if action is None:
                action = default_404
            if isinstance(action, list):
                index = counters.get(name, 0)
                counters[name] = index + 1
                action = action[min(index, len(action) - 1)]
            if isinstance(action, bytes):
                await conn.send(action)
                continue
            if await action(conn, request) is False:
                return

    return handler


def reply_json(status: int, body: Any, headers: Any = ()) -> bytes:
    from faultserver import reply

    return reply(status, body, headers=[("x-moveworks-root-uuid", "req-rel"), *headers])


#: A conversation as the API returns it, and a raw 200 reply carrying it.
CONVERSATION = {
    "conversation_id": CID,
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
    "title": None,
    "archived": False,
}
OK_GET = reply_json(200, CONVERSATION)


def token_reply(expires_in: float = 3600) -> bytes:
    return reply_json(200, {"access_token": JWT, "expires_in": expires_in, "token_type": "Bearer"})
