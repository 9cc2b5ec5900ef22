"""``FakeMoveworks``: an in-process Moveworks Conversations API server built on aiohttp.web."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Final, Self

from aiohttp import web

from . import _faults as f
from ._answers import AnswerSource
from ._auth import Tokens
from ._chaos import abort_connection, apply_plain_faults, gate_response, rate_limited_response
from ._data_api import DATA_PREFIX, DataApi
from ._events_api import EVENTS_PREFIXES, EventsApi
from ._handlers import Api
from ._injection import FaultRegistry
from ._modals import Modals
from ._stats import FeedbackRecord, ModalSubmission, RequestRecord, Stats, TokenBucket
from ._store import Store
from ._wire import (
    GENERATIONS,
    OAUTH_PATH,
    ApiError,
    Generation,
    ServerClosingError,
    error_response,
    generation_for,
    json_response,
)

__all__ = ["FakeMoveworks"]

log = logging.getLogger("moveworks_async.testing")

STATS_PATH: Final = "/_fake/stats"
#: Default real seconds between SSE events: enough that a streamed answer visibly grows (a
#: demo answer takes about half a second), little enough for tests. Pass 0 for speed.
DEFAULT_STREAM_DELAY: Final = 0.05
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeMoveworks:
    """A fake Moveworks Conversations API serving all three generations at once.

    Paths: ``/rest/v1beta1``, ``/assistant/v1`` and ``/rest/v1`` prefixes under :attr:`url`,
    plus ``POST /oauth/v1/token`` and ``GET /_fake/stats`` (counters as JSON, for benchmarks
    that run the server in another process). Use it as ``async with FakeMoveworks() as s``,
    mount :attr:`app` on aiohttp's ``TestServer``, or run ``python -m moveworks_async.testing``.

    Args:
        assistant_name: The only ``Assistant-Name`` accepted (else 403 ``FORBIDDEN``).
        token: The accepted static bearer; ``None`` accepts any non-empty bearer.
        client_id, client_secret: Credentials ``POST /oauth/v1/token`` accepts.
        token_ttl: Lifetime (server clock seconds) and ``expires_in`` of minted tokens.
        token_reply: ``"wrapped"`` replies ``{"data": {...}}``, ``"flat"`` the bare fields.
        answer: Scripted answers: a callable ``text -> Answer``, a table ``text -> Answer | str``
            (unknown questions get the default), or ``None`` for the canned default.
        polls_to_complete: GET response number N returns the terminal state; earlier GETs
            return ``IN_PROGRESS`` revealing one more reasoning message each time.
        stream_delay: Real seconds between SSE events (default 0.05, so streaming looks like
            streaming; 0 sends every event at once, for speed).
        rate_limit: ``(rate per second, burst)`` token bucket over all API requests (not the
            token endpoint); an empty bucket answers 429 ``RATE_LIMIT_EXCEEDED``.
        rate_limit_retry_after: Header sent with bucket 429s (see ``retry_after_headers``):
            ``"1"`` (literal seconds), ``"auto"``, ``"http-date"``, ``"ms:N"`` or ``None``.
        clock: Time source for token expiry, the bucket, records and the per-second histogram.
        host, port: Where :meth:`start` listens by default (port 0: a free port).
        record: Keep :attr:`requests` (a deque of the last ``max_records`` requests).
        data_api_key: The bearer the Data API (``/export/v1/records/...``) accepts, besides
            tokens minted by ``/oauth/v1/token``.
        max_records: Bound of :attr:`requests`.

    Attributes:
        app: The ``aiohttp.web.Application`` (exists before :meth:`start`).
        stats: :class:`Stats` counters (creates, 429s, connections, streams, per-second).
        requests: Recorded :class:`RequestRecord` values, oldest first.
        feedback: Accepted :class:`FeedbackRecord` values.
        modal_submissions: Accepted :class:`ModalSubmission` values.
        store: The in-memory state (conversations, responses, messages, events); its shape
            is internal and may change, read it only in assertions.
        events_api: The Events API (:class:`EventsApi`): ``register()`` events, read
            ``deliveries``; 120 requests per minute, flat ``{code, message}`` errors.
        data_api: The Data API (:class:`DataApi`): ``add()`` or ``generate()`` records.
    """

    def __init__(
        self,
        *,
        assistant_name: str = "acme-capi",
        token: str | None = "test-token",
        client_id: str = "test-client",
        client_secret: str = "test-secret",
        token_ttl: float = 3600.0,
        token_reply: str = "wrapped",
        answer: AnswerSource = None,
        polls_to_complete: int = 2,
        stream_delay: float = DEFAULT_STREAM_DELAY,
        rate_limit: tuple[float, float] | None = None,
        rate_limit_retry_after: str | None = "1",
        clock: Callable[[], float] = time.monotonic,
        host: str = "127.0.0.1",
        port: int = 0,
        record: bool = True,
        max_records: int = 100_000,
        data_api_key: str = "test-data-key",
    ) -> None:
        self.assistant_name = assistant_name
        self.answer = answer
        self.polls_to_complete = polls_to_complete
        self.stream_delay = stream_delay
        self.rate_limit_retry_after = rate_limit_retry_after
        self.clock = clock
        self.record = record
        self.store = Store()
        self.stats = Stats(clock)
        self.faults = FaultRegistry()
        self.tokens = Tokens(
            static=token,
            client_id=client_id,
            client_secret=client_secret,
            ttl=token_ttl,
            reply=token_reply,
            clock=clock,
        )
        self.requests: deque[RequestRecord] = deque(maxlen=max_records)
        self.feedback: list[FeedbackRecord] = []
        self.modal_submissions: list[ModalSubmission] = []
        self._bucket = TokenBucket(*rate_limit, clock) if rate_limit is not None else None
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._closing = asyncio.Event()
        # ids of in-flight requests hit by Fault.reset_after_request; the stream handler
        # aborts instead of sending headers (a set, not request storage: works on aiohttp 3.10).
        self.resetting: set[int] = set()
        self.events_api = EventsApi(self)
        self.data_api = DataApi(self, api_key=data_api_key)
        self.app = self._make_app()

    # -- lifecycle -------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        for gen in GENERATIONS:
            app.router.add_routes(Api(self, gen).routes())
        app.router.add_routes(Modals(self).routes())
        app.router.add_routes(self.events_api.routes())
        app.router.add_routes(self.data_api.routes())
        app.router.add_post(OAUTH_PATH, self.tokens.handle)
        app.router.add_get(STATS_PATH, self._stats_handler)
        return app

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        """Listen on ``host:port`` (defaults from the constructor; port 0 picks a free one)."""
        if self._runner is not None:
            raise RuntimeError("FakeMoveworks is already started")
        host = self._host if host is None else host
        port = self._port if port is None else port
        self._closing = asyncio.Event()
        # handler_cancellation: a client that hangs up cancels its handler at once, so stalled
        # streams free their resources instead of sleeping on. No access log: it costs ~10 %.
        runner = web.AppRunner(
            self.app, access_log=None, handler_cancellation=True, shutdown_timeout=5.0
        )
        await runner.setup()
        self._track_connections(runner)
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound = runner.addresses[0][1]
        self._url = f"http://[{host}]:{bound}" if ":" in host else f"http://{host}:{bound}"

    def _track_connections(self, runner: web.AppRunner) -> None:
        server = runner.server
        assert server is not None
        made, lost = server.connection_made, server.connection_lost
        stats = self.stats

        # aiohttp's low-level Server is told about every connection by its protocol objects;
        # wrapping its two hooks is the one place that sees TCP connections open and close.
        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            stats.connection_opened()
            made(handler, transport)

        def connection_lost(handler: Any, exc: BaseException | None = None) -> None:
            stats.connection_closed()
            lost(handler, exc)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]

    async def close(self) -> None:
        """Stop listening; in-flight stalls and streams end at once."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._closing.set()
        await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """Return the base URL, e.g. ``http://127.0.0.1:54321`` (after :meth:`start`)."""
        if self._url is None:
            raise RuntimeError("FakeMoveworks is not started")
        return self._url

    # -- test controls ---------------------------------------------------------------------

    def inject(
        self,
        fault: f.Fault,
        conversation_id: str | None = None,
        times: int | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Inject ``fault`` for one conversation or all, at most ``times`` firings."""
        self.faults.add(fault, conversation_id, times, path_contains, self.tokens.last_serial)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self.faults.clear()

    def push_event(self, conversation_id: str | None, text: str) -> str:
        """Post a proactive assistant message as a ``MESSAGE_EVENT``; return its event id.

        ``conversation_id=None`` creates a "System Initiated Conversation" for it.

        Raises:
            KeyError: The conversation does not exist.
        """
        if conversation_id is not None and conversation_id not in self.store.conversations:
            raise KeyError(conversation_id)
        return self.store.push_event(conversation_id, text).event_id

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` (always yielding once); raise ``ServerClosingError`` on close."""
        if self._closing.is_set():
            raise ServerClosingError
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        try:
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        except TimeoutError:
            return
        raise ServerClosingError

    # -- request pipeline ------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        path = request.path
        if path == STATS_PATH:
            return await handler(request)
        self.stats.requests_total += 1
        gen = generation_for(path)
        if self.record:
            await self._record(request, gen)
        oauth = path == OAUTH_PATH
        if oauth:
            self.stats.token_requests += 1
        routing_error = request.match_info.http_exception
        if routing_error is not None:
            status = 405 if routing_error.status == 405 else 404
            code = "METHOD_NOT_ALLOWED" if status == 405 else "NOT_FOUND"
            return error_response(status, code, f"No route for {request.method} {path}.", gen)
        # The Events and Data APIs check their own credentials and limits, and use flat errors.
        own = path.startswith((*EVENTS_PREFIXES, DATA_PREFIX))
        if not oauth:
            self.stats.note_api_request()
            if self._bucket is not None and not own:
                wait = self._bucket.take()
                if wait:
                    self.stats.rate_limited += 1
                    return rate_limited_response(gen, self.rate_limit_retry_after, wait, False)
        try:
            return await self._serve(request, handler, gen, oauth, own)
        except ServerClosingError:
            abort_connection(request, rst=False)
            return web.Response()

    async def _serve(
        self,
        request: web.Request,
        handler: _Handler,
        gen: Generation | None,
        oauth: bool,
        own: bool = False,
    ) -> web.StreamResponse:
        path = request.path
        conversation_id = request.match_info.get("conversation_id")
        serial = None if oauth else self.tokens.serial_of(request.headers.get("Authorization"))
        plain: list[f.Fault] = []
        reset = False
        if self.faults:
            gate = self.faults.take_gate(path, conversation_id, oauth, serial)
            if isinstance(gate, f.ResetAfterRequest):
                reset = True
            elif gate is not None:
                if isinstance(gate, f.RateLimited) or (
                    isinstance(gate, f.Status) and gate.code == 429
                ):
                    self.stats.rate_limited += 1
                return gate_response(gate, gen, flat=oauth or own)
            if not path.endswith("/responses/stream"):
                plain = self.faults.take(path, conversation_id, oauth, False)
        if not reset:
            resp = await self._call(request, handler, gen, oauth or own, serial, plain)
        else:
            # The request is processed (a create really happens) and only the reply is lost:
            # the client cannot know the outcome, which is the point of the fault.
            self.resetting.add(id(request))
            try:
                await self._call(request, handler, gen, oauth or own, serial, plain)
            finally:
                self.resetting.discard(id(request))
            abort_connection(request)
            return web.Response()
        if plain and isinstance(resp, web.Response):
            resp = await apply_plain_faults(request, resp, plain, self.pause, self.stats)
        return resp

    async def _call(
        self,
        request: web.Request,
        handler: _Handler,
        gen: Generation | None,
        oauth: bool,
        serial: int | None,
        plain: list[f.Fault],
    ) -> web.StreamResponse:
        if not oauth:
            if serial is None:
                return error_response(
                    401, "UNAUTHORIZED", "Missing, invalid or expired bearer token.", gen
                )
            if request.headers.get("Assistant-Name") != self.assistant_name:
                return error_response(403, "FORBIDDEN", "Invalid assistant.", gen)
        for fault in plain:
            if isinstance(fault, f.Stall):
                await self.pause(fault.seconds)
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, gen)
        except (web.HTTPException, ServerClosingError, ConnectionError):
            raise  # aiohttp's own answers (e.g. 413) and disconnects pass through
        except Exception:
            log.exception("FakeMoveworks handler failed for %s %s", request.method, request.path)
            return error_response(500, "INTERNAL_ERROR", "The fake server failed.", gen)

    async def _record(self, request: web.Request, gen: Generation | None) -> None:
        body: Any = None
        if request.body_exists:
            raw = await request.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
        headers = {
            k: ("<redacted>" if k.lower() == "authorization" else v)
            for k, v in request.headers.items()
        }
        self.requests.append(
            RequestRecord(
                method=request.method,
                path=request.path,
                generation=gen.name if gen is not None else None,
                headers=headers,
                query=dict(request.query),
                json=body,
                time=self.clock(),
            )
        )

    async def _stats_handler(self, request: web.Request) -> web.Response:
        return json_response(self.stats.as_dict(), None)
