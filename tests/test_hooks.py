"""Per-call and per-attempt hooks, the OpenTelemetry hooks, and token-free logging.

The client runs against the fake server on loopback with ``fake_time`` injected, so retry
backoffs and governor pauses are recorded instead of waited for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import pytest_asyncio

import moveworks_async as mw
from moveworks_async._hooks import HookRunner
from moveworks_async.testing import FakeMoveworks, Fault

pytestmark = pytest.mark.asyncio

CANARY = "tok-CANARY-7f3a9c"
SECRET_CANARY = "sec-CANARY-51d0e2"


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeMoveworks]:
    """A fake server without a rate limit."""
    async with FakeMoveworks(stream_delay=0) as s:
        yield s


def _client(url: str, fake_time: Any, **kw: Any) -> mw.AsyncMoveworks:
    kw.setdefault("token", "test-token")
    return mw.AsyncMoveworks(
        assistant_name="acme-capi",
        base_url=url,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        **kw,
    )


class Recorder(mw.Hooks):
    """Records every event as (name, info); half of the callbacks are async."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_call_start(self, info: mw.CallInfo) -> None:
        self.events.append(("call_start", info))

    async def on_call_end(self, info: mw.CallEndInfo) -> None:
        self.events.append(("call_end", info))

    def on_request(self, info: mw.RequestInfo) -> None:
        self.events.append(("request", info))

    async def on_response(self, info: mw.ResponseInfo) -> None:
        await asyncio.sleep(0)
        self.events.append(("response", info))

    def on_retry(self, info: mw.RetryInfo) -> None:
        self.events.append(("retry", info))

    async def on_governor_wait(self, info: mw.GovernorWaitInfo) -> None:
        self.events.append(("wait", info))

    def names(self) -> list[str]:
        return [name for name, _ in self.events]


async def _ids(client: mw.AsyncMoveworks) -> tuple[str, str]:
    conversation = await client.conversations.create()
    response = await client.responses.create(conversation.conversation_id, text="hi")
    return conversation.conversation_id, response.response_id


async def test_events_of_a_successful_call(server: FakeMoveworks, fake_time: Any) -> None:
    """One call, one attempt: call_start, request, response, call_end with matching ids."""
    hooks = Recorder()
    async with _client(server.url, fake_time) as setup:
        cid, rid = await _ids(setup)
    async with _client(server.url, fake_time, hooks=[hooks]) as client:
        await client.responses.get(cid, rid)
    assert hooks.names() == ["call_start", "request", "response", "call_end"]
    start, request, response, end = (info for _, info in hooks.events)
    assert len({start.call_id, request.call_id, response.call_id, end.call_id}) == 1
    assert (request.method, request.path, request.attempt) == ("GET", start.path, 1)
    assert response.status == 200
    assert response.request_id  # the fake sends x-moveworks-root-uuid
    assert response.error is None
    assert response.elapsed >= 0
    assert (end.attempts, end.status, end.error) == (1, 200, None)
    assert end.request_id == response.request_id


async def test_events_of_a_retried_call(server: FakeMoveworks, fake_time: Any) -> None:
    """A 503 then a 200: two request/response pairs with a retry between them."""
    hooks = Recorder()
    async with _client(server.url, fake_time, hooks=[hooks]) as client:
        cid, rid = await _ids(client)
        hooks.events.clear()
        server.inject(Fault.status(503), times=1)
        await client.responses.get(cid, rid)
    assert hooks.names() == [
        "call_start",
        "request",
        "response",
        "retry",
        "request",
        "response",
        "call_end",
    ]
    retry = hooks.events[3][1]
    assert (retry.attempt, retry.status, retry.reason) == (1, 503, "status 503")
    assert retry.delay == fake_time.sleeps[-1]
    assert [i.attempt for n, i in hooks.events if n == "request"] == [1, 2]
    assert hooks.events[-1][1].attempts == 2


async def test_governor_wait_and_rate_limit_retry_are_reported(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """A 429 with Retry-After 2: a retry with delay 0 and a governor wait of >= 2 s."""
    hooks = Recorder()
    async with _client(server.url, fake_time, hooks=[hooks]) as client:
        cid, rid = await _ids(client)
        hooks.events.clear()
        server.inject(Fault.rate_limited("2"), times=1)
        await client.responses.get(cid, rid)
    assert hooks.names() == [
        "call_start",
        "request",
        "response",
        "retry",
        "wait",
        "request",
        "response",
        "call_end",
    ]
    retry = hooks.events[3][1]
    wait = hooks.events[4][1]
    assert (retry.status, retry.delay, retry.reason) == (429, 0.0, "rate limited")
    assert wait.reason == "paused"
    assert wait.delay >= 2.0
    assert wait.attempt == 2


async def test_failed_call_reports_the_error_type(server: FakeMoveworks, fake_time: Any) -> None:
    """A 404 ends the call with error='NotFoundError' and the status."""
    hooks = Recorder()
    async with _client(server.url, fake_time, hooks=[hooks]) as client:
        with pytest.raises(mw.NotFoundError):
            await client.conversations.get("conv_missing")
    end = hooks.events[-1][1]
    assert (end.error, end.status, end.attempts) == ("NotFoundError", 404, 1)


async def test_connection_error_is_reported_without_status(fake_time: Any) -> None:
    """No server: each response event has status None and the error type."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hooks = Recorder()
    async with _client(f"http://127.0.0.1:{port}", fake_time, hooks=[hooks]) as client:
        with pytest.raises(mw.APIConnectionError):
            await client.conversations.get("conv_1")
    responses = [i for n, i in hooks.events if n == "response"]
    assert len(responses) == 3
    assert all(r.status is None and r.error == "APIConnectionError" for r in responses)
    assert hooks.events[-1][1].error == "APIConnectionError"


async def test_cancelled_call_still_ends_its_events(server: FakeMoveworks, fake_time: Any) -> None:
    """Cancelling a call mid-attempt reports the response and the call end as CancelledError."""
    hooks = Recorder()
    async with _client(server.url, fake_time, hooks=[hooks]) as client:
        cid, rid = await _ids(client)
        hooks.events.clear()
        server.inject(Fault.stall(5.0), times=1)
        task = asyncio.ensure_future(client.responses.get(cid, rid))
        for _ in range(200):
            await asyncio.sleep(0.005)
            if "request" in hooks.names():
                break
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert hooks.names() == ["call_start", "request", "response", "call_end"]
    assert hooks.events[2][1].error == "CancelledError"
    assert hooks.events[3][1].error == "CancelledError"


async def test_async_end_hooks_finish_inside_a_cancelled_scope(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """Under a cancelled anyio scope every unshielded await raises again, so an async
    on_response/on_call_end that awaits (an exporter flush) still runs to its end only
    because the client shields it."""
    finished: list[tuple[str, str | None]] = []

    class Flushing(mw.Hooks):
        scope: anyio.CancelScope | None = None

        def on_request(self, info: mw.RequestInfo) -> None:
            assert self.scope is not None
            self.scope.cancel()  # the attempt's first await is cancelled

        async def on_response(self, info: mw.ResponseInfo) -> None:
            await asyncio.sleep(0)
            finished.append(("response", info.error))

        async def on_call_end(self, info: mw.CallEndInfo) -> None:
            await asyncio.sleep(0)
            finished.append(("call_end", info.error))

    hooks = Flushing()
    async with _client(server.url, fake_time, hooks=[hooks]) as client:
        with anyio.CancelScope() as scope:
            hooks.scope = scope
            await client.conversations.create()
        assert scope.cancelled_caught
    assert finished == [("response", "CancelledError"), ("call_end", "CancelledError")]


async def test_hook_exception_propagates_and_nothing_is_sent(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """An exception in on_request reaches the caller; the attempt is not sent."""

    class Veto(mw.Hooks):
        def on_request(self, info: mw.RequestInfo) -> None:
            raise RuntimeError("vetoed")

    async with _client(server.url, fake_time, hooks=[Veto()]) as client:
        with pytest.raises(RuntimeError, match="vetoed"):
            await client.conversations.create()
        assert client.governor.snapshot().in_flight == 0
    assert server.stats.requests_total == 0


async def test_duck_typed_hook_objects_work(server: FakeMoveworks, fake_time: Any) -> None:
    """Any object with some of the callback names is a hook; the others are not called."""

    class OnlyResponses:
        def __init__(self) -> None:
            self.statuses: list[int | None] = []

        def on_response(self, info: mw.ResponseInfo) -> None:
            self.statuses.append(info.status)

    hook = OnlyResponses()
    async with _client(server.url, fake_time, hooks=[hook]) as client:
        await client.conversations.create()
    assert hook.statuses == [201]  # create conversation answers 201 Created


async def test_hooks_run_in_the_given_order(server: FakeMoveworks, fake_time: Any) -> None:
    """Several hooks are called in list order for each event."""
    order: list[str] = []

    class Named(mw.Hooks):
        def __init__(self, name: str) -> None:
            self.name = name

        async def on_request(self, info: mw.RequestInfo) -> None:
            order.append(self.name)

    async with _client(server.url, fake_time, hooks=[Named("a"), Named("b")]) as client:
        await client.conversations.create()
    assert order == ["a", "b"]


async def test_objects_without_any_hook_method_are_rejected() -> None:
    """hooks=[object()] is a mistake worth a TypeError at construction."""
    with pytest.raises(TypeError, match="none of the hook methods"):
        mw.AsyncMoveworks(assistant_name="a", token="t", hooks=[object()])


async def test_base_hooks_compile_to_nothing() -> None:
    """A bare Hooks() subscribes to no event, so the client keeps its hook-free hot path."""
    assert not HookRunner([mw.Hooks()])
    client = mw.AsyncMoveworks(assistant_name="a", token="t", hooks=[mw.Hooks()])
    assert client._hooks is None


async def test_infos_never_carry_the_token(fake_time: Any) -> None:
    """Every info object's repr is free of the bearer through retries, 429 and 401 replay."""
    hooks = Recorder()
    async with FakeMoveworks(stream_delay=0, token=CANARY) as srv:

        async def bearer() -> str:
            return CANARY

        async with _client(srv.url, fake_time, token=None, auth=bearer, hooks=[hooks]) as c:
            cid, rid = await _ids(c)
            srv.inject(Fault.status(503), times=1)
            srv.inject(Fault.rate_limited("1"), times=1)
            srv.inject(Fault.expire_token(), times=1)
            await c.responses.get(cid, rid)
    assert {"retry", "wait"} <= set(hooks.names())
    for _, info in hooks.events:
        assert "CANARY" not in repr(info)


# --- OpenTelemetry ------------------------------------------------------------------------------


async def test_opentelemetry_spans_per_call_and_attempt(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """With the OTel SDK: one INTERNAL call span, one CLIENT span per attempt, parented."""
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind, StatusCode

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    hooks = mw.OpenTelemetryHooks(tracer_provider=provider)
    async with _client(server.url, fake_time, hooks=[hooks]) as client:
        cid, rid = await _ids(client)
        exporter.clear()
        server.inject(Fault.status(503), times=1)
        await client.responses.get(cid, rid)
    spans = exporter.get_finished_spans()
    call = next(s for s in spans if s.name == "moveworks GET")
    attempts = [s for s in spans if s.name == "GET"]
    assert len(spans) == 3
    call_attrs = dict(call.attributes or {})
    attempt_attrs = [dict(s.attributes or {}) for s in attempts]
    assert call.kind is SpanKind.INTERNAL
    assert [s.kind for s in attempts] == [SpanKind.CLIENT, SpanKind.CLIENT]
    assert all(s.parent is not None and s.parent.span_id == call.context.span_id for s in attempts)
    assert [a["http.response.status_code"] for a in attempt_attrs] == [503, 200]
    assert attempts[0].status.status_code is StatusCode.ERROR
    assert attempt_attrs[1]["http.request.resend_count"] == 1
    assert attempt_attrs[1]["moveworks.request_id"]
    assert call_attrs["moveworks.attempts"] == 2
    assert call_attrs["moveworks.request_id"] == attempt_attrs[1]["moveworks.request_id"]
    assert [e.name for e in call.events] == ["retry"]
    assert call.status.status_code is StatusCode.UNSET


async def test_opentelemetry_failed_call_has_error_status(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """A failing call's span carries error.type and an ERROR status."""
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import StatusCode

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with _client(
        server.url, fake_time, hooks=[mw.OpenTelemetryHooks(tracer_provider=provider)]
    ) as client:
        with pytest.raises(mw.NotFoundError):
            await client.conversations.get("conv_missing")
    call = next(s for s in exporter.get_finished_spans() if s.name.startswith("moveworks"))
    assert dict(call.attributes or {})["error.type"] == "NotFoundError"
    assert call.status.status_code is StatusCode.ERROR


class FakeSpan:
    """Just enough of an OpenTelemetry span."""

    def __init__(self, name: str, attributes: dict[str, Any]) -> None:
        self.name = name
        self.attributes = dict(attributes)
        self.events: list[str] = []
        self.ended = False
        self.status: Any = None

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def add_event(self, name: str, attributes: Any = None) -> None:
        self.events.append(name)

    def set_status(self, status: Any) -> None:
        self.status = status

    def end(self) -> None:
        self.ended = True


class FakeTracer:
    """Records the spans it starts."""

    def __init__(self) -> None:
        self.spans: list[FakeSpan] = []

    def start_span(self, name: str, **kwargs: Any) -> FakeSpan:
        span = FakeSpan(name, kwargs.get("attributes") or {})
        self.spans.append(span)
        return span


async def test_opentelemetry_hooks_with_a_fake_tracer(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """Any tracer-shaped object works; every span it started is ended, none holds the token."""
    tracer = FakeTracer()
    async with _client(
        server.url, fake_time, token=CANARY, hooks=[mw.OpenTelemetryHooks(tracer)]
    ) as client:
        server.inject(Fault.rate_limited("1"), times=1)
        with pytest.raises(mw.AuthenticationError):
            await client.conversations.create()  # the fake expects "test-token"
    names = [s.name for s in tracer.spans]
    assert names == ["moveworks POST", "POST", "POST"]
    assert all(s.ended for s in tracer.spans)
    assert tracer.spans[0].events == ["retry", "governor wait"]
    assert tracer.spans[0].attributes["error.type"] == "AuthenticationError"
    assert "CANARY" not in repr([s.__dict__ for s in tracer.spans])


async def test_opentelemetry_hooks_without_the_api_explain_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without opentelemetry installed and no tracer given: ImportError naming the extra."""
    import sys

    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ImportError, match=r"moveworks-async\[otel\]"):
        mw.OpenTelemetryHooks()
    tracer = FakeTracer()
    hooks = mw.OpenTelemetryHooks(tracer)  # a given tracer needs no API package
    hooks.on_call_start(mw.CallInfo(1, "GET", "/x"))
    hooks.on_call_end(mw.CallEndInfo(1, "GET", "/x", 0, None, None, 0.0, "Boom"))
    assert tracer.spans[0].ended
    assert tracer.spans[0].attributes["error.type"] == "Boom"


# --- logging -------------------------------------------------------------------------------------


async def test_logging_never_shows_the_token_or_secret(
    caplog: pytest.LogCaptureFixture, fake_time: Any
) -> None:
    """DEBUG logs through retries, 429 waits, 401 refresh and final errors hold no secret."""
    caplog.set_level(logging.DEBUG, logger="moveworks_async")
    caught: list[BaseException] = []
    async with FakeMoveworks(stream_delay=0, token=CANARY, client_secret=SECRET_CANARY) as srv:

        async def bearer() -> str:
            return CANARY

        async with _client(srv.url, fake_time, token=None, auth=bearer) as client:
            cid, rid = await _ids(client)
            srv.inject(Fault.status(503), times=1)
            await client.responses.get(cid, rid)  # retry after a 5xx
            srv.inject(Fault.rate_limited("1"), times=1)
            await client.responses.get(cid, rid)  # 429 and a governor wait
            srv.inject(Fault.expire_token(), times=1)
            await client.responses.get(cid, rid)  # 401, new token, replay
            srv.inject(Fault.status(500), times=5)
            with pytest.raises(mw.InternalServerError) as e1:
                await client.responses.get(cid, rid)  # retries exhausted
            caught.append(e1.value)
            srv.clear_faults()
            srv.inject(Fault.reset_after_request(), times=1, path_contains="/responses")
            with pytest.raises(mw.APIConnectionError) as e2:
                await client.responses.create(cid, text="again")  # outcome unknown
            caught.append(e2.value)
            with pytest.raises(mw.NotFoundError) as e3:
                await client.conversations.get("conv_missing")
            caught.append(e3.value)
        credentials = mw.ClientCredentials("test-client", SECRET_CANARY)
        async with _client(srv.url, fake_time, token=None, auth=credentials) as oauth:
            srv.inject(Fault.expire_token(), times=1)
            await oauth.conversations.create()  # token fetched with the secret, then used
            assert credentials.refreshes >= 1
        async with _client(srv.url, fake_time, token=CANARY, max_retries=0) as static:
            srv.inject(Fault.expire_token(), times=1)
            with pytest.raises(mw.AuthenticationError) as e4:
                await static.conversations.create()  # static token: 401 is final
            caught.append(e4.value)
    messages = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    assert any("retrying" in m for m in messages)
    assert any("governor holds" in m for m in messages)
    assert any("token rejected" in m for m in messages)
    assert any("not retried" in m for m in messages)
    for text in messages + [repr(e) + str(e) for e in caught]:
        assert "CANARY" not in text
        assert "mwt_" not in text  # minted OAuth tokens never appear either
    for error in caught:
        chain: BaseException | None = error
        while chain is not None:
            assert "CANARY" not in repr(chain)
            chain = chain.__cause__ or chain.__context__


async def test_call_tracer_reports_one_call_in_order() -> None:
    """The tracer the client builds per call (only with hooks): it numbers the call, times
    each attempt from after ``on_request`` and keeps the last status for ``on_call_end``."""
    from moveworks_async._hooks import CallTracer

    seen: list[object] = []

    class Record(mw.Hooks):
        def on_call_start(self, info: mw.CallInfo) -> None:
            seen.append(info)

        def on_request(self, info: mw.RequestInfo) -> None:
            seen.append(info)

        def on_response(self, info: mw.ResponseInfo) -> None:
            seen.append(info)

        def on_retry(self, info: mw.RetryInfo) -> None:
            seen.append(info)

        def on_governor_wait(self, info: mw.GovernorWaitInfo) -> None:
            seen.append(info)

        def on_call_end(self, info: mw.CallEndInfo) -> None:
            seen.append(info)

    now = [10.0]
    tracer = CallTracer(HookRunner([Record()]), lambda: now[0], "GET", "/p")
    await tracer.call_start()
    await tracer.governor_wait(1, 0.5, "rate")
    now[0] = 11.0
    await tracer.attempt(1)
    now[0] = 11.25
    await tracer.response(1, 503, "r1", None)
    await tracer.retry(1, 503, 0.5, "503")
    await tracer.attempt(2)
    await tracer.response(2, None, None, mw.APIConnectionError("reset"))
    now[0] = 12.0
    await tracer.call_end(mw.APIConnectionError("reset"))
    cid = tracer.id
    assert seen == [
        mw.CallInfo(cid, "GET", "/p"),
        mw.GovernorWaitInfo(cid, "GET", "/p", 1, 0.5, "rate"),
        mw.RequestInfo(cid, "GET", "/p", 1),
        mw.ResponseInfo(cid, "GET", "/p", 1, 503, "r1", 0.25, None),
        mw.RetryInfo(cid, "GET", "/p", 1, 503, 0.5, "503"),
        mw.RequestInfo(cid, "GET", "/p", 2),
        mw.ResponseInfo(cid, "GET", "/p", 2, None, None, 0.0, "APIConnectionError"),
        mw.CallEndInfo(cid, "GET", "/p", 2, None, None, 2.0, "APIConnectionError"),
    ]
    assert CallTracer(HookRunner([Record()]), lambda: 0.0, "GET", "/p").id > cid
