"""The one aiohttp adapter: send bytes, get ``(status, headers, body)`` or a chunk stream.

Everything aiohttp-specific stays here, including its exceptions, which become the package's
own: a connect-phase failure is "never sent" (``outcome_unknown=False``), anything after the
request may have left is ambiguous (``outcome_unknown=True``). aiohttp exceptions are not
chained, because their ``request_info`` repr holds the request headers and so the bearer.
Redirects are never followed: the API does not use them, and following one could turn a POST
into a GET or carry the Authorization header to another origin.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
import weakref
import zlib
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Literal, Protocol, runtime_checkable

import aiohttp
from attrs import Attribute, field, frozen

from ._errors import (
    CLOSED_DURING_CALL,
    APIConnectionError,
    APITimeoutError,
    ClientStateError,
    InvalidParameterError,
    UnexpectedResponseError,
)
from ._validate import check_int, is_positive

__all__ = [
    "AiohttpTransport",
    "TransportName",
    "OpenStream",
    "Reply",
    "StreamContext",
    "StreamOpener",
    "StreamReply",
    "Timeout",
    "Transport",
]

#: Largest non-streaming body read into memory (a compressed bomb stops here).
MAX_BODY = 32 * 1024 * 1024
#: Largest error body of a stream read into memory (decompressed): only its message is used.
MAX_ERROR_BODY = 64 * 1024  # no more is ever parsed (_protocol.MAX_ERROR_JSON)
#: Bodies up to this size are read by aiohttp in one call; larger ones into one buffer of the
#: final size (aiohttp's ``read()`` joins a list of chunks: two copies at its peak).
_SMALL_BODY = 64 * 1024


def _check_seconds(_: object, attribute: Attribute[Any], value: object) -> None:
    if value is not None and not is_positive(value):
        raise InvalidParameterError(f"Timeout.{attribute.name} must be a positive number or None")


#: Largest ``max_connections`` accepted: far above any real pool, and small enough for every
#: consumer of the number (the governor's float arithmetic, a transport's slot count).
MAX_CONNECTIONS = 1_000_000


@frozen
class Timeout:
    """Timeouts of one non-streaming call, in seconds (``None`` disables one).

    ``connect``: establishing the connection, per attempt; ``read``: the longest gap between
    bytes of the reply, per attempt; ``total``: the **whole call**, every attempt, backoff
    sleep, rate-governor wait and token fetch included; past it the call raises
    ``APITimeoutError(phase="total")``. Streams use their own timeouts instead.
    """

    connect: float | None = field(default=5.0, validator=_check_seconds)
    read: float | None = field(default=60.0, validator=_check_seconds)
    total: float | None = field(default=600.0, validator=_check_seconds)

    @classmethod
    def coerce(cls, value: Timeout | float | None) -> Timeout:
        """Accept a Timeout, a number (total seconds) or None (defaults)."""
        if value is None:
            return cls()
        if isinstance(value, Timeout):
            return value
        if is_positive(value):
            return cls(total=float(value))
        raise InvalidParameterError("timeout must be a Timeout, a positive number or None")


#: Bodies longer than this are sent as a :class:`_LargeBody` (aiohttp warns above 1 MiB).
LARGE_BODY = 1024 * 1024
#: Bytes written at a time of a large body.
_BODY_SLICE = 64 * 1024


class _LargeBody(aiohttp.payload.BytesPayload):
    """A request body over :data:`LARGE_BODY`, written in 64 KiB slices (each write waits for
    the socket to drain), without aiohttp's ResourceWarning about raw bytes bodies."""

    def __init__(self, value: bytes) -> None:
        aiohttp.payload.Payload.__init__(self, value, content_type="application/json")
        self._size = len(value)

    async def write(self, writer: Any) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(self, writer: Any, content_length: int | None) -> None:
        view = memoryview(self._value)
        if content_length is not None:
            view = view[:content_length]
        for start in range(0, len(view), _BODY_SLICE):
            await writer.write(view[start : start + _BODY_SLICE])


def body_payload(data: bytes | None) -> bytes | aiohttp.payload.Payload | None:
    """``data`` as aiohttp should send it: a large body as a :class:`_LargeBody`."""
    if data is not None and len(data) > LARGE_BODY:
        return _LargeBody(data)
    return data


@frozen
class Reply:
    """A complete non-streaming reply."""

    status: int
    headers: Mapping[str, str]
    body: bytes


#: The content codings the package decodes (streams and call replies, on every transport);
#: only these are offered in ``Accept-Encoding``.
STREAM_ENCODINGS = "gzip, deflate"

#: The transports ``AsyncMoveworks(transport=...)`` and ``AsyncDataAPI(transport=...)`` take by
#: name (a misspelt name is a type error, and an ``InvalidParameterError`` before any I/O).
TransportName = Literal["aiohttp", "pyreqwest"]
#: Most bytes one decompression step may produce. A compressed bomb is inflated in steps,
#: with a turn of the event loop between two steps (timers such as a stream's deadline run),
#: and the stream's byte budget stops it.
_INFLATE_STEP = 64 * 1024


#: Compressed input given to zlib per call, and gone through by one
#: :meth:`_Inflater.inflate` call at most: bounds what zlib copies at a member's end
#: (``unused_data``) or at an output cap (``unconsumed_tail``), a salvage's replay, and the
#: time of a call whose input decodes to nothing (~4 ms for 64 KiB of empty gzip members;
#: asyncio may run about three such steps between two turns of another task). Without it a
#: body of 200,000 tiny gzip members copied its rest at every member: 28 s of loop time.
_IN_STEP = 64 * 1024


class _Inflater:
    """Incremental gzip/deflate decoding of a reply body, salvaging what precedes corruption.

    aiohttp's own decoding raises on a corrupt block before handing over the data decoded from
    the same read, so events that arrived with the corruption would be lost. Here the bytes
    decoded before the bad spot are returned first and the error is raised by the next read.

    A gzip body may hold several members one after the other (RFC 1952; what ``gzip`` writes
    when appending, and ``gzip.decompress`` reads): each is decoded in turn, NUL padding
    between them skipped, as the ``gzip`` module does. (zlib stops at the end of the first
    one: the rest of the body was dropped without a word.) Bytes after a member that do not
    start another are corrupt data. Bytes after the end of a deflate stream are ignored.

    Input is held as it came and consumed :data:`_IN_STEP` bytes at a time, so each call's
    cost is bounded by its output ``limit`` and :data:`_IN_STEP` bytes of input, whatever
    the members; :attr:`pending` says input is left for the next call.
    """

    __slots__ = ("_buf", "_gzip", "_pos", "_step", "_z")

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding != "deflate"
        # gzip: the gzip wrapper; deflate: decided by the first byte (zlib-wrapped per RFC
        # 9110, but some servers send a raw deflate stream), so created on the first input.
        self._z: Any = zlib.decompressobj(16 + zlib.MAX_WBITS) if self._gzip else None
        #: Input not yet given to zlib: ``_buf[_pos:]``.
        self._buf: bytes | memoryview = b""
        self._pos = 0
        #: Input per zlib call: _IN_STEP, or twice the last member's size after a small
        #: member (zlib copies the rest of the input it was given at a member's end).
        self._step = _IN_STEP

    @property
    def pending(self) -> bool:
        """Input left over from the last call (its output cap, or its input budget)."""
        return self._pos < len(self._buf)

    @property
    def finished(self) -> bool:
        """Whether what was decoded ends where a compressed body may end (the end of a gzip
        member, or of the deflate stream); if the body ends elsewhere it was cut short."""
        return self._z is not None and bool(self._z.eof) and not self.pending

    def inflate(
        self, data: bytes, limit: int = _INFLATE_STEP, *, salvage: bool = True
    ) -> tuple[bytes, zlib.error | None]:
        """At most ``limit`` decoded bytes of ``data`` (or of the left-over input when ``data``
        is empty), and the error found after them, if any. ``salvage``: on an error, first
        decode what precedes the bad spot in the last input step (a stream's events); off,
        the error comes at once (a whole body, refused anyway)."""
        if data:
            if self.pending:  # (callers drain pending input before reading more)
                data = bytes(self._buf[self._pos :]) + bytes(data)
            self._buf = memoryview(data) if len(data) > _IN_STEP else data
            self._pos = 0
        buf = self._buf
        end = len(buf)
        budget = self._pos + _IN_STEP
        first: bytes | None = None
        out: bytearray | None = None
        produced = 0
        while produced < limit and self._pos < end and self._pos < budget:
            z = self._z
            if z is None:
                wbits = zlib.MAX_WBITS if buf[self._pos] & 0x0F == 8 else -zlib.MAX_WBITS
                z = self._z = zlib.decompressobj(wbits)
            elif z.eof:
                if not self._gzip:
                    self._pos = end  # after a deflate stream's end: ignored
                    break
                # The member before has ended: another one follows (after NUL padding), or
                # the bytes are corrupt (zlib says so on the new member's header).
                if buf[self._pos] == 0:
                    # Padding: skipped in windows growing from 32 bytes, so that one NUL
                    # after each of many members costs little, and megabytes of it few steps.
                    window = 32
                    while self._pos < end and buf[self._pos] == 0:
                        step = bytes(buf[self._pos : self._pos + window])
                        self._pos += len(step) - len(step.lstrip(b"\x00"))
                        window = min(2 * window, _IN_STEP)
                    continue
                z = self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
            piece = buf[self._pos : self._pos + self._step]
            saved = z.copy() if salvage else None  # the price of salvaging before an error
            try:
                chunk = z.decompress(piece, limit - produced)
            except zlib.error as exc:
                kept = self._salvage(saved, piece, limit - produced) if saved is not None else b""
                self._buf, self._pos = b"", 0  # nothing after a corrupt spot is decoded
                done = bytes(out) if out is not None else (first or b"")
                return done + kept, exc
            # After a member's end zlib shows the rest as unused_data (and, capped, also as
            # unconsumed_tail); before it, what the output cap left as unconsumed_tail.
            left = z.unused_data if z.eof else z.unconsumed_tail
            used = len(piece) - len(left)
            self._pos += used
            # Small members make small steps (each member's end copies the rest of its step);
            # steps double back up to _IN_STEP while no member ends.
            self._step = max(32, 2 * used) if z.eof else min(2 * self._step, _IN_STEP)
            produced += len(chunk)
            if first is None:
                first = chunk
            elif chunk:
                if out is None:
                    out = bytearray(first)
                out += chunk
        if self._pos >= end:
            self._buf, self._pos = b"", 0
        if out is not None:
            return bytes(out), None
        return first or b"", None

    def _salvage(self, z: Any, piece: Any, limit: int) -> bytes:
        """Rare path: redo the failed step byte by byte to keep everything before the bad
        spot (at most one input step of work)."""
        self._z = z
        kept = bytearray()
        for i in range(len(piece)):
            try:
                kept += z.decompress(piece[i : i + 1], limit - len(kept))
            except zlib.error:
                break
        return bytes(kept)


def _inflater(headers: Mapping[str, str], status: int) -> _Inflater | None:
    """The decoder of a reply's ``Content-Encoding``: None when the body is not coded.

    The header may be repeated or list several codings (RFC 9110: one list, in the order they
    were applied); ``identity`` entries mean nothing. One gzip (``x-gzip``) or deflate coding
    is decoded; anything else, two codings stacked included, is an UnexpectedResponseError.
    """
    value = headers.get("Content-Encoding")
    if value is None:
        return None
    getall = getattr(headers, "getall", None)
    values = getall("Content-Encoding", [value]) if getall is not None else [value]
    codings = [c.strip().lower() for v in values for c in v.split(",")]
    codings = [c for c in codings if c not in ("", "identity")]
    if not codings:
        return None
    if len(codings) == 1:
        if codings[0] in ("gzip", "x-gzip"):
            return _Inflater("gzip")
        if codings[0] == "deflate":
            return _Inflater("deflate")
    named = ", ".join(codings)
    raise UnexpectedResponseError(
        f"unsupported Content-Encoding {named[:40]!r} (offered: {STREAM_ENCODINGS})",
        status_code=status,
    )


#: What :func:`error_inflater` returns for an error reply whose coding cannot be decoded.
UNREADABLE: Any = object()


def error_inflater(headers: Mapping[str, str]) -> Any:
    """The inflater of an error reply's body (None: not coded), or :data:`UNREADABLE` for a
    coding this package does not decode: the body is read for its message only, so an
    unknown coding costs the message, never the status (a 429 stays a ``RateLimitError``,
    retried and seen by the governor)."""
    try:
        return _inflater(headers, 400)
    except UnexpectedResponseError:
        return UNREADABLE


async def read_error_body(
    read_chunk: Callable[[], Awaitable[bytes | None]], inflater: _Inflater | None
) -> bytes:
    """At most ``MAX_ERROR_BODY`` decoded bytes of an error reply, read with ``read_chunk``
    (a network chunk, ``b""`` or ``None`` at the end). Best effort: a corrupt coding just ends
    it; the rest is never downloaded nor inflated."""
    limit = MAX_ERROR_BODY
    out = bytearray()
    received = 0
    while len(out) < limit and (chunk := await read_chunk()):
        if inflater is None:
            out += chunk
            continue
        received += len(chunk)
        if received > MAX_BODY:
            break  # compressed bytes that decode to (next to) nothing: enough of them
        data = bytes(chunk)
        before = len(out)
        while len(out) < limit:
            piece, error = inflater.inflate(data, limit - len(out))
            out += piece
            if error is not None:
                return bytes(out)
            if not inflater.pending:
                break
            data = b""
            await asyncio.sleep(0)
        if len(out) == before:
            # Nothing decoded: a turn of the loop before the next read, which may not
            # suspend (pyreqwest hands over buffered bytes at once), so that the call's
            # Timeout.total and a cancellation reach it.
            await asyncio.sleep(0)
    return bytes(out[:limit])


#: The output step of :func:`decode_body`: bounded steps into one growing buffer.
_DECODE_STEP = 256 * 1024


async def decode_body(body: bytes, inflater: _Inflater | None, status: int) -> bytes:
    """A whole reply body decoded, at most ``MAX_BODY`` bytes (a compressed bomb stops there).

    In bounded steps with a turn of the event loop between them: a big or pathological body
    (a 30 MiB one, 200,000 tiny gzip members) never holds the loop for long, and the call's
    ``Timeout.total`` and a cancellation reach it between two steps.

    Raises:
        APIConnectionError: the compressed body is corrupt or cut short (``outcome_unknown``:
            the server answered, but what it answered cannot be read).
        UnexpectedResponseError: decoded, it exceeds ``MAX_BODY``.
    """
    if inflater is None or not body:
        return body  # (an empty body says nothing, coded or not: a 204, say)
    out = bytearray()
    data = body
    while True:
        chunk, error = inflater.inflate(
            data, min(_DECODE_STEP, MAX_BODY + 1 - len(out)), salvage=False
        )
        out += chunk
        if error is not None:
            raise APIConnectionError("the compressed reply body is corrupt", outcome_unknown=True)
        if len(out) > MAX_BODY:
            raise UnexpectedResponseError(
                f"reply body exceeds {MAX_BODY} bytes", status_code=status
            )
        if not inflater.pending:
            break
        data = b""
        await asyncio.sleep(0)
    if not inflater.finished:
        raise APIConnectionError("the compressed reply body is cut short", outcome_unknown=True)
    return out  # type: ignore[return-value]  # bytes-like, not copied


class OpenStream(Protocol):
    """An open streaming reply, as every transport hands it over (see :class:`StreamReply`).

    The body is the **raw** wire bytes decoded by the package's own bounded :class:`_Inflater`
    (gzip/deflate), so every transport salvages the same events before a corrupt block and
    inflates a bomb in the same bounded steps.
    """

    status: int
    headers: Mapping[str, str]

    async def read(self, limit: int = MAX_ERROR_BODY) -> bytes:
        """At most ``limit`` decoded bytes of an error body; best effort, never raises."""
        ...

    async def read_chunk(self) -> bytes:
        """The decoded bytes received so far (at least one), ``b""`` at the end of the body;
        a broken body raises :class:`APIConnectionError` (``outcome_unknown=True``). A cancelled
        call loses nothing."""
        ...

    @property
    def ended(self) -> bool:
        """True once the whole body has been received (the connection is then reusable)."""
        ...

    async def wait_eof(self) -> None:
        """Wait until the body has ended (a broken connection counts as ended)."""
        ...

    def close(self) -> None:
        """Let the connection go now (pooled only if the body ended); never suspends."""
        ...


class StreamOpener(Protocol):
    """What :meth:`Transport.stream` returns: ``async with`` opens the stream (once)."""

    async def __aenter__(self) -> OpenStream: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def close(self) -> None:
        """Let the response go if it was opened (idempotent; never suspends)."""
        ...


@runtime_checkable
class Transport(Protocol):
    """The seam between the client and the network: single attempts, no retries, no auth.

    Contract shared by every transport (``AiohttpTransport``, ``PyreqwestTransport``):

    - :meth:`request` sends one request and returns a :class:`Reply` whatever the status; the
      body is decoded (gzip/deflate) and capped at ``MAX_BODY`` (``UnexpectedResponseError``
      past it). Redirects are never followed. ``timeout.connect``/``timeout.read`` apply per
      attempt; ``timeout.total`` is the caller's business (the attempt loop bounds the call).
    - Failures are the package's errors only: ``APITimeoutError(phase="connect"|"read")``,
      ``APIConnectionError`` with ``tls=True`` for certificate failures, and
      ``outcome_unknown=False`` only when the request provably never left (connect phase).
      No library exception is chained (their reprs may hold the bearer).
    - :meth:`stream` returns a :class:`StreamOpener` with no total/read timeout (the caller
      enforces stream deadlines); the body is the raw coding decoded by ``_Inflater``.
    - Cancelling any call releases its connection. The transport is bound to the event loop
      it was first used on and raises ``ClientStateError`` when used after :meth:`aclose`,
      and for an attempt that :meth:`aclose` ended when it provably had sent nothing (aiohttp:
      waiting for a pool connection). An attempt it ended otherwise fails as a connection
      error, ``outcome_unknown=True`` (pyreqwest fails a request queued for a connection and
      one on the wire alike); the attempt loop turns that into ``ClientStateError`` for reads.
    """

    #: The public class named in the "not closed" warning (the Data API client sets its own).
    owner: str

    @property
    def is_closed(self) -> bool: ...

    @property
    def has_open_owned_session(self) -> bool:
        """True while the transport holds open network resources it must close itself."""
        ...

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
        params: Mapping[str, str] | None,
        timeout: Timeout,
    ) -> Reply: ...

    def stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
        connect_timeout: float | None,
    ) -> StreamOpener: ...

    async def aclose(self) -> None: ...


class DecodedStream:
    """The transport-independent half of an open stream: gzip/deflate decoding in bounded
    steps with salvage before corruption (:class:`_Inflater`), for error bodies and chunks.

    A transport subclasses it and supplies :meth:`_recv` (the next raw chunk, ``b""`` at the
    end, the package's error on a broken body).
    """

    __slots__ = ("_closed", "_error", "_inflater", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str]) -> None:
        self.status = status
        self.headers: Mapping[str, str] = headers
        self._inflater = _inflater(headers, status)
        self._error: APIConnectionError | None = None
        self._closed = False

    async def _recv(self) -> bytes:  # pragma: no cover - every transport overrides it
        raise NotImplementedError

    async def read(self, limit: int = MAX_ERROR_BODY) -> bytes:
        """At most ``limit`` bytes of the (decoded) body: an error reply before a stream starts.

        Best effort and bounded: only the message of an error body is used, so a longer or
        corrupt body is cut, never an error of its own, and a compressed bomb is inflated
        only up to ``limit`` (peak memory: ``limit`` plus one network chunk).
        """
        inflater = self._inflater
        out = bytearray()
        with contextlib.suppress(APIConnectionError):
            while len(out) < limit:
                if inflater is not None and inflater.pending:
                    await asyncio.sleep(0)  # one step at a time (see _INFLATE_STEP)
                    data = b""
                else:
                    data = await self._recv()
                    if not data:
                        break
                    if inflater is None:
                        out += data[: limit - len(out)]
                        continue
                chunk, error = inflater.inflate(data, min(_INFLATE_STEP, limit - len(out)))
                out += chunk
                if error is not None:
                    break
                if not chunk and not inflater.pending:
                    await asyncio.sleep(0)  # bytes decoding to nothing: see read_chunk
        return bytes(out)

    async def read_chunk(self) -> bytes:
        """The bytes received so far (at least one), or ``b""`` at the end of the body.

        A cancelled call loses nothing and the next call simply continues (unlike an async
        generator, which a cancellation finishes), and there is no generator to resume per
        chunk.
        """
        inflater = self._inflater
        if inflater is None:
            return await self._recv()
        while True:
            if self._error is not None:
                raise self._error
            if inflater.pending:
                # Input is left from the last step: let the loop run first, so inflating a
                # bomb never holds it for more than one step, and a timer that closed the
                # reply meanwhile (a deadline) stops the inflating.
                await asyncio.sleep(0)
                if self._closed:
                    raise APIConnectionError("the stream was closed", outcome_unknown=True)
                data = b""
            else:
                data = await self._recv()
                if not data:
                    return b""  # end of body; a truncated coding just ends the stream early
            out, bad = inflater.inflate(data)
            if bad is not None:
                # Raised by the next read, after the caller has used what decoded before it.
                self._error = APIConnectionError(
                    "the compressed stream body is corrupt", outcome_unknown=True
                )
            if out:
                return out
            if not inflater.pending:
                # Bytes that decode to nothing (empty gzip members, say): a turn of the loop
                # before the next read, which may not suspend (pyreqwest hands over buffered
                # bytes at once), so that such a body never holds the loop and a deadline
                # that closed the reply stops it.
                await asyncio.sleep(0)
                if self._closed:
                    raise APIConnectionError("the stream was closed", outcome_unknown=True)


class StreamReply(DecodedStream):
    """An open aiohttp streaming reply; read it with :meth:`read_chunk`; closed by its
    context manager, or by the transport's ``aclose()`` while it is open.

    The body arrives as sent (aiohttp's decompression is off for streams) and a gzip or
    deflate coding is decoded by :class:`DecodedStream`, chunk by chunk.
    """

    __slots__ = ("__weakref__", "_response")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        super().__init__(response.status, response.headers)
        self._response = response

    async def _recv(self) -> bytes:
        try:
            return await self._response.content.readany()
        except aiohttp.ClientError as exc:
            error = _mapped(exc, ambiguous=True)
        raise error  # outside the except block (see _mapped)

    @property
    def ended(self) -> bool:
        """True once the whole body has been received (the connection is then reusable)."""
        return self._response.content.is_eof()

    async def wait_eof(self) -> None:
        """Wait until the body has ended; a broken connection counts as ended (the caller
        is done with the body and closes it next)."""
        with contextlib.suppress(aiohttp.ClientError):
            await self._response.content.wait_eof()

    def close(self) -> None:
        """Let the connection go now; never suspends (see :func:`_let_go`)."""
        self._closed = True
        _let_go(self._response)


def answered_after_close() -> APIConnectionError:
    """The error of a stream whose reply headers arrived after its client closed: the stream
    does not start, and its request (a create) reached the server, so the outcome is unknown
    (check before sending it again), unlike a ``ClientStateError``, which means nothing
    was sent."""
    return APIConnectionError(
        "the client was closed while this stream waited for its reply; the server received "
        "the request",
        outcome_unknown=True,
    )


def _let_go(response: aiohttp.ClientResponse) -> None:
    """End a streaming response: its connection back to the pool if the body was read to its
    end, closed otherwise.

    ``release()`` rather than ``close()``: aiohttp itself closes the connection unless the body
    is complete and nothing follows it (``ResponseHandler.should_close``), so a stream left
    half-read is never pooled, while one that ended cleanly spares the next stream a new TCP
    (and TLS) handshake.
    """
    response.release()


async def _read_body(response: aiohttp.ClientResponse) -> bytes:
    """The whole body, at most ``MAX_BODY`` bytes (decoded), in one buffer and no copy of it.

    Peak memory is the body plus one network chunk: chunks are appended to one bytearray
    (of the final size when ``Content-Length`` gives it) that is returned as it is.
    """
    length = response.content_length
    if response.status >= 400:
        # An error reply is read for its message only (no more than MAX_ERROR_BODY is ever
        # parsed): an oversized or decompression-bomb body must not turn a 429 into an
        # UnexpectedResponseError that the retry policy and the rate governor never see.
        return await _read_error_body(response)
    if length is not None and length > MAX_BODY:
        response.close()
        # Not a connection error: retrying would download the same oversized body again.
        raise UnexpectedResponseError(
            f"reply body of {length} bytes exceeds {MAX_BODY}", status_code=response.status
        )
    if "Content-Encoding" in response.headers:
        # Read as it came (auto_decompress is off) and decoded by the package, as on every
        # transport: gzip members, x-gzip, the MAX_BODY cap after decoding, and an unknown
        # coding refused rather than read as JSON.
        inflater = _inflater(response.headers, response.status)
        if inflater is not None:
            raw = await _read_raw(response, length)
            return await decode_body(raw, inflater, response.status)
    if length is not None and length <= _SMALL_BODY:
        return await response.read()  # the exact size is known and small
    return await _read_raw(response, length)


async def _read_raw(response: aiohttp.ClientResponse, length: int | None) -> bytes:
    """The body's bytes as they came, at most ``MAX_BODY`` of them."""
    content = response.content
    if length is not None:
        # A known size (at most MAX_BODY, checked by the caller): one buffer of exactly that
        # size, filled in place.
        return await _read_exact(content, length)  # type: ignore[return-value]
    # Chunked: read until the end, capped.
    buffer = bytearray()
    while chunk := await content.readany():
        if len(buffer) + len(chunk) > MAX_BODY:
            response.close()
            raise UnexpectedResponseError(
                f"reply body exceeds {MAX_BODY} bytes", status_code=response.status
            )
        buffer += chunk
    # A bytearray is a bytes-like body for every reader here (JSON decoding, error snippets);
    # converting it would copy up to MAX_BODY bytes.
    return buffer  # type: ignore[return-value]


async def _read_error_body(response: aiohttp.ClientResponse) -> bytes:
    """At most ``MAX_ERROR_BODY`` bytes (decoded by the package) of an error reply; a longer
    body is cut and its connection closed (the rest is never downloaded nor inflated)."""
    inflater = error_inflater(response.headers)
    if inflater is UNREADABLE:
        response.close()
        return b""
    body = await read_error_body(response.content.readany, inflater)
    if not response.content.at_eof():
        response.close()
    return body


async def _read_exact(content: aiohttp.StreamReader, length: int) -> bytearray:
    """Read a body of ``length`` bytes into one bytearray of that size (no growth, no copy)."""
    buffer = bytearray(length)
    view = memoryview(buffer)
    filled = 0
    try:
        while filled < length:
            chunk = await content.readany()
            if not chunk:
                break  # shorter than announced: aiohttp raises for that; keep what came
            end = min(filled + len(chunk), length)
            view[filled:end] = chunk[: end - filled]
            filled = end
    finally:
        view.release()
    if filled < length:
        del buffer[filled:]
    return buffer


#: The error of an attempt that the client's aclose() ended before it was sent.
_CLOSED_UNSENT = "this AsyncMoveworks client was closed while the call waited for a connection"


def _mapped(exc: BaseException, *, ambiguous: bool) -> APIConnectionError:
    """The package error for an aiohttp/timeout exception.

    Callers raise it *outside* their ``except`` block: raised inside, Python would keep the
    aiohttp exception as ``__context__`` (``from None`` only hides it from tracebacks), and the
    ``repr`` of a ``ClientResponseError`` shows ``request_info`` with the Authorization header.
    """
    name = type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return APITimeoutError(f"connect timeout ({name})", phase="connect")
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return APITimeoutError(f"read timeout ({name})", phase="read", outcome_unknown=ambiguous)
    if isinstance(exc, TimeoutError):
        return APITimeoutError("total timeout", phase="total", outcome_unknown=ambiguous)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return APIConnectionError(f"TLS certificate verification failed: {exc}", tls=True)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return APIConnectionError(f"cannot connect: {exc}")
    detail = str(exc) or name
    return APIConnectionError(f"{name}: {detail}", outcome_unknown=ambiguous)


class StreamContext:
    """What :meth:`AiohttpTransport.stream` returns: ``async with`` gives the StreamReply.

    A small class rather than ``@asynccontextmanager``: an open stream keeps its context
    manager for its whole life, and a generator-based one holds a suspended generator frame
    (and the request arguments) per idle stream. Once entered this keeps only the response.
    """

    __slots__ = ("_args", "_response", "_transport")

    def __init__(
        self,
        transport: AiohttpTransport,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
        connect_timeout: float | None,
    ) -> None:
        self._transport: AiohttpTransport | None = transport
        self._args: tuple[str, str, Mapping[str, str], bytes | None, float | None] | None = (
            method,
            url,
            headers,
            data,
            connect_timeout,
        )
        self._response: aiohttp.ClientResponse | None = None

    async def __aenter__(self) -> StreamReply:
        transport, args = self._transport, self._args
        if transport is None or args is None:
            raise ClientStateError("a stream context can be entered only once")
        self._transport = self._args = None  # not kept alive by an open stream
        method, url, headers, data, connect_timeout = args
        session = transport._get_session()
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=None)
        error: APIConnectionError | None = None
        closed = False
        try:
            response = await session.request(
                method,
                url,
                headers={**headers, "Accept-Encoding": STREAM_ENCODINGS},
                data=body_payload(data),
                timeout=timeout,
                allow_redirects=False,
                auto_decompress=False,  # decoded by StreamReply, which salvages before errors
            )
        except (aiohttp.ClientError, TimeoutError, asyncio.CancelledError) as exc:
            if transport._closed_before_sending(exc):
                closed = True
            elif isinstance(exc, asyncio.CancelledError):
                raise
            else:
                error = _mapped(exc, ambiguous=not isinstance(exc, aiohttp.ClientConnectorError))
        if closed:
            raise ClientStateError(_CLOSED_UNSENT)
        if error is not None:
            raise error
        if transport._closed:
            # The client closed while this stream waited for its headers (a borrowed session
            # is not closed with it): the stream must not start on a closed client. Its
            # request reached the server (a create was made): outcome unknown, never a
            # ClientStateError, which says nothing was sent.
            _let_go(response)
            raise answered_after_close()
        self._response = response
        reply = StreamReply(response)
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
        """Let the response go if it was opened (idempotent; never suspends)."""
        response, self._response = self._response, None
        if response is not None:
            _let_go(response)


class AiohttpTransport:
    """Owns (or borrows) one ``aiohttp.ClientSession`` and performs single attempts.

    Args:
        session: a caller-owned session (never closed here), or None to create one lazily.
        max_connections: connection pool size of an owned session.
    """

    #: The public class named in the "not closed" warning (the Data API client sets its own).
    owner = "AsyncMoveworks"

    def __init__(
        self, session: aiohttp.ClientSession | None = None, *, max_connections: int = 100
    ) -> None:
        self._session = session
        self._owned = session is None
        self._max_connections = check_int(max_connections, "max_connections", 1, MAX_CONNECTIONS)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        #: Keyed by (connect, read), the only parts aiohttp sees: keyed by the whole Timeout,
        #: calls that each pass their own total (a shrinking budget) grew it without bound.
        self._timeouts: dict[tuple[float | None, float | None], aiohttp.ClientTimeout] = {}
        #: The open stream replies, closed by aclose() (a pending read then fails at once).
        self._streams: weakref.WeakSet[StreamReply] = weakref.WeakSet()
        #: The calls' replies whose body is being read, let go by aclose() likewise.
        self._replies: set[aiohttp.ClientResponse] = set()

    @property
    def is_closed(self) -> bool:
        return self._closed

    @property
    def has_open_owned_session(self) -> bool:
        return self._owned and self._session is not None and not self._session.closed

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._closed:
            raise ClientStateError("this AsyncMoveworks client is closed")
        session = self._session
        if session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0)
            session = aiohttp.ClientSession(
                connector=connector, timeout=aiohttp.ClientTimeout(total=None)
            )
            self._session = session
            self._loop = loop
        elif self._loop is None:
            self._loop = loop
        if loop is not self._loop:
            raise ClientStateError(
                "an AsyncMoveworks client is bound to the event loop it was first used on; "
                "create one client per event loop"
            )
        return session

    def _client_timeout(self, timeout: Timeout) -> aiohttp.ClientTimeout:
        key = (timeout.connect, timeout.read)
        cached = self._timeouts.get(key)
        if cached is None:
            # No aiohttp total: Timeout.total bounds the whole call, enforced by the client's
            # attempt loop around every attempt, wait and backoff (AsyncMoveworks._bounded).
            cached = aiohttp.ClientTimeout(
                total=None, sock_connect=timeout.connect, sock_read=timeout.read
            )
            self._timeouts[key] = cached
        return cached

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
        params: Mapping[str, str] | None,
        timeout: Timeout,
    ) -> Reply:
        """One attempt; returns whatever status came back."""
        session = self._get_session()
        sent = False
        try:
            async with session.request(
                method,
                url,
                # The codings the package decodes (aiohttp would offer br with Brotli).
                headers={**headers, "Accept-Encoding": STREAM_ENCODINGS},
                data=body_payload(data),
                params=params,
                timeout=self._client_timeout(timeout),
                allow_redirects=False,
                auto_decompress=False,  # decoded by the package (decode_body), as on pyreqwest
            ) as response:
                sent = True
                # Tracked while its body is read: aiohttp's session close does not wake a
                # pending body read (and its sock_read timer stops), so aclose() lets it go.
                replies = self._replies
                replies.add(response)
                try:
                    length = response.content_length
                    if (
                        length is not None
                        and length <= _SMALL_BODY
                        and length <= MAX_BODY
                        and "Content-Encoding" not in response.headers
                    ):
                        body = await response.read()  # the common case: small, exact size
                    else:
                        body = await _read_body(response)
                finally:
                    replies.discard(response)
                return Reply(response.status, response.headers, body)
        except (aiohttp.ClientError, TimeoutError, asyncio.CancelledError) as exc:
            if sent or not self._closed_before_sending(exc):
                if isinstance(exc, asyncio.CancelledError):
                    raise
                ambiguous = sent or not isinstance(exc, aiohttp.ClientConnectorError)
                error = _mapped(exc, ambiguous=ambiguous)
            else:
                error = None
        if error is None:
            # aiohttp re-sends an idempotent request on a fresh connection after a reused one
            # broke, and a close can stop only that re-send: only for a POST does the closed
            # pool prove nothing left.
            raise ClientStateError(_CLOSED_UNSENT if method == "POST" else CLOSED_DURING_CALL)
        raise error

    def _closed_before_sending(self, exc: BaseException) -> bool:
        """Whether ``exc`` (raised before the reply's headers) is :meth:`aclose` ending an
        attempt that had no connection yet, so that nothing was sent: aiohttp then cancels
        the wait for a pool slot (a ``CancelledError`` in a task nobody cancelled) and fails
        a connection opened meanwhile with "Connector is closed" before writing to it.

        Anything else (a reset, a timeout, an unrecognised message) is not proof: it stays
        the connection error it is, ``outcome_unknown`` when the request may have left. (aiohttp
        re-sends an idempotent request once on a fresh connection after a reused one broke, so
        for a GET this proves only that the re-send did not leave; a POST is never re-sent.)
        """
        if not self._closed:
            return False
        if isinstance(exc, asyncio.CancelledError):
            task = asyncio.current_task()
            return task is not None and not task.cancelling()
        return type(exc) is aiohttp.ClientConnectionError and str(exc).startswith(
            "Connector is closed"
        )

    def stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        data: bytes | None,
        connect_timeout: float | None,
    ) -> StreamContext:
        """Open a streaming reply (``async with``). On exit its connection goes back to the
        pool if the body was read to its end, and is closed otherwise (see :func:`_let_go`).

        aiohttp's ``total`` and ``sock_read`` timeouts are off: ``total`` (300 s in aiohttp's
        default ``ClientTimeout``, https://docs.aiohttp.org/en/stable/client_reference.html)
        would cut long streams, and ``sock_read`` is reset by every byte, so a server sending
        one byte at a time never trips it. The caller enforces first-event, idle and overall
        deadlines itself.
        """
        return StreamContext(self, method, url, headers, data, connect_timeout)

    async def aclose(self) -> None:
        """Close every stream still open (its pending read fails with "the stream was
        closed"), then the owned session (a borrowed one is left to its owner)."""
        self._closed = True
        for reply in list(self._streams):
            reply.close()
        for response in list(self._replies):
            _let_go(response)
        session, self._session = self._session, None
        if self._owned and session is not None and not session.closed:
            await session.close()

    def __del__(self, _warn: Any = warnings.warn) -> None:
        session = self._session
        if self._owned and session is not None and not session.closed:
            _warn(
                f"{self.owner} client was not closed; use 'async with' or 'await aclose()'",
                ResourceWarning,
                stacklevel=2,
                source=self,
            )


def _conforms(transport: AiohttpTransport) -> Transport:
    return transport  # mypy checks here that AiohttpTransport satisfies the protocol
