"""``AsyncDataAPI`` against pages a real server (or a proxy in front of it) may send: replies
without records, looping and relative next links, numbers and text JSON Lines must carry
faithfully, a resume against another host (the adversarial review of issue 15)."""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from conftest import FakeTime

import moveworks_async as mw
from moveworks_async import _json

pytestmark = pytest.mark.asyncio

KEY = "data-key-canary-77e1"
Handler = Callable[[web.Request], web.Response]


class Pages:
    """A Data API stand-in: ``reply(request)`` answers every GET; ``seen`` lists the raw
    request targets (path and query exactly as they arrived)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.reply: Handler = lambda request: web.json_response({"value": []})
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(request.raw_path)
        return self.reply(request)


@pytest_asyncio.fixture
async def pages() -> AsyncIterator[Pages]:
    state = Pages()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", state.handle)
    server = TestServer(app)
    await server.start_server()
    state.url = str(server.make_url("")).rstrip("/")
    try:
        yield state
    finally:
        await server.close()


def client(url: str, fake_time: FakeTime, **options: Any) -> mw.AsyncDataAPI:
    return mw.AsyncDataAPI(
        api_key=KEY, base_url=url, clock=fake_time.clock, sleep=fake_time.sleep, **options
    )


def fake_client(url: str, fake_time: FakeTime, **options: Any) -> mw.AsyncDataAPI:
    """A client of the package's fake server (which accepts its default Data API key)."""
    return mw.AsyncDataAPI(
        api_key="test-data-key",
        base_url=url,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        **options,
    )


def raw(body: bytes | str, content_type: str = "application/json") -> web.Response:
    data = body.encode() if isinstance(body, str) else body
    return web.Response(body=data, headers={"Content-Type": content_type})


# --- item 3: a page without a `value` array is not the end of the table ---------------------


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"code": "INTERNAL", "message": "temporarily unavailable"}},
        {"value": None},
        {"@odata.context": "x"},
        {"value": {"id": "a"}},
    ],
    ids=["error-object", "null", "missing", "object"],
)
async def test_a_page_without_a_value_array_is_an_error_not_the_end(
    pages: Pages, fake_time: FakeTime, tmp_path: Path, body: dict[str, Any]
) -> None:
    def reply(request: web.Request) -> web.Response:
        if "skiptoken" in request.query_string:
            return web.json_response(body)
        link = f"{pages.url}/export/v1/records/users?$skiptoken=2"
        return web.json_response({"value": [{"id": "a"}], "@odata.nextLink": link})

    pages.reply = reply
    out = tmp_path / "u.jsonl"
    async with client(pages.url, fake_time) as data:
        with pytest.raises(mw.UnexpectedResponseError, match="'value' array"):
            [u async for u in data.users()]
        with pytest.raises(mw.UnexpectedResponseError, match="'value' array"):
            await data.export("users", out)
        # Not marked finished: once the server is healthy, the export resumes at page 2.
        pages.reply = lambda request: web.json_response(
            {"value": [{"id": "b"}]} if "skiptoken" in request.query_string else {}
        )
        assert await data.export("users", out) == 2
    assert out.read_text().splitlines() == ['{"id":"a"}', '{"id":"b"}']


async def test_an_empty_value_array_still_ends_the_table(pages: Pages, fake_time: FakeTime) -> None:
    pages.reply = lambda request: web.json_response({"value": []})
    async with client(pages.url, fake_time) as data:
        assert [u async for u in data.users()] == []


# --- item 4: next links that loop ------------------------------------------------------------


@pytest.mark.parametrize("cycle", [1, 2, 3])
async def test_a_next_link_loop_is_detected(
    pages: Pages, fake_time: FakeTime, tmp_path: Path, cycle: int
) -> None:
    """Page k links to page (k + 1) mod cycle, or to itself: a typed error, not forever."""

    def reply(request: web.Request) -> web.Response:
        if len(pages.seen) > 50:  # a client that never notices: end, so the test fails
            return web.json_response({"value": []})
        token = int(request.query.get("$skiptoken", "0"))
        link = f"{pages.url}/export/v1/records/users?$skiptoken={(token + 1) % cycle}"
        return web.json_response({"value": [{"id": f"r{token}"}], "@odata.nextLink": link})

    pages.reply = reply
    async with client(pages.url, fake_time) as data:
        with pytest.raises(mw.UnexpectedResponseError, match="repeats the link"):
            [u async for u in data.users()]
        assert len(pages.seen) <= cycle + 1
        pages.seen.clear()
        with pytest.raises(mw.UnexpectedResponseError, match="repeats the link"):
            await data.export("users", tmp_path / "loop.jsonl")
        assert len(pages.seen) <= cycle + 1


# --- item 8 and 11: relative links resolved; links sent exactly as given -------------------------


@pytest.mark.parametrize(
    "link",
    ["/export/v1/records/users?$skiptoken=2", "users?$skiptoken=2", "?$skiptoken=2"],
    ids=["absolute-path", "relative-path", "query-only"],
)
async def test_relative_next_links_are_resolved_against_the_page(
    pages: Pages, fake_time: FakeTime, link: str
) -> None:
    def reply(request: web.Request) -> web.Response:
        if "skiptoken" in request.query_string:
            return web.json_response({"value": [{"id": "b"}]})
        return web.json_response({"value": [{"id": "a"}], "@odata.nextLink": link})

    pages.reply = reply
    async with client(pages.url, fake_time) as data:
        assert [u.id async for u in data.users(top=5)] == ["a", "b"]
    assert pages.seen == [
        "/export/v1/records/users?$top=5",
        "/export/v1/records/users?$skiptoken=2",
    ]


@pytest.mark.parametrize("token", ["a%2Fb%3Fc", "a%7eb", "A%2fb", "a%26b%3Dc", "%E2%82%AC"])
async def test_a_next_link_is_sent_exactly_as_given(
    pages: Pages, fake_time: FakeTime, token: str
) -> None:
    link = f"{pages.url}/export/v1/records/users?$skiptoken={token}"

    def reply(request: web.Request) -> web.Response:
        if "skiptoken" in request.query_string:
            return web.json_response({"value": [{"id": "b"}]})
        return web.json_response({"value": [{"id": "a"}], "@odata.nextLink": link})

    pages.reply = reply
    async with client(pages.url, fake_time) as data:
        assert len([u async for u in data.users()]) == 2
    assert pages.seen[1] == f"/export/v1/records/users?$skiptoken={token}"


async def test_media_types_are_case_insensitive(pages: Pages, fake_time: FakeTime) -> None:
    pages.reply = lambda request: raw('{"value": [{"id": "a"}]}', "APPLICATION/JSON")
    async with client(pages.url, fake_time) as data:
        assert [u.id async for u in data.users()] == ["a"]


# --- item 6: "as received" with either JSON backend ----------------------------------------


@pytest.fixture(params=["default", "stdlib"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both decoders: the installed one, and the stdlib one (as without orjson)."""
    if request.param == "stdlib":
        from test_json import BACKENDS

        stdlib = BACKENDS[0]
        monkeypatch.setattr(_json, "loads_exact", stdlib.loads_exact)
        monkeypatch.setattr(_json, "dumps", stdlib.dumps)
    return str(request.param)


async def test_integers_beyond_64_bits_are_kept_exactly(
    pages: Pages, fake_time: FakeTime, tmp_path: Path, backend: str
) -> None:
    body = (
        '{"value": [{"id": "a", "n": 123456789012345678901234567890, "m": -18446744073709551617}]}'
    )
    pages.reply = lambda request: raw(body)
    out = tmp_path / "big.jsonl"
    async with client(pages.url, fake_time) as data:
        (record,) = [u async for u in data.users()]
        assert await data.export("users", out) == 1
    assert record.raw["n"] == 123456789012345678901234567890
    assert out.read_bytes() == (
        b'{"id":"a","n":123456789012345678901234567890,"m":-18446744073709551617}\n'
    )


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ('{"value": [{"id": "a", "n": 1e400}]}', "beyond the range of a float"),
        ('{"value": [{"id": "a", "s": "\\ud800"}]}', "lone surrogate"),
        ('{"value": [{"id": "a", "n": NaN}]}', "not valid JSON"),
        ('{"value": [' + "[" * 100_000 + "]" * 100_000 + "]}", "nests deeper than 256 levels"),
    ],
    ids=["overflow", "lone-surrogate", "nan", "deep"],
)
async def test_pages_json_lines_cannot_carry_are_typed_errors(
    pages: Pages, fake_time: FakeTime, tmp_path: Path, backend: str, body: str, named: str
) -> None:
    """Each refusal is typed, and its message names the cause among those it lists."""
    pages.reply = lambda request: raw(body)
    out = tmp_path / "bad.jsonl"
    async with client(pages.url, fake_time) as data:
        with pytest.raises(mw.UnexpectedResponseError, match=named):
            [u async for u in data.users()]
        with pytest.raises(mw.UnexpectedResponseError, match=named):
            await data.export("users", out)
    assert out.read_bytes() == b""  # never invalid JSON in the file


# --- item 9: a resume against another host -------------------------------------------------


async def test_a_resume_against_another_origin_is_refused(
    fake_time: FakeTime, tmp_path: Path
) -> None:
    from moveworks_async.testing import FakeMoveworks, Fault

    out = tmp_path / "u.jsonl"
    async with FakeMoveworks() as a, FakeMoveworks() as b:
        for server in (a, b):
            server.data_api.page_size = 10
            server.data_api.generate("users", 30)

        def fail_next(count: int) -> None:  # after the first page, the next one fails
            a.inject(Fault.status(400), times=1, path_contains="/export/")

        async with fake_client(a.url, fake_time) as data:
            with pytest.raises(mw.BadRequestError):
                await data.export("users", out, progress=fail_next)
        async with fake_client(b.url, fake_time) as data:
            with pytest.raises(mw.InvalidParameterError, match="from another server"):
                await data.export("users", out)
        assert not [r for r in b.requests if r.path.startswith("/export/")]
        async with fake_client(a.url, fake_time) as data:
            assert await data.export("users", out) == 30  # the same origin resumes


# --- item 10 and 11: options, construction, lifecycle --------------------------------------


async def test_filter_and_orderby_with_a_lone_surrogate_are_refused(fake_time: FakeTime) -> None:
    async with mw.AsyncDataAPI(api_key=KEY, sleep=fake_time.sleep) as data:
        with pytest.raises(mw.InvalidParameterError, match="filter contains a lone surrogate"):
            data.users(filter="name eq '\ud800'")
        with pytest.raises(mw.InvalidParameterError, match="orderby contains a lone surrogate"):
            data.users(orderby="\udc00")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("updated_since", datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))),
        ("updated_until", datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=1)))),
    ],
)
async def test_times_out_of_range_in_utc_are_invalid_parameters(
    fake_time: FakeTime, name: str, value: datetime
) -> None:
    async with mw.AsyncDataAPI(api_key=KEY, sleep=fake_time.sleep) as data:
        with pytest.raises(mw.InvalidParameterError, match=f"{name} is out of range"):
            data.users(**{name: value})


@pytest.mark.parametrize(
    "suffix", ["", "/", "/export/v1/records", "/export/v1/records/", "/export/v1"]
)
async def test_base_url_of_the_api_reference_is_accepted(
    pages: Pages, fake_time: FakeTime, suffix: str
) -> None:
    pages.reply = lambda request: web.json_response({"value": [{"id": "a"}]})
    async with client(pages.url + suffix, fake_time) as data:
        assert data.base_url == pages.url
        assert len([u async for u in data.users()]) == 1
    assert pages.seen == ["/export/v1/records/users"]


async def test_api_key_and_auth_together_name_the_right_parameters() -> None:
    with pytest.raises(mw.InvalidParameterError, match="one of api_key= and auth="):
        mw.AsyncDataAPI(api_key=KEY, auth=mw.ClientCredentials("id", "secret"))


async def test_an_unclosed_data_api_client_is_named_in_the_warning(
    pages: Pages, fake_time: FakeTime
) -> None:
    data = client(pages.url, fake_time)
    [u async for u in data.users()]
    transport = data._engine._transport
    # What must still be closed once the transport is gone (an aiohttp session, or the
    # pyreqwest transport's reqwest clients); the transport itself is not kept alive.
    session = getattr(transport, "_session", None)
    reqwest_clients = list(getattr(transport, "_clients", {}).values())
    assert session is not None or reqwest_clients
    del transport
    with pytest.warns(ResourceWarning, match="AsyncDataAPI client was not closed"):  # noqa: PT031
        del data
        gc.collect()
    if session is not None:
        await session.close()
    for reqwest_client in reqwest_clients:
        await reqwest_client.close()


async def test_checkpoint_names_the_origin(
    pages: Pages, fake_time: FakeTime, tmp_path: Path
) -> None:
    pages.reply = lambda request: web.json_response({"value": [{"id": "a"}]})
    out = tmp_path / "u.jsonl"
    async with client(pages.url.replace("127.0.0.1", "LOCALHOST"), fake_time) as data:
        await data.export("users", out)
    saved = json.loads(out.with_name("u.jsonl.checkpoint").read_text())
    port = pages.url.rsplit(":", 1)[1]
    assert saved["origin"] == f"http://localhost:{port}"
    assert saved["version"] == 2
    assert saved["first"] == "/export/v1/records/users"
