"""The async iterators the list methods and the Data API hand out: one task at a time.

An async generator used by a second task while the first awaits inside it (its next page)
raises a bare ``RuntimeError`` ("asynchronous generator is already running"), from
``anext()`` and from ``aclose()`` alike. :class:`OneTask` wraps the generator and says
:class:`~moveworks_async.ClientStateError` instead (a ``RuntimeError`` too), as a stream read
by two tasks does: every exception from a public call is a ``MoveworksError``. It is an async
generator to type checkers too (``aclose()``, ``contextlib.aclosing``).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Callable, Coroutine
from types import TracebackType
from typing import Any, Generic, ParamSpec, TypeVar, overload

from ._errors import ClientStateError

__all__ = ["OneTask", "one_task"]

T = TypeVar("T")
P = ParamSpec("P")

FAILED = (
    "this iterator ended with an error (or a cancellation) before its last page: what it "
    "gave is not the whole listing; list again"
)
BUSY = (
    "this iterator is in use by another task (it is waiting for its next page): iterate or "
    "close it from one task at a time"
)


class OneTask(Generic[T]):
    """An async generator over ``gen`` that refuses a second task with ClientStateError.

    Each method hands back the generator's own awaitable (no coroutine of its own per item),
    after checking that the generator is not running.
    """

    __slots__ = ("_failed", "_gen")

    def __init__(self, gen: AsyncGenerator[T, None]) -> None:
        self._gen = gen
        self._failed = False

    def _idle(self) -> AsyncGenerator[T, None]:
        gen = self._gen
        if gen.ag_running:  # type: ignore[attr-defined]  # (an async generator object)
            raise ClientStateError(BUSY)
        if self._failed:
            raise ClientStateError(FAILED)
        return gen

    def __aiter__(self) -> OneTask[T]:
        return self

    async def __anext__(self) -> T:
        gen = self._idle()
        try:
            return await gen.__anext__()
        except StopAsyncIteration:
            raise
        except BaseException:
            # The generator is finished: iterating on would end the listing as if complete.
            self._failed = True
            raise

    def asend(self, value: None, /) -> Coroutine[Any, Any, T]:
        return self._idle().asend(value)

    @overload
    def athrow(
        self,
        typ: type[BaseException],
        val: BaseException | object = None,
        tb: TracebackType | None = None,
        /,
    ) -> Coroutine[Any, Any, T]: ...
    @overload
    def athrow(
        self, typ: BaseException, val: None = None, tb: TracebackType | None = None, /
    ) -> Coroutine[Any, Any, T]: ...
    def athrow(self, typ: Any, val: Any = None, tb: Any = None, /) -> Coroutine[Any, Any, T]:
        return self._idle().athrow(typ, val, tb)

    def aclose(self) -> Coroutine[Any, Any, None]:
        """Close the iterator (its page request, if one is pending, is cancelled); after an
        error too (``contextlib.aclosing`` then keeps that error)."""
        gen = self._gen
        if gen.ag_running:  # type: ignore[attr-defined]
            raise ClientStateError(BUSY)
        return gen.aclose()


def one_task(
    function: Callable[P, AsyncGenerator[T, None]],
) -> Callable[P, AsyncGenerator[T, None]]:
    """An async generator function whose generators are :class:`OneTask` generators."""

    @functools.wraps(function)
    def iterate(*args: P.args, **kwargs: P.kwargs) -> AsyncGenerator[T, None]:
        return OneTask(function(*args, **kwargs))

    return iterate
