"""A raw-socket fault server for the reliability suite, written on asyncio streams.

The package's ``FakeMoveworks`` speaks correct HTTP through aiohttp; this server does not have
to. Each accepted TCP connection is handed to a *handler* coroutine that reads the request
itself and writes whatever bytes it likes: a reset (``SO_LINGER`` 0), a FIN in the middle of a
body, a partial status line, ten thousand headers, a gzip bomb, one byte a second. Nothing is
parsed for the handler beyond the request line, headers and a ``Content-Length`` body.

Also here: :func:`refused_port` (nothing listens) and :class:`BlackHole` (a listener whose
accept queue is full, so the kernel drops further SYNs and a connect hangs on loopback).

Everything binds to 127.0.0.1 on an ephemeral port; every loop is bounded; closing the server
aborts the connections still open, so no test waits on a hostile handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import socket
import struct
import zlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

Handler = Callable[["Conn"], Awaitable[None]]


class Request:
    """One parsed request: method, path, lower-cased headers, body bytes."""

    __slots__ = ("body", "headers", "method", "path")

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"Request({self.method} {self.path})"


class Conn:
    """One accepted connection, as the handler sees it."""

    def __init__(
        self, server: FaultServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer

    async def read_request(self) -> Request | None:
        """The next request on this connection, or None at EOF (keep-alive end)."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await self.reader.readexactly(length) if length else b""
        request = Request(method, path, headers, body)
        self.server.requests.append(request)
        return request

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def trickle(self, data: bytes, every: float, step: int = 1) -> None:
        """``data`` in ``step``-byte writes, ``every`` seconds apart."""
        for i in range(0, len(data), step):
            await self.send(data[i : i + step])
            await asyncio.sleep(every)

    async def hold(self, seconds: float = 3600.0) -> None:
        """Send nothing, but notice the client hanging up (reads until EOF or ``seconds``)."""
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(seconds):
                while await self.reader.read(65536):
                    pass

    def rst(self) -> None:
        """Abort with a TCP RST (SO_LINGER on, zero timeout), not a FIN."""
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def fin(self) -> None:
        """Close cleanly (FIN) whatever was promised in the headers."""
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class FaultServer:
    """Loopback TCP server running ``handler`` for every accepted connection.

    Counts ``accepted`` and ``closed`` connections (``open`` is their difference) and records
    every parsed request in ``requests``; ``posts`` counts POST requests (creates).
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self.accepted = 0
        self.closed = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def open(self) -> int:
        return self.accepted - self.closed

    @property
    def posts(self) -> int:
        return sum(1 for r in self.requests if r.method == "POST")

    def count(self, method: str, suffix: str = "") -> int:
        return sum(1 for r in self.requests if r.method == method and r.path.endswith(suffix))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            await self.handler(Conn(self, reader, writer))
            # The handler returned: a lingering client sees EOF, but a kept-alive connection
            # waits for the client to hang up (that is the client's pool at work).
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                while await reader.read(65536):
                    pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # Only __aexit__ cancels a handler; end it as a normal close, so asyncio's stream
            # callback does not log the cancelled task as an error.
            pass
        finally:
            self._tasks.discard(task)  # type: ignore[arg-type]
            self._writers.discard(writer)
            writer.transport.abort()
            self.closed += 1

    async def __aenter__(self) -> FaultServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
        await self._server.wait_closed()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def settle(self, timeout: float = 2.0) -> bool:
        """Wait until every accepted connection is closed; return whether they all were."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while self.open and loop.time() < end:
            await asyncio.sleep(0.005)
        return self.open == 0


# --- replies -----------------------------------------------------------------------------------


def head(status: int, headers: Iterable[tuple[str, str]] = (), reason: str = "X") -> bytes:
    """A status line and headers (no body framing added)."""
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def reply(
    status: int,
    body: bytes | str | Any = b"",
    content_type: str = "application/json",
    headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """A whole reply with Content-Length; a non-bytes, non-str body is sent as JSON."""
    if isinstance(body, str):
        data = body.encode()
    elif isinstance(body, bytes):
        data = body
    else:
        data = json.dumps(body).encode()
    all_headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(data))),
        *headers,
    ]
    return head(status, all_headers) + data


def sse_head(extra: Iterable[tuple[str, str]] = ()) -> bytes:
    """A 200 event-stream head, body delimited by the connection's end."""
    return head(200, [("Content-Type", "text/event-stream"), ("Connection", "close"), *extra])


def gzip_bomb(inflated: int, chunk: bytes = b"\0") -> bytes:
    """gzip of ``inflated`` bytes of ``chunk`` repeated, built in 1 MiB steps (a few MB out
    of a GB cost little memory here)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    piece = chunk * ((1 << 20) // len(chunk))
    out = [compressor.compress(piece) for _ in range(inflated // len(piece))]
    out.append(compressor.flush())
    return b"".join(out)


def gzip_bytes(data: bytes) -> bytes:
    return gzip.compress(data)


def refused_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BlackHole:
    """A loopback listener that never accepts, with its accept queue already full: the
    kernel drops every further SYN, so a connect to ``port`` hangs until the client gives up
    (a black-holed host, without leaving loopback)."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.port = int(self.listener.getsockname()[1])
        self.fillers: list[socket.socket] = []
        for _ in range(4):  # backlog 0 still admits one or two; fill the queue for good
            filler = socket.socket()
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError, OSError):
                filler.connect(("127.0.0.1", self.port))
            self.fillers.append(filler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        for sock in self.fillers:
            sock.close()
        self.listener.close()

    def __enter__(self) -> BlackHole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
