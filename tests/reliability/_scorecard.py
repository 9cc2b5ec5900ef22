"""Figures of the reliability scorecard (its table is in README, "Reliability"), collected while the
suite runs and written as JSON for ``scorecard.py`` to render.

Tests call :func:`record`; the conftest adds S1 (catalogue rows survived) and S8 (canary
occurrences) from what it saw, and writes the file named by ``MWA_SCORECARD`` at the end.
"""

from __future__ import annotations

import json
import os
from typing import Any

#: Scorecard id -> {"figure": str, "target": str, "pass": bool}; a figure recorded twice
#: (parametrized runs) keeps every measurement and passes only if all did.
FIGURES: dict[str, dict[str, Any]] = {}

#: Canary scans run and occurrences found (S8).
CANARY = {"scans": 0, "found": 0}


def record(sid: str, figure: str, target: str, ok: bool) -> None:
    """Add a measured figure for scorecard row ``sid`` ("S2" ...)."""
    entry = FIGURES.setdefault(sid, {"figure": [], "target": target, "pass": True})
    entry["figure"].append(figure)
    entry["pass"] = bool(entry["pass"] and ok)


def soak_scale() -> float:
    """``MWA_SOAK_SCALE``: the share of the full soak sizes to run (default 0.1, so a plain
    ``pytest`` stays fast; ``.ci/run`` and ``nox -s reliability`` set 1)."""
    return float(os.environ.get("MWA_SOAK_SCALE", "0.1"))


def soak_size(full: int) -> int:
    """``full`` scaled by :func:`soak_scale`, at least 10."""
    return max(10, int(full * soak_scale()))


def examples() -> int:
    """Hypothesis examples per property: ``MWA_HYPOTHESIS_EXAMPLES``, else 10,000 when the
    soak runs at full scale, else 200."""
    value = os.environ.get("MWA_HYPOTHESIS_EXAMPLES")
    if value:
        return int(value)
    return 10_000 if soak_scale() >= 1 else 200


def write(path: str, rows: dict[int, bool], total_rows: int, exitstatus: int = 0) -> None:
    """Write every figure, S1 and S8 included, and pytest's exit status to ``path``."""
    figures: dict[str, Any] = {
        k: dict(v, figure="; ".join(v["figure"])) for k, v in FIGURES.items()
    }
    figures["pytest_exitstatus"] = exitstatus
    survived = sum(1 for ok in rows.values() if ok)
    if rows:
        missing = sorted(set(range(1, total_rows + 1)) - set(rows))
        failed = sorted(r for r, ok in rows.items() if not ok)
        detail = f"{survived}/{total_rows} rows survived"
        if failed:
            detail += f"; not survived: {failed}"
        if missing:
            detail += f"; not run: {missing}"
        figures["S1"] = {
            "figure": detail,
            "target": f"{total_rows}/{total_rows}",
            "pass": survived == total_rows,
        }
    if CANARY["scans"]:
        figures["S8"] = {
            "figure": f"{CANARY['found']} canary occurrences in {CANARY['scans']} scans",
            "target": "0",
            "pass": CANARY["found"] == 0,
        }
    with open(path, "w", encoding="utf-8") as out:
        json.dump(figures, out, indent=2, sort_keys=True)
