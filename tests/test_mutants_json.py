"""Tests written to kill the mutants of ``_json`` the suite let survive (docs/mutants.md).

Each pins a contract of the module: the decoder ``loads_for`` picks for a read gives every
document in it the value or the error ``loads`` gives, and a value ``dumps`` cannot encode is
refused with the words the caller sees.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from test_json import BACKENDS

import moveworks_async as mw
from moveworks_async import _json


def _outcome(decode: Any, document: str) -> tuple[str, Any]:
    try:
        return "value", decode(document)
    except ValueError:
        return "error", None


def _frames(*documents: str) -> bytes:
    return b"".join(b"event: X\ndata: " + doc.encode() + b"\n\n" for doc in documents)


DEEP_OBJECTS = '{"a":' * 300 + "1" + "}" * 300  # nests 300 deep with no "[" at all
DEEP_ARRAYS = "[" * 300 + "]" * 300
OBJECTS_AT_THE_BOUND = '{"a":' * _json.MAX_DEPTH + "1" + "}" * _json.MAX_DEPTH
SHALLOW = '{"a": [1, 2, {"b": [3]}], "c": "x"}'
WIDE = "[" + ",".join(["[]"] * 300) + "]"  # 301 brackets, 2 deep


@pytest.mark.parametrize(
    "documents",
    [
        (DEEP_OBJECTS, SHALLOW),
        (SHALLOW, DEEP_ARRAYS, SHALLOW),
        (WIDE, SHALLOW, OBJECTS_AT_THE_BOUND),
        (DEEP_OBJECTS, DEEP_ARRAYS, WIDE),
    ],
    ids=["deep-objects", "deep-arrays", "wide", "all"],
)
def test_the_decoder_for_a_read_gives_every_document_what_loads_gives(
    documents: tuple[str, ...],
) -> None:
    """Whatever decoder one scan of the read chose, each frame's data decodes to the value
    ``loads`` gives it, and a document ``loads`` refuses (nested too deep, objects included)
    is refused too: the stream treats it as bad JSON instead of handing it out."""
    decode = _json.loads_for(_frames(*documents), 1 << 20)
    for document in documents:
        assert _outcome(decode, document) == _outcome(_json.loads, document), document[:20]
    assert _outcome(_json.loads, DEEP_OBJECTS) == ("error", None)  # the rule checked above


@pytest.mark.parametrize("backend", BACKENDS, ids=["stdlib", "default"])
@pytest.mark.parametrize("value", [object(), {1j: 1}])
def test_a_value_json_cannot_carry_is_refused_in_the_callers_words(
    backend: ModuleType, value: object
) -> None:
    """The error a caller gets for an argument JSON has no form for names what to use."""
    with pytest.raises(mw.InvalidParameterError) as caught:
        backend.dumps({"v": value})
    assert str(caught.value) == (
        "a request value cannot be encoded as JSON (TypeError): use str, int, float, bool, "
        "None, lists and dicts with str keys, and text without lone surrogates"
    )


def _nest(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def _layouts(depth: int) -> dict[str, str]:
    """Documents nesting ``depth`` deep, most with more than MAX_DEPTH brackets in all (so the
    depth scan runs), laid out to reach each of its paths: siblings before or after the deep
    nest, the nest across the scan's 64 KiB chunks, and a chunk that first closes a few
    levels and then opens up to ``depth`` again."""
    chunk = 65536
    inner = _nest(depth - 1)
    first = 200
    return {
        "siblings-1": "[" + "[]," + inner + "]",
        "siblings-2": "[" + "[],[]," + inner + "]",
        "siblings-60": "[" + "[]," * 60 + inner + "]",
        "after-2": "[" + inner + ",[],[]" + "]",
        "across-chunks": "[" + " " * (chunk - 1 - (depth - 1) // 2 - 3) + inner + "]",
        "pairs-then-nest": "[" + "[]," * 21760 + inner + "]",
        "close-then-open": (
            "[" * first
            + " " * (chunk - first)
            + "],"
            + "[" * (depth - 199)
            + " " * (chunk - 2 - (depth - 199))
            + "1"
            + "]" * depth
        ),
    }


@pytest.mark.parametrize("layout", list(_layouts(_json.MAX_DEPTH)))
def test_documents_nest_up_to_max_depth_and_not_one_level_more(layout: str) -> None:
    """``loads`` accepts every document nested MAX_DEPTH deep (or less) and refuses every
    one nested MAX_DEPTH + 1 deep, whatever its layout: the bound is exact, not an
    estimate that turns away a valid reply or lets a deeper one through."""
    for depth in (_json.MAX_DEPTH - 1, _json.MAX_DEPTH):
        document = _layouts(depth)[layout]
        for data in (document, document.encode()):
            assert json.dumps(_json.loads(data)) == json.dumps(json.loads(document))
    deeper = _layouts(_json.MAX_DEPTH + 1)[layout]
    json.loads(deeper)  # valid JSON, only too deep
    for data in (deeper, deeper.encode()):
        with pytest.raises(ValueError, match="nested deeper"):
            _json.loads(data)


LONG = 12345678901234567890  # beyond 64 bits: with orjson, the document takes the stdlib decoder


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ('"é"', "é"),
        ('"\\ud83d\\ude00"', "\U0001f600"),  # an escaped surrogate pair is one character
        ('"\\uD83D\\uDE00"', "\U0001f600"),
    ],
)
def test_the_stdlib_path_decodes_text_as_loads_promises(item: str, expected: str) -> None:
    """A document that takes the stdlib decoder (an integer beyond 64 bits; with orjson
    installed, it alone is exact for them) decodes non-ASCII text and surrogate pairs."""
    for document in (f"[{item}, {LONG}]", f"[{item}, {LONG}]".encode()):
        assert _json.loads(document) == [expected, LONG]


@pytest.mark.parametrize(
    "item",
    ['"\ud800"', '"x\\ud800"', '"x\\uD800"', '"\\udc00 and \\uD800"', '{"k\\ud800": 1}'],
    ids=["raw", "escaped", "escaped-upper", "both-cases", "in-a-key"],
)
def test_the_stdlib_path_refuses_lone_surrogates(item: str) -> None:
    """On the stdlib path too, a lone surrogate, raw or escaped in either case, is a
    ValueError: a value holding one could not be written back as UTF-8."""
    with pytest.raises(ValueError):
        _json.loads(f"[{item}, {LONG}]")
    if "\\" in item:  # bytes cannot carry a raw one at all
        with pytest.raises(ValueError):
            _json.loads(f"[{item}, {LONG}]".encode())


def test_a_lone_surrogate_in_a_deep_text_is_a_value_error() -> None:
    """Many brackets (the depth scan runs on the text's UTF-8 bytes) and a lone surrogate:
    still the ValueError ``loads`` promises, not another exception."""
    document = "[" * 200 + '"\ud800"' + "]" * 200 + ("," + "[]" * 100)
    with pytest.raises(ValueError):
        _json.loads("[" + document + "]")


def test_the_size_bound_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """A document exactly MAX_SIZE long is accepted, one byte more is not."""
    monkeypatch.setattr(_json, "MAX_SIZE", 13)
    assert _json.loads(b"[1,2,3,4,5,6]") == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValueError):
        _json.loads(b"[1,2,3,4,5,67]")


def test_a_big_document_with_empty_containers_decodes_as_the_stdlib_does() -> None:
    """A document over STEPWISE_SIZE (decoded member by member at its top levels) gives
    the value ``json.loads`` gives, empty objects and arrays at the walked levels included."""
    filler = "x" * (_json.STEPWISE_SIZE + 10)
    document = (
        '{"a": {}, "b": [{}, {},[], {"c": {}}], "e": {},"f":[ ], "g": {"h": {}, "i": []},'
        f' "s": "{filler}", "z": {{}}}}'
    )
    expected = json.loads(document)
    assert _json.loads(document) == expected
    assert _json.loads(document.encode()) == expected
    listed = f'[{{}}, {{}},{{"k": {{}}}}, [], "{filler}", {{}}]'
    assert _json.loads(listed) == json.loads(listed)
