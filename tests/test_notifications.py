"""``client.notifications`` (Events API) against the package's fake server: wire shape,
validation before I/O, flat error bodies, the 120/min governor, no duplicate sends."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from conftest import FakeTime

import moveworks_async as mw
from moveworks_async._notifications import NOTIFICATIONS_BURST, NOTIFICATIONS_RATE
from moveworks_async.testing import FakeMoveworks, Fault

pytestmark = pytest.mark.asyncio

EVENT = "123e4567-e89b-42d3-a456-426614174000"


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeMoveworks]:
    async with FakeMoveworks() as s:
        s.events_api.register(EVENT)
        yield s


def client(server: FakeMoveworks, fake_time: FakeTime, **options: Any) -> mw.AsyncMoveworks:
    return mw.AsyncMoveworks(
        assistant_name="acme-capi",
        token="test-token",
        base_url=server.url,
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        **options,
    )


def sends(server: FakeMoveworks) -> list[Any]:
    return [r for r in server.requests if r.path.endswith("/messages/send")]


@pytest.mark.parametrize("api_version", ["v1beta1", "assistant-v1", "v1"])
async def test_send_posts_under_rest_v1_without_assistant_name(
    server: FakeMoveworks, fake_time: FakeTime, api_version: str
) -> None:
    async with client(server, fake_time, api_version=api_version) as c:
        result = await c.notifications.send(
            EVENT,
            message="Your <b>laptop</b> is ready :tada:",
            recipients=["ada@example.com", "bob@example.org"],
            context={"slots": {"ticket": "RITM1"}},
        )
    assert result.status is mw.NotificationStatus.RECEIVED
    assert result.recipients == ("ada@example.com", "bob@example.org")
    assert result.request_id  # the fake sends x-trace-id
    (record,) = sends(server)
    assert record.method == "POST"
    assert record.path == f"/rest/v1/events/{EVENT}/messages/send"
    assert "Assistant-Name" not in record.headers
    assert record.headers["Authorization"] == "<redacted>"
    assert record.json == {
        "message": "Your <b>laptop</b> is ready :tada:",
        "recipients": ["ada@example.com", "bob@example.org"],
        "context": {"slots": {"ticket": "RITM1"}},
    }
    delivery = server.events_api.deliveries[0]
    assert delivery.event_id == EVENT
    assert delivery.context == {"slots": {"ticket": "RITM1"}}


async def test_context_is_omitted_when_none(server: FakeMoveworks, fake_time: FakeTime) -> None:
    async with client(server, fake_time) as c:
        await c.notifications.send(EVENT, message="hi", recipients=["a@example.com"])
    assert "context" not in sends(server)[0].json


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"x": value}
    return value


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"event_id": "not-a-uuid"}, "event_id must be a UUID"),
        ({"event_id": 42}, "event_id must be a str"),
        ({"event_id": EVENT + "/../x"}, "event_id must be a UUID"),
        ({"message": ""}, "message must be 1-20000 characters"),
        ({"message": "x" * 20_001}, "message must be 1-20000 characters"),
        ({"message": None}, "message must be a str"),
        ({"recipients": []}, "must not be empty"),
        ({"recipients": "a@example.com"}, "list of email"),
        ({"recipients": [f"u{i}@example.com" for i in range(501)]}, "at most 500"),
        ({"recipients": ["a@example.com", "no-at-sign"]}, "recipients[1] is not a valid"),
        ({"recipients": ["a b@example.com"]}, "recipients[0] is not a valid"),
        ({"recipients": ["a@example.com\r\nBcc: x@example.com"]}, "recipients[0]"),
        ({"recipients": [None]}, "recipients[0] must be a str"),
        ({"context": ["slots"]}, "context must be a JSON object"),
        ({"context": {1: "x"}}, "context must be a JSON object"),
        ({"context": {"slots": object()}}, "JSON-serialisable"),
        # Found by the adversarial review: refused before I/O, alike with both JSON backends.
        ({"message": "hi \ud800"}, "message contains a lone surrogate"),
        ({"recipients": ["ada\ud800@example.com"]}, "recipients[0] is not a valid"),
        ({"recipients": ["\ufeffada@example.com"]}, "recipients[0] is not a valid"),
        ({"recipients": ["ada\u200b@example.com"]}, "recipients[0] is not a valid"),
        ({"recipients": ["\u202eada@example.com"]}, "recipients[0] is not a valid"),
        ({"recipients": [".ada@example.com"]}, "recipients[0] is not a valid"),
        ({"recipients": ["ada.@example.com"]}, "recipients[0] is not a valid"),
        ({"recipients": ["a..b@example.com"]}, "recipients[0] is not a valid"),
        ({"context": {"x": float("nan")}}, "NaN or infinity"),
        ({"context": {"x": [float("inf")]}}, "NaN or infinity"),
        ({"context": {"x": "\udc00"}}, "lone surrogate"),
        ({"context": {"\udc00": 1}}, "lone surrogate"),
        ({"context": {"x": 10**5000}}, "cannot be encoded"),
        ({"context": _deep(100_000)}, "deeper than"),
    ],
)
async def test_bad_input_is_refused_before_any_io(
    server: FakeMoveworks, fake_time: FakeTime, kwargs: dict[str, Any], fragment: str
) -> None:
    args: dict[str, Any] = {
        "event_id": EVENT,
        "message": "hello",
        "recipients": ["a@example.com"],
        **kwargs,
    }
    event_id = args.pop("event_id")
    async with client(server, fake_time) as c:
        with pytest.raises(mw.InvalidParameterError) as info:
            await c.notifications.send(event_id, **args)
        if "at most 500" not in fragment:  # send_many takes any number of recipients
            with pytest.raises(mw.InvalidParameterError):
                await c.notifications.send_many(event_id, **args)
    assert fragment in str(info.value)
    assert "no-at-sign" not in str(info.value)  # the value itself is never echoed
    assert sends(server) == []


async def test_message_of_exactly_20000_characters_is_sent(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    async with client(server, fake_time) as c:
        await c.notifications.send(EVENT, message="x" * 20_000, recipients=["a@example.com"])
    assert len(server.events_api.deliveries[0].message) == 20_000


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        ({"code": "INVALID_TOKEN", "message": "Invalid token"}, "INVALID_TOKEN", "Invalid token"),
        ({"code": "EXPIRED_TOKEN", "message": "Token expired"}, "EXPIRED_TOKEN", "Token expired"),
        ({"error": {"code": "UNAUTHORIZED", "message": "No"}}, "UNAUTHORIZED", "No"),
        ("Token validation failed", None, "Forbidden"),  # text: kept in .body
    ],
)
async def test_every_documented_error_body_shape_is_read(
    fake_time: FakeTime, body: Any, code: str | None, message: str
) -> None:
    """Flat ``{code, message}`` (Events API and its OAuth variants), the Conversations API
    envelope, and plain text."""
    from aioresponses import aioresponses

    with aioresponses() as mock:
        mock.post(
            f"https://api.moveworks.ai/rest/v1/events/{EVENT}/messages/send",
            status=403,
            body=body if isinstance(body, str) else json.dumps(body),
            content_type="text/plain" if isinstance(body, str) else "application/json",
        )
        async with mw.AsyncMoveworks(assistant_name="x", token="t", sleep=fake_time.sleep) as c:
            with pytest.raises(mw.PermissionDeniedError) as info:
                await c.notifications.send(EVENT, message="hi", recipients=["a@example.com"])
    assert info.value.code == code
    assert info.value.message == message
    if isinstance(body, str):
        assert info.value.body == body


async def test_message_of_spaces_is_the_callers_business(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    async with client(server, fake_time) as c:
        await c.notifications.send(EVENT, message=" ", recipients=["a@example.com"])
    assert server.events_api.deliveries[0].message == " "


async def test_unknown_event_is_not_found_with_the_flat_error_body(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    other = "00000000-0000-4000-8000-00000000abcd"
    async with client(server, fake_time) as c:
        with pytest.raises(mw.NotFoundError) as info:
            await c.notifications.send(other, message="hi", recipients=["a@example.com"])
    assert info.value.code == "INVALID_EVENT_ID"
    assert info.value.message == "Event not found."
    assert len(sends(server)) == 1  # a 404 is final


async def test_bad_token_is_an_authentication_error(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    async with mw.AsyncMoveworks(
        assistant_name="x", token="wrong", base_url=server.url, sleep=fake_time.sleep
    ) as c:
        with pytest.raises(mw.AuthenticationError) as info:
            await c.notifications.send(EVENT, message="hi", recipients=["a@example.com"])
    assert info.value.code == "UNAUTHENTICATED"
    assert info.value.message == "Token validation failed"
    assert "wrong" not in str(info.value)


async def test_client_credentials_work_for_notifications(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    creds = mw.ClientCredentials("test-client", "test-secret")
    async with mw.AsyncMoveworks(
        assistant_name="x", auth=creds, base_url=server.url, sleep=fake_time.sleep
    ) as c:
        result = await c.notifications.send(EVENT, message="hi", recipients=["a@example.com"])
    assert result.status == "RECEIVED"
    assert server.stats.token_requests == 1


async def test_unknown_status_value_is_kept(fake_time: FakeTime) -> None:
    from aioresponses import aioresponses

    with aioresponses() as mock:
        mock.post(
            f"https://api.moveworks.ai/rest/v1/events/{EVENT}/messages/send",
            status=200,
            body=json.dumps({"data": {"status": "QUEUED", "future": 1}}),
            content_type="application/json",
        )
        async with mw.AsyncMoveworks(assistant_name="x", token="t", sleep=fake_time.sleep) as c:
            result = await c.notifications.send(EVENT, message="hi", recipients=["a@example.com"])
    assert result.status == "QUEUED"
    assert not result.status.is_known


async def test_send_many_batches_of_500_in_order_without_repeats(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    people = [f"user{i}@example.com" for i in range(1234)]
    async with client(server, fake_time) as c:
        results = await c.notifications.send_many(
            EVENT, message="hi", recipients=[*people, people[0], people[700]]
        )
    assert [len(r.recipients) for r in results] == [500, 500, 234]
    assert [r for res in results for r in res.recipients] == people
    assert [d.recipients for d in server.events_api.deliveries] == [r.recipients for r in results]


class _FailNth:
    """A hook that makes the fake server fail the ``n``-th send with ``fault``."""

    def __init__(self, server: FakeMoveworks, n: int, fault: Fault) -> None:
        self.server, self.n, self.fault, self.seen = server, n, fault, 0

    def on_request(self, info: mw.RequestInfo) -> None:
        if info.path.endswith("/messages/send"):
            self.seen += 1
            if self.seen == self.n:
                self.server.inject(self.fault, times=1, path_contains="/messages/send")


async def test_send_many_refused_batch_says_who_was_scheduled(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    people = [f"user{i}@example.com" for i in range(1200)]
    hook = _FailNth(server, 2, Fault.status(400, error_code="BAD_REQUEST"))
    async with client(server, fake_time, hooks=[hook]) as c:
        with pytest.raises(mw.NotificationBatchError) as info:
            await c.notifications.send_many(EVENT, message="hi", recipients=people)
    error = info.value
    assert error.scheduled == tuple(people[:500])
    assert error.not_scheduled == tuple(people[500:])
    assert error.outcome_unknown == ()
    assert [len(r.recipients) for r in error.results] == [500]
    assert isinstance(error.error, mw.BadRequestError)
    assert error.__cause__ is error.error
    assert "batch 2 of 3" in str(error)
    assert "500 recipients scheduled" in str(error)
    assert len(sends(server)) == 2  # the third batch was never sent


async def test_send_many_ambiguous_batch_is_not_resent(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    """A 503 after the server may have processed the batch: no retry, outcome unknown."""
    people = [f"user{i}@example.com" for i in range(1200)]
    hook = _FailNth(server, 2, Fault.status(503))
    async with client(server, fake_time, hooks=[hook]) as c:
        with pytest.raises(mw.NotificationBatchError) as info:
            await c.notifications.send_many(EVENT, message="hi", recipients=people)
    error = info.value
    assert error.scheduled == tuple(people[:500])
    assert error.outcome_unknown == tuple(people[500:1000])
    assert error.not_scheduled == tuple(people[1000:])
    assert isinstance(error.error, mw.InternalServerError)
    assert error.error.outcome_unknown
    assert len(sends(server)) == 2


async def test_reset_after_the_request_is_never_retried(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    """The server received and scheduled the message, the reply was lost: one delivery only."""
    server.inject(Fault.reset_after_request(), times=1, path_contains="/messages/send")
    async with client(server, fake_time, max_retries=5) as c:
        with pytest.raises(mw.APIConnectionError) as info:
            await c.notifications.send(EVENT, message="hi", recipients=["a@example.com"])
    assert info.value.outcome_unknown is True
    assert len(server.events_api.deliveries) == 1
    assert len(sends(server)) == 1


async def test_429_without_retry_after_pauses_60_seconds_then_succeeds(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    server.inject(Fault.rate_limited(retry_after=None), times=1, path_contains="/messages/send")
    async with client(server, fake_time) as c:
        result = await c.notifications.send(EVENT, message="hi", recipients=["a@example.com"])
        assert c.governor.snapshot().rate_limited == 0  # the main governor was not involved
        assert c.notifications.governor.snapshot().rate_limited == 1
    assert result.status == "RECEIVED"
    assert len(sends(server)) == 2
    assert any(60.0 <= s <= 66.0 for s in fake_time.sleeps)  # 60 s plus at most 10 % jitter


async def test_server_bucket_429_is_a_rate_limit_error_with_flat_body(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    server.events_api.bucket._tokens = 0.0  # the organisation's minute is used up
    async with client(server, fake_time, max_retries=0) as c:
        with pytest.raises(mw.RateLimitError) as info:
            await c.notifications.send(EVENT, message="hi", recipients=["a@example.com"])
    assert info.value.code == "RATE_LIMIT_EXCEEDED"
    assert info.value.retry_after is None
    assert server.events_api.deliveries == []


async def test_notifications_governor_can_be_shared(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    shared = mw.notifications_governor(clock=fake_time.clock, sleep=fake_time.sleep)
    async with (
        client(server, fake_time, notifications_governor=shared) as a,
        client(server, fake_time, notifications_governor=shared) as b,
    ):
        assert a.notifications.governor is shared
        assert b.notifications.governor is shared
        for c in (a, b) * 3:
            await c.notifications.send(EVENT, message="hi", recipients=["a@example.com"])
    assert shared.snapshot().in_flight == 0
    assert len(server.events_api.deliveries) == 6


async def test_invalid_notifications_governor_is_refused() -> None:
    with pytest.raises(mw.InvalidParameterError):
        mw.AsyncMoveworks(assistant_name="x", token="t", notifications_governor="fast")  # type: ignore[arg-type]


async def test_send_legacy_is_deprecated_and_posts_the_old_path(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    async with client(server, fake_time) as c:
        with pytest.warns(DeprecationWarning, match="send_legacy"):
            assert (
                await c.notifications.send_legacy(message="hi", recipients=["a@example.com"])
                is None
            )
        with (
            pytest.warns(DeprecationWarning, match="send_legacy"),
            pytest.raises(mw.InvalidParameterError),
        ):
            await c.notifications.send_legacy(message="", recipients=["a@example.com"])
    (record,) = sends(server)
    assert record.path == "/rest/v1/messages/send"
    assert record.json == {"message": "hi", "recipients": ["a@example.com"]}
    assert "deprecated" in (mw.Notifications.send_legacy.__doc__ or "").lower()


async def test_preset_keeps_every_60_second_window_within_120(fake_time: FakeTime) -> None:
    """130 sends back to back through the preset: never more than 120 in any 60 s."""
    governor = mw.notifications_governor(clock=fake_time.clock, sleep=fake_time.sleep)
    times = []
    for _ in range(250):
        ticket = await governor.acquire()
        times.append(fake_time.now)
        governor.release(ticket, 200)
    for i, start in enumerate(times):
        assert sum(1 for t in times[i:] if t < start + 60.0) <= 120
    assert sum(1 for t in times if t == times[0]) == NOTIFICATIONS_BURST
    assert pytest.approx(120) == NOTIFICATIONS_BURST + 60 * NOTIFICATIONS_RATE
    # ...and it is not needlessly slow: 250 sends need about (250 - 10) / (110 / 60) s.
    assert times[-1] - times[0] <= (250 - NOTIFICATIONS_BURST) / NOTIFICATIONS_RATE * 1.1


async def test_send_signature_is_keyword_only_after_event_id() -> None:
    import inspect

    params = inspect.signature(mw.Notifications.send).parameters
    assert params["event_id"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    for name in ("message", "recipients", "context"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["context"].default is None


@pytest.mark.redis
async def test_preset_shared_through_redis_pauses_every_process_60_seconds() -> None:
    """Two processes' presets on one Redis key: a 429 seen by one holds the other for 60 s."""
    import uuid

    from test_redis_governor import _free_port, _redis_server

    with _redis_server(_free_port()) as url:
        key = f"mw-test:{uuid.uuid4().hex}"
        a = mw.notifications_governor(redis_url=url, key=key, max_wait=5.0)
        b = mw.notifications_governor(redis_url=url, key=key, max_wait=5.0)
        assert isinstance(a, mw.RedisRateGovernor)
        assert a.snapshot().rate == pytest.approx(NOTIFICATIONS_RATE)
        assert a.snapshot().burst == NOTIFICATIONS_BURST
        try:
            ticket = await a.acquire()
            assert await a.report_rate_limit(ticket, None) is True
            a.release(ticket, 429)
            with pytest.raises(mw.RateLimitError) as info:
                await b.acquire()  # the pause is longer than max_wait: fails fast
            assert info.value.retry_after is not None
            assert 55.0 <= info.value.retry_after <= 60.0
        finally:
            await a.aclose()
            await b.aclose()


async def test_default_governor_works_outside_an_event_loop() -> None:
    """A client built without injected time: its notifications governor can be inspected
    from synchronous code, here a worker thread without an event loop."""
    import anyio.to_thread

    client = mw.AsyncMoveworks(assistant_name="x", token="t")
    snapshot = await anyio.to_thread.run_sync(client.notifications.governor.snapshot)
    assert snapshot.rate == pytest.approx(NOTIFICATIONS_RATE)
    assert snapshot.burst == NOTIFICATIONS_BURST


async def test_with_options_views_share_the_notifications_governor(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    async with client(server, fake_time) as c:
        view = c.with_options(max_retries=0, extra_headers={"X-Team": "it"})
        assert view.notifications.governor is c.notifications.governor
        await view.notifications.send(EVENT, message="hi", recipients=["a@example.com"])
    (record,) = sends(server)
    assert record.headers["X-Team"] == "it"
    assert "Assistant-Name" not in record.headers


# --- the adversarial review of issue 15 ---------------------------------------------------


def _mocked(fake_time: FakeTime) -> mw.AsyncMoveworks:
    return mw.AsyncMoveworks(assistant_name="x", token="t", sleep=fake_time.sleep)


_URL = f"https://api.moveworks.ai/rest/v1/events/{EVENT}/messages/send"
_OK = json.dumps({"data": {"status": "RECEIVED"}})


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        ("<html>ok</html>", "text/html", mw.UnexpectedResponseError),
        ("", "application/json", mw.UnexpectedResponseError),
        ("{nope", "application/json", mw.UnexpectedResponseError),
        ("{}", "application/json", mw.ResponseValidationError),
        ('{"data": {"status": 7}}', "application/json", mw.ResponseValidationError),
    ],
    ids=["html", "empty", "not-json", "no-status", "status-int"],
)
async def test_unreadable_2xx_reply_to_a_send_has_an_unknown_outcome(
    fake_time: FakeTime, body: str, content_type: str, error: type[Exception]
) -> None:
    """A 2xx means the server took the send: never an error that invites sending again."""
    from aioresponses import aioresponses

    with aioresponses() as mock:
        mock.post(_URL, status=200, body=body, content_type=content_type)
        async with _mocked(fake_time) as c:
            with pytest.raises(error) as info:
                await c.notifications.send(EVENT, message="hi", recipients=["a@example.com"])
    assert isinstance(info.value, mw.APIError)
    assert info.value.outcome_unknown is True


async def test_send_many_unreadable_2xx_batch_is_reported_with_an_unknown_outcome(
    fake_time: FakeTime,
) -> None:
    from aioresponses import aioresponses

    people = [f"u{i}@example.com" for i in range(1200)]
    with aioresponses() as mock:
        mock.post(_URL, status=200, body=_OK, content_type="application/json")
        mock.post(_URL, status=200, body="<html>ok</html>", content_type="text/html")
        async with _mocked(fake_time) as c:
            with pytest.raises(mw.NotificationBatchError) as info:
                await c.notifications.send_many(EVENT, message="hi", recipients=people)
    error = info.value
    assert error.scheduled == tuple(people[:500])
    assert error.outcome_unknown == tuple(people[500:1000])
    assert error.not_scheduled == tuple(people[1000:])
    assert isinstance(error.error, mw.UnexpectedResponseError)
    assert error.__cause__ is error.error


async def test_send_many_oversized_2xx_batch_is_reported_with_an_unknown_outcome(
    fake_time: FakeTime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aioresponses import aioresponses

    from moveworks_async import _transport

    monkeypatch.setattr(_transport, "MAX_BODY", 100)
    people = [f"u{i}@example.com" for i in range(600)]
    with aioresponses() as mock:
        mock.post(_URL, status=200, body=_OK, content_type="application/json")
        mock.post(_URL, status=200, body=_OK + " " * 200, content_type="application/json")
        async with _mocked(fake_time) as c:
            with pytest.raises(mw.NotificationBatchError) as info:
                await c.notifications.send_many(EVENT, message="hi", recipients=people)
    assert info.value.outcome_unknown == tuple(people[500:])
    assert info.value.not_scheduled == ()
    assert info.value.error.outcome_unknown  # type: ignore[attr-defined]


class _FailingGovernor:
    """A governor whose second turn fails with ``error`` (before the request is sent)."""

    def __init__(self, error: Exception) -> None:
        self.inner = mw.RateGovernor(adaptive=False)
        self.error, self.turns = error, 0

    async def acquire(self, on_wait: Any = None) -> int:
        self.turns += 1
        if self.turns == 2:
            raise self.error
        return await self.inner.acquire(on_wait)

    def release(self, ticket: int, status: int | None) -> None:
        self.inner.release(ticket, status)

    async def report_rate_limit(self, ticket: int, retry_after: float | None) -> bool:
        return await self.inner.report_rate_limit(ticket, retry_after)

    def snapshot(self) -> Any:
        return self.inner.snapshot()


@pytest.mark.parametrize(
    ("error", "unknown"),
    [
        (mw.GovernorUnavailableError("Redis is unreachable; nothing was sent"), False),
        (RecursionError("maximum recursion depth exceeded"), True),
    ],
    ids=["governor-unavailable", "unexpected"],
)
async def test_send_many_reports_who_was_scheduled_whatever_fails(
    server: FakeMoveworks, fake_time: FakeTime, error: Exception, unknown: bool
) -> None:
    """Any exception after a batch went out is a NotificationBatchError (cause chained)."""
    people = [f"user{i}@example.com" for i in range(1200)]
    governor = _FailingGovernor(error)
    async with client(server, fake_time, notifications_governor=governor) as c:
        with pytest.raises(mw.NotificationBatchError) as info:
            await c.notifications.send_many(EVENT, message="hi", recipients=people)
    batch = info.value
    assert batch.scheduled == tuple(people[:500])
    assert batch.__cause__ is error
    assert batch.error is error
    if unknown:  # not known to have stopped before the wire
        assert batch.outcome_unknown == tuple(people[500:1000])
        assert batch.not_scheduled == tuple(people[1000:])
    else:
        assert batch.outcome_unknown == ()
        assert batch.not_scheduled == tuple(people[500:])
    assert len(server.events_api.deliveries) == 1


async def test_send_many_validates_every_recipient_before_the_first_batch(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    people = [f"user{i}@example.com" for i in range(1200)]
    people[700] = "user\ud800@example.com"
    async with client(server, fake_time) as c:
        with pytest.raises(mw.InvalidParameterError, match=r"recipients\[700\]"):
            await c.notifications.send_many(EVENT, message="hi", recipients=people)
    assert sends(server) == []


async def test_context_with_a_64_bit_overflowing_int_is_sent_exactly(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    async with client(server, fake_time) as c:
        await c.notifications.send(
            EVENT, message="hi", recipients=["a@example.com"], context={"x": 2**64}
        )
    assert sends(server)[0].json["context"] == {"x": 2**64}


async def test_timeout_bounds_the_wait_for_a_rate_limit_pause(
    server: FakeMoveworks, fake_time: FakeTime
) -> None:
    """After a 429 without Retry-After the governor pauses 60 s: timeout=2 is not 60 s."""
    server.inject(Fault.rate_limited(retry_after=None), times=1, path_contains="/messages/send")
    async with client(server, fake_time) as c:
        with pytest.raises(mw.RateLimitError):
            await c.notifications.send(
                EVENT, message="hi", recipients=["a@example.com"], max_retries=0
            )
        start = fake_time.now
        with pytest.raises(mw.APITimeoutError) as info:
            await c.notifications.send(EVENT, message="hi", recipients=["a@example.com"], timeout=2)
    assert info.value.phase == "total"
    assert info.value.outcome_unknown is False  # never sent: the pause was still on
    assert len(sends(server)) == 1
    assert server.events_api.deliveries == []
    assert fake_time.now - start <= 66.0  # one governor sleep at most, then the bound


async def test_server_text_in_error_messages_is_capped(fake_time: FakeTime) -> None:
    from aioresponses import aioresponses

    code = "X" * 5_000
    with aioresponses() as mock:
        mock.post(
            _URL,
            status=400,
            body=json.dumps({"code": code, "message": "m" * 3_000}),
            content_type="application/json",
        )
        async with _mocked(fake_time) as c:
            with pytest.raises(mw.BadRequestError) as info:
                await c.notifications.send(EVENT, message="hi", recipients=["a@example.com"])
    assert len(str(info.value)) < 2_100
    assert info.value.code == "X" * 1000 + "…"
    assert info.value.body["code"] == code  # type: ignore[index]  # the whole reply is kept


@pytest.mark.parametrize(
    "address",
    [
        "\ufeffada@example.com",
        "ada\u200b@example.com",
        "\u202eada@example.com",
        ".ada@example.com",
        "ada.@example.com",
        "a..b@example.com",
    ],
)
async def test_fake_server_refuses_malformed_addresses(server: FakeMoveworks, address: str) -> None:
    import aiohttp

    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{server.url}/rest/v1/events/{EVENT}/messages/send",
            json={"message": "hi", "recipients": [address]},
            headers={"Authorization": "Bearer test-token"},
        ) as reply,
    ):
        assert reply.status == 400
        assert (await reply.json())["code"] == "BAD_REQUEST"
    assert server.events_api.deliveries == []


async def test_verbose_log_of_a_429_retry_does_not_claim_a_zero_wait(
    server: FakeMoveworks, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    server.inject(Fault.rate_limited(retry_after=None), times=1, path_contains="/messages/send")
    with caplog.at_level(logging.INFO, logger="moveworks_async"):
        async with client(server, fake_time) as c:
            await c.notifications.send(EVENT, message="hi", recipients=["a@example.com"])
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]
    assert len(retries) == 1
    assert "backoff 0.00s" not in retries[0]
    assert "rate governor's pause" in retries[0]
