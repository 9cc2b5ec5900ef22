"""A canary bearer token (and client secret) never shows up in a repr, a str, an exception
(or its cause/context chain), a traceback, a log record or a warning, whatever happens."""

from __future__ import annotations

import asyncio
import logging
import traceback
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest
from _core_support import CANARY, Call, R, RawServer, Wire, conversation, free_port, http_reply
from aioresponses import aioresponses

import moveworks_async as mw

pytestmark = pytest.mark.asyncio

SECRET = "sec-CANARY-456"
CANARIES = (CANARY, SECRET)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__]
    return seen


def assert_no_canary_in_exception(exc: BaseException) -> None:
    """No exception in the chain shows a canary in its str, repr, attributes or traceback."""
    for item in _chain(exc):
        texts = [str(item), repr(item), repr(item.args), repr(getattr(item, "__dict__", {}))]
        for text in texts:
            for canary in CANARIES:
                assert canary not in text, f"{type(item).__name__} leaks {canary}: {text[:300]}"
    rendered = "".join(traceback.format_exception(exc))
    for canary in CANARIES:
        assert canary not in rendered


def assert_no_canary_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    """No log record (message, args or formatted exception) carries a canary."""
    for record in caplog.records:
        text = record.getMessage() + repr(record.args)
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        for canary in CANARIES:
            assert canary not in text, f"log record leaks {canary}: {text[:300]}"


def assert_no_canary_in_warnings(caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        for canary in CANARIES:
            assert canary not in str(w.message)


@pytest.fixture
def watch(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[BaseException | None], None]]:
    """Capture DEBUG logs of every logger and all warnings; ``check(exc)`` asserts no leak."""
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")

        def check(exc: BaseException | None) -> None:
            if exc is not None:
                assert_no_canary_in_exception(exc)
            assert_no_canary_in_logs(caplog)
            assert_no_canary_in_warnings(caught)

        yield check


def make_client(
    fake_time: Any, base_url: str = "https://api.moveworks.ai", **kwargs: Any
) -> mw.AsyncMoveworks:
    kwargs.setdefault("token", CANARY)
    return mw.AsyncMoveworks(
        assistant_name="acme-capi",
        base_url=base_url,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        **kwargs,
    )


async def capture(action: Awaitable[Any]) -> BaseException | None:
    try:
        await action
    except Exception as exc:
        return exc
    return None


async def test_reprs_hide_the_token(fake_time: Any) -> None:
    """repr() of the client and of every token source hides the secret."""
    static = mw.AsyncMoveworks(assistant_name="acme-capi", token=CANARY)
    creds = mw.ClientCredentials("client-1", SECRET)
    via_creds = mw.AsyncMoveworks(assistant_name="acme-capi", auth=creds)
    for value in (static, creds, via_creds, static._auth, mw.StaticToken(CANARY)):
        for canary in CANARIES:
            assert canary not in repr(value)
            assert canary not in str(value)
    assert "client-1" in repr(creds)  # the id is not secret and helps debugging


# --- through aioresponses: success, 401, 5xx, bad bodies -------------------------------------


@pytest.fixture
def wire() -> Iterator[Wire]:
    with aioresponses() as mock:
        yield Wire(mock)


@pytest.mark.parametrize(
    "reply",
    [
        conversation(),
        R(401, {"error": {"code": "UNAUTHORIZED", "message": "Token validation failed"}}),
        R(403, {"code": "FORBIDDEN", "message": "Invalid assistant"}),
        R(500, {"error": {"code": "INTERNAL_ERROR", "message": "boom"}}),
        R(
            429,
            {"error": {"code": "RATE_LIMIT_EXCEEDED", "message": "x"}},
            headers={"Retry-After": "9999"},
        ),
        R(502, body=b"<html>bad gateway</html>", content_type="text/html"),
        R(200, body=b"<html>login page</html>", content_type="text/html"),
        R(200, [1, 2, 3]),
    ],
    ids=["success", "401", "403", "500", "429", "html-502", "html-200", "wrong-shape"],
)
async def test_static_token_never_leaks(
    wire: Wire,
    fake_time: Any,
    watch: Callable[[BaseException | None], None],
    caplog: pytest.LogCaptureFixture,
    reply: Any,
) -> None:
    """Success and every kind of failure keep the static token out of errors, logs and warnings."""
    wire.always(reply)
    async with make_client(fake_time) as client:
        exc = await capture(client.conversations.get("conv_1"))
        assert CANARY not in repr(client)
    assert wire.calls[0].headers["Authorization"] == f"Bearer {CANARY}"  # it was really used
    assert any(r.name.startswith("moveworks_async") for r in caplog.records)  # logs were on
    watch(exc)


async def test_transport_error_never_leaks(
    wire: Wire, fake_time: Any, watch: Callable[[BaseException | None], None]
) -> None:
    """An aiohttp error raised mid-request (whose request_info holds headers) is not chained."""

    def handler(call: Call) -> Any:
        raise aiohttp.ClientPayloadError("Response payload is not completed")

    wire.serve(handler)
    async with make_client(fake_time, max_retries=0) as client:
        exc = await capture(client.conversations.get("conv_1"))
    assert isinstance(exc, mw.APIConnectionError)
    watch(exc)


@pytest.mark.parametrize("status", [401, 500, 400])
async def test_client_secret_and_token_never_leak(
    wire: Wire, fake_time: Any, watch: Callable[[BaseException | None], None], status: int
) -> None:
    """Neither the client secret nor the fetched access token leak when the token endpoint or
    the API fails."""

    def handler(call: Call) -> Any:
        if call.path == "/oauth/v1/token":
            if status == 400:
                return {"data": {"access_token": CANARY, "expires_in": 3600}}
            return R(status, {"code": "OAUTH_INVALID_CLIENT", "message": "bad client"})
        return R(401, {"error": {"code": "UNAUTHORIZED", "message": "nope"}})

    wire.serve(handler)
    auth = mw.ClientCredentials("client-1", SECRET, clock=fake_time.clock)
    async with make_client(fake_time, token=None, auth=auth, max_retries=0) as client:
        exc = await capture(client.conversations.get("conv_1"))
        assert isinstance(exc, mw.APIStatusError)
        for canary in CANARIES:
            assert canary not in repr(client)
            assert canary not in repr(auth)
    watch(exc)


async def test_rejected_token_values_are_not_echoed(
    fake_time: Any, watch: Callable[[BaseException | None], None]
) -> None:
    """A token refused by validation (or pasted into the wrong field) is not echoed."""
    excs = []
    for kwargs in (
        {"token": CANARY + "\r\n"},
        {"token": "x", "assistant_name": CANARY + "\n"},
        {"token": "x", "base_url": CANARY},
    ):
        kwargs.setdefault("assistant_name", "acme-capi")
        try:
            mw.AsyncMoveworks(**kwargs)
        except mw.InvalidParameterError as exc:
            excs.append(exc)
    assert len(excs) == 3
    with aioresponses():
        async with mw.AsyncMoveworks(assistant_name="acme-capi", token="ok") as client:
            try:
                await client.conversations.get(CANARY + "/..")
            except mw.InvalidParameterError as exc:
                excs.append(exc)

    async def bad_callable() -> str:
        return CANARY + "\r\nX: y"

    with aioresponses():
        async with make_client(fake_time, token=None, auth=bad_callable) as client:
            excs.append(await capture(client.conversations.get("conv_1")))  # type: ignore[arg-type]
    assert len(excs) == 5
    for exc in excs:
        watch(exc)


# --- through real sockets: refused, reset, malformed reply, timeout -------------------------


async def _reset_after_request(
    server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await server.read_request(reader)
    writer.transport.abort()


async def _malformed_reply(
    server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await server.read_request(reader)
    writer.write(b"HTTP/1.1 abc garbage\r\n\r\n")
    await writer.drain()


async def _stall(
    server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await server.read_request(reader)
    await reader.read()  # until the client gives up and closes


async def _unauthorized(
    server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    while True:
        await server.read_request(reader)
        writer.write(http_reply(401, b'{"error":{"code":"UNAUTHORIZED","message":"no"}}'))
        await writer.drain()


@pytest.mark.parametrize(
    ("handler", "cls"),
    [
        (_reset_after_request, mw.APIConnectionError),
        (_malformed_reply, mw.APIConnectionError),
        (_stall, mw.APITimeoutError),
        (_unauthorized, mw.AuthenticationError),
    ],
    ids=["reset", "malformed-http", "timeout", "401"],
)
async def test_real_transport_failures_never_leak(
    fake_time: Any,
    watch: Callable[[BaseException | None], None],
    handler: Any,
    cls: type[Exception],
) -> None:
    """Against a real socket, resets, garbage replies, timeouts and 401s keep the token hidden."""
    async with (
        RawServer(handler).running() as server,
        make_client(fake_time, server.url, max_retries=0, timeout=0.3) as client,
    ):
        exc = await capture(client.responses.create("conv_1", text="hi"))
    assert isinstance(exc, cls), exc
    assert server.requests == 1
    assert f"Bearer {CANARY}".encode() in server.heads[0]  # it was really sent
    watch(exc)


async def test_connection_refused_never_leaks(
    fake_time: Any, watch: Callable[[BaseException | None], None]
) -> None:
    """A refused connection (retried, then raised) keeps the token hidden."""
    async with make_client(fake_time, f"http://127.0.0.1:{free_port()}") as client:
        exc = await capture(client.conversations.get("conv_1"))
    assert isinstance(exc, mw.APIConnectionError)
    assert not isinstance(exc, mw.APITimeoutError)
    watch(exc)


async def test_request_repr_omits_the_body() -> None:
    """The internal request value never shows its body (a token request carries the secret)."""
    from moveworks_async._protocol import Request

    request = Request("POST", "/oauth/v1/token", json={"client_secret": SECRET})
    assert SECRET not in repr(request)
    assert "/oauth/v1/token" in repr(request)
