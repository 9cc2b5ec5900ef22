"""Sans-I/O protocol: API generations, request values, error mapping, Retry-After parsing.

Everything here is a pure function of its arguments (the wall clock is passed in), so the
rules are tested without a network and reused by the client, the streaming module and the
rate governor alike.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import math
import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from enum import StrEnum
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, quote_plus, unquote

from attrs import field, frozen

from . import _json
from ._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnsupportedOperationError,
)
from ._validate import check_id, check_unicode

__all__ = [
    "Generation",
    "Request",
    "cap_text",
    "create_input",
    "error_from_response",
    "parse_retry_after",
    "path",
    "release_frames",
    "printable",
    "request_id_from",
]


class Generation(StrEnum):
    """The three generations of the Conversations API, each under its own path prefix."""

    V1BETA1 = "v1beta1"
    ASSISTANT_V1 = "assistant-v1"
    V1 = "v1"

    @property
    def prefix(self) -> str:
        """The path prefix: ``/rest/v1beta1``, ``/assistant/v1`` or ``/rest/v1``."""
        return _PREFIX_OF[self._value_]

    @classmethod
    def parse(cls, value: object) -> Generation:
        """The generation named by ``value``, or InvalidParameterError."""
        try:
            return cls(str(value))
        except ValueError:
            names = ", ".join(repr(g.value) for g in cls)
            raise InvalidParameterError(f"api_version must be one of {names}") from None


_PREFIXES = {
    Generation.V1BETA1: "/rest/v1beta1",
    Generation.ASSISTANT_V1: "/assistant/v1",
    Generation.V1: "/rest/v1",
}
_PREFIX_OF: dict[str, str] = {g.value: prefix for g, prefix in _PREFIXES.items()}


@frozen
class Request:
    """One API call, as data: everything the transport needs except auth and the host.

    ``idempotent`` decides the retry rules: a create (POST) is not idempotent.
    """

    method: str
    path: str
    # Kept out of repr: a token request's body holds the client secret, others user text.
    json: Any = field(default=None, repr=False)
    params: Mapping[str, str] | None = None
    idempotent: bool = True


def path(generation: Generation, *segments: str) -> str:
    """Join ``segments`` under the generation's prefix.

    Callers validate id segments with :func:`check_id` first (see ``ids``); literal segments
    such as ``"conversations"`` are trusted.
    """
    # By the member's value: an enum member's own hash runs in Python (per-call cost counts
    # here, every request builds its route).
    return _PREFIX_OF[generation._value_] + "/" + "/".join(segments)


def ids(**values: object) -> dict[str, str]:
    """Validate every keyword as a path id and return them (raises InvalidParameterError)."""
    return {name: check_id(value, name) for name, value in values.items()}


def require_v1(generation: Generation, operation: str) -> None:
    """Raise UnsupportedOperationError unless the generation is ``/rest/v1``."""
    if generation is not Generation.V1:
        raise UnsupportedOperationError(
            f"{operation} exists only in the /rest/v1 API; this client uses "
            f"api_version={generation.value!r} ({generation.prefix})"
        )


def create_input(
    generation: Generation, text: str | None, callback_id: str | None
) -> dict[str, Any]:
    """The ``{"input": ...}`` body of a create-response call for ``generation``.

    * v1beta1: ``{"input": {"text"}}`` (no callbacks in that generation);
    * assistant-v1: ``{"input": {"text"}}`` or ``{"input": {"callback_id"}}``;
    * v1: ``{"input": {"chat": {"text"}}}``; the callback form is undocumented there, and we
      send ``{"input": {"callback_id"}}`` as in assistant-v1 (open question 1 of the API notes).

    Raises:
        InvalidParameterError: not exactly one of ``text`` and ``callback_id``, or an empty one.
        UnsupportedOperationError: a ``callback_id`` on v1beta1.
    """
    if (text is None) == (callback_id is None):
        raise InvalidParameterError("pass exactly one of text and callback_id")
    if callback_id is not None:
        if not isinstance(callback_id, str) or not callback_id:
            raise InvalidParameterError("callback_id must be a non-empty str")
        if generation is Generation.V1BETA1:
            raise UnsupportedOperationError(
                "callback_id input needs api_version 'assistant-v1' or 'v1'"
            )
        return {"input": {"callback_id": callback_id}}
    if not isinstance(text, str) or not text.strip():
        raise InvalidParameterError("text must be a non-empty str")
    check_unicode(text, "text")
    if generation is Generation.V1:
        return {"input": {"chat": {"text": text}}}
    return {"input": {"text": text}}


# --- replies -------------------------------------------------------------------------------

_TRACE_HEADERS = ("x-moveworks-root-uuid", "x-trace-id")
_SNIPPET = 2048

_STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def request_id_from(headers: Mapping[str, str]) -> str | None:
    """The server trace id: ``x-moveworks-root-uuid`` (v1beta1) or ``x-trace-id`` (v1).

    Printable as it is: a value with a character that is not (a byte aiohttp could not
    decode, kept as a lone surrogate; a control character) comes back escaped, so the error
    that carries it can be printed and logged as UTF-8 (``print(error)`` raised
    ``UnicodeEncodeError`` for ``x-trace-id: caf\\xe9``)."""
    for name in _TRACE_HEADERS:
        value = headers.get(name)
        if value:
            return printable(value)
    return None


def printable(value: str) -> str:
    """``value`` if it is printable text, else escaped (``caf\\udce9``, ``a\\x1b[31m``): a
    header value as the SDK hands it on (a request id, a raw response's headers)."""
    if value.isprintable():
        return value
    return value.encode("unicode_escape", "backslashreplace").decode("ascii")


#: Largest error body parsed as JSON (see _error_fields).
MAX_ERROR_JSON = 64 * 1024
#: Longest server-provided text (an error ``code`` or ``message``) kept in an exception's text;
#: the whole reply stays in ``.body``.
MAX_ERROR_TEXT = 1000


def cap_text(text: str, limit: int = MAX_ERROR_TEXT) -> str:
    """``text`` cut to ``limit`` characters, with ``…`` marking a cut."""
    return text if len(text) <= limit else text[:limit] + "…"


_NOT_JSON: Any = object()

#: What a masked credential becomes in server-provided text.
REDACTED = "<redacted>"


def redact(body: bytes, secrets: tuple[str, ...]) -> bytes:
    """``body`` with every occurrence of each secret replaced by :data:`REDACTED`.

    A server that echoes the request (a debug 500 saying "you sent Bearer ...") must not put
    the client's own credentials into exception messages, logs or CLI output. The bytes are
    masked before parsing (the raw and the JSON ``\\/``-escaped form); what is taken from the
    parsed body is masked again with :func:`mask_text` (``\\uXXXX`` escapes, other encodings).
    """
    for secret in secrets:
        raw = secret.encode()
        if raw in body:
            body = body.replace(raw, REDACTED.encode())
        escaped = raw.replace(b"/", b"\\/")
        if escaped != raw and escaped in body:
            body = body.replace(escaped, REDACTED.encode())
    return body


def _secret_forms(secret: str) -> tuple[list[str], list[str]]:
    """The forms of ``secret`` a server may echo, as (matched in any letter case, matched
    exactly): as is, percent-encoded (``quote`` and ``quote_plus``) and JSON-string-escaped
    once and twice (a ``"`` or ``\\`` in it shown as ``\\"`` / ``\\\\``: a server quoting
    the JSON it was sent); base64 and base64url (with and without padding) of the secret and of
    ``Bearer <secret>``, exactly."""
    escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
    any_case = [
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        escaped,
        json.dumps(escaped, ensure_ascii=False)[1:-1],
    ]
    exact: list[str] = []
    for value in (secret, "Bearer " + secret):
        raw = value.encode()
        for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
            text = encoded.decode("ascii")
            exact.extend((text, text.rstrip("=")))
    unique = list(dict.fromkeys(form for form in any_case if form))
    return unique, [form for form in dict.fromkeys(exact) if form and form not in unique]


#: How many layers of HTML character references / percent escapes :func:`mask_text` peels,
#: and how many decoded variants it follows per layer. Echoes are encoded once or twice; a
#: bound keeps a hostile ``&amp;amp;amp;...`` (one layer per ``amp;``) linear in the text.
_MASK_LAYERS = 6
_MASK_BRANCHES = 8


def _mask_forms(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with each listed form of each secret (see :func:`_secret_forms`) masked."""
    lowered = text.lower()
    for secret in secrets:
        any_case, exact = _secret_forms(secret)
        for form in any_case:
            if form.lower() in lowered:
                text = re.sub(re.escape(form), REDACTED, text, flags=re.IGNORECASE)
                lowered = text.lower()
        for form in exact:
            if form in text:
                text = text.replace(form, REDACTED)
                lowered = text.lower()
    return text


def mask_text(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every occurrence of each secret replaced by :data:`REDACTED`.

    Masked: the secret as is (any letter case), percent-encoded, base64/base64url (of the
    secret and of ``Bearer <secret>``), ``\\uXXXX``-escaped (JSON escapes left literal in
    text), and behind up to ``_MASK_LAYERS`` layers of HTML character references or percent
    escapes (then the text is shown decoded, masked). Not masked: a secret split across lines
    or otherwise cut into pieces, or encoded in ways not listed here.

    Iterative and bounded: at most ``_MASK_LAYERS * _MASK_BRANCHES`` decodings, so the cost is
    linear in the text whatever its nesting (a hostile server text never raises).
    """
    if not secrets or not text:
        return text
    shown = _mask_forms(text, secrets)
    frontier = [shown]
    for _ in range(_MASK_LAYERS):
        # A secret hidden behind entities (&#x2F;), escapes (%2F) or \uXXXX: shown decoded,
        # masked; the decoded text is peeled further (a second, differently encoded echo).
        revealed: str | None = None
        following: list[str] = []
        for node in frontier:
            for decoded in _decodings(node):
                masked = _mask_forms(decoded, secrets)
                if masked != decoded:
                    revealed = masked
                    break
                following.append(decoded)
            if revealed is not None:
                break
        if revealed is not None:
            shown = revealed
            frontier = [revealed]
        else:
            frontier = list(dict.fromkeys(following))[:_MASK_BRANCHES]
        if not frontier:
            break
    return shown


_U_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def _decodings(text: str) -> list[str]:
    """The one-layer decodings of ``text`` that differ from it (entities, %-escapes, \\u)."""
    out: list[str] = []
    if "&" in text:
        out.append(html.unescape(text))
    if "%" in text:
        out.append(unquote(text))
    if "\\u" in text:
        out.append(_U_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text))
    return [decoded for decoded in out if decoded != text]


def mask_value(value: Any, secrets: tuple[str, ...]) -> Any:
    """``value`` (parsed JSON) with :func:`mask_text` applied to every string in it."""
    if not secrets:
        return value
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, Mapping):
        return {mask_text(k, secrets): mask_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(item, secrets) for item in value]
    return value


def _error_fields(body: bytes) -> tuple[str | None, str | None, object]:
    """``(code, message, parsed body)`` from either error envelope, or a text snippet.

    Only a body of at most ``MAX_ERROR_JSON`` bytes is parsed (an API error is a few hundred
    bytes); a larger one is kept as a snippet, which also bounds what a decoder's own error
    path allocates for a hostile body.
    """
    parsed: object = None
    if body:
        if len(body) > MAX_ERROR_JSON:
            parsed = _NOT_JSON
        else:
            try:
                parsed = _json.loads(body)
            except ValueError:
                parsed = _NOT_JSON
    if parsed is _NOT_JSON:  # outside the except block: no decoder error (with the body) kept
        snippet = body[:_SNIPPET].decode("utf-8", "replace")
        return None, None, snippet
    if isinstance(parsed, Mapping):
        inner = parsed.get("error", parsed)
        # Events/OAuth endpoints send a flat {code, message}; the Conversations API wraps it.
        if isinstance(inner, Mapping):
            code, message = inner.get("code"), inner.get("message")
            return (
                cap_text(code) if isinstance(code, str) else None,
                cap_text(message) if isinstance(message, str) else None,
                parsed,
            )
        if isinstance(inner, str):
            return None, cap_text(inner), parsed
    return None, None, parsed


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    retry_after: float | None = None,
    outcome_unknown: bool = False,
    secrets: tuple[str, ...] = (),
) -> APIStatusError:
    """The typed exception for a non-2xx reply. Survives HTML, empty and odd JSON bodies.

    ``secrets`` (the client's bearer, client secret) are masked in everything taken from the
    body (see :func:`redact`) and in the reply headers kept on the error.
    """
    request_id = request_id_from(headers)  # before masking: the lookup is case-insensitive
    if secrets:
        body = redact(body, secrets)
        headers = {name: mask_text(value, secrets) for name, value in headers.items()}
    code, message, parsed = _error_fields(body)
    if secrets:
        # After decoding too: a \\uXXXX-escaped (or otherwise encoded) echo survives redact().
        request_id = mask_text(request_id, secrets) if request_id else request_id
        code = mask_text(code, secrets) if code else code
        message = mask_text(message, secrets) if message else message
        parsed = mask_value(parsed, secrets)
    if not message:
        message = _default_message(status)
    cls = _STATUS_ERRORS.get(status)
    if cls is None:
        cls = InternalServerError if status >= 500 else APIStatusError
    kwargs: dict[str, Any] = {
        "status_code": status,
        "code": code,
        "request_id": request_id,
        "body": parsed,
        "headers": headers,
        "outcome_unknown": outcome_unknown,
    }
    if cls is RateLimitError:
        return RateLimitError(message, retry_after=retry_after, **kwargs)
    return cls(message, **kwargs)


def _default_message(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "unexpected status"


def parse_retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds the server asked us to wait, or None if it did not say (or said nonsense).

    Reads ``retry-after-ms`` (float milliseconds), then ``Retry-After`` as delay-seconds
    (integer or float) or as an HTTP-date measured against ``now`` (a POSIX timestamp; the
    reply's ``Date`` header is used instead when present, which cancels clock skew).
    Negative values clamp to 0 and huge ones to ~31 years (a wait that large must still fail
    fast against the caller's cap, never read as "not given"); ``inf``, ``nan`` and garbage
    return None, so the caller falls back to its own backoff. The cap on what is honoured is
    the caller's business (it raises RateLimitError above it).
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        value = _finite(raw_ms)
        if value is not None:
            return max(value / 1000.0, 0.0)
    raw = headers.get("retry-after")
    if raw is None:
        return None
    value = _finite(raw)
    if value is not None:
        return max(value, 0.0)
    try:
        when = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:  # pragma: no cover - defensive across versions
        return None
    reference = now
    date_header = headers.get("date")
    if date_header:
        try:
            reference = parsedate_to_datetime(date_header).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            reference = now
    try:
        return max(when.timestamp() - reference, 0.0)
    except (OverflowError, ValueError, OSError):
        return None


_MAX_SANE_DELAY = 10.0**9  # ~31 years: any larger wait is clamped to this (still "too long")


def _finite(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if math.isnan(value) or math.isinf(value):
        return None
    # A huge number of seconds is a request to wait "forever": clamped, so that it fails fast
    # against max_retry_after instead of being taken for a missing header and retried in 1 s.
    return max(-_MAX_SANE_DELAY, min(value, _MAX_SANE_DELAY))


def release_frames(exc: BaseException) -> None:
    """Clear the locals of the package's finished frames in ``exc``'s traceback and chain.

    A frame in a traceback keeps its locals alive as long as the exception lives: a reply body
    (10 MiB), a token reply with its access token, a parsed payload. Called where an error is
    about to leave a layer, so frames below it (finished) are cleared; a frame still running
    (the caller's) is left alone, and so are frames outside the package (a user's hook).
    Tracebacks still show every file, line and function.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        tb = current.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if str(frame.f_globals.get("__name__", "")).startswith("moveworks_async"):
                with contextlib.suppress(RuntimeError):  # still running: a caller's frame
                    frame.clear()
            tb = tb.tb_next
        current = current.__cause__ or current.__context__
