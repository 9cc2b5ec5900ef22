"""Timeout phases as exception subclasses (issue 13 item 4), as httpx does.

``APITimeoutError(message, phase=...)`` still works (code written before the subclasses) and
builds the subclass of that phase; ``.phase`` is a :class:`TimeoutPhase`, still equal to its
string.
"""

from __future__ import annotations

import pickle

import pytest

import moveworks_async as mw

PHASES = [
    ("connect", mw.ConnectTimeout),
    ("read", mw.ReadTimeout),
    ("total", mw.TotalTimeout),
    ("first_event", mw.FirstEventTimeout),
    ("idle", mw.IdleTimeout),
    ("deadline", mw.DeadlineTimeout),
]


@pytest.mark.parametrize(("phase", "cls"), PHASES, ids=[p for p, _ in PHASES])
def test_the_base_class_builds_the_subclass_of_its_phase(
    phase: str, cls: type[mw.APITimeoutError]
) -> None:
    error = mw.APITimeoutError("slow", phase=phase, request_id="req-1", outcome_unknown=True)
    assert type(error) is cls
    assert isinstance(error, mw.APITimeoutError)
    assert isinstance(error, mw.APIConnectionError)
    assert error.phase is mw.TimeoutPhase(phase)
    assert error.phase == phase  # compatibility: compares as the string it was
    assert error.request_id == "req-1"
    assert error.outcome_unknown is True
    assert str(error).startswith("slow")


@pytest.mark.parametrize(("phase", "cls"), PHASES, ids=[p for p, _ in PHASES])
def test_each_subclass_knows_its_phase(phase: str, cls: type[mw.APITimeoutError]) -> None:
    error = cls("slow")
    assert error.phase == phase
    assert error.outcome_unknown is False
    with pytest.raises(cls):
        raise error
    others = [other for _, other in PHASES if other is not cls]
    assert not any(isinstance(error, other) for other in others)


def _catch_connect_only() -> None:
    try:
        raise mw.APITimeoutError("r", phase="read")
    except mw.ConnectTimeout:  # pragma: no cover - must not catch a read timeout
        pytest.fail("a read timeout was caught as a connect timeout")


def test_catching_one_kind_leaves_the_others() -> None:
    with pytest.raises(mw.ReadTimeout):
        _catch_connect_only()


@pytest.mark.parametrize(("phase", "cls"), PHASES, ids=[p for p, _ in PHASES])
def test_pickles_with_its_class_and_attributes(phase: str, cls: type[mw.APITimeoutError]) -> None:
    error = mw.APITimeoutError("slow", phase=phase, request_id="r", outcome_unknown=True)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is cls
    assert (copy.phase, copy.request_id, copy.outcome_unknown) == (phase, "r", True)
    assert str(copy) == str(error)


def test_an_unknown_or_missing_phase_is_refused() -> None:
    with pytest.raises(ValueError, match="nap"):
        mw.APITimeoutError("x", phase="nap")
    with pytest.raises(TypeError, match="phase"):
        mw.APITimeoutError("x")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="connect"):
        mw.ConnectTimeout("x", phase="read")


def test_timeout_phase_values() -> None:
    assert [p.value for p in mw.TimeoutPhase] == [p for p, _ in PHASES]
