"""The README's promises stay true: its example runs, and its commands are the ones CI runs."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

import moveworks_async as mw
from moveworks_async.testing import FakeMoveworks

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_thirty_second_example_runs_against_the_fake(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first Python block of the README runs as written, pointed at FakeMoveworks."""
    example = _blocks("python")[0]
    assert "asyncio.run(main())" in example
    url: list[str] = []

    class PointedAtFake(mw.AsyncMoveworks):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.update(base_url=url[0], token="test-token")
            super().__init__(**kwargs)

    def run(coro: Coroutine[Any, Any, None]) -> None:
        async def with_server() -> None:
            async with FakeMoveworks(stream_delay=0) as server:
                url.append(server.url)
                await coro

        asyncio.run(with_server())

    monkeypatch.setattr(mw, "AsyncMoveworks", PointedAtFake)
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(
        compile(example.replace("asyncio.run(main())", "run(main())"), "README", "exec"),
        {**namespace, "run": run},
    )
    out = capsys.readouterr().out
    assert "COMPLETED" in out
    # A citation URL from the final response, on a line of its own (not glued to the
    # streamed answer, which ends without a newline).
    assert re.search(r"^https://\S+$", out, flags=re.M), out
    assert not re.search(r"\Shttps://", out), out


def test_readme_test_command_is_what_ci_runs() -> None:
    """The README's test command appears verbatim in .ci/run."""
    commands = [b for b in _blocks("bash") if "pytest" in b]
    assert commands, "README has no test command"
    command = commands[0].strip()
    assert command in (ROOT / ".ci" / "run").read_text()


def test_readme_main_job_uses_simulate() -> None:
    """The README's main-job command installs the package and chats against the fake server."""
    first = _blocks("bash")[0].strip()
    assert first.startswith("pip install .")
    assert "moveworks-async chat --simulate" in first


def test_testing_kit_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's FakeMoveworks example (constructor options, inject with conversation_id,
    path_contains and times) runs as written: the cut stream is recovered, the 503 retried."""
    [example] = [b for b in _blocks("python") if "path_contains=" in b and "asyncio.run" in b]
    exec(compile(example, "README", "exec"), {"__name__": "readme_testing_kit"})
    text, url, history = capsys.readouterr().out.rsplit(" ", 2)
    assert text == "Jane Smith"
    assert url == "https://wiki/org"
    assert int(history) >= 2


def test_fake_server_options_table_lists_every_constructor_option() -> None:
    """Every FakeMoveworks keyword argument is in the README's options table."""
    import inspect

    table = README.split("`FakeMoveworks(...)` takes only keyword arguments")[1].split("\n\n")[1]
    for name in inspect.signature(FakeMoveworks).parameters:
        assert f"`{name}`" in table, name
