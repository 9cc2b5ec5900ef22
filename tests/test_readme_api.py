"""The README's Events API and Data API examples run as written, pointed at FakeMoveworks."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

import moveworks_async as mw
from moveworks_async.testing import FakeMoveworks

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _block(marker: str) -> str:
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", README, flags=re.S) if marker in b]
    return block


def _run_example(code: str, monkeypatch: pytest.MonkeyPatch, prepare: Any, tmp_path: Path) -> None:
    url: list[str] = []

    class Client(mw.AsyncMoveworks):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.update(base_url=url[0], token="test-token")
            super().__init__(**kwargs)

    class Data(mw.AsyncDataAPI):
        def __init__(self, **kwargs: Any) -> None:
            kwargs.update(base_url=url[0], api_key="test-data-key")
            super().__init__(**kwargs)

    def run(coro: Coroutine[Any, Any, None]) -> None:
        async def with_server() -> None:
            async with FakeMoveworks() as server:
                prepare(server)
                url.append(server.url)
                await coro

        asyncio.run(with_server())

    monkeypatch.setattr(mw, "AsyncMoveworks", Client)
    monkeypatch.setattr(mw, "AsyncDataAPI", Data)
    monkeypatch.chdir(tmp_path)
    assert code.count("asyncio.run(") == 1
    source = re.sub(r"asyncio\.run\((\w+)\(\)\)", r"run(\1())", code)
    exec(compile(source, "README", "exec"), {"__name__": "readme_example", "run": run})


def test_events_api_example(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def prepare(server: FakeMoveworks) -> None:
        server.events_api.register("123e4567-e89b-42d3-a456-426614174000")

    _run_example(_block("client.notifications.send("), monkeypatch, prepare, tmp_path)
    assert capsys.readouterr().out == "RECEIVED\n3 batches\n"


def test_data_api_example(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def prepare(server: FakeMoveworks) -> None:
        server.data_api.generate("conversations", 3)
        server.data_api.generate("users", 2)
        server.data_api.generate("interactions", 1200)

    _run_example(_block("mw.AsyncDataAPI("), monkeypatch, prepare, tmp_path)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("conv_000000000002 Channel 2026-01-01 00:00:02")
    assert out[3:] == ["user0@example.com", "user1@example.com", "1200 records"]
    assert len((tmp_path / "interactions.jsonl").read_text().splitlines()) == 1200
    assert os.path.exists(tmp_path / "interactions.jsonl.checkpoint")
