"""Shared helpers of the core-client tests: realistic payloads of all three API generations,
a flat view of what aioresponses recorded, and small local servers for transport behaviour.

Payload shapes follow the API reference (https://help.moveworks.com/api-reference, collected in
``tests/data/moveworks-openapi.yaml``): responses and messages (citations with display and
attributes, content references, feedback, actions, sender info, handoff, reasoning outputs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from aioresponses import CallbackResult, aioresponses
from attrs import field, frozen
from yarl import URL

BASE = "https://api.moveworks.ai"
PREFIX = {"v1beta1": "/rest/v1beta1", "assistant-v1": "/assistant/v1", "v1": "/rest/v1"}
GENERATIONS = ("v1beta1", "assistant-v1", "v1")
CANARY = "tok-CANARY-123"

T0 = "2026-09-25T18:40:42.411933Z"
T1 = "2026-09-25T18:40:51.020001Z"


# --- payloads --------------------------------------------------------------------------------


def conversation(conversation_id: str = "conv_32bt7BMLhLyVzTUjfi35N", **extra: Any) -> Any:
    """A Conversation as the API sends it."""
    return {
        "conversation_id": conversation_id,
        "created_at": "2025-01-20T10:00:00Z",
        "updated_at": T0,
        "title": "Help with user permissions",
        "archived": False,
        **extra,
    }


def text_content(text: str, kind: str = "COMMONMARK_TEXT") -> Any:
    """Content of one of the three text types."""
    return {"type": kind, kind.lower(): {"text": text}}


def citation(citation_id: str = "cite_1", *, location: bool = False) -> Any:
    """A citation with a full display (title, body, attributes)."""
    value: dict[str, Any] = {
        "citation_id": citation_id,
        "url": "https://acme.example/kb/vpn",
        "display": {
            "title": text_content("**<https://acme.example/kb/vpn|VPN setup>**"),
            "body": text_content("Install the client, then sign in.", "MARKDOWN_TEXT"),
            "attributes": [
                {"key": "TICKET_STATE", "value": "NEW"},
                {"key": "UPDATE_DATETIME", "value": "2026-09-01T00:00:00Z"},
            ],
        },
    }
    if location:
        value["location"] = {"offset": 12}
    return value


def assistant_message(generation: str = "v1", message_id: str = "msg_32bt8vagXAoRwRLIdI2Oj") -> Any:
    """A final assistant message with every field its generation has."""
    message: dict[str, Any] = {
        "message_id": message_id,
        "conversation_id": "conv_32bt7BMLhLyVzTUjfi35N",
        "response_id": "resp_32bt7rXXugeJjvE3pQzOk",
        "actor": "ASSISTANT",
        "content": text_content(
            "John Doe reports to Jane Smith :point_right: <https://acme.example|details>"
        ),
        "citations": [citation("cite_1", location=generation == "v1beta1"), citation("cite_2")],
        "content_references": [
            {"citation_id": "cite_1", "offset": 8},
            {"citation_id": "cite_2", "offset": 30},
        ],
        "created_at": T1,
        "feedback": {"helpful": {"callback_id": "fb_up"}, "unhelpful": {"callback_id": "fb_down"}},
    }
    if generation in ("assistant-v1", "v1"):
        message["actions"] = [
            {
                "type": "CALLBACK_ACTION",
                "label": "File ticket",
                "callback_action": {"callback_id": "cb_1"},
            },
            {
                "type": "URL_ACTION",
                "label": "Open",
                "url_action": {"url": "https://app.moveworks.ai/r?x"},
            },
        ]
    if generation == "v1":
        message["actions"].append(
            {
                "type": "MODAL_ACTION",
                "label": "Request laptop",
                "modal_action": {"modal_id": "modal_1"},
            }
        )
        message["sender_info"] = {
            "display_name": "Acme Assistant",
            "avatar_url": "https://acme.example/a.png",
        }
        message["handoff"] = {
            "handoff_categories": [
                {
                    "category_id": "cat_1",
                    "name": "Get Help",
                    "description": "Other help options",
                    "handoff_items": [
                        {
                            "title": "Talk to an agent",
                            "type": "ACTION",
                            "action": {
                                "type": "URL_ACTION",
                                "label": "Chat",
                                "url_action": {"url": "https://acme.example/chat"},
                            },
                        },
                        {
                            "title": "Call us",
                            "type": "TEXT",
                            "text": text_content("+1 555 0100", "PLAIN_TEXT"),
                        },
                    ],
                }
            ]
        }
    return message


def user_message(generation: str = "v1", message_id: str = "msg_user1") -> Any:
    """The user's input message (a plain text turn; files on rest/v1)."""
    body: dict[str, Any] = {"text": "how do I set up VPN?"}
    if generation == "v1":
        body["files"] = [
            {"file_id": "file_1", "file_name": "screenshot.png"},
            {"file_id": "file_2"},
        ]
    return {
        "message_id": message_id,
        "conversation_id": "conv_32bt7BMLhLyVzTUjfi35N",
        "response_id": "resp_32bt7rXXugeJjvE3pQzOk",
        "actor": "USER",
        "content": {"type": "PLAIN_TEXT", "plain_text": body},
        "created_at": T0,
        "citations": None,
        "content_references": None,
        "feedback": None,
    }


def reasoning_output(step: int = 1) -> Any:
    """A REASONING_MESSAGE output item."""
    return {
        "type": "REASONING_MESSAGE",
        "reasoning_message": {
            "reasoning_message_id": f"rmsg_{step}",
            "conversation_id": "conv_32bt7BMLhLyVzTUjfi35N",
            "response_id": "resp_32bt7rXXugeJjvE3pQzOk",
            "content": text_content(f"Searching knowledge base ({step})", "PLAIN_TEXT"),
            "created_at": T0,
        },
    }


def response(status: str = "COMPLETED", generation: str = "v1", **extra: Any) -> Any:
    """A Response; COMPLETED ones carry a reasoning trail and the assistant message."""
    value: dict[str, Any] = {
        "response_id": "resp_32bt7rXXugeJjvE3pQzOk",
        "conversation_id": "conv_32bt7BMLhLyVzTUjfi35N",
        "status": status,
        "created_at": "2025-01-20T10:00:00Z",
        "completed_at": T1 if status in ("COMPLETED", "FAILED") else None,
        "outputs": [],
    }
    if status == "COMPLETED":
        value["outputs"] = [
            reasoning_output(1),
            {"type": "MESSAGE", "message": assistant_message(generation)},
        ]
    value.update(extra)
    return value


def event(event_id: str = "evt_1", *, created_at: bool = True, generation: str = "v1") -> Any:
    """A MESSAGE_EVENT (v1beta1 sends no created_at)."""
    value: dict[str, Any] = {
        "event_id": event_id,
        "conversation_id": "conv_32bt7BMLhLyVzTUjfi35N",
        "event_payload": {
            "type": "MESSAGE_EVENT",
            "message": assistant_message(generation, "msg_evt"),
        },
    }
    if created_at:
        value["created_at"] = T1
    return value


def modal() -> Any:
    """A modal definition as observed by the demo app."""
    return {
        "modal_id": "modal_1",
        "title": ":memo: New request",
        "fields": [
            {
                "type": "DISPLAY",
                "name": "intro",
                "display": {"text": {"style": "SUBTLE", "text": "Read <a href='x'>this</a><br>"}},
            },
            {
                "type": "TEXT",
                "name": "summary",
                "text": {},
                "required": True,
                "triggers_refresh": True,
            },
            {
                "type": "CHOICE",
                "name": "model",
                "visible": False,
                "read_only": True,
                "options": [{"value": "mac", "label": "Mac"}, {"value": "pc", "label": "PC"}],
            },
        ],
    }


# --- what aioresponses saw -------------------------------------------------------------------


@frozen
class Call:
    """One request recorded by aioresponses."""

    method: str
    url: URL
    headers: dict[str, str]
    data: bytes | None

    @property
    def path(self) -> str:
        return self.url.path

    @property
    def query(self) -> dict[str, str]:
        return dict(self.url.query)

    @property
    def json(self) -> Any:
        assert self.data is not None
        return json.loads(self.data)


def calls(mock: aioresponses) -> list[Call]:
    """Every request aioresponses recorded (grouped by method and URL, in first-seen order)."""
    out = []
    for (method, url), recorded in mock.requests.items():
        for call in recorded:
            headers = dict(call.kwargs.get("headers") or {})
            out.append(Call(method, url, headers, call.kwargs.get("data")))
    return out


@frozen
class R:
    """A canned reply for :class:`Wire`: JSON (``json``) or raw ``body``."""

    status: int = 200
    json: Any = None
    body: bytes | str = b""
    headers: dict[str, str] = field(factory=dict)
    content_type: str = "application/json"


Handler = Callable[[Call], "R | Any"]


class Wire:
    """aioresponses at the HTTP seam: every request (any method, any URL) goes to ``handler``.

    ``calls`` lists the requests in the order they were made. A handler may return an ``R``,
    a JSON value (status 200), or raise an exception (e.g. an aiohttp error) to fail the attempt.
    """

    METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")

    def __init__(self, mock: aioresponses) -> None:
        self.mock = mock
        self.calls: list[Call] = []
        self.handler: Handler = lambda call: R(
            404, {"error": {"code": "NOT_FOUND", "message": "no route"}}
        )
        for method in self.METHODS:
            mock.add(re.compile(r".*"), method=method, callback=self._callback(method), repeat=True)

    def _callback(self, method: str) -> Callable[..., CallbackResult]:
        def callback(url: URL, **kwargs: Any) -> CallbackResult:
            call = Call(method, URL(url), dict(kwargs.get("headers") or {}), kwargs.get("data"))
            self.calls.append(call)
            reply = self.handler(call)
            if not isinstance(reply, R):
                reply = R(200, reply)
            body = json.dumps(reply.json) if reply.json is not None else reply.body
            return CallbackResult(
                method=method,
                status=reply.status,
                body=body,
                content_type=reply.content_type,
                headers=dict(reply.headers),
            )

        return callback

    def serve(self, handler: Handler) -> None:
        """Answer every following request with ``handler(call)``."""
        self.handler = handler

    def always(self, reply: R | Any) -> None:
        """Answer every following request with the same reply."""
        self.handler = lambda call: reply

    def sequence(self, *replies: R | Any) -> None:
        """Answer the following requests with ``replies`` in order (the last one repeats)."""
        queue = list(replies)

        def handler(call: Call) -> R | Any:
            return queue.pop(0) if len(queue) > 1 else queue[0]

        self.handler = handler


# --- local servers ---------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port that nothing listens on (just now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RawServer:
    """An asyncio TCP server on 127.0.0.1 whose connection handler the test writes.

    ``requests`` counts request heads read by :meth:`read_request`.
    """

    def __init__(
        self,
        handler: Callable[[RawServer, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    ) -> None:
        self._handler = handler
        self.requests = 0
        self.heads: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.connections = 0  # accepted so far
        self.open = 0  # open right now
        self.max_open = 0

    async def wait_idle(self, seconds: float = 2.0) -> None:
        """Wait (briefly, in real time) until the client has closed every connection."""
        async with asyncio.timeout(seconds):
            while self.open:
                await asyncio.sleep(0.005)

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        """Read one request (head and Content-Length body); count it."""
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await reader.readexactly(length)
        self.requests += 1
        self.heads.append(head)
        return head

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        try:
            # Cancelled at shutdown: end quietly (asyncio would log a cancelled handler task).
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._handler(self, reader, writer)
        finally:
            writer.close()
            self.open -= 1
            self._tasks.discard(task)

    @contextlib.asynccontextmanager
    async def running(self, port: int = 0) -> AsyncIterator[RawServer]:
        """Serve until the block ends; then stop listening and end every connection handler."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        try:
            yield self
        finally:
            self.server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.server.wait_closed()


def http_reply(
    status: int, body: bytes = b"{}", content_type: str = "application/json", extra: str = ""
) -> bytes:
    """A complete HTTP/1.1 reply."""
    reason = {
        200: "OK",
        201: "Created",
        202: "Accepted",
        401: "Unauthorized",
        500: "Internal Server Error",
    }
    head = (
        f"HTTP/1.1 {status} {reason.get(status, 'X')}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


def http_loop(
    reply: Callable[[int, bytes], bytes | str],
) -> Callable[[RawServer, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A keep-alive connection handler: ``reply(n, head)`` for the n-th request (1-based,
    counted server-wide) returns the reply bytes, or ``"reset"`` (abort the connection after
    reading the request) or ``"stall"`` (never answer; wait for the client to hang up)."""

    async def handler(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            head = await server.read_request(reader)
            action = reply(server.requests, head)
            if action == "reset":
                writer.transport.abort()
                return
            if action == "stall":
                await reader.read()
                return
            assert isinstance(action, bytes)
            writer.write(action)
            await writer.drain()

    return handler


@contextlib.asynccontextmanager
async def black_hole() -> AsyncIterator[tuple[str, list[bytes]]]:
    """A server that reads each request line and never answers: (its URL, the lines read)."""
    seen: list[bytes] = []
    release = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readline())
        await release.wait()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", seen
    finally:
        release.set()
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0)


@contextlib.contextmanager
def loop_turns() -> Iterator[list[int]]:
    """Count the turns of the running event loop while the block runs: ``turns[0]`` is how
    often another callback got to run (one ``call_soon`` per turn, re-armed each time)."""
    loop = asyncio.get_running_loop()
    turns = [0]

    def tick() -> None:
        turns[0] += 1
        handle[0] = loop.call_soon(tick)

    handle = [loop.call_soon(tick)]
    try:
        yield turns
    finally:
        handle[0].cancel()
