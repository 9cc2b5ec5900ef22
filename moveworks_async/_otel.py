"""OpenTelemetry tracing as a hook: one span per call, one child span per attempt.

``opentelemetry-api`` is imported only when :class:`OpenTelemetryHooks` is built without a
tracer (``pip install 'moveworks-async[otel]'``); the package never depends on it. Attribute
names follow the OpenTelemetry HTTP semantic conventions where one exists.

Spans::

    moveworks GET                      (the call; INTERNAL)
      GET                              (attempt 1; CLIENT)  http.response.status_code=429
      GET                              (attempt 2; CLIENT)  http.request.resend_count=1

The call span gets an event per retry and per governor wait; both spans carry the server's
request id (``moveworks.request_id``) when the reply had one. No header, body or token is
ever recorded.
"""

from __future__ import annotations

from typing import Any

from ._hooks import (
    CallEndInfo,
    CallInfo,
    GovernorWaitInfo,
    Hooks,
    RequestInfo,
    ResponseInfo,
    RetryInfo,
)

__all__ = ["OpenTelemetryHooks"]


class OpenTelemetryHooks(Hooks):
    """Hooks that trace calls and attempts with OpenTelemetry.

    Args:
        tracer: an OpenTelemetry ``Tracer`` (anything with ``start_span(name, context=...,
            attributes=...)`` returning spans with ``set_attribute``, ``add_event`` and
            ``end``); default: ``opentelemetry.trace.get_tracer("moveworks_async")``.
        tracer_provider: passed to ``get_tracer`` when no tracer is given.

    Raises:
        ImportError: no tracer was given and ``opentelemetry-api`` is not installed.
    """

    def __init__(self, tracer: Any = None, *, tracer_provider: Any = None) -> None:
        trace: Any
        try:
            from opentelemetry import trace
        except ImportError:
            if tracer is None:
                raise ImportError(
                    "OpenTelemetryHooks needs opentelemetry-api: "
                    "pip install 'moveworks-async[otel]' (or pass tracer=...)"
                ) from None
            trace = None  # a duck-typed tracer without the API: no span kinds or statuses
        if tracer is None:
            tracer = trace.get_tracer("moveworks_async", tracer_provider=tracer_provider)
        self._tracer = tracer
        self._trace = trace
        self._calls: dict[int, Any] = {}
        self._attempts: dict[int, Any] = {}

    def _start(self, name: str, parent: Any, client: bool, attributes: dict[str, Any]) -> Any:
        kwargs: dict[str, Any] = {"attributes": attributes}
        trace = self._trace
        if trace is not None:
            kwargs["kind"] = trace.SpanKind.CLIENT if client else trace.SpanKind.INTERNAL
            if parent is not None:
                kwargs["context"] = trace.set_span_in_context(parent)
        return self._tracer.start_span(name, **kwargs)

    def _error(self, span: Any, error_type: str) -> None:
        span.set_attribute("error.type", error_type)
        trace = self._trace
        if trace is not None:
            span.set_status(trace.Status(trace.StatusCode.ERROR))

    def on_call_start(self, info: CallInfo) -> None:
        self._calls[info.call_id] = self._start(
            f"moveworks {info.method}",
            None,
            False,
            {"http.request.method": info.method, "url.path": info.path},
        )

    def on_request(self, info: RequestInfo) -> None:
        attributes: dict[str, Any] = {"http.request.method": info.method, "url.path": info.path}
        if info.attempt > 1:
            attributes["http.request.resend_count"] = info.attempt - 1
        parent = self._calls.get(info.call_id)
        self._attempts[info.call_id] = self._start(info.method, parent, True, attributes)

    def on_response(self, info: ResponseInfo) -> None:
        span = self._attempts.pop(info.call_id, None)
        if span is None:
            return
        if info.status is not None:
            span.set_attribute("http.response.status_code", info.status)
        if info.request_id:
            span.set_attribute("moveworks.request_id", info.request_id)
        if info.error is not None:
            self._error(span, info.error)
        elif info.status is not None and info.status >= 400:
            self._error(span, str(info.status))
        span.end()

    def on_retry(self, info: RetryInfo) -> None:
        span = self._calls.get(info.call_id)
        if span is not None:
            span.add_event(
                "retry",
                {"attempt": info.attempt, "delay_s": info.delay, "reason": info.reason},
            )

    def on_governor_wait(self, info: GovernorWaitInfo) -> None:
        span = self._calls.get(info.call_id)
        if span is not None:
            attributes: dict[str, Any] = {"attempt": info.attempt, "reason": info.reason}
            if info.delay is not None:
                attributes["delay_s"] = info.delay
            span.add_event("governor wait", attributes)

    def on_call_end(self, info: CallEndInfo) -> None:
        # An attempt span still open here was never answered (a hook or the task failed).
        attempt = self._attempts.pop(info.call_id, None)
        if attempt is not None:
            attempt.end()
        span = self._calls.pop(info.call_id, None)
        if span is None:
            return
        span.set_attribute("moveworks.attempts", info.attempts)
        if info.status is not None:
            span.set_attribute("http.response.status_code", info.status)
        if info.request_id:
            span.set_attribute("moveworks.request_id", info.request_id)
        if info.error is not None:
            self._error(span, info.error)
        span.end()
