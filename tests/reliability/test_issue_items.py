"""Regression tests of issue 12's items 1-9, one test (or parametrized group) per item.

Each failed before its fix. JSON-decoding tests run with both backends: the default install
has no orjson, so the stdlib path (``stdlib_json``) is what most users get.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import importlib.util
import itertools
import json
import logging
import sys
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from _core_support import BASE, R, RawServer, Wire, conversation, http_loop, http_reply, loop_turns
from _stream_support import RID, acquired, event, response_json, scripted
from aioresponses import aioresponses

import moveworks_async as mw
from moveworks_async import _json
from moveworks_async._protocol import Request


def mw_request(method: str, path: str) -> Request:
    return Request(method, path)


pytestmark = pytest.mark.asyncio

CID = "conv_1"


def _stdlib_json_module() -> ModuleType:
    """A second copy of ``moveworks_async._json`` built as if orjson were not installed."""
    saved = sys.modules.get("orjson")
    sys.modules["orjson"] = None  # type: ignore[assignment]  # makes "import orjson" fail
    try:
        name = "moveworks_async._json_stdlib"
        spec = importlib.util.spec_from_file_location(name, _json.__file__)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["orjson"]
        else:
            sys.modules["orjson"] = saved
    assert module.using_orjson is False
    return module


_STDLIB = _stdlib_json_module()


@pytest.fixture(params=["stdlib", "orjson"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with each JSON backend in turn (every caller goes through ``_json.x``)."""
    if request.param == "stdlib":
        monkeypatch.setattr(_json, "loads", _STDLIB.loads)
        monkeypatch.setattr(_json, "dumps", _STDLIB.dumps)
    elif not _json.using_orjson:  # pragma: no cover - orjson is a test dependency
        pytest.skip("orjson not installed")
    return request.param


@pytest.fixture
def wire() -> Iterator[Wire]:
    with aioresponses() as mock:
        yield Wire(mock)


def client(**kw: Any) -> mw.AsyncMoveworks:
    kw.setdefault("token", "tok-item")
    return mw.AsyncMoveworks(assistant_name="acme", **kw)


DEEP = "[" * 20_000 + "]" * 20_000  # under aioresponses' 64 KiB body limit


# --- item 1: every exception that leaves a public call is a MoveworksError -------------------


@pytest.mark.parametrize(
    "output", [None, "a string", "MISSING", {"type": "MESSAGE", "message": None}]
)
async def test_item1_bad_delta_output_is_typed_and_fails_the_stream(output: Any) -> None:
    payload: dict[str, Any] = {} if output == "MISSING" else {"output": output}
    script = [
        event("RESPONSE_CREATED", 1, response=response_json("CREATED")),
        event("RESPONSE_OUTPUT_DELTA", 2, **payload),
    ]
    async with scripted(script) as (_server, c), c.responses.stream(CID, text="hi") as stream:
        with pytest.raises(mw.MoveworksError) as caught:
            async for _ in stream:
                pass
        assert isinstance(caught.value, mw.ResponseValidationError)
        assert caught.value.path.startswith("$.output")
        # The stream's failure path ran: the connection is let go, recovery still works.
        assert stream._reply is None
        final = await stream.final_response()
        assert final.response_id == RID


async def test_item1_deep_json_is_typed_everywhere(backend: str, wire: Wire) -> None:
    wire.always(R(200, body=DEEP))
    async with client(base_url=BASE) as c:
        with pytest.raises(mw.UnexpectedResponseError):
            await c.conversations.get(CID, max_retries=0)
        wire.always(R(400, body=DEEP))
        with pytest.raises(mw.BadRequestError) as bad:
            await c.conversations.get(CID, max_retries=0)
        assert isinstance(bad.value.body, str)
        assert len(bad.value.body) <= 2048
    # The token endpoint's reply too.
    wire.always(R(200, body=DEEP))
    creds = mw.ClientCredentials("id", "secret-item")
    async with client(base_url=BASE, token=None, auth=creds) as c:
        with pytest.raises(mw.MoveworksError):
            await c.conversations.get(CID, max_retries=0)


async def test_item1_deep_stream_data_is_a_protocol_error(backend: str) -> None:
    script = [
        event("RESPONSE_CREATED", 1, response=response_json("CREATED")),
        b"event: RESPONSE_OUTPUT_DELTA\ndata: " + DEEP.encode() + b"\n\n",
    ]
    async with scripted(script) as (_, c), c.responses.stream(CID, text="hi") as stream:
        with pytest.raises(mw.StreamProtocolError):
            async for _ in stream:
                pass


@pytest.mark.parametrize("expires", ["1" + "0" * 400, "NaN", "1e400", "Infinity"])
async def test_item1_absurd_token_lifetimes_are_typed(
    backend: str, wire: Wire, expires: str
) -> None:
    token_reply = '{"access_token": "tok-x", "expires_in": ' + expires + "}"
    tokens = 0

    def handler(call: Any) -> R:
        nonlocal tokens
        if call.path.endswith("/oauth/v1/token"):
            tokens += 1
            return R(200, body=token_reply)
        return R(200, {"conversation_id": CID})

    wire.serve(handler)
    creds = mw.ClientCredentials("id", "secret-item")
    async with client(base_url=BASE, token=None, auth=creds) as c:
        for _ in range(3):
            with pytest.raises(mw.MoveworksError) as caught:
                await c.conversations.get(CID, max_retries=0)
            assert isinstance(caught.value, mw.ResponseValidationError | mw.UnexpectedResponseError)
    assert tokens == 3  # one attempt per call, none cached, nothing else raised


@pytest.mark.parametrize("text", ["\ud800", "ok \udfff tail"])
async def test_item1_lone_surrogate_is_invalid_parameter_before_io(
    backend: str, wire: Wire, text: str
) -> None:
    async with client(base_url=BASE) as c:
        with pytest.raises(mw.InvalidParameterError, match="text"):
            await c.responses.create(CID, text=text)
        with pytest.raises(mw.InvalidParameterError, match="text"):
            c.responses.stream(CID, text=text)
        with pytest.raises(mw.InvalidParameterError, match="title"):
            await c.conversations.create(title=text)
    assert wire.calls == []


@pytest.mark.parametrize("value", [object(), "\ud800", {1j: 2}])
async def test_item1_unencodable_modal_value_is_invalid_parameter(
    backend: str, wire: Wire, value: Any
) -> None:
    async with client(base_url=BASE, api_version="v1") as c:
        with pytest.raises(mw.InvalidParameterError):
            await c.modals.submit(CID, "resp_1", "msg_1", "modal_1", {"field": {"value": value}})
    assert wire.calls == []


# --- item 2: timeout= bounds the whole call ----------------------------------------------


def _reply_for(route: Callable[[bytes], bytes | str]) -> Callable[[int, bytes], bytes | str]:
    return lambda n, head: route(head)


async def test_item2_backoff_never_passes_the_call_timeout(fake_time: Any, wire: Wire) -> None:
    """Fake clock: 503s asking for 3 s each; ``timeout=2`` ends the call at once, in time."""
    wire.always(R(503, {"error": {"code": "UNAVAILABLE"}}, headers={"Retry-After": "3"}))
    async with client(base_url=BASE, clock=fake_time.clock, sleep=fake_time.sleep) as c:
        for timeout in (2, mw.Timeout(total=2)):
            started = fake_time.now
            with pytest.raises(mw.APITimeoutError) as caught:
                await c.conversations.get(CID, timeout=timeout)
            assert caught.value.phase == "total"
            assert type(caught.value) is mw.TotalTimeout
            assert fake_time.now - started <= 2  # before: two ~3.3 s sleeps, then the 503
    assert fake_time.sleeps == []  # no sleep was started that would end past the deadline


async def test_item2_stalled_attempts_and_retries_end_within_100ms() -> None:
    loop = asyncio.get_running_loop()
    async with (
        RawServer(http_loop(lambda n, head: "stall")).running() as server,
        client(base_url=server.url) as c,  # default retries, real clock
    ):
        started = loop.time()
        with pytest.raises(mw.APITimeoutError) as caught:
            await c.conversations.get(CID, timeout=0.3)
        overshoot = loop.time() - started - 0.3
        with pytest.raises(mw.APITimeoutError) as create:
            await c.responses.create(CID, text="hi", timeout=0.2)
    assert caught.value.phase == "total"
    assert type(caught.value) is mw.TotalTimeout
    assert caught.value.outcome_unknown is False  # a read
    assert create.value.outcome_unknown is True  # the create was on the wire
    assert overshoot < 0.1, overshoot


async def test_item2_token_fetch_obeys_the_calls_timeout() -> None:
    """A token endpoint that never answers: every call ends at its own timeout (was 181 s)."""
    loop = asyncio.get_running_loop()

    def route(head: bytes) -> bytes | str:
        return "stall" if b"/oauth/v1/token" in head else http_reply(200, b"{}")

    async with RawServer(http_loop(_reply_for(route))).running() as server:
        creds = mw.ClientCredentials("id", "secret-item")
        async with client(base_url=server.url, token=None, auth=creds) as c:
            started = loop.time()
            results = await asyncio.gather(
                *[c.conversations.get(CID, timeout=0.3 + 0.05 * (i % 3)) for i in range(12)],
                return_exceptions=True,
            )
            elapsed = loop.time() - started
    assert all(isinstance(r, mw.APITimeoutError) for r in results), results
    assert all(r.phase == "total" for r in results if isinstance(r, mw.APITimeoutError))
    assert elapsed < 0.4 + 0.1, elapsed


async def test_item2_failed_refresh_fails_its_waiters_at_once() -> None:
    reply = http_reply(400, b'{"code":"invalid_client","message":"unknown client"}')

    def route(head: bytes) -> bytes | str:
        return reply if b"/oauth/v1/token" in head else http_reply(200, b"{}")

    async with RawServer(http_loop(_reply_for(route))).running() as server:
        creds = mw.ClientCredentials("id", "secret-item")
        # A governor without a slow-start window: all 20 calls need the token at once.
        governor = mw.RateGovernor(adaptive=False)
        async with client(base_url=server.url, token=None, auth=creds, governor=governor) as c:
            results = await asyncio.gather(
                *[c.conversations.get(CID, timeout=5) for _ in range(20)],
                return_exceptions=True,
            )
    assert all(isinstance(r, mw.BadRequestError) for r in results), results
    assert server.requests == 1  # one refresh for the whole wave, not one per waiting call


async def test_item2_abandoned_refresh_is_taken_over_by_a_waiter() -> None:
    """The call that started the refresh times out; a waiter with more time refreshes."""
    tokens = 0

    def route(head: bytes) -> bytes | str:
        nonlocal tokens
        if b"/oauth/v1/token" in head:
            tokens += 1
            if tokens == 1:
                return "stall"
            return http_reply(200, b'{"access_token":"tok-fresh","expires_in":3600}')
        return http_reply(200, json.dumps(conversation(CID)).encode())

    async with RawServer(http_loop(_reply_for(route))).running() as server:
        creds = mw.ClientCredentials("id", "secret-item")
        async with client(base_url=server.url, token=None, auth=creds) as c:
            first = asyncio.ensure_future(c.conversations.get(CID, timeout=0.2))
            await asyncio.sleep(0.05)
            second = asyncio.ensure_future(c.conversations.get(CID, timeout=5))
            with pytest.raises(mw.APITimeoutError):
                await first
            conv = await second
    assert conv.conversation_id == "conv_1"
    assert tokens == 2


async def test_item2_governor_wait_counts_against_the_timeout() -> None:
    loop = asyncio.get_running_loop()
    reply = http_reply(429, b"{}", extra="Retry-After: 20\r\n")
    async with (
        RawServer(http_loop(lambda n, head: reply)).running() as server,
        client(base_url=server.url) as c,
    ):
        with pytest.raises(mw.RateLimitError):
            await c.conversations.get(CID, max_retries=0)  # pauses the governor 20 s
        started = loop.time()
        with pytest.raises(mw.APITimeoutError) as caught:
            await c.responses.create(CID, text="hi", timeout=0.2)
        elapsed = loop.time() - started
    assert caught.value.outcome_unknown is False  # never left the governor
    assert server.requests == 1
    assert elapsed < 0.2 + 0.1, elapsed


# --- item 3: decompression yields to the loop and counts comment bytes ----------------------


@functools.cache
def comment_bomb(megabytes: int) -> bytes:
    """A gzip body of ``megabytes`` MiB of keep-alive comments (about 1/1000 of that sent)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b":\n\n" * (349_525)  # 1 MiB of comments, each its own (empty) event
    out = [z.compress(block) for _ in range(megabytes)]
    out.append(z.flush())
    return b"".join(out)


async def consume(stream: Any) -> None:
    async with stream:
        async for _ in stream:
            pass


def _gzip_stream_server(body: bytes, **kw: Any) -> Any:
    return scripted([body], headers={"Content-Encoding": "gzip"}, **kw)


async def test_item3_comment_bomb_hits_the_byte_budget_and_yields_every_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moveworks_async import _transport

    seen: list[tuple[int, int, bool]] = []  # (loop turns, bytes out, pending before the call)
    original = _transport._Inflater.inflate

    def spy(self: Any, data: bytes, limit: int = _transport._INFLATE_STEP) -> Any:
        pending = self.pending and not data
        out, error = original(self, data, limit)
        seen.append((turns[0], len(out), pending))
        return out, error

    monkeypatch.setattr(_transport._Inflater, "inflate", spy)
    with loop_turns() as turns:
        async with (
            _gzip_stream_server(comment_bomb(64)) as (_, c),
            c.responses.stream(CID, text="hi", max_event_size=1024 * 1024) as stream,
        ):
            with pytest.raises(mw.StreamProtocolError, match="without an event"):
                async for _ in stream:
                    pass
    inflated = sum(size for _, size, _ in seen)
    assert inflated <= 1024 * 1024 + 2 * _transport._INFLATE_STEP  # the budget, not 64 MiB
    assert max(size for _, size, _ in seen) <= 64 * 1024
    # Every step that only worked off left-over input ran after a turn of the loop.
    for (before, _, _), (after, _, pending) in itertools.pairwise(seen):
        if pending:
            assert after > before


@pytest.mark.real_time_timers(
    "the deadline passes during CPU-bound inflating, which a virtual clock does not count"
)
async def test_item3_deadline_fires_while_inflating_a_bomb() -> None:
    loop = asyncio.get_running_loop()
    async with _gzip_stream_server(comment_bomb(256)) as (_, c):
        started = loop.time()
        with pytest.raises(mw.APITimeoutError) as caught:
            await consume(c.responses.stream(CID, text="hi", deadline=0.5, max_event_size=2**31))
        elapsed = loop.time() - started
    assert caught.value.phase == "deadline"
    assert type(caught.value) is mw.DeadlineTimeout
    assert elapsed < 5.0  # 19 s before the fix; the bound is loose for a loaded machine


# --- item 4: peak memory of a reply stays near its cap --------------------------------------


async def test_item4_gzip_bomb_error_body_on_a_stream_stays_small() -> None:
    from moveworks_async import _transport

    z = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = b"".join([z.compress(b"\0" * (1024 * 1024)) for _ in range(64)] + [z.flush()])
    async with _gzip_stream_server(bomb, status=500, content_type="application/json") as (_, c):
        tracemalloc.start()
        try:
            with pytest.raises(mw.InternalServerError) as caught:
                async with c.responses.stream(CID, text="hi"):
                    pass
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert caught.value.status_code == 500
    # Before: +101 MB (the 32 MiB cap plus two copies). Now: the error-body cap and change.
    assert peak < 2 * _transport.MAX_ERROR_BODY + 4 * 1024 * 1024, peak


_ONE_REPLY_SERVER = """
import socket, sys
body = open(sys.argv[1], "rb").read()
head = b"HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: %d\\r\\n\\r\\n"
with socket.create_server(("127.0.0.1", 0)) as server:
    print(server.getsockname()[1], flush=True)
    conn, _ = server.accept()
    with conn:
        data = b""
        while b"\\r\\n\\r\\n" not in data:
            data += conn.recv(65536)
        conn.sendall(head % len(body) + body)
        conn.recv(1)
"""


async def test_item4_large_body_is_read_without_a_second_copy(tmp_path: Any) -> None:
    # The server runs in another process: its buffers must not count in this one's peak.
    size = 24 * 1024 * 1024
    body = b'{"conversation_id": "conv_1", "pad": "' + b"x" * size + b'"}'
    path = tmp_path / "body.json"
    path.write_bytes(body)
    del body
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _ONE_REPLY_SERVER, str(path), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        port = int((await proc.stdout.readline()).decode())
        async with client(base_url=f"http://127.0.0.1:{port}") as c:
            tracemalloc.start()
            try:
                reply = await c._request(mw_request("GET", "/rest/v1beta1/conversations/conv_1"))
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            length = len(reply.body)
            del reply
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    assert length == path.stat().st_size
    # The body once (one buffer of its exact size) plus chunks; aiohttp's read() joined a list,
    # two copies at its peak.
    assert peak < length + 4 * 1024 * 1024, peak


# --- item 5: ResponseStream.__del__ never raises --------------------------------------------


async def test_item5_rejected_stream_arguments_leave_no_unraisable() -> None:
    unraisable: list[Any] = []
    saved = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        async with client(base_url=BASE) as c:
            for kwargs in ({"text": ""}, {"text": "hi", "idle_timeout": -1}, {"text": None}):
                with pytest.raises(mw.InvalidParameterError):
                    c.responses.stream(CID, **kwargs)
            with pytest.raises(mw.InvalidParameterError):
                c.responses.stream("", text="hi")
            gc.collect()
    finally:
        sys.unraisablehook = saved
    assert unraisable == []


# --- item 6: no exception keeps a reply body alive ------------------------------------------


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in out:
        out.append(current)
        current = current.__cause__ or current.__context__
    return out


async def test_item6_non_json_replies_keep_no_body_in_the_chain(backend: str, wire: Wire) -> None:
    marker = "BODY-MARKER-" + "z" * 1000
    wire.always(R(200, body="{not json " + marker))
    async with client(base_url=BASE) as c:
        with pytest.raises(mw.UnexpectedResponseError) as caught:
            await c.conversations.get(CID, max_retries=0)
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None
    # The token reply (it holds the access token) too.
    wire.always(R(200, body='{"access_token": "tok-SECRET-abcdef", oops'))
    creds = mw.ClientCredentials("id", "secret-item")
    async with client(base_url=BASE, token=None, auth=creds) as c:
        with pytest.raises(mw.UnexpectedResponseError) as token_error:
            await c.conversations.get(CID, max_retries=0)
    for exc in _chain(token_error.value):
        assert "tok-SECRET" not in repr(exc.args) + repr(vars(exc))
    assert token_error.value.__context__ is None


async def test_item6_bad_stream_data_keeps_no_decoder_error(backend: str) -> None:
    script = [
        event("RESPONSE_CREATED", 1, response=response_json("CREATED")),
        b"event: RESPONSE_OUTPUT_DELTA\ndata: {broken BODY-MARKER\n\n",
    ]
    async with scripted(script) as (_, c), c.responses.stream(CID, text="hi") as stream:
        with pytest.raises(mw.StreamProtocolError) as caught:
            async for _ in stream:
                pass
    assert _chain(caught.value) == [caught.value]


# --- item 7: the client's credentials are masked in server text -----------------------------


async def test_item7_echoed_bearer_and_secret_are_masked(
    wire: Wire, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="moveworks_async")
    bearer = "tok-CANARY-echo-1234567890"

    def echo(call: Any) -> R:
        sent = call.headers.get("Authorization", "")
        text = f"debug: you sent {sent} and body {call.data!r}"
        return R(500, {"error": {"code": "INTERNAL", "message": text}})

    wire.serve(echo)
    async with client(base_url=BASE, token=bearer) as c:
        with pytest.raises(mw.InternalServerError) as caught:
            await c.conversations.get(CID, max_retries=0)
    exc = caught.value
    assert "<redacted>" in exc.message
    everything = str(exc) + repr(exc.args) + repr(exc.body) + exc.message + caplog.text
    assert bearer not in everything
    # The client secret echoed by the token endpoint.
    secret = "client-SECRET-0987654321"
    wire.serve(lambda call: R(400, {"code": "BAD", "message": f"bad form {call.data!r}"}))
    creds = mw.ClientCredentials("id", secret)
    async with client(base_url=BASE, token=None, auth=creds) as c:
        with pytest.raises(mw.BadRequestError) as bad:
            await c.conversations.get(CID, max_retries=0)
    assert secret not in str(bad.value) + repr(bad.value.body) + caplog.text
    assert "<redacted>" in bad.value.message


async def test_item7_stream_error_event_echoing_the_bearer_is_masked() -> None:
    script = [
        event("RESPONSE_CREATED", 1, response=response_json("CREATED")),
        event("ERROR", 2, error={"code": "BOOM", "message": "you sent Bearer test-token"}),
    ]
    async with scripted(script) as (_, c), c.responses.stream(CID, text="hi") as stream:
        with pytest.raises(mw.StreamError) as caught:
            async for _ in stream:
                pass
    assert "test-token" not in str(caught.value)
    assert "<redacted>" in caught.value.message


# --- item 8: every error after a create may have reached the server is outcome_unknown ------


@pytest.mark.parametrize(
    "reply",
    [
        R(200, body="<html>hi</html>", content_type="text/html"),
        R(200, body="{not json"),
        R(200, {"unexpected": "shape"}),
    ],
)
async def test_item8_create_with_unreadable_2xx_is_outcome_unknown(wire: Wire, reply: R) -> None:
    wire.always(reply)
    async with client(base_url=BASE) as c:
        with pytest.raises(mw.APIError) as caught:
            await c.responses.create(CID, text="hi")
        assert caught.value.outcome_unknown is True
        # A read is not a create: nothing to be unsure about.
        with pytest.raises(mw.APIError) as read:
            await c.conversations.get(CID, max_retries=0)
        assert read.value.outcome_unknown is False


async def test_item8_stream_create_with_unreadable_2xx_is_outcome_unknown() -> None:
    async with scripted([b"<html></html>"], content_type="text/html") as (_, c):
        with pytest.raises(mw.UnexpectedResponseError) as caught:
            async with c.responses.stream(CID, text="hi"):
                pass
    assert caught.value.outcome_unknown is True
    script = [b"event: RESPONSE_CREATED\ndata: {broken\n\n"]
    async with scripted(script) as (_, c), c.responses.stream(CID, text="hi") as stream:
        with pytest.raises(mw.StreamProtocolError) as bad:
            async for _ in stream:
                pass
    assert bad.value.outcome_unknown is True


# --- item 9: promises the suite did not check -----------------------------------------------


@pytest.fixture
def unclosed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Responses that reached aiohttp's ``__del__`` still open (its ``__del__`` releases the
    connection quietly, which hid a missing ``close()`` from every other test)."""
    import aiohttp

    found: list[str] = []
    original = aiohttp.ClientResponse.__del__

    def spy(self: aiohttp.ClientResponse, *args: Any) -> None:
        if not self._closed and self._connection is not None:
            found.append(f"{self.method} {self.url.path} {self.status}")
        original(self, *args)

    monkeypatch.setattr(aiohttp.ClientResponse, "__del__", spy)
    return found


async def test_item9_non_2xx_stream_reply_is_closed_not_left_to_gc(unclosed: list[str]) -> None:
    # Longer than the error body read (64 KiB), and the server keeps the body open: the
    # connection is only let go if the SDK closes the reply.
    body = b'{"error": {"code": "INTERNAL", "message": "' + b"x" * 200_000 + b'"}}'
    script = [body[:100_000], 30.0]
    async with scripted(script, status=500, content_type="application/json") as (_, c):
        for _ in range(3):
            with pytest.raises(mw.InternalServerError):
                async with c.responses.stream(CID, text="hi"):
                    pass
            assert acquired(c) == 0
        gc.collect()
    assert unclosed == []


async def test_item9_failed_stream_closes_its_reply_at_once(unclosed: list[str]) -> None:
    script = [
        event("RESPONSE_CREATED", 1, response=response_json("CREATED")),
        b"event: RESPONSE_OUTPUT_DELTA\ndata: {broken\n\n",
        30.0,  # the server would keep the connection open
    ]
    async with scripted(script) as (_, c), c.responses.stream(CID, text="hi") as stream:
        with pytest.raises(mw.StreamProtocolError):
            async for _ in stream:
                pass
        # Still inside "async with": the failure itself let the connection go.
        assert acquired(c) == 0
    gc.collect()
    assert unclosed == []


async def test_item9_stream_closed_mid_way_leaves_nothing_to_gc(unclosed: list[str]) -> None:
    script = [event("RESPONSE_CREATED", 1, response=response_json("CREATED")), 30.0]
    async with scripted(script) as (_, c):
        async with c.responses.stream(CID, text="hi") as stream:
            await stream.__anext__()
            assert acquired(c) == 1
        assert acquired(c) == 0
        gc.collect()
    assert unclosed == []


async def test_item9_late_401_for_an_old_token_keeps_the_fresh_one() -> None:
    issued = 0

    async def fetch(url: str, form: Any) -> Any:
        nonlocal issued
        issued += 1
        return {"access_token": f"tok-{issued}", "expires_in": 3600}

    creds = mw.ClientCredentials("id", "secret-item")
    source = creds.bind(fetch, BASE)
    assert await source.get_token() == "tok-1"
    assert source.invalidate("tok-1") is True  # the server rejected tok-1
    assert await source.get_token() == "tok-2"
    # A reply to a request sent with tok-1 arrives late: tok-2 must survive it.
    assert source.invalidate("tok-1") is True
    assert await source.get_token() == "tok-2"
    assert issued == 2
    assert creds.refreshes == 2
