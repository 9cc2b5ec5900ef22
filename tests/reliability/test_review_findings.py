"""Regression tests of the adversarial review of issue 12 (review items numbered as in its report).

Each failed before its fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from _core_support import BASE, R, Wire
from aioresponses import aioresponses

import moveworks_async as mw
from moveworks_async import _json

CID = "conv_1"
BIG = 10**400  # an int a float cannot hold


@pytest.fixture
def wire() -> Iterator[Wire]:
    with aioresponses() as mock:
        yield Wire(mock)


def client(**kw: Any) -> mw.AsyncMoveworks:
    kw.setdefault("token", "tok-review")
    return mw.AsyncMoveworks(assistant_name="acme", **kw)


# --- review 7: ints too large for a float are InvalidParameterError, not OverflowError -------


@pytest.mark.asyncio
async def test_review7_huge_int_timeouts_are_invalid_parameter(wire: Wire) -> None:
    wire.always(R(200, {"conversation_id": CID}))
    with pytest.raises(mw.InvalidParameterError):
        mw.Timeout(total=BIG)
    with pytest.raises(mw.InvalidParameterError):
        client(base_url=BASE, timeout=BIG)
    async with client(base_url=BASE) as c:
        with pytest.raises(mw.InvalidParameterError):
            await c.conversations.get(CID, timeout=BIG)
        with pytest.raises(mw.InvalidParameterError):
            c.with_options(timeout=BIG)
        with pytest.raises(mw.InvalidParameterError):
            await c.responses.wait(CID, "resp_1", timeout=BIG)
        for name in ("deadline", "first_event_timeout", "idle_timeout", "recover_timeout"):
            with pytest.raises(mw.InvalidParameterError):
                async with c.responses.stream(CID, text="x", **{name: BIG}):
                    pass
    assert not wire.calls


# --- review 1: the depth check is bounded in memory and exits early --------------------------


@pytest.mark.parametrize(
    "doc",
    [b"[" * 4_000_000, b"[" * 100 + b"[]" * 2_000_000 + b"]" * 100, "[" * 4_000_000],
    ids=["deep-bytes", "shallow-bytes", "deep-str"],
)
def test_review1_depth_check_uses_bounded_memory(doc: bytes | str) -> None:
    import tracemalloc

    deep = doc.startswith(b"[[[" if isinstance(doc, bytes) else "[[[") and len(set(doc)) == 1
    tracemalloc.start()
    try:
        if deep:
            with pytest.raises(ValueError, match="nested deeper"):
                _json._check_bounds(doc)
        else:
            _json._check_bounds(doc)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Before: a list of one int per bracket (tens of MB); a str is encoded once (its size).
    limit = 1024 * 1024 + (len(doc) if isinstance(doc, str) else 0) * 11 // 10
    assert peak < limit


def test_review1_depth_check_is_exact_at_the_limit() -> None:
    limit = _json.MAX_DEPTH
    _json._check_bounds(b"[" * limit + b"]" * limit)
    _json._check_bounds((b"[" * limit + b"]" * limit) * 300)  # spans chunks
    _json._check_bounds(b"[" * 100 + b"[[[]]]" * 50_000 + b"]" * 100)
    with pytest.raises(ValueError):
        _json._check_bounds(b"[]" * 70_000 + b"[" * (limit + 1) + b"]" * (limit + 1))
    with pytest.raises(ValueError):
        _json._check_bounds(b"{" * 30_000 + b'"' + b"a" * 70_000)
    # Brackets inside strings do not count.
    _json._check_bounds(b'["' + b"[" * 70_000 + b'"]')
