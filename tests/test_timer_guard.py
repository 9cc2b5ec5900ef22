"""The conftest guard that keeps every stream timeout test in virtual time (issue 13): a test
whose stream times out on the real clock fails unless it is marked ``virtual_time`` (or says
why it needs real time with ``real_time_timers``).

It runs a small pytest session in a subprocess with this suite's conftest; the guarded test
there waits 50 ms of real time, once, on purpose.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).parent

INNER = """
import asyncio

import pytest
from _core_support import black_hole

import moveworks_async as mw


async def _stream() -> None:
    async with black_hole() as (url, _):
        async with mw.AsyncMoveworks(assistant_name="a", token="t", base_url=url) as c:
            with pytest.raises(mw.FirstEventTimeout):
                async with c.responses.stream("conv_1", text="hi", first_event_timeout=LIMIT):
                    pass


@pytest.mark.asyncio
async def test_real_time() -> None:
    await _stream()


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_virtual_time() -> None:
    await _stream()


@pytest.mark.asyncio
@pytest.mark.real_time_timers("said why")
async def test_excused() -> None:
    await _stream()
"""


def test_a_stream_timer_fired_in_real_time_fails_the_test(tmp_path: Path) -> None:
    for name in ("conftest.py", "_virtual_loop.py", "_core_support.py"):
        shutil.copy(TESTS / name, tmp_path / name)
    (tmp_path / "test_inner.py").write_text(INNER.replace("LIMIT", "0.05"), encoding="utf-8")
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
        "markers =\n    virtual_time: v\n    real_time_timers(reason): r\n",
        encoding="utf-8",
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = run.stdout
    assert "ERROR test_inner.py::test_real_time" in out, out
    assert "a stream timer fired in real time (opening: FirstEventTimeout" in out, out
    assert "PASSED test_inner.py::test_virtual_time" in out, out
    assert "PASSED test_inner.py::test_excused" in out, out
