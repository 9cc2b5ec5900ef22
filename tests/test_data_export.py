"""``AsyncDataAPI.export``: JSON Lines as received, checkpoints, resuming without duplicates."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from conftest import FakeTime

import moveworks_async as mw
from moveworks_async.testing import FakeMoveworks, Fault
from moveworks_async.testing._data_api import iter_generated

pytestmark = pytest.mark.asyncio

KEY = "test-data-key"
PAGE = 10


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeMoveworks]:
    async with FakeMoveworks() as s:
        s.data_api.page_size = PAGE
        s.data_api.generate("interactions", 95)
        yield s


def data_api(server: FakeMoveworks, fake_time: FakeTime) -> mw.AsyncDataAPI:
    return mw.AsyncDataAPI(
        api_key=KEY, base_url=server.url, clock=fake_time.clock, sleep=fake_time.sleep
    )


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def page_requests(server: FakeMoveworks) -> int:
    return sum(1 for r in server.requests if r.path.startswith("/export/"))


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def checkpoint(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.with_name(path.name + ".checkpoint").read_text())
    return data


async def test_export_writes_every_record_as_received(
    server: FakeMoveworks, fake_time: FakeTime, tmp_path: Path
) -> None:
    out = tmp_path / "interactions.jsonl"
    counts: list[int] = []
    async with data_api(server, fake_time) as data:
        count = await data.export("interactions", out, progress=counts.append)
    assert count == 95
    assert lines(out) == list(iter_generated("interactions", 95))
    assert out.read_bytes().endswith(b"}\n")
    assert counts == [10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    state = checkpoint(out)
    assert state["next"] is None
    assert state["count"] == 95
    assert state["offset"] == out.stat().st_size
    assert KEY not in json.dumps(state)


async def test_export_takes_the_iterator_options(
    server: FakeMoveworks, fake_time: FakeTime, tmp_path: Path
) -> None:
    out = tmp_path / "x.jsonl"
    async with data_api(server, fake_time) as data:
        count = await data.export(
            "interactions", out, select=["id", "platform"], filter="platform eq 'slack'"
        )
        with pytest.raises(mw.InvalidParameterError, match="unknown option"):
            await data.export("interactions", out, limit=3)  # type: ignore[call-arg]
    assert count == 48
    assert lines(out)[0] == {"id": "00000000-0000-4000-8000-000000000000", "platform": "slack"}


async def test_interrupted_export_resumes_without_duplicates(
    server: FakeMoveworks, fake_time: FakeTime, tmp_path: Path
) -> None:
    out = tmp_path / "i.jsonl"
    async with data_api(server, fake_time) as data:
        seen = 0

        def fail_later(count: int) -> None:
            nonlocal seen
            seen = count
            if count == 30:  # after three pages, the next page request is refused
                server.inject(Fault.status(400), times=1, path_contains="/export/")

        with pytest.raises(mw.BadRequestError):
            await data.export("interactions", out, progress=fail_later)
        assert len(lines(out)) == 30
        assert checkpoint(out)["count"] == 30
        count = await data.export("interactions", out)
    assert count == 95
    assert lines(out) == list(iter_generated("interactions", 95))


async def test_resume_after_a_crash_mid_page_with_a_torn_line(
    server: FakeMoveworks, fake_time: FakeTime, tmp_path: Path
) -> None:
    """A crash after part of page 4 was written and before its checkpoint: the written records
    are kept once, the torn line is cut, the page is fetched again."""
    out = tmp_path / "i.jsonl"
    async with data_api(server, fake_time) as data:
        await data.export("interactions", out)
        full = out.read_bytes()
        state = checkpoint(out)
        # Rewind to the state right after page 3, then append 4 records of page 4 and half
        # a fifth, as a process killed mid-write would leave it.
        records = full.splitlines(keepends=True)
        head = b"".join(records[:30])
        torn = b"".join(records[30:34]) + records[34][: len(records[34]) // 2]
        out.write_bytes(head + torn)
        resumed_from = state.copy()
        resumed_from.update(offset=len(head), count=30, next=_link_after(server, 30))
        _write_checkpoint(out, resumed_from)
        before = page_requests(server)
        count = await data.export("interactions", out)
    assert count == 95
    assert out.read_bytes() == full
    assert page_requests(server) - before == 7  # pages 4 to 10 only


async def test_resume_by_position_when_records_have_no_id(
    server: FakeMoveworks, fake_time: FakeTime, tmp_path: Path
) -> None:
    out = tmp_path / "p.jsonl"
    options: dict[str, Any] = {"select": ["platform", "created_time"]}
    async with data_api(server, fake_time) as data:
        await data.export("interactions", out, **options)
        full = out.read_bytes()
        state = checkpoint(out)
        records = full.splitlines(keepends=True)
        out.write_bytes(b"".join(records[:23]) + b'{"platf')
        state.update(offset=len(b"".join(records[:20])), count=20)
        state["next"] = _link_after(server, 20, select="platform,created_time")
        _write_checkpoint(out, state)
        assert await data.export("interactions", out, **options) == 95
    assert out.read_bytes() == full


async def test_a_finished_export_is_not_fetched_again(
    server: FakeMoveworks, fake_time: FakeTime, tmp_path: Path
) -> None:
    out = tmp_path / "i.jsonl"
    async with data_api(server, fake_time) as data:
        await data.export("interactions", out)
        before = page_requests(server)
        assert await data.export("interactions", out) == 95
        assert page_requests(server) == before
        # resume=False starts over and overwrites.
        server.data_api.generate("interactions", 12)
        assert await data.export("interactions", out, resume=False) == 12
    assert lines(out) == list(iter_generated("interactions", 12))


async def test_resume_refuses_a_file_it_cannot_trust(
    server: FakeMoveworks, fake_time: FakeTime, tmp_path: Path
) -> None:
    out = tmp_path / "i.jsonl"
    async with data_api(server, fake_time) as data:
        await data.export("interactions", out, top=15)
        with pytest.raises(mw.InvalidParameterError, match="other options"):
            await data.export("interactions", out, top=16)
        with pytest.raises(mw.InvalidParameterError, match="other options"):
            await data.export("users", out, top=15)
        other = tmp_path / "mine.jsonl"
        other.write_text('{"id": "precious"}\n')
        with pytest.raises(mw.InvalidParameterError, match="no export checkpoint"):
            await data.export("interactions", other)
        assert other.read_text() == '{"id": "precious"}\n'
        state = checkpoint(out)
        state.update(next=_link_after(server, 10, top=15), offset=10**9)
        _write_checkpoint(out, state)
        with pytest.raises(mw.InvalidParameterError, match="shorter than its checkpoint"):
            await data.export("interactions", out, top=15)


async def test_a_checkpoint_that_is_not_json_is_refused_without_the_decoder_error(
    server: FakeMoveworks, fake_time: FakeTime, tmp_path: Path
) -> None:
    """A corrupt checkpoint file: InvalidParameterError naming the way out, carrying no
    decoder error as its context (that would hold the file's text, and show in tracebacks
    the decoder's own wording instead of the package's)."""
    out = tmp_path / "i.jsonl"
    async with data_api(server, fake_time) as data:
        await data.export("interactions", out, top=15)
        out.with_name(out.name + ".checkpoint").write_text('{"version": 2, "kind": ')
        with pytest.raises(mw.InvalidParameterError, match="resume=False") as raised:
            await data.export("interactions", out, top=15)
    assert "is not a valid export checkpoint" in str(raised.value)
    assert raised.value.__context__ is None
    assert raised.value.__cause__ is None


def _write_checkpoint(out: Path, state: dict[str, Any]) -> None:
    out.with_name(out.name + ".checkpoint").write_text(json.dumps(state))


def _link_after(server: FakeMoveworks, pos: int, **query: Any) -> str:
    """The next link the fake would send after ``pos`` records of an unfiltered query, as a
    checkpoint holds it (path and query: the origin is recorded once, beside it)."""
    from moveworks_async.testing._data_api import _encode_token

    state = {
        "f": None,
        "s": query.get("select"),
        "o": None,
        "pos": pos,
        "skip": 0,
        "left": None if "top" not in query else query["top"] - pos,
    }
    assert server.url  # the link would be on this server
    return f"/export/v1/records/interactions?$skiptoken={_encode_token(state)}"


async def test_resume_from_any_crash_point_gives_the_same_file(
    server: FakeMoveworks, fake_time: FakeTime, tmp_path: Path
) -> None:
    """Every state a killed export can leave (checkpoint after page k; the file cut anywhere
    in page k+1, including exactly at its end before the checkpoint moved) resumes to the
    complete file, fetching only the pages from k+1 on."""
    out = tmp_path / "i.jsonl"
    states: list[dict[str, Any]] = []
    async with data_api(server, fake_time) as data:
        await data.export("interactions", out, progress=lambda _: states.append(checkpoint(out)))
        full = out.read_bytes()
        # Before the first page: the checkpoint points at the first page (its relative URL).
        states.insert(0, {**states[0], "next": states[0]["first"], "offset": 0, "count": 0})
        for k in range(len(states) - 1):
            begin, end = states[k]["offset"], states[k + 1]["offset"]
            for cut in sorted({begin, begin + 1, (begin + end) // 2, end - 1, end}):
                out.write_bytes(full[:cut])
                _write_checkpoint(out, states[k])
                before = page_requests(server)
                assert await data.export("interactions", out) == 95
                assert out.read_bytes() == full, (k, cut)
                assert page_requests(server) - before == len(states) - 1 - k


@pytest.mark.parametrize("which", ["path", "checkpoint"])
async def test_export_to_a_non_regular_file_is_refused_before_any_io(
    server: FakeMoveworks, fake_time: FakeTime, tmp_path: Path, which: str
) -> None:
    out = tmp_path / "interactions.jsonl"
    target = out if which == "path" else out.with_name(out.name + ".checkpoint")
    os.mkfifo(target)  # a FIFO of our own, never a real device
    async with data_api(server, fake_time) as data:
        with pytest.raises(mw.InvalidParameterError, match=f"^{which} .* is not a regular file$"):
            await data.export("interactions", out)
    assert page_requests(server) == 0
    assert target.is_fifo()  # not replaced
    assert names(tmp_path) == [target.name]


async def test_export_to_a_directory_is_refused(
    server: FakeMoveworks, fake_time: FakeTime, tmp_path: Path
) -> None:
    async with data_api(server, fake_time) as data:
        with pytest.raises(mw.InvalidParameterError, match=r"is a directory$"):
            await data.export("interactions", tmp_path)
    assert page_requests(server) == 0
    assert names(tmp_path) == []
