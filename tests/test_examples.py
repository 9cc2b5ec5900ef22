"""The runnable examples, driven in-process against the fake server."""

from __future__ import annotations

import asyncio
import importlib
import io
import json
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp.test_utils import TestServer

import moveworks_async as mw
from moveworks_async import _transport_choice
from moveworks_async._sse import SSEDecoder
from moveworks_async.testing import Answer, FakeMoveworks

pytestmark = pytest.mark.asyncio

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def example(name: str) -> ModuleType:
    """Import ``examples/<name>.py`` the way ``python examples/<name>.py`` would see it."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    return importlib.import_module(name)


def client_for(server: FakeMoveworks) -> mw.AsyncMoveworks:
    """A client of ``server`` on the generation the examples default to."""
    return mw.AsyncMoveworks(
        assistant_name="acme-capi", token="test-token", base_url=server.url, api_version="v1"
    )


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until ``predicate()`` holds; fail after ``timeout`` seconds."""
    with anyio.fail_after(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def frames(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """The relay's SSE frames as (event name, decoded data)."""
    decoder = SSEDecoder()
    async for chunk in response.content.iter_any():
        for event in decoder.feed(chunk):
            yield event.event, json.loads(event.data)


async def until_done(response: aiohttp.ClientResponse, question_id: str) -> dict[str, list[Any]]:
    """Every frame of one question, by event name, up to and including its ``done`` frame."""
    seen: dict[str, list[Any]] = {}
    async for name, data in frames(response):
        if data.get("id") == question_id:
            seen.setdefault(name, []).append(data)
            if name in ("done", "failed"):
                return seen
    raise AssertionError("the feed ended before the answer was done")


LONG_ANSWER = Answer(
    text="John Doe reports to Jane Smith, Director of Platform Engineering. " * 4,
    reasoning=("Looking up John Doe",),
    citations=(("Org chart", "https://people.example.com/org"),) * 2,
    actions=(
        {"type": "URL_ACTION", "label": "Open org chart", "url_action": {"url": "https://o"}},
    ),
    snapshots=6,
)


async def test_relay_broadcasts_one_upstream_stream_to_every_viewer() -> None:
    """Two viewers both receive the reasoning, the growing answer and the summary of one stream."""
    relay = example("relay")
    async with (
        FakeMoveworks(stream_delay=0, answer=lambda _: LONG_ANSWER) as server,
        client_for(server) as client,
        TestServer(relay.make_app(client)) as http,
        aiohttp.ClientSession() as session,
        session.get(http.make_url("/events")) as first,
        session.get(http.make_url("/events")) as second,
    ):
        assert first.headers["Content-Type"] == "text/event-stream"
        reply = await session.post(http.make_url("/ask"), json={"text": "Who is John's boss?"})
        assert reply.status == 202
        question_id = (await reply.json())["id"]
        for viewer in (first, second):
            seen = await until_done(viewer, question_id)
            assert seen["question"][0]["text"] == "Who is John's boss?"
            assert seen["reasoning"][0]["text"] == "Looking up John Doe"
            assert len(seen["answer"]) == LONG_ANSWER.snapshots
            assert LONG_ANSWER.text.startswith(seen["answer"][0]["text"])
            done = seen["done"][0]
            assert done["status"] == "COMPLETED"
            assert done["text"] == LONG_ANSWER.text
            assert done["sources"] == [
                {"title": "Org chart", "url": "https://people.example.com/org"}
            ]
            assert done["links"] == [{"label": "Open org chart", "url": "https://o"}]
        assert server.stats.creates == 1
        assert server.stats.stream_opened == 1


async def test_relay_closes_upstream_when_the_last_viewer_disconnects() -> None:
    """A viewer leaving mid-answer closes the upstream stream long before it would end."""
    from moveworks_async import _transport_choice as _transport

    # aiohttp's one pool: the stream reuses the conversation call's idle connection and
    # closes it. pyreqwest keeps calls and streams in separate pools (reqwest's timeouts are
    # per client), so the call's idle keep-alive connection stays pooled, open.
    idle = 0 if _transport.DEFAULT_TRANSPORT == "aiohttp" else 1
    relay = example("relay")
    # 200 snapshots 50 ms apart: the stream would run for 10 s if nobody closed it.
    endless = Answer(text="x" * 2000, reasoning=(), citations=(), snapshots=200)
    async with (
        FakeMoveworks(answer=lambda _: endless, stream_delay=0.05) as server,
        client_for(server) as client,
        TestServer(relay.make_app(client)) as http,
        aiohttp.ClientSession() as session,
    ):
        async with session.get(http.make_url("/events")) as viewer:
            reply = await session.post(http.make_url("/ask"), json={"text": "go on forever"})
            question_id = (await reply.json())["id"]
            async for name, data in frames(viewer):
                if name == "answer" and data["id"] == question_id:
                    break
            assert server.stats.stream_opened == 1
            assert server.stats.stream_closed == 0
        await eventually(lambda: server.stats.stream_closed == 1, timeout=3.0)
        await eventually(lambda: server.stats.open_connections == idle, timeout=3.0)


async def test_relay_late_viewer_catches_up_on_an_answer_in_flight() -> None:
    """A viewer that joins mid-answer first gets the question and the latest answer snapshot."""
    relay = example("relay")
    slow = Answer(text="y" * 400, reasoning=("Thinking",), citations=(), snapshots=40)
    async with (
        FakeMoveworks(answer=lambda _: slow, stream_delay=0.02) as server,
        client_for(server) as client,
        TestServer(relay.make_app(client)) as http,
        aiohttp.ClientSession() as session,
        session.get(http.make_url("/events")) as early,
    ):
        reply = await session.post(http.make_url("/ask"), json={"text": "slowly"})
        question_id = (await reply.json())["id"]
        async for name, _ in frames(early):
            if name == "answer":
                break
        async with session.get(http.make_url("/events")) as late:
            seen = await until_done(late, question_id)
        assert seen["question"][0]["text"] == "slowly"
        assert seen["reasoning"][0]["text"] == "Thinking"
        assert seen["done"][0]["text"] == slow.text


async def test_relay_page_and_input_validation() -> None:
    """The page uses EventSource; an empty or non-JSON question is a 400 and starts nothing."""
    relay = example("relay")
    async with (
        FakeMoveworks(stream_delay=0) as server,
        client_for(server) as client,
        TestServer(relay.make_app(client)) as http,
        aiohttp.ClientSession() as session,
    ):
        page = await (await session.get(http.make_url("/"))).text()
        assert "new EventSource(" in page
        assert (await session.post(http.make_url("/ask"), json={"text": "  "})).status == 400
        assert (await session.post(http.make_url("/ask"), data=b"nope")).status == 400
        assert server.stats.creates == 0


async def test_worker_pool_answers_1000_questions_with_bounded_concurrency() -> None:
    """1,000 questions give 1,000 answers and creates, never more than 50 in flight."""
    pool = example("worker_pool")
    questions = [f"question {n}" for n in range(1000)]
    async with (
        FakeMoveworks(stream_delay=0, polls_to_complete=1, record=False) as server,
        client_for(server) as c,
    ):
        result = await pool.answer_all(c, questions, workers=50)
    assert result.failures == {}
    assert len(result.answers) == 1000
    assert all(a is not None and a.status == mw.ResponseStatus.COMPLETED for a in result.answers)
    # Answers line up with their questions (the default answer quotes the question).
    assert all(f"\u201c{q}\u201d" in a.text for q, a in zip(questions, result.answers, strict=True))
    assert server.stats.creates == 1000
    assert result.max_in_flight == 50
    # aiohttp caps sockets. pyreqwest caps requests in flight, and hyper hands a finished
    # request's connection back to its pool on its own task, so a worker's next request can
    # open a socket in that gap (README, Transports: a few more may briefly open; 51 in 3 of 40
    # runs here). Unbounded workers would open about 100 there (its max_connections).
    slack = 0 if _transport_choice.DEFAULT_TRANSPORT == "aiohttp" else 5
    assert server.stats.max_open_connections <= 50 + slack


async def test_worker_pool_records_failures_and_goes_on() -> None:
    """A question that cannot be asked is a recorded failure; the other answers still arrive."""
    pool = example("worker_pool")
    async with (
        FakeMoveworks(stream_delay=0, polls_to_complete=1) as server,
        client_for(server) as client,
    ):
        result = await pool.answer_all(client, ["fine", "", "also fine"], workers=2)
    assert [a is not None for a in result.answers] == [True, False, True]
    assert list(result.failures) == [1]


async def test_worker_pool_main_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """``main(["--simulate"])`` answers the generated questions and exits 0."""
    pool = example("worker_pool")
    assert await pool.main(["--simulate", "--count", "20", "--workers", "20"]) == 0
    assert "answered 20/20 questions" in capsys.readouterr().out


async def test_bot_streams_answers_and_submits_helpful_feedback() -> None:
    """Each answer is printed and rated helpful; the fake records one rating per answer."""
    bot = example("bot")
    out = io.StringIO()
    questions = ["How do I reset my password?", "", "What is the PTO policy?"]
    async with FakeMoveworks(stream_delay=0) as server, client_for(server) as client:
        responses = await bot.run_bot(client, questions, out)
    assert len(responses) == 2
    assert [f.rating for f in server.feedback] == ["helpful", "helpful"]
    assert [f.response_id for f in server.feedback] == [r.response_id for r in responses]
    assert {f.conversation_id for f in server.feedback} == {responses[0].conversation_id}
    text = out.getvalue()
    for response in responses:
        assert response.text in text
    assert text.count("(rated helpful)") == 2


async def test_bot_main_reads_questions_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``main(["--simulate"])`` answers the lines of stdin until end of input."""
    bot = example("bot")
    monkeypatch.setattr(sys, "stdin", io.StringIO("first question\nsecond question\n"))
    assert await bot.main(["--simulate"]) == 0
    out = capsys.readouterr().out
    assert "> first question" in out
    assert "> second question" in out
    assert out.count("(rated helpful)") == 2


async def test_examples_read_the_environment_like_the_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --simulate an example's client comes from MOVEWORKS_* (read by the library);
    a missing one stops it with a message naming the variable."""
    bot = example("bot")
    monkeypatch.setattr(sys, "stdin", io.StringIO("a question\n"))
    with pytest.raises(SystemExit, match=r"MOVEWORKS_TOKEN.*--simulate"):
        await bot.main([])
    async with FakeMoveworks(stream_delay=0) as server:
        monkeypatch.setenv("MOVEWORKS_ASSISTANT_NAME", "acme-capi")
        monkeypatch.setenv("MOVEWORKS_TOKEN", "test-token")
        monkeypatch.setenv("MOVEWORKS_BASE_URL", server.url)
        assert await bot.main([]) == 0
        assert server.requests[0].path.startswith("/rest/v1/")  # the one default generation
    assert "(rated helpful)" in capsys.readouterr().out
