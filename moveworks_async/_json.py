"""JSON encoding in one place: orjson when the ``speedups`` extra is installed, else the stdlib.

Both paths take and give the same types (``bytes`` out of ``dumps``; ``bytes`` or ``str`` into
``loads``), so callers never branch on which one is active, and both keep the same bounds:

* ``loads`` decodes a document longer than :data:`ORJSON_MAX_SIZE` with the stdlib decoder
  even when orjson is installed (orjson's peak memory is ~12x the document);
* ``loads`` raises ``ValueError`` (never ``RecursionError``) for a document nested deeper than
  :data:`MAX_DEPTH` or longer than :data:`MAX_SIZE`, and for ``NaN``/``Infinity`` literals
  (orjson rejects them; the stdlib would hand out floats that poison arithmetic);
* ``dumps`` raises :class:`InvalidParameterError` for a value that cannot be encoded (a lone
  surrogate in a string, an object JSON has no form for), so a bad argument is a typed error
  raised before any I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from itertools import accumulate
from typing import Any

from ._errors import InvalidParameterError

__all__ = ["MAX_DEPTH", "MAX_SIZE", "dumps", "loads", "using_orjson"]

#: Deepest nesting of arrays/objects accepted (the API's documents nest fewer than 10 levels).
MAX_DEPTH = 256
#: Longest document accepted, in bytes or characters (the transport's body cap).
MAX_SIZE = 32 * 1024 * 1024

# Both decoders raise ValueError subclasses (UnicodeDecodeError included) on bad input.

_STRINGS_B = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_STRINGS_S = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_KEEP = frozenset(b"[]{}")
_DROP_B = bytes(b for b in range(256) if b not in _KEEP)
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _check_bounds(data: bytes | bytearray | str) -> None:
    """Raise ValueError if ``data`` is too long or nests too deep (before any recursion).

    Cheap for the usual document: two C-level counts. Only a document with more than
    ``MAX_DEPTH`` opening brackets is scanned (strings removed, then a running depth).
    """
    if len(data) > MAX_SIZE:
        raise ValueError(f"JSON document longer than {MAX_SIZE}")
    if isinstance(data, str):
        if data.count("[") + data.count("{") <= MAX_DEPTH:
            return
        brackets = [_STEP[ord(c)] for c in _STRINGS_S.sub("", data) if c in "[]{}"]
    else:
        if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
            return
        brackets = [_STEP[b] for b in _STRINGS_B.sub(b"", data).translate(None, _DROP_B)]
    if brackets and max(accumulate(brackets)) > MAX_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _encode_error(exc: Exception) -> InvalidParameterError:
    return InvalidParameterError(
        f"a request value cannot be encoded as JSON ({type(exc).__name__}): use str, int, "
        "float, bool, None, lists and dicts with str keys, and text without lone surrogates"
    )


loads: Callable[[bytes | str], Any]
dumps: Callable[[Any], bytes]

_decoder = json.JSONDecoder(parse_constant=_no_constant)


def _stdlib_loads(data: bytes | str) -> Any:
    if isinstance(data, str):
        text = data
    else:  # bytes or a bytearray body (never copied before decoding)
        text = data.decode(json.detect_encoding(data), "surrogatepass")  # as json.loads
    return _decoder.decode(text)


#: Documents longer than this skip orjson: its parser (yyjson) reserves a value pool for the
#: worst case, about 12 times the document (a 10 MB event peaked at +124 MiB), where the
#: stdlib decoder needs about once the document. Small documents, nearly all, keep orjson.
ORJSON_MAX_SIZE = 1024 * 1024

try:
    import orjson
except ImportError:  # pragma: no cover - exercised in environments without the extra
    using_orjson = False
    _encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    def loads(data: bytes | str) -> Any:
        _check_bounds(data)
        return _stdlib_loads(data)

    def dumps(obj: Any) -> bytes:
        try:
            return _encoder.encode(obj).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            error = _encode_error(exc)
        raise error  # outside the except block: no __context__ holding the value

else:
    using_orjson = True
    _orjson_loads = orjson.loads
    _orjson_dumps = orjson.dumps

    def loads(data: bytes | str) -> Any:
        _check_bounds(data)
        if len(data) > ORJSON_MAX_SIZE:
            return _stdlib_loads(data)
        return _orjson_loads(data)

    def dumps(obj: Any) -> bytes:
        try:
            out = _orjson_dumps(obj)
        except (TypeError, ValueError, RecursionError) as exc:
            error = _encode_error(exc)
        else:
            # orjson (3.8 here) returns a short result inside its 1 KiB starting buffer, so a
            # 60-byte body kept for a stream's whole life holds ~1 KiB; an exact-size copy of
            # a short result costs ~0.1 us and frees the buffer.
            return bytes(memoryview(out)) if len(out) < 1024 else out
        raise error  # outside the except block: no __context__ holding the value
