"""One entry point for every check: ``nox -s lint typecheck tests`` (and ``bench``,
``reliability``)."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = ["3.11"]


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite (the same command as the README and .ci/run)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package and on the user-side typing examples."""
    session.install("-e", ".[test]", "mypy>=1.10")
    session.run("mypy", "-p", "moveworks_async")
    session.run("mypy", "tests/typing")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks against raw aiohttp and peers; ``nox -s bench -- --quick`` for a short run."""
    session.install("-e", ".[test,bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)


@nox.session(python=PYTHON)
def reliability(session: nox.Session) -> None:
    """The reliability scorecard: tests/reliability at full soak size (10,000 cancelled
    streams, 1,000 cut streams, 1,000-task storms, 10,000 hypothesis examples per property),
    then the S1-S12 table; fails on any missed or unmeasured row."""
    session.install("-e", ".[test]")
    out = session.create_tmp()
    card = f"{out}/scorecard.json"
    env = {"MWA_SOAK_SCALE": "1", "MWA_SCORECARD": card}
    # The table is printed even when tests fail: it says which rows missed.
    session.run(
        "python",
        "-m",
        "pytest",
        "tests/reliability",
        "-q",
        *session.posargs,
        env=env,
        success_codes=[0, 1],
    )
    session.run("python", "tests/reliability/scorecard.py", card)
