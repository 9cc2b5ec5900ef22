"""Every API method takes the same per-call options, ``timeout=``, ``max_retries=`` and
``extra_headers=``, and has a ``with_raw_response`` counterpart.

Against the fake server (rest/v1, where every endpoint exists): ``max_retries`` overrides the
client's retry count in both directions (creates keep their stricter rules), invalid values are
refused before any request is sent (list iterators: when ``list(...)`` is called), and a
per-call ``timeout`` really bounds the attempt. Backoffs run on ``fake_time``.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from attrs import frozen

import moveworks_async as mw
from moveworks_async.testing import Answer, FakeMoveworks, Fault

pytestmark = pytest.mark.asyncio

#: Valid values for the fake server's form (see test_fake_server.test_modal_get_refresh_submit).
VALUES = {
    "model": {"option": "other"},
    "other_model": {"text": "Linux"},
    "reason": {"text": "broken"},
}


@frozen
class World:
    """Ids of a conversation holding a completed response with a modal, and one event."""

    cid: str
    rid: str
    mid: str
    callback_id: str
    modal_id: str
    event_id: str


@frozen
class Method:
    """One public method, called with the given per-call options."""

    name: str
    call: Callable[[mw.AsyncMoveworks, World, dict[str, Any]], Any]
    idempotent: bool = True
    paged: bool = False


def _modal(op: str, *values: Any) -> Callable[[mw.AsyncMoveworks, World, dict[str, Any]], Any]:
    def call(c: mw.AsyncMoveworks, w: World, kw: dict[str, Any]) -> Any:
        return getattr(c.modals, op)(w.cid, w.rid, w.mid, w.modal_id, *values, **kw)

    return call


METHODS = [
    Method("conversations.create", lambda c, w, kw: c.conversations.create("t", **kw), False),
    Method("conversations.get", lambda c, w, kw: c.conversations.get(w.cid, **kw)),
    Method("conversations.update", lambda c, w, kw: c.conversations.update(w.cid, title="R", **kw)),
    Method("conversations.list", lambda c, w, kw: c.conversations.list(**kw), paged=True),
    Method("responses.create", lambda c, w, kw: c.responses.create(w.cid, "hi", **kw), False),
    Method("responses.get", lambda c, w, kw: c.responses.get(w.cid, w.rid, **kw)),
    Method("messages.list", lambda c, w, kw: c.messages.list(w.cid, **kw), paged=True),
    Method(
        "messages.list_for_response",
        lambda c, w, kw: c.messages.list_for_response(w.cid, w.rid, **kw),
    ),
    Method(
        "feedback.submit",
        lambda c, w, kw: c.feedback.submit(w.cid, w.rid, w.mid, callback_id=w.callback_id, **kw),
    ),
    Method("events.list", lambda c, w, kw: c.events.list(w.cid, **kw), paged=True),
    Method("events.get", lambda c, w, kw: c.events.get(w.cid, w.event_id, **kw)),
    Method("modals.get", _modal("get")),
    Method("modals.refresh", _modal("refresh", VALUES)),
    Method("modals.submit", _modal("submit", VALUES), False),
]
READS = [m for m in METHODS if m.idempotent]
CREATES = [m for m in METHODS if not m.idempotent]
PAGED = [m for m in METHODS if m.paged]


def _ids(methods: list[Method]) -> list[str]:
    return [m.name for m in methods]


async def run(result: Any) -> Any:
    """Await a coroutine, or drain an async iterator into a list."""
    if inspect.isawaitable(result):
        return await result
    assert isinstance(result, AsyncIterator)
    return [item async for item in result]


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeMoveworks]:
    answer = {"form": Answer(text="Fill this in", modal=True)}
    async with FakeMoveworks(stream_delay=0, answer=answer, polls_to_complete=1) as s:
        yield s


def _client(server: FakeMoveworks, fake_time: Any, **kw: Any) -> mw.AsyncMoveworks:
    return mw.AsyncMoveworks(
        assistant_name="acme-capi",
        token="test-token",
        base_url=server.url,
        api_version="v1",
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        **kw,
    )


async def _world(client: mw.AsyncMoveworks, server: FakeMoveworks, fake_time: Any) -> World:
    """Set up every id the methods need, then forget the setup's requests and sleeps."""
    cid = (await client.conversations.create()).conversation_id
    rid = (await client.responses.create(cid, text="form")).response_id
    done = await client.responses.wait(cid, rid)
    [msg] = [m for m in done.messages if m.actions]
    assert msg.feedback is not None
    assert msg.feedback.helpful is not None
    [action] = msg.actions
    assert isinstance(action, mw.ModalAction)
    world = World(
        cid,
        rid,
        msg.message_id,
        msg.feedback.helpful.callback_id,
        action.modal_id,
        server.push_event(cid, "proactive"),
    )
    server.requests.clear()
    fake_time.sleeps.clear()
    return world


async def _call_only(
    method: Method, client: mw.AsyncMoveworks, world: World, options: dict[str, Any]
) -> None:
    """Await a coroutine method; only *call* a list method (never iterate it)."""
    result = method.call(client, world, options)
    if not method.paged:
        await result
    # A list method that validated lazily would return an iterator here: no error raised.


def _sent(server: FakeMoveworks) -> int:
    return len(server.requests)


# --- max_retries ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS, ids=_ids(METHODS))
async def test_max_retries_0_makes_one_attempt(
    server: FakeMoveworks, fake_time: Any, method: Method
) -> None:
    """A 503 answered once: max_retries=0 raises it after a single attempt, no backoff."""
    async with _client(server, fake_time) as client:
        world = await _world(client, server, fake_time)
        server.inject(Fault.status(503), times=1)
        with pytest.raises(mw.InternalServerError):
            await run(method.call(client, world, {"max_retries": 0}))
    assert _sent(server) == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize("method", READS, ids=_ids(READS))
async def test_reads_retry_by_default_and_per_call_overrides_the_client(
    server: FakeMoveworks, fake_time: Any, method: Method
) -> None:
    """One 503: the default retries and succeeds; on a client with max_retries=0, a per-call
    max_retries=1 retries too (the override works both ways)."""
    async with _client(server, fake_time) as client:
        world = await _world(client, server, fake_time)
        server.inject(Fault.status(503), times=1)
        assert await run(method.call(client, world, {})) is not None
    assert _sent(server) == 2
    assert len(fake_time.sleeps) == 1
    async with _client(server, fake_time, max_retries=0) as strict:
        server.requests.clear()
        server.inject(Fault.status(503), times=1)
        assert await run(method.call(strict, world, {"max_retries": 1})) is not None
    assert _sent(server) == 2


@pytest.mark.parametrize("method", CREATES, ids=_ids(CREATES))
async def test_creates_are_not_retried_on_503_whatever_max_retries(
    server: FakeMoveworks, fake_time: Any, method: Method
) -> None:
    """A create answered 503 is never resent (default or max_retries=5): outcome unknown."""
    async with _client(server, fake_time) as client:
        world = await _world(client, server, fake_time)
        for options in ({}, {"max_retries": 5}):
            server.requests.clear()
            server.inject(Fault.status(503), times=1)
            with pytest.raises(mw.InternalServerError) as info:
                await run(method.call(client, world, options))
            assert info.value.outcome_unknown is True
            assert _sent(server) == 1


@pytest.mark.parametrize("method", CREATES, ids=_ids(CREATES))
async def test_creates_honour_max_retries_for_429(
    server: FakeMoveworks, fake_time: Any, method: Method
) -> None:
    """A 429 is safe to retry for a create: max_retries=0 raises it, the default retries."""
    async with _client(server, fake_time) as client:
        world = await _world(client, server, fake_time)
        server.inject(Fault.rate_limited("1"), times=1)
        with pytest.raises(mw.RateLimitError):
            await run(method.call(client, world, {"max_retries": 0}))
        assert _sent(server) == 1
        server.requests.clear()
        server.inject(Fault.rate_limited("1"), times=1)
        assert await run(method.call(client, world, {})) is not None
        assert _sent(server) == 2


# --- validation before any I/O -------------------------------------------------------------

BAD_OPTIONS = [
    {"max_retries": -1},
    {"max_retries": 1.5},
    {"max_retries": True},
    {"max_retries": "2"},
    {"timeout": 0},
    {"timeout": -1},
    {"timeout": "x"},
    {"timeout": float("nan")},
    {"timeout": True},
    {"extra_headers": {"X-Team": "a\r\nX-Evil: 1"}},
    {"extra_headers": {"X-Team": " padded"}},
    {"extra_headers": {"Bad Name": "v"}},
    {"extra_headers": {"Authorization": "Bearer other"}},
    {"extra_headers": {"content-type": "text/plain"}},
    {"extra_headers": {"X-Team": 1}},
    {"extra_headers": "X-Team: a"},
]


@pytest.mark.parametrize("options", BAD_OPTIONS, ids=repr)
@pytest.mark.parametrize("method", METHODS, ids=_ids(METHODS))
async def test_invalid_options_raise_before_any_request(
    server: FakeMoveworks, fake_time: Any, method: Method, options: dict[str, Any]
) -> None:
    """An invalid option is an InvalidParameterError and nothing reaches the server; a list
    method raises when it is called, before iteration starts."""
    async with _client(server, fake_time) as client:
        world = await _world(client, server, fake_time)
        total = server.stats.requests_total
        with pytest.raises(mw.InvalidParameterError) as info:
            await _call_only(method, client, world, options)
    name = next(iter(options))
    assert str(info.value).startswith(name)
    assert _sent(server) == 0
    assert server.stats.requests_total == total


# --- timeout -------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS, ids=_ids(METHODS))
async def test_per_call_timeout_is_used(
    server: FakeMoveworks, fake_time: Any, method: Method
) -> None:
    """A reply stalled 2 s: timeout=0.2 raises APITimeoutError in well under 2 s (the
    client's own timeout would have waited for it)."""
    async with _client(server, fake_time) as client:
        world = await _world(client, server, fake_time)
        server.inject(Fault.stall(2.0), times=1)
        started = time.monotonic()
        with pytest.raises(mw.APITimeoutError):
            await run(method.call(client, world, {"timeout": 0.2, "max_retries": 0}))
        assert time.monotonic() - started < 1.5
    assert _sent(server) == 1


@pytest.mark.parametrize("method", PAGED, ids=_ids(PAGED))
@pytest.mark.parametrize("fault", ["stall", "503"])
async def test_list_options_apply_to_every_page(
    server: FakeMoveworks, fake_time: Any, method: Method, fault: str
) -> None:
    """With limit=1, a fault on the second page: that page request uses the list's timeout
    (a Timeout instance here) and max_retries too."""
    async with _client(server, fake_time) as client:
        world = await _world(client, server, fake_time)
        await client.conversations.create()  # a second page for conversations.list
        server.push_event(world.cid, "another")  # and for events.list
        server.requests.clear()
        options = {"limit": 1, "timeout": mw.Timeout(read=0.2), "max_retries": 0}
        pages = method.call(client, world, options)
        assert await anext(pages) is not None
        server.inject(Fault.stall(2.0) if fault == "stall" else Fault.status(503), times=1)
        error = mw.APITimeoutError if fault == "stall" else mw.InternalServerError
        started = time.monotonic()
        with pytest.raises(error):
            await anext(pages)
        assert time.monotonic() - started < 1.5
    assert _sent(server) == 2
    assert all(r.query.get("limit") == "1" for r in server.requests)
    assert "cursor" in server.requests[1].query


# --- responses.wait ------------------------------------------------------------------------


async def test_wait_applies_max_retries_to_each_poll(server: FakeMoveworks, fake_time: Any) -> None:
    """wait(max_retries=0) raises a poll's 503 at once; by default the poll is retried."""
    async with _client(server, fake_time) as client:
        world = await _world(client, server, fake_time)
        server.inject(Fault.status(503), times=1)
        with pytest.raises(mw.InternalServerError):
            await client.responses.wait(world.cid, world.rid, max_retries=0)
        assert _sent(server) == 1
        server.requests.clear()
        server.inject(Fault.status(503), times=1)
        done = await client.responses.wait(world.cid, world.rid, timeout=30.0)
        assert done.status is mw.ResponseStatus.COMPLETED
        assert _sent(server) == 2


@pytest.mark.parametrize("bad", [-1, 1.5, True])
async def test_wait_refuses_invalid_max_retries_before_any_request(
    server: FakeMoveworks, fake_time: Any, bad: Any
) -> None:
    async with _client(server, fake_time) as client:
        world = await _world(client, server, fake_time)
        with pytest.raises(mw.InvalidParameterError, match="max_retries"):
            await client.responses.wait(world.cid, world.rid, max_retries=bad)
    assert _sent(server) == 0


# --- extra_headers -------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS, ids=_ids(METHODS))
async def test_extra_headers_reach_the_server(
    server: FakeMoveworks, fake_time: Any, method: Method
) -> None:
    """extra_headers= is sent with the call (every page of a list), beside the client's own."""
    async with _client(server, fake_time) as client:
        world = await _world(client, server, fake_time)
        await run(method.call(client, world, {"extra_headers": {"X-Team": "support"}}))
        await run(method.call(client, world, {}))
    with_extra, without = server.requests[0], server.requests[-1]
    assert with_extra.headers["X-Team"] == "support"
    assert with_extra.headers["Assistant-Name"] == "acme-capi"
    assert "X-Team" not in without.headers


@pytest.mark.virtual_time
async def test_stream_sends_extra_headers(server: FakeMoveworks, fake_time: Any) -> None:
    async with _client(server, fake_time) as client:
        world = await _world(client, server, fake_time)
        stream = client.responses.stream(world.cid, text="hi", extra_headers={"X-Team": "s"})
        async with stream:
            await stream.final_response()
    [create] = [r for r in server.requests if r.path.endswith("/stream")]
    assert create.headers["X-Team"] == "s"
    assert create.headers["Accept"] == "text/event-stream"


# --- with_raw_response ---------------------------------------------------------------------


class _Raw:
    """A stand-in client whose resources are the ``with_raw_response`` views, so the
    ``METHODS`` table calls every raw method."""

    def __init__(self, client: mw.AsyncMoveworks) -> None:
        for name in ("conversations", "responses", "messages", "feedback", "events", "modals"):
            setattr(self, name, getattr(client, name).with_raw_response)


async def test_every_non_streaming_method_has_a_raw_counterpart() -> None:
    """Introspection: each public method of each resource (except stream) is on its
    with_raw_response, so a method added later cannot miss it."""
    client = mw.AsyncMoveworks(assistant_name="acme-capi", token="t")
    seen = set()
    for name in ("conversations", "responses", "messages", "feedback", "events", "modals"):
        resource = getattr(client, name)
        methods = {
            m
            for m in dir(type(resource))
            if not m.startswith("_") and m != "with_raw_response" and m != "stream"
        }
        assert methods
        for method in methods:
            assert callable(getattr(resource.with_raw_response, method)), f"{name}.{method}"
            seen.add(f"{name}.{method}")
    assert not hasattr(client.responses.with_raw_response, "stream")
    # The METHODS table (used below) covers every one of them; wait has its own test.
    assert seen == {m.name for m in METHODS} | {"responses.wait"}


@pytest.mark.parametrize("method", METHODS, ids=_ids(METHODS))
async def test_raw_response_carries_status_headers_request_id_and_the_model(
    server: FakeMoveworks, fake_time: Any, method: Method
) -> None:
    """status_code, headers and request_id are the reply's (x-trace-id on /rest/v1), and
    parse() is what the plain method returns (a list: every item, first page included)."""
    async with _client(server, fake_time) as client:
        world = await _world(client, server, fake_time)
        plain = await run(method.call(client, world, {}))
        raw = await method.call(_Raw(client), world, {"max_retries": 0})  # type: ignore[arg-type]
        assert isinstance(raw, mw.RawResponse)
        assert raw.status_code in (200, 201, 202)
        assert raw.request_id is not None
        assert raw.request_id == raw.headers["x-trace-id"]
        assert "json" in raw.headers["Content-Type"]
        parsed = await run(raw.parse()) if method.paged else raw.parse()
    assert type(parsed) is type(plain)
    if method.paged:
        assert [type(i) for i in parsed] == [type(i) for i in plain]
        assert len(parsed) == len(plain) >= 1


async def test_raw_response_of_a_list_reads_only_the_first_page_until_iterated(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """with_raw_response.list awaits the first page; later pages come as parse() is read."""
    async with _client(server, fake_time) as client:
        for _ in range(3):
            await client.conversations.create()
        server.requests.clear()
        raw = await client.conversations.with_raw_response.list(limit=1)
        assert len(server.requests) == 1
        items = [c async for c in raw.parse()]
    assert len(items) == 3
    assert len(server.requests) == 3


async def test_raw_wait_reports_the_last_poll(server: FakeMoveworks, fake_time: Any) -> None:
    async with _client(server, fake_time) as client:
        cid = (await client.conversations.create()).conversation_id
        rid = (await client.responses.create(cid, text="hi")).response_id
        raw = await client.responses.with_raw_response.wait(cid, rid, timeout=30.0)
    assert raw.parse().status is mw.ResponseStatus.COMPLETED
    last_poll = server.requests[-1]
    assert last_poll.method == "GET"
    assert raw.status_code == 200


async def test_raw_calls_do_not_leak_into_concurrent_plain_calls(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """The recording is per task: a plain call running beside a raw one records nothing,
    and after a raw call nothing stays switched on."""
    from moveworks_async._raw import _REPLIES

    async with _client(server, fake_time) as client:
        conv = await client.conversations.create()
        raw = await client.conversations.with_raw_response.get(conv.conversation_id)
        assert _REPLIES.get() is None
        assert raw.parse() == await client.conversations.get(conv.conversation_id)


async def test_parse_of_a_raw_list_can_be_called_again(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """parse() of a list is repeatable: each call iterates every item (it once returned the
    same, exhausted iterator: zero items, no error). Only a second parse() lists anew."""
    async with _client(server, fake_time) as client:
        for _ in range(3):
            await client.conversations.create()
        plain = [c.conversation_id async for c in client.conversations.list(limit=2)]
        server.requests.clear()
        raw = await client.conversations.with_raw_response.list(limit=2)
        first = [c.conversation_id async for c in raw.parse()]
        assert len(server.requests) == 2  # the first page, then the second
        second = [c.conversation_id async for c in raw.parse()]
        assert len(server.requests) == 4  # listed again from the start
        third = raw.parse()
        fourth = raw.parse()
        assert third is not fourth
        assert [c.conversation_id async for c in fourth] == plain
    assert first == second == plain
    assert len(plain) == 3


@pytest.mark.virtual_time
async def test_a_streams_recovery_polls_carry_its_extra_headers(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """A stream cut mid-answer recovers by polling: those polls are requests of the same
    call and carry its per-call extra_headers (they carried only the view's)."""
    async with _client(server, fake_time) as client:
        view = client.with_options(extra_headers={"X-View": "v"})
        cid = (await client.conversations.create()).conversation_id
        server.inject(Fault.cut_stream(after_events=2), conversation_id=cid, times=1)
        server.requests.clear()
        async with view.responses.stream(cid, text="hi", extra_headers={"X-Call": "c"}) as s:
            final = await s.final_response()
    assert final.status is mw.ResponseStatus.COMPLETED
    polls = [r for r in server.requests if r.method == "GET"]
    assert polls, "the stream did not recover by polling"
    for request in server.requests:
        assert request.headers.get("X-View") == "v"
        assert request.headers.get("X-Call") == "c"
