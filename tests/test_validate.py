"""The number checks of ``_validate`` (one place for them, issue 13 item 4)."""

from __future__ import annotations

import math

import pytest

import moveworks_async as mw
from moveworks_async._validate import check_int, check_number


@pytest.mark.parametrize("bad", [0, -1, True, 1.0, "2", None])
def test_check_int_refuses(bad: object) -> None:
    with pytest.raises(mw.InvalidParameterError, match=r"^n must be an int >= 1$"):
        check_int(bad, "n", 1)


def test_check_int_accepts_the_minimum_and_above() -> None:
    assert check_int(1, "n", 1) == 1
    assert check_int(0, "n") == 0
    assert check_int(10**9, "n", 1) == 10**9


@pytest.mark.parametrize("bad", [-0.5, math.nan, True, "1", None])
def test_check_number_refuses(bad: object) -> None:
    with pytest.raises(mw.InvalidParameterError, match=r"^cap must be a number >= 0$"):
        check_number(bad, "cap")


def test_check_number_accepts_zero_floats_and_infinity() -> None:
    assert check_number(0, "cap") == 0
    assert check_number(2.5, "cap") == 2.5
    assert check_number(math.inf, "cap") == math.inf
    with pytest.raises(mw.InvalidParameterError, match=">= 1"):
        check_number(0.5, "cap", 1.0)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: mw.RetryPolicy(max_retries=-1), "max_retries must be an int >= 0"),
        (lambda: mw.RetryPolicy(backoff_cap=math.nan), "backoff_cap must be a number >= 0"),
        (lambda: mw.RateGovernor(max_concurrency=0), "max_concurrency must be an int >= 1"),
    ],
)
def test_the_callers_keep_their_messages(build: object, message: str) -> None:
    with pytest.raises(mw.InvalidParameterError, match=message):
        build()  # type: ignore[operator]
