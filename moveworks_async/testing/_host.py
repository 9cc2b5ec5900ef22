"""What the fake server's API modules (handlers, streams, modals, Events API, Data API) read of
the server that mounts them: a protocol, so that they do not import ``_server`` (which imports
them) and the subpackage's imports stay a DAG."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ._answers import AnswerSource
from ._auth import Tokens
from ._injection import FaultRegistry
from ._stats import FeedbackRecord, ModalSubmission, Stats
from ._store import Store

__all__ = ["Host"]


class Host(Protocol):
    """The state a fake API module shares with :class:`~moveworks_async.testing.FakeMoveworks`."""

    answer: AnswerSource
    polls_to_complete: int
    stream_delay: float
    clock: Callable[[], float]
    store: Store
    stats: Stats
    faults: FaultRegistry
    tokens: Tokens
    feedback: list[FeedbackRecord]
    modal_submissions: list[ModalSubmission]
    resetting: set[int]
    events_api: Any  # the Events API module itself (its rate bucket)

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` unless the server is closing."""
        ...
