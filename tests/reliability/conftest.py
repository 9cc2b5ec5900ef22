"""Fixtures of the reliability suite: the canary watch every test runs under, and the hooks
that turn row tests into scorecard figures (S1) written to ``MWA_SCORECARD``."""

from __future__ import annotations

import logging
import os
import re
import sys
import traceback
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

# The suite's helpers import by bare name; appended, so tests/conftest.py keeps its name.
sys.path.append(str(Path(__file__).parent))

import _scorecard
from _reliability_support import CANARIES, canary_hits

CATALOGUE_ROWS = 53
_ROW = re.compile(r"test_row_(\d\d)_")
_rows: dict[int, bool] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """A row survives when every test of it passed (an xfail or skip does not count)."""
    match = _ROW.search(report.nodeid)
    if match is None:
        return
    row = int(match.group(1))
    if report.when == "call":
        ok = report.passed and not hasattr(report, "wasxfail")
    elif report.failed or report.skipped:
        ok = False  # setup or teardown failed, or the test was skipped
    else:
        return
    _rows[row] = _rows.get(row, True) and ok


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("MWA_SCORECARD")
    if path:
        _scorecard.write(path, _rows, CATALOGUE_ROWS, int(exitstatus))


@pytest.fixture(autouse=True)
def canary_watch(caplog: pytest.LogCaptureFixture) -> Iterator[list[warnings.WarningMessage]]:
    """Every reliability test runs with DEBUG logging captured and warnings recorded; at the
    end no log record and no warning may carry the canary (S8), and no warning may be left
    at all (a ResourceWarning or "never retrieved" is a leak)."""
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
    texts: list[str] = []
    for record in caplog.records:
        text = record.getMessage() + repr(record.args)
        if record.exc_info and record.exc_info[1] is not None:
            text += "".join(traceback.format_exception(record.exc_info[1]))
        texts.append(text)
    texts += [f"{w.category.__name__}: {w.message}" for w in caught]
    found = sum(canary_hits(t) for t in texts)
    _scorecard.CANARY["scans"] += len(texts)
    _scorecard.CANARY["found"] += found
    assert found == 0, f"canary ({CANARIES[0]}...) in logs or warnings"
    leftovers = [str(w.message) for w in caught]
    assert not leftovers, f"warnings: {leftovers[:3]}"
    never = [r.getMessage() for r in caplog.records if _NOISE.search(r.getMessage())]
    assert not never, never[:3]


_NOISE = re.compile(r"never retrieved|destroyed but it is pending|Unclosed", re.I)
