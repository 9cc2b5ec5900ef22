"""``with_raw_response``: any non-streaming method, returning the HTTP reply with the value.

One generic mechanism instead of a raw copy of each method: a context variable asks
``AsyncMoveworks._request`` (the one place every non-streaming call passes) to record each
successful reply, and the wrapper returns the last one recorded together with the method's
usual result. The method itself runs unchanged, with all its validation, retries and parsing.
A paginated method is awaited up to its first item, so the reply is that of the first page;
each ``parse()`` of it is a new iterator over every item (see :class:`RawResponse`).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextvars import ContextVar
from typing import Any, Generic, ParamSpec, TypeVar

from multidict import CIMultiDict, CIMultiDictProxy

from ._iterators import one_task
from ._protocol import printable, request_id_from
from ._transport import Reply

__all__ = ["RawResponse", "raw", "raw_pages", "recording"]

P = ParamSpec("P")
T = TypeVar("T")

#: The replies recorded by the innermost ``with_raw_response`` call of this task, or None.
_REPLIES: ContextVar[list[Reply] | None] = ContextVar("moveworks_async_replies", default=None)


def recording(
    call: Coroutine[Any, Any, Reply], mask: Callable[[str], str]
) -> Coroutine[Any, Any, Reply]:
    """``call``, recording its reply when a ``with_raw_response`` call is running.

    Otherwise ``call`` itself (the hot path pays one context variable lookup). The recorded
    reply's header values pass through ``mask`` (the client's credentials masked: a server
    may echo the bearer in a header, and a raw response shows its headers and request id).
    """
    replies = _REPLIES.get()
    return call if replies is None else _record(call, replies, mask)


async def _record(
    call: Coroutine[Any, Any, Reply], replies: list[Reply], mask: Callable[[str], str]
) -> Reply:
    reply = await call
    # Printable text, as request ids: aiohttp keeps an undecodable byte as a lone surrogate,
    # which print() and UTF-8 logging refuse.
    headers = CIMultiDictProxy(
        CIMultiDict((k, mask(printable(v))) for k, v in reply.headers.items())
    )
    replies.append(Reply(reply.status, headers, reply.body))
    return reply


class RawResponse(Generic[T]):
    """The HTTP reply of a successful call, with the call's usual result.

    Attributes:
        status_code: the HTTP status (of the last request the call made: a ``wait`` polls
            several times, a list reads its first page).
        headers: the reply headers (case-insensitive).
        request_id: the server trace id (``x-moveworks-root-uuid`` or ``x-trace-id``), as on
            errors and on ``ResponseStream.request_id``.
    """

    __slots__ = ("_value", "headers", "request_id", "status_code")

    def __init__(self, reply: Reply, value: T) -> None:
        self.status_code: int = reply.status
        self.headers: Mapping[str, str] = reply.headers
        self.request_id: str | None = request_id_from(reply.headers)
        self._value = value

    def parse(self) -> T:
        """The result the method returns without ``with_raw_response``: a model, or for a
        list method an async iterator over every item, the first page included.

        Repeatable: a model is the same object every time; for a list, every call returns a
        new iterator over every item, the first one reusing the page already read and each
        later one reading the list again from the start (an iterator can be read only once).
        """
        return self._value

    def __repr__(self) -> str:
        return f"RawResponse(status_code={self.status_code}, request_id={self.request_id!r})"


def raw(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[RawResponse[T]]]:
    """``method`` returning a :class:`RawResponse` of its last HTTP reply."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> RawResponse[T]:
        replies: list[Reply] = []
        token = _REPLIES.set(replies)
        try:
            value = await method(*args, **kwargs)
        finally:
            _REPLIES.reset(token)
        return RawResponse(replies[-1], value)

    return call


def raw_pages(
    method: Callable[P, AsyncIterator[T]],
) -> Callable[P, Awaitable[RawResponse[AsyncIterator[T]]]]:
    """A list ``method`` awaited up to its first item; ``parse()`` iterates every item."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> RawResponse[AsyncIterator[T]]:
        items = method(*args, **kwargs)  # validates its arguments now, as the method does
        replies: list[Reply] = []
        token = _REPLIES.set(replies)
        try:
            first: list[T] = [await anext(items)]
        except StopAsyncIteration:
            first = []
        finally:
            _REPLIES.reset(token)
        again = functools.partial(method, *args, **kwargs)
        return _PagesResponse(replies[-1], _chain(first, items), again)

    return call


class _PagesResponse(RawResponse[AsyncIterator[T]]):
    """The raw reply of a list's first page; ``parse()`` once iterates from that page,
    again lists anew."""

    __slots__ = ("_again", "_parsed")

    def __init__(
        self, reply: Reply, value: AsyncIterator[T], again: Callable[[], AsyncIterator[T]]
    ) -> None:
        super().__init__(reply, value)
        self._again = again
        self._parsed = False

    def parse(self) -> AsyncIterator[T]:
        if self._parsed:
            return self._again()
        self._parsed = True
        return self._value


@one_task
async def _chain(first: list[T], rest: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    for item in first:
        yield item
    async for item in rest:
        yield item
