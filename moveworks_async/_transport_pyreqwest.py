"""The optional Rust transport: pyreqwest (reqwest/hyper), installed by the ``[fast]`` extra.

Same contract as :class:`~moveworks_async._transport.AiohttpTransport` (see
:class:`~moveworks_async._transport.Transport`), with these differences, each measured and
documented in README ("Transports"):

- reqwest's connect and read timeouts are per client, not per request: one reqwest client
  (and so one connection pool) is kept per distinct ``(connect, read)`` pair in use.
- reqwest's own decompression is off: bodies arrive as sent and the package's bounded
  inflater decodes them (``MAX_BODY`` for replies, the stream's byte budget for streams).
- A cancelled attempt does not close its connection at once: pyreqwest 0.15 abandons the
  Rust future, which keeps the socket until the server answers or reqwest's read timeout
  fires (every client here has one, ``Timeout.read`` for calls, ``_ORPHAN_READ`` for streams).
  So ``max_connections`` is counted here (:class:`_Slots`), not by reqwest: an abandoned
  attempt would keep reqwest's permit, and a request waiting inside pyreqwest for one would
  be sent whenever it came, even after its call had failed.
- A stream is closed by a task (pyreqwest closes a streamed response only by awaiting its
  ``__aexit__``); ``aclose()`` waits for those tasks.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import types
import warnings
import weakref
from collections.abc import Callable, Generator, Iterator, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any

from . import _transport
from ._deadline import time_left
from ._errors import (
    CLOSED_DURING_CALL,
    APIConnectionError,
    APITimeoutError,
    ClientStateError,
    InvalidParameterError,
    UnexpectedResponseError,
)
from ._transport import (
    MAX_CONNECTIONS,
    STREAM_ENCODINGS,
    UNREADABLE,
    DecodedStream,
    Reply,
    Timeout,
    _Inflater,
    _inflater,
    decode_body,
    error_inflater,
    read_error_body,
)
from ._validate import check_int

try:
    import pyreqwest.exceptions as _px
    from pyreqwest.client import Client, ClientBuilder
except ImportError:  # pragma: no cover - exercised only without the [fast] extra
    _px = None  # type: ignore[assignment]

__all__ = ["PyreqwestTransport"]

#: reqwest read timeout of stream clients. Streams enforce their own deadlines above the
#: transport; this only bounds how long a connection abandoned by a cancellation can live
#: (see the module docstring). Longer than any idle gap a stream is allowed by default.
_ORPHAN_READ = 600.0
#: Seconds an attempt may outlive its call's ``Timeout.total`` in reqwest (see
#: :func:`_attempt_limit`): the client's own deadline ends the call first, with TotalTimeout.
_TOTAL_SLACK = 0.5


def _attempt_limit(total: float) -> timedelta:
    """reqwest's timeout of one attempt of a call whose ``Timeout.total`` is ``total``: what is
    left of the call's time (``_deadline.time_left``; the whole ``total`` where that is not
    known), plus :data:`_TOTAL_SLACK`.

    No attempt can outlive its call, so this never ends a live attempt; it bounds the attempt
    pyreqwest keeps running after the call was cancelled (it abandons the Rust future instead
    of stopping it). Such an attempt keeps its socket and its ``max_connections`` slot:
    without this bound, until the read timeout, so that a few calls ended by a short total
    against a server that never answers left every new call waiting for a slot (outside
    review, /work/adv/s14), and a retry sent late in the call kept its slot ``total`` past
    the call's end (/work/adv/s14b)."""
    left = time_left()
    seconds = (total if left is None else max(0.0, min(left, total))) + _TOTAL_SLACK
    return timedelta(seconds=min(seconds, _LONGEST))


#: Longest duration handed to reqwest (~31 years): ``Timeout`` accepts any finite number, and
#: ``timedelta`` overflows near 1e14 s (a raw OverflowError, before any I/O).
_LONGEST = 1e9


def _td(seconds: float | None) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=min(seconds, _LONGEST))


def _causes(exc: BaseException) -> str:
    details = getattr(exc, "details", None) or {}
    causes = details.get("causes") or []
    return "; ".join(str(c.get("message", "")) for c in causes)[:300]


def _mapped(exc: BaseException, *, sent: bool) -> APIConnectionError:
    """The package error for a pyreqwest exception (raise it outside the ``except`` block:
    the library exception must not be kept as ``__context__``).

    pyreqwest's class alone does not tell the phase: ``ConnectError`` also covers a connection
    closed after the request was written ("SendRequest"), and ``ConnectTimeoutError`` a
    stall waiting for the reply headers. Only hyper's "client error (Connect)" cause proves
    that nothing was sent (``outcome_unknown=False``).
    """
    name = type(exc).__name__
    causes = _causes(exc)
    message = getattr(exc, "message", None) or name
    text = f"{message} ({causes})" if causes else message
    never_sent = not sent and "client error (Connect)" in causes
    if isinstance(exc, _px.RequestTimeoutError):
        if never_sent:
            return APITimeoutError(f"connect timeout ({name})", phase="connect")
        return APITimeoutError(f"read timeout ({name})", phase="read", outcome_unknown=True)
    if never_sent:
        lowered = causes.lower()
        if "certificate" in lowered or "tls" in lowered or "ssl" in lowered:
            return APIConnectionError(f"TLS certificate verification failed: {text}", tls=True)
        return APIConnectionError(f"cannot connect: {text}")
    return APIConnectionError(f"{name}: {text}", outcome_unknown=True)


def _abandon(coro: Any, exc: BaseException) -> None:
    """Stop a suspended pyreqwest coroutine: a cancellation is passed on (pyreqwest then drops
    its Rust future and raises its own ``CancelledError``, dropped here), then it is closed
    (a no-op once it has ended; drops the future if it would not stop)."""
    if isinstance(exc, asyncio.CancelledError):
        with contextlib.suppress(BaseException):
            coro.throw(exc)
    coro.close()


@types.coroutine
def _carrying_cancel(
    coro: Any, reply: PyreqwestStreamReply | None = None
) -> Generator[Any, None, Any]:
    """Await a pyreqwest (pyo3) coroutine inline, so that a cancellation of the caller keeps
    its message.

    pyreqwest answers a cancellation with a new ``CancelledError("Request was cancelled")``
    (or "Read was cancelled"); anyio recognises its own cancellations (cancel scopes: the
    stream deadlines) by their message, so that one would escape the scope as a plain
    cancellation. Here the coroutine is driven step by step in the caller's own task: what it
    yields (the future its Rust side wakes) goes to the task as it is, a cancellation thrown
    in comes back out as the very same exception after pyreqwest has been told.

    No task, no extra future and no loop turn per await (a task per chunk read was most of
    the stream's cost per chunk): a read whose bytes are already there returns at once.

    With ``reply``, a pending read can be stopped by :meth:`PyreqwestStreamReply.close`: the
    future it waits on is kept in ``reply._waiting`` for close() to cancel, and a read that
    resumes after close() is stopped; either way the caller gets a ``CancelledError`` while
    its task is not being cancelled (``_recv`` reports "the stream was closed").
    """
    try:
        signal = coro.send(None)
    except StopIteration as done:
        return done.value
    if reply is not None:
        return (yield from _carry_on(coro, signal, reply))
    # A call's await (no stream to watch): _carry_on's loop without its stream checks, in
    # this generator (one frame less on every resumption).
    while True:
        try:
            yield signal
        except BaseException as exc:
            _abandon(coro, exc)
            raise
        try:
            signal = coro.send(None)
        except StopIteration as done:
            return done.value


@types.coroutine
def _carry_on(
    coro: Any, signal: Any, reply: PyreqwestStreamReply | None = None
) -> Generator[Any, None, Any]:
    """The rest of :func:`_carrying_cancel`, from a step of ``coro`` that yielded ``signal``."""
    while True:
        if reply is not None:
            reply._waiting = signal
        try:
            yield signal
        except BaseException as exc:
            _abandon(coro, exc)
            raise
        finally:
            if reply is not None:
                reply._waiting = None
        if reply is not None and reply._closed:
            stop = asyncio.CancelledError()
            _abandon(coro, stop)
            raise stop
        try:
            signal = coro.send(None)
        except StopIteration as done:
            return done.value


async def _resumed(coro: Any, signal: Any) -> None:
    """Finish a pyreqwest coroutine whose first step was taken (and yielded ``signal``)
    elsewhere; its error, if any, is dropped (a close that failed has nothing to give back)."""
    with contextlib.suppress(Exception):
        await _carry_on(coro, signal)


async def _read_capped(
    reader: Any, length: str | None, inflater: _Inflater | None, status: int
) -> bytes:
    """The raw body, at most ``MAX_BODY`` bytes, in one buffer returned without a copy
    (of exactly the announced size when ``Content-Length`` gives it and nothing is coded)."""
    cap = _transport.MAX_BODY
    if inflater is None and length is not None and length.isdigit():
        # The announced size (at most MAX_BODY, checked by the caller) bounds what hyper
        # hands over: the whole body in one await, into one buffer of that size.
        return bytes(await _carrying_cancel(reader.bytes()))
    grown = bytearray()
    while (chunk := await _carrying_cancel(reader.read_chunk())) is not None:
        if len(grown) + len(chunk) > cap:
            raise UnexpectedResponseError(f"reply body exceeds {cap} bytes", status_code=status)
        grown += chunk
    return grown  # type: ignore[return-value]


def _chunks(reader: Any) -> Callable[[], Any]:
    """``reader.read_chunk()``, awaited through :func:`_carrying_cancel` (a cancellation keeps
    its message, and pyreqwest is told) by a reader that takes a plain chunk function."""
    return lambda: _carrying_cancel(reader.read_chunk())


class _Headers(Mapping[str, str]):
    """pyreqwest's reply headers as a read-only, case-insensitive mapping in which a value that
    is not ASCII text reads as absent.

    pyreqwest 0.15 raises a bare ``ValueError`` ("failed to convert header to a str") for a
    value with any non-ASCII byte, valid UTF-8 included, from every accessor (``get``, ``[]``,
    ``items``, ``repr``), and gives no access to the bytes: an ``x-trace-id: café`` on an error,
    a stream or a Data API page escaped every call as that ``ValueError``. Such a value is
    left out here (aiohttp decodes it instead; README, "Transports"). Lookups cost one Python
    call more than pyreqwest's own.
    """

    __slots__ = ("_map",)

    def __init__(self, headers: Any) -> None:
        self._map = headers

    def get(self, key: str, default: Any = None) -> Any:
        try:
            value = self._map.get(key)
        except ValueError:
            return default
        return default if value is None else value

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value  # type: ignore[no-any-return]

    def __contains__(self, key: object) -> bool:
        return type(key) is str and self.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        get = self.get
        return iter([key for key in dict.fromkeys(self._map.keys()) if get(key) is not None])

    def __len__(self) -> int:
        return len(list(iter(self)))

    def getall(self, key: str, default: Any = None) -> Any:
        """Every value of ``key`` (``default`` if there is none that can be read)."""
        try:
            values = self._map.getall(key)
        except (ValueError, KeyError):
            return default
        return values if values else default

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        """Every readable (name, value) pair, repeated names included."""
        pairs: list[tuple[str, str]] = []
        for key in dict.fromkeys(self._map.keys()):
            try:
                values = self._map.getall(key)
            except ValueError:
                continue
            pairs += [(key, value) for value in values]
        return pairs

    def __repr__(self) -> str:
        return f"<reply headers: {len(self)}>"


class _Slots:
    """``max_connections``: the requests in flight and the streams open, counted in Python.

    A call takes a slot before its request is built and gives it back when the call ends,
    however it ends (a cancellation included: the Rust future pyreqwest abandons then is no
    longer counted, and reqwest itself has no limit, so it never holds back another request).
    A stream holds its slot until it is closed. Waiting for a slot is an ordinary await: a
    call cancelled there was never handed to pyreqwest, so nothing of it is ever sent."""

    __slots__ = ("free", "waiters")

    def __init__(self, size: int) -> None:
        self.free = size
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def take(self) -> None:
        """Wait for a slot (the caller tried ``free`` first)."""
        if self.free > 0 and not self.waiters:
            self.free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.give()  # handed a slot as the wait was cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self.waiters.remove(waiter)
            raise

    def close(self, error: BaseException) -> None:
        """End every wait for a slot with ``error`` (the transport closed)."""
        waiters, self.waiters = self.waiters, collections.deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)

    def give(self) -> None:
        """Give a slot back: to the longest waiter, else to the free count."""
        waiters = self.waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


class PyreqwestStreamReply(DecodedStream):
    """An open pyreqwest streaming reply (raw bytes, decoded by :class:`DecodedStream`)."""

    __slots__ = ("__weakref__", "_ended", "_opener", "_reader", "_waiting")

    def __init__(self, opener: PyreqwestStreamContext, response: Any) -> None:
        super().__init__(response.status, _Headers(response.headers))
        self._opener = opener
        self._reader = response.body_reader
        self._ended = False
        #: What a pending read waits on (see _carrying_cancel); close() cancels it.
        self._waiting: Any = None

    async def _recv(self) -> bytes:
        if self._closed:
            raise APIConnectionError("the stream was closed", outcome_unknown=True)
        if self._error is not None:
            raise self._error
        failure: APIConnectionError | None = None
        try:
            chunk = await _carrying_cancel(self._reader.read_chunk(), self)
        except _px.PyreqwestError as exc:
            failure = _mapped(exc, sent=True)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is None or task.cancelling():
                # A real cancellation of this task. pyreqwest drops the bytes a cancelled
                # read was receiving (aiohttp keeps them buffered), so the body can no longer
                # be trusted: the next read fails as a broken connection (the stream then
                # recovers by polling) instead of joining the halves of an event.
                self._error = APIConnectionError(
                    "a cancelled read lost part of the stream (pyreqwest)", outcome_unknown=True
                )
                raise
            # pyreqwest cancels a pending read when the response is closed under it.
            failure = APIConnectionError("the stream was closed", outcome_unknown=True)
        if failure is not None:
            raise failure
        if chunk is None:
            self._ended = True
            return b""
        return bytes(chunk)

    @property
    def ended(self) -> bool:
        """True once the end of the body has been read (pyreqwest tells no earlier)."""
        return self._ended

    async def wait_eof(self) -> None:
        """Read (and drop) what is left of the body; a broken connection counts as ended."""
        with contextlib.suppress(APIConnectionError):
            while not self._ended and not self._closed:
                if not await self._recv():
                    break

    def close(self) -> None:
        """Stop a pending read (it raises "the stream was closed", as aiohttp's does), then
        close the response: pyreqwest's close waits for a pending read to end."""
        self._closed = True
        waiting, self._waiting = self._waiting, None
        if waiting is not None and not waiting.done():
            waiting.cancel()  # wakes the reading task with a CancelledError (see _recv)
        self._opener.close()


class PyreqwestStreamContext:
    """What :meth:`PyreqwestTransport.stream` returns: ``async with`` gives the reply."""

    __slots__ = ("_args", "_held", "_request", "_transport")

    def __init__(
        self,
        transport: PyreqwestTransport,
        args: tuple[str, str, Mapping[str, str], bytes | None, float | None],
    ) -> None:
        self._transport: PyreqwestTransport | None = transport
        self._args: tuple[str, str, Mapping[str, str], bytes | None, float | None] | None = args
        self._request: Any = None
        #: Whether this stream holds one of the transport's slots (until close()).
        self._held = False

    async def __aenter__(self) -> PyreqwestStreamReply:
        transport, args = self._transport, self._args
        if transport is None or args is None:
            raise ClientStateError("a stream context can be entered only once")
        self._args = None
        method, url, headers, data, connect_timeout = args
        client = await transport._client(connect_timeout, _ORPHAN_READ)
        await transport._slots.take()
        self._held = True
        try:
            return await self._open(transport, client, method, url, headers, data)
        except BaseException:
            self._give_back()
            raise

    async def _open(
        self,
        transport: PyreqwestTransport,
        client: Client,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
    ) -> PyreqwestStreamReply:
        builder = client.request(method, url).headers(
            {**headers, "Accept-Encoding": STREAM_ENCODINGS}
        )
        if data is not None:
            builder = builder.body_bytes(data)
        # A zero read buffer: pyreqwest otherwise waits for 64 KiB of body (or its end)
        # before handing over the headers, which would hold every SSE stream back.
        request = builder.streamed_read_buffer_limit(0).build_streamed()
        error: APIConnectionError | None = None
        try:
            response = await _carrying_cancel(request.__aenter__())
        except _px.PyreqwestError as exc:
            error = _mapped(exc, sent=False)
        if error is not None:
            raise error
        self._request = request
        if transport._closed:
            # The client closed while this stream waited for its headers: its request
            # reached the server (see the aiohttp transport).
            self.close()
            raise _transport.answered_after_close()
        reply = PyreqwestStreamReply(self, response)
        transport._streams.add(reply)
        return reply

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the response by a task (pyreqwest's close is a coroutine) and give its slot
        back; idempotent."""
        request, self._request = self._request, None
        self._give_back()
        transport, self._transport = self._transport, None
        if request is not None and transport is not None:
            transport._closing(request.__aexit__(None, None, None))

    def _give_back(self) -> None:
        if self._held and self._transport is not None:
            self._held = False
            self._transport._slots.give()

    def __del__(self) -> None:
        # A stream dropped without being closed: its slot goes back on the loop's thread (the
        # collector may run anywhere, a worker thread decoding a big reply included).
        if self._held and self._transport is not None:
            loop = self._transport._loop
            if loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._transport._slots.give)


class PyreqwestTransport:
    """A :class:`~moveworks_async._transport.Transport` on pyreqwest (``[fast]`` extra).

    Args:
        max_connections: most requests in flight and streams open at once, over every
            reqwest client (one per ``(connect, read)`` pair); counted here, not by reqwest
            (see :class:`_Slots`).

    Raises:
        InvalidParameterError: pyreqwest is not installed (``pip install
            'moveworks-async[fast]'``).
    """

    #: The public class named in errors about a closed client (the Data API sets its own).
    owner = "AsyncMoveworks"

    def __init__(self, *, max_connections: int = 100) -> None:
        if _px is None:
            raise InvalidParameterError(
                "transport='pyreqwest' needs pyreqwest: pip install 'moveworks-async[fast]'"
            )
        self._max_connections = check_int(max_connections, "max_connections", 1, MAX_CONNECTIONS)
        #: The requests in flight and the streams open (reqwest's clients have no limit).
        self._slots = _Slots(self._max_connections)
        self._clients: dict[tuple[float | None, float | None], Client] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._closers: set[asyncio.Task[None]] = set()
        #: The open stream replies, closed by aclose() (a pending read then fails at once).
        self._streams: weakref.WeakSet[PyreqwestStreamReply] = weakref.WeakSet()

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def has_open_owned_session(self) -> bool:
        return bool(self._clients)

    async def _client(self, connect: float | None, read: float | None) -> Client:
        """The reqwest client for these timeouts; a new one is built in a worker thread
        (building one loads the TLS roots: tens of ms the event loop must not stall for)."""
        loop = asyncio.get_running_loop()
        if self._closed:
            raise ClientStateError("this AsyncMoveworks client is closed")
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise ClientStateError(
                "an AsyncMoveworks client is bound to the event loop it was first used on; "
                "create one client per event loop"
            )
        key = (connect, read)
        client = self._clients.get(key)
        if client is not None:
            return client
        builder = (
            ClientBuilder()
            .gzip(False)
            .deflate(False)
            .brotli(False)
            .zstd(False)
            .follow_redirects(False)
            .referer(False)
        )
        connect_td, read_td = _td(connect), _td(read)
        if connect_td is not None:
            builder = builder.connect_timeout(connect_td)
        if read_td is not None:
            builder = builder.read_timeout(read_td)
        built: Client = await asyncio.to_thread(builder.build)
        existing = self._clients.get(key)
        if existing is not None or self._closed:  # built meanwhile by another task, or closed
            await built.close()
            if existing is None:
                raise ClientStateError("this AsyncMoveworks client is closed")
            return existing
        self._clients[key] = built
        return built

    def _closing(self, closer: Any) -> None:
        if self._loop is None or self._loop.is_closed():  # pragma: no cover - defensive
            closer.close()
            return
        task = self._loop.create_task(closer)
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
        params: Mapping[str, str] | None,
        timeout: Timeout,
    ) -> Reply:
        """One attempt; returns whatever status came back (body decoded, capped).

        Run in the caller's task: every pyreqwest coroutine is awaited through
        :func:`_carrying_cancel` (a cancellation keeps its message), and the response is closed
        by :meth:`_exit`, which a cancellation cannot cut short.
        """
        client = self._clients.get((timeout.connect, timeout.read))
        if client is None or self._closed or asyncio.get_running_loop() is not self._loop:
            # A first call with these timeouts, or one _client() refuses: no coroutine for
            # the common case of a client already built on this loop.
            client = await self._client(timeout.connect, timeout.read)
        slots = self._slots
        if slots.free > 0 and not slots.waiters:  # take(), without a coroutine when free
            slots.free -= 1
        else:
            await slots.take()
        # The slot goes back however the attempt ends, a cancellation included (see _Slots).
        try:
            builder = client.request(method, url).headers(
                {**headers, "Accept-Encoding": STREAM_ENCODINGS}
            )
            total = timeout.total
            if total is not None and (timeout.read is None or total + _TOTAL_SLACK < timeout.read):
                # Only where it ends an abandoned attempt sooner than the read timeout would: a
                # timer per request costs ~5 µs of client CPU (the default 600 s total never does).
                builder = builder.timeout(_attempt_limit(total))
            if data is not None:
                builder = builder.body_bytes(data)
            if params:
                builder = builder.query(dict(params))
            request = builder.build_streamed()
            error: APIConnectionError | None = None
            sent = False
            try:
                response = await _carrying_cancel(request.__aenter__())
                sent = True
                try:
                    status = response.status
                    reply_headers = _Headers(response.headers)
                    if status >= 400:
                        # Read for its message only, as on aiohttp: an oversized, bomb or
                        # unknown-coding body must not turn a 429 into another error.
                        inflater = error_inflater(reply_headers)
                        body = (
                            b""
                            if inflater is UNREADABLE
                            else await read_error_body(_chunks(response.body_reader), inflater)
                        )
                        inflater = None  # decoded already: decode_body passes it through
                    else:
                        inflater = _inflater(reply_headers, status)
                        length = reply_headers.get("content-length")
                        if (
                            length is not None
                            and length.isdigit()
                            and int(length) > _transport.MAX_BODY
                        ):
                            raise UnexpectedResponseError(
                                f"reply body of {length} bytes exceeds {_transport.MAX_BODY}",
                                status_code=status,
                            )
                        body = await _read_capped(response.body_reader, length, inflater, status)
                finally:
                    self._exit(request)
            except _px.PyreqwestError as exc:
                error = _mapped(exc, sent=sent)
            if error is not None:
                raise error
            if inflater is not None:
                body = await decode_body(body, inflater, status)
            return Reply(status, reply_headers, body)
        finally:
            slots.give()

    def _exit(self, request: Any) -> None:
        """Close a call's response (what ``async with`` does on leaving), never suspending:
        pyreqwest 0.15's close ended at its first step in every case tried (replies read to
        their end and unread); a close that does not is finished by a task of its own, so that
        neither the caller's cancellation can cut it short nor the caller wait for it."""
        closer = request.__aexit__(None, None, None)
        try:
            signal = closer.send(None)
        except StopIteration:
            return
        self._closing(_resumed(closer, signal))

    def stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
        connect_timeout: float | None,
    ) -> PyreqwestStreamContext:
        """Open a streaming reply (``async with``); no total or read timeout (see module)."""
        return PyreqwestStreamContext(self, (method, url, headers, data, connect_timeout))

    async def aclose(self) -> None:
        """Close every stream still open (its pending read fails with "the stream was
        closed"), then every reqwest client, after the stream closers have run."""
        self._closed = True
        # Calls and streams waiting for a slot were never handed to pyreqwest: nothing of
        # them was sent.
        self._slots.close(ClientStateError(CLOSED_DURING_CALL))
        for reply in list(self._streams):
            reply.close()
        closers = list(self._closers)
        if closers:
            # Bounded: pyreqwest's close of a stream whose opening was cancelled can wait
            # for the server (see the module docstring).
            _, pending = await asyncio.wait(closers, timeout=1.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()

    def __del__(self, _warn: Any = warnings.warn) -> None:
        # A constructor that raised (pyreqwest missing) leaves an object without attributes:
        # its finaliser must not report an AttributeError as "Exception ignored".
        if getattr(self, "_clients", None) and not getattr(self, "_closed", True):
            _warn(
                f"{self.owner} client was not closed; use 'async with' or 'await aclose()'",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )
