"""Streaming under faults: cuts, stalls, timeouts, error events, bad data, sequence problems,
errors before the stream starts, cancellation and connection accounting (fault catalogue
rows 6-25 and 44-49, tested one by one in tests/reliability/)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import pytest_asyncio
from _stream_support import (
    CID,
    FINAL_TEXT,
    RID,
    ScriptServer,
    acquired,
    collect,
    collect_into,
    completed_response,
    event,
    frame,
    happy_events,
    make_client,
    message_item,
    response_json,
    scripted,
    settle,
)
from aiohttp import web
from aiohttp.test_utils import TestServer

import moveworks_async as mw
from moveworks_async.testing import FakeMoveworks, Fault

pytestmark = [pytest.mark.asyncio, pytest.mark.virtual_time]

ANSWER = "To request a new laptop, open the hardware portal and choose the standard model."


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeMoveworks]:
    """A fake Moveworks server with a scripted answer and instant streams."""
    async with FakeMoveworks(stream_delay=0.0, polls_to_complete=2, answer={"hi": ANSWER}) as s:
        yield s


@pytest_asyncio.fixture
async def client(server: FakeMoveworks, fake_time: Any) -> AsyncIterator[mw.AsyncMoveworks]:
    """A v1beta1 client of ``server`` whose client-side sleeps (polls, backoff) are instant."""
    async with make_client(server.url, "v1beta1", fake_time) as c:
        yield c


async def _conversation(client: mw.AsyncMoveworks) -> str:
    return (await client.conversations.create()).conversation_id


async def _truth(client: mw.AsyncMoveworks, cid: str, rid: str | None) -> mw.Response:
    assert rid is not None
    return await client.responses.get(cid, rid)


async def _no_leak(server: FakeMoveworks, client: mw.AsyncMoveworks) -> None:
    """Every stream the server opened is closed, and the client holds no connection."""
    assert await settle(lambda: server.stats.stream_closed == server.stats.stream_opened)
    assert acquired(client) == 0


# --- premature end (rows 6-8) ----------------------------------------------------------------


@pytest.mark.parametrize("reset", [False, True], ids=["clean-eof", "tcp-reset"])
async def test_cut_before_terminal_recovers(
    server: FakeMoveworks, client: mw.AsyncMoveworks, reset: bool
) -> None:
    """A cut after 3 events: the 3 are delivered, then a recovered terminal event; no re-POST."""
    cid = await _conversation(client)
    server.inject(Fault.cut_stream(after_events=3, reset=reset), times=1)
    async with client.responses.stream(cid, text="hi") as stream:
        events = await collect(stream)
        final = await stream.final_response()
    assert [type(e) for e in events] == [
        mw.ResponseCreated,
        mw.ResponseInProgress,
        mw.ResponseOutputDelta,
        mw.ResponseCompleted,
    ]
    assert [e.sequence_number for e in events] == [1, 2, 3, None]
    assert events[-1].recovered is True
    assert events[-1].response is final
    assert final.text == ANSWER == (await _truth(client, cid, stream.response_id)).text
    assert server.stats.creates == 1
    assert server.stats.creates_per_conversation[cid] == 1
    await _no_leak(server, client)


async def test_cut_recovery_upserts_messages(
    server: FakeMoveworks, client: mw.AsyncMoveworks
) -> None:
    """After a recovery ``stream.messages`` holds the final outputs."""
    cid = await _conversation(client)
    server.inject(Fault.cut_stream(after_events=4), times=1)
    async with client.responses.stream(cid, text="hi") as stream:
        final = await stream.final_response()
    messages = [m for m in stream.messages if isinstance(m, mw.MessageOutput)]
    assert [m.message.text for m in messages] == [ANSWER]
    assert final.text == ANSWER


async def test_cut_with_recover_false_raises_then_final_response_recovers(
    server: FakeMoveworks, client: mw.AsyncMoveworks
) -> None:
    """``recover=False``: iteration raises StreamInterruptedError; final_response() still polls."""
    cid = await _conversation(client)
    server.inject(Fault.cut_stream(after_events=3), times=1)
    async with client.responses.stream(cid, text="hi", recover=False) as stream:
        events: list[Any] = []
        with pytest.raises(mw.StreamInterruptedError) as info:
            await collect_into(stream, events)
        assert len(events) == 3
        assert info.value.response_id == stream.response_id is not None
        assert info.value.outcome_unknown is False
        final = await stream.final_response()
    assert final.text == ANSWER
    assert server.stats.creates == 1


async def test_cut_before_created_is_outcome_unknown(
    server: FakeMoveworks, client: mw.AsyncMoveworks
) -> None:
    """A stream that ends before RESPONSE_CREATED cannot be recovered: outcome unknown."""
    cid = await _conversation(client)
    server.inject(Fault.cut_stream(after_events=0), times=1)
    async with client.responses.stream(cid, text="hi") as stream:
        with pytest.raises(mw.StreamInterruptedError) as info:
            await collect(stream)
        assert info.value.response_id is None
        assert info.value.outcome_unknown is True
        with pytest.raises(mw.StreamInterruptedError):
            await stream.final_response()
    assert server.stats.creates == 1  # created server-side, never re-sent


async def test_truncated_last_event_is_discarded() -> None:
    """An unterminated event at EOF is not delivered (no JSON error for it); recovery follows."""
    script = [
        event("RESPONSE_CREATED", 1, response=response_json()),
        b'event: RESPONSE_OUTPUT_DELTA\ndata: {"event_type": "RESPONSE_OUT',
    ]
    async with (
        scripted(script, poll_replies=[completed_response()]) as (server, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        events = await collect(stream)
    assert [type(e) for e in events] == [mw.ResponseCreated, mw.ResponseCompleted]
    assert events[-1].recovered
    assert events[-1].response.text == FINAL_TEXT
    assert server.creates == 1
    assert server.polls == 1


async def test_recovery_polls_until_terminal(fake_time: Any) -> None:
    """Recovery keeps polling while the response is IN_PROGRESS."""
    script = happy_events()[:2]
    polls = [response_json("IN_PROGRESS"), response_json("IN_PROGRESS"), completed_response()]
    async with (
        scripted(script, poll_replies=polls) as (server, _),
        make_client(server.url, fake_time=fake_time) as client,
        client.responses.stream(CID, text="q") as stream,
    ):
        final = await stream.final_response()
    assert final.text == FINAL_TEXT
    assert server.polls == 3


async def test_recovered_failed_response_is_response_failed() -> None:
    """If the polled response is FAILED, the synthesized event is ResponseFailed."""
    failed = response_json("FAILED", error={"code": "TIMEOUT", "message": "took too long"})
    async with (
        scripted(happy_events()[:2], poll_replies=[failed]) as (_, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        events = await collect(stream)
        final = await stream.final_response()
    assert isinstance(events[-1], mw.ResponseFailed)
    assert events[-1].recovered
    assert final.status == mw.ResponseStatus.FAILED
    assert final.error is not None
    assert final.error.code == "TIMEOUT"


async def test_recovery_timeout_raises_wait_timeout(fake_time: Any) -> None:
    """A response that never finishes ends the recovery with WaitTimeoutError at the budget."""
    polls = [response_json("IN_PROGRESS")]
    async with (
        scripted(happy_events()[:2], poll_replies=polls) as (server, _),
        make_client(server.url, fake_time=fake_time) as client,
        client.responses.stream(CID, text="q", recover_timeout=10) as stream,
    ):
        with pytest.raises(mw.WaitTimeoutError) as info:
            await collect(stream)
    assert info.value.response_id == RID
    assert server.creates == 1
    assert fake_time.now - 1000.0 <= 10.5


async def test_poll_error_during_recovery_propagates_and_can_be_retried() -> None:
    """A failing poll ends the recovery with StreamInterruptedError naming the response (the
    poll's typed error is its cause); calling final_response() again retries it."""
    polls = [{"error": {"code": "NOT_FOUND", "message": "nope"}}]
    async with (
        scripted(happy_events()[:2], poll_replies=polls) as (server, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        with pytest.raises(mw.StreamInterruptedError) as info:
            await collect(stream)
        assert type(info.value.__cause__) is mw.ResponseValidationError
        assert info.value.response_id == RID
        server.poll_replies = [completed_response()]
        final = await stream.final_response()
    assert final.text == FINAL_TEXT
    assert server.creates == 1


@pytest.mark.parametrize("other", ["resp_OTHER", "../x", "x\r\ny"])
async def test_a_poll_answering_with_another_response_does_not_end_the_stream(
    other: str,
) -> None:
    """A recovery poll whose reply carries another response's id (or an unusable one) is not
    this stream's terminal state: StreamInterruptedError naming the stream's response, the
    mismatch as a ResponseValidationError cause; a later poll with the right id recovers (an
    outside review saw the stream complete with the foreign id)."""
    foreign = {**completed_response(), "response_id": other}
    async with (
        scripted(happy_events()[:2], poll_replies=[foreign]) as (server, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        with pytest.raises(mw.StreamInterruptedError) as info:
            await collect(stream)
        assert info.value.response_id == RID
        assert info.value.outcome_unknown is False
        assert type(info.value.__cause__) is mw.ResponseValidationError
        assert info.value.__cause__.path == "$.response_id"
        server.poll_replies = [completed_response()]
        final = await stream.final_response()
    assert final.response_id == RID
    assert server.creates == 1


@pytest.mark.parametrize(
    ("status", "cause"),
    [
        (500, mw.InternalServerError),
        (503, mw.InternalServerError),
        (401, mw.AuthenticationError),
        (403, mw.PermissionDeniedError),
        (404, mw.NotFoundError),
    ],
)
@pytest.mark.parametrize("reader", ["iterate", "final_response"])
async def test_a_recovery_ending_on_an_error_status_names_the_response(
    fake_time: Any, status: int, cause: type[mw.APIStatusError], reader: str
) -> None:
    """Polls that keep failing (500s after the retries, an auth failure, a 404) end the
    recovery with StreamInterruptedError carrying the response id, outcome known, the poll's
    error as __cause__; before, a bare InternalServerError (no id) left no way to poll later."""
    async with (
        scripted(happy_events()[:2], poll_replies=[status]) as (server, _),
        make_client(server.url, fake_time=fake_time) as client,
        client.responses.stream(CID, text="q") as stream,
    ):
        read = collect(stream) if reader == "iterate" else stream.final_response()
        with pytest.raises(mw.StreamInterruptedError) as info:
            await read
        server.poll_replies = [completed_response()]
        assert (await stream.final_response()).text == FINAL_TEXT  # it can be polled again
    assert info.value.response_id == RID
    assert info.value.outcome_unknown is False
    assert type(info.value.__cause__) is cause
    assert info.value.__cause__.status_code == status
    assert server.creates == 1


# --- stalls and timeouts (rows 9-11, 42) -----------------------------------------------------


async def test_first_event_timeout(server: FakeMoveworks, client: mw.AsyncMoveworks) -> None:
    """No event within first_event_timeout: APITimeoutError(first_event), outcome unknown."""
    cid = await _conversation(client)
    server.inject(Fault.stall(5.0), times=1)
    start = anyio.current_time()
    async with client.responses.stream(cid, text="hi", first_event_timeout=0.1) as stream:
        with pytest.raises(mw.APITimeoutError) as info:
            await collect(stream)
    assert anyio.current_time() - start < 1.0
    assert info.value.phase == "first_event"
    assert type(info.value) is mw.FirstEventTimeout
    assert info.value.outcome_unknown is True
    assert server.stats.creates == 1
    await _no_leak(server, client)


async def _hanging_stream_server() -> TestServer:
    """A started server whose stream endpoint never sends its reply headers."""

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    app = web.Application()
    app.router.add_post("/rest/v1beta1/conversations/{cid}/responses/stream", hang)
    test_server = TestServer(app, handler_cancellation=True)
    await test_server.start_server()
    return test_server


async def test_first_event_timeout_covers_the_reply_headers() -> None:
    """A server that never sends headers is also bounded by first_event_timeout."""
    test_server = await _hanging_stream_server()
    try:
        async with make_client(str(test_server.make_url("")).rstrip("/")) as client:
            start = anyio.current_time()
            with pytest.raises(mw.APITimeoutError) as info:
                async with client.responses.stream(CID, text="q", first_event_timeout=0.1):
                    pass
            assert anyio.current_time() - start < 1.0
            assert info.value.phase == "first_event"
            assert type(info.value) is mw.FirstEventTimeout
            assert info.value.outcome_unknown is True
            assert acquired(client) == 0
    finally:
        await test_server.close()


async def test_comments_before_first_event_do_not_count(
    server: FakeMoveworks, client: mw.AsyncMoveworks
) -> None:
    """Keep-alive comments alone do not satisfy the first-event timeout."""
    cid = await _conversation(client)
    server.inject(Fault.keepalive_only(interval=0.02, duration=5.0), times=1)
    async with client.responses.stream(cid, text="hi", first_event_timeout=0.15) as stream:
        with pytest.raises(mw.APITimeoutError) as info:
            await collect(stream)
    assert info.value.phase == "first_event"
    assert type(info.value) is mw.FirstEventTimeout


async def test_idle_timeout_recovers(server: FakeMoveworks, client: mw.AsyncMoveworks) -> None:
    """A stall mid-stream past idle_timeout closes the stream and recovers by polling."""
    cid = await _conversation(client)
    server.stream_delay = 0.5
    start = anyio.current_time()
    async with client.responses.stream(cid, text="hi", idle_timeout=0.1) as stream:
        events = await collect(stream)
        final = await stream.final_response()
    assert anyio.current_time() - start < 1.0
    assert [type(e) for e in events] == [mw.ResponseCreated, mw.ResponseCompleted]
    assert events[-1].recovered
    assert final.text == ANSWER
    assert server.stats.creates == 1
    await _no_leak(server, client)


async def test_idle_timeout_without_recovery(
    server: FakeMoveworks, client: mw.AsyncMoveworks
) -> None:
    """With ``recover=False`` an idle stall raises APITimeoutError(idle), outcome known."""
    cid = await _conversation(client)
    server.stream_delay = 0.5
    async with client.responses.stream(cid, text="hi", idle_timeout=0.1, recover=False) as stream:
        with pytest.raises(mw.APITimeoutError) as info:
            await collect(stream)
        assert info.value.phase == "idle"
        assert type(info.value) is mw.IdleTimeout
        assert info.value.outcome_unknown is False
        assert (await stream.final_response()).text == ANSWER


async def test_keepalive_comments_count_as_life() -> None:
    """Comments every 30 ms keep a 100 ms idle timeout from firing during a 300 ms pause."""
    script: list[Any] = happy_events()[:3]
    for _ in range(10):
        script += [0.03, b": keep-alive\n"]
    script += happy_events()[3:]
    async with (
        scripted(script) as (server, client),
        client.responses.stream(CID, text="q", idle_timeout=0.1) as stream,
    ):
        events = await collect(stream)
    assert not events[-1].recovered
    assert server.polls == 0
    assert len(events) == 7


async def test_comments_count_against_max_event_size_in_one_write() -> None:
    """39 KB of keep-alive comments between two events, written at once (one read on aiohttp,
    HTTP chunks on pyreqwest), are over a 1,024 B max_event_size on either transport: the
    first event is delivered, then StreamProtocolError names the response to recover."""
    events = happy_events()
    script: list[Any] = [events[0] + b": keep-alive\n\n" * 3000 + b"".join(events[1:])]
    async with (
        scripted(script) as (_, client),
        client.responses.stream(CID, text="q", max_event_size=1024) as stream,
    ):
        seen: list[Any] = []
        with pytest.raises(mw.StreamProtocolError, match="without an event") as info:
            await collect_into(stream, seen)
        assert [type(e) for e in seen] == [mw.ResponseCreated]
        assert info.value.response_id == RID
        assert info.value.outcome_unknown is False


async def test_idle_timeout_not_charged_to_a_slow_consumer() -> None:
    """Time the consumer spends between reads does not count against idle_timeout."""
    script: list[Any] = []
    for frame_bytes in happy_events():
        script += [frame_bytes, 0.01]  # a read per event, each well within the idle timeout
    async with (
        scripted(script) as (server, client),
        client.responses.stream(CID, text="q", idle_timeout=0.05) as stream,
    ):
        events = []
        async for e in stream:
            events.append(e)
            await asyncio.sleep(0.08)
    assert not events[-1].recovered
    assert server.polls == 0


async def test_slow_loris_is_cut_by_the_deadline(
    server: FakeMoveworks, client: mw.AsyncMoveworks
) -> None:
    """Bytes trickling forever keep idle alive, but the overall deadline ends the stream."""
    cid = await _conversation(client)
    server.inject(Fault.slow_loris(delay=0.005, max_seconds=10), times=1)
    start = anyio.current_time()
    async with client.responses.stream(cid, text="hi", idle_timeout=0.1, deadline=0.3) as stream:
        with pytest.raises(mw.APITimeoutError) as info:
            await collect(stream)
        with pytest.raises(mw.APITimeoutError):
            await stream.final_response()
    assert 0.25 <= anyio.current_time() - start < 1.5
    assert info.value.phase == "deadline"
    assert type(info.value) is mw.DeadlineTimeout
    assert server.stats.creates == 1
    await _no_leak(server, client)


async def test_deadline_bounds_the_recovery() -> None:
    """A recovery that would poll past the overall deadline ends with APITimeoutError(deadline)."""
    polls = [response_json("IN_PROGRESS")]
    async with (
        scripted(happy_events()[:2], poll_replies=polls) as (server, client),
        client.responses.stream(CID, text="q", deadline=0.3) as stream,
    ):
        start = anyio.current_time()
        with pytest.raises(mw.APITimeoutError) as info:
            await collect(stream)
        assert anyio.current_time() - start < 1.0
        with pytest.raises(mw.APITimeoutError):
            await stream.final_response()
    assert info.value.phase == "deadline"
    assert type(info.value) is mw.DeadlineTimeout
    assert server.polls >= 1
    assert server.creates == 1


async def test_long_stream_is_not_cut_by_a_total_timeout() -> None:
    """The client's non-streaming total timeout does not apply to streams."""
    script: list[Any] = happy_events()[:3]
    script += [0.15]
    script += happy_events()[3:]
    async with (
        scripted(script) as (server, _),
        make_client(server.url, timeout=mw.Timeout(total=0.05)) as client,
        client.responses.stream(CID, text="q") as stream,
    ):
        events = await collect(stream)
    assert not events[-1].recovered


# --- server-side errors in the stream (rows 17-19, 23) ---------------------------------------


async def test_error_event(server: FakeMoveworks, client: mw.AsyncMoveworks) -> None:
    """ERROR: earlier events delivered, then StreamError with code, message and response id."""
    cid = await _conversation(client)
    server.inject(Fault.error_event(code="MODEL_OVERLOADED", message="try later", after_events=3))
    async with client.responses.stream(cid, text="hi") as stream:
        events: list[Any] = []
        with pytest.raises(mw.StreamError) as info:
            await collect_into(stream, events)
        assert len(events) == 3
        assert info.value.code == "MODEL_OVERLOADED"
        assert info.value.message == "try later"
        assert info.value.response_id == stream.response_id is not None
        with pytest.raises(mw.StreamError):
            await stream.final_response()  # no polling after ERROR
        with pytest.raises(mw.StreamError):
            await anext(aiter(stream))
    polls = [r for r in server.requests if r.method == "GET" and "/responses/" in r.path]
    assert polls == []
    await _no_leak(server, client)


async def test_malformed_json(server: FakeMoveworks, client: mw.AsyncMoveworks) -> None:
    """Malformed data raises StreamProtocolError after earlier events; final_response recovers."""
    cid = await _conversation(client)
    server.inject(Fault.malformed_json(after_events=3), times=1)
    async with client.responses.stream(cid, text="hi") as stream:
        events: list[Any] = []
        with pytest.raises(mw.StreamProtocolError) as info:
            await collect_into(stream, events)
        assert len(events) == 3
        assert "not valid JSON" in info.value.message
        final = await stream.final_response()
    assert final.text == ANSWER
    assert server.stats.creates == 1


async def test_malformed_json_before_created_is_fatal() -> None:
    """Without a response id, a protocol error cannot be recovered."""
    async with (
        scripted([frame("RESPONSE_CREATED", "{nope")]) as (server, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        with pytest.raises(mw.StreamProtocolError):
            await collect(stream)
        with pytest.raises(mw.StreamProtocolError):
            await stream.final_response()
    assert server.polls == 0


async def test_event_too_large() -> None:
    """An event over max_event_size raises StreamProtocolError instead of buffering it."""
    script: list[Any] = [
        event("RESPONSE_CREATED", 1, response=response_json()),
        0.05,  # separate chunks: the decoder drops events completed by a feed that raises
        event("RESPONSE_OUTPUT_DELTA", 2, output=message_item("x" * 100_000)),
    ]
    async with (
        scripted(script) as (_, client),
        client.responses.stream(CID, text="q", max_event_size=10_000) as stream,
    ):
        events: list[Any] = []
        with pytest.raises(mw.StreamProtocolError, match="larger than"):
            await collect_into(stream, events)
        assert [type(e) for e in events] == [mw.ResponseCreated]
        assert (await stream.final_response()).text == FINAL_TEXT


async def test_wrong_shape_is_validation_error() -> None:
    """A known event with a wrong payload raises ResponseValidationError with a path."""
    bad = response_json()
    bad["created_at"] = 12
    async with (
        scripted([event("RESPONSE_CREATED", 1, response=bad)]) as (_, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        with pytest.raises(mw.ResponseValidationError) as info:
            await collect(stream)
    assert info.value.path == "$.response.created_at"


async def test_duplicates_dropped(server: FakeMoveworks, client: mw.AsyncMoveworks) -> None:
    """Duplicated events (same sequence number) are delivered once; no recovery needed."""
    cid = await _conversation(client)
    server.inject(Fault.duplicate_events(), times=1)
    async with client.responses.stream(cid, text="hi") as stream:
        events = await collect(stream)
    seqs = [e.sequence_number for e in events]
    assert seqs == list(range(1, 9))
    assert not events[-1].recovered
    assert events[-1].response.text == ANSWER


async def test_out_of_order_and_duplicates_exact() -> None:
    """Late (lower) and repeated sequence numbers are dropped; the rest flows on."""
    created = event("RESPONSE_CREATED", 1, response=response_json())
    d2 = event("RESPONSE_OUTPUT_DELTA", 2, output=message_item("a"))
    d3 = event("RESPONSE_OUTPUT_DELTA", 3, output=message_item("ab"))
    done = event("RESPONSE_COMPLETED", 4, response=completed_response())
    async with (
        scripted([created, created, d2, d3, d2, d3, done]) as (server, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        events = await collect(stream)
    assert [e.sequence_number for e in events] == [1, 2, 3, 4]
    assert server.polls == 0


@pytest.mark.parametrize(
    "fault", [Fault.reorder_events(), Fault.skip_sequence()], ids=["reorder", "skip"]
)
async def test_sequence_gap_falls_back_to_polling(
    server: FakeMoveworks, client: mw.AsyncMoveworks, fault: Any
) -> None:
    """A gap in sequence numbers stops reading and polls for the truth."""
    cid = await _conversation(client)
    server.inject(fault, times=1)
    async with client.responses.stream(cid, text="hi") as stream:
        events = await collect(stream)
        final = await stream.final_response()
    seqs = [e.sequence_number for e in events[:-1]]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert events[-1].recovered
    assert final.text == ANSWER
    assert server.stats.creates == 1
    await _no_leak(server, client)


async def test_gap_into_terminal_event_is_accepted() -> None:
    """A terminal event after a gap is the truth itself: accepted without polling."""
    script = [
        event("RESPONSE_CREATED", 1, response=response_json()),
        event("RESPONSE_COMPLETED", 5, response=completed_response()),
    ]
    async with (
        scripted(script) as (server, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        events = await collect(stream)
    assert [e.sequence_number for e in events] == [1, 5]
    assert not events[-1].recovered
    assert server.polls == 0


async def test_gap_with_recover_false_raises() -> None:
    """With ``recover=False`` a gap raises StreamInterruptedError with the response id."""
    script = [
        event("RESPONSE_CREATED", 1, response=response_json()),
        event("RESPONSE_OUTPUT_DELTA", 3, output=message_item("x")),
    ]
    async with (
        scripted(script) as (_, client),
        client.responses.stream(CID, text="q", recover=False) as stream,
    ):
        with pytest.raises(mw.StreamInterruptedError, match="sequence") as info:
            await collect(stream)
    assert info.value.response_id == RID


async def test_gap_before_any_response_event_is_a_typed_error() -> None:
    """A gap between deltas before CREATED was seen: the id is unknown, so a typed
    StreamInterruptedError with outcome_unknown, not an AttributeError from the delta."""
    script = [
        event("RESPONSE_OUTPUT_DELTA", 1, output=message_item("x")),
        event("RESPONSE_OUTPUT_DELTA", 3, output=message_item("xy")),
    ]
    async with (
        scripted(script) as (server, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        with pytest.raises(mw.StreamInterruptedError, match="sequence") as info:
            await collect(stream)
    assert info.value.response_id is None
    assert info.value.outcome_unknown is True
    assert server.polls == 0


# --- before the stream starts (rows 24, 26-33, 39) -------------------------------------------


async def test_429_before_stream_is_retried_once_created(
    server: FakeMoveworks, client: mw.AsyncMoveworks
) -> None:
    """A 429 refusal is retried; the response is created exactly once."""
    cid = await _conversation(client)
    server.inject(Fault.rate_limited(retry_after="1"), times=1, path_contains="/stream")
    async with client.responses.stream(cid, text="hi") as stream:
        final = await stream.final_response()
    assert final.text == ANSWER
    assert server.stats.creates == 1
    posts = [r for r in server.requests if r.path.endswith("/responses/stream")]
    assert len(posts) == 2


async def test_401_raises_authentication_error(server: FakeMoveworks) -> None:
    """A rejected token surfaces as AuthenticationError before any event."""
    async with mw.AsyncMoveworks(
        assistant_name="acme-capi", token="wrong-token", base_url=server.url
    ) as client:
        with pytest.raises(mw.AuthenticationError):
            async with client.responses.stream("conv_x1", text="hi"):
                pass
    assert server.stats.creates == 0


async def test_html_200_is_unexpected_response(
    server: FakeMoveworks, client: mw.AsyncMoveworks
) -> None:
    """A 200 text/html page is not parsed: UnexpectedResponseError, nothing retried."""
    cid = await _conversation(client)
    server.inject(Fault.status(200, html=True), times=1, path_contains="/stream")
    with pytest.raises(mw.UnexpectedResponseError) as info:
        async with client.responses.stream(cid, text="hi"):
            pass
    assert info.value.status_code == 200
    assert "text/html" in info.value.message
    posts = [r for r in server.requests if r.path.endswith("/responses/stream")]
    assert len(posts) == 1
    assert acquired(client) == 0


async def test_json_200_is_unexpected_response() -> None:
    """A 200 application/json reply on the stream route is not an event stream."""
    async with scripted([b'{"x": 1}'], content_type="application/json") as (server, client):
        with pytest.raises(mw.UnexpectedResponseError):
            async with client.responses.stream(CID, text="q"):
                pass
    assert server.creates == 1


async def test_500_before_stream_is_not_retried(
    server: FakeMoveworks, client: mw.AsyncMoveworks
) -> None:
    """A 500 on the create is ambiguous: raised with outcome_unknown, never re-sent."""
    cid = await _conversation(client)
    server.inject(Fault.status(500), times=1, path_contains="/stream")
    with pytest.raises(mw.InternalServerError) as info:
        async with client.responses.stream(cid, text="hi"):
            pass
    assert info.value.outcome_unknown is True
    posts = [r for r in server.requests if r.path.endswith("/responses/stream")]
    assert len(posts) == 1


async def test_400_is_bad_request(server: FakeMoveworks, client: mw.AsyncMoveworks) -> None:
    """A 400 before the stream raises BadRequestError with the server's code."""
    cid = await _conversation(client)
    server.inject(Fault.status(400), times=1, path_contains="/stream")
    with pytest.raises(mw.BadRequestError) as info:
        async with client.responses.stream(cid, text="hi"):
            pass
    assert info.value.status_code == 400


async def test_reset_after_request_is_outcome_unknown(
    server: FakeMoveworks, client: mw.AsyncMoveworks
) -> None:
    """A reset after the server read the create: not re-sent, outcome unknown."""
    cid = await _conversation(client)
    server.inject(Fault.reset_after_request(), times=1, path_contains="/stream")
    with pytest.raises(mw.APIConnectionError) as info:
        async with client.responses.stream(cid, text="hi"):
            pass
    assert info.value.outcome_unknown is True
    assert server.stats.creates == 1
    assert acquired(client) == 0


async def test_deadline_before_the_stream_starts() -> None:
    """The deadline also bounds the time until the reply headers."""
    test_server = await _hanging_stream_server()
    try:
        async with make_client(str(test_server.make_url("")).rstrip("/")) as client:
            with pytest.raises(mw.APITimeoutError) as info:
                async with client.responses.stream(CID, text="q", deadline=0.1):
                    pass
            assert info.value.phase == "deadline"
            assert type(info.value) is mw.DeadlineTimeout
            assert acquired(client) == 0
    finally:
        await test_server.close()


# --- cancellation and lifecycle (rows 44-49) -------------------------------------------------


async def test_task_cancel_mid_stream_closes_connection(
    server: FakeMoveworks, client: mw.AsyncMoveworks
) -> None:
    """Cancelling the reading task closes the HTTP response at once."""
    cid = await _conversation(client)
    server.stream_delay = 0.2
    reached = asyncio.Event()

    async def reader() -> None:
        async with client.responses.stream(cid, text="hi") as stream:
            async for _ in stream:
                reached.set()

    task = asyncio.create_task(reader())
    await reached.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert acquired(client) == 0
    await _no_leak(server, client)
    assert await settle(lambda: server.stats.open_connections <= _pooled(client))


async def test_double_cancel_mid_stream(server: FakeMoveworks, client: mw.AsyncMoveworks) -> None:
    """Two cancellations in a row still leave no connection behind."""
    cid = await _conversation(client)
    server.stream_delay = 0.2
    reached = asyncio.Event()

    async def reader() -> None:
        async with client.responses.stream(cid, text="hi") as stream:
            async for _ in stream:
                reached.set()

    task = asyncio.create_task(reader())
    await reached.wait()
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _no_leak(server, client)


async def test_break_closes_connection(server: FakeMoveworks, client: mw.AsyncMoveworks) -> None:
    """Leaving the loop with ``break`` and the block closes the response immediately."""
    cid = await _conversation(client)
    server.stream_delay = 0.2
    async with client.responses.stream(cid, text="hi") as stream:
        async for _ in stream:
            break
        assert acquired(client) == 1
    assert acquired(client) == 0
    await _no_leak(server, client)


async def test_exception_in_block_closes_connection(
    server: FakeMoveworks, client: mw.AsyncMoveworks
) -> None:
    """An exception inside the block propagates unchanged and closes the response."""
    cid = await _conversation(client)
    server.stream_delay = 0.2

    async def fail_inside() -> None:
        async with client.responses.stream(cid, text="hi") as stream:
            async for _ in stream:
                raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        await fail_inside()
    assert acquired(client) == 0
    await _no_leak(server, client)


async def test_move_on_after_around_a_read_loses_nothing() -> None:
    """A read cancelled by a timeout scope can be resumed: no event is lost."""
    script: list[Any] = [happy_events()[0], 0.2, *happy_events()[1:]]
    async with scripted(script) as (_, client), client.responses.stream(CID, text="q") as stream:
        events = [await anext(aiter(stream))]
        with anyio.move_on_after(0.05):
            events.append(await anext(aiter(stream)))
        assert len(events) == 1
        events += await collect(stream)
    assert [e.sequence_number for e in events] == list(range(1, 8))
    assert not events[-1].recovered


async def test_timeouts_after_close_do_not_fire() -> None:
    """No timer fires after the block: closing cancels the watchdog."""
    async with scripted([happy_events()[0], 1.0]) as (server, client):
        async with client.responses.stream(CID, text="q", idle_timeout=0.05) as stream:
            await anext(aiter(stream))
            assert stream._watchdog is not None  # armed by the first read
        assert stream._watchdog is None
        await asyncio.sleep(0.1)
        assert server.polls == 0  # nothing fired: no recovery


async def test_200_concurrent_streams_complete(
    server: FakeMoveworks, client: mw.AsyncMoveworks
) -> None:
    """200 streams at once all reach COMPLETED with the right text; 200 creates."""
    cid = await _conversation(client)

    async def one() -> mw.Response:
        async with client.responses.stream(cid, text="hi") as stream:
            return await stream.final_response()

    results = await asyncio.gather(*(one() for _ in range(200)))
    assert all(r.status == mw.ResponseStatus.COMPLETED and r.text == ANSWER for r in results)
    assert len({r.response_id for r in results}) == 200
    assert server.stats.creates == 200
    await _no_leak(server, client)


@pytest.mark.soak
async def test_1000_streams_abandoned_at_random_points(
    server: FakeMoveworks, client: mw.AsyncMoveworks
) -> None:
    """1,000 streams left by break, exception or cancellation at random points leak nothing."""
    cid = await _conversation(client)
    rng = random.Random(4)
    limiter = anyio.Semaphore(50)

    unfinished = 0

    async def one(i: int) -> None:
        nonlocal unfinished
        stop_after = rng.randrange(0, 9)
        how = rng.choice(("break", "raise", "cancel", "timeout"))
        stream = client.responses.stream(cid, text="hi")
        async with limiter:
            with anyio.move_on_after(rng.random() * 0.004 if how == "timeout" else 30) as scope:
                try:
                    async with stream:
                        count = 0
                        async for _ in stream:
                            count += 1
                            if count > stop_after:
                                if how == "raise":
                                    raise ValueError(i)
                                if how == "cancel":
                                    scope.cancel()  # cancelled at the next await
                                    continue
                                break
                except ValueError:
                    pass
                finally:
                    unfinished += stream.final is None

    async with anyio.create_task_group() as tg:
        for i in range(1000):
            tg.start_soon(one, i)
    assert unfinished > 500  # most were abandoned before their terminal event
    assert acquired(client) == 0
    await _no_leak(server, client)
    assert await settle(lambda: server.stats.open_connections <= _pooled(client))


def _pooled(client: mw.AsyncMoveworks) -> int:
    session = client._transport._session
    if session is None or session.connector is None:
        return 0
    return sum(len(v) for v in session.connector._conns.values())


# --- connection reuse ------------------------------------------------------------------------


async def test_abandoned_stream_connection_is_closed_not_pooled(
    server: FakeMoveworks, client: mw.AsyncMoveworks
) -> None:
    """Leaving a stream mid-body closes its connection: it is never handed to the next call."""
    cid = await _conversation(client)
    server.stream_delay = 0.5  # the body is far from its end after the first event
    async with client.responses.stream(cid, text="hi") as stream:
        first = await anext(aiter(stream))
        assert isinstance(first, mw.ResponseCreated)
    assert acquired(client) == 0
    assert _pooled(client) == 0
    assert await settle(lambda: server.stats.open_connections == 0)
    await client.conversations.get(cid)  # a fresh connection, not the half-read one
    assert server.stats.connections_accepted == 2


@pytest.mark.parametrize("read", ["iterate", "final_response"])
async def test_body_ending_just_after_the_terminal_event_is_pooled(read: str) -> None:
    """The server ends the body 20 ms after COMPLETED: the stream waits for that end, so the
    connection goes back to the pool instead of being closed (aiohttp pools only at EOF)."""
    async with scripted([*happy_events(), 0.02]) as (_, client):
        async with client.responses.stream(CID, text="q") as stream:
            if read == "iterate":
                events = await collect(stream)
                assert isinstance(events[-1], mw.ResponseCompleted)
            else:
                assert (await stream.final_response()).text == FINAL_TEXT
        assert acquired(client) == 0
        assert _pooled(client) == 1


async def test_body_left_open_after_the_terminal_event_is_closed_promptly() -> None:
    """A server that keeps the body open after COMPLETED costs the consumer at most a short
    grace, then the connection is closed (never pooled half-read)."""
    async with scripted([*happy_events(), 5.0]) as (_server, client):
        start = anyio.current_time()
        async with client.responses.stream(CID, text="q") as stream:
            events = await collect(stream)
        assert anyio.current_time() - start < 1.0
        assert isinstance(events[-1], mw.ResponseCompleted)
        assert acquired(client) == 0
        assert _pooled(client) == 0


async def test_stream_timers_run_on_the_clients_clock_and_sleep() -> None:
    """The idle timer sleeps with the client's injected ``sleep`` until the deadline by its
    injected ``clock``: a clock 1,000 s ahead of the loop and a recording sleep see the
    watchdog's one sleep of idle_timeout (after the opening phase's timer, which sleeps on
    them too), and the stream times out by that clock."""
    loop = asyncio.get_running_loop()
    sleeps: list[float] = []

    def clock() -> float:
        return 1000.0 + loop.time()

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        await asyncio.sleep(seconds)

    server = ScriptServer([happy_events()[0], 3600.0])
    async with server, make_client(server.url, clock=clock, sleep=sleep) as client:
        started = loop.time()
        with pytest.raises(mw.IdleTimeout):
            async with client.responses.stream(
                CID, text="q", idle_timeout=30.0, recover=False
            ) as stream:
                await collect(stream)
        assert loop.time() - started == pytest.approx(30.0, abs=0.5)
    assert pytest.approx(30.0, abs=0.5) in sleeps


async def test_a_clock_that_jumps_fires_the_idle_timer_at_once() -> None:
    """Time is the client's: when its clock says the idle deadline passed, the stream times
    out although the loop's own clock barely moved. (No first-event limit: with this clock
    it would pass as soon as the opening phase's timer sleeps, before the reply comes.)"""
    loop = asyncio.get_running_loop()
    jump = [0.0]

    def clock() -> float:
        return loop.time() + jump[0]

    async def sleep(seconds: float) -> None:
        jump[0] += seconds  # the client's time passes instantly; the loop's does not
        await asyncio.sleep(0)

    server = ScriptServer([happy_events()[0], 3600.0])
    async with server, make_client(server.url, clock=clock, sleep=sleep) as client:
        started = loop.time()
        with pytest.raises(mw.IdleTimeout):
            async with client.responses.stream(
                CID, text="q", idle_timeout=500.0, first_event_timeout=None, recover=False
            ) as stream:
                await collect(stream)
        assert loop.time() - started < 1.0
    assert jump[0] >= 500.0


async def test_the_watchdog_is_a_loop_timer_only_with_the_default_clock_and_sleep(
    fake_time: Any,
) -> None:
    """With the client's default clock and sleep (the loop's) the watchdog is a loop timer, no
    task per stream; with an injected sleep it is a task that sleeps with it."""
    script = [happy_events()[0], 1.0, *happy_events()[1:]]
    async with scripted(script) as (_, client), client.responses.stream(CID, text="q") as s:
        await anext(aiter(s))
        assert isinstance(s._watchdog, asyncio.TimerHandle)
        await collect(s)
    timed = scripted(script, fake_time=fake_time)
    async with timed as (_, client), client.responses.stream(CID, text="q") as s:
        await anext(aiter(s))
        assert isinstance(s._watchdog, asyncio.Task)
        await collect(s)


async def test_a_failing_injected_sleep_ends_a_silent_stream_instead_of_hanging() -> None:
    """The read watchdog sleeps with the client's ``sleep``; when that sleep raises, the
    deadline counts as reached (the stream stays bounded) instead of the watchdog task dying
    unobserved and the read waiting forever."""
    loop = asyncio.get_running_loop()
    calls: list[float] = []

    async def broken_sleep(seconds: float) -> None:
        calls.append(seconds)
        raise RuntimeError("this sleep is broken")

    server = ScriptServer([happy_events()[0], 3600.0])
    async with server, make_client(server.url, clock=loop.time, sleep=broken_sleep) as client:

        async def read_all() -> None:
            async with client.responses.stream(
                CID, text="q", idle_timeout=30.0, first_event_timeout=None, recover=False
            ) as stream:
                await collect(stream)

        with pytest.raises(mw.IdleTimeout):
            await asyncio.wait_for(read_all(), 5.0)  # real bound: reached only if the bug is back
    assert 30.0 in [pytest.approx(s, abs=0.5) for s in calls]


@pytest.mark.parametrize("view", ["plain", "json"])
async def test_the_cli_recovers_an_answer_whose_stream_turned_undecodable(view: str) -> None:
    """The CLI's turn: a stream that sends more keep-alive bytes than max_event_size after its
    RESPONSE_CREATED fails to decode, and the CLI polls the answer as the library documents
    (``final_response()``) instead of reporting a failure with no id (outside review). With
    ``--json`` the last line is the polled answer's terminal event (``recovered``), never the
    partial deltas before the flood (a second outside review found nothing after them)."""
    import io
    import json

    from moveworks_async import _cli
    from moveworks_async._cli_render import JsonChatView, PlainChatView

    flood = b":" + b"k" * (5 * 1024 * 1024) + b"\n\n"  # over the 4 MiB default cap
    out = io.StringIO()
    shown = PlainChatView(out) if view == "plain" else JsonChatView(out)
    async with scripted([*happy_events()[:3], flood], poll_replies=[completed_response()]) as (
        server,
        client,
    ):
        response = await _cli._turn(client, CID, "q", shown)
    assert response.response_id == RID
    assert response.text == FINAL_TEXT
    if view == "plain":
        assert FINAL_TEXT in out.getvalue()
    else:
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert len(lines) == 4  # CREATED, two deltas, then the polled terminal event
        assert lines[-1]["event_type"] == "RESPONSE_COMPLETED"
        assert lines[-1]["recovered"] is True
        assert FINAL_TEXT in json.dumps(lines[-1])
    assert server.creates == 1


@pytest.mark.parametrize(
    ("terminal", "why"),
    [
        ("in-progress", "RESPONSE_COMPLETED event with a IN_PROGRESS response"),
        ("other-response", "RESPONSE_COMPLETED event for another response"),
        ("created-data", "RESPONSE_COMPLETED event with a CREATED response"),
        ("delta-other", "RESPONSE_OUTPUT_DELTA event for another response"),
    ],
)
async def test_a_terminal_event_that_is_not_this_answer_recovers_the_real_one(
    terminal: str, why: str
) -> None:
    """A RESPONSE_COMPLETED whose response is still IN_PROGRESS (text cut at 'The final '),
    belongs to another response, or carries a RESPONSE_CREATED payload was returned by
    final_response() as the answer, and the CLI printed it and exited 0 (outside review s15b).
    Now iteration raises StreamProtocolError naming the stream's response and
    final_response() polls for the real outcome: one create, the whole text."""
    first_two = happy_events()[:2]
    if terminal == "in-progress":
        bogus = event(
            "RESPONSE_COMPLETED",
            3,
            response=response_json("IN_PROGRESS", [message_item("The final ")]),
        )
    elif terminal == "other-response":
        other = response_json("COMPLETED", [message_item("OTHER")])
        other["response_id"] = "resp_other"
        bogus = event("RESPONSE_COMPLETED", 3, response=other)
    elif terminal == "delta-other":
        item = message_item("TEXT OF ANOTHER RESPONSE")
        item["message"]["response_id"] = "resp_other"
        bogus = event("RESPONSE_OUTPUT_DELTA", 3, output=item)
    else:
        data = {"event_type": "RESPONSE_CREATED", "sequence_number": 3}
        data["response"] = response_json("CREATED")
        bogus = frame("RESPONSE_COMPLETED", data)
    async with (
        scripted([*first_two, bogus]) as (server, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        with pytest.raises(mw.StreamProtocolError, match=why) as info:
            await collect(stream)
        assert info.value.response_id == RID
        assert info.value.outcome_unknown is False
        assert server.polls == 0
        final = await stream.final_response()
    assert final.response_id == RID
    assert final.status is mw.ResponseStatus.COMPLETED
    assert final.text == FINAL_TEXT
    assert server.creates == 1  # recovered by polling, never re-sent
    assert server.polls == 1
