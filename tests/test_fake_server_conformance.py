"""The fake server against independent references: httpx-sse for SSE, the OpenAPI file for JSON.

Every reply is validated against the schema the OpenAPI document gives for that operation and
status, so a status code the spec does not list for an operation fails too.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from httpx_sse import aconnect_sse
from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from moveworks_async.testing import Answer, FakeMoveworks, Fault

pytestmark = pytest.mark.asyncio

SPEC_FILE = Path(__file__).parent / "data" / "moveworks-openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
SPEC_URI = "urn:moveworks-openapi"
# The whole OpenAPI document is one JSON Schema 2020-12 resource, so every "#/components/..."
# reference inside it resolves against SPEC_URI.
REGISTRY: Registry[Any] = Registry().with_resource(
    SPEC_URI, Resource.from_contents(SPEC, default_specification=DRAFT202012)
)
AUTH = {"Authorization": "Bearer test-token", "Assistant-Name": "acme-capi"}
PREFIX = {"v1beta1": "/rest/v1beta1", "assistant/v1": "/assistant/v1", "rest/v1": "/rest/v1"}
GENS = list(PREFIX)
# ResponseStreamData is a oneOf whose four response-carrying members have the same shape, so
# a frame matches several of them; each frame is checked against its own member instead.
STREAM_SCHEMAS = {
    "RESPONSE_CREATED": "ResponseCreatedData",
    "RESPONSE_IN_PROGRESS": "ResponseInProgressData",
    "RESPONSE_OUTPUT_DELTA": "ResponseOutputDeltaData",
    "RESPONSE_COMPLETED": "ResponseCompletedData",
    "RESPONSE_FAILED": "ResponseFailedData",
    "ERROR": "StreamingErrorData",
}


def _pointer(*parts: str) -> str:
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def _validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": f"{SPEC_URI}#{pointer}"},
        registry=REGISTRY,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _operations() -> list[tuple[re.Pattern[str], str]]:
    ops = []
    for template in SPEC["paths"]:
        parts = ("[^/]+" if p.startswith("{") else re.escape(p) for p in template.split("/"))
        ops.append((re.compile("^" + "/".join(parts) + "$"), template))
    # Literal segments win over parameters ("/responses/stream" before "/responses/{id}").
    ops.sort(key=lambda op: op[1].count("{"))
    return ops


OPERATIONS = _operations()


def operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """Return the spec template and operation object serving ``method path``."""
    for regex, template in OPERATIONS:
        op = SPEC["paths"][template].get(method.lower())
        if op is not None and regex.match(path):
            return template, op
    raise AssertionError(f"the spec has no operation {method} {path}")


def check_reply(method: str, path: str, status: int, body: Any) -> None:
    """Validate ``body`` against the spec's JSON schema for ``method path`` answering ``status``."""
    template, op = operation(method, path)
    assert str(status) in op["responses"], f"{method} {template} does not document {status}"
    pointer = _pointer("paths", template, method.lower(), "responses", str(status))
    reply = op["responses"][str(status)]
    if "$ref" in reply:
        pointer = reply["$ref"][1:]
    _validator(pointer + _pointer("content", "application/json", "schema")).validate(body)


def check_request(method: str, path: str, body: Any) -> None:
    """Validate a request body against the spec, proving the server accepts spec-valid input."""
    template, _ = operation(method, path)
    pointer = _pointer(
        "paths", template, method.lower(), "requestBody", "content", "application/json", "schema"
    )
    _validator(pointer).validate(body)


def check_schema(name: str, value: Any) -> None:
    """Validate ``value`` against ``#/components/schemas/<name>``."""
    _validator(_pointer("components", "schemas", name)).validate(value)


class Api:
    """A tiny httpx client that checks every request and reply against the spec."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(
        self, method: str, path: str, body: Any = None, expect: int = 200, **kwargs: Any
    ) -> Any:
        if body is not None and expect < 400:
            check_request(method, path, body)
        r = await self.http.request(method, path, json=body, **kwargs)
        assert r.status_code == expect, r.text
        assert r.headers["content-type"].startswith("application/json")
        payload = r.json()
        check_reply(method, path.partition("?")[0], r.status_code, payload)
        return payload


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeMoveworks]:
    """A fake server whose answers carry actions and a modal."""
    actions = (
        {"type": "URL_ACTION", "label": "Open", "url_action": {"url": "https://example.com/x"}},
        {"type": "CALLBACK_ACTION", "label": "Yes", "callback_action": {"callback_id": "cb"}},
    )
    answers = {
        "form": Answer(text="Please fill in the form.", actions=actions, modal=True),
        "fail": Answer(text="", fail=True),
    }
    async with FakeMoveworks(stream_delay=0, answer=answers) as s:
        yield s


@pytest_asyncio.fixture
async def api(server: FakeMoveworks) -> AsyncIterator[Api]:
    """A spec-checking client on the fake server."""
    async with httpx.AsyncClient(base_url=server.url, headers=AUTH) as http:
        yield Api(http)


def text_body(gen: str, text: str) -> dict[str, Any]:
    """Return the create-response body of ``gen``."""
    return {"input": {"chat": {"text": text}}} if gen == "rest/v1" else {"input": {"text": text}}


# -- SSE, read by httpx-sse ----------------------------------------------------------------------


async def read_stream(
    server: FakeMoveworks, gen: str, text: str = "form"
) -> tuple[httpx.Response, list[tuple[str, dict[str, Any]]]]:
    """Create a conversation and stream one turn through httpx-sse."""
    async with httpx.AsyncClient(base_url=server.url, headers=AUTH) as http:
        conv = (await http.post(f"{PREFIX[gen]}/conversations", json={})).json()
        url = f"{PREFIX[gen]}/conversations/{conv['conversation_id']}/responses/stream"
        async with aconnect_sse(http, "POST", url, json=text_body(gen, text)) as source:
            events = [(sse.event, sse.json()) async for sse in source.aiter_sse()]
            return source.response, events


@pytest.mark.parametrize("gen", GENS)
async def test_httpx_sse_reads_the_stream(server: FakeMoveworks, gen: str) -> None:
    """httpx-sse sees the documented event names, numbered from 1, each valid per its schema."""
    response, events = await read_stream(server, gen)
    assert response.headers["content-type"] == "text/event-stream"
    names = [name for name, _ in events]
    assert names[:2] == ["RESPONSE_CREATED", "RESPONSE_IN_PROGRESS"]
    assert set(names[2:-1]) == {"RESPONSE_OUTPUT_DELTA"}
    assert names[-1] == "RESPONSE_COMPLETED"
    assert [data["sequence_number"] for _, data in events] == list(range(1, len(events) + 1))
    for name, data in events:
        assert data["event_type"] == name
        check_schema(STREAM_SCHEMAS[name], data)
    final = events[-1][1]["response"]
    check_schema("Response", final)
    types = {
        a["type"]
        for o in final["outputs"]
        if o["type"] == "MESSAGE"
        for a in o["message"].get("actions", [])
    }
    assert types == {"v1beta1": set(), "assistant/v1": {"URL_ACTION", "CALLBACK_ACTION"}}.get(
        gen, {"URL_ACTION", "CALLBACK_ACTION", "MODAL_ACTION"}
    )


async def test_httpx_sse_reads_failed_and_error_streams(server: FakeMoveworks) -> None:
    """RESPONSE_FAILED and ERROR frames are valid per their schemas."""
    _, events = await read_stream(server, "rest/v1", "fail")
    assert events[-1][0] == "RESPONSE_FAILED"
    check_schema("ResponseFailedData", events[-1][1])
    server.inject(Fault.error_event(after_events=1), times=1)
    _, events = await read_stream(server, "rest/v1")
    assert [name for name, _ in events] == ["RESPONSE_CREATED", "ERROR"]
    check_schema("StreamingErrorData", events[-1][1])


@pytest.mark.parametrize(
    "fault",
    [Fault.crlf(), Fault.cr(), Fault.comments(), Fault.trickle(bytes_per_write=7)],
    ids=["crlf", "cr", "comments", "trickle"],
)
async def test_httpx_sse_agrees_under_framing_faults(server: FakeMoveworks, fault: Fault) -> None:
    """Line-ending, comment and chunking faults change the bytes, not what httpx-sse decodes."""
    _, plain = await read_stream(server, "rest/v1")
    server.inject(fault, times=1)
    _, faulted = await read_stream(server, "rest/v1")
    assert [(n, d["sequence_number"]) for n, d in faulted] == [
        (n, d["sequence_number"]) for n, d in plain
    ]
    texts = [
        d["response"]["outputs"][-1]["message"]["content"] for n, d in (plain[-1], faulted[-1])
    ]
    assert texts[0] == texts[1]


# -- JSON replies against the OpenAPI document ----------------------------------------------


@pytest.mark.parametrize("gen", GENS)
async def test_conversation_flow_matches_the_spec(
    api: Api, server: FakeMoveworks, gen: str
) -> None:
    """Conversations, responses, messages, feedback and events validate in every generation."""
    p = PREFIX[gen]
    conv = await api.call("POST", f"{p}/conversations", {"title": "Spec"}, expect=201)
    cid = conv["conversation_id"]
    await api.call("GET", f"{p}/conversations/{cid}")
    await api.call("PATCH", f"{p}/conversations/{cid}", {"title": "Spec 2", "archived": False})
    listing = await api.call("GET", f"{p}/conversations?limit=1")
    assert listing["metadata"]["next_cursor"] is None
    created = await api.call(
        "POST", f"{p}/conversations/{cid}/responses", text_body(gen, "form"), 202
    )
    rid = created["response_id"]
    in_progress = await api.call("GET", f"{p}/conversations/{cid}/responses/{rid}")
    completed = await api.call("GET", f"{p}/conversations/{cid}/responses/{rid}")
    assert (in_progress["status"], completed["status"]) == ("IN_PROGRESS", "COMPLETED")
    await api.call("GET", f"{p}/conversations/{cid}/messages?limit=1")
    messages = await api.call("GET", f"{p}/conversations/{cid}/responses/{rid}/messages")
    reply = messages["messages"][-1]
    url = f"{p}/conversations/{cid}/responses/{rid}/messages/{reply['message_id']}/feedback"
    await api.call("POST", url, {"callback_id": reply["feedback"]["helpful"]["callback_id"]})
    server.push_event(cid, "A follow-up.")
    events = await api.call("GET", f"{p}/conversations/{cid}/events?limit=5")
    await api.call(
        "GET", f"{p}/conversations/-/events?starting_after={events['events'][0]['event_id']}"
    )
    if gen != "v1beta1":
        callback = {"input": {"callback_id": "cb"}}
        await api.call("POST", f"{p}/conversations/{cid}/responses", callback, 202)


async def test_rest_v1_only_endpoints_match_the_spec(api: Api, server: FakeMoveworks) -> None:
    """Get event and the three modal calls validate on rest/v1."""
    conv = await api.call("POST", "/rest/v1/conversations", {}, expect=201)
    cid = conv["conversation_id"]
    event_id = server.push_event(cid, "Heads up.")
    await api.call("GET", f"/rest/v1/conversations/{cid}/events/{event_id}")
    created = await api.call(
        "POST", f"/rest/v1/conversations/{cid}/responses", text_body("rest/v1", "form"), 202
    )
    rid = created["response_id"]
    await api.call("GET", f"/rest/v1/conversations/{cid}/responses/{rid}")
    done = await api.call("GET", f"/rest/v1/conversations/{cid}/responses/{rid}")
    [message] = [o["message"] for o in done["outputs"] if o["type"] == "MESSAGE"]
    [modal_id] = [
        a["modal_action"]["modal_id"] for a in message["actions"] if a["type"] == "MODAL_ACTION"
    ]
    base = (
        f"/rest/v1/conversations/{cid}/responses/{rid}"
        f"/messages/{message['message_id']}/modals/{modal_id}"
    )
    await api.call("GET", base)
    values = {"model": {"option": "mac"}, "reason": {"text": "broken screen"}}
    await api.call("POST", f"{base}/refresh", {"values": values})
    await api.call("POST", f"{base}/submit", {"values": values})
    await api.call("POST", f"{base}/submit", {"values": {}}, expect=400)
    await api.call("GET", f"{base[: -len(modal_id)]}modal_stale", expect=404)


async def test_failed_response_matches_the_spec(api: Api) -> None:
    """A FAILED response with its error validates."""
    conv = await api.call("POST", "/assistant/v1/conversations", {}, expect=201)
    url = f"/assistant/v1/conversations/{conv['conversation_id']}/responses"
    created = await api.call("POST", url, text_body("assistant/v1", "fail"), 202)
    await api.call("GET", f"{url}/{created['response_id']}")
    failed = await api.call("GET", f"{url}/{created['response_id']}")
    assert failed["status"] == "FAILED"


@pytest.mark.parametrize("gen", GENS)
async def test_error_bodies_match_the_spec(api: Api, server: FakeMoveworks, gen: str) -> None:
    """400/401/403/404/429/500 bodies validate against each operation's error schema."""
    p = PREFIX[gen]
    conv = await api.call("POST", f"{p}/conversations", {}, expect=201)
    cid = conv["conversation_id"]
    await api.call("POST", f"{p}/conversations", {"title": "t" * 300}, expect=400)
    await api.call("PATCH", f"{p}/conversations/{cid}", {"title": "t" * 300}, expect=400)
    await api.call("POST", f"{p}/conversations/{cid}/responses", {"input": {}}, expect=400)
    await api.call(
        "POST",
        f"{p}/conversations/{cid}/responses/stream",
        {"input": {}},
        expect=400,
        headers={"Accept": "text/event-stream"},
    )
    await api.call("GET", f"{p}/conversations?cursor=nope", expect=400)
    await api.call("GET", f"{p}/conversations/{cid}/messages?cursor=nope", expect=400)
    await api.call("GET", f"{p}/conversations", expect=401, headers={"Authorization": "Bearer x"})
    await api.call("GET", f"{p}/conversations", expect=403, headers={"Assistant-Name": "other"})
    await api.call("GET", f"{p}/conversations/conv_missing", expect=404)
    await api.call("GET", f"{p}/conversations/{cid}/responses/resp_missing", expect=404)
    created = await api.call("POST", f"{p}/conversations/{cid}/responses", text_body(gen, "x"), 202)
    rid = created["response_id"]
    msg_id = (await api.call("GET", f"{p}/conversations/{cid}/messages"))["messages"][0][
        "message_id"
    ]
    feedback = f"{p}/conversations/{cid}/responses/{rid}/messages/{msg_id}/feedback"
    await api.call("POST", feedback, {"callback_id": "wrong"}, expect=400)
    server.inject(Fault.rate_limited(), times=1)
    await api.call("GET", f"{p}/conversations", expect=429)
    server.inject(Fault.status(500), times=1)
    await api.call("GET", f"{p}/conversations/{cid}", expect=500)


def check_token(reply: str, body: Any) -> None:
    """Validate a token reply against the member of OauthTokenResponse for its shape.

    The spec's oneOf is ambiguous (OauthTokenData requires nothing, so a wrapped reply matches
    both members); each shape is checked against its own member plus the fields clients need.
    """
    members = _pointer("components", "schemas", "OauthTokenResponse", "oneOf")
    _validator(members + ("/0" if reply == "wrapped" else "/1")).validate(body)
    data = body["data"] if reply == "wrapped" else body
    assert {"access_token", "expires_in", "token_type"} <= data.keys()


@pytest.mark.parametrize("reply", ["wrapped", "flat"])
async def test_oauth_replies_match_the_spec(reply: str) -> None:
    """Token replies (both shapes) and token errors validate against the auth schemas."""
    grant = {
        "client_id": "test-client",
        "client_secret": "test-secret",
        "grant_type": "client_credentials",
    }
    async with (
        FakeMoveworks(stream_delay=0, token_reply=reply) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        check_request("POST", "/oauth/v1/token", grant)
        ok = await http.post("/oauth/v1/token", json=grant)
        form = await http.post("/oauth/v1/token", data=grant)
        for body in (ok.json(), form.json()):
            check_token(reply, body)
        bad = await http.post("/oauth/v1/token", json=grant | {"client_secret": "no"})
        check_reply("POST", "/oauth/v1/token", bad.status_code, bad.json())
        grant_type = await http.post("/oauth/v1/token", json=grant | {"grant_type": "password"})
        check_reply("POST", "/oauth/v1/token", grant_type.status_code, grant_type.json())
        assert [ok.status_code, form.status_code, bad.status_code, grant_type.status_code] == [
            200,
            200,
            401,
            400,
        ]


async def test_spec_copy_is_the_shared_reference() -> None:
    """The vendored OpenAPI file parses and documents the streaming event types we emit."""
    enum = SPEC["components"]["schemas"]["StreamEventType"]["enum"]
    assert set(STREAM_SCHEMAS) == set(enum)
    assert json.dumps(SPEC)  # plain data, no YAML-only types


async def test_the_checks_are_not_vacuous() -> None:
    """The spec checks reject wrong bodies, bad timestamps and undocumented statuses."""
    good = {
        "conversation_id": "conv_1",
        "created_at": "2026-01-01T00:00:00.000000Z",
        "updated_at": "2026-01-01T00:00:00.000000Z",
    }
    check_reply("GET", "/rest/v1/conversations/conv_1", 200, good)
    for bad in ({"title": "no id"}, good | {"created_at": "yesterday"}, good | {"title": 5}):
        with pytest.raises(ValidationError):
            check_reply("GET", "/rest/v1/conversations/conv_1", 200, bad)
    with pytest.raises(AssertionError, match="does not document 403"):
        check_reply("GET", "/rest/v1/conversations/-/events", 403, {})
    with pytest.raises(ValidationError):
        check_schema("ResponseCreatedData", {"event_type": "RESPONSE_CREATED", "response": {}})
