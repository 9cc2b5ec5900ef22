"""``AsyncDataAPI``: credentials, OData options, paging by ``@odata.nextLink``, typed records,
against the fake server (and aioresponses for wire cases the fake never produces)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import pytest_asyncio
from aioresponses import aioresponses
from conftest import FakeTime

import moveworks_async as mw
from moveworks_async._data_query import build_query, page_url
from moveworks_async.testing import FakeMoveworks, Fault
from moveworks_async.testing._data_api import iter_generated

pytestmark = pytest.mark.asyncio

KEY = "data-key-canary-5c1e"
HOST = "https://api.moveworks.ai"


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeMoveworks]:
    async with FakeMoveworks(data_api_key=KEY) as s:
        s.data_api.page_size = 7
        yield s


def data_api(server: FakeMoveworks, fake_time: FakeTime, **options: Any) -> mw.AsyncDataAPI:
    return mw.AsyncDataAPI(
        api_key=KEY, base_url=server.url, clock=fake_time.clock, sleep=fake_time.sleep, **options
    )


def pages(server: FakeMoveworks) -> list[Any]:
    return [r for r in server.requests if r.path.startswith("/export/")]


@pytest.mark.parametrize(
    ("method", "kind", "cls"),
    [
        ("conversations", "conversations", mw.DataConversation),
        ("interactions", "interactions", mw.DataInteraction),
        ("plugin_calls", "plugin-calls", mw.DataPluginCall),
        ("plugin_resources", "plugin-resources", mw.DataPluginResource),
        ("users", "users", mw.DataUser),
    ],
)
async def test_every_kind_pages_through_next_links(
    server: FakeMoveworks, fake_time: FakeTime, method: str, kind: str, cls: type[Any]
) -> None:
    server.data_api.generate(kind, 20)
    async with data_api(server, fake_time) as data:
        records = [r async for r in getattr(data, method)()]
    assert all(type(r) is cls for r in records)
    assert [r.raw for r in records] == list(iter_generated(kind, 20))
    assert [r.id for r in records] == [g["id"] for g in iter_generated(kind, 20)]
    requests = pages(server)
    assert [r.path for r in requests] == [f"/export/v1/records/{kind}"] * 3  # 7 + 7 + 6
    assert requests[0].query == {}
    for later in requests[1:]:
        assert list(later.query) == ["$skiptoken"]  # the options are never sent again
    assert all("Assistant-Name" not in r.headers for r in requests)


async def test_records_are_typed(server: FakeMoveworks, fake_time: FakeTime) -> None:
    server.data_api.generate("users", 1)
    server.data_api.generate("plugin_resources", 1)
    async with data_api(server, fake_time) as data:
        (user,) = [u async for u in data.users()]
        (resource,) = [r async for r in data.plugin_resources()]
    assert user.email_addr == "user0@example.com"
    assert user.access_to_bot is True
    assert user.last_updated_time == datetime(2026, 1, 1, tzinfo=UTC)
    assert user.external_ids == (mw.DataExternalId("okta", "00u0", "idp"),)
    assert resource.detail == mw.DataPluginResourceDetail(
        name="VPN setup guide", source="confluence"
    )
    assert resource.cited is True


async def test_options_are_sent_as_odata_query(server: FakeMoveworks, fake_time: FakeTime) -> None:
    server.data_api.generate("conversations", 50)
    since = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
    until = datetime(2026, 1, 1, 2, 0, 30, tzinfo=timezone(timedelta(hours=2)))  # 00:00:30Z
    async with data_api(server, fake_time) as data:
        records = [
            r
            async for r in data.conversations(
                filter="route eq 'DM'",
                select=["id", "route", "last_updated_time"],
                orderby="id desc",
                top=4,
                skip=1,
                updated_since=since,
                updated_until=until,
            )
        ]
    assert pages(server)[0].query == {
        "$filter": "(route eq 'DM') and last_updated_time ge '2026-01-01T00:00:10.000Z' "
        "and last_updated_time le '2026-01-01T00:00:30.000Z'",
        "$select": "id,route,last_updated_time",
        "$orderby": "id desc",
        "$top": "4",
        "$skip": "1",
    }
    # DM rows are every 4th; between 10 s and 30 s, newest first: 28, 24, 20, 16, 12; skip 1.
    assert [r.id for r in records] == [f"conv_{i:012d}" for i in (24, 20, 16, 12)]
    assert all(r.user_id is None and r.primary_domain is None for r in records)  # partial
    assert records[0].raw == {
        "id": "conv_000000000024",
        "route": "DM",
        "last_updated_time": "2026-01-01T00:00:24.000000Z",
    }


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"filter": ""}, "filter must be a non-empty str"),
        ({"filter": 3}, "filter must be a non-empty str"),
        ({"select": "id,route"}, "select must be a non-empty list"),
        ({"select": []}, "select must be a non-empty list"),
        ({"select": ["id", "a b"]}, "select[1] must be a field name"),
        ({"orderby": " "}, "orderby must be a non-empty str"),
        ({"top": 0}, "top must be an int >= 1"),
        ({"top": True}, "top must be an int >= 1"),
        ({"skip": -1}, "skip must be an int >= 0"),
        ({"skip": "2"}, "skip must be an int >= 0"),
        ({"updated_since": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"updated_until": "2026-01-01"}, "updated_until must be a datetime"),
        (
            {
                "updated_since": datetime(2026, 2, 1, tzinfo=UTC),
                "updated_until": datetime(2026, 1, 1, tzinfo=UTC),
            },
            "must not be before",
        ),
    ],
)
async def test_bad_options_are_refused_when_called(
    server: FakeMoveworks, fake_time: FakeTime, options: dict[str, Any], fragment: str
) -> None:
    async with data_api(server, fake_time) as data:
        with pytest.raises(mw.InvalidParameterError, match=fragment.replace("[", r"\[")):
            data.users(**options)  # validated at call time, before iteration
        with pytest.raises(mw.InvalidParameterError):
            await data.export("users", "/nonexistent/never-written.jsonl", **options)
    assert pages(server) == []


async def test_unknown_fields_and_values_are_kept(fake_time: FakeTime) -> None:
    row = {"id": "c1", "route": "HOLOGRAM", "created_time": "2026-01-01T00:00:00Z", "new": [1]}
    with aioresponses() as mock:
        mock.get(
            f"{HOST}/export/v1/records/conversations",
            body=json.dumps({"value": [row]}),
            content_type="application/json",
        )
        async with mw.AsyncDataAPI(api_key=KEY, sleep=fake_time.sleep) as data:
            (record,) = [r async for r in data.conversations()]
    assert record.route == "HOLOGRAM"
    assert record.raw["new"] == [1]
    assert record.created_time == datetime(2026, 1, 1, tzinfo=UTC)


async def test_an_empty_page_ends_paging_even_with_a_next_link(fake_time: FakeTime) -> None:
    with aioresponses() as mock:
        url = f"{HOST}/export/v1/records/users"
        mock.get(
            url,
            body=json.dumps({"value": [{"id": "u1"}], "@odata.nextLink": url + "?$skiptoken=a"}),
            content_type="application/json",
        )
        mock.get(
            url + "?$skiptoken=a",
            body=json.dumps({"value": [], "@odata.nextLink": url + "?$skiptoken=b"}),
            content_type="application/json",
        )
        async with mw.AsyncDataAPI(api_key=KEY, sleep=fake_time.sleep) as data:
            ids = [u.id async for u in data.users()]
        assert ids == ["u1"]
        assert sum(len(calls) for calls in mock.requests.values()) == 2


async def test_a_next_link_to_another_origin_is_not_followed(fake_time: FakeTime) -> None:
    with aioresponses() as mock:
        mock.get(
            f"{HOST}/export/v1/records/users",
            body=json.dumps(
                {"value": [{"id": "u1"}], "@odata.nextLink": "https://evil.example/steal"}
            ),
            content_type="application/json",
        )
        async with mw.AsyncDataAPI(api_key=KEY, sleep=fake_time.sleep) as data:
            users = data.users()
            assert (await anext(users)).id == "u1"
            with pytest.raises(mw.UnexpectedResponseError, match="another origin"):
                await anext(users)
        assert len(mock.requests) == 1


async def test_a_failed_page_is_retried_and_paging_goes_on(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    server.data_api.generate("users", 20)
    async with data_api(server, fake_time) as data:
        it = data.users()
        first = [await anext(it) for _ in range(7)]
        server.inject(Fault.status(500), times=1, path_contains="/export/")
        rest = [u async for u in it]
    assert [u.id for u in first + rest] == [g["id"] for g in iter_generated("users", 20)]
    assert len(pages(server)) == 4  # 3 pages, one of them twice


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, mw.BadRequestError),
        (403, mw.PermissionDeniedError),
        (404, mw.NotFoundError),
    ],
)
async def test_flat_error_bodies_become_typed_errors(
    server: FakeMoveworks, fake_time: FakeTime, status: int, error: type[Exception]
) -> None:
    server.inject(Fault.status(status, error_code="SOME_CODE"), times=1, path_contains="/export/")
    async with data_api(server, fake_time) as data:
        with pytest.raises(error) as info:
            [u async for u in data.users()]
    assert info.value.code == "SOME_CODE"  # type: ignore[attr-defined]


async def test_the_fake_refuses_bad_queries(server: FakeMoveworks, fake_time: FakeTime) -> None:
    server.data_api.generate("users", 3)
    async with data_api(server, fake_time) as data:
        with pytest.raises(mw.BadRequestError) as info:
            [u async for u in data.users(filter="last_updated_time between 1 and 2")]
        assert info.value.code == "BAD_REQUEST"
        with pytest.raises(mw.BadRequestError, match="Unknown field"):
            [u async for u in data.users(select=["id", "shoe_size"])]


async def test_credentials(
    server: FakeMoveworks, fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.data_api.generate("users", 2)
    monkeypatch.setenv("MOVEWORKS_DATA_API_KEY", KEY)
    async with mw.AsyncDataAPI(base_url=server.url, sleep=fake_time.sleep) as data:
        assert len([u async for u in data.users()]) == 2
        assert KEY not in repr(data)
    monkeypatch.delenv("MOVEWORKS_DATA_API_KEY")
    with pytest.raises(mw.InvalidParameterError, match="MOVEWORKS_DATA_API_KEY"):
        mw.AsyncDataAPI(base_url=server.url)
    creds = mw.ClientCredentials("test-client", "test-secret")
    async with mw.AsyncDataAPI(auth=creds, base_url=server.url, sleep=fake_time.sleep) as data:
        assert len([u async for u in data.users()]) == 2
    # A Conversations API key is not a Data API key.
    async with mw.AsyncDataAPI(api_key="test-token", base_url=server.url) as data:
        with pytest.raises(mw.PermissionDeniedError):
            [u async for u in data.users()]
    async with mw.AsyncDataAPI(api_key="nope", base_url=server.url) as data:
        with pytest.raises(mw.AuthenticationError) as info:
            [u async for u in data.users()]
    assert "nope" not in str(info.value)
    with pytest.raises(mw.InvalidParameterError):
        mw.AsyncDataAPI(api_key=KEY, auth=creds)


async def test_closing_and_kind_names(server: FakeMoveworks, fake_time: FakeTime) -> None:
    data = data_api(server, fake_time)
    async with data:
        with pytest.raises(mw.InvalidParameterError, match="kind must be one of"):
            await data.export("tickets", "/nonexistent/x.jsonl")
    assert data.is_closed


async def test_build_query_and_page_url() -> None:
    query = build_query(filter="a eq 'x y'", top=5)
    assert query == {"$filter": "a eq 'x y'", "$top": "5"}
    assert page_url(HOST, "users", query) == (
        f"{HOST}/export/v1/records/users?$filter=a%20eq%20'x%20y'&$top=5"
    )
    assert build_query(updated_since=datetime(2024, 1, 1, tzinfo=UTC)) == {
        "$filter": "last_updated_time ge '2024-01-01T00:00:00.000Z'"
    }
    assert page_url(HOST, "users", {}) == f"{HOST}/export/v1/records/users"


@pytest.mark.parametrize(
    ("when", "sent"),
    [
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000Z"),
        (datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "0999-12-31T23:59:59.999Z"),
        (datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC), "9999-12-31T23:59:59.000Z"),
        (datetime(2024, 3, 4, 5, 6, 7, 8000, tzinfo=timezone(timedelta(hours=2))),
         "2024-03-04T03:06:07.008Z"),
    ],
)  # fmt: skip
async def test_time_filters_are_zero_padded_in_utc(when: datetime, sent: str) -> None:
    # strftime("%Y") gives '1' for year 1 on glibc: the filter was malformed below year 1000.
    assert build_query(updated_since=when) == {"$filter": f"last_updated_time ge '{sent}'"}


async def test_per_page_options_and_unknown_keywords(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    server.data_api.generate("users", 3)
    async with data_api(server, fake_time) as data:
        with pytest.raises(mw.InvalidParameterError, match="unknown option"):
            data.users(limit=3)  # type: ignore[call-arg]
        server.inject(Fault.status(503), times=1, path_contains="/export/")
        with pytest.raises(mw.InternalServerError):
            [u async for u in data.users(max_retries=0)]  # no retry: the 503 surfaces
        server.inject(Fault.status(503), times=1, path_contains="/export/")
        assert len([u async for u in data.users(max_retries=1, timeout=5.0)]) == 3
        with pytest.raises(mw.InvalidParameterError):
            data.users(max_retries=-1)


@pytest.mark.parametrize(
    ("link", "followed"),
    [
        (f"{HOST}/export/v1/records/users?$skiptoken=x", True),
        ("https://API.moveworks.ai:443/export/v1/records/users?$skiptoken=x", True),
        (None, False),
        ("", False),
        ("http://api.moveworks.ai/export/v1/records/users", None),  # downgraded scheme
        ("https://api.moveworks.ai.evil.example/x", None),
        ("https://api.moveworks.ai:8443/x", None),
        ("//evil.example/x", None),
        (42, None),
    ],
)
async def test_check_next_link(link: Any, followed: bool | None) -> None:
    from moveworks_async._data_query import check_next_link

    if followed is None:
        with pytest.raises(mw.UnexpectedResponseError):
            check_next_link(link, HOST, None)
    else:
        assert (check_next_link(link, HOST, None) is not None) is followed


async def test_hooks_see_every_page(server: FakeMoveworks, fake_time: FakeTime) -> None:
    server.data_api.generate("users", 15)
    seen: list[tuple[str, str]] = []

    class Recorder(mw.Hooks):
        def on_call_start(self, info: mw.CallInfo) -> None:
            seen.append((info.method, info.path))

    async with data_api(server, fake_time, hooks=[Recorder()]) as data:
        assert len([u async for u in data.users(select=["id"])]) == 15
    assert seen == [("GET", "/export/v1/records/users")] * 3  # the path, never the query
