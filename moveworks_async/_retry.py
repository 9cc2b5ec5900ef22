"""Retry decisions as pure functions, and the per-client retry budget.

The policy never sleeps and never reads a clock: it looks at one failed attempt and says
whether to try again and after how long. The client performs the wait. A 429 is not waited on
by the task at all: the client reports it to the rate governor, which pauses every task that
shares it (a per-task sleep is how 1,000 tasks wake together and hit the server again), and
the retry simply queues in the governor again.

Rules (RFC 9110 §9.2.2, idempotent methods):

* idempotent calls (GET, PATCH of the same values) retry on connection errors, timeouts, 408,
  429 and 5xx;
* a create (POST) retries only when it certainly did not reach the server (a connect-phase
  failure) or was refused with 429; after any ambiguous failure (a reset or timeout after the
  request was sent, 408, 5xx) the error is raised with ``outcome_unknown=True`` so the caller
  can check instead of duplicating work;
* a ``Retry-After`` above ``max_retry_after`` is not waited for: the error (``RateLimitError``
  for a 429) is raised at once with ``.retry_after`` set;
* a 429 whose request was already in flight when another task's 429 paused the governor is
  "collateral": its retry does not use up ``max_retries`` (at most ``rate_limit_grace`` such
  free retries per call, and none when ``max_retries`` is 0);
* retries of failures other than 429 draw from a token-bucket budget shared by the client, so
  an outage does not multiply load (AWS "retry quota"); 429 retries are paced by the governor.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from attrs import define, field, frozen

from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
)
from ._validate import check_int, check_number

__all__ = ["Decision", "RetryBudget", "RetryPolicy"]

_RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@frozen
class Decision:
    """What to do after a failed attempt.

    ``delay`` is the task's own wait before the next attempt (0 for a 429: the governor
    paces those). ``outcome_unknown`` marks a create that may have been applied; ``reason``
    is a short human-readable explanation for logs and hooks.
    """

    retry: bool
    delay: float = 0.0
    outcome_unknown: bool = False
    reason: str = ""


@frozen
class RetryPolicy:
    """Retry settings of a client; every figure configurable, ``max_retries=0`` disables retries.

    Args:
        max_retries: retries after the first attempt (3 attempts by default).
        backoff_base, backoff_cap: "full jitter" backoff of connection errors, timeouts and
            5xx: ``uniform(0, min(cap, base * 2**retry))`` seconds.
        max_retry_after: the longest server-requested wait honoured; above it the error is
            raised at once (with ``.retry_after``).
        rate_limit_grace: free retries per call for collateral 429s (see the module notes).
    """

    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    max_retry_after: float = 60.0
    rate_limit_grace: int = 3

    def __attrs_post_init__(self) -> None:
        for name in ("max_retries", "rate_limit_grace"):
            check_int(getattr(self, name), name)
        check_number(self.backoff_base, "backoff_base")
        check_number(self.backoff_cap, "backoff_cap")
        check_number(self.max_retry_after, "max_retry_after")

    def backoff(self, retry: int, rng: Callable[[], float] = random.random) -> float:
        """Full-jitter delay before retry ``retry + 1``, in ``[0, min(cap, base * 2**retry)]``."""
        # min(retry, 30): 2**1000 as a float would overflow; the cap is reached long before.
        return rng() * min(self.backoff_cap, self.backoff_base * 2.0 ** min(retry, 30))

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
        """Decide about a failed attempt after ``attempt`` retries were already used.

        ``retry_after`` is the server's requested wait in seconds (already parsed), if any.
        """
        limit = self.max_retries if max_retries is None else max_retries
        if isinstance(error, APIConnectionError):
            if error.tls:
                return Decision(False, reason="TLS certificate verification failed")
            if error.outcome_unknown and not idempotent:
                return Decision(False, outcome_unknown=True, reason="ambiguous failure of a create")
            if attempt >= limit:
                return Decision(False, reason="retries exhausted")
            kind = "timeout" if isinstance(error, APITimeoutError) else "connection error"
            return Decision(True, delay=self.backoff(attempt, rng), reason=kind)
        if not isinstance(error, APIStatusError):
            return Decision(False, reason="not retryable")
        status = error.status_code
        if status not in _RETRYABLE_STATUS:
            if status >= 500 and not idempotent:
                # 501, 505, 599, 999...: a server-side failure after the create arrived.
                return Decision(False, outcome_unknown=True, reason="ambiguous failure of a create")
            return Decision(False, reason="not retryable")
        if status == 429:
            # Refused before processing, so safe for a create too. The governor holds the wait.
            if retry_after is not None and retry_after > self.max_retry_after:
                return Decision(False, reason="Retry-After above max_retry_after")
            if attempt >= limit:
                return Decision(False, reason="retries exhausted")
            return Decision(True, reason="rate limited")
        if not idempotent:
            return Decision(False, outcome_unknown=True, reason="ambiguous failure of a create")
        if retry_after is not None and retry_after > self.max_retry_after:
            return Decision(False, reason="Retry-After above max_retry_after")
        if attempt >= limit:
            return Decision(False, reason="retries exhausted")
        delay = self.backoff(attempt, rng)
        if retry_after is not None and retry_after > 0:
            # Never earlier than the server asked; the positive jitter keeps tasks told the
            # same Retry-After from coming back in the same instant.
            delay = max(delay, retry_after * (1.0 + 0.1 * rng()))
        return Decision(True, delay=delay, reason=f"status {status}")


@define
class RetryBudget:
    """A token bucket of retries shared by every task of a client.

    Each retry of a non-429 failure costs ``retry_cost`` (``timeout_cost`` after a timeout);
    each success refunds ``refund`` up to ``capacity``. When the bucket cannot pay, the error
    surfaces at once. Defaults follow AWS's standard retry mode: during an outage a client
    adds at most ~100 retries per 500 failures instead of multiplying the load.
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
