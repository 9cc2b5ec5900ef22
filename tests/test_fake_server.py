"""Behaviour of the embedded fake Moveworks server, driven with raw aiohttp (not the SDK)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from moveworks_async.testing import Answer, FakeMoveworks, Fault

pytestmark = pytest.mark.asyncio
pytest_plugins = ["pytester", "moveworks_async.testing.pytest_plugin"]

AUTH = {"Authorization": "Bearer test-token", "Assistant-Name": "acme-capi"}
SSE = {"Accept": "text/event-stream"}
PREFIX = {"v1beta1": "/rest/v1beta1", "assistant/v1": "/assistant/v1", "rest/v1": "/rest/v1"}
GENS = list(PREFIX)
ID_RE = re.compile(r"^(conv|resp|msg|cite|evt)_[0-9A-Za-z]{21}$")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def text_body(gen: str, text: str) -> dict[str, Any]:
    """Return the create-response body of ``gen`` for a text turn."""
    if gen == "rest/v1":
        return {"input": {"chat": {"text": text}}}
    return {"input": {"text": text}}


def parse_sse(raw: bytes) -> list[tuple[str, str]]:
    """Split an SSE body into (event, data) pairs; any line ending, comments skipped."""
    events: list[tuple[str, str]] = []
    name, data = "message", []
    for line in re.split(r"\r\n|\r|\n", raw.decode()):
        if not line:
            if data:
                events.append((name, "\n".join(data)))
            name, data = "message", []
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
    return events


def decoded(raw: bytes) -> list[dict[str, Any]]:
    """Return the JSON data of every SSE event."""
    return [json.loads(data) for _, data in parse_sse(raw)]


class Clock:
    """A settable clock for the server."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeMoveworks]:
    """A started fake server with default settings."""
    async with FakeMoveworks(stream_delay=0) as s:
        yield s


@pytest_asyncio.fixture
async def http(server: FakeMoveworks) -> AsyncIterator[aiohttp.ClientSession]:
    """An authenticated aiohttp session on the fake server."""
    async with aiohttp.ClientSession(server.url, headers=AUTH) as session:
        yield session


async def new_conversation(http: aiohttp.ClientSession, gen: str = "rest/v1") -> str:
    """Create a conversation and return its id."""
    async with http.post(f"{PREFIX[gen]}/conversations", json={}) as r:
        assert r.status == 201
        return str((await r.json())["conversation_id"])


async def create(http: aiohttp.ClientSession, gen: str, cid: str, text: str = "hi") -> str:
    """Create a response (plain) and return its id."""
    url = f"{PREFIX[gen]}/conversations/{cid}/responses"
    async with http.post(url, json=text_body(gen, text)) as r:
        assert r.status == 202, await r.text()
        return str((await r.json())["response_id"])


async def get_response(http: aiohttp.ClientSession, gen: str, cid: str, rid: str) -> Any:
    """GET a response and return its JSON."""
    async with http.get(f"{PREFIX[gen]}/conversations/{cid}/responses/{rid}") as r:
        assert r.status == 200
        return await r.json()


async def complete(http: aiohttp.ClientSession, gen: str, cid: str, text: str = "hi") -> Any:
    """Create a response and poll it to its terminal state."""
    rid = await create(http, gen, cid, text)
    for _ in range(10):
        body = await get_response(http, gen, cid, rid)
        if body["status"] in ("COMPLETED", "FAILED"):
            return body
    raise AssertionError("never completed")


async def stream(
    http: aiohttp.ClientSession, gen: str, cid: str, text: str = "hi"
) -> tuple[aiohttp.ClientResponse, bytes]:
    """Run a streaming create and return the response and its raw body."""
    url = f"{PREFIX[gen]}/conversations/{cid}/responses/stream"
    async with http.post(url, json=text_body(gen, text), headers=SSE) as r:
        return r, await r.read()


def final_message(response: dict[str, Any]) -> dict[str, Any]:
    """Return the MESSAGE output of a response."""
    [item] = [o for o in response["outputs"] if o["type"] == "MESSAGE"]
    return dict(item["message"])


# -- conversations ----------------------------------------------------------------------------


@pytest.mark.parametrize("gen", GENS)
async def test_conversation_create_get_update(http: aiohttp.ClientSession, gen: str) -> None:
    """Create (201), get and PATCH a conversation in every generation."""
    p = PREFIX[gen]
    async with http.post(f"{p}/conversations", json={"title": "Laptop"}) as r:
        assert r.status == 201
        conv = await r.json()
    assert ID_RE.match(conv["conversation_id"])
    assert conv["title"] == "Laptop"
    assert conv["archived"] is False
    assert TS_RE.match(conv["created_at"])
    assert TS_RE.match(conv["updated_at"])
    url = f"{p}/conversations/{conv['conversation_id']}"
    async with http.get(url) as r:
        assert r.status == 200
        assert await r.json() == conv
    async with http.patch(url, json={"title": "Renamed", "archived": True}) as r:
        updated = await r.json()
    assert r.status == 200
    assert updated["title"] == "Renamed"
    assert updated["archived"] is True
    assert updated["updated_at"] >= conv["updated_at"]


async def test_create_conversation_without_body_and_auto_title(http: aiohttp.ClientSession) -> None:
    """An untitled conversation gets its title from the first turn."""
    async with http.post("/rest/v1/conversations") as r:
        assert r.status == 201
        conv = await r.json()
    assert conv["title"] is None
    await create(http, "rest/v1", conv["conversation_id"], "Reset my\npassword")
    async with http.get(f"/rest/v1/conversations/{conv['conversation_id']}") as r:
        assert (await r.json())["title"] == "Reset my password"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"title": "x" * 256}, 201),
        ({"title": "x" * 257}, 400),
        ({"title": 5}, 400),
        ([1], 400),
    ],
    ids=["256-ok", "257-too-long", "not-a-string", "not-an-object"],
)
async def test_create_conversation_title_validation(
    http: aiohttp.ClientSession, body: Any, status: int
) -> None:
    """Titles longer than 256 characters or not strings are 400 INVALID_INPUT."""
    async with http.post("/assistant/v1/conversations", json=body) as r:
        assert r.status == status
        if status == 400:
            assert (await r.json())["error"]["code"] == "INVALID_INPUT"


async def test_update_conversation_validation(http: aiohttp.ClientSession) -> None:
    """PATCH rejects a non-boolean archived, a long title, and unknown conversations."""
    cid = await new_conversation(http)
    for body in ({"archived": "yes"}, {"title": "y" * 300}, "nope"):
        async with http.patch(f"/rest/v1/conversations/{cid}", json=body) as r:
            assert r.status == 400
            assert (await r.json())["error"]["code"] == "INVALID_INPUT"
    async with http.patch("/rest/v1/conversations/conv_missing", json={"title": "a"}) as r:
        assert r.status == 404
        assert (await r.json())["error"]["code"] == "NOT_FOUND"


async def test_list_conversations_order_pages_and_archived(http: aiohttp.ClientSession) -> None:
    """Listing is updated_at descending, pages by cursor, and filters archived."""
    ids = [await new_conversation(http) for _ in range(5)]
    async with http.patch(f"/rest/v1/conversations/{ids[1]}", json={"title": "bump"}):
        pass  # ids[1] is now the most recently updated
    async with http.patch(f"/rest/v1/conversations/{ids[0]}", json={"archived": True}):
        pass
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        async with http.get("/rest/v1/conversations", params=params) as r:
            page = await r.json()
        seen += [c["conversation_id"] for c in page["conversations"]]
        assert len(page["conversations"]) <= 2
        cursor = page["metadata"]["next_cursor"]
        if cursor is None:
            break
    assert seen == [ids[1], ids[4], ids[3], ids[2]]
    async with http.get("/rest/v1/conversations", params={"archived": "true"}) as r:
        assert [c["conversation_id"] for c in (await r.json())["conversations"]] == [ids[0]]


async def test_conversation_paging_is_stable_under_updates(http: aiohttp.ClientSession) -> None:
    """A conversation updated between page reads moves above the cursor; no page repeats one."""
    ids = [await new_conversation(http) for _ in range(4)]
    async with http.get("/rest/v1/conversations", params={"limit": "2"}) as r:
        first = await r.json()
    assert [c["conversation_id"] for c in first["conversations"]] == [ids[3], ids[2]]
    await create(http, "rest/v1", ids[0])  # ids[0] becomes the most recent
    params = {"limit": "2", "cursor": first["metadata"]["next_cursor"]}
    async with http.get("/rest/v1/conversations", params=params) as r:
        second = await r.json()
    assert [c["conversation_id"] for c in second["conversations"]] == [ids[1]]
    assert second["metadata"]["next_cursor"] is None


async def test_list_conversations_default_limit_and_bad_params(http: aiohttp.ClientSession) -> None:
    """The default page is 20; bad cursors are INVALID_CURSOR and bad limits INVALID_INPUT."""
    for _ in range(21):
        await new_conversation(http)
    async with http.get("/rest/v1beta1/conversations") as r:
        page = await r.json()
    assert len(page["conversations"]) == 20
    assert page["metadata"]["next_cursor"]
    async with http.get("/rest/v1beta1/conversations", params={"cursor": "garbage!"}) as r:
        assert r.status == 400
        assert (await r.json())["error"]["code"] == "INVALID_CURSOR"
    for limit in ("0", "101", "x"):
        async with http.get("/rest/v1beta1/conversations", params={"limit": limit}) as r:
            assert r.status == 400
            assert (await r.json())["error"]["code"] == "INVALID_INPUT"
    async with http.get("/rest/v1beta1/conversations", params={"archived": "maybe"}) as r:
        assert r.status == 400


# -- responses --------------------------------------------------------------------------------


@pytest.mark.parametrize("gen", GENS)
async def test_response_progresses_by_polls(http: aiohttp.ClientSession, gen: str) -> None:
    """CREATED on create, IN_PROGRESS on the first GET, COMPLETED on GET polls_to_complete."""
    cid = await new_conversation(http, gen)
    async with http.post(
        f"{PREFIX[gen]}/conversations/{cid}/responses", json=text_body(gen, "vpn")
    ) as r:
        assert r.status == 202
        created = await r.json()
    assert created["status"] == "CREATED"
    assert created["outputs"] == []
    assert ID_RE.match(created["response_id"])
    first = await get_response(http, gen, cid, created["response_id"])
    assert first["status"] == "IN_PROGRESS"
    assert first["completed_at"] is None
    assert [o["type"] for o in first["outputs"]] == ["REASONING_MESSAGE"]
    done = await get_response(http, gen, cid, created["response_id"])
    assert done["status"] == "COMPLETED"
    assert TS_RE.match(done["completed_at"])
    assert [o["type"] for o in done["outputs"]] == ["REASONING_MESSAGE"] * 2 + ["MESSAGE"]
    again = await get_response(http, gen, cid, created["response_id"])
    assert again == done


@pytest.mark.parametrize("gen", GENS)
async def test_completed_message_shape(http: aiohttp.ClientSession, gen: str) -> None:
    """The final message has COMMONMARK text, citations, ascending references and feedback."""
    cid = await new_conversation(http, gen)
    msg = final_message(await complete(http, gen, cid, "vpn setup"))
    assert msg["actor"] == "ASSISTANT"
    assert ID_RE.match(msg["message_id"])
    text = msg["content"]["commonmark_text"]["text"]
    assert msg["content"]["type"] == "COMMONMARK_TEXT"
    assert "vpn setup" in text
    assert [ID_RE.match(c["citation_id"]) is not None for c in msg["citations"]] == [True, True]
    offsets = [ref["offset"] for ref in msg["content_references"]]
    assert offsets == sorted(offsets)
    assert all(0 <= o < len(text) for o in offsets)
    assert {r["citation_id"] for r in msg["content_references"]} == {
        c["citation_id"] for c in msg["citations"]
    }
    assert set(msg["feedback"]) == {"helpful", "unhelpful"}
    assert "actions" not in msg  # no actions scripted: absent, not empty


async def test_polls_to_complete_one_completes_on_first_get() -> None:
    """With polls_to_complete=1 the first GET is already terminal."""
    async with (
        FakeMoveworks(stream_delay=0, polls_to_complete=1) as server,
        aiohttp.ClientSession(server.url, headers=AUTH) as http,
    ):
        cid = await new_conversation(http)
        rid = await create(http, "rest/v1", cid)
        assert (await get_response(http, "rest/v1", cid, rid))["status"] == "COMPLETED"


async def test_scripted_answers_table_and_callable() -> None:
    """A table maps questions to Answers or plain strings; a callable computes them."""
    table = {"hi": "Hello!", "fail": Answer(text="x", fail=True)}
    async with (
        FakeMoveworks(stream_delay=0, answer=table, polls_to_complete=1) as server,
        aiohttp.ClientSession(server.url, headers=AUTH) as http,
    ):
        cid = await new_conversation(http)
        hello = await complete(http, "rest/v1", cid, "hi")
        assert final_message(hello)["content"]["commonmark_text"]["text"] == "Hello!"
        failed = await complete(http, "rest/v1", cid, "fail")
        assert failed["status"] == "FAILED"
        assert failed["error"]["code"] == "INTERNAL_ERROR"
        assert all(o["type"] == "REASONING_MESSAGE" for o in failed["outputs"])
        other = await complete(http, "rest/v1", cid, "unlisted")
        assert "unlisted" in final_message(other)["content"]["commonmark_text"]["text"]

    async with (
        FakeMoveworks(
            stream_delay=0,
            answer=lambda q: Answer(text=q.upper(), reasoning=()),
            polls_to_complete=1,
        ) as server,
        aiohttp.ClientSession(server.url, headers=AUTH) as http,
    ):
        cid = await new_conversation(http)
        done = await complete(http, "rest/v1", cid, "shout")
        assert [o["type"] for o in done["outputs"]] == ["MESSAGE"]
        assert final_message(done)["content"]["commonmark_text"]["text"] == "SHOUT"


ACTIONS = (
    {"type": "URL_ACTION", "label": "Open", "url_action": {"url": "https://example.com/a"}},
    {"type": "CALLBACK_ACTION", "label": "Yes", "callback_action": {"callback_id": "cb_yes"}},
    {"type": "MODAL_ACTION", "label": "Form", "modal_action": {"modal_id": "raw_modal"}},
)


@pytest.mark.parametrize(
    ("gen", "expected"),
    [
        ("v1beta1", None),
        ("assistant/v1", ["URL_ACTION", "CALLBACK_ACTION"]),
        ("rest/v1", ["URL_ACTION", "CALLBACK_ACTION", "MODAL_ACTION"]),
    ],
)
async def test_actions_per_generation(gen: str, expected: list[str] | None) -> None:
    """Actions appear on assistant/v1 and rest/v1 only; MODAL_ACTION only on rest/v1."""
    answer = {"act": Answer(text="Pick one", actions=ACTIONS)}
    async with (
        FakeMoveworks(stream_delay=0, answer=answer, polls_to_complete=1) as server,
        aiohttp.ClientSession(server.url, headers=AUTH) as http,
    ):
        cid = await new_conversation(http, gen)
        msg = final_message(await complete(http, gen, cid, "act"))
        if expected is None:
            assert "actions" not in msg
        else:
            assert [a["type"] for a in msg["actions"]] == expected


@pytest.mark.parametrize("gen", ["assistant/v1", "rest/v1"])
async def test_callback_input_answers_done(http: aiohttp.ClientSession, gen: str) -> None:
    """A callback_id input is stored as CALLBACK_ACTION_CONTENT and answered "Done."."""
    cid = await new_conversation(http, gen)
    url = f"{PREFIX[gen]}/conversations/{cid}/responses"
    async with http.post(url, json={"input": {"callback_id": "cb_yes"}}) as r:
        assert r.status == 202
        rid = (await r.json())["response_id"]
    await get_response(http, gen, cid, rid)
    done = await get_response(http, gen, cid, rid)
    assert final_message(done)["content"]["commonmark_text"]["text"] == "Done."
    async with http.get(f"{url}/{rid}/messages") as r:
        user = (await r.json())["messages"][0]
    assert user["content"] == {
        "type": "CALLBACK_ACTION_CONTENT",
        "callback_action": {"callback_id": "cb_yes"},
    }


@pytest.mark.parametrize(
    ("gen", "body"),
    [
        ("v1beta1", {}),
        ("v1beta1", {"input": "hi"}),
        ("v1beta1", {"input": {"text": ""}}),
        ("v1beta1", {"input": {"callback_id": "cb"}}),
        ("v1beta1", {"input": {"chat": {"text": "hi"}}}),
        ("assistant/v1", {"input": {"text": "hi", "callback_id": "cb"}}),
        ("assistant/v1", {"input": {}}),
        ("assistant/v1", {"input": {"chat": {"text": "hi"}}}),
        ("rest/v1", {"input": {"text": "hi"}}),
        ("rest/v1", {"input": {"chat": {}}}),
        ("rest/v1", {"input": {"chat": {"text": "hi"}, "callback_id": "cb"}}),
    ],
)
async def test_wrong_input_shape_is_invalid_input(
    http: aiohttp.ClientSession, gen: str, body: Any
) -> None:
    """Each generation accepts only its own input shape (400 INVALID_INPUT otherwise)."""
    cid = await new_conversation(http, gen)
    for suffix, headers in (("", {}), ("/stream", SSE)):
        url = f"{PREFIX[gen]}/conversations/{cid}/responses{suffix}"
        async with http.post(url, json=body, headers=headers) as r:
            assert r.status == 400
            assert (await r.json())["error"]["code"] == "INVALID_INPUT"


async def test_invalid_json_body_is_invalid_input(http: aiohttp.ClientSession) -> None:
    """A body that is not JSON is 400 INVALID_INPUT."""
    cid = await new_conversation(http)
    async with http.post(f"/rest/v1/conversations/{cid}/responses", data=b"{nope") as r:
        assert r.status == 400
        assert (await r.json())["error"]["code"] == "INVALID_INPUT"


async def test_unknown_resources_are_not_found(http: aiohttp.ClientSession) -> None:
    """Unknown conversation, response, message, or a response of another conversation: 404."""
    cid, other = await new_conversation(http), await new_conversation(http)
    rid = await create(http, "rest/v1", cid)
    urls = [
        ("GET", "/rest/v1/conversations/conv_nope"),
        ("GET", "/rest/v1/conversations/conv_nope/messages"),
        ("GET", "/rest/v1/conversations/conv_nope/events"),
        ("POST", "/rest/v1/conversations/conv_nope/responses"),
        ("GET", f"/rest/v1/conversations/{cid}/responses/resp_nope"),
        ("GET", f"/rest/v1/conversations/{other}/responses/{rid}"),
        ("GET", f"/rest/v1/conversations/{cid}/responses/resp_nope/messages"),
        ("POST", f"/rest/v1/conversations/{cid}/responses/{rid}/messages/msg_nope/feedback"),
    ]
    for method, url in urls:
        async with http.request(method, url, json=text_body("rest/v1", "x")) as r:
            assert r.status == 404, url
            assert (await r.json())["error"]["code"] == "NOT_FOUND"


async def test_paths_outside_a_generation_are_not_found(http: aiohttp.ClientSession) -> None:
    """Modal and get-event paths exist on rest/v1 only; unknown paths and methods fail."""
    cid = await new_conversation(http, "assistant/v1")
    for url in (
        f"/assistant/v1/conversations/{cid}/events/evt_x",
        f"/rest/v1beta1/conversations/{cid}/responses/r/messages/m/modals/x",
        "/rest/v2/conversations",
    ):
        async with http.get(url) as r:
            assert r.status == 404
            assert (await r.json())["error"]["code"] == "NOT_FOUND"
    async with http.delete(f"/assistant/v1/conversations/{cid}") as r:
        assert r.status == 405


# -- auth and headers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Assistant-Name": "acme-capi"}, 401, "UNAUTHORIZED"),
        ({"Authorization": "Bearer wrong", "Assistant-Name": "acme-capi"}, 401, "UNAUTHORIZED"),
        ({"Authorization": "test-token", "Assistant-Name": "acme-capi"}, 401, "UNAUTHORIZED"),
        ({"Authorization": "Bearer test-token"}, 403, "FORBIDDEN"),
        ({"Authorization": "Bearer test-token", "Assistant-Name": "other"}, 403, "FORBIDDEN"),
    ],
    ids=["no-bearer", "wrong-bearer", "no-scheme", "no-assistant", "wrong-assistant"],
)
@pytest.mark.parametrize("gen", GENS)
async def test_auth_and_assistant_checks(
    server: FakeMoveworks, gen: str, headers: dict[str, str], status: int, code: str
) -> None:
    """A bad bearer is 401 UNAUTHORIZED; a missing or wrong Assistant-Name is 403 FORBIDDEN."""
    async with (
        aiohttp.ClientSession(server.url) as http,
        http.get(f"{PREFIX[gen]}/conversations", headers=headers) as r,
    ):
        assert r.status == status
        assert (await r.json())["error"]["code"] == code


async def test_token_none_accepts_any_bearer() -> None:
    """token=None accepts any non-empty bearer but still rejects an empty one."""
    async with (
        FakeMoveworks(stream_delay=0, token=None) as server,
        aiohttp.ClientSession(server.url) as http,
    ):
        ok = {"Authorization": "Bearer anything", "Assistant-Name": "acme-capi"}
        async with http.get("/rest/v1/conversations", headers=ok) as r:
            assert r.status == 200
        empty = {"Authorization": "Bearer ", "Assistant-Name": "acme-capi"}
        async with http.get("/rest/v1/conversations", headers=empty) as r:
            assert r.status == 401


async def test_trace_headers_per_generation(http: aiohttp.ClientSession) -> None:
    """v1beta1 sends x-moveworks-root-uuid, rest/v1 x-trace-id (fresh uuid4), assistant/v1 none."""
    seen = set()
    for _ in range(2):
        async with http.get("/rest/v1beta1/conversations") as r:
            seen.add(uuid.UUID(r.headers["x-moveworks-root-uuid"]).version)
            assert "x-trace-id" not in r.headers
        async with http.get("/rest/v1/conversations") as r:
            seen.add(uuid.UUID(r.headers["x-trace-id"]).version)
    assert seen == {4}
    async with http.get("/rest/v1/conversations") as a, http.get("/rest/v1/conversations") as b:
        assert a.headers["x-trace-id"] != b.headers["x-trace-id"]
    async with http.get("/assistant/v1/conversations") as r:
        assert "x-trace-id" not in r.headers
        assert "x-moveworks-root-uuid" not in r.headers
    async with http.get("/rest/v1/conversations/conv_missing") as r:
        assert r.status == 404
        assert "x-trace-id" in r.headers


# -- streaming --------------------------------------------------------------------------------


@pytest.mark.parametrize("gen", GENS)
async def test_stream_event_sequence(http: aiohttp.ClientSession, gen: str) -> None:
    """A stream is CREATED, IN_PROGRESS, deltas, growing snapshots, COMPLETED, numbered from 1."""
    cid = await new_conversation(http, gen)
    r, raw = await stream(http, gen, cid, "printer jam")
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/event-stream"
    events = parse_sse(raw)
    names = [name for name, _ in events]
    assert names == ["RESPONSE_CREATED", "RESPONSE_IN_PROGRESS"] + ["RESPONSE_OUTPUT_DELTA"] * 5 + [
        "RESPONSE_COMPLETED"
    ]
    data = [json.loads(d) for _, d in events]
    assert [d["sequence_number"] for d in data] == list(range(1, 9))
    assert [d["event_type"] for d in data] == names
    assert data[0]["response"]["status"] == "CREATED"
    assert data[1]["response"]["status"] == "IN_PROGRESS"
    snapshots = [d["output"]["message"] for d in data[4:7]]
    texts = [m["content"]["commonmark_text"]["text"] for m in snapshots]
    assert len({m["message_id"] for m in snapshots}) == 1
    assert texts[0]
    assert texts[0] in texts[1]
    assert texts[1] in texts[2]
    assert len(texts[2]) > len(texts[1])
    completed = data[-1]["response"]
    assert completed["status"] == "COMPLETED"
    assert final_message(completed) == snapshots[-1]
    rid = data[0]["response"]["response_id"]
    assert await get_response(http, gen, cid, rid) == completed


async def test_stream_failed_answer_ends_with_response_failed() -> None:
    """Answer(fail=True) streams reasoning then RESPONSE_FAILED with an error."""
    async with (
        FakeMoveworks(
            stream_delay=0, answer={"x": Answer(text="", fail=True, reasoning=("One",))}
        ) as server,
        aiohttp.ClientSession(server.url, headers=AUTH) as http,
    ):
        cid = await new_conversation(http)
        _, raw = await stream(http, "rest/v1", cid, "x")
        names = [name for name, _ in parse_sse(raw)]
        assert names == [
            "RESPONSE_CREATED",
            "RESPONSE_IN_PROGRESS",
            "RESPONSE_OUTPUT_DELTA",
            "RESPONSE_FAILED",
        ]
        failed = decoded(raw)[-1]["response"]
        assert failed["status"] == "FAILED"
        assert failed["error"]["code"] == "INTERNAL_ERROR"


async def test_stream_requires_accept_event_stream(http: aiohttp.ClientSession) -> None:
    """Without Accept: text/event-stream the stream endpoint answers a JSON 400."""
    cid = await new_conversation(http)
    url = f"/rest/v1/conversations/{cid}/responses/stream"
    async with http.post(url, json=text_body("rest/v1", "x"), headers={"Accept": "*/*"}) as r:
        assert r.status == 400
        assert r.content_type == "application/json"
        assert (await r.json())["error"]["code"] == "INVALID_INPUT"


async def test_stream_snapshots_and_delay() -> None:
    """snapshots=1 sends the whole message once; stream_delay spaces events in real time."""
    answer = {"q": Answer(text="Short.", reasoning=(), citations=(), snapshots=1)}
    async with (
        FakeMoveworks(answer=answer, stream_delay=0.002) as server,
        aiohttp.ClientSession(server.url, headers=AUTH) as http,
    ):
        cid = await new_conversation(http)
        started = time.perf_counter()
        _, raw = await stream(http, "rest/v1", cid, "q")
        assert time.perf_counter() - started >= 0.006  # 3 gaps between 4 events
        names = [n for n, _ in parse_sse(raw)]
        assert names.count("RESPONSE_OUTPUT_DELTA") == 1


# -- messages, feedback, events ---------------------------------------------------------------


@pytest.mark.parametrize("gen", GENS)
async def test_conversation_messages_newest_first_with_cursor(
    http: aiohttp.ClientSession, gen: str
) -> None:
    """Conversation messages are newest first and page by cursor."""
    cid = await new_conversation(http, gen)
    await complete(http, gen, cid, "first")
    await complete(http, gen, cid, "second")
    url = f"{PREFIX[gen]}/conversations/{cid}/messages"
    async with http.get(url, params={"limit": "3"}) as r:
        page = await r.json()
    actors = [m["actor"] for m in page["messages"]]
    assert actors == ["ASSISTANT", "USER", "ASSISTANT"]
    assert page["messages"][1]["content"] == {
        "type": "PLAIN_TEXT",
        "plain_text": {"text": "second"},
    }
    async with http.get(url, params={"limit": "3", "cursor": page["metadata"]["next_cursor"]}) as r:
        rest = await r.json()
    assert [m["content"]["plain_text"]["text"] for m in rest["messages"]] == ["first"]
    assert rest["metadata"]["next_cursor"] is None
    async with http.get(url, params={"cursor": "bad"}) as r:
        assert r.status == 400
        assert (await r.json())["error"]["code"] == "INVALID_CURSOR"


async def test_response_messages_user_then_assistant(http: aiohttp.ClientSession) -> None:
    """Response messages hold the user input, plus the reply once the response completes."""
    cid = await new_conversation(http, "v1beta1")
    rid = await create(http, "v1beta1", cid, "hello")
    url = f"/rest/v1beta1/conversations/{cid}/responses/{rid}/messages"
    async with http.get(url) as r:
        assert [m["actor"] for m in (await r.json())["messages"]] == ["USER"]
    await get_response(http, "v1beta1", cid, rid)
    await get_response(http, "v1beta1", cid, rid)
    async with http.get(url) as r:
        body = await r.json()
    assert [m["actor"] for m in body["messages"]] == ["USER", "ASSISTANT"]
    assert "metadata" not in body


@pytest.mark.parametrize("gen", GENS)
async def test_feedback_submit_and_validation(
    http: aiohttp.ClientSession, server: FakeMoveworks, gen: str
) -> None:
    """Feedback with the message's callback id is SUBMITTED; any other id is INVALID_REQUEST."""
    cid = await new_conversation(http, gen)
    done = await complete(http, gen, cid, "hello")
    other = final_message(await complete(http, gen, cid, "other"))
    msg = final_message(done)
    url = (
        f"{PREFIX[gen]}/conversations/{cid}/responses/{done['response_id']}"
        f"/messages/{msg['message_id']}/feedback"
    )
    cb = msg["feedback"]["unhelpful"]["callback_id"]
    async with http.post(url, json={"callback_id": cb, "additional_feedback": "meh"}) as r:
        assert r.status == 200
        assert await r.json() == {"status": "SUBMITTED"}
    [record] = server.feedback
    assert (record.rating, record.additional_feedback) == ("unhelpful", "meh")
    for bad in (
        {"callback_id": "nope"},
        {"callback_id": other["feedback"]["helpful"]["callback_id"]},
        {},
    ):
        async with http.post(url, json=bad) as r:
            assert r.status == 400
            assert (await r.json())["error"]["code"] == "INVALID_REQUEST"


async def test_push_event_creates_system_conversation(
    http: aiohttp.ClientSession, server: FakeMoveworks
) -> None:
    """push_event(None, ...) makes a "System Initiated Conversation" holding the message."""
    event_id = server.push_event(None, "Your laptop is ready.")
    assert ID_RE.match(event_id)
    async with http.get("/rest/v1/conversations/-/events") as r:
        [event] = (await r.json())["events"]
    assert event["event_id"] == event_id
    assert event["event_payload"]["type"] == "MESSAGE_EVENT"
    message = event["event_payload"]["message"]
    assert message["content"]["commonmark_text"]["text"] == "Your laptop is ready."
    async with http.get(f"/rest/v1/conversations/{event['conversation_id']}") as r:
        assert (await r.json())["title"] == "System Initiated Conversation"
    rid = message["response_id"]
    assert (await get_response(http, "rest/v1", event["conversation_id"], rid))[
        "status"
    ] == "COMPLETED"
    with pytest.raises(KeyError):
        server.push_event("conv_missing", "x")


@pytest.mark.parametrize("gen", GENS)
async def test_events_bounds_cursor_and_created_at(
    http: aiohttp.ClientSession, server: FakeMoveworks, gen: str
) -> None:
    """Events are oldest first; starting_after is exclusive, ending_at inclusive, cursors page."""
    cid = await new_conversation(http, gen)
    ids = [server.push_event(cid, f"note {i}") for i in range(5)]
    server.push_event(None, "elsewhere")
    url = f"{PREFIX[gen]}/conversations/{cid}/events"
    async with http.get(url) as r:
        body = await r.json()
    assert [e["event_id"] for e in body["events"]] == ids
    assert all(("created_at" in e) == (gen != "v1beta1") for e in body["events"])
    params = {"starting_after": ids[0], "ending_at": ids[3], "limit": "2"}
    async with http.get(url, params=params) as r:
        page = await r.json()
    assert [e["event_id"] for e in page["events"]] == ids[1:3]
    async with http.get(url, params=params | {"cursor": page["metadata"]["next_cursor"]}) as r:
        page2 = await r.json()
    assert [e["event_id"] for e in page2["events"]] == ids[3:4]
    assert page2["metadata"]["next_cursor"] is None
    async with http.get(f"{PREFIX[gen]}/conversations/-/events") as r:
        assert len((await r.json())["events"]) == 6
    async with http.get(url, params={"starting_after": ids[4]}) as r:
        assert (await r.json())["events"] == []
    async with http.get(url, params={"starting_after": ids[3], "ending_at": ids[1]}) as r:
        assert r.status == 400
    async with http.get(url, params={"cursor": "zzz"}) as r:
        assert r.status == 400
        assert (await r.json())["error"]["code"] == "INVALID_CURSOR"


async def test_get_event_rest_v1(http: aiohttp.ClientSession, server: FakeMoveworks) -> None:
    """GET one event on rest/v1; it must belong to the conversation and "-" is not accepted."""
    cid, other = await new_conversation(http), await new_conversation(http)
    event_id = server.push_event(cid, "hello")
    async with http.get(f"/rest/v1/conversations/{cid}/events/{event_id}") as r:
        assert r.status == 200
        assert (await r.json())["event_id"] == event_id
    for conv in (other, "-"):
        async with http.get(f"/rest/v1/conversations/{conv}/events/{event_id}") as r:
            assert r.status == 404


async def test_modal_get_refresh_submit() -> None:
    """Answer(modal=True) serves a form on rest/v1: get, refresh, and a validated submit."""
    answer = {"form": Answer(text="Fill this in", modal=True)}
    async with (
        FakeMoveworks(stream_delay=0, answer=answer, polls_to_complete=1) as server,
        aiohttp.ClientSession(server.url, headers=AUTH) as http,
    ):
        cid = await new_conversation(http)
        done = await complete(http, "rest/v1", cid, "form")
        msg = final_message(done)
        [action] = [a for a in msg["actions"] if a["type"] == "MODAL_ACTION"]
        modal_id = action["modal_action"]["modal_id"]
        base = (
            f"/rest/v1/conversations/{cid}/responses/{done['response_id']}"
            f"/messages/{msg['message_id']}/modals"
        )
        async with http.get(f"{base}/{modal_id}") as r:
            modal = await r.json()
        assert modal["modal_id"] == modal_id
        assert modal["title"]
        fields = {fld["name"]: fld for fld in modal["fields"]}
        assert fields["model"]["options"]
        assert fields["model"]["triggers_refresh"]
        assert fields["other_model"]["visible"] is False
        values = {"model": {"option": "other"}}
        async with http.post(f"{base}/{modal_id}/refresh", json={"values": values}) as r:
            refreshed = {fld["name"]: fld for fld in (await r.json())["fields"]}
        assert refreshed["other_model"]["visible"]
        assert refreshed["other_model"]["required"]
        assert "options" not in refreshed["model"]
        async with http.post(f"{base}/{modal_id}/submit", json={"values": values}) as r:
            assert r.status == 400
            assert "reason" in (await r.json())["error"]["message"]
        values |= {"other_model": {"text": "Linux"}, "reason": {"text": "broken"}}
        async with http.post(f"{base}/{modal_id}/submit", json={"values": values}) as r:
            assert r.status == 200
            assert await r.json() == {"status": "SUBMITTED"}
        assert server.modal_submissions[0].values == values
        async with http.get(f"/rest/v1/conversations/{cid}/events") as r:
            [event] = (await r.json())["events"]
        assert event["event_payload"]["message"]["response_id"] == done["response_id"]
        async with http.get(f"{base}/modal_stale") as r:
            assert r.status == 404
        async with http.post(f"{base}/{modal_id}/submit", json={"values": [1]}) as r:
            assert r.status == 400
        assert "actions" not in final_message(await complete(http, "assistant/v1", cid, "form"))


# -- oauth ------------------------------------------------------------------------------------


@pytest.mark.parametrize("reply", ["wrapped", "flat"])
async def test_oauth_token_json_and_form(reply: str) -> None:
    """The token endpoint takes JSON or form bodies and replies wrapped or flat."""
    creds = {"client_id": "test-client", "client_secret": "test-secret"}
    async with (
        FakeMoveworks(stream_delay=0, token_reply=reply, token_ttl=60) as server,
        aiohttp.ClientSession(server.url) as http,
    ):
        tokens = []
        for kwargs in (
            {"json": creds | {"grant_type": "client_credentials"}},
            {"data": creds | {"grant_type": "client_credentials"}},
        ):
            async with http.post("/oauth/v1/token", **kwargs) as r:  # type: ignore[arg-type]
                assert r.status == 200
                body = await r.json()
            data = body["data"] if reply == "wrapped" else body
            assert set(body) == ({"data"} if reply == "wrapped" else set(data))
            assert data["expires_in"] == 60
            assert data["token_type"] == "Bearer"
            tokens.append(data["access_token"])
        headers = {"Authorization": f"Bearer {tokens[1]}", "Assistant-Name": "acme-capi"}
        async with http.get("/rest/v1/conversations", headers=headers) as r:
            assert r.status == 200
        assert server.stats.token_requests == 2


GRANT = {"client_id": "test-client", "client_secret": "test-secret"}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            GRANT | {"client_secret": "bad", "grant_type": "client_credentials"},
            401,
            "INVALID_CLIENT",
        ),
        (GRANT | {"grant_type": "password"}, 400, "UNSUPPORTED_GRANT_TYPE"),
        ({"client_id": "test-client"}, 400, "INVALID_REQUEST"),
    ],
    ids=["bad-secret", "bad-grant", "missing-fields"],
)
async def test_oauth_errors_are_flat(
    server: FakeMoveworks, body: dict[str, str], status: int, code: str
) -> None:
    """Token errors are flat {code, message} bodies with 400 or 401."""
    async with (
        aiohttp.ClientSession(server.url) as http,
        http.post("/oauth/v1/token", json=body) as r,
    ):
        assert r.status == status
        payload = await r.json()
    assert payload["code"] == code
    assert "error" not in payload


async def test_minted_token_expires_on_server_clock() -> None:
    """A minted token is accepted until token_ttl passes on the server clock."""
    clock = Clock()
    async with (
        FakeMoveworks(stream_delay=0, token_ttl=10, clock=clock) as server,
        aiohttp.ClientSession(server.url) as http,
    ):
        grant = {"client_id": "test-client", "client_secret": "test-secret"}
        async with http.post(
            "/oauth/v1/token", json=grant | {"grant_type": "client_credentials"}
        ) as r:
            token = (await r.json())["data"]["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Assistant-Name": "acme-capi"}
        async with http.get("/rest/v1/conversations", headers=headers) as r:
            assert r.status == 200
        clock.now += 10
        async with http.get("/rest/v1/conversations", headers=headers) as r:
            assert r.status == 401
            assert (await r.json())["error"]["code"] == "UNAUTHORIZED"


# -- rate limiting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "header", "check"),
    [
        ("1", "Retry-After", lambda v: v == "1"),
        ("auto", "Retry-After", lambda v: v == "1"),
        ("http-date", "Retry-After", lambda v: parsedate_to_datetime(v).tzinfo is not None),
        (None, None, None),
    ],
    ids=["seconds", "auto", "http-date", "absent"],
)
async def test_rate_limit_bucket(spec: str | None, header: str | None, check: Any) -> None:
    """The token bucket allows the burst, then 429s with the configured Retry-After."""
    clock = Clock()
    async with (
        FakeMoveworks(
            stream_delay=0, rate_limit=(1.0, 2.0), rate_limit_retry_after=spec, clock=clock
        ) as server,
        aiohttp.ClientSession(server.url, headers=AUTH) as http,
    ):
        statuses = []
        for _ in range(3):
            async with http.get("/rest/v1/conversations") as r:
                statuses.append(r.status)
                last = r
                body = await r.json()
        assert statuses == [200, 200, 429]
        assert body["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        if header is None:
            assert "Retry-After" not in last.headers
            assert "retry-after-ms" not in last.headers
        else:
            assert check(last.headers[header])
        grant = {"client_id": "test-client", "client_secret": "test-secret"}
        async with http.post(
            "/oauth/v1/token", json=grant | {"grant_type": "client_credentials"}
        ) as r:
            assert r.status == 200  # the token endpoint is outside the bucket
        clock.now += 1.0
        async with http.get("/rest/v1/conversations") as r:
            assert r.status == 200
        assert server.stats.rate_limited == 1
        assert server.stats.requests_per_second() == {100: 3, 101: 1}


# -- faults: gate -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        ("7", {"Retry-After": "7"}),
        ("ms:1500", {"retry-after-ms": "1500"}),
        (None, {}),
    ],
    ids=["seconds", "milliseconds", "absent"],
)
async def test_fault_rate_limited(
    http: aiohttp.ClientSession, server: FakeMoveworks, retry_after: str | None, expected: Any
) -> None:
    """Fault.rate_limited answers 429 RATE_LIMIT_EXCEEDED with the chosen header, times=1."""
    server.inject(Fault.rate_limited(retry_after=retry_after), times=1)
    async with http.get("/rest/v1/conversations") as r:
        assert r.status == 429
        assert (await r.json())["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        got = {k: v for k, v in r.headers.items() if k.lower() in ("retry-after", "retry-after-ms")}
    assert got == expected
    async with http.get("/rest/v1/conversations") as r:
        assert r.status == 200
    assert server.stats.rate_limited == 1


async def test_fault_rate_limited_http_date(
    http: aiohttp.ClientSession, server: FakeMoveworks
) -> None:
    """Fault.rate_limited("http-date") sends an IMF-fixdate Retry-After in the future."""
    server.inject(Fault.rate_limited(retry_after="http-date"))
    async with http.get("/rest/v1/conversations") as r:
        when = parsedate_to_datetime(r.headers["Retry-After"]).timestamp()
    assert r.status == 429
    assert when > time.time()


async def test_fault_status_json_and_html(
    http: aiohttp.ClientSession, server: FakeMoveworks
) -> None:
    """Fault.status gives the documented JSON error, an HTML 5xx page, or HTML with 200."""
    cid = await new_conversation(http)
    server.inject(Fault.status(503), times=1)
    async with http.post(
        f"/rest/v1/conversations/{cid}/responses", json=text_body("rest/v1", "x")
    ) as r:
        assert r.status == 503
        assert (await r.json())["error"]["code"] == "INTERNAL_ERROR"
    assert server.stats.creates == 0  # a gate fault answers instead of the endpoint
    server.inject(Fault.status(502, html=True), times=1)
    async with http.get("/rest/v1/conversations") as r:
        assert r.status == 502
        assert r.content_type == "text/html"
        assert "502 Bad Gateway" in await r.text()
    server.inject(Fault.status(200, html=True), times=1)
    async with http.get("/rest/v1/conversations") as r:
        assert r.status == 200
        assert r.content_type == "text/html"
    server.inject(Fault.status(400, error_code="INVALID_CURSOR"), times=1)
    async with http.get("/rest/v1/conversations") as r:
        assert (await r.json())["error"]["code"] == "INVALID_CURSOR"


async def test_fault_expire_token_static_and_minted(server: FakeMoveworks) -> None:
    """Fault.expire_token rejects tokens that existed at injection; newly minted ones work."""
    grant = {
        "client_id": "test-client",
        "client_secret": "test-secret",
        "grant_type": "client_credentials",
    }
    async with aiohttp.ClientSession(server.url) as http:

        async def mint() -> str:
            async with http.post("/oauth/v1/token", json=grant) as r:
                return str((await r.json())["data"]["access_token"])

        old = await mint()
        server.inject(Fault.expire_token())
        for token in ("test-token", old):
            headers = {"Authorization": f"Bearer {token}", "Assistant-Name": "acme-capi"}
            async with http.get("/rest/v1/conversations", headers=headers) as r:
                assert r.status == 401
                assert (await r.json())["error"]["code"] == "UNAUTHORIZED"
        fresh = {"Authorization": f"Bearer {await mint()}", "Assistant-Name": "acme-capi"}
        async with http.get("/rest/v1/conversations", headers=fresh) as r:
            assert r.status == 200
        server.clear_faults()
        async with http.get("/rest/v1/conversations", headers=AUTH) as r:
            assert r.status == 200


async def test_fault_reset_after_request_creates_but_never_replies(
    http: aiohttp.ClientSession, server: FakeMoveworks
) -> None:
    """Fault.reset_after_request processes the create, then drops the connection unanswered."""
    cid = await new_conversation(http)
    server.inject(Fault.reset_after_request(), path_contains="/responses", times=2)
    for suffix, headers in (("", {}), ("/stream", SSE)):
        url = f"/rest/v1/conversations/{cid}/responses{suffix}"
        with pytest.raises(aiohttp.ClientError):
            async with http.post(url, json=text_body("rest/v1", "x"), headers=headers) as r:
                await r.read()
    assert server.stats.creates == 2
    assert server.stats.stream_opened == 0
    assert server.stats.creates_per_conversation == {cid: 2}


async def test_fault_scoping_conversation_path_and_times(
    http: aiohttp.ClientSession, server: FakeMoveworks
) -> None:
    """Faults can target one conversation or a path, fire `times` times, and be cleared."""
    a, b = await new_conversation(http), await new_conversation(http)
    server.inject(Fault.status(500), conversation_id=a)
    async with http.get(f"/rest/v1/conversations/{b}") as r:
        assert r.status == 200
    async with http.get(f"/rest/v1/conversations/{a}") as r:
        assert r.status == 500
    server.clear_faults()
    server.inject(Fault.status(500), path_contains="/messages", times=2)
    statuses = []
    for url in (f"/rest/v1/conversations/{a}", *[f"/rest/v1/conversations/{a}/messages"] * 3):
        async with http.get(url) as r:
            statuses.append(r.status)
    assert statuses == [200, 500, 500, 200]
    with pytest.raises(ValueError):
        server.inject(Fault.status(500), times=0)


async def test_oauth_is_only_hit_by_faults_aimed_at_it(server: FakeMoveworks) -> None:
    """Global faults leave the token endpoint alone; path_contains="/oauth" targets it."""
    grant = {
        "client_id": "test-client",
        "client_secret": "test-secret",
        "grant_type": "client_credentials",
    }
    server.inject(Fault.status(500))
    async with aiohttp.ClientSession(server.url) as http:
        async with http.post("/oauth/v1/token", json=grant) as r:
            assert r.status == 200
        server.clear_faults()
        server.inject(Fault.rate_limited(), path_contains="/oauth", times=1)
        async with http.post("/oauth/v1/token", json=grant) as r:
            assert r.status == 429
            assert (await r.json())["code"] == "RATE_LIMIT_EXCEEDED"
        server.inject(Fault.status(503), path_contains="/oauth", times=1)
        async with http.post("/oauth/v1/token", json=grant) as r:
            assert r.status == 503
            assert "code" in await r.json()


# -- faults: plain replies --------------------------------------------------------------------


async def test_fault_stall_delays_a_plain_reply(
    http: aiohttp.ClientSession, server: FakeMoveworks
) -> None:
    """Fault.stall holds a JSON reply back for the given seconds."""
    server.inject(Fault.stall(0.03), times=1)
    started = time.perf_counter()
    async with http.get("/rest/v1/conversations") as r:
        assert r.status == 200
    assert time.perf_counter() - started >= 0.03


async def test_fault_unknown_fields_on_json(
    http: aiohttp.ClientSession, server: FakeMoveworks
) -> None:
    """Fault.unknown_fields adds unknown keys everywhere and FUTURE_* members, keeping the data."""
    cid = await new_conversation(http)
    done = await complete(http, "rest/v1", cid, "q")
    server.inject(Fault.unknown_fields())
    body = await get_response(http, "rest/v1", cid, done["response_id"])

    def known_objects(value: Any) -> list[dict[str, Any]]:
        if isinstance(value, list):
            return [o for v in value for o in known_objects(v)]
        if not isinstance(value, dict) or str(value.get("type", "")).startswith("FUTURE_"):
            return []
        nested = [known_objects(v) for k, v in value.items() if k != "x_future_field"]
        return [value] + [o for objs in nested for o in objs]

    objects = known_objects(body)
    assert len(objects) > 20
    assert all("x_future_field" in o for o in objects)
    assert body["outputs"][-1]["type"] == "FUTURE_OUTPUT"
    assert body["outputs"][-1]["future_output"]["content"]["type"] == "FUTURE_CONTENT"
    message = final_message(body)
    assert (
        message["content"]["commonmark_text"]["text"]
        == final_message(done)["content"]["commonmark_text"]["text"]
    )


async def test_fault_unknown_fields_adds_future_action() -> None:
    """Action lists gain a FUTURE_ACTION after the real ones."""
    answer = {"q": Answer(text="a", actions=ACTIONS[:1])}
    async with (
        FakeMoveworks(stream_delay=0, answer=answer, polls_to_complete=1) as server,
        aiohttp.ClientSession(server.url, headers=AUTH) as http,
    ):
        cid = await new_conversation(http)
        server.inject(Fault.unknown_fields(), path_contains="/responses/")
        msg = final_message(await complete(http, "rest/v1", cid, "q"))
        assert [a["type"] for a in msg["actions"]] == ["URL_ACTION", "FUTURE_ACTION"]


async def test_fault_slow_loris_on_plain_reply(
    http: aiohttp.ClientSession, server: FakeMoveworks
) -> None:
    """Fault.slow_loris writes a JSON body byte by byte; the body still parses."""
    server.inject(Fault.slow_loris(0.0), times=1)
    chunks = []
    async with http.get("/rest/v1/conversations") as r:
        async for chunk in r.content.iter_any():
            chunks.append(chunk)
    assert json.loads(b"".join(chunks)) == {"conversations": [], "metadata": {"next_cursor": None}}


# -- faults: streams --------------------------------------------------------------------------


async def stream_with(
    server: FakeMoveworks, http: aiohttp.ClientSession, *faults: Any, text: str = "hi"
) -> tuple[str, bytes]:
    """Inject ``faults`` (once each) on a fresh conversation and stream one turn."""
    cid = await new_conversation(http)
    for fault in faults:
        server.inject(fault, conversation_id=cid, times=1)
    _, raw = await stream(http, "rest/v1", cid, text)
    return cid, raw


async def normal_stream(http: aiohttp.ClientSession) -> list[tuple[str, dict[str, Any]]]:
    """Return the (event, data) pairs of an unfaulted stream, ids stripped for comparison."""
    _, raw = await stream(http, "rest/v1", await new_conversation(http), "hi")
    return [(name, json.loads(data)["event_type"]) for name, data in parse_sse(raw)]  # type: ignore[misc]


async def test_fault_crlf_and_cr_line_endings(
    http: aiohttp.ClientSession, server: FakeMoveworks
) -> None:
    """Fault.crlf ends every line with CRLF, Fault.cr with a lone CR; the events are the same."""
    expected = await normal_stream(http)
    _, crlf = await stream_with(server, http, Fault.crlf())
    assert b"\r\n" in crlf
    assert b"\n" not in crlf.replace(b"\r\n", b"")
    _, cr = await stream_with(server, http, Fault.cr())
    assert b"\n" not in cr
    assert cr.count(b"\r") >= 2 * len(expected)
    for raw in (crlf, cr):
        assert [(n, json.loads(d)["event_type"]) for n, d in parse_sse(raw)] == expected


async def test_fault_comments(http: aiohttp.ClientSession, server: FakeMoveworks) -> None:
    """Fault.comments puts ": keep-alive" lines before every `every`-th event."""
    _, raw = await stream_with(server, http, Fault.comments(every=3))
    lines = raw.decode().split("\n")
    assert lines[0] == ": keep-alive"
    assert lines.count(": keep-alive") == 3  # before events 0, 3 and 6 of 8
    assert len(parse_sse(raw)) == 8


async def test_fault_trickle(http: aiohttp.ClientSession, server: FakeMoveworks) -> None:
    """Fault.trickle writes the stream in small pieces; the parsed events do not change."""
    cid = await new_conversation(http)
    server.inject(Fault.trickle(bytes_per_write=400, delay=0.001), conversation_id=cid)
    url = f"/rest/v1/conversations/{cid}/responses/stream"
    chunks = []
    async with http.post(url, json=text_body("rest/v1", "hi"), headers=SSE) as r:
        async for chunk in r.content.iter_any():
            chunks.append(chunk)
    raw = b"".join(chunks)
    assert len(chunks) >= 3
    assert [n for n, _ in parse_sse(raw)] == [n for n, _ in await normal_stream(http)]


async def test_fault_one_byte_trickle_splits_utf8(
    http: aiohttp.ClientSession, server: FakeMoveworks
) -> None:
    """A 1-byte trickle still yields valid UTF-8 events (the default answer has multi-byte text)."""
    _, raw = await stream_with(server, http, Fault.trickle())
    text = decoded(raw)[-1]["response"]["outputs"][-1]["message"]["content"]["commonmark_text"][
        "text"
    ]
    assert "\u201c" in text
    assert len(raw) > len(raw.decode())


@pytest.mark.parametrize("reset", [False, True], ids=["clean", "reset"])
async def test_fault_cut_stream_then_poll_completes(
    http: aiohttp.ClientSession, server: FakeMoveworks, reset: bool
) -> None:
    """Fault.cut_stream ends after N events without a terminal one; GET then says COMPLETED."""
    cid = await new_conversation(http)
    server.inject(Fault.cut_stream(after_events=2, reset=reset), conversation_id=cid)
    url = f"/rest/v1/conversations/{cid}/responses/stream"
    chunks: list[bytes] = []
    error: BaseException | None = None
    async with http.post(url, json=text_body("rest/v1", "hi"), headers=SSE) as r:
        try:
            async for chunk in r.content.iter_any():
                chunks.append(chunk)
        except aiohttp.ClientError as exc:
            error = exc
    assert (error is not None) == reset
    events = decoded(b"".join(chunks))
    assert [e["event_type"] for e in events] == ["RESPONSE_CREATED", "RESPONSE_IN_PROGRESS"]
    rid = events[0]["response"]["response_id"]
    assert (await get_response(http, "rest/v1", cid, rid))["status"] == "COMPLETED"
    assert server.stats.stream_opened == server.stats.stream_closed == 1


async def test_fault_cut_stream_partial_leaves_a_truncated_event(
    http: aiohttp.ClientSession, server: FakeMoveworks
) -> None:
    """cut_stream(partial=True) ends the body inside an event, without its blank line."""
    _, raw = await stream_with(server, http, Fault.cut_stream(after_events=3, partial=True))
    complete_part, _, tail = raw.rpartition(b"\n\n")
    assert tail.startswith(b"event: RESPONSE_OUTPUT_DELTA\ndata: {")
    assert len(parse_sse(complete_part + b"\n\n")) == 3


async def test_fault_error_event(http: aiohttp.ClientSession, server: FakeMoveworks) -> None:
    """Fault.error_event sends ERROR {error:{code,message}} after N events; the turn FAILED."""
    cid, raw = await stream_with(server, http, Fault.error_event(code="OVERLOADED", after_events=3))
    events = parse_sse(raw)
    assert [n for n, _ in events] == [
        "RESPONSE_CREATED",
        "RESPONSE_IN_PROGRESS",
        "RESPONSE_OUTPUT_DELTA",
        "ERROR",
    ]
    error = json.loads(events[-1][1])
    assert error["error"]["code"] == "OVERLOADED"
    assert error["error"]["message"]
    rid = json.loads(events[0][1])["response"]["response_id"]
    failed = await get_response(http, "rest/v1", cid, rid)
    assert failed["status"] == "FAILED"
    assert failed["error"]["code"] == "OVERLOADED"


async def test_fault_malformed_json(http: aiohttp.ClientSession, server: FakeMoveworks) -> None:
    """Fault.malformed_json inserts one event whose data is not JSON; the rest still parses."""
    _, raw = await stream_with(server, http, Fault.malformed_json(after_events=1))
    bad = []
    for index, (_, data) in enumerate(parse_sse(raw)):
        try:
            json.loads(data)
        except ValueError:
            bad.append(index)
    assert bad == [1]
    assert parse_sse(raw)[-1][0] == "RESPONSE_COMPLETED"


async def test_fault_unknown_event(http: aiohttp.ClientSession, server: FakeMoveworks) -> None:
    """Fault.unknown_event interleaves RESPONSE_FUTURE_THING events that take sequence numbers."""
    _, raw = await stream_with(server, http, Fault.unknown_event())
    events = decoded(raw)
    names = [e["event_type"] for e in events]
    assert names.count("RESPONSE_FUTURE_THING") == 7
    assert [n for n in names if n != "RESPONSE_FUTURE_THING"] == [
        n for n, _ in await normal_stream(http)
    ]
    assert [e["sequence_number"] for e in events] == list(range(1, 16))


async def test_fault_unknown_fields_on_stream(
    http: aiohttp.ClientSession, server: FakeMoveworks
) -> None:
    """Fault.unknown_fields also decorates stream data; the final response gains FUTURE_OUTPUT."""
    _, raw = await stream_with(server, http, Fault.unknown_fields())
    events = decoded(raw)
    assert all("x_future_field" in e for e in events)
    assert events[-1]["response"]["outputs"][-1]["type"] == "FUTURE_OUTPUT"


async def test_fault_sequence_anomalies(http: aiohttp.ClientSession, server: FakeMoveworks) -> None:
    """duplicate_events repeats deltas, reorder_events swaps two, skip_sequence leaves a gap."""
    _, dup = await stream_with(server, http, Fault.duplicate_events())
    assert [e["sequence_number"] for e in decoded(dup)] == [1, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8]
    _, swapped = await stream_with(server, http, Fault.reorder_events())
    assert [e["sequence_number"] for e in decoded(swapped)] == [1, 2, 4, 3, 5, 6, 7, 8]
    _, gap = await stream_with(server, http, Fault.skip_sequence())
    assert [e["sequence_number"] for e in decoded(gap)] == [1, 2, 4, 5, 6, 7, 8]


async def test_fault_stall_on_stream_sends_headers_first(
    http: aiohttp.ClientSession, server: FakeMoveworks
) -> None:
    """Fault.stall on a stream sends the headers at once, then waits before the first event."""
    cid = await new_conversation(http)
    server.inject(Fault.stall(0.05), conversation_id=cid)
    url = f"/rest/v1/conversations/{cid}/responses/stream"
    started = time.perf_counter()
    async with http.post(url, json=text_body("rest/v1", "hi"), headers=SSE) as r:
        headers_after = time.perf_counter() - started
        await r.content.readany()
        first_byte_after = time.perf_counter() - started
        await r.read()
    assert r.status == 200
    assert headers_after < 0.05 <= first_byte_after


async def test_fault_slow_loris_on_stream_is_bounded(
    http: aiohttp.ClientSession, server: FakeMoveworks
) -> None:
    """Fault.slow_loris dribbles single bytes and closes at its bound; the turn completes."""
    started = time.perf_counter()
    cid, raw = await stream_with(server, http, Fault.slow_loris(0.002, max_seconds=0.04))
    assert time.perf_counter() - started < 1.0
    assert 0 < len(raw) < 100
    assert b"event: RESPONSE_CREATED\ndata: {".startswith(raw[:30])
    [rid] = [r for r in server.store.responses if server.store.responses[r].conversation_id == cid]
    assert (await get_response(http, "rest/v1", cid, rid))["status"] == "COMPLETED"


@pytest.mark.parametrize("then_events", [False, True])
async def test_fault_keepalive_only(
    http: aiohttp.ClientSession, server: FakeMoveworks, then_events: bool
) -> None:
    """Fault.keepalive_only sends only comments for its duration, then closes or continues."""
    fault = Fault.keepalive_only(0.005, duration=0.02, then_events=then_events)
    _, raw = await stream_with(server, http, fault)
    assert raw.startswith(b": keep-alive\n: keep-alive\n")
    assert len(parse_sse(raw)) == (8 if then_events else 0)


async def test_disconnects_and_aborts_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    """A client leaving mid-stream, and RST faults, log no warnings or tracebacks."""
    caplog.set_level(logging.DEBUG)
    async with FakeMoveworks(stream_delay=0.005) as server:
        async with aiohttp.ClientSession(server.url, headers=AUTH) as http:
            cid = await new_conversation(http)
            url = f"/rest/v1/conversations/{cid}/responses/stream"
            async with http.post(url, json=text_body("rest/v1", "x"), headers=SSE) as r:
                await r.content.readline()  # first line only, then hang up mid-stream
        server.inject(Fault.cut_stream(reset=True), times=1)
        server.inject(Fault.reset_after_request(), times=1, path_contains="/messages")
        async with aiohttp.ClientSession(server.url, headers=AUTH) as http:
            with contextlib.suppress(aiohttp.ClientError):
                await stream(http, "rest/v1", cid)
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"/rest/v1/conversations/{cid}/messages") as r:
                    await r.read()
        for _ in range(200):
            if server.stats.stream_closed == 2:
                break
            await asyncio.sleep(0.005)
        assert server.stats.stream_opened == server.stats.stream_closed == 2
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert not any(r.exc_info for r in caplog.records)


async def test_close_ends_a_stalled_stream_promptly() -> None:
    """Closing the server ends a long stall at once instead of waiting it out."""
    server = FakeMoveworks(stream_delay=0)
    await server.start()
    async with aiohttp.ClientSession(server.url, headers=AUTH) as http:
        cid = await new_conversation(http)
        server.inject(Fault.stall(30))
        url = f"/rest/v1/conversations/{cid}/responses/stream"
        async with http.post(url, json=text_body("rest/v1", "x"), headers=SSE) as r:
            assert r.status == 200
            started = time.perf_counter()
            await server.close()
            with pytest.raises(aiohttp.ClientError):
                await r.read()
        assert time.perf_counter() - started < 2.0


# -- observability ----------------------------------------------------------------------------


async def test_counters_and_connections(server: FakeMoveworks) -> None:
    """Create, request and stream counters add up; open connections drop back to 0."""
    connector = aiohttp.TCPConnector(limit=10)
    async with aiohttp.ClientSession(server.url, headers=AUTH, connector=connector) as http:
        cid = await new_conversation(http)
        await asyncio.gather(*(create(http, "rest/v1", cid) for _ in range(3)))
        await stream(http, "rest/v1", cid)
        assert server.stats.open_connections >= 1
        assert server.stats.max_open_connections >= 2
    for _ in range(200):
        if server.stats.open_connections == 0:
            break
        await asyncio.sleep(0.005)
    stats = server.stats
    assert stats.open_connections == 0
    assert stats.creates == 4
    assert stats.creates_per_conversation == {cid: 4}
    assert stats.requests_total == 5
    assert stats.stream_opened == stats.stream_closed == 1
    assert sum(stats.requests_per_second().values()) == 5
    stats.reset()
    assert stats.requests_total == 0
    assert stats.creates_per_conversation == {}


async def test_request_records_redact_authorization(
    http: aiohttp.ClientSession, server: FakeMoveworks
) -> None:
    """server.requests records method, path, generation, query and JSON without the bearer."""
    async with http.post("/assistant/v1/conversations?x=1", json={"title": "t"}):
        pass
    [record] = server.requests
    assert (record.method, record.path, record.generation) == (
        "POST",
        "/assistant/v1/conversations",
        "assistant/v1",
    )
    assert record.json == {"title": "t"}
    assert record.query == {"x": "1"}
    assert record.headers["Authorization"] == "<redacted>"
    assert "test-token" not in repr(record)


async def test_recording_can_be_disabled() -> None:
    """record=False keeps server.requests empty."""
    async with (
        FakeMoveworks(stream_delay=0, record=False) as server,
        aiohttp.ClientSession(server.url, headers=AUTH) as http,
        http.get("/rest/v1/conversations"),
    ):
        pass
    assert len(server.requests) == 0
    assert server.stats.requests_total == 1


async def test_stats_endpoint(http: aiohttp.ClientSession, server: FakeMoveworks) -> None:
    """GET /_fake/stats returns the counters as JSON and is not itself counted."""
    await new_conversation(http)
    async with http.get("/_fake/stats") as r:
        stats = await r.json()
    assert stats["requests_total"] == 1
    assert stats["max_requests_per_second"] == 1
    assert server.stats.requests_total == 1


async def test_server_url_and_app_before_start() -> None:
    """The app exists before start; url does not; start twice is an error."""
    server = FakeMoveworks(stream_delay=0)
    assert server.app.router is not None
    with pytest.raises(RuntimeError):
        _ = server.url
    await server.start(port=0)
    try:
        assert server.url.startswith("http://127.0.0.1:")
        with pytest.raises(RuntimeError):
            await server.start()
    finally:
        await server.close()
        await server.close()  # idempotent


@pytest.mark.parametrize(
    "fake_moveworks", [{"polls_to_complete": 1, "assistant_name": "plugin-bot"}], indirect=True
)
async def test_pytest_plugin_fixture(fake_moveworks: FakeMoveworks) -> None:
    """The plugin's fake_moveworks fixture yields a started server configured by its param."""
    headers = {"Authorization": "Bearer test-token", "Assistant-Name": "plugin-bot"}
    async with aiohttp.ClientSession(fake_moveworks.url, headers=headers) as http:
        cid = await new_conversation(http)
        rid = await create(http, "rest/v1", cid)
        assert (await get_response(http, "rest/v1", cid, rid))["status"] == "COMPLETED"


async def test_pytest_plugin_marker(pytester: pytest.Pytester) -> None:
    """Enabled from a conftest, the plugin registers its marker and configures the fixture."""
    pytester.makeconftest('pytest_plugins = ["pytester", "moveworks_async.testing.pytest_plugin"]')
    # The inner run does not see this project's pytest settings; without the loop scope set,
    # pytest-asyncio warns, and -W error turns that into an internal error.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.fake_moveworks(assistant_name="marked")
        async def test_marked(fake_moveworks):
            assert fake_moveworks.assistant_name == "marked"
            assert fake_moveworks.url.startswith("http://127.0.0.1:")
        """
    )
    result = await asyncio.to_thread(
        pytester.runpytest_subprocess, "-p", "asyncio", "-W", "error::pytest.PytestWarning"
    )
    result.assert_outcomes(passed=1)


async def test_runs_as_a_process() -> None:
    """``python -m moveworks_async.testing`` prints its URL, serves, and stops on SIGTERM."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free a moment ago; the server binds it next
    event = "00000000-0000-4000-8000-00000000beef"
    args = ("--host", "127.0.0.1", "--port", str(port), "--token", "cli-token",
            "--data-api-key", "dk", "--data-records", "3", "--event", event)  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "moveworks_async.testing", *args, stdout=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        assert url == f"http://127.0.0.1:{port}"
        headers = {"Authorization": "Bearer cli-token", "Assistant-Name": "acme-capi"}
        async with (
            aiohttp.ClientSession(url, headers=headers) as http,
            http.get("/rest/v1/conversations") as r,
        ):
            assert r.status == 200
            assert await r.json() == {"conversations": [], "metadata": {"next_cursor": None}}
        async with (
            aiohttp.ClientSession(url) as http,
            http.get("/export/v1/records/users", headers={"Authorization": "Bearer dk"}) as r,
        ):
            assert len((await r.json())["value"]) == 3
        body = {"message": "hi", "recipients": ["a@example.com"]}
        async with (
            aiohttp.ClientSession(url, headers={"Authorization": "Bearer cli-token"}) as http,
            http.post(f"/rest/v1/events/{event}/messages/send", json=body) as r,
        ):
            assert await r.json() == {"data": {"status": "RECEIVED"}}
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 30) == 0
