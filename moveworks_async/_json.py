"""JSON encoding in one place: orjson when the ``speedups`` extra is installed, else the stdlib.

Both paths take and give the same types (``bytes`` out of ``dumps``; ``bytes`` or ``str`` into
``loads``), so callers never branch on which one is active, and both keep the same bounds:

* ``loads`` decodes a document longer than :data:`ORJSON_MAX_SIZE` with the stdlib decoder
  even when orjson is installed (orjson's peak memory is ~12x the document);
* ``loads`` raises ``ValueError`` (never ``RecursionError``) for a document nested deeper than
  :data:`MAX_DEPTH` or longer than :data:`MAX_SIZE`, for ``NaN``/``Infinity`` literals and
  numbers too large for a float (``1e400``), for bytes that are not UTF-8 (UTF-16 or 32, a
  BOM), and for lone surrogates, escaped (``"\\ud800"``) or not (orjson rejects them all;
  the stdlib would hand out values that poison arithmetic or cannot be written back as UTF-8);
* a document longer than :data:`STEPWISE_SIZE` is decoded member by member at its top two
  levels (:func:`_decode_stepwise`, same result and same errors): the C decoder never releases
  the GIL while it runs, so one call on a 32 MiB document would stall every other thread,
  the event loop's included, even when the decoding runs in a worker thread (``_off_loop``);
* ``loads`` keeps integers beyond 64 bits exact with both backends (orjson turns them into
  floats, so a document with a run of 19+ digits goes to the stdlib decoder);
  :func:`loads_exact` is the same function, kept as the name the Data API's exports use;
* ``dumps`` raises :class:`InvalidParameterError` for a value that cannot be encoded (a lone
  surrogate in a string, an object JSON has no form for), so a bad argument is a typed error
  raised before any I/O; integers beyond 64 bits are written exactly by both. (orjson writes a
  NaN as ``null`` where the stdlib refuses it: a caller that must refuse non-finite floats
  checks its values first, as ``notifications`` does for ``context``.)
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import math
import re
from collections.abc import Callable
from typing import Any

from ._errors import InvalidParameterError

__all__ = [
    "MAX_DEPTH",
    "MAX_SIZE",
    "STEPWISE_SIZE",
    "dumps",
    "loads",
    "loads_exact",
    "using_orjson",
]

#: Deepest nesting of arrays/objects accepted (the API's documents nest fewer than 10 levels).
MAX_DEPTH = 256
#: Longest document accepted, in bytes or characters (the transport's body cap).
MAX_SIZE = 32 * 1024 * 1024

# Both decoders raise ValueError subclasses (UnicodeDecodeError included) on bad input.

#: A string of a document reduced to its quotes and brackets (escapes gone): see
#: :func:`_max_depth_exceeded`.
_REDUCED_STRING = re.compile(rb'"[^"]*"')
#: Every byte but quotes and brackets, deleted from a chunk before strings are removed.
_NOT_QUOTES_OR_BRACKETS = bytes(b for b in range(256) if b not in b'"[]{}')
# Objects count as arrays for depth: "{" -> "[", "}" -> "]", everything else dropped.
_TO_BRACKETS = bytes(
    0x5B if b in (0x5B, 0x7B) else 0x5D if b in (0x5D, 0x7D) else b for b in range(256)
)
_STEP = {0x5B: 1, 0x5D: -1}
#: Bytes of the document scanned at a time: bounds the extra memory of the depth check.
_SCAN_CHUNK = 64 * 1024
#: Brackets tested at a time with two C-level counts before any per-bracket scan.
_BRACKET_SLICE = 128


def _chunk_depth(brackets: bytes, depth: int) -> int | None:
    """The depth after ``brackets`` (``[`` and ``]`` only) starting at ``depth``, or None if
    it passes ``MAX_DEPTH``.

    A slice of brackets is walked one by one only when its opening brackets could take the
    running depth past the limit (a shallow stretch costs two counts per slice).
    """
    # Removing adjacent "[]" pairs keeps every other bracket's depth and the chunk's net
    # effect, and lowers the peak by at most one per round: a few C-speed rounds empty the
    # bulk of a shallow document (its "[]" and "[[]]" runs).
    reduced, rounds = brackets, 0
    while rounds < _PAIR_ROUNDS:
        shorter = reduced.replace(b"[]", b"")
        if len(shorter) == len(reduced):
            break
        reduced, rounds = shorter, rounds + 1
    end = _walk(reduced, depth, margin=rounds)
    if end is None:  # maybe too deep: the exact walk of the chunk decides
        end = _walk(brackets, depth, margin=0)
    return end


#: Rounds of pair removal per chunk before the slice-by-slice walk.
_PAIR_ROUNDS = 4


def _walk(brackets: bytes, depth: int, *, margin: int) -> int | None:
    """The depth after ``brackets`` starting at ``depth``, or None if it may pass
    ``MAX_DEPTH - margin`` (exactly: passes it, when ``margin`` is 0)."""
    limit = MAX_DEPTH - margin
    if depth > limit:
        # Only with a margin (an exact walk stops at the limit): a chunk that pair removal
        # emptied has no slice to test, yet it may have climbed ``margin`` levels.
        return None
    for at in range(0, len(brackets), _BRACKET_SLICE):
        part = brackets[at : at + _BRACKET_SLICE]
        opens = part.count(0x5B)
        if depth + opens > limit:
            if margin:
                return None
            for step in part:
                depth += _STEP[step]
                if depth > limit:
                    return None
        else:
            depth += 2 * opens - len(part)
    return depth


def _check_bounds(data: bytes | bytearray | str) -> None:
    """Raise ValueError if ``data`` is too long or nests too deep (before any recursion).

    Cheap for the usual document: two C-level counts. Only a document with more than
    ``MAX_DEPTH`` opening brackets is scanned, in bounded memory, with its strings left out
    (:func:`_max_depth_exceeded`). (Counting the brackets of strings too is no bound: a ``]``
    in a string lowers the count, and let documents of any depth through.)
    """
    if len(data) > MAX_SIZE:
        raise ValueError(f"JSON document longer than {MAX_SIZE}")
    if isinstance(data, str):
        if data.count("[") + data.count("{") <= MAX_DEPTH:
            return
        data = data.encode("utf-8", "surrogatepass")
    elif data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return
    if _max_depth_exceeded(data):
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH}")


def _max_depth_exceeded(data: bytes | bytearray) -> bool:
    """Whether the brackets of ``data`` outside its strings nest deeper than ``MAX_DEPTH``.

    Exact for valid JSON, chunk by chunk in bounded memory, and in short C-level steps: the
    check runs in a worker thread for a big body, and one regular-expression pass over a whole
    17 MB document held the GIL (so the event loop) for 0.5 s. Per chunk: escaped backslashes,
    then escaped quotes are removed (left to right, as a JSON string's reader pairs them; a
    backslash escaping the chunk's last byte carries over), only quotes and brackets are kept,
    and the strings of that short remainder are removed; a string still open at the chunk's end
    carries over. (A backslash outside a string is invalid JSON, which the decoder refuses
    anyway: such a document may get that refusal instead of this one.)
    """
    depth = 0
    in_string = False
    escaping = False  # the previous chunk ended on a backslash that escapes this one's first byte
    view = memoryview(data)
    for start in range(0, len(data), _SCAN_CHUNK):
        chunk = bytes(view[start + escaping : start + _SCAN_CHUNK])
        escaping = False
        if b"\\" in chunk:  # (one memchr; most chunks have no escape at all)
            chunk = chunk.replace(b"\\\\", b"")
            escaping = chunk.endswith(b"\\")
            if escaping:
                chunk = chunk[:-1]
            chunk = chunk.replace(b'\\"', b"")
        chunk = chunk.translate(None, _NOT_QUOTES_OR_BRACKETS)
        if in_string:
            chunk = b'"' + chunk
        # Adjacent quotes go first, in C: an empty string, or the end of one string and the
        # start of the next (merged into one, which is removed all the same). What remains
        # for the expression is the strings that hold brackets: few.
        chunk = _REDUCED_STRING.sub(b"", chunk.replace(b'""', b""))
        # At most one quote is left: a string that ends in a later chunk.
        quote = chunk.find(b'"')
        in_string = quote >= 0
        if in_string:
            chunk = chunk[:quote]
        end = _chunk_depth(chunk.translate(_TO_BRACKETS), depth)
        if end is None:
            return True
        depth = end
    return False


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _encode_error(exc: Exception) -> InvalidParameterError:
    return InvalidParameterError(
        f"a request value cannot be encoded as JSON ({type(exc).__name__}): use str, int, "
        "float, bool, None, lists and dicts with str keys, and text without lone surrogates"
    )


loads: Callable[[bytes | str], Any]
#: ``loads`` without its checks, for documents :func:`loads_for` cleared.
loads_plain: Callable[[bytes | str], Any]
dumps: Callable[[Any], bytes]


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # "1e400": orjson refuses it, the stdlib would give inf
        raise ValueError("number out of the range of a float")
    return value


_decoder = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)
#: The scanner of ``_decoder`` (its hooks and strictness; C where CPython has it): what
#: ``_decoder.decode`` itself runs.
_scan_value: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(_decoder)  # type: ignore[arg-type]
#: The string scanner of the same module (C where CPython has it).
_scan_string: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON whitespace, as json.decoder.WHITESPACE
_SPACE = frozenset(" \t\n\r")

#: Documents longer than this (in bytes or characters) are decoded stepwise. About 25 ms of
#: decoding in one C call on the development machine: the longest the GIL is held at once.
STEPWISE_SIZE = 1024 * 1024
#: Container levels walked in Python by the stepwise decoder: the top object and its members
#: (a page's ``{"value": [record, ...]}``); everything deeper is one C call per value.
_STEPWISE_LEVELS = 2


def _skip(text: str, at: int) -> int:
    """The index of the first non-whitespace character at or after ``at``."""
    space = _WHITESPACE.match(text, at)
    return space.end() if space is not None else at


def _decode_stepwise(text: str) -> Any:
    """``_decoder.decode(text)`` (the same value, ``ValueError`` for the same documents), with
    the containers of the top :data:`_STEPWISE_LEVELS` levels walked here and each of their
    members scanned by one C call: between two members the interpreter may hand the GIL to
    another thread, which a single C call on the whole document never does."""
    end, value = _stepwise_value(text, _skip(text, 0), _STEPWISE_LEVELS)
    if _skip(text, end) != len(text):
        raise ValueError("extra data after the JSON document")
    return value


def _stepwise_value(text: str, at: int, levels: int) -> tuple[int, Any]:
    """The value starting at ``at`` (no whitespace before it): ``(end, value)``."""
    opener = text[at : at + 1]
    if levels and opener == "{":
        return _stepwise_object(text, at, levels - 1)
    if levels and opener == "[":
        return _stepwise_array(text, at, levels - 1)
    try:
        value, end = _scan_value(text, at)
    except StopIteration:
        raise ValueError(f"expecting a JSON value at {at}") from None
    return end, value


def _stepwise_object(text: str, at: int, levels: int) -> tuple[int, dict[str, Any]]:
    out: dict[str, Any] = {}
    at = _skip(text, at + 1)
    if text[at : at + 1] == "}":
        return at + 1, out
    while True:
        if text[at : at + 1] != '"':
            raise ValueError(f"expecting a property name at {at}")
        key, at = _scan_string(text, at + 1, True)
        at = _skip(text, at)
        if text[at : at + 1] != ":":
            raise ValueError(f"expecting ':' at {at}")
        at, out[key] = _stepwise_value(text, _skip(text, at + 1), levels)
        at = _skip(text, at)
        separator = text[at : at + 1]
        if separator == "}":
            return at + 1, out
        if separator != ",":
            raise ValueError(f"expecting ',' or '}}' at {at}")
        at = _skip(text, at + 1)


def _stepwise_array(text: str, at: int, levels: int) -> tuple[int, list[Any]]:
    # The hot loop of a big document (a page's records): compact separators are read without
    # the whitespace regex, and a member below the walked levels is one C call, inline.
    out: list[Any] = []
    append = out.append
    at = _skip(text, at + 1)
    if text[at : at + 1] == "]":
        return at + 1, out
    while True:
        if levels:
            at, value = _stepwise_value(text, at, levels)
        else:
            try:
                value, at = _scan_value(text, at)
            except StopIteration:
                raise ValueError(f"expecting a JSON value at {at}") from None
        append(value)
        separator = text[at : at + 1]
        if separator in _SPACE:
            at = _skip(text, at)
            separator = text[at : at + 1]
        if separator == ",":
            at += 1
            if text[at : at + 1] in _SPACE:
                at = _skip(text, at)
        elif separator == "]":
            return at + 1, out
        else:
            raise ValueError(f"expecting ',' or ']' at {at}")


_SURROGATE = re.compile("[\ud800-\udfff]")
_strict_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _stdlib_loads(data: bytes | str) -> Any:
    if isinstance(data, str):
        text = data
        if not text.isascii() and _SURROGATE.search(text) is not None:
            raise ValueError("lone surrogate in JSON text")
    else:  # bytes or a bytearray body (never copied before decoding)
        # Strict UTF-8, as orjson: no UTF-16/32 (whatever a charset parameter says), no BOM
        # (it is not JSON whitespace), no UTF-8 bytes of a surrogate.
        text = data.decode("utf-8")
    value = _decode_stepwise(text) if len(text) > STEPWISE_SIZE else _decoder.decode(text)
    if "\\ud" in text or "\\uD" in text:
        # An escaped surrogate; a lone one decodes to a str that cannot be encoded as UTF-8.
        # Rare, so the whole value is checked only then (its depth is bounded already).
        try:
            _strict_encoder.encode(value).encode()
        except UnicodeEncodeError:
            raise ValueError("lone surrogate escaped in JSON text") from None
    return value


def _has_long_integer(data: bytes | str) -> bool:
    """Whether ``data`` holds a run of 19+ digits: maybe an integer beyond 64 bits (the
    run may also be inside a string; such documents merely take the stdlib decoder)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return _LONG_RUN in data.translate(_DIGITS)


_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_LONG_RUN = b"0" * 19


def loads_for(region: bytes | bytearray, longest: int) -> Callable[[str], Any]:
    """A decoder that gives every JSON document within ``region`` the same value or error as
    :func:`loads`, with fewer checks per document: :func:`loads_plain` itself when one scan
    of ``region`` clears them all.

    ``region`` holds the raw bytes of complete SSE frames (what one read completed, ending at
    a blank line) and each document is at most ``longest`` long. One scan of a read instead of
    one per event: a bracket or a digit run inside a document is one in the bytes around it
    too (ASCII survives UTF-8 decoding unchanged), and a document's brackets all lie between
    two blank lines. Anything the scan cannot rule out keeps the per-document checks.
    """
    if min(len(region), longest) > ORJSON_MAX_SIZE:
        return loads
    if using_orjson and _LONG_RUN in region.translate(_DIGITS):
        return loads
    # Only the brackets ("{" as "[") and line feeds are left: a few bytes per frame.
    brackets = region.translate(_BRACKETS, _NOT_BRACKETS)
    if brackets.count(b"[") <= MAX_DEPTH:
        return loads_plain
    # They add up across the frames: count them frame by frame, in C. Frames end at a blank
    # line ("\n\n" once CRs are gone); CR-only line ends merge frames, which only overcounts.
    # A run of MAX_DEPTH + 1 "[" is a frame that may nest too deep.
    if _TOO_MANY not in brackets.replace(b"\n\n", b"|").replace(b"\n", b""):
        return loads_plain
    return _loads_counted


_BRACKETS = bytes(0x5B if b == 0x7B else b for b in range(256))
_NOT_BRACKETS = bytes(b for b in range(256) if b not in (0x0A, 0x5B, 0x7B))
_TOO_MANY = b"[" * (MAX_DEPTH + 1)


def _loads_counted(data: str) -> Any:
    """``loads`` for a document whose size and digit runs :func:`loads_for` cleared."""
    if data.count("[") + data.count("{") > MAX_DEPTH:
        return loads(data)
    return loads_plain(data)


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

    loads_exact = loads
    loads_plain = _stdlib_loads

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
        # orjson silently turns an integer beyond 64 bits into a float (then an int field
        # refuses it, a raw payload gets a lossy number): a document that may hold one takes
        # the stdlib decoder, so both backends give the same result. The check is one C pass
        # (~2 us on a 2 KB reply, against ~7 us for orjson itself).
        if len(data) > ORJSON_MAX_SIZE or _has_long_integer(data):
            return _stdlib_loads(data)
        return _orjson_loads(data)

    loads_exact = loads
    loads_plain = _orjson_loads

    def dumps(obj: Any) -> bytes:
        try:
            out = _orjson_dumps(obj)
        except (TypeError, ValueError, RecursionError) as exc:
            # orjson refuses integers beyond 64 bits, which the stdlib writes exactly: the
            # stdlib encoder (strict: no NaN) takes over, so both backends agree on them.
            error = _encode_error(exc)
            if isinstance(exc, TypeError):
                try:
                    return _strict_encoder.encode(obj).encode()
                except (TypeError, ValueError, RecursionError) as again:
                    error = _encode_error(again)
        else:
            # orjson (3.8 here) returns a short result inside its 1 KiB starting buffer, so a
            # 60-byte body kept for a stream's whole life holds ~1 KiB; an exact-size copy of
            # a short result costs ~0.1 us and frees the buffer.
            return bytes(memoryview(out)) if len(out) < 1024 else out
        raise error  # outside the except block: no __context__ holding the value
