"""The retry policy's full decisions, branch by branch (found by ``nox -s mutants``).

``RetryPolicy.decide`` returns a `Decision` whose every field is used: ``retry`` and ``delay``
drive the attempt loop, ``outcome_unknown`` marks a create that may have been applied, and
``reason`` is what the INFO retry log, the final DEBUG log and the ``on_retry`` hook report.
So each branch is checked as a whole Decision, not only its ``retry`` flag.
"""

from __future__ import annotations

import pytest

import moveworks_async as mw
from moveworks_async._retry import Decision, RetryPolicy


def _half() -> float:
    return 0.5


def _status_error(status: int) -> mw.APIStatusError:
    cls = mw.InternalServerError if status >= 500 else mw.APIStatusError
    return cls("failed", status_code=status)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (mw.APIConnectionError("refused"), "connection error"),
        (mw.APITimeoutError("connect", phase="connect"), "timeout"),
    ],
)
def test_connection_failures_back_off_with_the_callers_rng(error: mw.APIError, reason: str) -> None:
    """A retried connection failure or timeout waits the injected jitter times the bound."""
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=8.0)
    for attempt, bound in [(0, 0.5), (1, 1.0), (2, 2.0)]:
        decision = policy.decide(error, attempt=attempt, idempotent=True, max_retries=5, rng=_half)
        assert decision == Decision(True, delay=0.5 * bound, reason=reason)


def test_exhausted_connection_retries_say_so() -> None:
    """At the retry limit a connection failure is final, with the reason logged."""
    decision = RetryPolicy(max_retries=1).decide(
        mw.APIConnectionError("refused"), attempt=1, idempotent=True
    )
    assert decision == Decision(False, reason="retries exhausted")


def test_errors_that_are_neither_status_nor_connection_are_final() -> None:
    """Any other API error (a bad body, a protocol error) is never retried."""
    for error in (
        mw.ResponseValidationError("bad body", path="$.id"),
        mw.StreamProtocolError("bad stream"),
    ):
        for idempotent in (True, False):
            decision = RetryPolicy().decide(error, attempt=0, idempotent=idempotent)
            assert decision == Decision(False, reason="not retryable")


def test_exhausted_429_retries_say_so() -> None:
    """A 429 at the retry limit is final, with the reason logged."""
    error = mw.RateLimitError("slow down", status_code=429)
    decision = RetryPolicy(max_retries=2).decide(error, attempt=2, idempotent=True)
    assert decision == Decision(False, reason="retries exhausted")


def test_429_retry_is_paced_by_the_governor_not_the_task() -> None:
    """A retried 429 has no task-level delay: the governor holds the wait."""
    error = mw.RateLimitError("slow down", status_code=429)
    decision = RetryPolicy().decide(error, attempt=0, idempotent=False, retry_after=5.0)
    assert decision == Decision(True, reason="rate limited")


def test_5xx_retry_after_at_the_cap_is_honoured_above_it_raised() -> None:
    """``max_retry_after`` is the longest wait honoured: equal waits, longer raises at once."""
    policy = RetryPolicy(max_retry_after=10.0)
    error = _status_error(503)
    at_cap = policy.decide(error, attempt=0, idempotent=True, retry_after=10.0, rng=_half)
    assert at_cap.retry
    assert at_cap.delay == pytest.approx(10.5)  # 10 s plus the 0-10 % positive jitter
    above = policy.decide(error, attempt=0, idempotent=True, retry_after=10.5, rng=_half)
    assert above == Decision(False, reason="Retry-After above max_retry_after")


def test_exhausted_5xx_retries_say_so() -> None:
    """A 5xx of a GET at the retry limit is final, with the reason logged."""
    decision = RetryPolicy(max_retries=0).decide(_status_error(502), attempt=0, idempotent=True)
    assert decision == Decision(False, reason="retries exhausted")


def test_5xx_retry_reason_names_the_status() -> None:
    """The log line and hook of a retried 5xx say which status caused it."""
    decision = RetryPolicy().decide(_status_error(504), attempt=0, idempotent=True, rng=_half)
    assert decision == Decision(True, delay=0.25, reason="status 504")


def test_sub_second_retry_after_is_still_a_floor() -> None:
    """A Retry-After of half a second is waited for even when the jitter draws zero."""
    decision = RetryPolicy().decide(
        _status_error(503), attempt=0, idempotent=True, retry_after=0.5, rng=lambda: 0.0
    )
    assert decision.retry
    assert decision.delay == 0.5


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_retries", -1),
        ("rate_limit_grace", True),
        ("backoff_base", -0.5),
        ("backoff_base", True),
        ("backoff_cap", -1),
        ("backoff_cap", "8"),
        ("max_retry_after", float("nan")),
    ],
)
def test_bad_policy_setting_is_named_in_the_error(name: str, value: object) -> None:
    """The error names the rejected setting (never its value), so the caller can fix it."""
    with pytest.raises(mw.InvalidParameterError, match=rf"^{name} must be an? "):
        RetryPolicy(**{name: value})  # type: ignore[arg-type]


def test_zero_backoff_is_allowed() -> None:
    """``backoff_base=0`` (retry at once) and ``max_retry_after=0`` are valid settings."""
    policy = RetryPolicy(backoff_base=0, max_retry_after=0)
    decision = policy.decide(mw.APIConnectionError("refused"), attempt=0, idempotent=True)
    assert decision == Decision(True, delay=0.0, reason="connection error")
