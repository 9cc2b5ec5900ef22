"""The one seam between the client and what is built on it (resources, streams, notifications).

``AsyncMoveworks`` hands each resource a :class:`Seam` and nothing else (the Data API, which
runs on a client as its engine, gets one from ``_client.engine_seam``): resources and streams
build requests and read replies; sending, retrying, pacing, authenticating and hooks stay
behind the seam, in the client. Nothing outside ``_client.py`` touches the client's private
state, and this module imports no module above it, so the package's imports form a DAG
(``tests/test_architecture.py`` checks both).

::

    _client (AsyncMoveworks, _ClientSeam)  ──builds──▶  _resources, _notifications, _data_api
         ▲                                                   │
         └──────── Seam (this protocol) ◀────── uses ────────┘
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, Protocol, TypeVar

from ._deadline import DeadlineLane
from ._governor import Governor
from ._models import Response
from ._protocol import Generation, Request
from ._transport import Reply, StreamOpener, Timeout

__all__ = ["Attempt", "Seam", "loop_time"]

T = TypeVar("T")

#: One attempt of a call the client runs (a stream's opening): given the request headers,
#: either ``(None, value)`` on success or ``(failed_reply, None)``.
Attempt = Callable[[dict[str, str]], Awaitable[tuple[Reply | None, T | None]]]


class Seam(Protocol):
    """What resources, streams and notifications may ask of the client."""

    @property
    def generation(self) -> Generation:
        """The API generation (path prefix, request shapes)."""
        ...

    @property
    def base_url(self) -> str:
        """The API host, no trailing slash."""
        ...

    @property
    def timeout(self) -> Timeout:
        """The client's (or view's) default timeout."""
        ...

    @property
    def clock(self) -> Callable[[], float]:
        """The client's monotonic clock (injectable: tests run in virtual time)."""
        ...

    @property
    def sleep(self) -> Callable[[float], Awaitable[Any]]:
        """The client's async sleep (injectable)."""
        ...

    def pause(self, seconds: float) -> Awaitable[None]:
        """The client's ``sleep``, ended by ``aclose()`` with :class:`ClientStateError` (the
        pause between two polls of ``responses.wait``)."""
        ...

    @property
    def rng(self) -> Callable[[], float]:
        """The client's jitter source, uniform in [0, 1)."""
        ...

    @property
    def auth_repr(self) -> str:
        """The repr of the client's token source (it shows no secret)."""
        ...

    def request(
        self,
        request: Request,
        *,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        url: str | None = None,
    ) -> Coroutine[Any, Any, Reply]:
        """Send ``request`` through the attempt loop; its 2xx reply or the typed error.

        ``url``: an absolute URL to send it to instead of ``base_url`` + ``request.path``
        (the Data API's next links), given to the transport as it is."""
        ...

    async def request_model(
        self,
        request: Request,
        cls: type[T],
        *,
        key: str | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> T:
        """:meth:`request`, its JSON (or ``key`` member) converted into ``cls``."""
        ...

    def execute(
        self, request: Request, attempt: Attempt[T], *, max_retries: int | None = None
    ) -> Coroutine[Any, Any, T]:
        """Run ``attempt`` through the attempt loop (auth, governor, retry, hooks)."""
        ...

    def open_stream(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | None,
        connect_timeout: float | None,
    ) -> StreamOpener:
        """The transport's streaming request (not yet entered)."""
        ...

    async def poll(
        self,
        conversation_id: str,
        response_id: str,
        timeout: float,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Response:
        """``responses.wait``: poll the response until it is terminal (a stream's recovery)."""
        ...

    def mask(self, text: str) -> str:
        """``text`` from the server with the client's credentials masked."""
        ...

    def lane(self, length: float) -> DeadlineLane:
        """The client's deadline lane for blocks lasting ``length`` seconds on the running
        loop (``_deadline``: one loop timer per length, shared)."""
        ...

    def derive(self, governor: Governor | None) -> Seam:
        """A seam onto a view of the client without ``Assistant-Name`` (other APIs of the
        platform), paced by ``governor`` if given."""
        ...


def loop_time() -> float:
    """The client's default clock: the running loop's, which is what ``anyio.current_time()``
    returns on asyncio (the client's only backend: its whole-call deadlines are loop timers),
    without anyio's backend lookup (two per request on the hot path)."""
    return asyncio.get_running_loop().time()
