"""Retry rules: the pure policy (Retry-After table, backoff bounds) and the client's attempt loop
against the fake server (which calls are retried, which raise with ``outcome_unknown``).

Client tests inject ``fake_time`` (clock and sleep) so backoffs and governor pauses are
recorded, not waited; the server is real (loopback), its faults injected per test.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import Any

import pytest
import pytest_asyncio

import moveworks_async as mw
from moveworks_async._governor import GovernorSnapshot
from moveworks_async._protocol import parse_retry_after
from moveworks_async._retry import Decision, RetryBudget, RetryPolicy
from moveworks_async.testing import FakeMoveworks, Fault

pytestmark = pytest.mark.asyncio

NOW = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT


def _date(offset: float) -> str:
    return formatdate(NOW + offset, usegmt=True)


def _rate_limit_error(retry_after: float | None = None) -> mw.RateLimitError:
    return mw.RateLimitError("slow down", status_code=429, retry_after=retry_after)


def _status_error(status: int) -> mw.APIStatusError:
    cls = mw.InternalServerError if status >= 500 else mw.APIStatusError
    return cls("failed", status_code=status)


# --- the Retry-After table (openai-python's test_parse_retry_after_header, extended) -----------

# (headers, parsed seconds, outcome of a 429): "honour" pauses the governor for exactly that
# long, "backoff" falls back to the governor's 1 s backoff, "raise" gives RateLimitError at once.
RETRY_AFTER_TABLE: list[tuple[dict[str, str], float | None, str]] = [
    ({"retry-after": "20"}, 20.0, "honour"),
    ({"retry-after": "0"}, 0.0, "backoff"),
    ({"retry-after": "-10"}, 0.0, "backoff"),
    ({"retry-after": "1.5"}, 1.5, "honour"),
    ({"retry-after": "  7  "}, 7.0, "honour"),
    ({"retry-after": "60"}, 60.0, "honour"),
    ({"retry-after": "61"}, 61.0, "raise"),
    ({"retry-after": "121"}, 121.0, "raise"),
    ({"retry-after": "1e9"}, 1e9, "raise"),
    # A huge number is a wait beyond any cap, clamped (not "absent"): it fails fast.
    ({"retry-after": "9" * 40}, 1e9, "raise"),
    ({"retry-after": "1000000000000"}, 1e9, "raise"),
    ({"retry-after": "inf"}, None, "backoff"),
    ({"retry-after": "-inf"}, None, "backoff"),
    ({"retry-after": "nan"}, None, "backoff"),
    ({"retry-after": ""}, None, "backoff"),
    ({"retry-after": "garbage"}, None, "backoff"),
    ({"retry-after": "20, 30"}, None, "backoff"),
    ({"retry-after": _date(20)}, 20.0, "honour"),
    ({"retry-after": _date(60)}, 60.0, "honour"),
    ({"retry-after": _date(121)}, 121.0, "raise"),
    ({"retry-after": _date(-10)}, 0.0, "backoff"),
    ({"retry-after": "Tuesday, 14-Nov-23 22:13:40 GMT"}, 20.0, "honour"),
    ({"retry-after": "Zun, 14 Nov 2023 22:13:40 GMT"}, 20.0, "honour"),
    ({"retry-after": "Fri, 29 Sep 100000 16:26:27 GMT"}, None, "backoff"),
    ({"retry-after": "Tue, 14 Nov 2023 22:13:40"}, None, "backoff"),
    # The reply's Date header is the reference, which cancels clock skew (here: 1 h).
    ({"retry-after": _date(3630), "date": _date(3600)}, 30.0, "honour"),
    ({"retry-after-ms": "1500"}, 1.5, "honour"),
    ({"retry-after-ms": "120001"}, 120.001, "raise"),
    ({"retry-after-ms": "-5"}, 0.0, "backoff"),
    ({"retry-after-ms": "abc", "retry-after": "5"}, 5.0, "honour"),
    ({"retry-after-ms": "250", "retry-after": "5"}, 0.25, "honour"),
    ({}, None, "backoff"),
]


@pytest.mark.parametrize(("headers", "parsed", "outcome"), RETRY_AFTER_TABLE)
async def test_retry_after_table(
    headers: dict[str, str], parsed: float | None, outcome: str, fake_time: Any
) -> None:
    """Each Retry-After form parses exactly and leads to honour / backoff / raise for a 429."""
    value = parse_retry_after(headers, NOW)
    assert value == (pytest.approx(parsed) if parsed is not None else None)
    decision = RetryPolicy().decide(
        _rate_limit_error(value), attempt=0, idempotent=True, retry_after=value
    )
    governor = mw.RateGovernor(adaptive=False, clock=fake_time.clock, sleep=fake_time.sleep)
    ticket = await governor.acquire()
    governor.release(ticket, 429)
    await governor.report_rate_limit(ticket, value)
    paused = governor.snapshot().paused_for
    if outcome == "raise":
        assert decision == Decision(False, reason="Retry-After above max_retry_after")
    else:
        assert decision.retry
        assert decision.delay == 0.0  # the governor waits, not the task
        assert paused == pytest.approx(parsed if outcome == "honour" else 1.0)


async def test_retry_after_table_has_at_least_twenty_rows() -> None:
    """The table covers the openai-python cases and more."""
    assert len(RETRY_AFTER_TABLE) >= 20


async def test_bad_retry_after_on_a_400_does_not_mask_the_status_error() -> None:
    """A garbage Retry-After on a non-retryable status is ignored; the 400 decides."""
    value = parse_retry_after({"retry-after": "Zun, 99 Foo 2023"}, NOW)
    decision = RetryPolicy().decide(
        _status_error(400), attempt=0, idempotent=True, retry_after=value
    )
    assert decision == Decision(False, reason="not retryable")


# --- backoff bounds -------------------------------------------------------------------------


async def test_ten_thousand_seeded_backoff_draws_stay_within_bounds() -> None:
    """Full jitter: every delay is in [0, min(cap, base * 2**retry)], and the draws spread."""
    policy = RetryPolicy()
    rng = random.Random(20261126)
    by_retry: dict[int, list[float]] = {}
    for i in range(10_000):
        retry = i % 12
        delay = policy.backoff(retry, rng.random)
        assert 0.0 <= delay <= min(8.0, 0.5 * 2**retry)
        by_retry.setdefault(retry, []).append(delay)
    for retry, delays in by_retry.items():
        bound = min(8.0, 0.5 * 2**retry)
        mean = sum(delays) / len(delays)
        assert 0.4 * bound <= mean <= 0.6 * bound  # uniform: mean = bound / 2
        assert max(delays) > 0.95 * bound


async def test_backoff_of_huge_retry_numbers_does_not_overflow() -> None:
    """retry=10,000 gives the cap, not an OverflowError."""
    assert RetryPolicy().backoff(10_000, lambda: 1.0) == 8.0


async def test_server_delay_on_503_is_honoured_with_positive_jitter() -> None:
    """A GET 503 with Retry-After 3 waits in [3, 3.3] s, never less than asked."""
    rng = random.Random(7)
    for _ in range(1000):
        decision = RetryPolicy().decide(
            _status_error(503), attempt=0, idempotent=True, retry_after=3.0, rng=rng.random
        )
        assert decision.retry
        assert 3.0 <= decision.delay <= 3.3


# --- pure decisions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        mw.APIConnectionError("reset", outcome_unknown=True),
        mw.APIConnectionError("refused"),
        mw.APITimeoutError("read timeout", phase="read", outcome_unknown=True),
        _rate_limit_error(),
        _status_error(408),
        _status_error(500),
        _status_error(502),
        _status_error(503),
        _status_error(504),
    ],
)
async def test_get_is_retried_on_transient_failures(error: mw.APIError) -> None:
    """Idempotent calls retry connection errors, timeouts, 408, 429 and 5xx."""
    assert RetryPolicy().decide(error, attempt=0, idempotent=True).retry


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_client_errors_are_never_retried(status: int) -> None:
    """4xx other than 408/429 are final for every method."""
    for idempotent in (True, False):
        decision = RetryPolicy().decide(_status_error(status), attempt=0, idempotent=idempotent)
        assert decision == Decision(False, reason="not retryable")


async def test_create_is_retried_only_after_connect_failure_or_429() -> None:
    """POST: a connect failure or a 429 is retried; everything ambiguous is not."""
    policy = RetryPolicy()
    assert policy.decide(mw.APIConnectionError("refused"), attempt=0, idempotent=False).retry
    assert policy.decide(
        mw.APITimeoutError("connect", phase="connect"), attempt=0, idempotent=False
    ).retry
    assert policy.decide(_rate_limit_error(1.0), attempt=0, idempotent=False).retry
    ambiguous: list[mw.APIError] = [
        mw.APIConnectionError("reset after send", outcome_unknown=True),
        mw.APITimeoutError("read", phase="read", outcome_unknown=True),
        _status_error(408),
        _status_error(500),
        _status_error(502),
        _status_error(503),
        _status_error(504),
    ]
    for error in ambiguous:
        decision = policy.decide(error, attempt=0, idempotent=False)
        assert decision == Decision(
            False, outcome_unknown=True, reason="ambiguous failure of a create"
        )


async def test_max_retries_bounds_every_kind() -> None:
    """At attempt == max_retries nothing is retried; a per-call limit overrides the policy."""
    policy = RetryPolicy(max_retries=2)
    for error in (mw.APIConnectionError("x"), _rate_limit_error(), _status_error(503)):
        assert policy.decide(error, attempt=1, idempotent=True).retry
        assert not policy.decide(error, attempt=2, idempotent=True).retry
        assert not policy.decide(error, attempt=0, idempotent=True, max_retries=0).retry
        assert policy.decide(error, attempt=4, idempotent=True, max_retries=5).retry


@pytest.mark.parametrize(
    "kwargs",
    [{"max_retries": -1}, {"max_retries": 1.5}, {"backoff_base": -1}, {"rate_limit_grace": -2}],
)
async def test_bad_policy_settings_are_rejected(kwargs: dict[str, Any]) -> None:
    """RetryPolicy validates its figures."""
    with pytest.raises(mw.InvalidParameterError):
        RetryPolicy(**kwargs)


async def test_retry_budget_drains_and_refills() -> None:
    """500 tokens, 5 per retry, 10 per timeout, +1 per success."""
    budget = RetryBudget()
    timeout = mw.APITimeoutError("t", phase="read")
    assert budget.try_spend(timeout)
    assert budget.tokens == 490
    spent = 0
    while budget.try_spend(mw.APIConnectionError("x")):
        spent += 1
    assert (spent, budget.tokens) == (98, 0)
    budget.on_success()
    assert budget.tokens == 1


# --- the client's attempt loop against the fake server ---------------------------------------


@pytest_asyncio.fixture
async def server() -> AsyncIterator[FakeMoveworks]:
    """A fake server with no rate limit."""
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


async def _conversation_and_response(client: mw.AsyncMoveworks) -> tuple[str, str]:
    conversation = await client.conversations.create()
    response = await client.responses.create(conversation.conversation_id, text="hi")
    return conversation.conversation_id, response.response_id


def _gets(server: FakeMoveworks) -> int:
    return sum(1 for r in server.requests if r.method == "GET")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_client_retries_get_on_5xx_then_succeeds(
    server: FakeMoveworks, fake_time: Any, status: int
) -> None:
    """Two 5xx then a 200: the GET succeeds on the third attempt, after two backoffs."""
    async with _client(server.url, fake_time) as client:
        cid, rid = await _conversation_and_response(client)
        server.inject(Fault.status(status), times=2)
        response = await client.responses.get(cid, rid)
    assert response.response_id == rid
    assert _gets(server) == 3
    assert len(fake_time.sleeps) == 2
    assert 0 <= fake_time.sleeps[0] <= 0.5
    assert 0 <= fake_time.sleeps[1] <= 1.0


async def test_client_gives_up_after_max_retries(server: FakeMoveworks, fake_time: Any) -> None:
    """Default max_retries=2: three attempts, then the typed error."""
    async with _client(server.url, fake_time) as client:
        cid, rid = await _conversation_and_response(client)
        server.inject(Fault.status(500), times=10)
        with pytest.raises(mw.InternalServerError):
            await client.responses.get(cid, rid)
    assert _gets(server) == 3


async def test_per_call_max_retries_overrides_the_client(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """max_retries=0 on the call: one attempt; max_retries=4 on the client: five."""
    async with _client(server.url, fake_time, max_retries=4) as client:
        cid, rid = await _conversation_and_response(client)
        server.inject(Fault.status(503), times=20)
        with pytest.raises(mw.InternalServerError):
            await client.responses.get(cid, rid, max_retries=0)
        assert _gets(server) == 1
        with pytest.raises(mw.InternalServerError):
            await client.responses.get(cid, rid)
        assert _gets(server) == 1 + 5


async def test_client_retries_get_after_a_reset(server: FakeMoveworks, fake_time: Any) -> None:
    """A GET whose connection is reset after sending is retried (it is idempotent)."""
    async with _client(server.url, fake_time) as client:
        cid, rid = await _conversation_and_response(client)
        server.inject(Fault.reset_after_request(), times=1, path_contains=rid)
        response = await client.responses.get(cid, rid)
    assert response.response_id == rid
    assert _gets(server) == 2


async def test_client_retries_get_after_a_read_timeout(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """A GET that times out waiting for the reply is retried."""
    async with _client(server.url, fake_time, timeout=mw.Timeout(read=0.2)) as client:
        cid, rid = await _conversation_and_response(client)
        server.inject(Fault.stall(2.0), times=1, path_contains=rid)
        response = await client.responses.get(cid, rid)
    assert response.response_id == rid
    assert _gets(server) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_create_5xx_raises_with_outcome_unknown_without_retry(
    server: FakeMoveworks, fake_time: Any, status: int
) -> None:
    """A create answered 5xx is not retried; the error says the outcome is unknown."""
    async with _client(server.url, fake_time) as client:
        conversation = await client.conversations.create()
        server.inject(Fault.status(status), times=5)
        with pytest.raises(mw.InternalServerError) as info:
            await client.responses.create(conversation.conversation_id, text="hi")
    assert info.value.outcome_unknown is True
    posts = [r for r in server.requests if r.method == "POST" and r.path.endswith("/responses")]
    assert len(posts) == 1


async def test_create_400_is_a_known_outcome(server: FakeMoveworks, fake_time: Any) -> None:
    """A create refused with 400 did not happen: outcome_unknown is False."""
    async with _client(server.url, fake_time) as client:
        conversation = await client.conversations.create()
        server.inject(Fault.status(400), times=1)
        with pytest.raises(mw.BadRequestError) as info:
            await client.responses.create(conversation.conversation_id, text="hi")
    assert info.value.outcome_unknown is False


async def test_create_reset_after_send_is_not_retried(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """The server created the response and the reply was lost: one create, outcome unknown."""
    async with _client(server.url, fake_time) as client:
        conversation = await client.conversations.create()
        server.inject(Fault.reset_after_request(), times=1, path_contains="/responses")
        with pytest.raises(mw.APIConnectionError) as info:
            await client.responses.create(conversation.conversation_id, text="hi")
    assert info.value.outcome_unknown is True
    assert server.stats.creates == 1


async def test_create_timeout_after_send_is_not_retried(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """A create whose reply is late times out once, is not resent, and says outcome unknown."""
    async with _client(server.url, fake_time, timeout=mw.Timeout(read=0.2)) as client:
        conversation = await client.conversations.create()
        server.inject(Fault.stall(2.0), times=1, path_contains="/responses")
        with pytest.raises(mw.APITimeoutError) as info:
            await client.responses.create(conversation.conversation_id, text="hi")
    assert info.value.outcome_unknown is True
    posts = [r for r in server.requests if r.method == "POST" and r.path.endswith("/responses")]
    assert len(posts) == 1


async def test_create_is_retried_after_429(server: FakeMoveworks, fake_time: Any) -> None:
    """A 429 was refused before processing: the create is retried and happens once."""
    async with _client(server.url, fake_time) as client:
        conversation = await client.conversations.create()
        server.inject(Fault.rate_limited("2"), times=1, path_contains="/responses")
        response = await client.responses.create(conversation.conversation_id, text="hi")
    assert response.response_id
    assert server.stats.creates == 1
    assert server.stats.rate_limited == 1
    assert sum(fake_time.sleeps) >= 2.0  # the governor's pause, never shorter than asked


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_create_is_retried_after_connect_failure(fake_time: Any) -> None:
    """Connection refused means nothing was sent: the create is retried, then raises."""
    url = f"http://127.0.0.1:{_closed_port()}"
    async with _client(url, fake_time) as client:
        with pytest.raises(mw.APIConnectionError) as info:
            await client.responses.create("conv_1", text="hi")
    assert info.value.outcome_unknown is False
    assert len(fake_time.sleeps) == 2  # three attempts, two backoffs


async def test_retry_after_above_cap_raises_at_once(server: FakeMoveworks, fake_time: Any) -> None:
    """Retry-After 121 > 60: RateLimitError with .retry_after, after exactly one request."""
    async with _client(server.url, fake_time) as client:
        cid, rid = await _conversation_and_response(client)
        server.inject(Fault.rate_limited("121"), times=1)
        with pytest.raises(mw.RateLimitError) as info:
            await client.responses.get(cid, rid)
        assert info.value.retry_after == 121.0
        assert _gets(server) == 1
        assert fake_time.sleeps == []
        # The governor remembers the pause: the next call fails fast without a request.
        with pytest.raises(mw.RateLimitError) as again:
            await client.responses.get(cid, rid)
        assert again.value.retry_after == pytest.approx(121.0)
        assert _gets(server) == 1


async def test_retry_after_ms_above_cap_raises_at_once(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """retry-after-ms 120001 (120.001 s) is above the cap too."""
    async with _client(server.url, fake_time) as client:
        cid, rid = await _conversation_and_response(client)
        server.inject(Fault.rate_limited("ms:120001"), times=1)
        with pytest.raises(mw.RateLimitError) as info:
            await client.responses.get(cid, rid)
    assert info.value.retry_after == pytest.approx(120.001)
    assert _gets(server) == 1


async def test_429_retries_wait_in_the_governor_not_in_the_task(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """Retry-After 3 on a GET: one governor pause of >= 3 s, then success."""
    async with _client(server.url, fake_time) as client:
        cid, rid = await _conversation_and_response(client)
        server.inject(Fault.rate_limited("3"), times=1)
        await client.responses.get(cid, rid)
        assert client.governor.snapshot().rate_limited == 1
    assert _gets(server) == 2
    assert sum(fake_time.sleeps) >= 3.0


async def test_retry_budget_stops_retries_when_empty(server: FakeMoveworks, fake_time: Any) -> None:
    """With the client's budget drained, a 503 surfaces at once."""
    async with _client(server.url, fake_time) as client:
        cid, rid = await _conversation_and_response(client)
        client._budget = RetryBudget(capacity=5)
        server.inject(Fault.status(503), times=10)
        with pytest.raises(mw.InternalServerError):
            await client.responses.get(cid, rid)
        assert _gets(server) == 2  # one retry paid for, then the budget was empty
        with pytest.raises(mw.InternalServerError):
            await client.responses.get(cid, rid)
        assert _gets(server) == 3


async def test_429_retries_do_not_spend_the_budget(server: FakeMoveworks, fake_time: Any) -> None:
    """429s are paced by the governor and do not drain the retry budget."""
    async with _client(server.url, fake_time) as client:
        cid, rid = await _conversation_and_response(client)
        client._budget = RetryBudget(capacity=0)
        server.inject(Fault.rate_limited("1"), times=2)
        await client.responses.get(cid, rid)
    assert _gets(server) == 3


class _CollateralGovernor:
    """A governor that calls every 429 collateral (another task's pause was already known)."""

    def __init__(self, own: bool) -> None:
        self.own = own
        self.reports = 0

    async def acquire(self, on_wait: Any = None) -> int:
        return 0

    def release(self, ticket: int, status: int | None) -> None:
        pass

    async def report_rate_limit(self, ticket: int, retry_after: float | None) -> bool:
        self.reports += 1
        return self.own

    def snapshot(self) -> GovernorSnapshot:
        return GovernorSnapshot(None, None, None, 0, 0, None, 0.0, self.reports, 0)


class _CountingGovernor(mw.RateGovernor):
    """A RateGovernor that counts which entry the client used for each turn."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tries = self.waits = 0

    def try_acquire(self) -> int | None:
        self.tries += 1
        return super().try_acquire()

    async def acquire(self, on_wait: Any = None) -> int:
        self.waits += 1
        return await super().acquire(on_wait)


async def test_client_takes_free_turns_with_try_acquire(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """A free turn is taken with try_acquire(); acquire() only when the governor says wait."""
    governor = _CountingGovernor(max_concurrency=1)
    async with _client(server.url, fake_time, governor=governor) as client:
        cid, rid = await _conversation_and_response(client)
        before = governor.tries
        await client.responses.get(cid, rid)
        assert (governor.tries - before, governor.waits) == (1, 0)
        await asyncio.gather(*(client.responses.get(cid, rid) for _ in range(3)))
    assert governor.waits >= 2  # the cap of 1 made the others wait in acquire()
    assert governor.snapshot().in_flight == 0


async def test_governor_without_try_acquire_is_awaited(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """try_acquire is optional: a Governor with acquire() only works as before."""
    governor = _CollateralGovernor(own=True)
    assert not hasattr(governor, "try_acquire")
    async with _client(server.url, fake_time, governor=governor) as client:
        cid, rid = await _conversation_and_response(client)
        got = await client.responses.get(cid, rid)
    assert got.response_id == rid


async def test_collateral_429_does_not_use_up_a_retry(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """max_retries=1: three collateral 429s are retried for free (grace 3), then success."""
    governor = _CollateralGovernor(own=False)
    async with _client(server.url, fake_time, governor=governor, max_retries=1) as client:
        cid, rid = await _conversation_and_response(client)
        server.inject(Fault.rate_limited("1"), times=4)
        await client.responses.get(cid, rid)
    assert _gets(server) == 5
    assert governor.reports == 4


async def test_own_429s_use_up_retries(server: FakeMoveworks, fake_time: Any) -> None:
    """max_retries=1 and the governor says each 429 is this task's own: two attempts."""
    governor = _CollateralGovernor(own=True)
    async with _client(server.url, fake_time, governor=governor, max_retries=1) as client:
        cid, rid = await _conversation_and_response(client)
        server.inject(Fault.rate_limited("1"), times=4)
        with pytest.raises(mw.RateLimitError):
            await client.responses.get(cid, rid)
    assert _gets(server) == 2


class _LegacyGovernor:
    """A custom governor written before the rename: ``rate_limited``, no ``report_rate_limit``."""

    def __init__(self, own: bool) -> None:
        self.own = own
        self.reports = 0

    async def acquire(self, on_wait: Any = None) -> int:
        return 0

    def release(self, ticket: int, status: int | None) -> None:
        pass

    async def rate_limited(self, ticket: int, retry_after: float | None) -> bool:
        self.reports += 1
        return self.own

    def snapshot(self) -> GovernorSnapshot:
        return GovernorSnapshot(None, None, None, 0, 0, None, 0.0, self.reports, 0)


async def test_legacy_governor_with_rate_limited_still_works(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """A governor with the old method name is accepted with a DeprecationWarning and its
    ``rate_limited`` is called for each 429 (collateral ones retried for free, as before)."""
    governor = _LegacyGovernor(own=False)
    with pytest.warns(DeprecationWarning, match="report_rate_limit"):
        client = _client(server.url, fake_time, governor=governor, max_retries=1)
    async with client:
        cid, rid = await _conversation_and_response(client)
        server.inject(Fault.rate_limited("1"), times=2)
        await client.responses.get(cid, rid)
    assert governor.reports == 2
    assert _gets(server) == 3


async def test_an_object_without_the_governor_methods_is_refused() -> None:
    """Neither name of the 429 report: InvalidParameterError, no warning."""

    class Half:
        async def acquire(self, on_wait: Any = None) -> int:
            return 0

        def release(self, ticket: int, status: int | None) -> None:
            pass

        def snapshot(self) -> None:
            pass

    with pytest.raises(mw.InvalidParameterError, match="governor must be"):
        mw.AsyncMoveworks(assistant_name="a", token="t", governor=Half())  # type: ignore[arg-type]


async def test_rate_governor_old_method_name_warns_and_reports(fake_time: Any) -> None:
    """``RateGovernor.rate_limited`` is a deprecated alias: same effect, plus a warning."""
    old = mw.RateGovernor(clock=fake_time.clock, sleep=fake_time.sleep)
    new = mw.RateGovernor(clock=fake_time.clock, sleep=fake_time.sleep)
    results = []
    for governor in (old, new):
        ticket = await governor.acquire()
        governor.release(ticket, 429)
        if governor is old:
            with pytest.warns(DeprecationWarning, match="report_rate_limit"):
                results.append(await governor.rate_limited(ticket, 2.0))
        else:
            results.append(await governor.report_rate_limit(ticket, 2.0))
    assert results == [True, True]
    assert old.snapshot() == new.snapshot()
    assert old.snapshot().rate_limited == 1
    assert old.snapshot().paused_for == 2.0


async def test_no_free_retries_when_retries_are_disabled(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """max_retries=0 disables retries entirely, collateral or not."""
    governor = _CollateralGovernor(own=False)
    async with _client(server.url, fake_time, governor=governor, max_retries=0) as client:
        cid, rid = await _conversation_and_response(client)
        server.inject(Fault.rate_limited("1"), times=1)
        with pytest.raises(mw.RateLimitError):
            await client.responses.get(cid, rid)
    assert _gets(server) == 1


async def test_task_held_by_someone_elses_429_keeps_its_retries(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """B waits out A's 429 pause in the governor and succeeds with max_retries=0."""
    async with _client(server.url, fake_time) as client:
        cid, rid = await _conversation_and_response(client)
        server.inject(Fault.rate_limited("5"), times=1)
        with pytest.raises(mw.RateLimitError):
            await client.responses.get(cid, rid, max_retries=0)  # A: pauses everyone 5 s
        t0 = fake_time.now
        await client.responses.get(cid, rid, max_retries=0)  # B: held, then sent once
        assert fake_time.now - t0 >= 5.0
    assert _gets(server) == 2


async def test_governor_shared_by_two_clients_pauses_both(
    server: FakeMoveworks, fake_time: Any
) -> None:
    """A 429 seen by client A pauses client B's next send until the Retry-After moment."""
    governor = mw.RateGovernor(clock=fake_time.clock, sleep=fake_time.sleep)
    async with (
        _client(server.url, fake_time, governor=governor) as a,
        _client(server.url, fake_time, governor=governor) as b,
    ):
        cid, rid = await _conversation_and_response(a)
        ticket = await governor.acquire()
        governor.release(ticket, 429)
        await governor.report_rate_limit(ticket, 4.0)  # as if A had just been told to wait 4 s
        t0 = fake_time.now
        await b.responses.get(cid, rid, max_retries=0)
        assert fake_time.now - t0 >= 4.0
    assert governor.snapshot().rate_limited == 1


async def test_invalid_governor_is_rejected() -> None:
    """governor= must implement the Governor protocol."""
    with pytest.raises(mw.InvalidParameterError):
        mw.AsyncMoveworks(assistant_name="a", token="t", governor=object())  # type: ignore[arg-type]


async def test_token_refresh_never_waits_for_the_api_governor(fake_time: Any) -> None:
    """With one API slot, tasks holding it while a refresh runs do not deadlock the refresh."""
    async with FakeMoveworks(stream_delay=0) as srv:
        credentials = mw.ClientCredentials("test-client", "test-secret")
        governor = mw.RateGovernor(max_concurrency=1, clock=fake_time.clock, sleep=fake_time.sleep)
        async with _client(
            srv.url, fake_time, governor=governor, token=None, auth=credentials
        ) as client:
            cid, rid = await _conversation_and_response(client)
            srv.inject(Fault.expire_token())
            results = await asyncio.wait_for(
                asyncio.gather(*(client.responses.get(cid, rid) for _ in range(20))), 10
            )
    assert len(results) == 20
    assert srv.stats.token_requests == 2  # the first token and one refresh


async def test_a_task_that_waited_sends_the_current_token(fake_time: Any) -> None:
    """The token is read after the governor's turn: a rotation during the wait is picked up."""
    current = {"token": "old-token"}
    seen: list[str] = []

    async def bearer() -> str:
        seen.append(current["token"])
        return current["token"]

    async def sleep_and_rotate(seconds: float) -> None:
        current["token"] = "new-token"  # rotated while the task waits in the governor
        await fake_time.sleep(seconds)

    governor = mw.RateGovernor(clock=fake_time.clock, sleep=sleep_and_rotate)
    async with FakeMoveworks(stream_delay=0, token=None) as srv:
        client = _client(srv.url, fake_time, governor=governor, token=None, auth=bearer)
        async with client:
            cid, rid = await _conversation_and_response(client)
            ticket = await governor.acquire()
            governor.release(ticket, 429)
            await governor.report_rate_limit(ticket, 3.0)
            seen.clear()
            await client.responses.get(cid, rid)
    assert seen == ["new-token"]


async def test_default_governor_caps_concurrency_at_the_pool_size() -> None:
    """The default governor holds at most max_connections attempts (the session's limit)."""
    import aiohttp

    client = mw.AsyncMoveworks(assistant_name="a", token="t", max_connections=7)
    assert client.governor.snapshot().max_concurrency == 7
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=33)) as session:
        borrowed = mw.AsyncMoveworks(assistant_name="a", token="t", session=session)
        assert borrowed.governor.snapshot().max_concurrency == 33
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        unlimited = mw.AsyncMoveworks(assistant_name="a", token="t", session=session)
        assert unlimited.governor.snapshot().max_concurrency is None
    await client.aclose()


async def test_tls_certificate_failure_is_never_retried() -> None:
    """A failed certificate check cannot heal on retry (reliability row 53): not retried, for
    a read as for a create, whatever retries are left."""
    error = mw.APIConnectionError("TLS certificate verification failed", tls=True)
    for idempotent in (True, False):
        decision = RetryPolicy(max_retries=5).decide(error, attempt=0, idempotent=idempotent)
        assert decision.retry is False
        assert decision.outcome_unknown is False
    plain = mw.APIConnectionError("cannot connect")
    assert RetryPolicy().decide(plain, attempt=0, idempotent=True).retry is True
