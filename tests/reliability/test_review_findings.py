"""Regression tests of the adversarial review of issue 12 (review items numbered as in its report).

Each failed before its fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Iterator
from typing import Any

import pytest
from _core_support import BASE, R, Wire, black_hole
from aioresponses import aioresponses

import moveworks_async as mw
from moveworks_async import _json

CID = "conv_1"
BIG = 10**400  # an int a float cannot hold


@pytest.fixture
def wire() -> Iterator[Wire]:
    with aioresponses() as mock:
        yield Wire(mock)


def client(**kw: Any) -> mw.AsyncMoveworks:
    kw.setdefault("token", "tok-review")
    return mw.AsyncMoveworks(assistant_name="acme", **kw)


# --- review 7: ints too large for a float are InvalidParameterError, not OverflowError -------


@pytest.mark.asyncio
async def test_review7_huge_int_timeouts_are_invalid_parameter(wire: Wire) -> None:
    wire.always(R(200, {"conversation_id": CID}))
    with pytest.raises(mw.InvalidParameterError):
        mw.Timeout(total=BIG)
    with pytest.raises(mw.InvalidParameterError):
        client(base_url=BASE, timeout=BIG)
    async with client(base_url=BASE) as c:
        with pytest.raises(mw.InvalidParameterError):
            await c.conversations.get(CID, timeout=BIG)
        with pytest.raises(mw.InvalidParameterError):
            c.with_options(timeout=BIG)
        with pytest.raises(mw.InvalidParameterError):
            await c.responses.wait(CID, "resp_1", timeout=BIG)
        for name in ("deadline", "first_event_timeout", "idle_timeout", "recover_timeout"):
            with pytest.raises(mw.InvalidParameterError):
                async with c.responses.stream(CID, text="x", **{name: BIG}):
                    pass
    assert not wire.calls


# --- review 1: the depth check is bounded in memory and exits early --------------------------


@pytest.mark.parametrize(
    "doc",
    [b"[" * 4_000_000, b"[" * 100 + b"[]" * 2_000_000 + b"]" * 100, "[" * 4_000_000],
    ids=["deep-bytes", "shallow-bytes", "deep-str"],
)
def test_review1_depth_check_uses_bounded_memory(doc: bytes | str) -> None:
    import tracemalloc

    deep = doc.startswith(b"[[[" if isinstance(doc, bytes) else "[[[") and len(set(doc)) == 1
    tracemalloc.start()
    try:
        if deep:
            with pytest.raises(ValueError, match="nested deeper"):
                _json._check_bounds(doc)
        else:
            _json._check_bounds(doc)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Before: a list of one int per bracket (tens of MB); a str is encoded once (its size).
    limit = 1024 * 1024 + (len(doc) if isinstance(doc, str) else 0) * 11 // 10
    assert peak < limit


def test_review1_depth_check_is_exact_at_the_limit() -> None:
    limit = _json.MAX_DEPTH
    _json._check_bounds(b"[" * limit + b"]" * limit)
    _json._check_bounds((b"[" * limit + b"]" * limit) * 300)  # spans chunks
    _json._check_bounds(b"[" * 100 + b"[[[]]]" * 50_000 + b"]" * 100)
    with pytest.raises(ValueError):
        _json._check_bounds(b"[]" * 70_000 + b"[" * (limit + 1) + b"]" * (limit + 1))
    with pytest.raises(ValueError):
        _json._check_bounds(b"{" * 30_000 + b'"' + b"a" * 70_000)
    # Brackets inside strings do not count.
    _json._check_bounds(b'["' + b"[" * 70_000 + b'"]')


# --- review 3: no traceback frame keeps a reply body alive -----------------------------------


def _holds(exc: BaseException, marker: str) -> list[str]:
    """Where the frames of ``exc``'s traceback (and its chain's) hold ``marker``."""
    import gc
    import types

    hits: list[str] = []
    seen: set[int] = set()

    def visit(obj: object, where: str, depth: int) -> None:
        if id(obj) in seen or depth > 6:
            return
        seen.add(id(obj))
        if isinstance(obj, str | bytes | bytearray):
            text = obj if isinstance(obj, str) else bytes(obj).decode("latin-1")
            if marker in text:
                hits.append(where)
            return
        if isinstance(obj, types.ModuleType | type | types.FunctionType | types.CodeType):
            return
        for ref in gc.get_referents(obj):
            visit(ref, where, depth + 1)

    current: BaseException | None = exc
    while current is not None:
        tb = current.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            if frame.f_globals.get("__name__", "").startswith("moveworks_async"):
                for name, value in frame.f_locals.items():
                    if name in ("self", "c", "client", "credentials"):
                        continue  # objects the caller holds anyway (the client, its secret)
                    visit(value, f"{frame.f_code.co_name}.{name}", 0)
            tb = tb.tb_next
        current = current.__cause__ or current.__context__
    return hits


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "reply",
    [
        R(200, body="{not json BODY-MARK" + "x" * 5000),
        R(200, body="<html>BODY-MARK</html>", content_type="text/html"),
        R(200, {"conversation_id": 5, "pad": "BODY-MARK"}),
        R(500, {"error": {"code": "X", "message": "m"}, "pad": "BODY-MARK" + "x" * 5000}),
    ],
)
async def test_review3_no_frame_of_an_error_keeps_the_body(wire: Wire, reply: R) -> None:
    wire.always(reply)
    async with client(base_url=BASE) as c:
        with pytest.raises(mw.APIError) as caught:
            await c.conversations.get(CID, max_retries=0)
    assert _holds(caught.value, "BODY-MARK") == []


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "body",
    [
        '{"access_token": "tok-SECRET-abcdef", "expires_in": "x"}',
        '{"access_token": "tok-SECRET-abcdef", oops',
    ],
)
async def test_review3_no_frame_keeps_the_token_reply_or_secret(wire: Wire, body: str) -> None:
    wire.always(R(200, body=body))
    creds = mw.ClientCredentials("id", "client-SECRET-xyz")
    async with client(base_url=BASE, token=None, auth=creds) as c:
        with pytest.raises(mw.APIError) as caught:
            await c.conversations.get(CID, max_retries=0)
    assert _holds(caught.value, "tok-SECRET") == []
    assert _holds(caught.value, "client-SECRET") == []


@pytest.mark.asyncio
async def test_review3_bad_stream_delta_keeps_no_event_data() -> None:
    from _stream_support import event, response_json, scripted

    script = [
        event("RESPONSE_CREATED", 1, response=response_json("CREATED")),
        event("RESPONSE_OUTPUT_DELTA", 2, output={"type": "MESSAGE", "message": {"p": "EV-MARK"}}),
    ]
    async with scripted(script) as (_, c), c.responses.stream(CID, text="hi") as stream:
        with pytest.raises(mw.ResponseValidationError) as caught:
            async for _ in stream:
                pass
    assert caught.value.__context__ is None
    assert _holds(caught.value, "EV-MARK") == []


# --- review 4: masking covers the common encodings of an echoed credential -------------------

_TOKEN = "CANARY+tok/Zq9x7Wv3K2mP8rT5yB1nL4=="


def _u_escaped(text: str) -> str:
    return "".join(f"\\u{ord(ch):04x}" for ch in text)


def _echoes() -> list[tuple[str, R]]:
    import base64
    from urllib.parse import quote

    def err(message: str) -> str:
        return '{"code": "X", "message": "' + message + '", "debug": ["' + message + '"]}'

    return [
        ("u-escaped", R(500, body=err(_u_escaped("Bearer " + _TOKEN)))),
        ("lower", R(500, body=err("bearer " + _TOKEN.lower()))),
        ("upper", R(500, body=err("BEARER " + _TOKEN.upper()))),
        ("percent", R(500, body=err("Bearer " + quote(_TOKEN, safe="")))),
        ("base64", R(500, body=err(base64.b64encode(_TOKEN.encode()).decode()))),
        (
            "base64-bearer",
            R(500, body=err(base64.b64encode(("Bearer " + _TOKEN).encode()).decode())),
        ),
        (
            "html-entities",
            R(
                500,
                body="<pre>" + _TOKEN.replace("+", "&#43;").replace("/", "&#x2F;") + "</pre>",
                content_type="text/html",
            ),
        ),
        ("request-id", R(404, body=err("m"), headers={"x-trace-id": _TOKEN})),
    ]


@pytest.mark.asyncio
@pytest.mark.parametrize("reply", [r for _, r in _echoes()], ids=[n for n, _ in _echoes()])
async def test_review4_encoded_echoes_of_the_bearer_are_masked(
    wire: Wire, reply: R, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG, logger="moveworks_async")
    wire.always(reply)
    async with client(base_url=BASE, token=_TOKEN) as c:
        with pytest.raises(mw.APIStatusError) as caught:
            await c.conversations.get(CID, max_retries=0)
    exc = caught.value
    shown = [str(exc), repr(exc.args), repr(exc.body), repr(exc.headers), str(exc.request_id)]
    everything = " ".join([*shown, caplog.text])
    assert "Zq9x7Wv3K2mP8rT5yB1nL4" not in everything
    assert "Zq9x7Wv3K2mP8rT5yB1nL4".lower() not in everything.lower()
    assert "<redacted>" in everything


def test_review4_mask_text_leaves_other_text_alone() -> None:
    from moveworks_async._protocol import mask_text

    text = "ordinary text 100% & more &amp; nothing secret"
    assert mask_text(text, (_TOKEN,)) == text


# --- review 10: the server's bad token is an APIError; misuse is a ClientStateError ----------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "token", ["tok\r\nX-Evil: 1", "tok\x00nul", "tök-non-ascii", "t" * (17 * 1024)]
)
async def test_review10_unsendable_access_token_is_a_response_error(wire: Wire, token: str) -> None:
    wire.always(R(200, {"access_token": token, "expires_in": 3600}))
    creds = mw.ClientCredentials("id", "secret-review")
    async with client(base_url=BASE, token=None, auth=creds) as c:
        with pytest.raises(mw.ResponseValidationError) as caught:
            await c.conversations.get(CID, max_retries=0)
    assert not isinstance(caught.value, mw.InvalidParameterError)
    assert caught.value.__context__ is None


@pytest.mark.asyncio
async def test_review10_misuse_is_a_client_state_error() -> None:
    from _stream_support import event, response_json, scripted

    assert issubclass(mw.ClientStateError, mw.MoveworksError)
    assert issubclass(mw.ClientStateError, RuntimeError)
    c = client(base_url=BASE)
    await c.aclose()
    with pytest.raises(mw.ClientStateError):
        await c.conversations.get(CID)
    script = [event("RESPONSE_CREATED", 1, response=response_json("CREATED"))]
    async with scripted(script) as (_, c2):
        stream = c2.responses.stream(CID, text="hi")
        with pytest.raises(mw.ClientStateError):
            async for _ in stream:
                pass
        async with stream:
            pass
        with pytest.raises(mw.ClientStateError):
            async with stream:
                pass


# --- review 8: every error after the server may have got a create is outcome_unknown ---------


@pytest.mark.asyncio
async def test_review8_create_answered_over_the_body_cap_is_outcome_unknown(
    wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moveworks_async import _transport

    monkeypatch.setattr(_transport, "MAX_BODY", 1000)
    wire.always(R(200, body='{"pad": "' + "x" * 5000 + '"}'))
    async with client(base_url=BASE) as c:
        with pytest.raises(mw.UnexpectedResponseError) as caught:
            await c.responses.create(CID, text="hi")
        assert caught.value.outcome_unknown is True
        with pytest.raises(mw.UnexpectedResponseError) as read:
            await c.conversations.get(CID, max_retries=0)
        assert read.value.outcome_unknown is False


@pytest.mark.asyncio
async def test_review8_create_answered_with_an_odd_5xx_is_outcome_unknown(wire: Wire) -> None:
    wire.always(R(999, {"error": {"code": "X", "message": "odd"}}))
    async with client(base_url=BASE) as c:
        with pytest.raises(mw.InternalServerError) as caught:
            await c.responses.create(CID, text="hi")
        assert caught.value.outcome_unknown is True
        with pytest.raises(mw.InternalServerError) as read:
            await c.conversations.get(CID, max_retries=0)
        assert read.value.outcome_unknown is False


@pytest.mark.asyncio
@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip"])
async def test_review8_stream_create_with_an_undecodable_encoding_is_outcome_unknown(
    encoding: str,
) -> None:
    from _stream_support import event, response_json, scripted

    script = [event("RESPONSE_CREATED", 1, response=response_json("CREATED"))]
    async with scripted(script, headers={"Content-Encoding": encoding}) as (_, c):
        with pytest.raises(mw.APIError) as caught:
            async with c.responses.stream(CID, text="hi") as stream:
                async for _ in stream:
                    pass
    assert caught.value.outcome_unknown is True


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_review8_stream_deadline_spent_on_the_token_is_not_outcome_unknown() -> None:
    async with black_hole() as (url, seen):
        creds = mw.ClientCredentials("id", "secret-review", token_url=url + "/oauth/v1/token")
        async with client(base_url=url, token=None, auth=creds) as c:
            loop = asyncio.get_running_loop()
            started = loop.time()  # virtual: the 30 s pass without waiting
            with pytest.raises(mw.DeadlineTimeout) as caught:
                async with c.responses.stream(CID, text="hi", deadline=30.0):
                    pass
            assert loop.time() - started == pytest.approx(30.0, abs=0.01)
    assert caught.value.outcome_unknown is False
    assert seen
    assert all(b"/oauth/" in line for line in seen)


# --- review 2: a stream's token fetch obeys first_event_timeout ------------------------------


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_review2_token_fetch_of_a_stream_obeys_first_event_timeout() -> None:
    async with black_hole() as (url, seen):
        creds = mw.ClientCredentials("id", "secret-review", token_url=url + "/oauth/v1/token")
        async with client(base_url=url, token=None, auth=creds) as c:

            async def open_stream() -> None:
                async with c.responses.stream(CID, text="hi", first_event_timeout=5.0):
                    pass

            loop = asyncio.get_running_loop()
            started = loop.time()  # virtual time
            with pytest.raises(mw.APITimeoutError) as caught:
                # Before: the client's default timeout and retries (minutes); the guard fails.
                await asyncio.wait_for(open_stream(), 10)
            assert loop.time() - started == pytest.approx(5.0, abs=0.01)
    assert caught.value.phase == "first_event"
    assert caught.value.outcome_unknown is False
    assert all(b"/oauth/" in line for line in seen)


# --- review 6: a failed refresh fails every caller at once under the default governor --------


@pytest.mark.asyncio
async def test_review6_failed_refresh_fails_all_callers_with_the_default_governor() -> None:
    from _core_support import RawServer, http_loop, http_reply

    refused = http_reply(400, b'{"code":"invalid_client","message":"unknown client"}')

    def reply(n: int, head: bytes) -> bytes:
        return refused if b"/oauth/v1/token" in head else http_reply(200, b"{}")

    async with RawServer(http_loop(reply)).running() as server:
        creds = mw.ClientCredentials("id", "secret-review")
        # The default governor admits a slow-start window at a time: 50 calls exceed it, and
        # each admitted batch used to start a refresh of its own.
        async with client(base_url=server.url, token=None, auth=creds) as c:
            results = await asyncio.gather(
                *[c.conversations.get(CID, timeout=5) for _ in range(50)],
                return_exceptions=True,
            )
    assert all(isinstance(r, mw.BadRequestError) for r in results), results
    assert server.requests == 1


# --- review 5: an event flood lets the loop run and cannot outrun the deadline ---------------

_FLOOD = b"event: X_UNKNOWN\ndata: {}\n\n" * 6000  # buffered at once: no read waits


@pytest.mark.asyncio
async def test_review5_buffered_events_give_the_loop_a_turn() -> None:
    from _stream_support import event, response_json, scripted

    ticks = 0
    running = True

    async def ticker() -> None:
        nonlocal ticks
        while running:
            ticks += 1
            await asyncio.sleep(0)

    script = [event("RESPONSE_CREATED", 1, response=response_json("CREATED")), _FLOOD]
    async with scripted(script) as (_, c), c.responses.stream(CID, text="hi") as stream:
        seen = 0
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        start = ticks
        with contextlib.suppress(mw.APIError):
            async for _ in stream:
                seen += 1
                if seen == 6001:
                    break
        running = False
        await task
    # One turn per 256 events at least (before: none while the buffer lasted).
    assert ticks - start >= seen // 256 - 1 > 10


@pytest.mark.asyncio
@pytest.mark.virtual_time
async def test_review5_deadline_passed_during_a_flood_ends_the_stream() -> None:
    from _stream_support import event, response_json, scripted

    script = [event("RESPONSE_CREATED", 1, response=response_json("CREATED")), _FLOOD]
    async with scripted(script) as (_, c):
        async with c.responses.stream(CID, text="hi", deadline=3600, recover=False) as stream:
            seen = 0
            with pytest.raises(mw.APITimeoutError) as caught:
                async for _ in stream:
                    seen += 1
                    if seen == 300:
                        # The deadline passes while the loop never had a turn to run a timer.
                        assert stream._m.deadline_at is not None
                        stream._m.deadline_at = -math.inf
    assert caught.value.phase == "deadline"
    assert seen < 300 + 2 * 256  # before: every buffered event (6,000) was handed out


# --- review 12: the CLI's ask --timeout bounds the create too --------------------------------


def test_review12_cli_ask_timeout_bounds_a_create_that_is_never_answered() -> None:
    import os
    import shutil
    import socket
    import subprocess
    import sys
    import threading
    from pathlib import Path

    script = shutil.which("moveworks-async") or str(Path(sys.executable).parent / "moveworks-async")
    if not os.access(script, os.X_OK):
        pytest.skip("the moveworks-async console script is not installed")
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:  # a black hole: connections are accepted and never answered
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOVEWORKS_")}
    env.update(
        MOVEWORKS_BASE_URL=f"http://127.0.0.1:{listener.getsockname()[1]}",
        MOVEWORKS_TOKEN="tok-review-cli",
        MOVEWORKS_ASSISTANT_NAME="acme",
    )
    try:
        # Before: the create used the client's default timeout and retries (over 60 s).
        done = subprocess.run(
            [script, "ask", "--timeout", "1", "hello"],
            capture_output=True,
            text=True,
            env=env,
            timeout=30,
        )
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "timeout" in done.stderr.lower()


# --- review 11: a large request body is sent whole, without aiohttp's ResourceWarning --------


@pytest.mark.asyncio
async def test_review11_large_text_is_sent_whole_without_a_resource_warning() -> None:
    import json
    import warnings

    from _core_support import RawServer, http_reply
    from _stream_support import response_json

    bodies: list[bytes] = []

    async def handler(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.partition(b":")[2])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        bodies.append(await reader.readexactly(length))
        writer.write(http_reply(200, json.dumps(response_json("CREATED")).encode()))
        await writer.drain()

    text = "a" * 1_100_000  # over aiohttp's 1 MiB "large body" threshold
    async with RawServer(handler).running() as server:
        async with client(base_url=server.url) as c:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                await c.responses.create(CID, text=text)
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert len(bodies) == 1
    assert bodies[0].count(b"a") >= len(text)  # the whole text arrived


# --- review 9: both JSON backends accept and refuse the same documents -----------------------


def _stdlib_loads() -> Any:
    import importlib.util
    import sys

    saved = sys.modules.get("orjson")
    sys.modules["orjson"] = None  # type: ignore[assignment]  # makes "import orjson" fail
    try:
        spec = importlib.util.spec_from_file_location(
            "moveworks_async._json_review_stdlib", _json.__file__
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["orjson"]
        else:
            sys.modules["orjson"] = saved
    return module.loads


@pytest.mark.parametrize(
    "doc",
    [
        '{"a": 1}'.encode("utf-16"),
        '{"a": 1}'.encode("utf-16-le"),
        '{"a": 1}'.encode("utf-32"),
        b'\xef\xbb\xbf{"a": 1}',
        b'{"a": "\\ud800"}',
        b'{"a": 1e999}',
    ],
    ids=["utf-16", "utf-16-le", "utf-32", "bom", "escaped-surrogate", "1e999"],
)
def test_review9_both_backends_refuse_the_same_documents(doc: bytes) -> None:
    with pytest.raises(ValueError):
        _stdlib_loads()(doc)
    with pytest.raises(ValueError):
        _json.loads(doc)
    if doc.startswith(b"{"):  # a large document takes the stdlib path with orjson too
        with pytest.raises(ValueError):
            _json.loads(doc + b" " * (2 * 1024 * 1024))
