"""Server-side observability: counters, request records, connection tracking, token bucket."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import attrs

__all__ = ["FeedbackRecord", "ModalSubmission", "RequestRecord", "Stats", "TokenBucket"]


@attrs.frozen
class RequestRecord:
    """One request as the server saw it (``Authorization`` value redacted)."""

    method: str
    path: str
    generation: str | None  # "v1beta1", "assistant/v1", "rest/v1", or None (oauth, unknown)
    headers: Mapping[str, str]
    query: Mapping[str, str]
    json: Any  # parsed JSON body; None when absent; the raw text when it is not JSON
    time: float  # from the server's clock


@attrs.frozen
class FeedbackRecord:
    """One accepted feedback submission."""

    conversation_id: str
    response_id: str
    message_id: str
    rating: str  # "helpful" or "unhelpful"
    additional_feedback: str | None


@attrs.frozen
class ModalSubmission:
    """One accepted modal submission."""

    modal_id: str
    message_id: str
    values: Mapping[str, Any]


@attrs.define
class Stats:
    """Counters the server keeps for tests and benchmarks.

    ``requests_total`` counts every HTTP request (oauth and unknown paths included);
    :meth:`requests_per_second` buckets API requests only (the population the token bucket
    limits). ``creates`` counts responses actually created (plain and stream creates).
    ``open_connections`` follows TCP connections as the server's protocol sees them open and
    close, ``connections_accepted`` counts every one accepted (a client that reuses pooled
    connections keeps it low); both are only tracked when the server was started with
    :meth:`FakeMoveworks.start`. ``compressed_replies`` counts replies (plain and stream)
    sent with a ``Content-Encoding`` by ``Fault.compress``.
    """

    clock: Callable[[], float] = attrs.field(repr=False)
    requests_total: int = 0
    creates: int = 0
    creates_per_conversation: Counter[str] = attrs.Factory(Counter)
    token_requests: int = 0
    rate_limited: int = 0
    open_connections: int = 0
    max_open_connections: int = 0
    connections_accepted: int = 0
    stream_opened: int = 0
    stream_closed: int = 0
    compressed_replies: int = 0
    _per_second: Counter[int] = attrs.field(factory=Counter, repr=False)

    def note_api_request(self) -> None:
        """Count one API request in the per-second histogram."""
        self._per_second[math.floor(self.clock())] += 1

    def requests_per_second(self) -> dict[int, int]:
        """Return ``{floor(clock second): API requests in that second}``, oldest first."""
        return dict(sorted(self._per_second.items()))

    def connection_opened(self) -> None:
        """Count a TCP connection the server accepted."""
        self.open_connections += 1
        self.connections_accepted += 1
        self.max_open_connections = max(self.max_open_connections, self.open_connections)

    def connection_closed(self) -> None:
        """Count a TCP connection that went away."""
        self.open_connections -= 1

    def reset(self) -> None:
        """Zero every counter except the live ``open_connections``."""
        self.requests_total = self.creates = self.token_requests = self.rate_limited = 0
        self.stream_opened = self.stream_closed = self.compressed_replies = 0
        self.max_open_connections = self.open_connections
        self.connections_accepted = 0
        self.creates_per_conversation.clear()
        self._per_second.clear()

    def as_dict(self) -> dict[str, Any]:
        """Return the counters as plain JSON-able data."""
        per_second = self.requests_per_second()
        return {
            "requests_total": self.requests_total,
            "creates": self.creates,
            "creates_per_conversation": dict(self.creates_per_conversation),
            "token_requests": self.token_requests,
            "rate_limited": self.rate_limited,
            "open_connections": self.open_connections,
            "max_open_connections": self.max_open_connections,
            "connections_accepted": self.connections_accepted,
            "stream_opened": self.stream_opened,
            "stream_closed": self.stream_closed,
            "compressed_replies": self.compressed_replies,
            "requests_per_second": {str(k): v for k, v in per_second.items()},
            "max_requests_per_second": max(per_second.values(), default=0),
        }


class TokenBucket:
    """A classic token bucket: ``rate`` tokens per second, at most ``burst`` stored."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate_limit needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = burst
        self._last = clock()

    def take(self) -> float:
        """Take one token; return 0.0 on success, else the seconds until one is available."""
        now = self._clock()
        tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if tokens >= 1.0:
            self._tokens = tokens - 1.0
            return 0.0
        self._tokens = tokens
        return (1.0 - tokens) / self.rate
