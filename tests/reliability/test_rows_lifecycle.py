"""Fault catalogue rows 44-53 (one ``test_row_NN`` each): cancellation, lifecycle, hostile
input, secrets and TLS. Rows 28, 37 and 49 (the storms and the 10,000-stream soak) are in
test_soak.py."""

from __future__ import annotations

import asyncio
import logging
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _reliability_support import (
    CID,
    OK_GET,
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
from _stream_support import acquired, happy_events, response_json
from faultserver import FaultServer, sse_head

import moveworks_async as mw
from moveworks_async.testing import FakeMoveworks

pytestmark = pytest.mark.asyncio


async def silent(conn: Any, _request: Any) -> bool:
    await conn.hold()
    return False


async def _cancel_after(coro: Any, delay: float) -> BaseException | None:
    task = asyncio.ensure_future(coro)
    await asyncio.sleep(delay)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError as exc:
        return exc
    return None


# --- 44-49: cancellation and lifecycle -----------------------------------------------------------


@pytest.mark.parametrize("where", ["mid-request", "mid-stream", "retry-sleep"])
async def test_row_44_cancellation_propagates_and_leaves_nothing(where: str) -> None:
    """A cancelled call raises CancelledError unchanged, sends nothing more, and its
    connection is closed (not pooled mid-body)."""

    async def trickle_stream(conn: Any, _request: Any) -> bool:
        await conn.send(sse_head() + happy_events()[0])
        await conn.hold()
        return False

    unavailable = reply_json(503, {"error": {"code": "X", "message": "busy"}})
    policy = mw.RetryPolicy(backoff_base=5.0, backoff_cap=5.0)
    async with (
        FaultServer(api(get=[unavailable, OK_GET], create=silent, stream=trickle_stream)) as server,
        client(server.url, retry_policy=policy) as c,
    ):
        # The top of the jitter range: a backoff of ~5 s, so the cancel at 0.1 s lands in it
        # (full jitter once drew 0.06 s and the call completed first: a CI flake).
        c._rng = lambda: 0.99
        if where == "mid-request":
            coro: Any = c.responses.create(CID, text="q")
        elif where == "mid-stream":

            async def read() -> None:
                async with c.responses.stream(CID, text="q") as s:
                    async for _ in s:
                        pass

            coro = read()
        else:
            coro = c.conversations.get(CID)
        cancelled = await _cancel_after(coro, 0.1)
        assert isinstance(cancelled, asyncio.CancelledError)
        sent = len(server.requests)
        await asyncio.sleep(0.1)
        assert len(server.requests) == sent == 1  # nothing after the cancel
        assert acquired(c) == 0
        if where != "retry-sleep":  # there the 503's connection is pooled, as it should be
            assert await server.settle()  # closed, not pooled half-read


async def test_row_44_cancelled_refresh_does_not_strand_other_waiters() -> None:
    """The task whose call started the token refresh is cancelled: the other tasks waiting
    for that token still get one (no stuck single-flight)."""
    calls = 0

    async def slow_token(conn: Any, _request: Any) -> bool:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        await conn.send(token_reply())
        return True

    async with FaultServer(api(token=slow_token, get=OK_GET)) as server:
        async with client(server.url, auth=credentials()) as c:
            first = asyncio.ensure_future(c.conversations.get(CID))
            await asyncio.sleep(0.05)
            others = [asyncio.ensure_future(c.conversations.get(CID)) for _ in range(5)]
            await asyncio.sleep(0.01)
            first.cancel()
            done = await asyncio.wait_for(asyncio.gather(*others), timeout=5)
            assert all(d.conversation_id == CID for d in done)
            with pytest.raises(asyncio.CancelledError):
                await first
        assert calls <= 2


async def test_row_45_double_cancel_never_exhausts_the_pool() -> None:
    """Cancel twice (sleep(0) between) mid-stream, 50 times, on a 5-connection pool: every
    connection comes back; a call afterwards still gets one."""

    async def stream(conn: Any, _request: Any) -> bool:
        await conn.send(sse_head() + happy_events()[0])
        await conn.hold()
        return False

    async with FaultServer(api(stream=stream, get=OK_GET)) as server:
        async with client(server.url, max_connections=5) as c:
            for _ in range(50):

                async def read() -> None:
                    async with c.responses.stream(CID, text="q") as s:
                        async for _ in s:
                            pass

                task = asyncio.ensure_future(read())
                await asyncio.sleep(0.005)
                task.cancel()
                await asyncio.sleep(0)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            assert acquired(c) == 0
            got = await asyncio.wait_for(c.conversations.get(CID), timeout=5)
            assert got.conversation_id == CID
        assert await server.settle()


async def test_row_46_break_closes_the_stream() -> None:
    """``break`` out of ``async with stream``: the connection is closed at once."""

    async def stream(conn: Any, _request: Any) -> bool:
        await conn.send(sse_head() + b"".join(happy_events()[:3]))
        await conn.hold()
        return False

    async with FaultServer(api(stream=stream)) as server, client(server.url) as c:
        async with c.responses.stream(CID, text="q") as s:
            async for _ in s:
                break
        assert acquired(c) == 0
        assert await server.settle()


_LEFT_OPEN = """
import asyncio, gc, sys, warnings
warnings.simplefilter("default")
import moveworks_async as mw
from moveworks_async.testing import FakeMoveworks

async def main():
    server = FakeMoveworks(stream_delay=0)
    await server.start()
    c = mw.AsyncMoveworks(assistant_name="acme-capi", token="test-token", base_url=server.url)
    await c.conversations.create()
    async with c.responses.stream((await c.conversations.create()).conversation_id, text="hi") as s:
        async for _ in s:
            break
    await server.close()
    return c

client = asyncio.run(main())
del client
gc.collect()
print("clean exit")
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "dev", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_row_47_loop_closed_with_client_open() -> None:
    """``asyncio.run`` ends without ``aclose()``: at most a ResourceWarning; no exception from
    ``__del__``, nothing scheduled on the closed loop, a clean interpreter exit."""
    done = await asyncio.to_thread(_run, _LEFT_OPEN)
    assert done.returncode == 0, done.stderr
    assert "clean exit" in done.stdout
    for bad in ("Traceback", "Exception ignored", "Event loop is closed", "never retrieved"):
        assert bad not in done.stderr, done.stderr


async def test_row_48_client_used_from_another_loop() -> None:
    """A client used on a second event loop (another thread): a clear error, no hang."""
    async with (
        FakeMoveworks() as server,
        mw.AsyncMoveworks(assistant_name="acme-capi", token="test-token", base_url=server.url) as c,
    ):
        await c.conversations.create()
        outcome: list[BaseException | None] = []

        def elsewhere() -> None:
            try:
                asyncio.run(asyncio.wait_for(c.conversations.create(), 5))
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=elsewhere)
        thread.start()
        await asyncio.to_thread(thread.join, 10)
    assert outcome, "no hang"
    assert isinstance(outcome[0], RuntimeError | mw.MoveworksError), outcome
    assert "loop" in str(outcome[0]).lower()


# --- 50-53: hostile input, secrets, TLS ----------------------------------------------------------

_CONTROL = ["a\r\nX-Injected: 1", "a\nb", "a\rb", "a\x00b", "a\x7fb"]
_TRAVERSAL = [
    "../admin",
    "..%2F",
    "%2e%2e",
    "a/b",
    "x?y=1",
    "x#f",
    "",
    "a" * 10_000,
    "é",
    ".",
    "..",
]


async def test_row_50_control_characters_rejected_before_io(fake_time: Any) -> None:
    """CR/LF and other controls in the assistant name, an id, the token or a custom header
    value: InvalidParameterError before any I/O, the value not echoed."""
    rejected = total = 0
    async with FaultServer(api(get=OK_GET)) as server:
        for bad in _CONTROL:
            attempts: list[Any] = [
                lambda b=bad: mw.AsyncMoveworks(assistant_name=b, token=TOKEN, base_url=server.url),
                lambda b=bad: mw.AsyncMoveworks(assistant_name="x", token=b, base_url=server.url),
            ]
            for attempt in attempts:
                total += 1
                with pytest.raises(mw.InvalidParameterError) as info:
                    attempt()
                assert bad not in str(info.value)
                rejected += 1
            async with client(server.url, fake_time) as c:
                total += 1
                with pytest.raises(mw.InvalidParameterError) as info:
                    await c.conversations.get(bad)
                assert bad not in str(info.value)
                rejected += 1
        seen = len(server.requests)
    assert seen == 0
    record(
        "S11",
        f"control chars: {rejected}/{total} rejected, {seen} requests",
        "100 %, 0",
        rejected == total and seen == 0,
    )


async def test_row_51_path_tricks_rejected_before_io(fake_time: Any) -> None:
    """``../admin``, ``%2e%2e``, ``a/b``, ``x?y=1``, ``x#f``, empty, 10k chars, non-ASCII:
    rejected before URL building; the server sees nothing."""
    rejected = total = 0
    async with FaultServer(api(get=OK_GET)) as server:
        async with client(server.url, fake_time) as c:
            calls = [
                lambda b: c.conversations.get(b),
                lambda b: c.responses.get(CID, b),
                lambda b: c.responses.create(b, text="q"),
            ]
            for bad in _TRAVERSAL:
                for call in calls:
                    total += 1
                    with pytest.raises(mw.InvalidParameterError):
                        await call(bad)
                    rejected += 1
        seen = len(server.requests)
    assert seen == 0
    record(
        "S11",
        f"path tricks: {rejected}/{total} rejected, {seen} requests",
        "100 %, 0",
        rejected == total and seen == 0,
    )


@pytest.mark.virtual_time
async def test_row_52_canary_in_reprs_logs_and_errors(
    fake_time: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The canary token and secret in no repr of a public object, no DEBUG log line and no
    exception of a failing call (every other row also runs under this watch)."""
    caplog.set_level(logging.DEBUG)
    unavailable = reply_json(500, {"error": {"code": "X", "message": "nope"}})
    async with FaultServer(api(token=token_reply(), get=unavailable)) as server:
        auth = credentials()
        async with client(server.url, fake_time, auth=auth) as c:
            with pytest.raises(mw.InternalServerError) as info:
                await c.conversations.get(CID)
            objects = [
                c,
                auth,
                mw.StaticToken(TOKEN),
                c.governor,
                c.governor.snapshot(),
                c.retry_policy,
                c.timeout,
                c._auth,
            ]
            async with client(server.url, fake_time) as static:
                objects.append(static)
                stream = static.responses.stream(CID, text="q")
                objects.append(stream)
            assert_clean(info.value, *objects)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in text
    assert SECRET not in text
    assert response_json  # the shared payloads are importable here too


def _cert(tmp: Path) -> tuple[Path, Path]:
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=wrong.example",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return key, cert


async def test_row_53_wrong_certificate_is_typed_and_never_plaintext(
    fake_time: Any, tmp_path: Path
) -> None:
    """A server with a self-signed certificate for another name: a typed APIConnectionError,
    no plaintext fallback (the server never sees a request), not retried."""
    key, cert = await asyncio.to_thread(_cert, tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handshakes = 0
    requests = 0

    async def on_conn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal handshakes, requests
        handshakes += 1
        try:
            if await reader.read(1):
                requests += 1
        except (ssl.SSLError, ConnectionError):
            pass
        writer.transport.abort()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        async with client(f"https://127.0.0.1:{port}", fake_time) as c:
            start = time.monotonic()
            with pytest.raises(mw.APIConnectionError) as info:
                await c.conversations.get(CID)
            assert time.monotonic() - start < 5
    finally:
        server.close()
        await server.wait_closed()
    assert requests == 0
    assert "certificate" in str(info.value).lower() or "ssl" in str(info.value).lower()
    assert fake_time.sleeps == []  # not retried: a bad certificate does not heal
    assert_clean(info.value)
    _ = SECRET
