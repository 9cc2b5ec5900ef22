"""The fake Events API and Data API against the OpenAPI document: every reply (success and
error) matches the schema the spec gives for that operation and status, and a spec-valid
request is accepted. A raw HTTP client (httpx) talks to the fake, so nothing of the SDK hides
a deviation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from test_fake_server_conformance import check_reply, check_request

from moveworks_async.testing import FakeMoveworks

pytestmark = pytest.mark.asyncio

EVENT = "123e4567-e89b-42d3-a456-426614174000"
EVENTS_AUTH = {"Authorization": "Bearer test-token"}
DATA_AUTH = {"Authorization": "Bearer test-data-key"}


@pytest_asyncio.fixture
async def http() -> AsyncIterator[tuple[FakeMoveworks, httpx.AsyncClient]]:
    async with FakeMoveworks() as server, httpx.AsyncClient(base_url=server.url) as client:
        server.events_api.register(EVENT)
        server.data_api.page_size = 4
        server.data_api.generate("users", 10)
        yield server, client


async def call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    expect: int,
    body: Any = None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    if body is not None and expect < 400:
        check_request(method, path, body)
    r = await client.request(method, path, json=body, headers=headers, **kwargs)
    assert r.status_code == expect, r.text
    payload = r.json()
    check_reply(method, path, r.status_code, payload)
    assert "retry-after" not in r.headers  # none is documented for these APIs
    return payload


async def test_events_api_replies_match_the_spec(
    http: tuple[FakeMoveworks, httpx.AsyncClient],
) -> None:
    server, client = http
    path = f"/rest/v1/events/{EVENT}/messages/send"
    body = {"message": "hi", "recipients": ["a@example.com"], "context": {"slots": {"k": 1}}}
    ok = await call(client, "POST", path, 200, body, EVENTS_AUTH)
    assert ok == {"data": {"status": "RECEIVED"}}
    bad = await call(client, "POST", path, 400, {"message": "", "recipients": []}, EVENTS_AUTH)
    assert bad["code"] == "BAD_REQUEST"
    too_many = {"message": "hi", "recipients": [f"u{i}@example.com" for i in range(501)]}
    await call(client, "POST", path, 400, too_many, EVENTS_AUTH)
    r = await client.post(path, content=b"{not json", headers=EVENTS_AUTH)
    assert r.status_code == 400
    assert r.json()["message"].startswith("Parsing of json payload failed")
    denied = await call(client, "POST", path, 401, body, {"Authorization": "Bearer nope"})
    assert denied == {"code": "UNAUTHENTICATED", "message": "Token validation failed"}
    other = "00000000-0000-4000-8000-000000000000"
    missing = await call(
        client, "POST", f"/rest/v1/events/{other}/messages/send", 404, body, EVENTS_AUTH
    )
    assert missing["code"] == "INVALID_EVENT_ID"
    server.events_api.bucket._tokens = 0.0
    limited = await call(client, "POST", path, 429, body, EVENTS_AUTH)
    assert limited["code"] == "RATE_LIMIT_EXCEEDED"
    assert len(server.events_api.deliveries) == 1


async def test_events_bucket_allows_120_per_minute(
    http: tuple[FakeMoveworks, httpx.AsyncClient],
) -> None:
    server, client = http
    now = [0.0]
    from moveworks_async.testing._stats import TokenBucket

    server.events_api.bucket = TokenBucket(2.0, 120.0, lambda: now[0])
    body = {"message": "hi", "recipients": ["a@example.com"]}
    statuses = []
    for _ in range(121):
        r = await client.post("/rest/v1/messages/send", json=body, headers=EVENTS_AUTH)
        statuses.append(r.status_code)
    assert statuses == [200] * 120 + [429]
    now[0] = 0.5  # one request per half second comes back
    r = await client.post("/rest/v1/messages/send", json=body, headers=EVENTS_AUTH)
    assert r.status_code == 200


async def test_data_api_pages_match_the_spec(
    http: tuple[FakeMoveworks, httpx.AsyncClient],
) -> None:
    server, client = http
    path = "/export/v1/records/users"
    page = await call(client, "GET", path, 200, headers=DATA_AUTH, params={"$count": "true"})
    assert page["@odata.count"] == 10
    ids = [u["id"] for u in page["value"]]
    while "@odata.nextLink" in page:
        link = page["@odata.nextLink"]
        assert link.startswith(server.url + path + "?$skiptoken=")
        r = await client.get(link, headers=DATA_AUTH)
        page = r.json()
        check_reply("GET", path, r.status_code, page)
        ids += [u["id"] for u in page["value"]]
    assert ids == [f"user_{i:012d}" for i in range(10)]
    resent = await call(
        client, "GET", path, 400, headers=DATA_AUTH,
        params={"$skiptoken": link.rpartition("=")[2], "$top": "2"},
    )  # fmt: skip
    assert "sent alone" in resent["message"]
    for params in ({"$top": "-1"}, {"$foo": "1"}, {"$orderby": "id sideways"}):
        await call(client, "GET", path, 400, headers=DATA_AUTH, params=params)
    await call(client, "GET", path, 403, headers={"Authorization": "Bearer test-token"})
    r = await client.get("/export/v1/records/tickets", headers=DATA_AUTH)  # not in the spec
    assert r.status_code == 404
    assert r.json()["code"] == "NOT_FOUND"
