"""Every endpoint in every API generation, at the HTTP seam (aioresponses): method, path,
headers, query, body and the parsed result; v1-only endpoints; pagination."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from _core_support import (
    GENERATIONS,
    PREFIX,
    Call,
    R,
    Wire,
    assistant_message,
    conversation,
    event,
    modal,
    response,
    user_message,
)
from aioresponses import aioresponses
from attrs import field, frozen

import moveworks_async as mw

pytestmark = pytest.mark.asyncio

TOKEN = "tok-test"
VALUES = {"model": {"option": "mac"}, "reason": {"text": "broken"}}
MSG_PATH = "/conversations/conv_1/responses/resp_1/messages/msg_1"


@pytest.fixture
def wire() -> Iterator[Wire]:
    """aioresponses routing every request to a test-controlled handler."""
    with aioresponses() as mock:
        yield Wire(mock)


def make_client(fake_time: Any, generation: str = "v1beta1", **kwargs: Any) -> mw.AsyncMoveworks:
    """A client with a static token and the fake clock."""
    return mw.AsyncMoveworks(
        assistant_name="acme-capi",
        token=TOKEN,
        api_version=generation,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        **kwargs,
    )


async def run(result: Any) -> Any:
    """Await a coroutine, or drain an async iterator into a list."""
    if inspect.isawaitable(result):
        return await result
    assert isinstance(result, AsyncIterator)
    return [item async for item in result]


@frozen
class Endpoint:
    """One endpoint: how to call it, what must go on the wire, what comes back."""

    name: str
    call: Callable[[mw.AsyncMoveworks], Any]
    method: str
    path: str
    reply: Any
    check: Callable[[Any], bool]
    body: Callable[[str], Any] | None = None
    query: dict[str, str] = field(factory=dict)
    status: int = 200
    v1_only: bool = False


def _is(cls: type[Any]) -> Callable[[Any], bool]:
    return lambda result: isinstance(result, cls)


def _all(cls: type[Any], count: int) -> Callable[[Any], bool]:
    return lambda result: len(result) == count and all(isinstance(i, cls) for i in result)


def _create_body(generation: str) -> Any:
    return (
        {"input": {"chat": {"text": "reset my password"}}}
        if generation == "v1"
        else {"input": {"text": "reset my password"}}
    )


ENDPOINTS = [
    Endpoint(
        "conversations.create",
        lambda c: c.conversations.create(title="Help with VPN"),
        "POST",
        "/conversations",
        conversation(title="Help with VPN"),
        lambda r: isinstance(r, mw.Conversation) and r.title == "Help with VPN",
        body=lambda g: {"title": "Help with VPN"},
        status=201,
    ),
    Endpoint(
        "conversations.create-untitled",
        lambda c: c.conversations.create(),
        "POST",
        "/conversations",
        conversation(title=None),
        _is(mw.Conversation),
        body=lambda g: {},
        status=201,
    ),
    Endpoint(
        "conversations.get",
        lambda c: c.conversations.get("conv_1"),
        "GET",
        "/conversations/conv_1",
        conversation("conv_1"),
        lambda r: isinstance(r, mw.Conversation) and r.conversation_id == "conv_1",
    ),
    Endpoint(
        "conversations.update",
        lambda c: c.conversations.update("conv_1", title="Renamed", archived=True),
        "PATCH",
        "/conversations/conv_1",
        conversation("conv_1", title="Renamed", archived=True),
        lambda r: r.archived is True and r.title == "Renamed",
        body=lambda g: {"title": "Renamed", "archived": True},
    ),
    Endpoint(
        "conversations.update-archive-only",
        lambda c: c.conversations.update("conv_1", archived=False),
        "PATCH",
        "/conversations/conv_1",
        conversation("conv_1"),
        _is(mw.Conversation),
        body=lambda g: {"archived": False},
    ),
    Endpoint(
        "conversations.list",
        lambda c: c.conversations.list(archived=True, limit=5),
        "GET",
        "/conversations",
        {
            "conversations": [conversation("conv_a"), conversation("conv_b")],
            "metadata": {"next_cursor": None},
        },
        _all(mw.Conversation, 2),
        query={"archived": "true", "limit": "5"},
    ),
    Endpoint(
        "conversations.list-defaults",
        lambda c: c.conversations.list(),
        "GET",
        "/conversations",
        {"conversations": [], "metadata": None},
        _all(mw.Conversation, 0),
        query={"archived": "false"},
    ),
    Endpoint(
        "responses.create",
        lambda c: c.responses.create("conv_1", text="reset my password"),
        "POST",
        "/conversations/conv_1/responses",
        response("CREATED"),
        lambda r: r.status == "CREATED",
        body=_create_body,
        status=202,
    ),
    Endpoint(
        "responses.get",
        lambda c: c.responses.get("conv_1", "resp_1"),
        "GET",
        "/conversations/conv_1/responses/resp_1",
        response("COMPLETED"),
        lambda r: r.text.startswith("John Doe"),
    ),
    Endpoint(
        "messages.list",
        lambda c: c.messages.list("conv_1", limit=50),
        "GET",
        "/conversations/conv_1/messages",
        {"messages": [assistant_message(), user_message()], "metadata": {"next_cursor": None}},
        _all(mw.Message, 2),
        query={"limit": "50"},
    ),
    Endpoint(
        "messages.list_for_response",
        lambda c: c.messages.list_for_response("conv_1", "resp_1"),
        "GET",
        "/conversations/conv_1/responses/resp_1/messages",
        {"messages": [user_message(), assistant_message()]},
        lambda r: type(r) is tuple and len(r) == 2,
    ),
    Endpoint(
        "feedback.submit",
        lambda c: c.feedback.submit(
            "conv_1",
            "resp_1",
            "msg_1",
            callback_id="fb_up",
            additional_feedback="  very helpful \n",
        ),
        "POST",
        MSG_PATH + "/feedback",
        {"status": "SUBMITTED"},
        lambda r: r == mw.FeedbackResult("SUBMITTED"),
        body=lambda g: {"callback_id": "fb_up", "additional_feedback": "very helpful"},
    ),
    Endpoint(
        "feedback.submit-blank-extra",
        lambda c: c.feedback.submit(
            "conv_1", "resp_1", "msg_1", callback_id="fb_down", additional_feedback="  "
        ),
        "POST",
        MSG_PATH + "/feedback",
        {"status": "SUBMITTED"},
        _is(mw.FeedbackResult),
        body=lambda g: {"callback_id": "fb_down"},
    ),
    Endpoint(
        "events.list",
        lambda c: c.events.list("-", starting_after="evt_5", ending_at="evt_9", limit=100),
        "GET",
        "/conversations/-/events",
        {
            "events": [event("evt_6"), event("evt_7", created_at=False)],
            "metadata": {"next_cursor": None},
        },
        _all(mw.Event, 2),
        query={"starting_after": "evt_5", "ending_at": "evt_9", "limit": "100"},
    ),
    Endpoint(
        "events.list-one-conversation",
        lambda c: c.events.list("conv_1"),
        "GET",
        "/conversations/conv_1/events",
        {"events": [event()], "metadata": {"next_cursor": None}},
        _all(mw.Event, 1),
    ),
    Endpoint(
        "events.get",
        lambda c: c.events.get("conv_1", "evt_1"),
        "GET",
        "/conversations/conv_1/events/evt_1",
        event("evt_1"),
        lambda r: r.event_id == "evt_1",
        v1_only=True,
    ),
    Endpoint(
        "modals.get",
        lambda c: c.modals.get("conv_1", "resp_1", "msg_1", "modal_1"),
        "GET",
        MSG_PATH + "/modals/modal_1",
        modal(),
        lambda r: r.modal_id == "modal_1" and len(r.fields) == 3,
        v1_only=True,
    ),
    Endpoint(
        "modals.refresh",
        lambda c: c.modals.refresh("conv_1", "resp_1", "msg_1", "modal_1", VALUES),
        "POST",
        MSG_PATH + "/modals/modal_1/refresh",
        modal(),
        _is(mw.Modal),
        body=lambda g: {"values": VALUES},
        v1_only=True,
    ),
    Endpoint(
        "modals.submit",
        lambda c: c.modals.submit("conv_1", "resp_1", "msg_1", "modal_1", VALUES),
        "POST",
        MSG_PATH + "/modals/modal_1/submit",
        {"status": "SUBMITTED"},
        lambda r: r == mw.ModalSubmission("SUBMITTED"),
        body=lambda g: {"values": VALUES},
        v1_only=True,
    ),
]

CASES = [
    pytest.param(endpoint, generation, id=f"{endpoint.name}-{generation}")
    for endpoint in ENDPOINTS
    for generation in GENERATIONS
]


def _assert_request(call: Call, endpoint: Endpoint, generation: str) -> None:
    assert call.method == endpoint.method
    assert call.url.scheme == "https"
    assert call.url.host == "api.moveworks.ai"
    assert call.path == PREFIX[generation] + endpoint.path
    assert call.query == endpoint.query
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert call.headers["Assistant-Name"] == "acme-capi"
    assert call.headers["Accept"] == "application/json"
    assert call.headers["User-Agent"].startswith("moveworks-async/")
    if endpoint.body is None:
        assert "Content-Type" not in call.headers
        assert call.data is None
    else:
        assert call.headers["Content-Type"] == "application/json"
        assert call.json == endpoint.body(generation)


@pytest.mark.parametrize(("endpoint", "generation"), CASES)
async def test_endpoint(wire: Wire, fake_time: Any, endpoint: Endpoint, generation: str) -> None:
    """The endpoint sends the documented request and parses the reply (or refuses off v1)."""
    wire.always(R(endpoint.status, endpoint.reply, headers={"x-trace-id": "tr"}))
    async with make_client(fake_time, generation) as client:
        if endpoint.v1_only and generation != "v1":
            with pytest.raises(mw.UnsupportedOperationError, match="/rest/v1"):
                await run(endpoint.call(client))
            assert wire.calls == []
            return
        result = await run(endpoint.call(client))
    assert len(wire.calls) == 1
    _assert_request(wire.calls[0], endpoint, generation)
    assert endpoint.check(result), result


@pytest.mark.parametrize("generation", ["assistant-v1", "v1"])
async def test_create_with_callback_id(wire: Wire, fake_time: Any, generation: str) -> None:
    """A button press is sent as ``{"input": {"callback_id"}}`` where callbacks exist."""
    wire.always(R(202, response("CREATED")))
    async with make_client(fake_time, generation) as client:
        await client.responses.create("conv_1", callback_id="cb_1")
    assert wire.calls[0].json == {"input": {"callback_id": "cb_1"}}


async def test_create_with_callback_id_on_v1beta1_sends_nothing(wire: Wire, fake_time: Any) -> None:
    """v1beta1 has no callback input: UnsupportedOperationError before any I/O."""
    async with make_client(fake_time, "v1beta1") as client:
        with pytest.raises(mw.UnsupportedOperationError):
            await client.responses.create("conv_1", callback_id="cb_1")
    assert wire.calls == []


async def test_events_get_refuses_dash(wire: Wire, fake_time: Any) -> None:
    """``events.get`` needs a real conversation id (``"-"`` only works for listing)."""
    async with make_client(fake_time, "v1") as client:
        with pytest.raises(mw.InvalidParameterError):
            await client.events.get("-", "evt_1")
    assert wire.calls == []


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.conversations.update("conv_1"),
        lambda c: c.conversations.update("conv_1", archived="yes"),
        lambda c: c.conversations.create(title="x" * 257),
        lambda c: c.conversations.create(title="   "),
        lambda c: c.conversations.list(archived=None),
        lambda c: c.responses.create("conv_1"),
        lambda c: c.responses.create("conv_1", text="a", callback_id="b"),
        lambda c: c.feedback.submit("conv_1", "resp_1", "msg_1", callback_id=""),
        lambda c: c.feedback.submit(
            "conv_1", "resp_1", "msg_1", callback_id="x", additional_feedback=3
        ),
        lambda c: c.modals.submit("conv_1", "resp_1", "msg_1", "m", {"f": "not an object"}),
        lambda c: c.modals.refresh("conv_1", "resp_1", "msg_1", "m", ["x"]),
    ],
    ids=[
        "update-nothing",
        "update-archived-str",
        "title-too-long",
        "title-blank",
        "list-archived-none",
        "create-neither",
        "create-both",
        "feedback-empty-callback",
        "feedback-extra-int",
        "modal-value-not-object",
        "modal-values-list",
    ],
)
async def test_bad_arguments_send_nothing(
    wire: Wire, fake_time: Any, call: Callable[[Any], Any]
) -> None:
    """Invalid arguments raise InvalidParameterError before any request."""
    async with make_client(fake_time, "v1") as client:
        with pytest.raises(mw.InvalidParameterError):
            await run(call(client))
    assert wire.calls == []


async def test_title_of_256_characters_is_accepted(wire: Wire, fake_time: Any) -> None:
    """The documented maximum title length is allowed."""
    wire.always(R(201, conversation()))
    async with make_client(fake_time) as client:
        await client.conversations.create(title="x" * 256)
    assert wire.calls[0].json == {"title": "x" * 256}


async def test_custom_base_url_and_regional_host(wire: Wire, fake_time: Any) -> None:
    """A regional host (with a trailing slash) is used as given."""
    wire.always(conversation())
    async with make_client(
        fake_time, "v1", base_url="https://api.am-eu-central.moveworks.ai/"
    ) as client:
        await client.conversations.get("conv_1")
    assert (
        str(wire.calls[0].url)
        == "https://api.am-eu-central.moveworks.ai/rest/v1/conversations/conv_1"
    )


# --- pagination ------------------------------------------------------------------------------

LISTS = [
    pytest.param(
        lambda c: c.conversations.list(limit=2),
        "/conversations",
        "conversations",
        lambda i: conversation(f"conv_{i}"),
        {"archived": "false", "limit": "2"},
        lambda item: item.conversation_id,
        "conv_",
        id="conversations",
    ),
    pytest.param(
        lambda c: c.messages.list("conv_1", limit=2),
        "/conversations/conv_1/messages",
        "messages",
        lambda i: assistant_message("v1", f"msg_{i}"),
        {"limit": "2"},
        lambda item: item.message_id,
        "msg_",
        id="messages",
    ),
    pytest.param(
        lambda c: c.events.list("-", starting_after="evt_0", limit=2),
        "/conversations/-/events",
        "events",
        lambda i: event(f"evt_{i}"),
        {"starting_after": "evt_0", "limit": "2"},
        lambda item: item.event_id,
        "evt_",
        id="events",
    ),
]


def _pages(key: str, make: Callable[[int], Any], last_metadata: Any) -> Callable[[Call], Any]:
    """Three pages of two items: cursors c2, c3, then ``last_metadata`` (a dict or MISSING)."""

    def handler(call: Call) -> Any:
        page = {None: 1, "c2": 2, "c3": 3}[call.query.get("cursor")]
        body: dict[str, Any] = {key: [make(2 * page - 1), make(2 * page)]}
        if page < 3:
            body["metadata"] = {"next_cursor": f"c{page + 1}"}
        elif last_metadata is not MISSING:
            body["metadata"] = last_metadata
        return body

    return handler


MISSING = object()


@pytest.mark.parametrize(
    "last_metadata",
    [{"next_cursor": None}, None, MISSING, {}, {"next_cursor": ""}],
    ids=["null-cursor", "null-metadata", "absent-metadata", "no-cursor-key", "empty-cursor"],
)
@pytest.mark.parametrize(("call", "path", "key", "make", "query", "ident", "prefix"), LISTS)
async def test_pagination_follows_cursor_across_three_pages(
    wire: Wire,
    fake_time: Any,
    call: Callable[[Any], Any],
    path: str,
    key: str,
    make: Callable[[int], Any],
    query: dict[str, str],
    ident: Callable[[Any], str],
    prefix: str,
    last_metadata: Any,
) -> None:
    """Lists follow ``metadata.next_cursor`` page by page and stop when there is none."""
    wire.serve(_pages(key, make, last_metadata))
    async with make_client(fake_time, "v1") as client:
        items = await run(call(client))
    assert [ident(item) for item in items] == [f"{prefix}{i}" for i in range(1, 7)]
    assert [c.path for c in wire.calls] == ["/rest/v1" + path] * 3
    assert [c.query for c in wire.calls] == [
        query,
        {**query, "cursor": "c2"},
        {**query, "cursor": "c3"},
    ]


async def test_pagination_is_lazy(wire: Wire, fake_time: Any) -> None:
    """Pages are fetched only as the iteration needs them."""
    wire.serve(_pages("conversations", lambda i: conversation(f"conv_{i}"), {"next_cursor": None}))
    async with make_client(fake_time) as client:
        iterator = client.conversations.list()
        assert wire.calls == []
        first = await anext(iterator)
        assert first.conversation_id == "conv_1"
        assert len(wire.calls) == 1
        await iterator.aclose()  # type: ignore[attr-defined]
    assert len(wire.calls) == 1


async def _items_then_error(iterator: Any) -> tuple[list[Any], BaseException | None]:
    items: list[Any] = []
    try:
        async for item in iterator:
            items.append(item)
    except mw.MoveworksError as exc:
        return items, exc
    return items, None


async def test_repeated_cursor_does_not_loop(wire: Wire, fake_time: Any) -> None:
    """A server that hands out the same cursor again ends the iteration instead of looping,
    with an error after that page's items: never as if the listing were complete (before,
    it ended silently: outside review, /work/adv/s14c)."""

    def handler(call: Call) -> Any:
        cursor = call.query.get("cursor")
        return {
            "messages": [assistant_message("v1", f"msg_{cursor or 'first'}")],
            "metadata": {"next_cursor": "c_same"},
        }

    wire.serve(handler)
    async with make_client(fake_time) as client:
        items, error = await _items_then_error(client.messages.list("conv_1"))
    assert [m.message_id for m in items] == ["msg_first", "msg_c_same"]
    assert isinstance(error, mw.ResponseValidationError)
    assert error.path == "$.metadata.next_cursor"
    assert "incomplete" in error.message
    assert len(wire.calls) == 2


async def test_cycle_of_cursors_does_not_loop(wire: Wire, fake_time: Any) -> None:
    """A cursor cycle (a -> b -> a) is also detected."""
    nxt = {None: "a", "a": "b", "b": "a"}
    wire.serve(
        lambda call: {"events": [], "metadata": {"next_cursor": nxt[call.query.get("cursor")]}}
    )
    async with make_client(fake_time) as client:
        items, error = await _items_then_error(client.events.list("-"))
    assert items == []
    assert isinstance(error, mw.ResponseValidationError)
    assert len(wire.calls) == 3


@pytest.mark.parametrize(
    ("page", "path"),
    [
        ({"metadata": {"next_cursor": 17}}, "$.metadata.next_cursor"),
        ({"metadata": {"next_cursor": True}}, "$.metadata.next_cursor"),
        ({"metadata": {"next_cursor": ["c1"]}}, "$.metadata.next_cursor"),
        ({"metadata": []}, "$.metadata"),
        ({"metadata": "c1"}, "$.metadata"),
    ],
)
async def test_a_broken_cursor_is_an_error_after_the_pages_items(
    wire: Wire, fake_time: Any, page: dict[str, Any], path: str
) -> None:
    """The API says ``next_cursor`` is a string or null and ``metadata`` an object or null:
    anything else cannot be followed, so the listing ends with ResponseValidationError (after
    the page's items), not as if it were complete."""
    wire.serve(lambda call: {"messages": [assistant_message("v1", "msg_1")], **page})
    async with make_client(fake_time) as client:
        items, error = await _items_then_error(client.messages.list("conv_1"))
    assert [m.message_id for m in items] == ["msg_1"]
    assert isinstance(error, mw.ResponseValidationError)
    assert error.path == path


@pytest.mark.parametrize("metadata", [None, {}, {"next_cursor": None}, {"next_cursor": ""}])
async def test_the_last_page_ends_the_listing(
    wire: Wire, fake_time: Any, metadata: dict[str, Any] | None
) -> None:
    page: dict[str, Any] = {"messages": [assistant_message("v1", "msg_1")]}
    if metadata is not None:
        page["metadata"] = metadata
    wire.serve(lambda call: page)
    async with make_client(fake_time) as client:
        items, error = await _items_then_error(client.messages.list("conv_1"))
    assert error is None
    assert [m.message_id for m in items] == ["msg_1"]


async def test_a_page_without_its_items_member_is_an_error(wire: Wire, fake_time: Any) -> None:
    """A 200 without the required ``messages`` member (an error object, say) is not an empty
    page: before, the listing ended there as if complete (outside review, /work/adv/s14c)."""
    wire.serve(lambda call: {"error": {"code": "INTERNAL", "message": "try later"}})
    async with make_client(fake_time) as client:
        items, error = await _items_then_error(client.messages.list("conv_1"))
        with pytest.raises(mw.ResponseValidationError) as info:
            await client.messages.list_for_response("conv_1", "resp_1")
    assert items == []
    assert isinstance(error, mw.ResponseValidationError)
    assert error.path == "$.messages"
    assert info.value.path == "$.messages"


async def test_page_error_surfaces_after_earlier_items(wire: Wire, fake_time: Any) -> None:
    """An error on page two is raised after page one's items were yielded."""

    def handler(call: Call) -> Any:
        if call.query.get("cursor"):
            return R(400, {"error": {"code": "INVALID_CURSOR", "message": "bad cursor"}})
        return {"conversations": [conversation("conv_1")], "metadata": {"next_cursor": "c2"}}

    wire.serve(handler)
    seen = []

    async def consume(client: mw.AsyncMoveworks) -> None:
        async for conv in client.conversations.list():
            seen.append(conv.conversation_id)

    async with make_client(fake_time) as client:
        with pytest.raises(mw.BadRequestError) as info:
            await consume(client)
    assert seen == ["conv_1"]
    assert info.value.code == "INVALID_CURSOR"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ([conversation()], "$"),
        ("conversations", "$"),
        ({"conversations": {"a": 1}}, "$.conversations"),
        ({"conversations": [{"conversation_id": 5}]}, "$.conversations[0].conversation_id"),
    ],
    ids=["list-body", "string-body", "object-not-array", "bad-item"],
)
async def test_list_page_validation_errors(
    wire: Wire, fake_time: Any, body: Any, path: str
) -> None:
    """A malformed page raises ResponseValidationError with the member path and request id."""
    wire.always(R(200, body, headers={"x-moveworks-root-uuid": "root-7"}))
    async with make_client(fake_time) as client:
        with pytest.raises(mw.ResponseValidationError) as info:
            await run(client.conversations.list())
    assert info.value.path == path
    assert info.value.request_id == "root-7"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ([user_message()], "$"),
        ("oops", "$"),
        ({"messages": [user_message(), {"message_id": "m"}]}, "$.messages[1]"),
    ],
    ids=["list-body", "string-body", "bad-item"],
)
async def test_list_for_response_validation_errors(
    wire: Wire, fake_time: Any, body: Any, path: str
) -> None:
    """``list_for_response`` refuses a body that is not the documented object."""
    wire.always(R(200, body, headers={"x-trace-id": "tr-9"}))
    async with make_client(fake_time) as client:
        with pytest.raises(mw.ResponseValidationError) as info:
            await client.messages.list_for_response("conv_1", "resp_1")
    assert info.value.path.startswith(path)
    assert info.value.request_id == "tr-9"


async def test_list_for_response_null_messages_is_empty(wire: Wire, fake_time: Any) -> None:
    """``{"messages": null}`` is an empty tuple (null arrays are empty)."""
    wire.always({"messages": None})
    async with make_client(fake_time) as client:
        assert await client.messages.list_for_response("conv_1", "resp_1") == ()
