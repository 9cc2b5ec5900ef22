"""What is built on a :class:`~moveworks_async.ResponseStream`'s events, apart from the stream's
rules (``_stream_machine``) and its I/O (``_streaming``): ``text_deltas`` for relays and the
shared buffer behind ``tee`` (:class:`StreamConsumer`)."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Final, Protocol, Self

import anyio

from ._errors import ClientStateError, SlowConsumerError
from ._events import TERMINAL_EVENTS, ResponseOutputDelta, StreamEvent
from ._models import MessageOutput, OutputItem, Response

__all__ = ["DEFAULT_TEE_BUFFER", "StreamConsumer", "TeeSource", "text_deltas"]

logger = logging.getLogger("moveworks_async")

DEFAULT_TEE_BUFFER: Final = 1024


async def text_deltas(events: AsyncIterable[StreamEvent]) -> AsyncIterator[str]:
    """The newly added text of the assistant's message(s) in ``events``; the policy is
    :meth:`ResponseStream.text_deltas`'s."""
    delivered: dict[str, str] = {}
    any_text = False
    async for event in events:
        cls = type(event)
        items: tuple[OutputItem, ...]
        if cls is ResponseOutputDelta:
            items = (event.output,)  # type: ignore[union-attr]
        elif cls in TERMINAL_EVENTS:
            items = event.response.outputs  # type: ignore[union-attr]
        else:
            continue
        for item in items:
            if type(item) is not MessageOutput:
                continue
            message = item.message
            text = message.content.text
            before = delivered.get(message.message_id)
            if before is None:
                if not text:
                    continue
                piece = "\n\n" + text if any_text else text
            elif text == before:
                continue
            elif text.startswith(before):
                piece = text[len(before) :]
            else:
                piece = text
            delivered[message.message_id] = text
            any_text = True
            yield piece


class TeeSource(Protocol):
    """What the tee buffer needs of the stream it splits (``ResponseStream``)."""

    @property
    def final(self) -> Response | None: ...

    def _is_open(self) -> bool: ...

    async def _pull(self) -> StreamEvent: ...

    async def _drain(self, sink: Callable[[StreamEvent], None] | None) -> Response: ...


# --- tee -------------------------------------------------------------------------------------


class _Raise:
    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


_END: Final = object()


class StreamConsumer:
    """One reader of a tee'd :class:`ResponseStream`; an async iterator of its events."""

    __slots__ = ("_closed", "_hub", "_lagged", "position")

    def __init__(self, hub: _Hub) -> None:
        self._hub = hub
        self.position = 0  # index of the next event this consumer will read
        self._lagged = False
        self._closed = False

    @property
    def disconnected(self) -> bool:
        """True once the consumer fell too far behind (see :class:`SlowConsumerError`)."""
        return self._lagged

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> StreamEvent:
        return await self._hub.next_for(self)

    def close(self) -> None:
        """Stop reading: the buffer no longer keeps events for this consumer."""
        self._closed = True
        self._hub.detach(self)


class _Hub:
    """The shared buffer behind :meth:`ResponseStream.tee`."""

    __slots__ = ("_base", "_items", "_lock", "_max", "_stream", "consumers")

    def __init__(self, stream: TeeSource, max_buffer: int) -> None:
        self._stream = stream
        self._max = max_buffer
        self._items: deque[object] = deque()
        self._base = 0  # position of _items[0]
        self._lock = anyio.Lock()
        self.consumers: list[StreamConsumer] = []

    def detach(self, consumer: StreamConsumer) -> None:
        if consumer in self.consumers:
            self.consumers.remove(consumer)
            self._trim()

    def _trim(self) -> None:
        consumers = self.consumers
        low = min(c.position for c in consumers) if consumers else self._base + len(self._items)
        items = self._items
        while self._base < low and items and items[0] is not _END and type(items[0]) is not _Raise:
            items.popleft()
            self._base += 1

    def _push(self, item: object) -> None:
        self._items.append(item)
        if len(self._items) > self._max:
            newest = self._base + len(self._items) - 1
            for consumer in list(self.consumers):
                if newest - consumer.position >= self._max:
                    consumer._lagged = True
                    self.consumers.remove(consumer)
                    logger.warning("a tee consumer fell %d events behind; disconnected", self._max)
            self._trim()

    async def _pull(self) -> None:
        stream = self._stream
        try:
            event = await stream._pull()
        except StopAsyncIteration:
            self._items.append(_END)
        except Exception as exc:
            self._items.append(_Raise(exc))
        else:
            self._push(event)

    async def next_for(self, consumer: StreamConsumer) -> StreamEvent:
        while True:
            if consumer._lagged:
                raise SlowConsumerError(
                    f"this consumer fell more than {self._max} events behind and was disconnected"
                )
            if consumer._closed:
                raise StopAsyncIteration
            offset = consumer.position - self._base
            if offset < len(self._items):
                item = self._items[offset]
                if item is _END:
                    raise StopAsyncIteration
                if type(item) is _Raise:
                    raise item.error
                consumer.position += 1
                if offset == 0:
                    self._trim()
                return item  # type: ignore[return-value]
            async with self._lock:
                if consumer.position - self._base < len(self._items) or consumer._lagged:
                    continue  # another consumer read it meanwhile
                if not self._stream._is_open():
                    raise ClientStateError("this ResponseStream is closed")
                await self._pull()

    async def final_response(self) -> Response:
        stream = self._stream
        async with self._lock:
            if stream.final is not None:
                return stream.final
            if not stream._is_open():
                raise ClientStateError("this ResponseStream was closed before its end")
            items = self._items
            if items and (items[-1] is _END or type(items[-1]) is _Raise):
                return await stream._drain(None)
            try:
                return await stream._drain(self._push)
            except Exception as exc:
                if not items or type(items[-1]) is not _Raise:
                    items.append(_Raise(exc))
                raise
