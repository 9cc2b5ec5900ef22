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

pytestmark = pytest.mark.asyncio

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
