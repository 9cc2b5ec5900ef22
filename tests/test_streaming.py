"""``responses.stream()``: typed events over every framing, state, helpers and lifecycle."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import pytest_asyncio
from _stream_support import (
    CID,
    FINAL_TEXT,
    collect,
    collect_into,
    completed_response,
    event,
    frame,
    happy_events,
    make_client,
    message_item,
    reasoning_item,
    response_json,
    scripted,
)

import moveworks_async as mw
from moveworks_async.testing import FakeMoveworks, Fault

pytestmark = [pytest.mark.asyncio, pytest.mark.virtual_time]

ANSWER = "Reset your password from the account page, then sign in again with the new one."
KINDS = [
    mw.ResponseCreated,
    mw.ResponseInProgress,
    mw.ResponseOutputDelta,
    mw.ResponseOutputDelta,
    mw.ResponseOutputDelta,
    mw.ResponseOutputDelta,
    mw.ResponseOutputDelta,
    mw.ResponseCompleted,
]


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeMoveworks]:
    """A fake Moveworks server with one scripted answer and instant streams."""
    async with FakeMoveworks(stream_delay=0.0, polls_to_complete=2, answer={"hi": ANSWER}) as s:
        yield s


@pytest_asyncio.fixture
async def client(server: FakeMoveworks, fake_time: Any) -> AsyncIterator[mw.AsyncMoveworks]:
    """A rest/v1 client of ``server`` whose polling never waits."""
    async with make_client(server.url, "v1", fake_time) as c:
        yield c


async def _conversation(client: mw.AsyncMoveworks) -> str:
    return (await client.conversations.create()).conversation_id


# --- the happy path --------------------------------------------------------------------------


async def test_events_are_typed_and_in_order(client: mw.AsyncMoveworks) -> None:
    """A stream yields CREATED, IN_PROGRESS, deltas and COMPLETED with sequence numbers 1..n."""
    cid = await _conversation(client)
    async with client.responses.stream(cid, text="hi") as stream:
        events = await collect(stream)
        final = await stream.final_response()
    assert [type(e) for e in events] == KINDS
    assert [e.sequence_number for e in events] == list(range(1, 9))
    assert final is events[-1].response
    assert final.status == mw.ResponseStatus.COMPLETED
    assert final.text == ANSWER
    assert stream.response_id == final.response_id
    assert events[-1].recovered is False


async def test_response_id_known_after_created(client: mw.AsyncMoveworks) -> None:
    """``response_id`` is None before the first event and set by RESPONSE_CREATED."""
    cid = await _conversation(client)
    async with client.responses.stream(cid, text="hi") as stream:
        before = stream.response_id
        first = await anext(aiter(stream))
        assert before is None
        assert isinstance(first, mw.ResponseCreated)
        assert stream.response_id == first.response.response_id


async def test_final_response_consumes_the_rest(client: mw.AsyncMoveworks) -> None:
    """``final_response()`` without iterating reads to the terminal event."""
    cid = await _conversation(client)
    async with client.responses.stream(cid, text="hi") as stream:
        final = await stream.final_response()
        assert await collect(stream) == []  # nothing left to iterate
        assert await stream.final_response() is final
    assert final.text == ANSWER
    assert await stream.final_response() is final  # still available after the block


async def test_final_response_after_partial_iteration(client: mw.AsyncMoveworks) -> None:
    """Iterating a few events then calling ``final_response()`` finishes the stream."""
    cid = await _conversation(client)
    async with client.responses.stream(cid, text="hi") as stream:
        it = aiter(stream)
        seen = [await anext(it) for _ in range(3)]
        final = await stream.final_response()
    assert len(seen) == 3
    assert final.text == ANSWER


async def test_messages_upserted_by_id(client: mw.AsyncMoveworks) -> None:
    """``stream.messages`` holds one item per message id, the latest snapshot, in order."""
    cid = await _conversation(client)
    snapshots: list[str] = []
    async with client.responses.stream(cid, text="hi") as stream:
        async for e in stream:
            if isinstance(e, mw.ResponseOutputDelta) and isinstance(e.output, mw.MessageOutput):
                snapshots.append(e.output.message.text)
                current = [m for m in stream.messages if isinstance(m, mw.MessageOutput)]
                assert len(current) == 1
                assert current[0].message.text == e.output.message.text
        items = stream.messages
    assert len(snapshots) == 3
    assert len(set(snapshots)) == 3  # growing snapshots, all replaced in place
    assert [type(i) for i in items] == [mw.ReasoningOutput, mw.ReasoningOutput, mw.MessageOutput]
    assert items[-1].message.text == ANSWER  # type: ignore[union-attr]


async def test_messages_upsert_exact() -> None:
    """Snapshots with the same id replace in place; new ids append; order is first-seen."""
    script = [
        event("RESPONSE_CREATED", 1, response=response_json()),
        event("RESPONSE_OUTPUT_DELTA", 2, output=reasoning_item("r1", "rmsg_1")),
        event("RESPONSE_OUTPUT_DELTA", 3, output=message_item("A", "msg_a")),
        event("RESPONSE_OUTPUT_DELTA", 4, output=reasoning_item("r1 more", "rmsg_1")),
        event("RESPONSE_OUTPUT_DELTA", 5, output=message_item("AB", "msg_a")),
        event("RESPONSE_OUTPUT_DELTA", 6, output=message_item("Z", "msg_z")),
    ]
    async with scripted(script) as (_, client), client.responses.stream(CID, text="q") as stream:
        seen: list[tuple[str, ...]] = []
        async for e in stream:
            if isinstance(e, mw.ResponseOutputDelta):
                seen.append(tuple(getattr(i, "text", "") or _text(i) for i in stream.messages))
            if isinstance(e, mw.ResponseCompleted):
                break
    assert seen == [
        ("r1",),
        ("r1", "A"),
        ("r1 more", "A"),
        ("r1 more", "AB"),
        ("r1 more", "AB", "Z"),
    ]


def _text(item: Any) -> str:
    if isinstance(item, mw.MessageOutput):
        return item.message.text
    if isinstance(item, mw.ReasoningOutput):
        return item.reasoning_message.text
    return ""


# --- request ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("api_version", "kwargs", "body"),
    [
        ("v1beta1", {"text": "hi"}, {"input": {"text": "hi"}}),
        ("assistant-v1", {"text": "hi"}, {"input": {"text": "hi"}}),
        ("assistant-v1", {"callback_id": "cb_1"}, {"input": {"callback_id": "cb_1"}}),
        ("v1", {"text": "hi"}, {"input": {"chat": {"text": "hi"}}}),
        ("v1", {"callback_id": "cb_1"}, {"input": {"callback_id": "cb_1"}}),
    ],
)
async def test_request_per_generation(
    api_version: str, kwargs: dict[str, str], body: dict[str, Any]
) -> None:
    """Each generation gets its path, its body shape and ``Accept: text/event-stream``."""
    async with (
        scripted(happy_events()) as (server, _),
        make_client(server.url, api_version) as client,
        client.responses.stream(CID, **kwargs) as stream,
    ):
        await stream.final_response()
    prefix = {"v1beta1": "/rest/v1beta1", "assistant-v1": "/assistant/v1", "v1": "/rest/v1"}
    assert server.paths == [f"{prefix[api_version]}/conversations/{CID}/responses/stream"]
    assert server.bodies == [body]
    headers = server.request_headers[0]
    assert headers["Accept"] == "text/event-stream"
    assert headers["Assistant-Name"] == "acme-capi"
    assert headers["Authorization"] == "Bearer test-token"
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"text": None},
        {"text": "hi", "callback_id": "cb"},
        {"text": "   "},
        {"text": "hi", "first_event_timeout": 0},
        {"text": "hi", "idle_timeout": -1},
        {"text": "hi", "idle_timeout": float("nan")},
        {"text": "hi", "deadline": "10"},
        {"text": "hi", "recover": 1},
        {"text": "hi", "recover_timeout": None},
        {"text": "hi", "max_event_size": 0},
        {"text": "hi", "max_event_size": 1.5},
        {"text": "hi", "max_retries": -1},
    ],
)
async def test_invalid_arguments_fail_before_io(kwargs: dict[str, Any]) -> None:
    """Bad arguments raise InvalidParameterError when the stream is created, before any I/O."""
    async with scripted(happy_events()) as (server, client):
        with pytest.raises(mw.InvalidParameterError):
            client.responses.stream(CID, **kwargs)
        with pytest.raises(mw.InvalidParameterError):
            client.responses.stream("../admin", text="hi")
    assert server.creates == 0


async def test_callback_id_on_v1beta1_is_unsupported() -> None:
    """v1beta1 has no callback input: refused before I/O."""
    async with scripted(happy_events()) as (server, client):
        with pytest.raises(mw.UnsupportedOperationError):
            client.responses.stream(CID, callback_id="cb_1")
    assert server.creates == 0


async def test_content_type_with_parameters_accepted() -> None:
    """``text/event-stream; charset=utf-8`` is an event stream."""
    content_type = "text/event-stream; charset=utf-8"
    async with (
        scripted(happy_events(), content_type=content_type) as (_, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        assert (await stream.final_response()).text == FINAL_TEXT
        assert stream.request_id == "trace-1"


# --- framings (fake server faults) -----------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault.crlf(),
        Fault.cr(),
        Fault.trickle(bytes_per_write=1),
        Fault.trickle(bytes_per_write=7),
        Fault.comments(every=1),
        Fault.unknown_fields(),
    ],
    ids=["crlf", "cr", "1-byte-writes", "7-byte-writes", "comments", "unknown-fields"],
)
async def test_framings_give_the_same_events(
    server: FakeMoveworks, client: mw.AsyncMoveworks, fault: Any
) -> None:
    """Line endings, chunking, comments and unknown fields do not change the typed events."""
    cid = await _conversation(client)
    server.inject(fault, times=1)
    async with client.responses.stream(cid, text="hi") as stream:
        events = await collect(stream)
    assert [type(e) for e in events] == KINDS
    assert [e.sequence_number for e in events] == list(range(1, 9))
    assert events[-1].response.text == ANSWER
    assert not events[-1].recovered


async def test_unknown_events_are_yielded(server: FakeMoveworks, client: mw.AsyncMoveworks) -> None:
    """Unknown event names are yielded as UnknownEvent (not errors) between the known ones."""
    cid = await _conversation(client)
    server.inject(Fault.unknown_event(), times=1)
    async with client.responses.stream(cid, text="hi") as stream:
        events = await collect(stream)
    unknown = [e for e in events if isinstance(e, mw.UnknownEvent)]
    known = [e for e in events if not isinstance(e, mw.UnknownEvent)]
    assert [type(e) for e in known] == KINDS
    assert len(unknown) == 7
    assert all(e.event_type == "RESPONSE_FUTURE_THING" for e in unknown)
    assert unknown[0].data["thing"]["kind"] == "future"
    assert [e.sequence_number for e in events] == list(range(1, len(events) + 1))
    assert known[-1].response.text == ANSWER


# --- framings (exact bytes) ------------------------------------------------------------------


async def test_unknown_event_with_non_json_data_is_not_an_error() -> None:
    """An unknown event whose data is not JSON is yielded with its raw text."""
    script = [
        event("RESPONSE_CREATED", 1, response=response_json()),
        b"event: PING\ndata: hello\n\n",
        b"data: [DONE]\n\n",
        event("RESPONSE_COMPLETED", 2, response=completed_response()),
    ]
    async with (
        scripted(script) as (_, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        events = await collect(stream)
    assert events[1] == mw.UnknownEvent("PING", None, {"data": "hello"})
    assert events[2] == mw.UnknownEvent("message", None, {"data": "[DONE]"})
    assert isinstance(events[3], mw.ResponseCompleted)


def _whole(ending: str) -> list[bytes]:
    return [b.replace(b"\n", ending.encode()) for b in happy_events()]


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
async def test_exact_line_endings_one_byte_chunks(ending: str) -> None:
    """Every line ending, written one byte at a time, gives the same events."""
    data = b"".join(_whole(ending))
    script: list[Any] = [data[i : i + 1] for i in range(len(data))]
    async with (
        scripted(script) as (_, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        events = await collect(stream)
    assert [e.sequence_number for e in events] == list(range(1, 8))
    assert events[-1].response.text == FINAL_TEXT


async def test_multiline_data_bom_and_fields() -> None:
    """A BOM, JSON split over several data lines, ``data:`` without space, id/retry, comments."""
    created = json.dumps(
        {"event_type": "RESPONSE_CREATED", "sequence_number": 1, "response": response_json()},
        indent=2,
    )
    multiline = "".join(f"data: {line}\n" for line in created.split("\n"))
    completed = json.dumps(
        {
            "event_type": "RESPONSE_COMPLETED",
            "sequence_number": 2,
            "response": completed_response(),
        }
    )
    body = (
        "\ufeff: hello comment\n"
        "retry: 1000\n"
        "id: 1\n"
        f"event: RESPONSE_CREATED\n{multiline}\n"
        ": keep-alive\n\n"
        "unknown-field: ignored\n"
        f"event:RESPONSE_COMPLETED\ndata:{completed}\n\n"
    ).encode()
    async with scripted([body]) as (_, client), client.responses.stream(CID, text="q") as stream:
        events = await collect(stream)
    assert [type(e) for e in events] == [mw.ResponseCreated, mw.ResponseCompleted]
    assert events[-1].response.text == FINAL_TEXT


async def test_frames_without_event_field() -> None:
    """Frames without ``event:`` are typed by the ``event_type`` in their data."""
    created = {"event_type": "RESPONSE_CREATED", "sequence_number": 1, "response": response_json()}
    done = {"event_type": "RESPONSE_COMPLETED", "sequence_number": 2}
    script = [frame(None, created), frame(None, {**done, "response": completed_response()})]
    async with scripted(script) as (_, client), client.responses.stream(CID, text="q") as stream:
        events = await collect(stream)
    assert [type(e) for e in events] == [mw.ResponseCreated, mw.ResponseCompleted]


async def test_large_event_under_the_cap() -> None:
    """A 2 MB snapshot (larger than aiohttp's line limit) parses when under max_event_size."""
    big = "x" * (2 * 1024 * 1024)
    script = [
        event("RESPONSE_CREATED", 1, response=response_json()),
        event("RESPONSE_OUTPUT_DELTA", 2, output=message_item(big)),
        event("RESPONSE_COMPLETED", 3, response=response_json("COMPLETED", [message_item(big)])),
    ]
    async with scripted(script) as (_, client), client.responses.stream(CID, text="q") as stream:
        final = await stream.final_response()
    assert final.text == big


async def test_events_after_terminal_are_ignored_and_connection_closed() -> None:
    """The stream ends at the terminal event even if the server keeps the body open."""
    script: list[Any] = [*happy_events(), 5.0]  # the server would stall for 5 s after COMPLETED
    async with scripted(script) as (server, client):
        start = anyio.current_time()
        async with client.responses.stream(CID, text="q") as stream:
            events = await collect(stream)
            assert await _settle(lambda: server.active == 0)
        assert anyio.current_time() - start < 2.0
    assert isinstance(events[-1], mw.ResponseCompleted)


async def _settle(predicate: Any) -> bool:
    from _stream_support import settle

    return await settle(predicate)


# --- text_deltas -----------------------------------------------------------------------------


async def test_text_deltas_join_to_final_text(client: mw.AsyncMoveworks) -> None:
    """Concatenated text deltas equal the final answer; each delta is only new text."""
    cid = await _conversation(client)
    async with client.responses.stream(cid, text="hi") as stream:
        deltas = [d async for d in stream.text_deltas()]
        final = await stream.final_response()
    assert "".join(deltas) == final.text == ANSWER
    assert len(deltas) == 3
    assert all(deltas)


async def test_text_deltas_exact_policy() -> None:
    """Suffixes for extensions, the whole text after a rewrite, ``\\n\\n`` before a new message."""
    script = [
        event("RESPONSE_CREATED", 1, response=response_json()),
        event("RESPONSE_OUTPUT_DELTA", 2, output=reasoning_item("thinking")),
        event("RESPONSE_OUTPUT_DELTA", 3, output=message_item("Hel", "m1")),
        event("RESPONSE_OUTPUT_DELTA", 4, output=message_item("Hello", "m1")),
        event("RESPONSE_OUTPUT_DELTA", 5, output=message_item("Hello", "m1")),
        event("RESPONSE_OUTPUT_DELTA", 6, output=message_item("Howdy", "m1")),
        event("RESPONSE_OUTPUT_DELTA", 7, output=message_item("", "m2")),
        event("RESPONSE_OUTPUT_DELTA", 8, output=message_item("Bye", "m2")),
        event(
            "RESPONSE_COMPLETED",
            9,
            response=response_json(
                "COMPLETED", [message_item("Howdy", "m1"), message_item("Bye now", "m2")]
            ),
        ),
    ]
    async with scripted(script) as (_, client), client.responses.stream(CID, text="q") as stream:
        deltas = [d async for d in stream.text_deltas()]
    assert deltas == ["Hel", "lo", "Howdy", "\n\nBye", " now"]


async def test_text_deltas_after_recovery_complete_the_text(
    server: FakeMoveworks, client: mw.AsyncMoveworks
) -> None:
    """When the stream is cut, the rest of the text comes from the recovered response."""
    cid = await _conversation(client)
    server.inject(Fault.cut_stream(after_events=5), times=1)
    async with client.responses.stream(cid, text="hi") as stream:
        deltas = [d async for d in stream.text_deltas()]
        final = await stream.final_response()
    assert "".join(deltas) == final.text == ANSWER
    assert server.stats.creates == 1


# --- tee -------------------------------------------------------------------------------------


async def test_tee_every_consumer_sees_every_event(client: mw.AsyncMoveworks) -> None:
    """Three consumers each receive the full sequence of the one upstream stream."""
    cid = await _conversation(client)
    results: dict[int, list[Any]] = {}

    async def consume(i: int, consumer: mw.StreamConsumer) -> None:
        results[i] = [e async for e in consumer]

    async with client.responses.stream(cid, text="hi") as stream:
        consumers = stream.tee(3)
        async with anyio.create_task_group() as tg:
            for i, consumer in enumerate(consumers):
                tg.start_soon(consume, i, consumer)
        final = await stream.final_response()
    assert len(results) == 3
    for events in results.values():
        assert [type(e) for e in events] == KINDS
        assert events == results[0]
    assert final is results[0][-1].response


async def test_tee_slow_consumer_is_disconnected(client: mw.AsyncMoveworks) -> None:
    """A consumer more than max_buffer events behind gets SlowConsumerError; others finish."""
    cid = await _conversation(client)
    async with client.responses.stream(cid, text="hi") as stream:
        fast, slow = stream.tee(2, max_buffer=3)
        first = await anext(slow)
        fast_events = [e async for e in fast]
        assert slow.disconnected
        with pytest.raises(mw.SlowConsumerError):
            await anext(slow)
        assert (await stream.final_response()).text == ANSWER
    assert isinstance(first, mw.ResponseCreated)
    assert [type(e) for e in fast_events] == KINDS


async def test_tee_final_response_reads_for_the_consumers(client: mw.AsyncMoveworks) -> None:
    """``final_response()`` on a tee'd stream drains it; consumers still get every event."""
    cid = await _conversation(client)
    async with client.responses.stream(cid, text="hi") as stream:
        a, b = stream.tee(2, max_buffer=64)
        first = await anext(a)
        final = await stream.final_response()
        rest_a = [e async for e in a]
        all_b = [e async for e in b]
    assert [first, *rest_a] == all_b
    assert len(all_b) == 8
    assert isinstance(all_b[-1], mw.ResponseCompleted)
    assert final is all_b[-1].response


async def test_tee_consumer_within_buffer_keeps_up(client: mw.AsyncMoveworks) -> None:
    """A consumer that lags by less than max_buffer events loses nothing."""
    cid = await _conversation(client)
    async with client.responses.stream(cid, text="hi") as stream:
        fast, slow = stream.tee(2, max_buffer=8)
        fast_events = [e async for e in fast]
        slow_events = [e async for e in slow]
    assert slow_events == fast_events
    assert len(fast_events) == 8


async def test_tee_closed_consumer_frees_buffer(client: mw.AsyncMoveworks) -> None:
    """A closed consumer neither lags nor holds events for itself."""
    cid = await _conversation(client)
    async with client.responses.stream(cid, text="hi") as stream:
        a, b = stream.tee(2, max_buffer=2)
        b.close()
        events = [e async for e in a]
        assert not b.disconnected
        assert [e async for e in b] == []
    assert len(events) == 8


async def test_tee_propagates_stream_errors_to_all(
    server: FakeMoveworks, client: mw.AsyncMoveworks
) -> None:
    """An ERROR event reaches every consumer after the events before it."""
    cid = await _conversation(client)
    server.inject(Fault.error_event(code="BOOM", after_events=2), times=1)
    async with client.responses.stream(cid, text="hi") as stream:
        consumers = stream.tee(2)
        for consumer in consumers:
            got: list[Any] = []
            with pytest.raises(mw.StreamError) as info:
                await collect_into(consumer, got)
            assert len(got) == 2
            assert info.value.code == "BOOM"


async def test_tee_makes_direct_iteration_an_error(client: mw.AsyncMoveworks) -> None:
    """Once tee'd, the stream itself cannot be iterated (it would steal events)."""
    cid = await _conversation(client)
    async with client.responses.stream(cid, text="hi") as stream:
        stream.tee(2)
        with pytest.raises(RuntimeError, match="tee"):
            await anext(aiter(stream))


async def test_tee_arguments_validated(client: mw.AsyncMoveworks) -> None:
    """``tee`` rejects a non-positive count or buffer."""
    cid = await _conversation(client)
    async with client.responses.stream(cid, text="hi") as stream:
        with pytest.raises(mw.InvalidParameterError):
            stream.tee(0)
        with pytest.raises(mw.InvalidParameterError):
            stream.tee(2, max_buffer=0)


# --- misuse ----------------------------------------------------------------------------------


async def test_iteration_without_async_with(client: mw.AsyncMoveworks) -> None:
    """Iterating without ``async with`` raises a RuntimeError that says what to do."""
    stream = client.responses.stream(CID, text="hi")
    with pytest.raises(RuntimeError, match="async with"):
        async for _ in stream:
            pass
    with pytest.raises(RuntimeError, match="async with"):
        await stream.final_response()
    with pytest.raises(RuntimeError, match="async with"):
        stream.tee(2)


async def test_stream_is_single_use(client: mw.AsyncMoveworks) -> None:
    """A stream object can be entered once; iterating it after the block is an error."""
    cid = await _conversation(client)
    stream = client.responses.stream(cid, text="hi")
    async with stream:
        await anext(aiter(stream))
    with pytest.raises(RuntimeError, match="closed"):
        await anext(aiter(stream))
    with pytest.raises(RuntimeError, match="closed"):
        await stream.final_response()
    with pytest.raises(RuntimeError, match="once"):
        async with stream:
            pass


async def test_entered_but_never_closed_warns() -> None:
    """A stream entered by hand and dropped without closing gives a ResourceWarning."""
    import gc
    import warnings

    async with scripted(happy_events()) as (_, client):
        stream = client.responses.stream(CID, text="q")
        await stream.__aenter__()
        reply = stream._reply
        assert reply is not None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del stream
            gc.collect()
        reply.close()
    assert any(issubclass(w.category, ResourceWarning) for w in caught)


async def test_two_readers_at_once_is_an_error() -> None:
    """A second task reading the same stream concurrently gets a RuntimeError."""
    script: list[Any] = [event("RESPONSE_CREATED", 1, response=response_json()), 1.0]
    async with scripted(script) as (_, client), client.responses.stream(CID, text="q") as stream:
        await anext(aiter(stream))

        async def read() -> None:
            await anext(aiter(stream))

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            await asyncio.sleep(0.02)
            with pytest.raises(RuntimeError, match="another task"):
                await anext(aiter(stream))
            tg.cancel_scope.cancel()


async def test_repr_shows_ids_not_secrets(client: mw.AsyncMoveworks) -> None:
    """The repr names the conversation and response, never the token."""
    cid = await _conversation(client)
    async with client.responses.stream(cid, text="hi") as stream:
        await stream.final_response()
    text = repr(stream)
    assert cid in text
    assert repr(stream.response_id) in text
    assert "test-token" not in text


async def test_recovered_poll_uses_final_state_of_server(client: mw.AsyncMoveworks) -> None:
    """A response that a client polls later matches the streamed final response."""
    cid = await _conversation(client)
    async with client.responses.stream(cid, text="hi") as stream:
        final = await stream.final_response()
    assert stream.response_id is not None
    again = await client.responses.get(cid, stream.response_id)
    assert again.text == final.text
