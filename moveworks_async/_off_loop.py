"""Work on a big reply body, done in a worker thread so the event loop keeps running.

Decoding a JSON body is CPU work the event loop cannot interleave with anything: a 30 MiB
body held the loop for about a second on the development machine. Bodies longer than
:data:`OFF_LOOP_BODY` are therefore decoded (and converted into models) in a worker thread,
and the decoder of such documents returns to the interpreter between the members of the top
levels (``_json._decode_stepwise``), so the GIL passes to the loop's thread while it runs.
Smaller bodies, nearly all, are decoded inline: a thread hop costs ~0.1 ms.

The work is the same function either way, so the result and the typed errors are the same.
Cancelling the awaiting task (``task.cancel()``, ``asyncio.timeout``, an anyio cancel scope)
returns at once: the task does not wait for the thread, which finishes the decoding it
started and then drops the body and the result, which nothing else holds. The connection was
released when the body had been read, before any decoding.

What no thread can remove: CPython's cyclic garbage collector runs its passes in whichever
thread allocates, holding the GIL; decoding a document of millions of values triggers passes
over the growing heap (tens to a few hundred milliseconds for a 30 MiB document).
"""

from __future__ import annotations

import asyncio
import functools
import math
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio
import anyio.to_thread

from ._errors import TotalTimeout
from ._json import STEPWISE_SIZE

__all__ = ["OFF_LOOP_BODY", "decode", "decode_in_time"]

P = ParamSpec("P")
T = TypeVar("T")

#: Bodies longer than this (bytes) are decoded and converted in a worker thread. A quarter of
#: the size above which the JSON decoder works stepwise (``STEPWISE_SIZE``): a reply of 1 MiB
#: made of tens of thousands of small objects held the loop 30-50 ms inline (decoding, then
#: converting every object, then the garbage collector's passes over them); in the thread
#: the conversion hands the GIL back every switch interval (5 ms), and what stays inline is
#: at most a quarter of that. A thread hop costs ~0.1 ms, against ~2 ms of work at this size.
OFF_LOOP_BODY = STEPWISE_SIZE // 4


async def decode(size: int, work: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``work(*args, **kwargs)``: inline for a body of at most :data:`OFF_LOOP_BODY` bytes
    (``size``), else in a worker thread (its exception, if any, is raised here as it is)."""
    if size <= OFF_LOOP_BODY:
        return work(*args, **kwargs)
    call = functools.partial(work, *args, **kwargs)
    return await anyio.to_thread.run_sync(call, abandon_on_cancel=True)


async def decode_in_time(
    total: float | None,
    started: float,
    idempotent: bool,
    size: int,
    work: Callable[P, T],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """:func:`decode` within what is left of a call's ``Timeout.total`` (``total`` seconds from
    ``started`` on the running loop's clock; None: no bound).

    A body decoded inline takes a few milliseconds at most and is not interrupted. One decoded
    in a worker thread that outlasts the call's time ends it with :class:`TotalTimeout`. The
    reply arrived, so the server took the request: ``outcome_unknown`` is set for a request
    that is not ``idempotent`` (a create: its reply, the new response's id, is lost; check
    before sending it again), as for any 2xx whose body could not be read."""
    if size <= OFF_LOOP_BODY:
        return work(*args, **kwargs)
    left = math.inf if total is None else started + total - asyncio.get_running_loop().time()
    with anyio.move_on_after(left):
        return await decode(size, work, *args, **kwargs)
    raise TotalTimeout(
        f"the call did not complete within its timeout ({total:g} s): its reply of "
        f"{size} bytes was still being decoded",
        outcome_unknown=not idempotent,
    )
