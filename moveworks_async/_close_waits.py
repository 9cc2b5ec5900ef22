"""The waits that closing a client ends: backoff sleeps, governor waits, pauses between polls.

A call that sleeps out a 429 pause or a retry backoff holds no connection, so closing the
transport does not reach it. Each such wait runs in a cancel scope registered here, and
:meth:`CloseWaits.close` (``aclose()``) cancels them all: the waiting call then fails with
:class:`ClientStateError` at once instead of when its wait ends. The scopes are per client
(views share them), so closing one client never disturbs another client's calls waiting in a
governor they share. Nothing here runs on the hot path: a call that does not wait never
enters a scope.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from ._errors import CLOSED_DURING_CALL, ClientStateError

__all__ = ["CloseWaits"]

T = TypeVar("T")


class CloseWaits:
    """The waits in progress of one client's calls, ended together by :meth:`close`."""

    __slots__ = ("_scopes", "closed")

    def __init__(self) -> None:
        self._scopes: set[anyio.CancelScope] = set()
        self.closed = False

    async def run(self, wait: Callable[..., Awaitable[T]], *args: Any) -> T:
        """``await wait(*args)``, or :class:`ClientStateError` if the client is closed first
        or while it waits (nothing of the call is then sent)."""
        if self.closed:
            raise ClientStateError("this AsyncMoveworks client is closed")
        scope = anyio.CancelScope()
        self._scopes.add(scope)
        try:
            with scope:
                return await wait(*args)
        finally:
            self._scopes.discard(scope)
        # Only the scope's own cancellation (close()) is swallowed and gets here; any other
        # (a timeout, the caller's cancel) propagates through the scope.
        raise ClientStateError(CLOSED_DURING_CALL)

    def close(self) -> None:
        """End every wait in progress, and any started later."""
        self.closed = True
        for scope in list(self._scopes):
            scope.cancel()
