"""How the examples get a client: ``--simulate`` (an in-process fake server) or the environment.

Without ``--simulate``, ``mw.AsyncMoveworks()`` reads the same variables as the
``moveworks-async`` CLI: ``MOVEWORKS_ASSISTANT_NAME``, then either ``MOVEWORKS_TOKEN`` or
``MOVEWORKS_CLIENT_ID`` + ``MOVEWORKS_CLIENT_SECRET``, and optionally ``MOVEWORKS_BASE_URL`` and
``MOVEWORKS_API_VERSION`` (default ``v1``, the library's and the CLI's default too).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import moveworks_async as mw
from moveworks_async.testing import FakeMoveworks

T = TypeVar("T")


@asynccontextmanager
async def connect(simulate: bool, *, stream_delay: float = 0.0) -> AsyncIterator[mw.AsyncMoveworks]:
    """A client for the real API (from the environment) or for a fake server started here."""
    if simulate:
        async with (
            FakeMoveworks(stream_delay=stream_delay) as server,
            mw.AsyncMoveworks(
                assistant_name="acme-capi", token="test-token", base_url=server.url
            ) as client,
        ):
            yield client
        return
    try:
        client = mw.AsyncMoveworks()
    except mw.InvalidParameterError as exc:  # names the missing variable
        raise SystemExit(f"{exc}; or pass --simulate") from None
    async with client:
        yield client


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop when it is installed (``pip install 'moveworks-async[fast]'``),
    on plain asyncio otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    result: T = uvloop.run(main)
    return result
