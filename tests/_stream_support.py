"""Helpers of the streaming tests: SSE payload builders, a scripted loopback server for exact
framings, clients wired to a fake clock, and connection accounting."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

import moveworks_async as mw

CID = "conv_stream01"
RID = "resp_stream01"
T0 = "2026-09-25T18:40:42Z"
PREFIX = {"v1beta1": "/rest/v1beta1", "assistant-v1": "/assistant/v1", "v1": "/rest/v1"}


# --- payloads --------------------------------------------------------------------------------


def message_item(text: str, message_id: str = "msg_1") -> dict[str, Any]:
    """A MESSAGE output item (a snapshot of an assistant message)."""
    return {
        "type": "MESSAGE",
        "message": {
            "message_id": message_id,
            "conversation_id": CID,
            "response_id": RID,
            "actor": "ASSISTANT",
            "content": {"type": "COMMONMARK_TEXT", "commonmark_text": {"text": text}},
            "created_at": T0,
        },
    }


def reasoning_item(text: str, reasoning_id: str = "rmsg_1") -> dict[str, Any]:
    """A REASONING_MESSAGE output item."""
    return {
        "type": "REASONING_MESSAGE",
        "reasoning_message": {
            "reasoning_message_id": reasoning_id,
            "conversation_id": CID,
            "response_id": RID,
            "content": {"type": "PLAIN_TEXT", "plain_text": {"text": text}},
            "created_at": T0,
        },
    }


def response_json(
    status: str = "CREATED", outputs: Sequence[dict[str, Any]] = (), **extra: Any
) -> dict[str, Any]:
    """A Response object."""
    return {
        "response_id": RID,
        "conversation_id": CID,
        "status": status,
        "created_at": T0,
        "completed_at": T0 if status in ("COMPLETED", "FAILED") else None,
        "outputs": list(outputs),
        **extra,
    }


def frame(name: str | None, data: Any, *, ending: str = "\n") -> bytes:
    """One SSE frame: ``event: name`` (omitted for None) and one ``data`` line of JSON."""
    body = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    text = (f"event: {name}\n" if name is not None else "") + f"data: {body}\n\n"
    return text.replace("\n", ending).encode()


def event(name: str, seq: int | None, **payload: Any) -> bytes:
    """A frame whose data repeats ``event_type`` and carries ``sequence_number`` as the API does."""
    data: dict[str, Any] = {"event_type": name, **payload}
    if seq is not None:
        data["sequence_number"] = seq
    return frame(name, data)


FINAL_TEXT = "Hello there, this is the answer."
SNAPSHOTS = ("Hello", "Hello there,", FINAL_TEXT)


def happy_events(snapshots: Sequence[str] = SNAPSHOTS) -> list[bytes]:
    """CREATED, IN_PROGRESS, one reasoning delta, message snapshots, COMPLETED."""
    out = [
        event("RESPONSE_CREATED", 1, response=response_json("CREATED")),
        event("RESPONSE_IN_PROGRESS", 2, response=response_json("IN_PROGRESS")),
        event("RESPONSE_OUTPUT_DELTA", 3, output=reasoning_item("Looking it up")),
    ]
    seq = 4
    for text in snapshots:
        out.append(event("RESPONSE_OUTPUT_DELTA", seq, output=message_item(text)))
        seq += 1
    final = [reasoning_item("Looking it up"), message_item(snapshots[-1])]
    out.append(event("RESPONSE_COMPLETED", seq, response=response_json("COMPLETED", final)))
    return out


def completed_response(text: str = FINAL_TEXT) -> dict[str, Any]:
    """What GET returns once the scripted response is done."""
    return response_json("COMPLETED", [reasoning_item("Looking it up"), message_item(text)])


# --- scripted server -------------------------------------------------------------------------

#: A script step: bytes to write, a float to sleep, or "reset" to abort the TCP connection.
Step = bytes | float | str
Script = Sequence[Step] | Callable[[web.StreamResponse, web.Request], Awaitable[None]]


class ScriptServer:
    """A loopback server whose streaming endpoint plays a script (all generations' paths).

    ``GET .../responses/{id}`` answers ``poll_replies`` in turn (the last one repeats; an int is
    that status with an error body), so a
    recovery can be observed exactly. Counts creates, polls and streams whose handler is
    still running (with handler cancellation, a client hang-up ends the handler at once).
    """

    def __init__(
        self,
        script: Script = (),
        *,
        status: int = 200,
        content_type: str = "text/event-stream",
        headers: dict[str, str] | None = None,
        poll_replies: Sequence[dict[str, Any] | int] = (),
    ) -> None:
        self.script = script
        self.status = status
        self.content_type = content_type
        self.headers = headers or {}
        self.poll_replies = list(poll_replies) or [completed_response()]
        self.creates = 0
        self.polls = 0
        self.active = 0
        self.bodies: list[Any] = []
        self.request_headers: list[dict[str, str]] = []
        self.poll_headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self._server: TestServer | None = None

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        self.creates += 1
        self.paths.append(request.path)
        self.bodies.append(await request.json())
        self.request_headers.append(dict(request.headers))
        headers = {"Content-Type": self.content_type, "x-trace-id": "trace-1", **self.headers}
        out = web.StreamResponse(status=self.status, headers=headers)
        self.active += 1
        try:
            await out.prepare(request)
            if callable(self.script):
                await self.script(out, request)
            else:
                for step in self.script:
                    if isinstance(step, bytes):
                        await out.write(step)
                    elif isinstance(step, float | int):
                        await asyncio.sleep(step)
                    elif step == "reset":
                        transport = request.transport
                        assert transport is not None
                        transport.abort()
                        return out
            await out.write_eof()
            return out
        finally:
            self.active -= 1

    async def _poll(self, request: web.Request) -> web.Response:
        reply = self.poll_replies[min(self.polls, len(self.poll_replies) - 1)]
        self.polls += 1
        self.poll_headers.append(dict(request.headers))
        if isinstance(reply, int):  # a status: answered with an error body
            body = {"error": {"code": "ERR", "message": f"status {reply}"}}
            return web.json_response(body, status=reply)
        return web.json_response(reply)

    async def __aenter__(self) -> ScriptServer:
        app = web.Application()
        for prefix in PREFIX.values():
            app.router.add_post(prefix + "/conversations/{cid}/responses/stream", self._stream)
            app.router.add_get(prefix + "/conversations/{cid}/responses/{rid}", self._poll)
        self._server = TestServer(app, handler_cancellation=True)
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        await self._server.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")


# --- clients and accounting ------------------------------------------------------------------


def make_client(url: str, api_version: str = "v1beta1", fake_time: Any = None, **kw: Any) -> Any:
    """A client for ``url``; with ``fake_time`` every client-side sleep (polls) is instant."""
    if fake_time is not None:
        kw.setdefault("clock", fake_time.clock)
        kw.setdefault("sleep", fake_time.sleep)
    return mw.AsyncMoveworks(
        assistant_name="acme-capi",
        token="test-token",
        base_url=url,
        api_version=api_version,
        **kw,
    )


@asynccontextmanager
async def scripted(script: Script = (), fake_time: Any = None, **server_kw: Any) -> Any:
    """A ScriptServer and a client pointed at it."""
    async with (
        ScriptServer(script, **server_kw) as server,
        make_client(server.url, fake_time=fake_time) as client,
    ):
        yield server, client


def acquired(client: Any) -> int:
    """Connections the client's pool has handed out and not got back."""
    if not hasattr(client._transport, "_session"):
        # Excluded by nature: only aiohttp's pool can be looked into (pyreqwest keeps its
        # pool in Rust); connection release on other transports is checked server-side.
        pytest.skip("pool introspection needs the aiohttp transport")
    session: aiohttp.ClientSession | None = client._transport._session
    if session is None:
        return 0
    connector = session.connector
    assert connector is not None
    return len(connector._acquired)


async def settle(predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Wait (briefly, polling) until ``predicate()`` holds; return whether it did."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        if loop.time() > end:
            return False
        await asyncio.sleep(0.005)
    return True


async def collect(stream: Any) -> list[Any]:
    """Every event of an open stream."""
    return [e async for e in stream]


async def collect_into(stream: Any, events: list[Any]) -> None:
    """Append every event of ``stream`` to ``events`` (which keeps them if iteration raises)."""
    async for e in stream:
        events.append(e)
