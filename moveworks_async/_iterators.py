"""The async iterators the list methods and the Data API hand out: one task at a time.

An async generator used by a second task while the first awaits inside it (its next page)
raises a bare ``RuntimeError`` ("asynchronous generator is already running"), from
``anext()`` and from ``aclose()`` alike. :class:`OneTask` wraps the generator and says
:class:`~moveworks_async.ClientStateError` instead (a ``RuntimeError`` too), as a stream read
by two tasks does: every exception from a public call is a ``MoveworksError``.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Generic, ParamSpec, TypeVar

from ._errors import ClientStateError

__all__ = ["OneTask", "one_task"]

T = TypeVar("T")
P = ParamSpec("P")

BUSY = (
    "this iterator is in use by another task (it is waiting for its next page): iterate or "
    "close it from one task at a time"
)


class OneTask(Generic[T]):
    """An async iterator over ``gen`` that refuses a second task with ClientStateError.

    ``__anext__`` and ``aclose`` hand back the generator's own awaitables (no coroutine of
    their own per item), after checking that the generator is not running.
    """

    __slots__ = ("_gen",)

    def __init__(self, gen: AsyncGenerator[T, None]) -> None:
        self._gen = gen

    def __aiter__(self) -> OneTask[T]:
        return self

    def __anext__(self) -> Awaitable[T]:
        gen = self._gen
        if gen.ag_running:  # type: ignore[attr-defined]  # (an async generator object)
            raise ClientStateError(BUSY)
        return gen.__anext__()

    def aclose(self) -> Awaitable[None]:
        """Close the iterator (its page request, if one is pending, is cancelled)."""
        gen = self._gen
        if gen.ag_running:  # type: ignore[attr-defined]  # (an async generator object)
            raise ClientStateError(BUSY)
        return gen.aclose()


def one_task(function: Callable[P, AsyncGenerator[T, None]]) -> Callable[P, AsyncIterator[T]]:
    """An async generator function whose iterators are :class:`OneTask` iterators."""

    @functools.wraps(function)
    def iterate(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
        return OneTask(function(*args, **kwargs))

    return iterate
