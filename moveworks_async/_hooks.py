"""Per-call and per-attempt hooks: where users attach logging, metrics and tracing.

A hook object subclasses :class:`Hooks` (or just has some of its method names) and overrides
the callbacks it cares about; each callback may be a plain function or a coroutine function.
They receive small frozen info objects: method, path, attempt number, status, request id,
timings, delays and reasons. Never headers, bodies or the bearer token.

Callbacks run inline in the calling task, in the order the hooks were given, so keep them
cheap. An exception raised by a callback propagates to the caller of the API method (the
attempt it preceded is not sent); hooks are observers, not a way to change requests.

Events, in order, for one call::

    on_call_start
      [on_governor_wait]*  on_request  on_response  [on_retry]   (once per attempt)
    on_call_end
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
from attrs import frozen

__all__ = [
    "CallEndInfo",
    "CallTracer",
    "CallInfo",
    "GovernorWaitInfo",
    "HookRunner",
    "Hooks",
    "RequestInfo",
    "ResponseInfo",
    "RetryInfo",
]


@frozen
class CallInfo:
    """A call (one API method invocation) is starting. ``call_id`` is unique per process."""

    call_id: int
    method: str
    path: str


@frozen
class CallEndInfo:
    """A call finished: ``error`` is the exception type name, or ``None`` on success.

    ``status`` is the last HTTP status seen (``None`` if no reply arrived), ``attempts`` the
    number of attempts sent and ``elapsed`` the seconds since ``on_call_start``.
    """

    call_id: int
    method: str
    path: str
    attempts: int
    status: int | None
    request_id: str | None
    elapsed: float
    error: str | None


@frozen
class RequestInfo:
    """Attempt number ``attempt`` (1 for the first) is about to be sent."""

    call_id: int
    method: str
    path: str
    attempt: int


@frozen
class ResponseInfo:
    """Attempt ``attempt`` finished after ``elapsed`` seconds.

    ``status`` is the HTTP status, or ``None`` when no reply arrived; then ``error`` names the
    exception (``"APITimeoutError"``, ``"CancelledError"``...). ``request_id`` is the server's
    trace id when the reply had one.
    """

    call_id: int
    method: str
    path: str
    attempt: int
    status: int | None
    request_id: str | None
    elapsed: float
    error: str | None = None


@frozen
class RetryInfo:
    """Attempt ``attempt`` failed and another will follow after ``delay`` seconds.

    ``delay`` is the task's own backoff (0.0 for a 429: the governor paces those, and reports
    its waits through ``on_governor_wait``). ``reason`` says why (``"rate limited"``,
    ``"status 503"``, ``"timeout"``...).
    """

    call_id: int
    method: str
    path: str
    attempt: int
    status: int | None
    delay: float
    reason: str


@frozen
class GovernorWaitInfo:
    """The rate governor makes attempt ``attempt`` wait ``delay`` seconds (``None``: until a
    concurrency slot frees up); ``reason`` is ``"paused"`` (after a 429), ``"rate"`` or
    ``"concurrency"``."""

    call_id: int
    method: str
    path: str
    attempt: int
    delay: float | None
    reason: str


class Hooks:
    """Base class of hooks: override any callback; each may be sync or ``async``.

    Example::

        class Metrics(mw.Hooks):
            def on_response(self, info: mw.ResponseInfo) -> None:
                histogram.observe(info.elapsed, status=info.status)

        client = mw.AsyncMoveworks(..., hooks=[Metrics()])
    """

    def on_call_start(self, info: CallInfo) -> Awaitable[None] | None:
        """A call is starting."""
        return None

    def on_call_end(self, info: CallEndInfo) -> Awaitable[None] | None:
        """A call finished (always called once per ``on_call_start``, even on cancellation)."""
        return None

    def on_request(self, info: RequestInfo) -> Awaitable[None] | None:
        """An attempt is about to be sent (the governor already let it through)."""
        return None

    def on_response(self, info: ResponseInfo) -> Awaitable[None] | None:
        """An attempt finished, with a status or an error."""
        return None

    def on_retry(self, info: RetryInfo) -> Awaitable[None] | None:
        """A failed attempt will be retried."""
        return None

    def on_governor_wait(self, info: GovernorWaitInfo) -> Awaitable[None] | None:
        """The rate governor is about to make the attempt wait."""
        return None


_EVENTS = (
    "on_call_start",
    "on_call_end",
    "on_request",
    "on_response",
    "on_retry",
    "on_governor_wait",
)

Callback = Callable[[Any], Awaitable[None] | None]


def _callbacks(hooks: Iterable[object], name: str) -> tuple[Callback, ...]:
    """The bound ``name`` callbacks of ``hooks`` that do something (base no-ops are skipped)."""
    found: list[Callback] = []
    base = getattr(Hooks, name)
    for hook in hooks:
        bound = getattr(hook, name, None)
        if bound is None or getattr(bound, "__func__", None) is base:
            continue
        if not callable(bound):
            raise TypeError(f"{type(hook).__name__}.{name} is not callable")
        found.append(bound)
    return tuple(found)


_ids = itertools.count(1)


class HookRunner:
    """The client's compiled view of its hooks: per event, only the callbacks that matter.

    ``AsyncMoveworks`` builds one at construction and checks the tuples before building an
    info object, so an event nobody listens to costs one truth test.
    """

    __slots__ = _EVENTS

    def __init__(self, hooks: Iterable[object]) -> None:
        hooks = list(hooks)
        for hook in hooks:
            if not any(callable(getattr(hook, name, None)) for name in _EVENTS):
                raise TypeError(
                    f"{type(hook).__name__} has none of the hook methods "
                    f"({', '.join(_EVENTS)}); subclass moveworks_async.Hooks"
                )
        self.on_call_start = _callbacks(hooks, "on_call_start")
        self.on_call_end = _callbacks(hooks, "on_call_end")
        self.on_request = _callbacks(hooks, "on_request")
        self.on_response = _callbacks(hooks, "on_response")
        self.on_retry = _callbacks(hooks, "on_retry")
        self.on_governor_wait = _callbacks(hooks, "on_governor_wait")

    @staticmethod
    def next_call_id() -> int:
        """A process-unique id for a new call."""
        return next(_ids)

    def __bool__(self) -> bool:
        return any(getattr(self, name) for name in _EVENTS)

    @staticmethod
    async def emit(callbacks: tuple[Callback, ...], info: object) -> None:
        """Run ``callbacks`` with ``info`` in order, awaiting the ones that return awaitables."""
        for callback in callbacks:
            result = callback(info)
            if result is not None and inspect.isawaitable(result):
                await result


class CallTracer:
    """The hooks' side of one call: built once per call, and only when the client has hooks.

    The attempt loop tells it what happens (an attempt sent, its reply or error, a retry, a
    governor wait); it keeps what the hooks have seen so far (attempts, last status and
    request id) and builds the info objects, for the events someone listens to only.
    """

    __slots__ = (
        "_attempt_started",
        "_clock",
        "_hooks",
        "attempts",
        "id",
        "method",
        "path",
        "request_id",
        "started",
        "status",
    )

    def __init__(
        self, hooks: HookRunner, clock: Callable[[], float], method: str, path: str
    ) -> None:
        self._hooks = hooks
        self._clock = clock
        self.id = hooks.next_call_id()
        self.method = method
        self.path = path
        self.started = clock()
        self._attempt_started = self.started
        self.attempts = 0
        self.status: int | None = None
        self.request_id: str | None = None

    async def call_start(self) -> None:
        hooks = self._hooks
        if hooks.on_call_start:
            await hooks.emit(hooks.on_call_start, CallInfo(self.id, self.method, self.path))

    async def call_end(self, error: BaseException | None) -> None:
        """``on_call_end``; shielded after an error, so a cancelled call still closes its
        span or metric."""
        hooks = self._hooks
        if not hooks.on_call_end:
            return
        info = CallEndInfo(
            self.id,
            self.method,
            self.path,
            self.attempts,
            self.status,
            self.request_id,
            self._clock() - self.started,
            type(error).__name__ if error is not None else None,
        )
        if error is None:
            await hooks.emit(hooks.on_call_end, info)
            return
        with anyio.CancelScope(shield=True):
            await hooks.emit(hooks.on_call_end, info)

    async def attempt(self, number: int) -> None:
        """Attempt ``number`` is about to be sent (``on_request``); its timing starts after
        the callbacks."""
        self.attempts = number
        hooks = self._hooks
        if hooks.on_request:
            await hooks.emit(hooks.on_request, RequestInfo(self.id, self.method, self.path, number))
        self._attempt_started = self._clock()

    async def response(
        self,
        number: int,
        status: int | None,
        request_id: str | None,
        error: BaseException | None,
    ) -> None:
        """Attempt ``number`` ended: a reply (``status``) or ``error`` (``on_response``)."""
        self.status = status
        self.request_id = request_id
        hooks = self._hooks
        if not hooks.on_response:
            return
        info = ResponseInfo(
            self.id,
            self.method,
            self.path,
            number,
            status,
            request_id,
            self._clock() - self._attempt_started,
            type(error).__name__ if error is not None else None,
        )
        if error is None or isinstance(error, Exception):
            await hooks.emit(hooks.on_response, info)
            return
        with anyio.CancelScope(shield=True):  # cancellation: still close the attempt span
            await hooks.emit(hooks.on_response, info)

    async def retry(self, number: int, status: int | None, delay: float, reason: str) -> None:
        hooks = self._hooks
        if hooks.on_retry:
            info = RetryInfo(self.id, self.method, self.path, number, status, delay, reason)
            await hooks.emit(hooks.on_retry, info)

    async def governor_wait(self, number: int, delay: float | None, reason: str) -> None:
        hooks = self._hooks
        if hooks.on_governor_wait:
            info = GovernorWaitInfo(self.id, self.method, self.path, number, delay, reason)
            await hooks.emit(hooks.on_governor_wait, info)
