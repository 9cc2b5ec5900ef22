"""``client.notifications`` (Events API) against the package's fake server: wire shape,
validation before I/O, flat error bodies, the 120/min governor, no duplicate sends."""

from __future__ import annotations

import json
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
