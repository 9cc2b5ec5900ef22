"""Configuration a user expects from the big async SDKs: settings from the environment,
``with_options()`` views, and one meaning of ``timeout=`` on ``responses.stream`` and
``responses.wait``. Against the fake server; client-side sleeps run on ``fake_time``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

import moveworks_async as mw
from moveworks_async.testing import FakeMoveworks, Fault

pytestmark = pytest.mark.asyncio

SECRET = "sk-canary-2f9e-DO-NOT-PRINT"


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeMoveworks]:
    async with FakeMoveworks(polls_to_complete=1, stream_delay=0) as s:
        yield s


def _client(server: FakeMoveworks, fake_time: Any, **kw: Any) -> mw.AsyncMoveworks:
    kw.setdefault("assistant_name", "acme-capi")
    kw.setdefault("token", "test-token")
    return mw.AsyncMoveworks(
        base_url=server.url, clock=fake_time.clock, sleep=fake_time.sleep, **kw
    )


# --- settings from the environment -----------------------------------------------------------


async def test_environment_configures_a_client_without_arguments(
    server: FakeMoveworks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MOVEWORKS_TOKEN, _ASSISTANT_NAME, _BASE_URL and _API_VERSION, as the CLI reads them."""
    monkeypatch.setenv("MOVEWORKS_TOKEN", "test-token")
    monkeypatch.setenv("MOVEWORKS_ASSISTANT_NAME", "acme-capi")
    monkeypatch.setenv("MOVEWORKS_BASE_URL", server.url + "/")
    monkeypatch.setenv("MOVEWORKS_API_VERSION", "assistant-v1")
    async with mw.AsyncMoveworks() as client:
        assert client.base_url == server.url
        assert client.generation is mw.Generation.ASSISTANT_V1
        await client.conversations.create()
    [request] = server.requests
    assert request.path == "/assistant/v1/conversations"
    assert request.headers["Assistant-Name"] == "acme-capi"


async def test_environment_client_credentials(
    server: FakeMoveworks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without MOVEWORKS_TOKEN, MOVEWORKS_CLIENT_ID + _SECRET make OAuth client credentials."""
    monkeypatch.setenv("MOVEWORKS_CLIENT_ID", "test-client")
    monkeypatch.setenv("MOVEWORKS_CLIENT_SECRET", "test-secret")
    monkeypatch.setenv("MOVEWORKS_ASSISTANT_NAME", "acme-capi")
    async with mw.AsyncMoveworks(base_url=server.url) as client:
        await client.conversations.create()
    assert server.stats.token_requests == 1
    assert "test-secret" not in repr(client)


async def test_arguments_win_over_the_environment(
    server: FakeMoveworks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every given argument wins; credentials as a group (auth= ignores the variables)."""
    monkeypatch.setenv("MOVEWORKS_TOKEN", "wrong-token")
    monkeypatch.setenv("MOVEWORKS_CLIENT_ID", "wrong-client")
    monkeypatch.setenv("MOVEWORKS_ASSISTANT_NAME", "wrong-bot")
    monkeypatch.setenv("MOVEWORKS_BASE_URL", "https://wrong.example.com")
    monkeypatch.setenv("MOVEWORKS_API_VERSION", "v1beta1")

    async def source() -> str:
        return "test-token"

    for credentials in ({"token": "test-token"}, {"auth": source}):
        client = mw.AsyncMoveworks(
            assistant_name="acme-capi", base_url=server.url, api_version="v1", **credentials
        )
        async with client:
            await client.conversations.create()
    assert [r.path for r in server.requests] == ["/rest/v1/conversations"] * 2
    assert server.stats.token_requests == 0


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"MOVEWORKS_TOKEN": "t"}, "MOVEWORKS_ASSISTANT_NAME"),
        ({"MOVEWORKS_ASSISTANT_NAME": "acme-capi"}, "MOVEWORKS_TOKEN"),
        ({"MOVEWORKS_ASSISTANT_NAME": "a", "MOVEWORKS_CLIENT_ID": "i"}, "MOVEWORKS_CLIENT_SECRET"),
        (
            {
                "MOVEWORKS_ASSISTANT_NAME": "a",
                "MOVEWORKS_TOKEN": "",
                "MOVEWORKS_CLIENT_SECRET": "s",
            },
            "MOVEWORKS_CLIENT_ID",
        ),
    ],
)
async def test_a_missing_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], missing: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(mw.InvalidParameterError, match=missing):
        mw.AsyncMoveworks()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MOVEWORKS_API_VERSION", "v9"),
        ("MOVEWORKS_BASE_URL", "notaurl"),
        ("MOVEWORKS_ASSISTANT_NAME", "acme\r\nX-Evil: 1"),
        ("MOVEWORKS_TOKEN", SECRET + "\n"),
    ],
)
async def test_an_invalid_variable_is_named_never_echoed(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv("MOVEWORKS_TOKEN", "t")
    monkeypatch.setenv("MOVEWORKS_ASSISTANT_NAME", "acme-capi")
    monkeypatch.setenv(name, value)
    with pytest.raises(mw.InvalidParameterError) as info:
        mw.AsyncMoveworks()
    assert str(info.value).startswith(name)
    assert value.strip() not in str(info.value)


# --- with_options ----------------------------------------------------------------------------


async def test_with_options_shares_pool_token_and_governor(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """A view costs no connection: both clients' requests use one pool (one TCP connection
    for sequential calls) and one governor; the original is unchanged."""
    async with _client(server, fake_time) as client:
        view = client.with_options(timeout=5.0, max_retries=0, extra_headers={"X-Team": "a"})
        assert view._transport is client._transport
        assert view.governor is client.governor
        assert view._auth is client._auth
        assert view.timeout == mw.Timeout(total=5.0) != client.timeout
        assert view.retry_policy.max_retries == 0 != client.retry_policy.max_retries
        await client.conversations.create()
        await view.conversations.create()
        await client.conversations.create()
        assert server.stats.connections_accepted == 1
    assert [r.headers.get("X-Team") for r in server.requests] == [None, "a", None]


async def test_with_options_max_retries_and_retry_policy(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """A 503 once: the client retries (2 requests), a max_retries=0 view gives up (1), and a
    retry_policy view uses that policy."""
    async with _client(server, fake_time) as client:
        cid = (await client.conversations.create()).conversation_id
        server.requests.clear()
        server.inject(Fault.status(503), times=1)
        with pytest.raises(mw.InternalServerError):
            await client.with_options(max_retries=0).conversations.get(cid)
        assert len(server.requests) == 1
        server.inject(Fault.status(503), times=1)
        await client.conversations.get(cid)
        assert len(server.requests) == 3
        strict = client.with_options(retry_policy=mw.RetryPolicy(max_retries=0))
        server.inject(Fault.status(503), times=1)
        with pytest.raises(mw.InternalServerError):
            await strict.conversations.get(cid)
        assert len(server.requests) == 4


async def test_views_of_views_add_headers_and_per_call_headers_win(
    server: FakeMoveworks, fake_time: Any
) -> None:
    async with _client(server, fake_time) as client:
        view = client.with_options(extra_headers={"X-A": "1", "X-B": "1"})
        deeper = view.with_options(extra_headers={"X-B": "2"})
        await deeper.conversations.create(extra_headers={"X-C": "3"})
        await deeper.conversations.create(extra_headers={"X-A": "call"})
    first, second = (r.headers for r in server.requests)
    assert (first["X-A"], first["X-B"], first["X-C"]) == ("1", "2", "3")
    assert second["X-A"] == "call"


async def test_closing_the_original_closes_its_views(server: FakeMoveworks, fake_time: Any) -> None:
    """Closing a view closes nothing; closing the original closes every view."""
    client = _client(server, fake_time)
    view = client.with_options(max_retries=1)
    async with view:
        await view.conversations.create()
    assert not client.is_closed
    await client.conversations.create()  # the shared pool is still open
    await client.aclose()
    assert view.is_closed
    with pytest.raises(RuntimeError, match="closed"):
        await view.conversations.create()
    with pytest.raises(RuntimeError, match="closed"):
        async with view:
            pass


@pytest.mark.parametrize(
    "options",
    [
        {"extra_headers": {"X-Evil": "a\r\nInjected: 1"}},
        {"extra_headers": {"Authorization": "Bearer stolen"}},
        {"extra_headers": {"Host": "evil.example.com"}},
        {"extra_headers": {"Assistant-Name": "another-bot"}},
        {"extra_headers": {"content-encoding": "gzip"}},
        {"extra_headers": {"X:Y": "v"}},
        {"timeout": -1},
        {"max_retries": -1},
        {"retry_policy": {"max_retries": 0}},
    ],
    ids=repr,
)
async def test_with_options_refuses_bad_values(
    server: FakeMoveworks, fake_time: Any, options: dict[str, Any]
) -> None:
    async with _client(server, fake_time) as client:
        with pytest.raises(mw.InvalidParameterError):
            client.with_options(**options)
    assert server.stats.requests_total == 0


# --- one meaning of timeout= -----------------------------------------------------------------


@pytest.mark.virtual_time
async def test_stream_timeout_is_the_overall_deadline(server: FakeMoveworks) -> None:
    """stream(timeout=) bounds the whole stream exactly as deadline= does: a stream whose
    events stall past it ends with APITimeoutError(phase="deadline")."""
    async with mw.AsyncMoveworks(
        assistant_name="acme-capi", token="test-token", base_url=server.url
    ) as client:
        cid = (await client.conversations.create()).conversation_id
        server.inject(Fault.stall(5.0), times=1)
        with pytest.raises(mw.APITimeoutError) as info:
            async with client.responses.stream(
                cid, text="hi", timeout=0.2, first_event_timeout=None
            ) as stream:
                await stream.final_response()
    assert info.value.phase == "deadline"
    assert type(info.value) is mw.DeadlineTimeout


@pytest.mark.virtual_time
async def test_stream_takes_timeout_or_deadline_not_both(
    server: FakeMoveworks, fake_time: Any
) -> None:
    async with _client(server, fake_time) as client:
        with pytest.raises(mw.InvalidParameterError, match="not both"):
            client.responses.stream("conv_1", text="hi", timeout=5, deadline=5)
        for bad in (0, -1, "5", float("nan")):
            with pytest.raises(mw.InvalidParameterError):
                client.responses.stream("conv_1", text="hi", timeout=bad)
        stream = client.responses.stream("conv_1", text="hi", timeout=mw.Timeout(total=7))
        assert stream._m.deadline == 7.0
    assert server.stats.requests_total == 0


@pytest.mark.parametrize("timeout", [30.0, mw.Timeout(connect=1, read=5, total=30)], ids=repr)
async def test_wait_bounds_the_whole_wait_with_a_number_or_a_timeout(
    server: FakeMoveworks, fake_time: Any, timeout: Any
) -> None:
    """A response that never completes: wait(timeout=30 or Timeout(total=30)) gives up at
    30 s of (virtual) time, polls included."""
    async with _client(server, fake_time) as client:
        server.polls_to_complete = 10**9
        cid = (await client.conversations.create()).conversation_id
        rid = (await client.responses.create(cid, text="hi")).response_id
        started = fake_time.clock()
        with pytest.raises(mw.WaitTimeoutError) as info:
            await client.responses.wait(cid, rid, timeout=timeout)
    assert fake_time.clock() - started == pytest.approx(30.0)
    assert info.value.response is not None
    assert "30 s" in str(info.value)


async def test_wait_refuses_a_bad_timeout_before_any_request(
    server: FakeMoveworks, fake_time: Any
) -> None:
    async with _client(server, fake_time) as client:
        for bad in (0, "soon", float("inf"), None):
            with pytest.raises(mw.InvalidParameterError, match="timeout"):
                await client.responses.wait("conv_1", "resp_1", timeout=bad)
    assert server.stats.requests_total == 0


async def test_a_retry_policy_is_whole_unless_max_retries_is_given_with_it(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """As README says: a later view's retry_policy replaces an earlier view's max_retries
    (the policy's count included); max_retries= in the same call wins over the policy."""
    policy = mw.RetryPolicy(max_retries=1)
    async with _client(server, fake_time) as client:
        first = client.with_options(max_retries=5)
        assert first.retry_policy.max_retries == 5
        assert first.with_options(retry_policy=policy).retry_policy.max_retries == 1
        both = first.with_options(retry_policy=policy, max_retries=4)
        assert both.retry_policy.max_retries == 4
        assert first.with_options(timeout=3.0).retry_policy.max_retries == 5
