"""Run a coroutine on uvloop when it is installed (the ``[fast]`` extra), else on asyncio.

Used by the command line and the examples; library code never picks an event loop for its
caller (``AsyncMoveworks`` runs on whatever loop it is used on).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``uvloop.run(main)`` if uvloop imports, otherwise ``asyncio.run(main)``."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    result: T = uvloop.run(main)
    return result
