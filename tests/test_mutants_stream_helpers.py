"""Tests written against surviving mutants of ``moveworks_async._stream_helpers`` (tee's hub).

Each asserts what a caller of ``ResponseStream.tee()`` relies on; see docs/mutants.md.
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
from _stream_support import CID, happy_events, scripted

import moveworks_async as mw

pytestmark = [pytest.mark.asyncio, pytest.mark.virtual_time]


@pytest.mark.parametrize("after_events", [0, 1])
async def test_final_response_first_on_a_tee_d_stream_that_fails_early(
    fake_time: Any, after_events: int
) -> None:
    """final_response() before any consumer read, on a stream whose ERROR event comes first
    or after one event: it raises the stream's StreamError (not an internal error), and each
    consumer then gets the events before it and the same error."""
    from _stream_support import collect_into, make_client

    from moveworks_async.testing import FakeMoveworks, Fault

    async with (
        FakeMoveworks(stream_delay=0.0, polls_to_complete=2) as server,
        make_client(server.url, "v1", fake_time) as client,
    ):
        cid = (await client.conversations.create()).conversation_id
        server.inject(Fault.error_event(code="BOOM", after_events=after_events), times=1)
        async with client.responses.stream(cid, text="hi") as stream:
            consumers = stream.tee(2)
            with pytest.raises(mw.StreamError) as caught:
                await stream.final_response()
            assert caught.value.code == "BOOM"
            for consumer in consumers:
                got: list[Any] = []
                with pytest.raises(mw.StreamError) as caught:
                    await collect_into(consumer, got)
                assert len(got) == after_events
                assert caught.value.code == "BOOM"


async def test_closing_every_consumer_is_quiet_and_the_stream_still_finishes() -> None:
    """Closing the last consumer of a tee must not raise; the stream's final response is
    still available afterwards."""
    async with (
        scripted(happy_events()) as (_, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        first, second = stream.tee(2)
        await anext(aiter(first))
        first.close()
        second.close()
        assert [e async for e in first] == []
        final = await stream.final_response()
    assert final.status == mw.ResponseStatus.COMPLETED


async def test_only_the_consumer_max_buffer_behind_is_disconnected() -> None:
    """max_buffer=3, three consumers: when the fastest has read 4 events, the one that read
    none is disconnected, but the one that read 1 (2 behind the newest) keeps every event."""
    n = len(happy_events())
    assert n > 5
    async with (
        scripted(happy_events()) as (_, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        fast, idle, middle = stream.tee(3, max_buffer=3)
        middle_iter = aiter(middle)
        got_middle = [await anext(middle_iter)]
        fast_iter = aiter(fast)
        for _ in range(4):
            await anext(fast_iter)
        assert idle.disconnected
        assert not middle.disconnected
        with pytest.raises(mw.SlowConsumerError):
            await anext(aiter(idle))
        got_middle += [e async for e in middle]
        got_fast = [e async for e in fast]
    assert len(got_middle) == n
    assert len(got_fast) == n - 4


async def test_events_every_consumer_has_read_are_released() -> None:
    """A tee keeps an event only until every consumer has read it: with two consumers
    reading in step, the events both have read (and dropped) are freed while the stream is
    still open, so a long tee'd stream does not grow in memory."""
    async with (
        scripted(happy_events()) as (_, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        first, second = (aiter(c) for c in stream.tee(2))
        refs = []
        for _ in range(4):
            a = await anext(first)
            b = await anext(second)
            assert a is b
            refs.append(weakref.ref(a))
            del a, b
        gc.collect()
        assert [r() is None for r in refs[:-1]] == [True, True, True]


async def test_closing_every_consumer_releases_the_events_they_left() -> None:
    """Once every consumer is closed, the tee holds no event any more, even ones a
    consumer read that another had not."""
    async with (
        scripted(happy_events()) as (_, client),
        client.responses.stream(CID, text="q") as stream,
    ):
        first, second = stream.tee(2)
        refs = []
        for _ in range(2):
            refs.append(weakref.ref(await anext(aiter(first))))
        await anext(aiter(second))
        first.close()
        second.close()
        gc.collect()
        assert [r() is None for r in refs] == [True, True]


async def test_final_response_of_a_tee_d_stream_closed_before_its_end() -> None:
    """A tee'd stream closed (its block left) before the end cannot produce a final response:
    ClientStateError, with the same words as an un-tee'd stream."""
    async with scripted(happy_events()) as (_, client):
        async with client.responses.stream(CID, text="q") as stream:
            (consumer,) = stream.tee(1)
            await anext(aiter(consumer))
        with pytest.raises(mw.ClientStateError) as caught:
            await stream.final_response()
    assert str(caught.value) == "this ResponseStream was closed before its end"
