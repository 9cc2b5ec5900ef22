"""Render the reliability scorecard (README, "Reliability") from the figures the suite wrote.

    python tests/reliability/scorecard.py SCORECARD.json

Prints one row per S1-S12 (row, figure, target, pass) and exits 1 if any row missed its
target or was not measured at all (a figure that was never recorded is a miss, not a pass),
or if pytest itself failed.
"""

from __future__ import annotations

import json
import sys

ROWS = {
    "S1": "Faults survived (catalogue rows)",
    "S2": "429 storm",
    "S3": "401 storm",
    "S4": "Leaks (cancelled streams)",
    "S5": "Stream integrity (cut streams)",
    "S6": "Duplicate creates",
    "S7": "Deadline adherence",
    "S8": "Secret leakage (canary)",
    "S9": "Parser properties",
    "S10": "Memory caps",
    "S11": "Hostile input rejection",
    "S12": "Retry timing",
}


def render(figures: dict[str, dict[str, object]]) -> tuple[str, bool]:
    """The table as text, and whether every row passed."""
    lines = ["| row | what | figure | target | pass |", "|---|---|---|---|---|"]
    ok = True
    for sid, what in ROWS.items():
        entry = figures.get(sid)
        if entry is None:
            lines.append(f"| {sid} | {what} | not measured | - | FAIL |")
            ok = False
            continue
        passed = bool(entry["pass"])
        ok = ok and passed
        figure = str(entry["figure"])
        if len(figure) > 400:
            figure = figure[:400] + " ..."
        lines.append(
            f"| {sid} | {what} | {figure} | {entry['target']} | {'pass' if passed else 'FAIL'} |"
        )
    return "\n".join(lines), ok


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    with open(argv[1], encoding="utf-8") as source:
        figures = json.load(source)
    status = figures.pop("pytest_exitstatus", 0)
    table, ok = render(figures)
    print(table)
    if status:
        print(f"\npytest exited with status {status}: a test outside the scorecard rows failed")
        ok = False
    print("\nscorecard:", "all on target" if ok else "MISSED (see FAIL rows)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
