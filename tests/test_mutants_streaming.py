"""Tests written to kill the mutants of ``_streaming`` the suite let survive (see
docs/mutants.md): the exact words of every misuse error (each says what to do), ``tee``'s
bounds and defaults, and the never-closed warning."""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from _stream_support import (
    CID,
    ScriptServer,
    event,
    happy_events,
    make_client,
    message_item,
    response_json,
    scripted,
)
from test_deadline import _client as _held_client
from test_deadline import _HeldStreams
from test_stream_slices import _client as _slice_client
from test_stream_slices import _frames as _slice_frames
from test_stream_slices import _Reply as _SliceReply
from test_stream_slices import _Transport as _SliceTransport

import moveworks_async as mw
from moveworks_async import _streaming

pytestmark = [pytest.mark.asyncio, pytest.mark.virtual_time]

OUTSIDE = (
    "a ResponseStream must be used inside 'async with': "
    "async with client.responses.stream(...) as stream: ..."
)


async def test_each_misuse_error_says_what_happened() -> None:
    """Outside ``async with``, after close, after tee and on a closed stream: each a
    ClientStateError with its own exact message."""
    async with scripted(happy_events()) as (_, client):
        stream = client.responses.stream(CID, text="q")
        for use in (lambda: aiter(stream), lambda: stream.tee(2)):
            with pytest.raises(mw.ClientStateError) as caught:
                use()
            assert str(caught.value) == OUTSIDE
        with pytest.raises(mw.ClientStateError) as caught:
            await stream.final_response()
        assert str(caught.value) == OUTSIDE

        async with client.responses.stream(CID, text="q") as tee_d:
            tee_d.tee()
            with pytest.raises(mw.ClientStateError) as caught:
                await anext(aiter(tee_d))
            assert str(caught.value) == "this stream was tee()'d: read events from its consumers"

        closed = client.responses.stream(CID, text="q")
        async with closed:
            await anext(aiter(closed))
        with pytest.raises(mw.ClientStateError) as caught:
            await anext(aiter(closed))
        assert str(caught.value) == "this ResponseStream is closed"
        with pytest.raises(mw.ClientStateError) as caught:
            closed.tee(2)
        assert str(caught.value) == "this ResponseStream is closed"
        with pytest.raises(mw.ClientStateError) as caught:
            await closed.final_response()
        assert str(caught.value) == "this ResponseStream was closed before its end"
        with pytest.raises(mw.ClientStateError) as caught:
            await closed.__aenter__()
        assert str(caught.value) == (
            "a ResponseStream can be entered only once; start a new stream"
        )


async def test_a_second_reader_is_told_another_task_reads() -> None:
    script: list[Any] = [happy_events()[0], 1.0]
    async with scripted(script) as (_, client), client.responses.stream(CID, text="q") as stream:
        await anext(aiter(stream))
        first = asyncio.ensure_future(anext(aiter(stream)))
        await asyncio.sleep(0.01)
        with pytest.raises(mw.ClientStateError) as caught:
            await anext(aiter(stream))
        assert str(caught.value) == "another task is already reading this stream"
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first


async def test_tee_bounds_and_default() -> None:
    """``tee()`` gives two consumers; ``n`` and ``max_buffer`` are each at least 1, and an
    error names the argument at fault."""
    async with scripted(happy_events()) as (_, client):
        for kwargs, message in (
            ({"n": 0}, "n must be an int >= 1"),
            ({"max_buffer": 0}, "max_buffer must be an int >= 1"),
        ):
            async with client.responses.stream(CID, text="q") as stream:
                with pytest.raises(mw.InvalidParameterError) as caught:
                    stream.tee(**kwargs)
                assert str(caught.value) == message
        async with client.responses.stream(CID, text="q") as stream:
            assert len(stream.tee()) == 2
        async with client.responses.stream(CID, text="q") as stream:
            (only,) = stream.tee(1, max_buffer=1)
            assert isinstance(await anext(aiter(only)), mw.ResponseCreated)


async def test_a_stream_never_closed_warns_precisely() -> None:
    """The ResourceWarning of a stream dropped open says what to do and points at the
    stream (``source``), so tracemalloc can show where it was opened."""
    async with scripted(happy_events()) as (_, client):
        stream = client.responses.stream(CID, text="q")
        await stream.__aenter__()
        reply = stream._reply
        assert reply is not None
        seen: list[tuple[Any, ...]] = []

        def record(message: str, category: type, stacklevel: int = 1, source: Any = None) -> None:
            seen.append((message, category, stacklevel, source))

        stream.__del__(record)
        assert seen == [
            (
                "ResponseStream was opened but never closed; use 'async with'",
                ResourceWarning,
                2,
                stream,
            )
        ]
        reply.close()
        await stream.aclose()
        del stream
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gc.collect()
    assert caught == []  # closed: no warning


async def test_repr_names_the_state() -> None:
    async with scripted(happy_events()) as (_, client):
        stream = client.responses.stream(CID, text="q")
        assert repr(stream).endswith("state='new')")
        async with stream:
            assert repr(stream).endswith("state='open')")
        assert repr(stream).endswith("state='closed')")


async def test_a_recovery_poll_carries_the_calls_headers_and_is_logged(
    caplog: pytest.LogCaptureFixture, fake_time: Any
) -> None:
    """A stream cut before its end is recovered by polling: the polls carry the call's
    ``extra_headers`` like the create did, and an INFO record names why and which response."""
    import logging

    async with scripted(happy_events()[:2], fake_time) as (server, client):
        with caplog.at_level(logging.INFO, logger="moveworks_async"):
            async with client.responses.stream(
                CID, text="q", extra_headers={"X-Tenant": "t-9"}
            ) as stream:
                final = await stream.final_response()
    assert final.status == mw.ResponseStatus.COMPLETED
    assert server.polls >= 1
    assert all(headers.get("X-Tenant") == "t-9" for headers in server.poll_headers)
    (record,) = [r for r in caplog.records if "until it is terminal" in r.getMessage()]
    assert record.getMessage() == (
        "the stream ended before its terminal event; "
        f"polling response {stream.response_id} until it is terminal"
    )


async def test_iterating_a_finished_stream_after_its_block_ends_quietly() -> None:
    """A stream read to its terminal event and closed: ``async for`` over it again simply
    ends (its events were delivered), no error."""
    async with scripted(happy_events()) as (_, client):
        async with client.responses.stream(CID, text="q") as stream:
            assert [type(e) async for e in stream][-1] is mw.ResponseCompleted
        assert [e async for e in stream] == []


async def test_tee_d_consumers_recover_a_cut_stream(fake_time: Any) -> None:
    """A tee'd stream keeps the stream's ``recover``: cut before its end, every consumer
    gets the polled terminal event."""
    async with (
        scripted(happy_events()[:2], fake_time) as (server, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        first, second = stream.tee()
        got_first = [type(e) async for e in first]
        got_second = [type(e) async for e in second]
    assert server.polls >= 1
    assert got_first[-1] is mw.ResponseCompleted
    assert got_second == got_first


async def test_final_response_holds_the_stream_against_other_readers() -> None:
    """While final_response() reads the rest, another task's read is refused."""
    script: list[Any] = [happy_events()[0], 1.0, *happy_events()[1:]]
    async with scripted(script) as (_, client), client.responses.stream(CID, text="q") as stream:
        task = asyncio.ensure_future(stream.final_response())
        await asyncio.sleep(0.01)
        with pytest.raises(mw.ClientStateError) as caught:
            await anext(aiter(stream))
        assert str(caught.value) == "another task is already reading this stream"
        assert (await task).status == mw.ResponseStatus.COMPLETED
        assert [e async for e in stream] == []  # free again once it returned


async def test_the_idle_timer_follows_data_that_arrived_after_it_was_set() -> None:
    """Loop-timer watchdog: events that arrive push the idle limit later; once they stop, the
    stream ends with IdleTimeout one idle_timeout after the last of them, not at the server's
    next event nor never."""
    events = happy_events()
    script: list[Any] = [events[0], 0.6, events[1], 0.6, events[2], 30.0, *events[3:]]
    async with scripted(script) as (_, client):
        loop = asyncio.get_running_loop()
        start = loop.time()
        async with client.responses.stream(CID, text="q", idle_timeout=1.0, recover=False) as s:
            got = []

            async def read_all() -> None:
                async for event in s:
                    got.append(type(event))

            with pytest.raises(mw.IdleTimeout):
                await read_all()
        elapsed = loop.time() - start
    assert got == [mw.ResponseCreated, mw.ResponseInProgress, mw.ResponseOutputDelta]
    assert 2.2 <= elapsed < 5


async def test_a_flood_of_buffered_events_gives_the_loop_a_turn_every_256() -> None:
    """Events that arrived together are handed out without suspending, but never more than
    256 in a row: then the loop gets a turn (timers, other tasks) however fast the flood."""

    events = happy_events()
    deltas = b"".join(
        event("RESPONSE_OUTPUT_DELTA", seq, output=message_item("x")) for seq in range(3, 2003)
    )
    final = event("RESPONSE_COMPLETED", 2003, response=response_json("COMPLETED"))
    script: list[Any] = [events[0] + events[1] + deltas + final]
    delivered = 0
    gaps: list[int] = []
    done = False

    async def ticker() -> None:
        last = 0
        while not done:
            gaps.append(delivered - last)
            last = delivered
            await asyncio.sleep(0)

    async with scripted(script) as (_, client), client.responses.stream(CID, text="q") as stream:
        task = asyncio.ensure_future(ticker())
        async for _ in stream:
            delivered += 1
        done = True
        await task
    assert delivered == 2003
    assert max(gaps) == 256


@pytest.mark.parametrize("first_event_timeout", [None, 30.0])
async def test_a_stream_without_open_phase_limits_opens_and_honours_max_retries(
    fake_time: Any, first_event_timeout: float | None
) -> None:
    """With no deadline (and with or without a first-event limit) a stream opens and reads to
    its end; a create answered 429 is retried exactly ``max_retries`` times."""
    async with scripted(happy_events(), fake_time) as (server, client):
        async with client.responses.stream(
            CID, text="q", first_event_timeout=first_event_timeout, deadline=None
        ) as stream:
            assert (await stream.final_response()).status == mw.ResponseStatus.COMPLETED
        assert server.creates == 1
    for retries in (0, 1):
        async with scripted(happy_events(), fake_time, status=429) as (server, client):
            with pytest.raises(mw.RateLimitError):
                async with client.responses.stream(
                    CID,
                    text="q",
                    first_event_timeout=first_event_timeout,
                    deadline=None,
                    max_retries=retries,
                ):
                    pass
            assert server.creates == retries + 1


async def test_a_deadline_before_the_headers_says_so_and_that_the_post_went_out() -> None:
    """A server that never sends the reply headers: DeadlineTimeout with its own message, and
    ``outcome_unknown`` because the create was sent (max_retries is kept on this path too)."""
    from _stream_support import make_client
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    posts = 0

    async def hang(request: web.Request) -> web.Response:
        nonlocal posts
        posts += 1
        await asyncio.sleep(5)
        return web.Response()

    app = web.Application()
    app.router.add_post("/rest/v1beta1/conversations/{cid}/responses/stream", hang)
    server = TestServer(app, handler_cancellation=True)
    await server.start_server()
    try:
        async with make_client(str(server.make_url("")).rstrip("/")) as client:
            with pytest.raises(mw.DeadlineTimeout) as caught:
                async with client.responses.stream(CID, text="q", deadline=0.1, max_retries=0):
                    pass
    finally:
        await server.close()
    assert str(caught.value) == "the stream did not start within its deadline"
    assert caught.value.outcome_unknown is True
    assert posts == 1


async def test_the_create_carries_the_calls_headers_and_asks_for_events() -> None:
    """The create POST sends ``extra_headers`` and ``Accept: text/event-stream``."""
    async with scripted(happy_events()) as (server, client):
        async with client.responses.stream(CID, text="q", extra_headers={"X-Tenant": "t-9"}):
            pass
        async with client.responses.stream(CID, text="q"):
            pass
    assert [h.get("X-Tenant") for h in server.request_headers] == ["t-9", None]
    assert [h.get("Accept") for h in server.request_headers] == ["text/event-stream"] * 2


async def test_a_2xx_reply_that_is_not_an_event_stream_is_an_unknown_outcome() -> None:
    """An HTML page answering the create: UnexpectedResponseError naming what came, with the
    status, the server's request id and ``outcome_unknown`` (a 2xx may have applied it)."""
    async with scripted([b"<html></html>"], content_type="text/html; charset=utf-8") as (
        _,
        client,
    ):
        with pytest.raises(mw.UnexpectedResponseError) as caught:
            async with client.responses.stream(CID, text="q"):
                pass
    assert str(caught.value).startswith("expected text/event-stream, got text/html; charset=utf-8")
    assert caught.value.status_code == 200
    assert caught.value.request_id == "trace-1"
    assert caught.value.outcome_unknown is True


async def test_a_bad_first_event_timeout_is_named() -> None:
    async with scripted(happy_events()) as (_, client):
        with pytest.raises(mw.InvalidParameterError, match=r"^first_event_timeout "):
            client.responses.stream(CID, text="q", first_event_timeout=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"first_event_timeout": 0}, "first_event_timeout must be a positive number or None"),
        ({"idle_timeout": 0}, "idle_timeout must be a positive number or None"),
        ({"deadline": -1}, "deadline must be a positive number or None"),
        ({"recover": 1}, "recover must be a bool"),
        ({"recover_timeout": 0}, "recover_timeout must be a positive number"),
        ({"recover_timeout": None}, "recover_timeout must be a positive number"),
        ({"max_event_size": 0}, "max_event_size must be an int >= 1"),
    ],
)
async def test_each_bad_stream_setting_is_named_in_its_error(
    kwargs: dict[str, Any], message: str
) -> None:
    """Rejected before any I/O, with the parameter and the rule in the message."""
    async with scripted(happy_events()) as (server, client):
        with pytest.raises(mw.InvalidParameterError) as caught:
            client.responses.stream(CID, text="q", **kwargs)
        assert server.creates == 0
    assert str(caught.value) == message


async def test_stream_settings_at_their_bounds_are_accepted(fake_time: Any) -> None:
    """``None`` turns each optional limit off and a one-byte event cap is accepted; the stream
    then runs and posts its create once, to the stream route."""
    async with scripted(happy_events(), fake_time) as (server, client):
        async with client.responses.stream(
            CID,
            text="q",
            first_event_timeout=None,
            idle_timeout=None,
            deadline=None,
            max_event_size=1 << 20,
        ) as stream:
            assert (await stream.final_response()).status == mw.ResponseStatus.COMPLETED
        client.responses.stream(CID, text="q", max_event_size=1)
    assert server.creates == 1
    assert server.paths == [f"/rest/v1beta1/conversations/{CID}/responses/stream"]


@pytest.mark.parametrize(("ahead", "disconnected"), [(3, False), (4, True)])
async def test_a_tee_consumer_is_disconnected_exactly_max_buffer_events_behind(
    caplog: pytest.LogCaptureFixture, ahead: int, disconnected: bool
) -> None:
    """With ``max_buffer=3`` a consumer may lag 3 events (it then reads them all); one more
    and its next read raises SlowConsumerError, with a warning that says how far."""
    import logging

    async with scripted(happy_events()) as (_, client):
        with caplog.at_level(logging.WARNING, logger="moveworks_async"):
            async with client.responses.stream(CID, text="q") as stream:
                fast, slow = stream.tee(2, max_buffer=3)
                fast_iter, slow_iter = aiter(fast), aiter(slow)
                for _ in range(ahead):
                    await anext(fast_iter)
                if disconnected:
                    with pytest.raises(mw.SlowConsumerError) as caught:
                        await anext(slow_iter)
                    assert str(caught.value) == (
                        "this consumer fell more than 3 events behind and was disconnected"
                    )
                else:
                    assert isinstance(await anext(slow_iter), mw.ResponseCreated)
    warnings_ = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    expected = ["a tee consumer fell 3 events behind; disconnected"] if disconnected else []
    assert warnings_ == expected


async def test_final_response_of_a_tee_d_stream_shares_its_error(fake_time: Any) -> None:
    """final_response() on a tee'd stream reads on the consumers' behalf: an ERROR event makes
    it raise StreamError, again when asked again, and each consumer still gets the events
    before the error and then the same error."""
    from _stream_support import collect_into, make_client

    from moveworks_async.testing import FakeMoveworks, Fault

    async with (
        FakeMoveworks(stream_delay=0.0, polls_to_complete=2) as server,
        make_client(server.url, "v1", fake_time) as client,
    ):
        cid = (await client.conversations.create()).conversation_id
        server.inject(Fault.error_event(code="BOOM", after_events=2), times=1)
        async with client.responses.stream(cid, text="hi") as stream:
            consumers = stream.tee(2)
            for _ in range(2):
                with pytest.raises(mw.StreamError) as caught:
                    await stream.final_response()
                assert caught.value.code == "BOOM"
            for consumer in consumers:
                got: list[Any] = []
                with pytest.raises(mw.StreamError) as caught:
                    await collect_into(consumer, got)
                assert len(got) == 2
                assert caught.value.code == "BOOM"


async def test_final_response_of_a_tee_d_stream_leaves_events_to_consumers(
    fake_time: Any,
) -> None:
    """final_response() first, then every consumer still reads every event."""
    async with (
        scripted(happy_events(), fake_time) as (_, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        first, second = stream.tee()
        final = await stream.final_response()
        assert final.status == mw.ResponseStatus.COMPLETED
        assert await stream.final_response() is final
        got = [[type(e) async for e in c] for c in (first, second)]
    assert got[0] == got[1]
    assert len(got[0]) == len(happy_events())


async def test_a_consumer_read_after_the_stream_closed_is_refused() -> None:
    async with scripted(happy_events()) as (_, client):
        async with client.responses.stream(CID, text="q") as stream:
            (consumer,) = stream.tee(1)
        with pytest.raises(mw.ClientStateError) as caught:
            await anext(aiter(consumer))
    assert str(caught.value) == "this ResponseStream is closed"


@pytest.mark.parametrize(
    ("timeout", "expected"),
    [
        (None, 5.0),
        (mw.Timeout(total=100.0, connect=2.5), 2.5),
        (mw.Timeout(total=100.0, connect=None), 5.0),
    ],
)
async def test_the_stream_connects_within_the_callers_connect_timeout(
    monkeypatch: pytest.MonkeyPatch, timeout: Any, expected: float
) -> None:
    """The connect bound reaching the transport for the stream's POST: a ``Timeout``'s
    ``connect`` when given, else the client's (``Timeout()``'s default, 5 s)."""
    seen: list[Any] = []
    async with scripted(happy_events()) as (_, client):
        transport = client._transport
        real = transport.stream

        def recording(method: str, url: str, headers: Any, data: Any, connect: Any) -> Any:
            seen.append((method, connect))
            return real(method, url, headers, data, connect)

        monkeypatch.setattr(transport, "stream", recording)
        async with client.responses.stream(CID, text="q", timeout=timeout) as stream:
            assert (await stream.final_response()).status == mw.ResponseStatus.COMPLETED
    assert seen == [("POST", expected)]


# --- issue 13, item 5: big reads in slices, the shell's buffer loop (2026-12-05 06:20 run) ----


class _ClosingReply(_SliceReply):
    """A stub reply that records when the stream closes it."""

    def __init__(self, chunks: list[bytes]) -> None:
        super().__init__(chunks)
        self.closed = False

    def close(self) -> None:
        self.closed = True


def _stub(chunks: list[bytes], reply: _SliceReply | None = None) -> mw.AsyncMoveworks:
    transport = _SliceTransport([])
    transport.reply = reply if reply is not None else _SliceReply(chunks)
    return _slice_client(transport)


async def test_a_big_read_that_does_not_end_the_stream_is_followed_by_the_next_read() -> None:
    """A read bigger than one slice is fed slice by slice to its end, then the stream reads
    on: the events of both reads arrive in order and the stream ends at the next read's
    terminal event."""
    frames = _slice_frames(120)
    big, last = b"".join(frames[:-1]), frames[-1]
    assert len(big) > 2 * _streaming._FEED_BYTES
    reply = _SliceReply([big, last])
    async with _stub([], reply) as client, client.responses.stream(CID, text="q") as stream:
        got = [e.sequence_number async for e in stream]
    assert got == list(range(1, len(frames) + 1))
    assert reply.reads >= 2


async def test_a_repeated_event_opening_a_read_is_dropped() -> None:
    """A read whose first frame repeats an event already delivered: that frame is dropped
    and the rest of the read is delivered."""
    events = happy_events()
    chunks = [events[0], events[0] + events[1], b"".join(events[2:])]
    async with _stub(chunks) as client, client.responses.stream(CID, text="q") as stream:
        got = [e.sequence_number async for e in stream]
    assert got == list(range(1, len(events) + 1))


async def test_a_flood_of_buffered_events_under_a_deadline_is_delivered() -> None:
    """More than 256 events in one read with a stream deadline that is not reached: the
    deadline check between buffered events lets them all through."""
    frames = _slice_frames(300)
    chunks = [b"".join(frames)]
    async with (
        _stub(chunks) as client,
        client.responses.stream(CID, text="q", deadline=600.0) as stream,
    ):
        got = [e async for e in stream]
    assert len(got) == len(frames)
    assert isinstance(got[-1], mw.ResponseCompleted)


async def test_a_failed_stream_lets_its_connection_go_at_once() -> None:
    """An ERROR event ends the stream with StreamError and closes the reply right then,
    before the caller leaves ``async with`` (the connection is not held meanwhile)."""
    error = event("ERROR", 2, error={"code": "internal_error", "message": "boom"})
    reply = _ClosingReply([happy_events()[0] + error])
    async with _stub([], reply) as client, client.responses.stream(CID, text="q") as stream:
        with pytest.raises(mw.StreamError):
            async for _event in stream:
                pass
        assert reply.closed


def _watched_client(chunks: list[bytes], watchdog: str) -> mw.AsyncMoveworks:
    """A stub-transport client whose streams watch their reads with a loop timer (the
    default clock and sleep) or with a task sleeping the injected ``sleep``."""
    transport = _SliceTransport(chunks)
    if watchdog == "loop-timer":
        return _slice_client(transport)
    loop = asyncio.get_running_loop()
    return _clocked_client(transport, lambda: loop.time())


@pytest.mark.parametrize("watchdog", ["loop-timer", "task"])
@pytest.mark.parametrize(
    ("first_event_timeout", "idle_timeout"), [(1.0, None), (1.0, 1.0), (None, 1.0)]
)
async def test_a_slow_consumer_is_not_timed_out(
    watchdog: str, first_event_timeout: float | None, idle_timeout: float | None
) -> None:
    """The stream's read timeouts bound the server, not the caller: a consumer that takes
    longer than them between events (the watchdog wakes meanwhile, no read pending) still
    gets every event, and the stream reads on afterwards."""
    events = happy_events()
    chunks = [events[0], *events[1:]]
    async with (
        _watched_client(chunks, watchdog) as client,
        client.responses.stream(
            CID,
            text="q",
            first_event_timeout=first_event_timeout,
            idle_timeout=idle_timeout,
            recover=False,
        ) as stream,
    ):
        got = []
        async for item in stream:
            got.append(item.sequence_number)
            await asyncio.sleep(3.0)  # virtual time: longer than either timeout
    assert got == list(range(1, len(events) + 1))


async def test_a_2xx_reply_without_a_content_type_is_not_parsed() -> None:
    """A 2xx reply with no Content-Type at all is not an event stream: the error names what
    came, and the create may have been applied."""
    reply = _SliceReply(happy_events())
    reply.headers = {}
    async with _stub([], reply) as client:
        with pytest.raises(mw.UnexpectedResponseError) as caught:
            async with client.responses.stream(CID, text="q"):
                pass  # pragma: no cover - the stream must not open
    assert str(caught.value) == "expected text/event-stream, got no content type"
    assert caught.value.outcome_unknown is True


async def test_a_300_reply_is_not_an_open_stream() -> None:
    """Only a 2xx reply opens the stream: a 300 with an event-stream body is an error reply,
    its body never parsed as events."""
    reply = _SliceReply(happy_events())
    reply.status = 300
    async with _stub([], reply) as client:
        with pytest.raises(mw.APIError) as caught:
            async with client.responses.stream(CID, text="q", max_retries=0):
                pass  # pragma: no cover - the stream must not open
    assert getattr(caught.value, "status_code", None) == 300


async def test_streams_with_different_open_timeouts_each_keep_theirs() -> None:
    """Streams waiting for their reply headers share deadline lanes by length: one opened
    later with a shorter first_event_timeout still times out at its own limit, not at the
    longer limit of the stream opened before it."""
    loop = asyncio.get_running_loop()
    transport = _HeldStreams()
    ended: dict[str, float] = {}

    async def one(client: mw.AsyncMoveworks, name: str, limit: float) -> None:
        try:
            async with client.responses.stream(CID, text="q", first_event_timeout=limit):
                raise AssertionError("no stream can open here")  # pragma: no cover
        except mw.FirstEventTimeout:
            ended[name] = loop.time() - start

    async with _held_client(transport, timeout=None) as client:
        start = loop.time()
        slow = asyncio.ensure_future(one(client, "slow", 60.0))
        for _ in range(20):
            await asyncio.sleep(0)
        fast = asyncio.ensure_future(one(client, "fast", 5.0))
        await asyncio.gather(slow, fast)
    assert ended["fast"] == pytest.approx(5.0, abs=0.01)
    assert ended["slow"] == pytest.approx(60.0, abs=0.01)


# --- the survivors left untriaged after the 06:20 run (2026-12-05 08:30 rerun) ---------------


class _RecordingOpener:
    """A Transport's stream context that records whether the stream let it go."""

    def __init__(self, reply: _SliceReply) -> None:
        self.reply = reply
        self.closed = False

    async def __aenter__(self) -> _SliceReply:
        return self.reply

    async def __aexit__(self, *exc: object) -> None:
        return None

    def close(self) -> None:
        self.closed = True


class _RecordingTransport(_SliceTransport):
    def __init__(self, chunks: list[bytes]) -> None:
        super().__init__(chunks)
        self.openers: list[_RecordingOpener] = []

    def stream(self, *args: Any, **kwargs: Any) -> _RecordingOpener:  # type: ignore[override]
        opener = _RecordingOpener(self.reply)
        self.openers.append(opener)
        return opener


async def test_leaving_the_block_lets_the_transports_stream_context_go() -> None:
    """A custom Transport's stream context is closed when the stream's block ends (what the
    ``StreamOpener`` protocol promises it), not only the reply it handed out."""
    transport = _RecordingTransport(happy_events())
    async with _slice_client(transport) as client:
        async with client.responses.stream(CID, text="q") as stream:
            assert (await stream.final_response()).status == mw.ResponseStatus.COMPLETED
            assert [o.closed for o in transport.openers] == [False]
        assert [o.closed for o in transport.openers] == [True]


class _Clock:
    """An injected clock that only moves when a test moves it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _clocked_client(transport: _SliceTransport, clock: Callable[[], float]) -> mw.AsyncMoveworks:
    """A stub-transport client on an injected ``clock`` (sleeping with the loop's sleep), so
    its streams watch their reads with a task instead of a loop timer."""
    return mw.AsyncMoveworks(
        assistant_name="acme",
        token="t",
        base_url="http://stub.invalid",
        transport=transport,  # type: ignore[arg-type]
        clock=clock,
        sleep=asyncio.sleep,
    )


async def _read_all(stream: Any, types: list[type] | None = None) -> None:
    """Iterate ``stream`` to its end, recording the type of each event in ``types``."""
    async for item in stream:
        if types is not None:
            types.append(type(item))


class _TimedReply(_SliceReply):
    """Serves its chunks at once, each read first setting the clock to the time given for it
    (a server whose every read is ready, however late the clock)."""

    def __init__(self, clock: _Clock, timed: list[tuple[float, bytes]]) -> None:
        super().__init__([chunk for _, chunk in timed])
        self._clock = clock
        self._times = [at for at, _ in timed]

    async def read_chunk(self) -> bytes:
        if self._times:
            self._clock.now = self._times.pop(0)
        return await super().read_chunk()


async def test_a_flood_of_keep_alives_past_the_first_event_limit_times_out() -> None:
    """Every read is ready at once (no timer ever gets to run), each a keep-alive only, while
    the clock passes ``first_event_timeout``: the read that starts after it ends the stream
    with the first-event timeout, not with an event that is not one."""
    clock = _Clock(1000.0)
    keep_alive = b": ka\n\n"
    reply = _TimedReply(clock, [(1010.0, keep_alive), (1040.0, keep_alive), (1041.0, keep_alive)])
    transport = _SliceTransport([])
    transport.reply = reply
    async with (
        _clocked_client(transport, clock) as client,
        client.responses.stream(CID, text="q", first_event_timeout=30.0, recover=False) as stream,
    ):
        with pytest.raises(mw.APITimeoutError) as caught:
            await anext(aiter(stream))
    assert caught.value.phase == "first_event"
    assert reply.reads == 2  # the third read never started: the limit had passed


async def test_a_body_ending_exactly_at_the_deadline_is_a_deadline_timeout() -> None:
    """The body ends (no terminal event) at the very instant the stream's deadline passes:
    no time is left to recover, so the stream ends with DeadlineTimeout, not with an error
    about a zero polling budget."""
    clock = _Clock(1000.0)
    created = happy_events()[0]
    reply = _TimedReply(clock, [(1000.0, created), (1010.0, b"")])
    transport = _SliceTransport([])
    transport.reply = reply
    async with (
        _clocked_client(transport, clock) as client,
        client.responses.stream(CID, text="q", deadline=10.0) as stream,
    ):
        assert isinstance(await anext(aiter(stream)), mw.ResponseCreated)
        with pytest.raises(mw.DeadlineTimeout) as caught:
            await anext(aiter(stream))
    assert str(caught.value) == "the stream passed its deadline while recovering"


async def test_a_stream_closed_by_another_task_while_reading_says_so() -> None:
    """``aclose()`` from another task while the stream reads a long run of bytes without an
    event (it gives the loop a turn every 64 KiB): the reader's next step raises
    ClientStateError with its own words, not an event that is not one."""
    filler = b":" + b"k" * (_streaming._YIELD_BYTES - 2) + b"\n"  # one keep-alive, 64 KiB
    holder: list[Any] = []
    closers: list[asyncio.Future[None]] = []

    class _ClosedMeanwhile(_SliceReply):
        async def read_chunk(self) -> bytes:
            chunk = await super().read_chunk()
            if self.reads == 2:  # the close runs in the turn the reader gives the loop next
                closers.append(asyncio.ensure_future(holder[0].aclose()))
            return chunk

    reply = _ClosedMeanwhile([happy_events()[0], filler, *happy_events()[1:]])
    async with _stub([], reply) as client, client.responses.stream(CID, text="q") as stream:
        holder.append(stream)
        assert isinstance(await anext(aiter(stream)), mw.ResponseCreated)
        with pytest.raises(mw.ClientStateError) as caught:
            await anext(aiter(stream))
    assert str(caught.value) == "this ResponseStream was closed"
    assert reply.reads == 2
    assert [closer.done() for closer in closers] == [True]


async def test_events_after_the_terminal_event_are_not_delivered() -> None:
    """A read that holds more after the terminal event (a late delta, an unknown event): the
    stream ends at the terminal event and its outputs stay the terminal response's."""
    events = happy_events()
    late = event("RESPONSE_OUTPUT_DELTA", len(events) + 1, output=message_item("late text"))
    unknown = b'event: response.future\ndata: {"x": 1}\n\n'
    reply = _SliceReply([b"".join(events) + late + unknown])
    got: list[type] = []
    async with _stub([], reply) as client, client.responses.stream(CID, text="q") as stream:
        async for item in stream:
            got.append(type(item))
            if type(item) is mw.ResponseCompleted:
                at_the_end = stream.messages
    assert len(got) == len(events)
    assert got[-1] is mw.ResponseCompleted
    assert stream.messages == at_the_end


async def test_an_error_event_echoing_the_token_is_masked() -> None:
    """An ERROR event whose code and message echo the client's bearer: the StreamError the
    caller gets shows neither (the client's masking reaches the stream's content rules)."""
    error = event(
        "ERROR", 2, error={"code": "bad_test-token", "message": "bearer test-token refused"}
    )
    async with (
        scripted([happy_events()[0], error]) as (_, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        with pytest.raises(mw.StreamError) as caught:
            await _read_all(stream)
    assert "test-token" not in str(caught.value)
    assert caught.value.code is not None
    assert "test-token" not in caught.value.code
    assert "refused" in str(caught.value)


async def test_hooks_see_the_stream_create_as_a_post_to_its_route() -> None:
    """Call hooks see a stream's create as what it is on the wire: a POST to the
    conversation's ``responses/stream`` route."""
    seen: list[tuple[str, str, str]] = []

    class Recorder(mw.Hooks):
        def on_call_start(self, info: mw.CallInfo) -> None:
            seen.append(("start", info.method, info.path))

        def on_call_end(self, info: mw.CallEndInfo) -> None:
            seen.append(("end", info.method, info.path))

    async with (
        ScriptServer(happy_events()) as server,
        make_client(server.url, hooks=[Recorder()]) as client,
        client.responses.stream(CID, text="q") as stream,
    ):
        await stream.final_response()
    route = f"/conversations/{CID}/responses/stream"
    assert [(kind, method) for kind, method, _ in seen] == [("start", "POST"), ("end", "POST")]
    assert all(path.endswith(route) for _, _, path in seen)


async def test_a_create_under_a_deadline_refused_with_429_honours_max_retries(
    fake_time: Any,
) -> None:
    """``max_retries`` bounds the retries of a 429'd create under a stream ``deadline`` too
    (the opening path without one is tested above)."""
    for retries in (0, 1):
        async with scripted(happy_events(), fake_time, status=429) as (server, client):
            with pytest.raises(mw.RateLimitError):
                async with client.responses.stream(
                    CID, text="q", deadline=600.0, max_retries=retries
                ):
                    pass  # pragma: no cover - the stream must not open
            assert server.creates == retries + 1


async def test_an_error_leaving_iteration_keeps_no_read_alive() -> None:
    """The error a bad event raises from ``async for`` holds, through its traceback, none of
    the bytes the stream read (the read may be megabytes; the caller may keep the error)."""
    from reliability.test_review_findings import _holds

    bad = event("RESPONSE_OUTPUT_DELTA", 2, output={"type": "MESSAGE", "message": {"p": "EV-MARK"}})
    reply = _SliceReply([happy_events()[0] + bad])
    async with _stub([], reply) as client, client.responses.stream(CID, text="q") as stream:
        with pytest.raises(mw.ResponseValidationError) as caught:
            async for _event in stream:
                pass
    assert _holds(caught.value, "EV-MARK") == []


@pytest.mark.parametrize("watchdog", ["loop-timer", "task"])
async def test_a_stream_outliving_its_first_event_limit_without_an_idle_limit_completes(
    watchdog: str,
) -> None:
    """``first_event_timeout`` without ``idle_timeout``: once the first event came, the
    watchdog armed for it wakes to find no limit left and stands down; a server that then
    pauses past the old limit is waited for, and the stream reads on to its end."""
    events = happy_events()
    script: list[Any] = [events[0], 2.0, events[1], 0.1, *events[2:]]
    loop = asyncio.get_running_loop()
    async with ScriptServer(script) as server:
        kw: dict[str, Any] = {}
        if watchdog == "task":
            kw = {"clock": lambda: loop.time(), "sleep": asyncio.sleep}
        async with (
            make_client(server.url, **kw) as client,
            client.responses.stream(
                CID, text="q", first_event_timeout=1.0, idle_timeout=None, recover=False
            ) as stream,
        ):
            got = [e.sequence_number async for e in stream]
    assert got == list(range(1, len(events) + 1))


async def test_the_loop_timer_follows_an_idle_limit_pushed_by_data_then_fires() -> None:
    """Loop-timer watchdog: data that arrives before the idle timer fires moves the idle
    limit later; when the timer wakes at the old limit it re-arms for the new one, so a
    server that stalls right after that data gets IdleTimeout one idle_timeout after it."""
    events = happy_events()
    script: list[Any] = [events[0], 0.6, events[1], 30.0, *events[2:]]
    loop = asyncio.get_running_loop()
    got: list[type] = []
    async with scripted(script) as (_, client):
        start = loop.time()
        async with client.responses.stream(
            CID, text="q", idle_timeout=1.0, recover=False
        ) as stream:
            with pytest.raises(mw.IdleTimeout):
                await _read_all(stream, got)
        elapsed = loop.time() - start
    assert got == [mw.ResponseCreated, mw.ResponseInProgress]
    assert elapsed == pytest.approx(1.6, abs=0.1)


async def _loop_turns(
    reply: _SliceReply, progress: Callable[[list[Any]], int]
) -> tuple[list[Any], list[int]]:
    """Read a stream served by ``reply`` to its end while another task records
    ``progress(events so far)`` at each loop turn it gets (each new non-zero value once)."""
    got: list[Any] = []
    turns: list[int] = []
    done = False

    async def ticker() -> None:
        while not done:
            now = progress(got)
            if now and (not turns or turns[-1] != now):
                turns.append(now)
            await asyncio.sleep(0)

    async with _stub([], reply) as client, client.responses.stream(CID, text="q") as stream:
        task = asyncio.ensure_future(ticker())
        async for item in stream:
            got.append(item)
        done = True
        await task
    return got, turns


def _keep_alive(size: int) -> bytes:
    """One SSE comment line of exactly ``size`` bytes: body bytes that complete no event."""
    return b":" + b"k" * (size - 2) + b"\n"


async def test_the_loop_gets_a_turn_after_every_64_kib_read() -> None:
    """Reads that are all ready at once and complete no event: the stream gives the loop a
    turn as soon as 64 KiB have been read since the last turn (at exactly 64 KiB too), and
    counts afresh from each turn."""
    third = 21845  # three of them are 1 byte short of 64 KiB, four are past it
    quarter = 16384  # four of them are exactly 64 KiB
    assert 3 * third == _streaming._YIELD_BYTES - 1
    assert 4 * quarter == _streaming._YIELD_BYTES
    chunks = [
        *[_keep_alive(third)] * 4,  # turn after read 4
        *[_keep_alive(quarter)] * 4,  # turn after read 8 (exactly 64 KiB)
        *[_keep_alive(third)] * 4,  # turn after read 12
        b"".join(happy_events()),
    ]
    reply = _SliceReply(chunks)
    got, turns = await _loop_turns(reply, lambda _got: reply.reads)
    assert isinstance(got[-1], mw.ResponseCompleted)
    assert turns[:3] == [4, 8, 12]


async def test_a_flood_in_one_read_gives_the_loop_a_turn_after_exactly_256_events() -> None:
    """All events in one read (under 64 KiB, so no byte count asks for a turn): the first
    turn comes after exactly 256 delivered events, and then after every 256 more."""
    tiny = b"".join(b'event: response.future\ndata: {"i":%d}\n\n' % i for i in range(1001))
    final = event("RESPONSE_COMPLETED", 2, response=response_json("COMPLETED"))
    body = happy_events()[0] + tiny + final
    assert len(body) < _streaming._YIELD_BYTES
    got, turns = await _loop_turns(_SliceReply([body]), len)
    assert len(got) == 1003
    assert turns[:3] == [256, 512, 768]
