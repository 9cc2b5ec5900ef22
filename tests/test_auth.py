"""Authentication: static token, async callable, OAuth client credentials (caching, single
refresh under concurrency, 401 refresh-and-replay, typed token errors, form fallback)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from _core_support import Call, R, Wire, conversation, response
from aioresponses import aioresponses

import moveworks_async as mw

pytestmark = pytest.mark.asyncio

TOKEN_PATH = "/oauth/v1/token"
UNAUTHORIZED = {"error": {"code": "UNAUTHORIZED", "message": "Token validation failed"}}


@pytest.fixture
def wire() -> Iterator[Wire]:
    """aioresponses routing every request to a test-controlled handler."""
    with aioresponses() as mock:
        yield Wire(mock)


class TokenServer:
    """Hands out ``mwt_1``, ``mwt_2``, ... from the token endpoint; the API accepts only the
    newest token (or any token when ``accept_any``)."""

    def __init__(self, expires_in: Any = 3600, *, wrapped: bool = True) -> None:
        self.expires_in = expires_in
        self.wrapped = wrapped
        self.issued = 0
        self.accept_any = False
        self.api_replies: list[Any] = []

    def __call__(self, call: Call) -> Any:
        if call.path == TOKEN_PATH:
            self.issued += 1
            body = {
                "access_token": f"mwt_{self.issued}",
                "expires_in": self.expires_in,
                "token_type": "Bearer",
            }
            return {"data": body} if self.wrapped else body
        if self.api_replies:
            return self.api_replies.pop(0)
        current = f"Bearer mwt_{self.issued}"
        if self.accept_any or call.headers.get("Authorization") == current:
            return conversation("conv_1")
        return R(401, UNAUTHORIZED)


def make_client(fake_time: Any, auth: Any = None, **kwargs: Any) -> mw.AsyncMoveworks:
    """A client on the fake clock."""
    return mw.AsyncMoveworks(
        assistant_name="acme-capi",
        auth=auth,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        **kwargs,
    )


def credentials(fake_time: Any, **kwargs: Any) -> mw.ClientCredentials:
    """ClientCredentials on the fake clock."""
    return mw.ClientCredentials("client-1", "secret-1", clock=fake_time.clock, **kwargs)


def token_calls(wire: Wire) -> list[Call]:
    return [c for c in wire.calls if c.path == TOKEN_PATH]


def api_calls(wire: Wire) -> list[Call]:
    return [c for c in wire.calls if c.path != TOKEN_PATH]


# --- static token and callable ---------------------------------------------------------------


async def test_static_token_sent_as_bearer(wire: Wire, fake_time: Any) -> None:
    """``token=`` is sent as ``Authorization: Bearer <token>`` on every call."""
    wire.always(conversation())
    async with mw.AsyncMoveworks(assistant_name="acme-capi", token="key-1") as client:
        await client.conversations.get("conv_1")
        await client.conversations.get("conv_2")
    assert [c.headers["Authorization"] for c in wire.calls] == ["Bearer key-1"] * 2


async def test_static_token_401_is_not_replayed(wire: Wire, fake_time: Any) -> None:
    """A static token cannot change, so a 401 is final after one request."""
    wire.always(R(401, UNAUTHORIZED))
    async with mw.AsyncMoveworks(assistant_name="acme-capi", token="key-1") as client:
        with pytest.raises(mw.AuthenticationError) as info:
            await client.conversations.get("conv_1")
    assert len(wire.calls) == 1
    assert info.value.code == "UNAUTHORIZED"


async def test_async_callable_token(wire: Wire, fake_time: Any) -> None:
    """An async callable's result is used as the bearer."""
    wire.always(conversation())

    async def get_token() -> str:
        return "from-callable"

    async with make_client(fake_time, get_token) as client:
        await client.conversations.get("conv_1")
    assert wire.calls[0].headers["Authorization"] == "Bearer from-callable"


async def test_async_callable_401_refreshes_once_and_replays_once(
    wire: Wire, fake_time: Any
) -> None:
    """After a 401 the callable is asked again and the request replayed exactly once."""
    issued: list[str] = []

    async def get_token() -> str:
        issued.append(f"cb_{len(issued) + 1}")
        return issued[-1]

    wire.serve(
        lambda call: (
            conversation()
            if call.headers["Authorization"] == "Bearer cb_2"
            else R(401, UNAUTHORIZED)
        )
    )
    async with make_client(fake_time, get_token) as client:
        await client.conversations.get("conv_1")
    assert [c.headers["Authorization"] for c in wire.calls] == ["Bearer cb_1", "Bearer cb_2"]


async def test_async_callable_second_401_raises(wire: Wire, fake_time: Any) -> None:
    """A second 401 after the replay is an AuthenticationError (no endless loop)."""

    async def get_token() -> str:
        return "always-bad"

    wire.always(R(401, UNAUTHORIZED))
    async with make_client(fake_time, get_token) as client:
        with pytest.raises(mw.AuthenticationError):
            await client.conversations.get("conv_1")
    assert len(wire.calls) == 2


async def test_callable_returning_bad_header_value(wire: Wire, fake_time: Any) -> None:
    """A callable returning a value with CR/LF (or a non-str) is refused before any request."""
    for bad in ("tok\r\nX-Evil: 1", "", 123):

        async def get_token(bad: Any = bad) -> Any:
            return bad

        async with make_client(fake_time, get_token) as client:
            with pytest.raises(mw.InvalidParameterError):
                await client.conversations.get("conv_1")
    assert wire.calls == []


async def test_custom_token_source(wire: Wire, fake_time: Any) -> None:
    """Any object with ``get_token``/``invalidate`` is accepted as a TokenSource."""

    class Source:
        def __init__(self) -> None:
            self.invalidated: list[str] = []

        async def get_token(self) -> str:
            return "src-1" if not self.invalidated else "src-2"

        def invalidate(self, token: str) -> bool:
            self.invalidated.append(token)
            return True

    source = Source()
    wire.serve(
        lambda call: (
            conversation()
            if call.headers["Authorization"] == "Bearer src-2"
            else R(401, UNAUTHORIZED)
        )
    )
    async with make_client(fake_time, source) as client:
        await client.conversations.get("conv_1")
    assert source.invalidated == ["src-1"]
    assert isinstance(source, mw.TokenSource)


# --- client credentials ----------------------------------------------------------------------


@pytest.mark.parametrize("wrapped", [True, False], ids=["data-wrapped", "flat"])
async def test_client_credentials_request_and_both_reply_shapes(
    wire: Wire, fake_time: Any, wrapped: bool
) -> None:
    """The token is fetched with a JSON client-credentials body and both reply shapes work."""
    server = TokenServer(wrapped=wrapped)
    wire.serve(server)
    async with make_client(fake_time, credentials(fake_time)) as client:
        await client.conversations.get("conv_1")
    (token_call,) = token_calls(wire)
    assert token_call.method == "POST"
    assert str(token_call.url) == "https://api.moveworks.ai/oauth/v1/token"
    assert token_call.headers["Content-Type"] == "application/json"
    assert "Authorization" not in token_call.headers
    assert token_call.json == {
        "client_id": "client-1",
        "client_secret": "secret-1",
        "grant_type": "client_credentials",
    }
    assert api_calls(wire)[0].headers["Authorization"] == "Bearer mwt_1"


async def test_token_url_follows_base_url(wire: Wire, fake_time: Any) -> None:
    """The default token URL is on the client's (regional) host."""
    wire.serve(TokenServer())
    auth = credentials(fake_time)
    async with make_client(fake_time, auth, base_url="https://api.uk.moveworks.com") as client:
        await client.conversations.get("conv_1")
    assert str(token_calls(wire)[0].url) == "https://api.uk.moveworks.com/oauth/v1/token"


async def test_explicit_token_url(wire: Wire, fake_time: Any) -> None:
    """``token_url=`` overrides the default endpoint."""
    server = TokenServer()

    def handler(call: Call) -> Any:
        if call.url.host == "auth.example":
            return {"access_token": "mwt_1", "expires_in": 60}
        return server(call)

    server.issued = 1
    wire.serve(handler)
    auth = credentials(fake_time, token_url="https://auth.example/token")
    async with make_client(fake_time, auth) as client:
        await client.conversations.get("conv_1")
    assert str(wire.calls[0].url) == "https://auth.example/token"


@pytest.mark.parametrize(
    "bad",
    [
        "https://auth.example\r\nX: 1/token",
        "https://auth example/token",
        "ftp://auth.example/t",
        "https://user:pw@auth.example/token",
        "/oauth/v1/token",
        5,
    ],
    ids=["crlf", "space", "ftp", "userinfo", "relative", "int"],
)
async def test_bad_token_url_is_refused(bad: Any) -> None:
    """``token_url`` gets the same checks as base_url, at construction: yarl drops CR/LF, so
    the client secret would otherwise be posted to another host ('auth.examplex')."""
    with pytest.raises(mw.InvalidParameterError, match="token_url"):
        mw.ClientCredentials("client-1", "secret-1", token_url=bad)


@pytest.mark.parametrize("bad", ["10", -5, float("nan"), float("inf"), True])
async def test_bad_refresh_margin_is_refused(bad: Any) -> None:
    """A bad ``refresh_margin`` fails at construction, not with a bare TypeError after the
    token request ("10"), nor by refreshing on every call (nan) or using expired tokens (-5)."""
    with pytest.raises(mw.InvalidParameterError, match="refresh_margin"):
        mw.ClientCredentials("client-1", "secret-1", refresh_margin=bad)


async def test_token_cached_until_shortly_before_expiry(wire: Wire, fake_time: Any) -> None:
    """The token is reused until ``expires_in`` minus the margin (3600 s -> refresh at 3540 s)."""
    server = TokenServer(expires_in=3600)
    wire.serve(server)
    async with make_client(fake_time, credentials(fake_time)) as client:
        await client.conversations.get("conv_1")
        fake_time.now += 3539
        await client.conversations.get("conv_1")
        assert server.issued == 1
        fake_time.now += 2
        await client.conversations.get("conv_1")
        assert server.issued == 2
    assert [c.headers["Authorization"] for c in api_calls(wire)] == [
        "Bearer mwt_1",
        "Bearer mwt_1",
        "Bearer mwt_2",
    ]


async def test_shared_credentials_survive_closing_the_other_client(
    wire: Wire, fake_time: Any
) -> None:
    """Two clients share one ClientCredentials: the token is shared, and after the client
    bound last is closed the other still refreshes, through its own transport."""
    server = TokenServer(expires_in=3600)
    wire.serve(server)
    creds = credentials(fake_time)
    async with make_client(fake_time, creds) as first:
        async with make_client(fake_time, creds) as second:
            await first.conversations.get("conv_1")
            await second.conversations.get("conv_1")
            assert server.issued == 1  # one token for both clients
        assert second.is_closed
        fake_time.now += 3541  # past the refresh point: the next call must refresh
        await first.conversations.get("conv_1")
        assert server.issued == 2
    assert repr(first).count("<redacted>") == 1


async def test_short_lived_token_refreshed_early(wire: Wire, fake_time: Any) -> None:
    """A 60 s token is refreshed a fifth of its life early (at 48 s)."""
    server = TokenServer(expires_in=60)
    wire.serve(server)
    async with make_client(fake_time, credentials(fake_time)) as client:
        await client.conversations.get("conv_1")
        fake_time.now += 47
        await client.conversations.get("conv_1")
        assert server.issued == 1
        fake_time.now += 1.5
        await client.conversations.get("conv_1")
        assert server.issued == 2


async def test_explicit_refresh_margin(wire: Wire, fake_time: Any) -> None:
    """``refresh_margin=`` sets how early the token is refreshed."""
    server = TokenServer(expires_in=100)
    wire.serve(server)
    async with make_client(fake_time, credentials(fake_time, refresh_margin=10)) as client:
        await client.conversations.get("conv_1")
        fake_time.now += 89
        await client.conversations.get("conv_1")
        assert server.issued == 1
        fake_time.now += 2
        await client.conversations.get("conv_1")
        assert server.issued == 2


async def test_fifty_concurrent_calls_after_expiry_make_one_token_request(
    wire: Wire, fake_time: Any
) -> None:
    """When the token expires, 50 concurrent calls cause exactly one token request."""
    server = TokenServer(expires_in=60)
    wire.serve(server)
    async with make_client(fake_time, credentials(fake_time)) as client:
        await client.conversations.get("conv_1")
        fake_time.now += 3600
        results = await asyncio.gather(*(client.conversations.get("conv_1") for _ in range(50)))
    assert len(results) == 50
    assert server.issued == 2
    assert len(token_calls(wire)) == 2
    assert {c.headers["Authorization"] for c in api_calls(wire)[1:]} == {"Bearer mwt_2"}


async def test_fifty_concurrent_first_calls_make_one_token_request(
    wire: Wire, fake_time: Any
) -> None:
    """50 concurrent calls on a fresh client share one token request."""
    server = TokenServer()
    wire.serve(server)
    async with make_client(fake_time, credentials(fake_time)) as client:
        await asyncio.gather(*(client.conversations.get("conv_1") for _ in range(50)))
    assert server.issued == 1


async def test_401_refreshes_once_and_replays_once(wire: Wire, fake_time: Any) -> None:
    """A 401 with a cached token fetches a new token and replays the request once."""
    server = TokenServer()
    wire.serve(server)
    async with make_client(fake_time, credentials(fake_time)) as client:
        await client.conversations.get("conv_1")
        server.api_replies = [R(401, UNAUTHORIZED)]  # the server revoked mwt_1
        conv = await client.conversations.get("conv_1")
    assert conv.conversation_id == "conv_1"
    assert server.issued == 2
    assert [c.headers["Authorization"] for c in api_calls(wire)] == [
        "Bearer mwt_1",
        "Bearer mwt_1",
        "Bearer mwt_2",
    ]


async def test_401_replay_applies_to_create(wire: Wire, fake_time: Any) -> None:
    """A create refused with 401 was not processed, so it is replayed once with a new token."""
    server = TokenServer()
    server.api_replies = [R(401, UNAUTHORIZED), R(202, response("CREATED"))]
    wire.serve(server)
    async with make_client(fake_time, credentials(fake_time)) as client:
        resp = await client.responses.create("conv_1", text="hi")
    assert resp.status == "CREATED"
    assert [c.method for c in api_calls(wire)] == ["POST", "POST"]
    assert server.issued == 2


async def test_second_401_raises_authentication_error(wire: Wire, fake_time: Any) -> None:
    """If the fresh token is refused too, AuthenticationError (one refresh, one replay)."""
    server = TokenServer()
    server.api_replies = [R(401, UNAUTHORIZED)] * 5
    wire.serve(server)
    async with make_client(fake_time, credentials(fake_time)) as client:
        with pytest.raises(mw.AuthenticationError):
            await client.conversations.get("conv_1")
    assert len(api_calls(wire)) == 2
    assert server.issued == 2


async def test_concurrent_401s_cause_one_refresh(wire: Wire, fake_time: Any) -> None:
    """Twenty tasks refused with the same revoked token trigger a single new token."""
    server = TokenServer()
    wire.serve(server)
    async with make_client(fake_time, credentials(fake_time)) as client:
        await client.conversations.get("conv_1")
        server.issued = 1
        # From now on only mwt_2 is accepted: every in-flight mwt_1 request gets a 401.
        revoked = {"Bearer mwt_1"}
        wire.serve(
            lambda call: (
                R(401, UNAUTHORIZED)
                if call.headers.get("Authorization") in revoked
                else server(call)
            )
        )
        await asyncio.gather(*(client.conversations.get("conv_1") for _ in range(20)))
    assert server.issued == 2


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (400, {"code": "OAUTH_UNSUPPORTED_GRANT_TYPE", "message": "bad grant"}, mw.BadRequestError),
        (401, {"code": "OAUTH_INVALID_CLIENT", "message": "bad client"}, mw.AuthenticationError),
        (403, {"error": {"code": "FORBIDDEN", "message": "no"}}, mw.PermissionDeniedError),
        (429, {"code": "RATE_LIMIT_EXCEEDED", "message": "slow"}, mw.RateLimitError),
        (500, {"code": "INTERNAL_ERROR", "message": "boom"}, mw.InternalServerError),
    ],
    ids=["400", "401", "403", "429", "500"],
)
async def test_token_endpoint_errors_are_typed(
    wire: Wire, fake_time: Any, status: int, body: Any, cls: type[mw.APIStatusError]
) -> None:
    """Token endpoint failures raise the typed error (flat bodies read) and no API call is made."""
    wire.always(R(status, body))
    async with make_client(fake_time, credentials(fake_time), max_retries=0) as client:
        with pytest.raises(cls) as info:
            await client.conversations.get("conv_1")
    assert info.value.status_code == status
    assert info.value.code == (body.get("code") or body["error"]["code"])
    assert api_calls(wire) == []


async def test_token_endpoint_401_is_not_replayed(wire: Wire, fake_time: Any) -> None:
    """A refused client secret is final: one token request, no loop."""
    wire.always(R(401, {"code": "OAUTH_INVALID_CLIENT", "message": "bad client"}))
    async with make_client(fake_time, credentials(fake_time)) as client:
        with pytest.raises(mw.AuthenticationError):
            await client.conversations.get("conv_1")
    assert len(wire.calls) == 1


async def test_token_endpoint_5xx_is_retried(wire: Wire, fake_time: Any) -> None:
    """A token request is safe to repeat, so a 503 is retried."""
    server = TokenServer()
    first = [True]

    def handler(call: Call) -> Any:
        if call.path == TOKEN_PATH and first[0]:
            first[0] = False
            return R(503, {"code": "UNAVAILABLE", "message": "later"})
        return server(call)

    wire.serve(handler)
    async with make_client(fake_time, credentials(fake_time)) as client:
        await client.conversations.get("conv_1")
    assert len(token_calls(wire)) == 2


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"data": {"expires_in": 60}}, "$.access_token"),
        ({"access_token": "", "expires_in": 60}, "$.access_token"),
        ({"access_token": 5, "expires_in": 60}, "$.access_token"),
        ({"access_token": "mwt", "expires_in": -1}, "$.expires_in"),
        ({"access_token": "mwt", "expires_in": "soon"}, "$.expires_in"),
        ({"access_token": "mwt", "expires_in": True}, "$.expires_in"),
        ({"data": "nope"}, "$"),
        (["mwt"], "$"),
    ],
    ids=[
        "missing",
        "empty",
        "int",
        "negative-expiry",
        "str-expiry",
        "bool-expiry",
        "data-str",
        "list",
    ],
)
async def test_malformed_token_reply(wire: Wire, fake_time: Any, body: Any, path: str) -> None:
    """A token reply without a usable token raises ResponseValidationError, no API call."""
    wire.always(body)
    async with make_client(fake_time, credentials(fake_time)) as client:
        with pytest.raises(mw.ResponseValidationError) as info:
            await client.conversations.get("conv_1")
    assert info.value.path == path
    assert api_calls(wire) == []


async def test_token_with_crlf_is_refused(wire: Wire, fake_time: Any) -> None:
    """A token that could split headers is refused before it is ever sent: the server's fault,
    so a ResponseValidationError (an APIError), not the caller's InvalidParameterError."""
    wire.always({"access_token": "mwt\r\nX-Evil: 1", "expires_in": 60})
    async with make_client(fake_time, credentials(fake_time)) as client:
        with pytest.raises(mw.ResponseValidationError):
            await client.conversations.get("conv_1")
    assert api_calls(wire) == []


async def test_missing_expires_in_defaults_to_60_seconds(wire: Wire, fake_time: Any) -> None:
    """Without ``expires_in`` the token is treated as a 60 s token."""
    issued = [0]

    def handler(call: Call) -> Any:
        if call.path == TOKEN_PATH:
            issued[0] += 1
            return {"access_token": f"mwt_{issued[0]}"}
        return conversation()

    wire.serve(handler)
    async with make_client(fake_time, credentials(fake_time)) as client:
        await client.conversations.get("conv_1")
        fake_time.now += 47
        await client.conversations.get("conv_1")
        assert issued[0] == 1
        fake_time.now += 13
        await client.conversations.get("conv_1")
        assert issued[0] == 2


async def test_415_falls_back_to_form_encoding(wire: Wire, fake_time: Any) -> None:
    """A 415 to the JSON token request is retried form-encoded (the older documented form)."""
    server = TokenServer()

    def handler(call: Call) -> Any:
        if call.path == TOKEN_PATH and call.headers["Content-Type"] == "application/json":
            return R(415, {"code": "UNSUPPORTED_MEDIA_TYPE", "message": "form only"})
        return server(call)

    wire.serve(handler)
    async with make_client(fake_time, credentials(fake_time)) as client:
        await client.conversations.get("conv_1")
    json_call, form_call = token_calls(wire)
    assert json.loads(json_call.data or b"") == {
        "client_id": "client-1",
        "client_secret": "secret-1",
        "grant_type": "client_credentials",
    }
    assert form_call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs((form_call.data or b"").decode()) == {
        "client_id": ["client-1"],
        "client_secret": ["secret-1"],
        "grant_type": ["client_credentials"],
    }
    assert api_calls(wire)[0].headers["Authorization"] == "Bearer mwt_1"


async def test_client_credentials_unbound_is_a_clear_error() -> None:
    """Using ClientCredentials outside a client raises a clear RuntimeError."""
    with pytest.raises(RuntimeError, match="AsyncMoveworks"):
        await mw.ClientCredentials("id", "secret").get_token()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"client_id": "", "client_secret": "s"},
        {"client_id": "i", "client_secret": ""},
        {"client_id": 5, "client_secret": "s"},
    ],
    ids=["empty-id", "empty-secret", "int-id"],
)
async def test_client_credentials_validates_arguments(kwargs: dict[str, Any]) -> None:
    """Empty or non-str credentials are refused at construction."""
    with pytest.raises(mw.InvalidParameterError):
        mw.ClientCredentials(**kwargs)


async def test_token_and_auth_together_are_refused() -> None:
    """The client takes at most one of ``token=`` and ``auth=``."""
    with pytest.raises(mw.InvalidParameterError, match="exactly one"):
        mw.AsyncMoveworks(
            assistant_name="acme-capi", token="a", auth=mw.ClientCredentials("i", "s")
        )


async def test_no_credentials_names_arguments_and_variables() -> None:
    """Neither argument nor variable: the error names both ways to give a credential."""
    with pytest.raises(mw.InvalidParameterError, match="no credentials") as info:
        mw.AsyncMoveworks(assistant_name="acme-capi")
    for name in ("token=", "auth=", "MOVEWORKS_TOKEN", "MOVEWORKS_CLIENT_ID"):
        assert name in str(info.value)


async def test_auth_must_be_a_source_or_callable() -> None:
    """A non-callable, non-source ``auth`` is refused."""
    with pytest.raises(mw.InvalidParameterError):
        mw.AsyncMoveworks(assistant_name="acme-capi", auth="a-string-token")  # type: ignore[arg-type]


async def test_sync_callable_is_a_clear_error(wire: Wire, fake_time: Any) -> None:
    """A plain function as ``auth=`` fails clearly (not a bare TypeError) and sends nothing."""

    def not_async() -> str:
        return "tok-SYNC-secret"

    async with make_client(fake_time, not_async) as client:
        with pytest.raises(mw.InvalidParameterError, match="async callable") as info:
            await client.conversations.get("conv_1")
    assert "tok-SYNC-secret" not in str(info.value)
    assert wire.calls == []


# --- single-flight refresh rules (issue 12, item 2) ------------------------------------------


async def test_a_failed_refresh_fails_every_waiter_with_one_fetch() -> None:
    calls = 0
    gate = asyncio.Event()

    async def fetch(url: str, form: Any) -> Any:
        nonlocal calls
        calls += 1
        await gate.wait()
        raise mw.BadRequestError("invalid_client", status_code=400)

    source = mw.ClientCredentials("id", "secret-unit").bind(fetch, "https://h.example")
    tasks = [asyncio.ensure_future(source.get_token()) for _ in range(10)]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, mw.BadRequestError) for r in results)
    assert calls == 1


async def test_an_abandoned_refresh_is_restarted_by_a_waiter() -> None:
    calls = 0

    async def fetch(url: str, form: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(3600)  # the first caller gives up long before
        return {"access_token": f"tok-{calls}", "expires_in": 60}

    source = mw.ClientCredentials("id", "secret-unit").bind(fetch, "https://h.example")
    leader = asyncio.ensure_future(source.get_token())
    await asyncio.sleep(0)
    waiter = asyncio.ensure_future(source.get_token())
    await asyncio.sleep(0)
    leader.cancel()
    assert await waiter == "tok-2"
    assert calls == 2
    with pytest.raises(asyncio.CancelledError):
        await leader


async def test_a_token_dropped_after_a_401_stays_masked(
    wire: Wire, fake_time: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The bearer the client sent is masked in errors and logs even after the 401 that made
    the client drop it: here the token endpoint's refusal echoes it (an outside review found
    it in the error, its ``.body`` and the DEBUG log), and later a late reply echoes the token
    a refresh replaced."""
    first, second = "tok-canary-first-0123456789", "tok-canary-second-0123456789"
    state = {"issued": 0}

    def serve(call: Call) -> Any:
        if call.path == TOKEN_PATH:
            state["issued"] += 1
            if state["issued"] == 1:
                return {"access_token": first, "expires_in": 3600}
            if state["issued"] == 2:
                return R(500, {"error": {"code": "E", "message": f"you sent {first}"}})
            return {"access_token": second, "expires_in": 3600}
        if call.headers.get("Authorization") == f"Bearer {first}":
            return R(401, UNAUTHORIZED)
        return R(500, {"error": {"code": "E", "message": f"old {first}, new {second}"}})

    wire.serve(serve)
    caplog.set_level("DEBUG", logger="moveworks_async")
    errors: list[BaseException] = []
    async with make_client(fake_time, credentials(fake_time), max_retries=0) as client:
        for _ in range(2):
            with pytest.raises(mw.APIStatusError) as caught:
                await client.conversations.get("conv_1")
            errors.append(caught.value)
    assert state["issued"] == 3
    for error in errors:
        text = f"{error!s} {error!r} {error.body!r} {error.__cause__!r} {error.__context__!r}"
        assert first not in text, text
        assert second not in text, text
        assert "<redacted>" in str(error)
    assert first not in caplog.text
    assert second not in caplog.text
