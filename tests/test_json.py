"""The JSON bounds of ``_json`` hold with both backends (orjson and the stdlib)."""

from __future__ import annotations

import importlib.util
import json
import sys
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import moveworks_async as mw
from moveworks_async import _json


def _stdlib() -> ModuleType:
    saved = sys.modules.get("orjson")
    sys.modules["orjson"] = None  # type: ignore[assignment]
    try:
        spec = importlib.util.spec_from_file_location("moveworks_async._json_std", _json.__file__)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["orjson"]
        else:
            sys.modules["orjson"] = saved
    return module


BACKENDS = [_stdlib(), _json]


@pytest.fixture(params=BACKENDS, ids=["stdlib", "default"])
def j(request: pytest.FixtureRequest) -> ModuleType:
    return request.param  # type: ignore[no-any-return]


@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_depth_beyond_the_bound_is_a_value_error(j: ModuleType, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    ok = opener * j.MAX_DEPTH + "1" + closer * j.MAX_DEPTH
    assert j.loads(ok) is not None
    assert j.loads(ok.encode()) is not None
    deep = opener * (j.MAX_DEPTH + 1) + "1" + closer * (j.MAX_DEPTH + 1)
    for data in (deep, deep.encode(), opener * 100_000):
        with pytest.raises(ValueError):
            j.loads(data)


def test_brackets_inside_strings_do_not_count(j: ModuleType) -> None:
    text = '{"a": "' + "[{" * 5000 + '", "b": ["\\"[[["]}'
    assert j.loads(text)["b"] == ['"[[[']


def test_wide_documents_pass(j: ModuleType) -> None:
    wide = "[" + ",".join(["{}"] * 5000) + "]"
    assert len(j.loads(wide)) == 5000


def test_size_bound(j: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(j, "MAX_SIZE", 10)
    with pytest.raises(ValueError):
        j.loads(b"[1,2,3,4,5,6]")


@pytest.mark.parametrize("literal", ["NaN", "[Infinity]", "-Infinity"])
def test_nan_and_infinity_literals_rejected(j: ModuleType, literal: str) -> None:
    with pytest.raises(ValueError):
        j.loads(literal)


@pytest.mark.parametrize("value", [object(), "\ud800", {1j: 1}])
def test_dumps_raises_invalid_parameter_without_context(j: ModuleType, value: object) -> None:
    with pytest.raises(mw.InvalidParameterError) as caught:
        j.dumps({"v": value})
    assert caught.value.__context__ is None


# Both backends agree on what a reply may hold (adversarial review of issue 15, item 6).


@pytest.mark.parametrize(
    "data",
    [b"[1e400]", b"[-1e400]", b'["\\ud800"]', b'{"\\udc00": 1}', b'["\xed\xa0\x80"]', '["\ud800"]'],
    ids=["overflow", "neg-overflow", "escaped-lone", "escaped-lone-key", "utf8-surrogate", "str"],
)
def test_non_finite_numbers_and_lone_surrogates_are_value_errors(j: ModuleType, data: Any) -> None:
    for decode in (j.loads, j.loads_exact):
        with pytest.raises(ValueError):
            decode(data)


def test_escaped_surrogate_pairs_still_decode(j: ModuleType) -> None:
    assert j.loads(b'["\\ud83d\\ude00"]') == ["\U0001f600"]


def test_loads_exact_keeps_integers_beyond_64_bits(j: ModuleType) -> None:
    big = 123456789012345678901234567890
    doc = b'{"n": 123456789012345678901234567890, "m": -18446744073709551617, "s": "x"}'
    assert j.loads_exact(doc) == {"n": big, "m": -18446744073709551617, "s": "x"}
    assert j.loads_exact(doc.decode())["n"] == big


@pytest.mark.parametrize(
    "number", ["18446744073709551616", "-9223372036854775809", "1" + "0" * 29, "9" * 19]
)
def test_loads_gives_the_stdlib_result_for_integers_beyond_64_bits(
    j: ModuleType, number: str
) -> None:
    """Both backends decode the same document to the same value (orjson alone would give a
    float: an int field would refuse it, a raw payload would be lossy)."""
    doc = '{"offset": ' + number + ', "s": "x"}'
    for data in (doc, doc.encode()):
        value = j.loads(data)
        assert value == json.loads(doc)
        assert type(value["offset"]) is int


def test_dumps_writes_integers_beyond_64_bits_exactly(j: ModuleType) -> None:
    assert (
        j.dumps({"n": 2**70, "m": -(2**70)})
        == b'{"n":1180591620717411303424,"m":-1180591620717411303424}'
    )
    with pytest.raises(mw.InvalidParameterError):
        j.dumps({"n": 2**70, "s": "\ud800"})


def test_loads_for_a_region_clears_only_what_loads_would_pass() -> None:
    """``loads_for`` (one scan for a whole read of SSE frames) hands out the unchecked decoder
    only when no document inside could trip ``loads``' size, depth or long-integer rules."""
    from moveworks_async._json import ORJSON_MAX_SIZE, loads_for

    plain, counted = _json.loads_plain, _json._loads_counted
    frame = b"event: X\ndata: %s\n\n"
    assert loads_for(frame % b'{"a": [1, 2]}', 1 << 20) is plain
    assert loads_for(frame % (b"[" * 128 + b"{" * 128), 1 << 20) is plain  # MAX_DEPTH itself
    assert loads_for(frame % (b"[" * 129 + b"{" * 128), 1 << 20) is counted
    # Brackets add up across frames only within a frame: two of 200 pass, CRLF or LF ...
    two = (frame % (b"[" * 200)) * 2
    assert loads_for(two, 1 << 20) is plain
    assert loads_for(two.replace(b"\n", b"\r\n"), 1 << 20) is plain
    # ... but CR-only line ends cannot be told apart here: counted per document instead.
    assert loads_for(two.replace(b"\n", b"\r"), 1 << 20) is counted
    # A frame with more lines still counts as one: 2 x 200 brackets on two data lines.
    assert (
        loads_for(b"data: " + b"[" * 200 + b"\ndata: " + b"{" * 200 + b"\n\n", 1 << 20) is counted
    )
    # Size: only a region that may hold a document past ORJSON_MAX_SIZE keeps loads.
    big = bytearray(b" " * (ORJSON_MAX_SIZE + 1))
    assert loads_for(big, 1 << 20) is plain  # no document can be longer than the event cap
    assert loads_for(big, ORJSON_MAX_SIZE + 1) is _json.loads
    assert loads_for(big[:-1], ORJSON_MAX_SIZE + 1) is plain
    # A run of 19+ digits (an integer beyond 64 bits, maybe) keeps loads with orjson.
    assert loads_for(frame % b"[123456789012345678]", 1 << 20) is plain  # 18 digits
    long_run = loads_for(frame % b"[1234567890123456789]", 1 << 20)
    assert long_run is (_json.loads if _json.using_orjson else plain)


def test_counted_loads_keeps_the_depth_rule() -> None:
    """The per-document fallback of ``loads_for`` refuses too deep documents as ``loads``
    does, and decodes documents with many but shallow brackets."""
    with pytest.raises(ValueError):
        _json._loads_counted("[" * 300 + "]" * 300)
    shallow = "[" + ",".join(["[]"] * 300) + "]"
    assert _json._loads_counted(shallow) == [[]] * 300


# --- the depth check, chunk by chunk (outside review, /work/adv/s14) -------------------------


def _depth(value: Any) -> int:
    """How deep ``value`` nests (a scalar 0, ``[]`` 1)."""
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


def test_a_document_one_level_too_deep_is_refused_when_a_whole_chunk_is_pairs() -> None:
    """Before: a 64 KiB chunk made only of ``[[[]]]`` elements at depth 254 vanished in the
    pair-removal rounds, its climb to 257 went unchecked, and ``loads`` accepted the document."""
    size = _json._SCAN_CHUNK
    head = b"[" * 254 + b"0"
    head += b" " * (size - len(head))  # the first chunk ends at depth 254
    body = b",[[[]]]" * ((size - 2) // 7)
    body += b" " * (size - len(body))  # the second holds only pairs (and commas, spaces)
    document = head + body + b"]" * 254
    assert _depth(json.loads(document)) == _json.MAX_DEPTH + 1
    for j in BACKENDS:
        with pytest.raises(ValueError, match="nested deeper"):
            j.loads(document)
    shallower = b"[" * 253 + b"0" + b" " * (size - 254) + body + b"]" * 253
    assert _depth(json.loads(shallower)) == _json.MAX_DEPTH
    _json.loads(shallower)


_TEXT = st.text(alphabet='[]{}"\\ab\n\u00e9', max_size=12)
_LEAF = _TEXT | st.integers(0, 9)
_TREE = st.recursive(
    _LEAF,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    tree=_TREE,
    chain=st.lists(st.tuples(st.booleans(), _TEXT), min_size=240, max_size=262),
    ascii_only=st.booleans(),
    chunk=st.sampled_from([1, 2, 3, 5, 7, 64, 65536]),
)
def test_the_depth_check_is_exact_at_every_chunk_size(
    tree: Any, chain: list[tuple[bool, str]], ascii_only: bool, chunk: int
) -> None:
    """Documents around MAX_DEPTH deep whose strings hold brackets, quotes and backslashes:
    both scans (brackets everywhere; brackets outside strings) agree with the document's real
    depth wherever the chunks are cut (a string, an escape, a pair split across two chunks)."""
    value = tree
    for as_list, key in chain:
        value = [value] if as_list else {key: value}
    document = json.dumps(value, ensure_ascii=ascii_only).encode()
    too_deep = _depth(value) > _json.MAX_DEPTH
    saved = _json._SCAN_CHUNK
    _json._SCAN_CHUNK = chunk
    try:
        assert _json._max_depth_exceeded(document) is too_deep
        if too_deep:
            with pytest.raises(ValueError, match="nested deeper"):
                _json._check_bounds(document)
        else:
            _json._check_bounds(document)
        brackets = document.translate(None, bytes(b for b in range(256) if b not in b"[]{}"))
        deepest = _depth_of_brackets(brackets)
        assert _json._max_depth_exceeded(brackets) is (deepest > _json.MAX_DEPTH)
    finally:
        _json._SCAN_CHUNK = saved


def _depth_of_brackets(brackets: bytes) -> int:
    depth = peak = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        peak = max(peak, depth)
    return peak


def _records(count: int) -> bytes:
    """A Data API-like page whose records each hold an unclosed ``[`` in a string."""
    record = '{"id":%d,"name":"user %d","note":"[draft reply","tags":["a","b"]}'
    return ('{"value":[' + ",".join(record % (n, n) for n in range(count)) + "]}").encode()


def test_brackets_in_strings_are_checked_in_bounded_memory() -> None:
    """The check with strings removed works chunk by chunk: before, one regular-expression
    pass made a copy of the document without its strings (and held the GIL throughout)."""
    import tracemalloc

    document = _records(60_000)  # ~4 MB, > MAX_DEPTH brackets inside strings
    tracemalloc.start()
    try:
        _json._check_bounds(document)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


@pytest.mark.parametrize("closers", [1, 300, 70_000])
def test_closing_brackets_inside_a_string_do_not_hide_depth(closers: int) -> None:
    """Before: the first pass counted the brackets of strings too, so a ``]`` in a string
    lowered the count and a document of any depth passed (on the default install a 1,000-deep
    reply then escaped as a bare RecursionError: outside review, /work/adv/s14b)."""
    limit = _json.MAX_DEPTH
    for depth, refused in ((limit, False), (limit + 1, True), (1000, True)):
        inner = "[" * (depth - 1) + "]" * (depth - 1)
        document = '["' + "]" * closers + '",' + inner + "]"
        if depth <= limit + 1:  # (the stdlib's own recursion limit is near 1,000 here)
            assert _depth(json.loads(document)) == depth
        for j in BACKENDS:
            for data in (document, document.encode()):
                if refused:
                    with pytest.raises(ValueError, match="nested deeper"):
                        j.loads(data)
                else:
                    j.loads(data)
