"""Wire-level primitives shared by the fake server: generations, ids, timestamps, JSON replies.

Everything here is on the hot path of every request, so it is kept allocation-light:
JSON is serialised once per reply, generation lookup is three ``str.startswith`` calls and
ids are built from a process-wide counter plus a few random characters.
"""

from __future__ import annotations

import itertools
import json
import random
import string
import time
from datetime import UTC, datetime
from typing import Any, Final

import attrs
from aiohttp import web

__all__ = [
    "ASSISTANT_V1",
    "ApiError",
    "GENERATIONS",
    "OAUTH_PATH",
    "REST_V1",
    "ServerClosingError",
    "V1BETA1",
    "Generation",
    "dumps",
    "error_body",
    "error_response",
    "flat_error",
    "generation_for",
    "json_response",
    "new_id",
    "not_found",
    "now_iso",
    "trace_id",
]


@attrs.frozen
class Generation:
    """One Conversations API generation, served under its own path prefix.

    The flags encode how the generations differ (paths, headers and shapes of the three
    generations' pages of https://help.moveworks.com/api-reference/conversations-api), so
    the handlers branch on data rather than on names.
    """

    name: str
    prefix: str
    #: Response header carrying a fresh uuid4 per request (``None``: no trace header).
    trace_header: str | None
    #: ``Message.actions`` exists (assistant/v1 and rest/v1).
    has_actions: bool
    #: ``MODAL_ACTION``, modal endpoints and get-event exist (rest/v1 only).
    has_modals: bool
    #: ``Event.created_at`` is present (absent on v1beta1).
    event_created_at: bool

    def headers(self) -> dict[str, str]:
        """Return the base headers of a JSON reply in this generation (with a fresh trace id)."""
        if self.trace_header is None:
            return {"Content-Type": "application/json"}
        return {"Content-Type": "application/json", self.trace_header: trace_id()}


V1BETA1: Final = Generation(
    name="v1beta1",
    prefix="/rest/v1beta1",
    trace_header="x-moveworks-root-uuid",
    has_actions=False,
    has_modals=False,
    event_created_at=False,
)
ASSISTANT_V1: Final = Generation(
    name="assistant/v1",
    prefix="/assistant/v1",
    trace_header=None,
    has_actions=True,
    has_modals=False,
    event_created_at=True,
)
REST_V1: Final = Generation(
    name="rest/v1",
    prefix="/rest/v1",
    trace_header="x-trace-id",
    has_actions=True,
    has_modals=True,
    event_created_at=True,
)
GENERATIONS: Final = (V1BETA1, ASSISTANT_V1, REST_V1)
OAUTH_PATH: Final = "/oauth/v1/token"


def generation_for(path: str) -> Generation | None:
    """Return the generation whose prefix starts ``path``, or ``None`` (oauth, unknown paths)."""
    # "/rest/v1/" is checked with its trailing slash so it cannot swallow "/rest/v1beta1/".
    if path.startswith("/rest/v1/"):
        return REST_V1
    if path.startswith("/assistant/v1/"):
        return ASSISTANT_V1
    if path.startswith("/rest/v1beta1/"):
        return V1BETA1
    return None


_ALPHABET: Final = string.digits + string.ascii_uppercase + string.ascii_lowercase
_RNG: Final = random.Random()
# Ids are minted on every create (about nine per turn), so they are assembled from cached
# pieces instead of nine divmods and a random.choices() call each:
#   7 chars  base-62 of counter // 62**2, re-encoded only when it changes (every 3844 ids)
#   2 chars  base-62 of counter % 62**2, from a table
#   12 chars from a pool of random strings (cosmetic: the counter alone makes ids unique)
# The counter is seeded with the wall clock in microseconds, so ids minted later sort higher,
# like the real KSUID-style ids, and event ids can be compared for starting_after/ending_at.
_COUNTER: Final = itertools.count(time.time_ns() // 1000)
_PAIRS: Final = tuple(a + b for a in _ALPHABET for b in _ALPHABET)
_SUFFIXES: Final = tuple("".join(_RNG.choices(_ALPHABET, k=12)) for _ in range(1024))
_HEAD: list[tuple[int, str]] = [(-1, "")]  # one (high, encoded) pair, swapped atomically


def _base62(n: int, width: int) -> str:
    chars = []
    for _ in range(width):
        n, digit = divmod(n, 62)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """Return ``prefix`` + 21 base-62 characters; ids minted later sort higher."""
    n = next(_COUNTER)
    high, low = divmod(n, 3844)
    cached = _HEAD[0]
    if cached[0] != high:
        cached = _HEAD[0] = (high, _base62(high, 7))
    return prefix + cached[1] + _PAIRS[low] + _SUFFIXES[n & 1023]


_SECOND: list[tuple[int, str]] = [(-1, "")]


def now_iso() -> str:
    """Return the current UTC time as ISO 8601 with microseconds and ``Z``."""
    micros = time.time_ns() // 1000
    second, fraction = divmod(micros, 1_000_000)
    cached = _SECOND[0]
    if cached[0] != second:  # strftime once per second, not once per timestamp
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        cached = _SECOND[0] = (second, text)
    return f"{cached[1]}{fraction:06d}Z"


def trace_id() -> str:
    """Return a random version-4 UUID string (cheaper than ``str(uuid.uuid4())``)."""
    h = f"{_RNG.getrandbits(128):032x}"
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def dumps(payload: Any) -> bytes:
    """Serialise ``payload`` compactly as UTF-8 JSON (non-ASCII kept as real UTF-8 bytes)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


class ApiError(Exception):
    """Raised by handlers; the server middleware turns it into the documented error reply."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ServerClosingError(Exception):
    """Raised inside a paused handler when the server shuts down, so it ends at once."""


def not_found(what: str) -> ApiError:
    """Return the 404 ``NOT_FOUND`` error for a missing resource."""
    return ApiError(404, "NOT_FOUND", f"{what} does not exist.")


def error_body(code: str, message: str) -> dict[str, Any]:
    """Return the documented error envelope ``{"error": {"code", "message"}}``."""
    return {"error": {"code": code, "message": message}}


def json_response(payload: Any, gen: Generation | None, status: int = 200) -> web.Response:
    """Return a JSON reply carrying the generation's trace header."""
    headers = gen.headers() if gen is not None else {"Content-Type": "application/json"}
    return web.Response(body=dumps(payload), status=status, headers=headers)


def flat_error(status: int, code: str, message: str) -> web.Response:
    """Return a flat ``{code, message}`` error, as the token endpoint documents its errors."""
    body = dumps({"code": code, "message": message})
    return web.Response(body=body, status=status, headers={"Content-Type": "application/json"})


def error_response(status: int, code: str, message: str, gen: Generation | None) -> web.Response:
    """Return an error reply with the documented envelope and the generation's trace header."""
    return json_response(error_body(code, message), gen, status)
