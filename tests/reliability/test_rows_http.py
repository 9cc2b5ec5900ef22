"""Fault catalogue rows 26-43 (one ``test_row_NN`` each): HTTP status and protocol faults, on the
raw fault server and the package's fake, with virtual time wherever the client waits."""

from __future__ import annotations

import asyncio
import json
import time
from email.utils import formatdate
from typing import Any

import pytest
from _reliability_support import (
    CID,
    ENCODINGS,
    JWT,
    OK_GET,
    RID,
    SECRET,
    TOKEN,
    api,
    assert_clean,
    client,
    credentials,
    reply_json,
    token_reply,
)
from _scorecard import record
from _stream_support import completed_response, response_json
from faultserver import FaultServer, reply

import moveworks_async as mw
from moveworks_async.testing import FakeMoveworks, Fault

pytestmark = pytest.mark.asyncio

CREATED = reply_json(200, response_json("CREATED"))


def error(status: int, code: str = "X", message: str = "server says no", **kw: Any) -> bytes:
    return reply_json(status, {"error": {"code": code, "message": message}}, **kw)


def api_calls(server: FaultServer) -> int:
    return sum(1 for r in server.requests if not r.path.endswith("/oauth/v1/token"))


# --- 26-32: plain statuses and auth --------------------------------------------------------------


async def test_row_26_400_is_bad_request_not_retried(fake_time: Any) -> None:
    """400: BadRequestError with the server's message and request id, exactly one call."""
    async with FaultServer(api(create=error(400, "BAD_INPUT", "text too long"))) as server:
        async with client(server.url, fake_time) as c:
            with pytest.raises(mw.BadRequestError) as info:
                await c.responses.create(CID, text="q")
    assert info.value.request_id == "req-rel"
    assert "text too long" in str(info.value)
    assert api_calls(server) == 1
    assert_clean(info.value)


async def test_row_27_expired_token_refreshes_once(fake_time: Any) -> None:
    """401 for an expired token: one refresh, one resend (<= 2 API calls); a second 401
    after the refresh is final (AuthenticationError), never a refresh loop."""
    async with FakeMoveworks(token=None, client_id="client-1", client_secret=SECRET) as server:
        async with client(server.url, fake_time, auth=credentials()) as c:
            cid = (await c.conversations.create()).conversation_id
            before = server.stats.requests_total
            server.inject(Fault.expire_token(), times=1)
            await c.conversations.get(cid)
            assert server.stats.token_requests == 2
            assert server.stats.requests_total - before <= 3  # GET 401, token, GET 200
            server.inject(Fault.status(401))
            with pytest.raises(mw.AuthenticationError) as info:
                await c.conversations.get(cid)
            assert server.stats.token_requests <= 3
    assert_clean(info.value, c)


@pytest.mark.parametrize(
    "fault",
    ["500", "429", "black-hole", "not-a-jwt", "no-expiry", "huge-expiry", "nan-expiry"],
)
async def test_row_29_token_endpoint_faults(fake_time: Any, fault: str) -> None:
    """Auth endpoint 5xx / 429 / silence / odd tokens: bounded retries then a typed error,
    or a token used with a sane lifetime; never a bare KeyError / OverflowError, never a
    token request per call."""
    token: Any
    if fault == "500":
        token = error(500)
    elif fault == "429":
        token = error(429, headers=[("Retry-After", "1")])
    elif fault == "black-hole":

        async def token(conn: Any, _request: Any) -> bool:
            await conn.hold()
            return False

    else:
        body = {
            "not-a-jwt": {"access_token": "opaque-CANARY-token", "expires_in": 3600},
            "no-expiry": {"access_token": JWT},
            "huge-expiry": {"access_token": JWT, "expires_in": 10**400},
            "nan-expiry": {"access_token": JWT, "expires_in": float("nan")},
        }[fault]
        import json

        text = (
            json.dumps(body)
            if fault != "huge-expiry"
            else json.dumps({"access_token": JWT})[:-1] + ', "expires_in": 1' + "0" * 400 + "}"
        )
        token = reply(200, text)
    async with (
        FaultServer(api(token=token, get=OK_GET)) as server,
        client(
            server.url, fake_time, auth=credentials(), timeout=mw.Timeout(read=0.3, total=0.5)
        ) as c,
    ):
        outcomes: list[Any] = []
        for _ in range(3):
            try:
                outcomes.append(await c.conversations.get(CID))
            except mw.MoveworksError as exc:
                outcomes.append(exc)
                assert_clean(exc)
    tokens = server.count("POST", "/oauth/v1/token")
    if fault in ("500", "429", "black-hole"):
        assert all(isinstance(o, mw.APIError) for o in outcomes)
        assert tokens <= 3 * 3  # bounded: at most 3 attempts per call
        assert api_calls(server) == 0
    elif fault in ("huge-expiry", "nan-expiry"):
        # An absurd lifetime is refused as a typed error: one token request per call, no loop.
        assert all(isinstance(o, mw.APIError) for o in outcomes), outcomes
        assert tokens <= 3
        assert api_calls(server) == 0
    else:
        assert all(isinstance(o, mw.Conversation) for o in outcomes), outcomes
        assert tokens == 1  # cached: not one token request per call


async def test_row_30_token_refreshed_before_expiry(fake_time: Any) -> None:
    """A 60 s token: after 55 s (inside the refresh margin) the next call refreshes first,
    so no request carries a token known to be expired."""
    async with FakeMoveworks(
        token=None, client_id="client-1", client_secret=SECRET, token_ttl=60
    ) as server:
        auth = credentials(clock=fake_time.clock)
        async with client(server.url, fake_time, auth=auth) as c:
            cid = (await c.conversations.create()).conversation_id
            assert server.stats.token_requests == 1
            fake_time.now += 55
            await c.conversations.get(cid)
            assert server.stats.token_requests == 2
            fake_time.now += 20
            await c.conversations.get(cid)
            assert server.stats.token_requests == 2  # the fresh token is still good


async def test_row_31_403_no_refresh_no_retry(fake_time: Any) -> None:
    """403: PermissionDeniedError, one call, no token refresh."""
    async with FaultServer(api(token=token_reply(), get=error(403))) as server:
        async with client(server.url, fake_time, auth=credentials()) as c:
            with pytest.raises(mw.PermissionDeniedError) as info:
                await c.conversations.get(CID)
    assert api_calls(server) == 1
    assert server.count("POST", "/oauth/v1/token") == 1
    assert_clean(info.value)


@pytest.mark.parametrize("call", ["poll", "create"])
async def test_row_32_404_not_retried(fake_time: Any, call: str) -> None:
    """404 on poll or create: NotFoundError, exactly one call."""
    async with FaultServer(api(get=error(404), create=error(404))) as server:
        async with client(server.url, fake_time) as c:
            with pytest.raises(mw.NotFoundError) as info:
                if call == "poll":
                    await c.responses.get(CID, RID)
                else:
                    await c.responses.create(CID, text="q")
    assert api_calls(server) == 1
    assert_clean(info.value)


# --- 33-38: rate limits and outages --------------------------------------------------------------


async def _waited_for(fake_time: Any, limited: bytes) -> tuple[float, FaultServer]:
    async with FaultServer(api(create=[limited, CREATED])) as server:
        async with client(server.url, fake_time) as c:
            start = fake_time.now
            await c.responses.create(CID, text="q")
            return fake_time.now - start, server


async def test_row_33_retry_after_seconds_honoured(fake_time: Any) -> None:
    """429 + Retry-After: 7: the create is sent again after >= 7 s (jitter <= 10 %), once."""
    waited, server = await _waited_for(fake_time, error(429, headers=[("Retry-After", "7")]))
    assert 7.0 <= waited <= 7.0 * 1.1 + 0.01
    assert server.count("POST") == 2


async def test_row_34_retry_after_http_date_against_date_header(fake_time: Any) -> None:
    """429 with an HTTP-date Retry-After measured against the reply's Date header (a server
    clock an hour off does not matter)."""
    server_now = time.time() - 3600
    headers = [
        ("Date", formatdate(server_now, usegmt=True)),
        ("Retry-After", formatdate(server_now + 7, usegmt=True)),
    ]
    waited, server = await _waited_for(fake_time, error(429, headers=headers))
    assert 6.0 <= waited <= 8.0 * 1.1
    assert server.count("POST") == 2


async def test_row_35_429_without_retry_after_backs_off(fake_time: Any) -> None:
    """429 without Retry-After (the documented case): a backoff of 1 s plus bounded jitter."""
    waited, server = await _waited_for(fake_time, error(429))
    assert 1.0 <= waited <= 1.5
    assert server.count("POST") == 2


@pytest.mark.parametrize("value", ["1e9", "99999999999999999999999999999999999999", "121"])
async def test_row_36_absurd_retry_after_raises_at_once(fake_time: Any, value: str) -> None:
    """A Retry-After beyond max_retry_after (60 s) or absurd: RateLimitError at once, never a
    31-year sleep, never OverflowError."""
    limited = error(429, headers=[("Retry-After", value)])
    async with FaultServer(api(create=limited)) as server, client(server.url, fake_time) as c:
        try:
            await c.responses.create(CID, text="q")
        except mw.RateLimitError as exc:
            assert exc.retry_after is None or exc.retry_after > 60
            assert_clean(exc)
    assert fake_time.now - 1000.0 <= 60 * 1.1 * 3  # never beyond the cap, whatever happened
    assert server.count("POST") <= 3


@pytest.mark.parametrize(
    "value", ["inf", "nan", "-5", "garbage", "Sun, 06 Nov 100000 08:49:37 GMT"]
)
async def test_row_36_garbage_retry_after_is_treated_as_absent(fake_time: Any, value: str) -> None:
    """Garbage, negative, inf, nan, year 100000: treated as absent (the backoff applies); no
    exception from the parser."""
    waited, server = await _waited_for(fake_time, error(429, headers=[("Retry-After", value)]))
    assert waited <= 1.5
    assert server.count("POST") == 2


async def test_row_38_outage_extra_load_bounded_by_retry_budget(fake_time: Any) -> None:
    """Everyone gets 503 for ever: the per-client retry budget stops retrying once drained,
    so extra load stays <= 10 % + a constant (the 500-token budget: 100 retries)."""
    n = 400
    async with FaultServer(api(get=error(503))) as server, client(server.url, fake_time) as c:
        for _ in range(n):
            with pytest.raises(mw.InternalServerError):
                await c.conversations.get(CID)
    extra = api_calls(server) - n
    assert extra <= 0.1 * n + 100
    record(
        "S6",
        f"outage: {extra} extra requests for {n} failing calls",
        "<= 10 % + 100",
        extra <= 0.1 * n + 100,
    )


# --- 39-43: odd replies, redirects, timeouts, FAILED ---------------------------------------------

HTML = "<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_row_39_html_5xx(fake_time: Any, status: int) -> None:
    """5xx with an HTML page: InternalServerError with a text snippet, no JSON error leaks;
    a GET is retried, a create is not (outcome unknown: a gateway may have forwarded it)."""
    page = reply(status, HTML, content_type="text/html")
    async with FaultServer(api(get=page, create=page)) as server:
        async with client(server.url, fake_time) as c:
            with pytest.raises(mw.InternalServerError) as got:
                await c.conversations.get(CID)
            with pytest.raises(mw.InternalServerError) as created:
                await c.responses.create(CID, text="q")
    assert got.value.status_code == status
    assert server.count("GET") == 3
    assert server.count("POST") == 1
    assert created.value.outcome_unknown is True
    assert_clean(got.value, created.value)


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("secret", ["token", "client-secret"])
async def test_row_39_server_echoing_the_bearer_is_masked(
    fake_time: Any, secret: str, encoding: str
) -> None:
    """Issue 12 item 7: a debug 500 that echoes the request's credentials back, as they are
    or encoded (escaped, percent-encoded, base64, \\u-escaped, entities): the client's own
    bearer / client secret never reaches the exception, its chain or the logs."""
    encode = ENCODINGS[encoding]

    async def echo(conn: Any, request: Any) -> bool:
        sent = encode(request.headers.get("authorization") or "")
        text = f"debug: you sent {sent}"
        headers = [("x-trace-id", encode(request.headers.get("authorization") or ""))]
        await conn.send(reply(500, {"error": {"code": "DEBUG", "message": text}}, headers=headers))
        return True

    async def echo_token(conn: Any, request: Any) -> bool:
        try:
            sent = str(json.loads(request.body).get("client_secret"))
        except ValueError:
            sent = request.body.decode("utf-8", "replace")
        text = f"debug: client_secret={encode(sent)}"
        await conn.send(reply(500, {"error": {"code": "DEBUG", "message": text}}))
        return True

    kw: dict[str, Any] = {"max_retries": 0}
    if secret == "client-secret":
        kw["auth"] = credentials()
    async with FaultServer(api(get=echo, create=echo, token=echo_token)) as server:
        async with client(server.url, fake_time, **kw) as c:
            with pytest.raises(mw.APIError) as info:
                await c.conversations.get(CID)
    assert_clean(info.value)
    assert "<redacted>" in str(info.value)


async def test_row_40_200_html_on_json_route(fake_time: Any) -> None:
    """200 text/html on a JSON route: UnexpectedResponseError, no garbage object."""
    page = reply(200, "<html>hi</html>", content_type="text/html")
    async with FaultServer(api(get=page)) as server, client(server.url, fake_time) as c:
        with pytest.raises(mw.UnexpectedResponseError) as info:
            await c.conversations.get(CID)
    assert info.value.status_code == 200
    assert_clean(info.value)


@pytest.mark.parametrize(
    ("status", "call"),
    [(307, "get"), (308, "get"), (301, "create"), (302, "create"), (303, "create")],
)
async def test_row_41_redirects_never_followed_cross_origin(
    fake_time: Any, status: int, call: str
) -> None:
    """A redirect to another origin: never followed (B sees nothing, so no Authorization
    travels), never a silent POST->GET; a typed error instead."""
    async with FaultServer(api(get=OK_GET, create=CREATED)) as other:
        moved = reply(status, "", headers=[("Location", other.url + "/rest/v1beta1/x")])
        async with FaultServer(api(get=moved, create=moved)) as server:
            async with client(server.url, fake_time) as c:
                with pytest.raises(mw.APIError) as info:
                    if call == "get":
                        await c.conversations.get(CID)
                    else:
                        await c.responses.create(CID, text="q")
        assert other.requests == []
        assert server.count("POST") <= 1
    assert_clean(info.value)


async def test_row_42_header_timeout_is_typed(fake_time: Any) -> None:
    """A server that reads the request and never answers: APITimeoutError(phase="read")
    per attempt; a create so cut is outcome-unknown and not resent."""

    async def silent(conn: Any, _request: Any) -> bool:
        await conn.hold()
        return False

    async with FaultServer(api(get=silent, create=silent)) as server:
        async with client(server.url, fake_time, timeout=mw.Timeout(read=0.1)) as c:
            with pytest.raises(mw.APITimeoutError) as got:
                await c.conversations.get(CID)
            with pytest.raises(mw.APITimeoutError) as created:
                await c.responses.create(CID, text="q")
    assert got.value.phase == "read"
    assert type(got.value) is mw.ReadTimeout
    assert server.count("GET") == 3
    assert created.value.outcome_unknown is True
    assert server.count("POST") == 1
    assert_clean(got.value, created.value)


async def test_row_42_poll_deadline_holds_against_endless_in_progress(fake_time: Any) -> None:
    """IN_PROGRESS for ever: wait() ends at its deadline, polls back off with a cap."""
    busy = reply_json(200, response_json("IN_PROGRESS"))
    async with FaultServer(api(get=busy)) as server, client(server.url, fake_time) as c:
        with pytest.raises(mw.WaitTimeoutError):
            await c.responses.wait(CID, RID, timeout=150)
    assert fake_time.now - 1000.0 <= 150 + 0.1
    assert server.count("GET") < 150  # backed off, not one poll per second


async def test_row_43_failed_terminal_state_is_not_success(fake_time: Any) -> None:
    """FAILED: wait() returns the FAILED response with the server's error detail; a stream
    ends with ResponseFailed; neither is reported as COMPLETED."""
    failed = response_json(
        "FAILED", error={"code": "GENERATION_FAILED", "message": "model unavailable"}
    )
    async with FaultServer(api(get=reply_json(200, failed))) as server:
        async with client(server.url, fake_time) as c:
            response = await c.responses.wait(CID, RID, timeout=10)
    assert response.status == mw.ResponseStatus.FAILED
    assert response.error is not None
    assert response.error.code == "GENERATION_FAILED"
    assert response.text == ""
    _ = completed_response, TOKEN, asyncio
