"""``RedisRateGovernor``: one token bucket and one 429 pause shared by processes and hosts.

When several processes (or machines) call the API with one credential, each process's own
governor allows the full rate and together they exceed it. This governor keeps the bucket and
the pause in one Redis hash, updated by one atomic Lua script per acquire (token bucket, on
Redis server time so hosts' clock skew does not matter) and one per 429 report. Inside a
process, tasks queue in a FIFO line and only the head talks to Redis, so N waiting tasks cost
one Redis call per token, not N polls.

Semantics, the same as a local ``RateGovernor(rate=..., burst=...)`` (the rate is configured,
so it is your knowledge of the limit and is never lowered):

* A 429 pauses every process until its Retry-After moment and empties the bucket; sending
  then resumes at the configured rate. A collateral 429's shorter Retry-After never shortens
  the shared pause (the script keeps the later end).
* The first wave of a storm is bounded by the shared bucket: at most ``burst`` requests at
  once across all processes, then ``rate`` per second. ``max_concurrency`` adds a per-process
  cap on attempts in flight; there is no slow-start window (a rate is always known).

Redis round trips: one per request. A token is taken in one script call; when the bucket is
empty the script *reserves* the next token if it is due within ``_RESERVE`` seconds (the
caller sleeps until then and sends without asking again), so pacing at any rate above
1 / ``_RESERVE`` per second costs one round trip per request, not two. The price of the
reservation is that a pause another process starts during that sleep is seen one request
late (the same as a request already in flight). A 429 report is one more round trip; release
costs none. Batching (taking k tokens per call and handing them out locally) would cut this
to 1/k, at the price of up to k - 1 requests per process sent blind to a shared pause, and of
tokens stranded in a process that does not use them (unfair between processes);
``redis_round_trips`` counts the calls so the figure can be checked.

Failure policy when Redis cannot be reached (connection refused, timeout, any Redis error):

* ``on_redis_error="open"`` (default): log one WARNING on logger ``moveworks_async`` and fall
  back to a local :class:`RateGovernor` with the same ``rate``/``burst`` (pass ``fallback=``
  to choose another, e.g. a per-process share of the limit). Redis is tried again after
  ``retry_redis_after`` seconds; recovery is logged at INFO, and a later outage warns again.
  Availability first: N processes may then send up to N times the shared limit.
* ``on_redis_error="closed"``: raise :class:`GovernorUnavailableError` from ``acquire`` (and
  from a 429 report); nothing is sent while the shared limit cannot be enforced.

redis-py (``redis.asyncio``) is imported lazily; install it with
``pip install 'moveworks-async[redis]'``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal
from urllib.parse import urlsplit

import anyio

from ._errors import GovernorUnavailableError, InvalidParameterError, RateLimitError
from ._governor import (
    GovernorSnapshot,
    RateGovernor,
    WaitCallback,
    _deprecated_name,
    rate_limit_pause,
)
from ._validate import check_positive, check_text

__all__ = ["RedisRateGovernor"]

logger = logging.getLogger("moveworks_async")

#: Seconds ahead the acquire script may reserve a token (see the module docstring).
_RESERVE = 0.1
_MIN_TTL = 1.0  # seconds: the shortest key_ttl (the bucket also outlives its refill time)
_MAX_KEY = 1024  # characters of a key (a Redis key is binary-safe, but keys are for people)

# KEYS[1]: the bucket hash. ARGV: rate (tokens/s), burst, key ttl (ms), reserve (s).
# Returns {kind, seconds, epoch}: kind 0 = token taken; 1 = paused for `seconds`;
# 2 = bucket empty, next token in `seconds`; 3 = the next token, due in `seconds` (<= reserve),
# is reserved for the caller (the bucket goes below zero until it refills). Numbers travel as
# strings: Lua numbers would be truncated to integers in the reply.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local h = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'pause', 'epoch')
local tokens = tonumber(h[1]) or burst
local ts = tonumber(h[2]) or now
local pause = tonumber(h[3]) or 0
local epoch = h[4] or '0'
if now < pause then
  return {1, tostring(pause - now), epoch}
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate)
end
if tokens >= 1 then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {0, '0', epoch}
end
local due = (1 - tokens) / rate
if due <= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - 1), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {3, tostring(due), epoch}
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {2, tostring((1 - tokens) / rate), epoch}
"""

# KEYS[1]: the bucket hash. ARGV: pause seconds, the reporter's epoch, key ttl (ms).
# Every 429 moves the pause end to at least now + pause and empties the bucket (the server
# just said it is empty); only the first one of an epoch advances the epoch.
# Returns {own (1/0), seconds of pause left}.
_REPORT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local h = redis.call('HMGET', KEYS[1], 'pause', 'epoch')
local pause = tonumber(h[1]) or 0
local epoch = tonumber(h[2]) or 0
local own = 0
if tonumber(ARGV[2]) == epoch then
  own = 1
  redis.call('HSET', KEYS[1], 'epoch', tostring(epoch + 1))
end
local untl = now + tonumber(ARGV[1])
if untl > pause then
  pause = untl
  redis.call('HSET', KEYS[1], 'pause', tostring(pause))
end
redis.call('HSET', KEYS[1], 'tokens', '0', 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {own, tostring(pause - now)}
"""


def _import_redis() -> Any:
    try:
        import redis.asyncio
    except ImportError:
        raise ImportError(
            "RedisRateGovernor needs redis-py: pip install 'moveworks-async[redis]'"
        ) from None
    return redis.asyncio


class RedisRateGovernor:
    """A rate governor whose token bucket and 429 pause live in Redis, shared by processes.

    Args:
        url: Redis URL (``redis://host:6379/0``); credentials in it are never logged.
        key: the Redis key of the shared bucket; every process sharing a limit uses the same.
        rate: requests per second allowed across all processes.
        burst: bucket size (default ``rate``, at least 1).
        max_concurrency: attempts in flight at once in this process (``None``: unlimited).
        on_redis_error: ``"open"`` or ``"closed"``; see the module docstring.
        fallback: the local governor used while Redis is unreachable (``"open"`` only).
        retry_redis_after: seconds before trying Redis again after a failure.
        redis_timeout: connect and command timeout of the Redis client, in seconds.
        client: a ``redis.asyncio.Redis`` to use instead of connecting to ``url`` (not closed
            by :meth:`aclose`).
        backoff_base, backoff_cap, jitter, max_wait, max_pause: as for :class:`RateGovernor`.
        key_ttl: seconds of inactivity after which Redis forgets the bucket.
        clock, sleep, rng: injectable monotonic clock, async sleep and jitter source.

    Raises:
        ImportError: redis-py is not installed.
    """

    def __init__(
        self,
        url: str,
        key: str,
        *,
        rate: float,
        burst: float | None = None,
        max_concurrency: int | None = None,
        on_redis_error: Literal["open", "closed"] = "open",
        fallback: RateGovernor | None = None,
        retry_redis_after: float = 5.0,
        redis_timeout: float = 0.5,
        client: Any = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        jitter: float = 0.1,
        max_wait: float = 60.0,
        max_pause: float = 3600.0,
        key_ttl: float = 3600.0,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[object]] | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._redis_module = _import_redis()
        if not isinstance(url, str) or not url:
            raise InvalidParameterError("url must be a Redis URL such as 'redis://localhost'")
        check_text(key, "key", max_length=_MAX_KEY)  # also refuses a lone surrogate
        if on_redis_error not in ("open", "closed"):
            raise InvalidParameterError('on_redis_error must be "open" or "closed"')
        if fallback is not None and not isinstance(fallback, RateGovernor):
            raise InvalidParameterError("fallback must be a RateGovernor or None")
        # Every figure is checked here, before any I/O: a zero or nan timeout, TTL or retry
        # delay would otherwise disable the limit (key_ttl=0 lets Redis forget the bucket at
        # once) or surface later as a bare ValueError/TimeoutError.
        check_positive(rate, "rate")
        check_positive(burst, "burst", optional=True, minimum=0.999)
        if max_concurrency is not None and (
            type(max_concurrency) is not int or max_concurrency < 1
        ):
            raise InvalidParameterError("max_concurrency must be an int >= 1")
        retry_s = check_positive(retry_redis_after, "retry_redis_after") or 0.0
        timeout_s = check_positive(redis_timeout, "redis_timeout") or 0.0
        ttl_s = check_positive(key_ttl, "key_ttl", minimum=_MIN_TTL - 1e-9) or 0.0
        # The local governors validate rate, burst, concurrency and the timing settings.
        common: dict[str, Any] = {
            "adaptive": False,
            "backoff_base": backoff_base,
            "backoff_cap": backoff_cap,
            "jitter": jitter,
            "max_wait": max_wait,
            "max_pause": max_pause,
            "clock": clock,
            "sleep": sleep,
            "rng": rng,
        }
        self._fallback = fallback or RateGovernor(rate, burst, max_concurrency, **common)
        self._slots = (
            RateGovernor(None, None, max_concurrency, **common) if max_concurrency else None
        )
        self._rate = float(rate)
        self._burst = float(burst) if burst is not None else max(1.0, float(rate))
        self._max_concurrency = max_concurrency
        self.url = url
        self.key = key
        parts = urlsplit(url)
        if parts.scheme == "unix":
            self._where = parts.path or url
        else:
            self._where = f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
        self._policy = on_redis_error
        # The bucket must outlive its own refill time, or Redis forgets it before it is full.
        self._ttl_ms = str(int(max(ttl_s, self._burst / self._rate) * 1000))
        self._retry_after = retry_s
        self._timeout = timeout_s
        self._backoff_base = float(backoff_base)
        self._backoff_cap = float(backoff_cap)
        self._jitter = float(jitter)
        self._max_wait = float(max_wait)
        self._max_pause = float(max_pause)
        self._clock = clock or time.monotonic
        self._sleep = sleep or anyio.sleep
        self._rng = rng
        self._client = client
        self._owns_client = client is None
        self._scripts: tuple[Any, Any] | None = None
        self._head: anyio.Lock | None = None
        self._down_until: float | None = None  # degraded (fallback) until this clock time
        self._in_flight = 0
        self._waiting = 0
        self._strikes = 0
        self._last_pause = self._backoff_base
        self._pause_until = 0.0  # local estimate, for snapshots only
        self._rate_limited = 0
        self._throttles = 0
        self._round_trips = 0

    @property
    def redis_round_trips(self) -> int:
        """Script calls made to Redis so far (acquires and 429 reports, failed ones too)."""
        return self._round_trips

    def __repr__(self) -> str:
        return (
            f"RedisRateGovernor(redis={self._where!r}, key={self.key!r}, rate={self._rate!r}, "
            f"burst={self._burst!r}, on_redis_error={self._policy!r}, degraded={self.degraded})"
        )

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and the local fallback governs (``"open"``)."""
        return self._down_until is not None

    # --- Redis plumbing ------------------------------------------------------------------------

    def _redis(self) -> tuple[Any, Any]:
        if self._scripts is None:
            if self._client is None:
                from redis.asyncio.retry import Retry
                from redis.backoff import NoBackoff

                self._client = self._redis_module.from_url(
                    self.url,
                    socket_timeout=self._timeout,
                    socket_connect_timeout=self._timeout,
                    # One immediate retry reconnects a pooled connection Redis closed; more
                    # would only delay the failure policy.
                    retry=Retry(NoBackoff(), 1),
                )
            client = self._client
            self._scripts = (client.register_script(_ACQUIRE), client.register_script(_REPORT))
        return self._scripts

    def _errors(self) -> tuple[type[BaseException], ...]:
        from redis.exceptions import RedisError

        return (RedisError, OSError, TimeoutError)

    def _redis_failed(self, exc: BaseException) -> None:
        """Apply the failure policy: raise (closed) or switch to the fallback (open)."""
        detail = f"{type(exc).__name__}: {exc}"
        if self._policy == "closed":
            raise GovernorUnavailableError(
                f"Redis at {self._where} is unreachable ({detail}); "
                "the shared rate limit cannot be enforced, nothing was sent"
            ) from None
        if self._down_until is None:
            logger.warning(
                "RedisRateGovernor: Redis at %s is unreachable (%s); falling back to a local "
                "governor for key %r, retrying Redis every %g s",
                self._where,
                detail,
                self.key,
                self._retry_after,
            )
        self._down_until = self._clock() + self._retry_after

    def _redis_recovered(self) -> None:
        if self._down_until is not None:
            self._down_until = None
            logger.info("RedisRateGovernor: Redis at %s is reachable again", self._where)

    # --- the Governor protocol -----------------------------------------------------------------

    async def acquire(self, on_wait: WaitCallback | None = None) -> int:
        """Take one token of the shared bucket (waiting for the shared pause first)."""
        self._waiting += 1
        try:
            ticket = await self._acquire_shared(on_wait)
            if ticket < 0:
                return ticket
            if self._slots is not None:
                await self._slots.acquire(on_wait)
        finally:
            self._waiting -= 1
        self._in_flight += 1
        return ticket

    def _down(self) -> bool:
        return self._down_until is not None and self._clock() < self._down_until

    async def _acquire_shared(self, on_wait: WaitCallback | None) -> int:
        if self._down():
            return -1 - await self._fallback.acquire(on_wait)
        if self._head is None:
            self._head = anyio.Lock()
        async with self._head:
            while True:
                # Checked again under the lock: when Redis just failed for the task ahead,
                # the queued tasks go to the fallback at once instead of each timing out.
                if self._down():
                    break
                try:
                    acquire_script, _ = self._redis()
                    self._round_trips += 1
                    kind, seconds, epoch = await acquire_script(
                        keys=[self.key], args=[self._rate, self._burst, self._ttl_ms, _RESERVE]
                    )
                except self._errors() as exc:
                    self._redis_failed(exc)
                    break
                self._redis_recovered()
                kind, wait = int(kind), float(seconds)
                if kind == 0:
                    return int(epoch)
                if kind == 3:
                    # The token is ours once this time has passed: no second round trip.
                    if on_wait is not None:
                        await on_wait(wait, "rate")
                    await self._sleep(wait)
                    if self._pause_until > self._clock():
                        continue  # this process saw a 429 meanwhile: ask again after it
                    return int(epoch)
                if kind == 1:
                    self._pause_until = self._clock() + wait
                    if wait > self._max_wait:
                        raise RateLimitError(
                            f"rate limited: the shared governor is paused for another "
                            f"{wait:.1f} s (above max_wait={self._max_wait:g} s)",
                            status_code=429,
                            retry_after=wait,
                        )
                    delay = wait + self._rng() * self._jitter * wait
                else:
                    delay = wait + self._rng() * self._jitter / self._rate
                if on_wait is not None:
                    await on_wait(delay, "paused" if kind == 1 else "rate")
                await self._sleep(delay)
        return -1 - await self._fallback.acquire(on_wait)

    def release(self, ticket: int, status: int | None) -> None:
        """The attempt of ``ticket`` finished with HTTP ``status`` (``None``: no status)."""
        if ticket < 0:
            self._fallback.release(-1 - ticket, status)
            return
        self._in_flight -= 1
        if self._slots is not None:
            self._slots.release(0, status)
        if status is not None and status != 429:
            self._strikes = 0

    async def rate_limited(self, ticket: int, retry_after: float | None) -> bool:
        """Deprecated name of :meth:`report_rate_limit`."""
        _deprecated_name(type(self))
        return await self.report_rate_limit(ticket, retry_after)

    async def report_rate_limit(self, ticket: int, retry_after: float | None) -> bool:
        """Report a 429 to every process: pause the shared bucket and empty it."""
        self._rate_limited += 1
        if ticket < 0:
            return await self._fallback.report_rate_limit(-1 - ticket, retry_after)
        pause = rate_limit_pause(
            retry_after, self._strikes, self._backoff_base, self._backoff_cap, self._max_pause
        )
        try:
            _, report_script = self._redis()
            self._round_trips += 1
            own, left = await report_script(keys=[self.key], args=[pause, ticket, self._ttl_ms])
        except self._errors() as exc:
            self._redis_failed(exc)
            return True
        self._redis_recovered()
        self._pause_until = max(self._pause_until, self._clock() + float(left))
        if int(own):
            self._strikes += 1
            self._throttles += 1
            return True
        return False

    def snapshot(self) -> GovernorSnapshot:
        """This process's view: the shared settings, local counts, last known pause."""
        if self.degraded:
            return self._fallback.snapshot()
        now = self._clock()
        paused = self._pause_until > now
        return GovernorSnapshot(
            rate=self._rate,
            burst=self._burst,
            max_concurrency=self._max_concurrency,
            in_flight=self._in_flight,
            waiting=self._waiting,
            pause_until=self._pause_until if paused else None,
            paused_for=self._pause_until - now if paused else 0.0,
            rate_limited=self._rate_limited,
            throttle_events=self._throttles,
        )

    async def aclose(self) -> None:
        """Close the Redis connection pool this governor created (a given client is kept)."""
        client, self._client, self._scripts = self._client, None, None
        if client is not None and self._owns_client:
            await client.aclose()
