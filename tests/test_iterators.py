"""List and Data API iterators are for one task at a time: a second task gets
``ClientStateError`` (a ``MoveworksError``, and a ``RuntimeError`` as before), not the bare
``RuntimeError`` of an async generator that is already running (outside review,
/work/adv/s14)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import moveworks_async as mw
from moveworks_async.testing import FakeMoveworks, Fault

pytestmark = pytest.mark.asyncio

KEY = "data-key-canary-5c1e"


async def _until(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not predicate():
            await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def _iterators() -> AsyncIterator[list[tuple[str, FakeMoveworks, Any]]]:
    """(name, server, a fresh iterator factory) for a list method and a Data API iterator."""
    async with (
        FakeMoveworks(data_api_key=KEY) as server,
        mw.AsyncMoveworks(
            base_url=server.url, assistant_name="acme-capi", token="test-token"
        ) as client,
        mw.AsyncDataAPI(api_key=KEY, base_url=server.url) as data,
    ):
        await client.conversations.create()
        server.data_api.generate("users", 3)
        yield [
            ("conversations.list", server, client.conversations.list),
            ("data.users", server, data.users),
        ]


async def _second_task(use: str, iterator: Any) -> None:
    if use == "anext":
        await anext(iterator)
    else:
        await iterator.aclose()


@pytest.mark.parametrize("use", ["anext", "aclose"])
async def test_a_second_task_gets_client_state_error_while_a_page_is_awaited(use: str) -> None:
    async with _iterators() as cases:
        for name, server, make in cases:
            server.inject(Fault.stall(0.5), times=1)
            iterator = make()
            seen = len(server.requests)
            first = asyncio.create_task(anext(iterator))
            await _until(functools.partial(_sent_since, server, seen))  # the page request is out
            with pytest.raises(mw.ClientStateError, match="another task") as info:
                await _second_task(use, iterator)
            assert isinstance(info.value, RuntimeError), name
            assert await first is not None, name  # the first task's iteration goes on
            rest = [item async for item in iterator]
            assert len(rest) == (0 if name == "conversations.list" else 2), name


def _sent_since(server: FakeMoveworks, seen: int) -> bool:
    return len(server.requests) > seen


async def test_an_idle_iterator_closes_and_ends() -> None:
    async with _iterators() as cases:
        for name, _, make in cases:
            iterator = make()
            assert await anext(iterator) is not None, name
            await iterator.aclose()
            with pytest.raises(StopAsyncIteration):
                await anext(iterator)
            async with contextlib.aclosing(make()) as again:
                assert [item async for item in again], name


async def test_a_raw_list_pages_items_are_for_one_task_at_a_time() -> None:
    async with (
        FakeMoveworks() as server,
        mw.AsyncMoveworks(
            base_url=server.url, assistant_name="acme-capi", token="test-token"
        ) as client,
    ):
        for _ in range(2):
            await client.conversations.create()
        page = await client.conversations.with_raw_response.list(limit=1)
        items = page.parse()
        assert await anext(items) is not None  # the first page's item, already read
        server.inject(Fault.stall(0.5), times=1)
        seen = len(server.requests)
        first = asyncio.create_task(anext(items))  # the second page
        await _until(functools.partial(_sent_since, server, seen))
        with pytest.raises(mw.ClientStateError, match="another task"):
            await anext(items)
        assert await first is not None
        assert [item async for item in items] == []


async def test_the_iterators_are_async_generators() -> None:
    """``asend``/``athrow``/``aclose`` behave as an async generator's (type checkers see one:
    ``contextlib.aclosing`` accepts them), with the one-task check on each."""
    async with _iterators() as cases:
        for name, server, make in cases:
            iterator = make()
            assert await iterator.asend(None) is not None, name
            with pytest.raises(ValueError, match="stop"):
                await iterator.athrow(ValueError("stop"))
            with pytest.raises(StopAsyncIteration):
                await anext(iterator)
            server.inject(Fault.stall(0.5), times=1)
            busy = make()
            seen = len(server.requests)
            first = asyncio.create_task(anext(busy))
            await _until(functools.partial(_sent_since, server, seen))
            with pytest.raises(mw.ClientStateError):
                await busy.asend(None)
            with pytest.raises(mw.ClientStateError):
                await busy.athrow(ValueError("stop"))
            assert await first is not None, name
            await busy.aclose()


async def test_an_iterator_ended_by_an_error_does_not_look_complete() -> None:
    """Before: after its page request failed (or the task waiting for it was cancelled), the
    iterator's generator was finished, and the next ``anext()`` ended the listing
    (StopAsyncIteration) as if it were complete (outside review, /work/adv/s14b). Now it says
    the listing is cut; ``aclose()`` still works (``contextlib.aclosing`` keeps the error)."""
    async with _iterators() as cases:
        for name, server, make in cases:
            server.inject(Fault.status(500), times=10)
            iterator = make()
            with pytest.raises(mw.InternalServerError):
                await anext(iterator)
            server.clear_faults()
            with pytest.raises(mw.ClientStateError, match="not the whole listing"):
                await anext(iterator)
            await iterator.aclose()
            server.inject(Fault.stall(5.0), times=1)
            waiting = make()
            seen = len(server.requests)
            task = asyncio.create_task(anext(waiting))
            await _until(functools.partial(_sent_since, server, seen))
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            server.clear_faults()
            with pytest.raises(mw.ClientStateError, match="not the whole listing"):
                await anext(waiting)
            server.inject(Fault.status(500), times=10)
            with pytest.raises(mw.InternalServerError):
                await _drain_closing(make())
            server.clear_faults()
            assert [item async for item in make()], name


async def _drain_closing(iterator: Any) -> None:
    async with contextlib.aclosing(iterator) as items:
        async for _ in items:
            pass
