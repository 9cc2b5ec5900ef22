"""The JSON bounds of ``_json`` hold with both backends (orjson and the stdlib)."""

from __future__ import annotations

import importlib.util
import json
import sys
from types import ModuleType
from typing import Any

import pytest

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
