"""``AsyncMoveworks``: configuration, lifecycle and the one attempt loop every call goes through.

The loop (``_execute``) is where the pure pieces meet I/O: it asks the token source for a
bearer, the governor for a turn, the transport for one attempt, and the retry policy for a
decision. Resources (``_resources.py``) and streams (``_streaming.py``) only build requests and
read replies.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import math
import random
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Self, TypeVar, cast

import aiohttp
import anyio
import attrs

from . import _json
from ._auth import (
    CallableToken,
    ClientCredentials,
    StaticToken,
    TokenSource,
    _BoundCredentials,
    token_body,
)
from ._close_waits import CloseWaits
from ._config import DEFAULT_BASE_URL, ApiVersion, resolve_settings
from ._deadline import CURRENT, Deadline, DeadlineLane, Lanes
from ._errors import (
    CLOSED_DURING_CALL,
    APIConnectionError,
    APIError,
    ClientStateError,
    InvalidParameterError,
    TotalTimeout,
)
from ._governor import (
    Governor,
    RateGovernor,
    WaitCallback,
    check_governor,
    report_rate_limit,
)
from ._hooks import CallTracer, HookRunner
from ._models import Response
from ._notifications import Notifications
from ._off_loop import OFF_LOOP_BODY, decode, decode_in_time
from ._protocol import (
    Generation,
    Request,
    mask_text,
    release_frames,
    request_id_from,
)
from ._raw import recording
from ._reply import failure as interpret_failure
from ._reply import json_body, model
from ._resources import Conversations, Events, Feedback, Messages, Modals, Responses
from ._retry import Decision, RetryBudget, RetryPolicy
from ._seam import Attempt, Seam, loop_time
from ._transport import Reply, StreamOpener, Timeout, Transport, TransportName
from ._transport_choice import check_pool, make_transport
from ._validate import check_callable, check_headers, check_max_retries
from ._version import package_version

__all__ = ["DEFAULT_BASE_URL", "AsyncMoveworks", "engine_seam"]

#: Shortest credential masked in server text (shorter ones would mask ordinary words).
_MIN_SECRET = 4
logger = logging.getLogger("moveworks_async")

T = TypeVar("T")


class _Send:
    """A plain attempt as data: one ``transport.request`` whose 2xx reply is the value.

    Most calls are this; the attempt loop runs it inline, without a closure (a function and
    five cells kept alive per call in flight, which the cyclic GC then scans) and without a
    coroutine level of its own.
    """

    __slots__ = ("data", "headers", "timeout", "url")

    def __init__(
        self, url: str, data: bytes | None, timeout: Timeout, headers: dict[str, str] | None
    ) -> None:
        self.url = url
        self.data = data
        self.timeout = timeout
        #: Per-call extra headers (already validated), or None.
        self.headers = headers


class _Bounds(Deadline):
    """The whole-call bound of one attempt loop (see ``AsyncMoveworks._bounded``), and the
    call's entry in its deadline lane: one object per call.

    ``deadline`` is on the client's clock; ``timeout`` gives the per-attempt connect/read
    bounds (a token fetch started by the call uses them too); ``in_flight`` is True while an
    attempt is on the wire, which is what makes a timed-out create's outcome unknown.
    ``task`` is the task running the call: only its own nested loops (a token fetch) inherit
    the bounds; a task spawned meanwhile (by a hook, say) copies the context variable but is
    not bounded by the call's scope, so it must not count on it.
    """

    __slots__ = ("deadline", "in_flight", "timeout", "total")

    def __init__(
        self, deadline: float, timeout: Timeout, total: float, task: asyncio.Task[Any] | None
    ) -> None:
        # Deadline's own fields are set here rather than through its __init__ (one call less
        # per call); ``when`` and ``cancelling`` are set when the call enters a lane. ``task``
        # is None only outside a task, where no lane is entered.
        self.task = task  # type: ignore[assignment]
        self.expired = False
        self.deadline = deadline
        self.timeout = timeout
        self.total = total
        self.in_flight = False


def _call_bounds() -> _Bounds | None:
    """The bounds of the call running in this task, if any (see :class:`_Bounds`)."""
    bounds = _CALL_BOUNDS.get()
    if bounds is not None and bounds.task is not asyncio.current_task():
        return None
    return bounds


#: The bounds of the call whose attempt loop runs in this context. A token fetch the call
#: starts runs inside it and inherits them: it obeys the bounds of the call that triggered it.
#: ``_deadline.CURRENT``, which holds the client's ``_Bounds`` (a transport reads the time left).
_CALL_BOUNDS = cast("ContextVar[_Bounds | None]", CURRENT)


def _make_auth(token: str | None, auth: object) -> TokenSource:
    if token is not None:
        return StaticToken(token)
    if isinstance(auth, TokenSource):
        return auth
    if callable(auth):
        return CallableToken(auth)
    raise InvalidParameterError(
        "auth must be ClientCredentials, a TokenSource or an async callable returning a str"
    )


def _pool_size(session: aiohttp.ClientSession) -> int:
    """The connection limit of a caller's session (0: unlimited)."""
    limit = getattr(session.connector, "limit", 0)
    return limit if type(limit) is int and limit > 0 else 0


class AsyncMoveworks:
    """Async client of the Moveworks Conversations API.

    Use it as an async context manager (or call :meth:`aclose`); one client serves any number
    of concurrent tasks and shares one connection pool, token and rate governor among them.

    Settings not given are read from the environment, as the CLI does (arguments win):
    ``MOVEWORKS_ASSISTANT_NAME``, ``MOVEWORKS_TOKEN`` or ``MOVEWORKS_CLIENT_ID`` +
    ``MOVEWORKS_CLIENT_SECRET`` (only when neither ``token`` nor ``auth`` is given),
    ``MOVEWORKS_BASE_URL`` and ``MOVEWORKS_API_VERSION``. A missing assistant name or
    credential raises :class:`InvalidParameterError` naming the argument and the variable.

    Args:
        assistant_name: sent as ``Assistant-Name`` on every call.
        token: a static bearer (API key); or
        auth: ``ClientCredentials(...)``, a ``TokenSource`` or an async callable returning
            a bearer.
        base_url: API host; regional hosts allowed (default ``https://api.moveworks.ai``).
        api_version: ``"v1"`` (default, the current generation), ``"assistant-v1"`` or
            ``"v1beta1"``.
        session: a caller-owned ``aiohttp.ClientSession``, never closed by the client.
        timeout: ``Timeout`` (connect/read/total) or total seconds for non-streaming calls.
        max_retries: default retries per call (overridable per call).
        retry_policy: full retry settings (``max_retries`` overrides its count).
        governor: a ``RateGovernor`` or ``RedisRateGovernor`` (possibly shared by several
            clients); default: a new adaptive ``RateGovernor`` of this client, its
            ``max_concurrency`` set to the connection pool size.
        hooks: objects with per-call/per-attempt callbacks (see ``Hooks``), run in order.
        notifications_governor: the governor of ``client.notifications`` (Events API);
            default: ``notifications_governor()``, 120 requests per minute.
        max_connections: pool size when the client owns its session.
        transport: ``"aiohttp"`` (default), ``"pyreqwest"`` (the ``[fast]`` extra) or a
            ``Transport`` instance; see README "Transports".
        clock, sleep: monotonic clock and async sleep, injectable so tests never wait.
    """

    def __init__(
        self,
        *,
        assistant_name: str | None = None,
        token: str | None = None,
        auth: TokenSource | ClientCredentials | Callable[[], Awaitable[str]] | None = None,
        base_url: str | None = None,
        api_version: ApiVersion | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        governor: Governor | None = None,
        hooks: Iterable[object] | None = None,
        notifications_governor: Governor | None = None,
        max_connections: int = 100,
        transport: TransportName | Transport | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> None:
        if token is not None and auth is not None:
            raise InvalidParameterError("pass exactly one of token= and auth=")
        check_pool(session, max_connections)
        check_callable(clock, "clock")
        check_callable(sleep, "sleep")
        given = {"assistant_name": assistant_name, "token": token, "base_url": base_url}
        given["api_version"] = api_version
        settings = resolve_settings(given, has_auth=auth is not None)
        assert settings.assistant_name is not None
        self.assistant_name = settings.assistant_name
        self.base_url = settings.base_url
        self.generation = Generation.parse(settings.api_version)
        self._prefix = self.generation.prefix
        self.timeout = Timeout.coerce(timeout)
        policy = retry_policy or RetryPolicy()
        retries = check_max_retries(max_retries)
        if retries is not None:
            policy = attrs.evolve(policy, max_retries=retries)
        self.retry_policy = policy
        if auth is None and settings.client_id is not None:
            auth = ClientCredentials(settings.client_id, settings.client_secret or "")
        self._auth = _make_auth(settings.token, auth)
        # A constant bearer is read without a coroutine per attempt (same package, same rules).
        self._static_token = self._auth._token if type(self._auth) is StaticToken else None
        self._clock = clock or loop_time
        #: The whole-call deadlines of calls in flight, on the loop the client last ran on.
        self._lanes: Lanes | None = None
        self._sleep = sleep or anyio.sleep
        #: The calls' backoff sleeps, governor waits and pauses between polls: aclose() ends
        #: them (shared with the views, as the transport is).
        self._waits = CloseWaits()
        self._rng = random.random
        if governor is not None:
            governor = check_governor(
                governor, "governor must be a RateGovernor, a RedisRateGovernor or another Governor"
            )
        if governor is None:
            # The default governor caps attempts in flight at the pool size. That costs no
            # throughput (the pool allows no more), but the queue then waits in the governor,
            # where a 429 pauses it, instead of in aiohttp, where it would still be sent.
            pool = max_connections if session is None else _pool_size(session)
            governor = RateGovernor(max_concurrency=pool or None, clock=clock, sleep=sleep)
        self.governor: Governor = governor
        #: The governor's non-waiting turn, if it has one (``RateGovernor.try_acquire``).
        self._try_acquire: Callable[[], int | None] | None = getattr(governor, "try_acquire", None)
        self._auth_governor = RateGovernor(adaptive=False, clock=clock, sleep=sleep)
        runner = HookRunner(hooks) if hooks is not None else None
        self._hooks = runner if runner else None
        self._budget = RetryBudget()
        self._transport: Transport = make_transport(transport, session, max_connections)
        if isinstance(self._auth, ClientCredentials):
            # This client's view: shared token and refresh, refreshed through this client.
            self._auth = self._auth.bind(self._fetch_token, self.base_url)
        self._base_headers = {
            "Assistant-Name": self.assistant_name,
            "Accept": "application/json",
            "User-Agent": f"moveworks-async/{package_version()}",
        }
        self._body_headers = {**self._base_headers, "Content-Type": "application/json"}
        #: The client whose pool, token and governor a ``with_options`` view shares (None for
        #: the client that owns them).
        self._parent: AsyncMoveworks | None = None
        self._notifications_governor = notifications_governor
        self._resources()

    def _resources(self) -> None:
        """Build the resources of this client (or view), each given the one seam."""
        seam = _ClientSeam(self)
        self.conversations = Conversations(seam)
        self.responses = Responses(seam)
        self.messages = Messages(seam)
        self.feedback = Feedback(seam)
        self.events = Events(seam)
        self.modals = Modals(seam)
        self.notifications = Notifications(seam, self._notifications_governor)
        self._notifications_governor = self.notifications.governor  # views share it

    def __repr__(self) -> str:
        return (
            f"AsyncMoveworks(base_url={self.base_url!r}, assistant_name={self.assistant_name!r}, "
            f"api_version={self.generation.value!r}, auth={self._auth!r})"
        )

    def with_options(
        self,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> AsyncMoveworks:
        """A view of this client with other defaults; nothing given: the same defaults.

        The view shares this client's connection pool, token (and its refresh), rate
        governor, retry budget and hooks; creating one costs no I/O. ``timeout`` and
        ``max_retries`` replace the client's; ``retry_policy`` replaces the whole policy
        (``max_retries`` still wins over its count); ``extra_headers`` are added to every
        request of the view (on top of this client's own extras; validated now, and the
        headers the client manages, such as ``Authorization``, cannot be replaced).

        Closing this client closes every view of it; closing a view closes nothing (it owns
        nothing), so ``async with client.with_options(...) as view:`` is safe.
        """
        if retry_policy is not None and not isinstance(retry_policy, RetryPolicy):
            raise InvalidParameterError("retry_policy must be a RetryPolicy")
        retries = check_max_retries(max_retries)
        headers = check_headers(extra_headers)
        new_timeout = self.timeout if timeout is None else Timeout.coerce(timeout)
        view = copy.copy(self)  # shares the transport, auth, governors, budget and hooks
        view._parent = self._parent if self._parent is not None else self
        view.timeout = new_timeout
        policy = self.retry_policy if retry_policy is None else retry_policy
        view.retry_policy = policy if retries is None else attrs.evolve(policy, max_retries=retries)
        if headers is not None:
            view._base_headers = {**self._base_headers, **headers}
            view._body_headers = {**self._body_headers, **headers}
        view._resources()
        return view

    # --- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._transport.is_closed:
            raise ClientStateError("this AsyncMoveworks client is closed")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool if the client owns it. Idempotent.

        Calls of this client (and its views) waiting for a governor turn, sleeping out a 429
        pause or a retry backoff, or pausing between two polls of ``responses.wait`` fail at
        once with :class:`ClientStateError` (nothing of them was applied). On a
        :meth:`with_options` view this does nothing: the pool belongs to the client the view
        was made from.
        """
        if self._parent is None:
            self._waits.close()  # calls sleeping out a pause or a backoff fail at once
            await self._transport.aclose()

    @property
    def is_closed(self) -> bool:
        """True after :meth:`aclose`."""
        return self._transport.is_closed

    # --- the attempt loop ------------------------------------------------------------------

    def _headers(self, token: str | None, has_body: bool) -> dict[str, str]:
        headers = dict(self._body_headers if has_body else self._base_headers)
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        return headers

    def _execute(
        self,
        request: Request,
        attempt: Attempt[T] | _Send,
        *,
        max_retries: int | None = None,
        authenticated: bool = True,
        timeout: Timeout | None = None,
    ) -> Coroutine[Any, Any, T]:
        """Run ``attempt`` under auth, governor and retry policy until success or a final error.

        Every attempt takes a turn from the governor and reports back to it. A 429 is handed
        to the governor, which pauses every task sharing it, instead of being slept on here.
        With hooks, each call, attempt, retry and governor wait is reported to them.

        ``timeout.total`` (a plain request's own ``Timeout`` by default) bounds the whole call:
        attempts, backoff, governor waits and token fetches (see :meth:`_bounded`).

        Returns the coroutine to await (a plain function).
        """
        if max_retries is not None:
            check_max_retries(max_retries)
        if timeout is None and type(attempt) is _Send:
            timeout = attempt.timeout
        if self._hooks is None:
            return self._bounded(request, attempt, max_retries, authenticated, None, timeout)
        return self._traced(request, attempt, max_retries, authenticated, timeout)

    async def _bounded(
        self,
        request: Request,
        attempt: Attempt[T] | _Send,
        max_retries: int | None,
        authenticated: bool,
        trace: CallTracer | None,
        timeout: Timeout | None,
    ) -> T:
        """The attempt loop under the call's whole-call bound.

        Rules: ``timeout.total`` seconds bound everything the call does (attempts, backoff
        sleeps, governor waits, a token fetch it triggers) and it then ends with
        ``TotalTimeout`` (an ``APITimeoutError``), ``outcome_unknown`` set for a create that was on
        the wire. A loop nested in a bounded call (a token fetch) inherits that call's bound
        and per-attempt connect/read timeouts; the real-time bound is the outer call's
        deadline on the loop's clock (``_deadline``); the client's clock decides ahead of time
        that a backoff or a governor wait would pass the deadline (so tests with a fake clock
        see it too).

        The bounds reach nested loops through a context variable, set by every bounded call:
        a token fetch, a call made from a hook, or a transport, governor or sleep of your own
        that itself calls a client all see them.
        """
        # One coroutine level for both (every resumption of the attempt passes each level).
        try:
            # _call_bounds(), inline (a function call less on every call).
            outer = _CALL_BOUNDS.get()
            if outer is not None and outer.task is not asyncio.current_task():
                outer = None  # a task spawned during a call copies the variable, not its scope
            lane: DeadlineLane | None
            if outer is None:
                if timeout is None or (total := timeout.total) is None:
                    if timeout is None or timeout is self.timeout:
                        return await self._attempts(
                            request, attempt, max_retries, authenticated, trace, None
                        )
                    # No whole-call deadline, but the call's own per-attempt connect/read
                    # bounds: a token fetch it starts obeys them too, not the client's defaults.
                    per_attempt = _CALL_BOUNDS.set(
                        _Bounds(math.inf, timeout, math.inf, asyncio.current_task())
                    )
                    try:
                        return await self._attempts(
                            request, attempt, max_retries, authenticated, trace, None
                        )
                    finally:
                        _CALL_BOUNDS.reset(per_attempt)
                # The usual call, with a deadline of its own (the hot path: kept short).
                loop = asyncio.get_running_loop()
                task = asyncio.current_task(loop)
                clock = self._clock
                if clock is loop_time:  # the default: one reading serves both clocks
                    deadline = when = loop.time() + total
                else:
                    deadline = clock() + total
                    when = loop.time() + total
                bounds = _Bounds(deadline, timeout, total, task)
                lanes = self._lanes  # the lookup of _lane, inline (a function call less)
                lane = (
                    lanes[total]
                    if lanes is not None and lanes.loop is loop
                    else self._lane(total, loop)
                )
            else:
                # Nested in a bounded call of this task (a token fetch it triggers): the
                # earlier deadline rules, and the outer call's connect/read bounds unless
                # this call has its own.
                task = outer.task
                own = timeout.total if timeout is not None else None
                deadline = self._clock() + own if own is not None else math.inf
                if outer.deadline <= deadline:
                    bounds = _Bounds(outer.deadline, timeout or outer.timeout, outer.total, task)
                else:
                    assert timeout is not None
                    assert own is not None
                    bounds = _Bounds(deadline, timeout, own, task)
                if own is None or bounds.deadline < deadline:
                    lane = None  # the outer call's scope bounds real time
                    when = math.inf
                else:
                    loop = asyncio.get_running_loop()
                    lane = self._lane(own, loop)
                    when = loop.time() + own
            reset = _CALL_BOUNDS.set(bounds)
            try:
                if lane is None:
                    return await self._attempts(
                        request, attempt, max_retries, authenticated, trace, bounds
                    )
                # The real-time bound: asyncio.timeout's protocol at a fraction of its cost
                # (one timer per call length, not one per call; see _deadline). The bounds are
                # the call's lane entry.
                if task is None:  # pragma: no cover - asyncio runs coroutines in tasks
                    raise RuntimeError("a call with a timeout must run in an asyncio task")
                lane.enter(bounds, when)
                try:
                    value = await self._attempts(
                        request, attempt, max_retries, authenticated, trace, bounds
                    )
                except BaseException as exc:
                    lane.remove(bounds)
                    if not bounds.settle(exc):
                        raise
                else:
                    lane.remove(bounds)
                    if bounds.expired:  # the deadline fired as the call ended: undo its cancel
                        bounds.settle(None)
                    return value
                raise self._timed_out(request, bounds)
            finally:
                _CALL_BOUNDS.reset(reset)
        except BaseException as exc:
            release_frames(exc)  # the attempt loop's frame holds the last reply (its body)
            raise

    def _lane(self, length: float, loop: asyncio.AbstractEventLoop | None = None) -> DeadlineLane:
        """The lane of blocks lasting ``length`` seconds on the running loop (``_deadline``),
        ``loop`` if the caller has it at hand."""
        if loop is None:
            loop = asyncio.get_running_loop()
        lanes = self._lanes
        if lanes is None or lanes.loop is not loop:
            lanes = self._lanes = Lanes(loop)
        return lanes[length]

    def _timed_out(self, request: Request, bounds: _Bounds) -> TotalTimeout:
        """The error of a call that reached its whole-call timeout."""
        return TotalTimeout(
            f"the call did not complete within its timeout ({bounds.total:g} s)",
            outcome_unknown=bounds.in_flight and not request.idempotent,
        )

    def _past(self, bounds: _Bounds | None, delay: float = 0.0) -> bool:
        """Whether waiting ``delay`` more seconds would end at or after the call's deadline."""
        return bounds is not None and self._clock() + delay >= bounds.deadline

    async def _traced(
        self,
        request: Request,
        attempt: Attempt[T] | _Send,
        max_retries: int | None,
        authenticated: bool,
        timeout: Timeout | None,
    ) -> T:
        """The attempt loop wrapped in the call-level hooks (``on_call_start``/``_end``)."""
        assert self._hooks is not None
        trace = CallTracer(self._hooks, self._clock, request.method, request.path)
        await trace.call_start()
        try:
            value = await self._bounded(
                request, attempt, max_retries, authenticated, trace, timeout
            )
        except BaseException as exc:
            await trace.call_end(exc)
            raise
        await trace.call_end(None)
        return value

    async def _attempts(
        self,
        request: Request,
        attempt: Attempt[T] | _Send,
        max_retries: int | None,
        authenticated: bool,
        trace: CallTracer | None,
        bounds: _Bounds | None,
    ) -> T:
        """The attempt loop; ``trace`` is None when the client has no hooks (the hot path),
        ``bounds`` None when the call has no whole-call timeout.

        The token is taken after the governor's turn, so a task that waited (for a pause, a
        rate slot, or a refresh triggered by another task's 401) sends the current token.
        Token requests themselves (``authenticated=False``) use a governor of their own:
        the OAuth endpoint has its own limits, and a refresh must never wait for a slot that
        tasks waiting for that refresh hold.
        """
        policy, budget = self.retry_policy, self._budget
        governor = self.governor if authenticated else self._auth_governor
        has_body = request.json is not None
        static = self._static_token
        send = attempt if type(attempt) is _Send else None
        transport = self._transport
        retries = 0  # retries counted against max_retries
        grace = 0  # free retries of collateral 429s
        sent = 0
        replayed = False
        ambiguous: APIError | None = None  # an attempt of a create that may have been applied
        try_acquire = self._try_acquire if authenticated else None
        auth = self._auth if authenticated else None
        while True:
            early: str | None = None
            if type(auth) is _BoundCredentials and auth.needs_refresh():
                # No usable token: wait for the refresh before taking a governor turn, so all
                # the calls waiting for it wait together, however few turns the governor hands
                # out at once (a failed refresh then fails them all with one token request).
                # With a cached token the turn comes first, so a 401 storm replays at most a
                # turn's worth of requests with the old token.
                early = await auth.get_token()
            # A free turn is taken without a coroutine; waiting goes through acquire().
            ticket = try_acquire() if try_acquire is not None else None
            if ticket is None:
                on_wait = (
                    self._waiter(request, sent + 1, trace)
                    if trace is not None or logger.isEnabledFor(logging.DEBUG)
                    else None
                )
                ticket = await self._wait(request, ambiguous, governor.acquire, on_wait)
            if not authenticated:
                token: str | None = None
            elif static is not None:
                token = static  # a StaticToken: no coroutine per attempt for a constant
            elif early is not None:
                token = early
            else:
                try:
                    token = await self._auth.get_token()
                except BaseException:
                    governor.release(ticket, None)
                    raise
            if bounds is not None and self._clock() >= bounds.deadline:
                # The governor's wait (or the token fetch) used up the call's time.
                governor.release(ticket, None)
                raise self._timed_out(request, bounds)
            headers = self._headers(token, has_body)
            if send is not None and send.headers is not None:
                headers.update(send.headers)
            sent += 1
            if trace is not None:
                try:
                    await trace.attempt(sent)
                except BaseException:
                    governor.release(ticket, None)
                    raise
            if bounds is not None:
                bounds.in_flight = True
            try:
                if send is None:
                    failure, value = await attempt(headers)  # type: ignore[operator]
                else:
                    reply: Reply = await transport.request(
                        request.method, send.url, headers, send.data, request.params, send.timeout
                    )
                    if logger.isEnabledFor(logging.DEBUG):
                        logger.debug(
                            "%s %s -> %d (request id %s)",
                            request.method,
                            request.path,
                            reply.status,
                            # A server may echo anything as its request id, the bearer too.
                            self._mask(request_id_from(reply.headers) or ""),
                        )
                    if 200 <= reply.status < 300:
                        failure, value = None, reply
                    else:
                        failure, value = reply, None
            except APIConnectionError as exc:
                if bounds is not None:
                    bounds.in_flight = False
                governor.release(ticket, None)
                if transport.is_closed and (request.idempotent or not exc.outcome_unknown):
                    # aclose() ended this attempt: a read (a poll, a get) or a request that
                    # never left gets what any use after close gets. A create that may have
                    # been sent keeps its connection error and outcome_unknown.
                    closed = ClientStateError(CLOSED_DURING_CALL)
                    if trace is not None:
                        await trace.response(sent, None, None, closed)
                    raise closed from None
                if trace is not None:
                    await trace.response(sent, None, None, exc)
                decision = policy.decide(
                    exc,
                    attempt=retries,
                    idempotent=request.idempotent,
                    max_retries=max_retries,
                    rng=self._rng,
                )
                if decision.retry and self._past(bounds, decision.delay):
                    # No point sleeping into the deadline: the call's time is up.
                    assert bounds is not None
                    raise self._timed_out(request, bounds) from None
                if decision.retry and budget.try_spend(exc):
                    if exc.outcome_unknown and not request.idempotent:
                        ambiguous = exc  # (no policy of this package retries such a create)
                    await self._retrying(request, sent, None, decision, trace)
                    if decision.delay:
                        await self._wait(request, ambiguous, self._sleep, decision.delay)
                    retries += 1
                    continue
                exc.outcome_unknown = exc.outcome_unknown and not request.idempotent
                self._log_final(request, sent, decision, exc)
                raise
            except BaseException as exc:
                governor.release(ticket, None)
                if isinstance(exc, APIError) and not request.idempotent:
                    # A reply came back (a body over the cap, an undecodable encoding, a
                    # stream that cannot start): the server got the create.
                    exc.outcome_unknown = True
                if trace is not None:
                    await trace.response(sent, None, None, exc)
                raise
            if bounds is not None:
                bounds.in_flight = False
            if failure is None:
                governor.release(ticket, 200)
                budget.on_success()
                if trace is not None:
                    # A Reply, a StreamReply, or a tuple ending with one (streams).
                    last = value[-1] if isinstance(value, tuple) and value else value
                    status = getattr(last, "status", 200)
                    request_id = request_id_from(getattr(last, "headers", None) or {})
                    if request_id:  # hooks never see the token, even echoed as a trace id
                        request_id = mask_text(request_id, self._secrets(token))
                    await trace.response(sent, status, request_id, None)
                return value  # type: ignore[return-value]
            status = failure.status
            governor.release(ticket, status)
            if trace is not None:
                request_id = request_id_from(failure.headers)
                if request_id:
                    request_id = mask_text(request_id, self._secrets(token))
                await trace.response(sent, status, request_id, None)
            # A 401 was refused before processing, so a replay is safe even for a create; one
            # replay only, with whatever the source now hands out.
            if (
                status == 401
                and token is not None
                and not replayed
                and self._auth.invalidate(token)
            ):
                replayed = True
                await self._retrying(
                    request, sent, status, Decision(True, reason="token rejected, refreshed"), trace
                )
                continue
            error, retry_after = interpret_failure(
                status, failure.headers, failure.body, secrets=self._secrets(token)
            )
            own = True
            if status == 429:
                own = await report_rate_limit(governor, ticket, retry_after)
            decision = policy.decide(
                error,
                attempt=retries,
                idempotent=request.idempotent,
                max_retries=max_retries,
                retry_after=retry_after,
                rng=self._rng,
            )
            if decision.outcome_unknown:
                error.outcome_unknown = True
            if not decision.retry:
                self._log_final(request, sent, decision, error)
                raise error
            if status == 429:
                # Collateral: sent before another task's 429 paused the governor. Not this
                # task's fault, so it does not use up a retry (within the grace allowance).
                if own or grace >= policy.rate_limit_grace:
                    retries += 1
                else:
                    grace += 1
            elif budget.try_spend(error):
                retries += 1
            else:
                self._log_final(request, sent, Decision(False, reason="retry budget empty"), error)
                raise error
            if self._past(bounds, decision.delay):
                assert bounds is not None
                raise self._timed_out(request, bounds)  # the backoff would pass the deadline
            if status != 429 and not request.idempotent:
                # The create reached the server (only a 429 says it was not processed; a
                # 401 was replayed above). No policy of this package retries such a create.
                ambiguous = error
            await self._retrying(request, sent, status, decision, trace)
            if decision.delay:
                await self._wait(request, ambiguous, self._sleep, decision.delay)

    async def _wait(
        self,
        request: Request,
        ambiguous: APIError | None,
        wait: Callable[..., Awaitable[T]],
        *args: Any,
    ) -> T:
        """A wait of the attempt loop (a backoff sleep, a governor wait) that aclose() ends:
        with ClientStateError (nothing of the call may have been applied), or, for a create
        an earlier attempt of which may have reached the server, with
        ``APIConnectionError(outcome_unknown=True)`` caused by that attempt's error."""
        try:
            return await self._waits.run(wait, *args)
        except ClientStateError:
            if ambiguous is None or request.idempotent:
                raise
        raise APIConnectionError(
            "the client closed while the call waited to retry a create that may have "
            "reached the server",
            outcome_unknown=True,
        ) from ambiguous

    def _waiter(self, request: Request, number: int, trace: CallTracer | None) -> WaitCallback:
        """The governor's ``on_wait`` for one attempt: a DEBUG line and the hooks."""

        async def on_wait(delay: float | None, reason: str) -> None:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "governor holds %s %s (attempt %d): %s, %s",
                    request.method,
                    request.path,
                    number,
                    reason,
                    "until a slot frees" if delay is None else f"{delay:.3f}s",
                )
            if trace is not None:
                await trace.governor_wait(number, delay, reason)

        return on_wait

    async def _retrying(
        self,
        request: Request,
        number: int,
        status: int | None,
        decision: Decision,
        trace: CallTracer | None,
    ) -> None:
        if logger.isEnabledFor(logging.INFO):
            # After a 429 the wait is the governor's pause, not this (zero) backoff.
            wait = (
                "the rate governor's pause sets the wait"
                if status == 429 and not decision.delay
                else f"backoff {decision.delay:.2f}s"
            )
            logger.info(
                "retrying %s %s after attempt %d: %s; %s",
                request.method,
                request.path,
                number,
                decision.reason,
                wait,
            )
        if trace is not None:
            await trace.retry(number, status, decision.delay, decision.reason)

    def _secrets(self, token: str | None = None) -> tuple[str, ...]:
        """The credentials this client may have sent: masked in any server-provided text."""
        found = [token] if token else []
        auth = self._auth
        if isinstance(auth, StaticToken):
            found.append(auth._token)
        elif isinstance(auth, _BoundCredentials):
            found += auth._credentials._secrets()
        # A very short "secret" would mask ordinary words; real credentials are long.
        return tuple(s for s in dict.fromkeys(found) if len(s) >= _MIN_SECRET)

    def _mask(self, text: str) -> str:
        """``text`` (from the server) with this client's credentials masked."""
        return mask_text(text, self._secrets())

    def _log_final(
        self, request: Request, number: int, decision: Decision, error: BaseException
    ) -> None:
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s failed after %d attempt(s), not retried (%s): %s",
                request.method,
                request.path,
                number,
                decision.reason,
                error,
            )

    def _request(
        self,
        request: Request,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        url: str | None = None,
    ) -> Coroutine[Any, Any, Reply]:
        """Send ``request`` and return its successful reply (raises the typed error otherwise).

        A plain function returning the attempt loop's coroutine (see :meth:`_execute`).
        Every non-streaming call passes here, so ``with_raw_response`` records its reply here
        (see :func:`~moveworks_async._raw.recording`). ``url``: an absolute URL sent instead
        of ``base_url + request.path`` (a Data API next link, passed to the transport as
        given)."""
        data = _json.dumps(request.json) if request.json is not None else None
        call_timeout = self.timeout if timeout is None else Timeout.coerce(timeout)
        headers = check_headers(extra_headers)
        target = self.base_url + request.path if url is None else url
        send = _Send(target, data, call_timeout, headers)
        return recording(self._execute(request, send, max_retries=max_retries), self._mask)

    async def _request_model(
        self,
        request: Request,
        cls: type[T],
        *,
        key: str | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> T:
        """Send ``request`` and convert the JSON reply (or its ``key`` member) into ``cls``.

        A body decoded in a worker thread (over ``OFF_LOOP_BODY``) is decoded within what is
        left of the call's ``Timeout.total``: past it, :class:`TotalTimeout` (a body decoded
        inline takes a few milliseconds at most and is not interrupted)."""
        reply: Reply | None = None
        started = asyncio.get_running_loop().time()
        try:
            reply = await self._request(
                request, timeout=timeout, max_retries=max_retries, extra_headers=extra_headers
            )
            size = len(reply.body)
            if size <= OFF_LOOP_BODY:
                return model(reply, cls, key=key, idempotent=request.idempotent)
            total = (self.timeout if timeout is None else Timeout.coerce(timeout)).total
            idempotent = request.idempotent
            return await decode_in_time(
                total, started, idempotent, size, model, reply, cls, key=key, idempotent=idempotent
            )
        except BaseException as exc:
            # The traceback keeps this frame and those below: none may keep the body alive.
            reply = None
            release_frames(exc)
            raise

    async def _fetch_token(self, url: str, form: Mapping[str, str]) -> Any:
        """POST a client-credentials request (JSON, then form-encoded if JSON is refused)."""
        request = Request("POST", url, json=dict(form), idempotent=True)
        transport = self._transport
        body = token_body(form)

        # Started by a call: that call's connect/read bounds (and its deadline, see _bounded).
        bounds = _call_bounds()
        timeout = bounds.timeout if bounds is not None else self.timeout

        async def attempt(headers: dict[str, str]) -> tuple[Reply | None, Reply | None]:
            reply = await transport.request("POST", url, headers, body, None, timeout)
            if reply.status == 415:  # older deployments take the form encoding only
                form_headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
                from urllib.parse import urlencode

                encoded = urlencode(dict(form)).encode()
                reply = await transport.request("POST", url, form_headers, encoded, None, timeout)
            return (None, reply) if 200 <= reply.status < 300 else (reply, None)

        reply: Reply | None = None
        try:
            reply = await self._execute(request, attempt, authenticated=False)
            return await decode(len(reply.body), json_body, reply)
        except BaseException as exc:
            reply = None  # a token reply holds the access token
            release_frames(exc)
            raise


def _derived(client: AsyncMoveworks, governor: Governor | None = None) -> AsyncMoveworks:
    """A view of ``client`` without ``Assistant-Name`` (and with ``governor``, if given).

    It shares everything else by reference: the connection pool, the token source and its
    refresh, the retry budget and the hooks. Only the attempt loop's governor and headers
    differ, which is why a shallow copy is enough. Private to this module: the Events API
    and the Data API reach a view only as a seam (``Seam.derive``, :func:`engine_seam`).
    """
    view = copy.copy(client)
    view._base_headers = {k: v for k, v in client._base_headers.items() if k != "Assistant-Name"}
    view._body_headers = {k: v for k, v in client._body_headers.items() if k != "Assistant-Name"}
    if governor is not None:
        view.governor = governor
        view._try_acquire = getattr(governor, "try_acquire", None)
    return view


def engine_seam(client: AsyncMoveworks, *, owner: str) -> Seam:
    """The seam of another API of the platform that runs on ``client`` as its engine (the
    Data API): no ``Assistant-Name``, and the "not closed" warning of the pool it owns
    names ``owner``. The caller still closes ``client`` (its lifecycle is public)."""
    client._transport.owner = owner
    return _ClientSeam(_derived(client))


class _ClientSeam:
    """The :class:`~moveworks_async._seam.Seam` of one client or view: what its resources
    may ask of it. The hot entries are the client's bound methods themselves (no extra call
    per request); settings are read from the client when asked, so they follow it."""

    __slots__ = (
        "_client",
        "base_url",
        "execute",
        "generation",
        "lane",
        "mask",
        "request",
        "request_model",
    )

    def __init__(self, client: AsyncMoveworks) -> None:
        self._client = client
        # Fixed for the client's life (a view copies them): plain attributes, read per call.
        self.generation: Generation = client.generation
        self.base_url: str = client.base_url
        self.request = client._request
        self.request_model = client._request_model
        self.execute = client._execute
        self.mask = client._mask
        self.lane = client._lane

    @property
    def clock(self) -> Callable[[], float]:
        return self._client._clock

    @property
    def sleep(self) -> Callable[[float], Awaitable[Any]]:
        return self._client._sleep

    def pause(self, seconds: float) -> Awaitable[None]:
        return self._client._waits.run(self._client._sleep, seconds)

    @property
    def rng(self) -> Callable[[], float]:
        return self._client._rng

    @property
    def timeout(self) -> Timeout:
        return self._client.timeout

    @property
    def auth_repr(self) -> str:
        return repr(self._client._auth)

    def open_stream(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | None,
        connect_timeout: float | None,
    ) -> StreamOpener:
        return self._client._transport.stream(method, url, headers, data, connect_timeout)

    def derive(self, governor: Governor | None) -> Seam:
        return _ClientSeam(_derived(self._client, governor))

    async def poll(
        self,
        conversation_id: str,
        response_id: str,
        timeout: float,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Response:
        return await self._client.responses.wait(
            conversation_id, response_id, timeout=timeout, extra_headers=extra_headers
        )
