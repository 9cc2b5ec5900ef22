"""Run a coroutine on uvloop when it is installed (the ``[fast]`` extra), else on asyncio.

Used by the command line and the examples; library code never picks an event loop for its
caller (``AsyncMoveworks`` runs on whatever loop it is used on).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")


def _standard_fds_open() -> bool:
    """Whether file descriptors 0, 1 and 2 are all open."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            return False
    return True


def run(main: Coroutine[Any, Any, T]) -> T:
    """``uvloop.run(main)`` if uvloop imports, otherwise ``asyncio.run(main)``.

    asyncio too when stdin, stdout or stderr is closed: a socket then gets descriptor 0-2, and
    libuv aborts the process (an assertion, exit 134) when it closes such a descriptor.
    """
    fast: Any = None
    with contextlib.suppress(ImportError):
        import uvloop as fast
    # Not in an except block: an error of ``main`` must not be chained to the ImportError
    # ("During handling of the above exception ... No module named 'uvloop'").
    if fast is None or not _standard_fds_open():
        return asyncio.run(main)
    result: T = fast.run(main)
    return result
