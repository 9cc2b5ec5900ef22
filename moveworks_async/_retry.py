"""Retry decisions as pure functions, and the per-client retry budget.

The policy never sleeps and never reads a clock: it looks at one failed attempt and says
whether to try again and after how long. The client performs the wait; a 429 wait is not slept
by the task at all but handed to the rate governor, which pauses every task of the client at
once (a per-task sleep is how 1,000 tasks wake together and hit the server again).

Rules (RFC 9110 §9.2.2; reliability.md §5.2):

* idempotent calls (GET, PATCH of the same values) retry on connection errors, timeouts, 408,
  429 and 5xx;
* a create (POST) retries only when it certainly did not reach the server (a connect-phase
  failure) or was refused with 429; after any ambiguous failure the error is raised with
  ``outcome_unknown=True`` so the caller can check instead of duplicating work;
* a ``Retry-After`` above ``max_retry_after`` is not waited for: ``RateLimitError`` at once;
* retries of failures other than 429 draw from a token-bucket budget shared by the client, so
  an outage does not multiply load (AWS "retry quota"); 429 retries are paced by the governor.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from attrs import define, field, frozen

from ._errors import APIConnectionError, APIError, APIStatusError, APITimeoutError

__all__ = ["Decision", "RetryBudget", "RetryPolicy"]

_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@frozen
class Decision:
    """What to do after a failed attempt.

    ``delay`` is the task's own backoff before the next attempt; ``pause`` is a wait for the
    rate governor to impose on every task (set for 429). ``outcome_unknown`` marks a create
    that may have been applied.
    """

    retry: bool
    delay: float = 0.0
    pause: float | None = None
    outcome_unknown: bool = False
    reason: str = ""


@frozen
class RetryPolicy:
    """Retry settings of a client; every figure configurable, ``max_retries=0`` disables retries.

    Backoff is "full jitter": ``uniform(0, min(cap, base * 2**attempt))``.
    """

    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    rate_limit_base: float = 1.0
    rate_limit_cap: float = 60.0
    max_retry_after: float = 60.0

    def backoff(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Full-jitter delay before retry number ``attempt + 1``."""
        return rng() * min(self.backoff_cap, self.backoff_base * 2.0 ** min(attempt, 30))

    def rate_limit_pause(self, attempt: int, retry_after: float | None) -> float:
        """How long the governor pauses after a 429: the server's word, else 1 s doubling."""
        if retry_after is not None:
            return retry_after
        return min(self.rate_limit_cap, self.rate_limit_base * 2.0 ** min(attempt, 30))

    def decide(
        self,
        error: APIError,
        *,
        attempt: int,
        idempotent: bool,
        max_retries: int | None = None,
        retry_after: float | None = None,
        rng: Callable[[], float] = random.random,
    ) -> Decision:
        """Decide about the failed attempt number ``attempt`` (0 for the first)."""
        limit = self.max_retries if max_retries is None else max_retries
        if isinstance(error, APIConnectionError):
            unknown = error.outcome_unknown and not idempotent
            if unknown:
                return Decision(False, outcome_unknown=True, reason="ambiguous failure of a create")
            if attempt >= limit:
                return Decision(False, reason="retries exhausted")
            kind = "timeout" if isinstance(error, APITimeoutError) else "connection"
            return Decision(True, delay=self.backoff(attempt, rng), reason=kind)
        if not isinstance(error, APIStatusError):
            return Decision(False, reason="not retryable")
        status = error.status_code
        if status == 429:
            if retry_after is not None and retry_after > self.max_retry_after:
                return Decision(False, reason="Retry-After above max_retry_after")
            pause = self.rate_limit_pause(attempt, retry_after)
            if attempt >= limit:
                return Decision(False, pause=pause, reason="retries exhausted")
            return Decision(True, pause=pause, reason="rate limited")
        if status not in _RETRYABLE_STATUS:
            return Decision(False, reason="not retryable")
        if not idempotent:
            return Decision(False, outcome_unknown=True, reason="ambiguous failure of a create")
        if attempt >= limit:
            return Decision(False, reason="retries exhausted")
        return Decision(True, delay=self.backoff(attempt, rng), reason=f"status {status}")


@define
class RetryBudget:
    """A token bucket of retries shared by every task of a client.

    Each retry of a non-429 failure costs ``retry_cost`` (``timeout_cost`` after a timeout);
    each success refunds ``refund`` up to ``capacity``. When the bucket cannot pay, the error
    surfaces at once. Defaults follow AWS's standard retry mode.
    """

    capacity: int = 500
    retry_cost: int = 5
    timeout_cost: int = 10
    refund: int = 1
    _tokens: int = field(init=False)

    def __attrs_post_init__(self) -> None:
        self._tokens = self.capacity

    @property
    def tokens(self) -> int:
        """Tokens left."""
        return self._tokens

    def try_spend(self, error: APIError) -> bool:
        """Pay for one retry of ``error``; False if the budget is exhausted."""
        cost = self.timeout_cost if isinstance(error, APITimeoutError) else self.retry_cost
        if cost > self._tokens:
            return False
        self._tokens -= cost
        return True

    def on_success(self) -> None:
        """Refund after a successful attempt."""
        if self._tokens < self.capacity:
            self._tokens = min(self.capacity, self._tokens + self.refund)
