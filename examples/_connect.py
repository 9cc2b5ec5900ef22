"""How the examples get a client: ``--simulate`` (an in-process fake server) or the environment.

Environment, as for the ``moveworks-async`` CLI: ``MOVEWORKS_ASSISTANT_NAME``, then either
``MOVEWORKS_TOKEN`` or ``MOVEWORKS_CLIENT_ID`` + ``MOVEWORKS_CLIENT_SECRET``, and optionally
``MOVEWORKS_BASE_URL`` and ``MOVEWORKS_API_VERSION`` (default ``v1``).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import moveworks_async as mw
from moveworks_async.testing import FakeMoveworks


@asynccontextmanager
async def connect(simulate: bool, *, stream_delay: float = 0.0) -> AsyncIterator[mw.AsyncMoveworks]:
    """A client for the real API (from the environment) or for a fake server started here."""
    if simulate:
        async with (
            FakeMoveworks(stream_delay=stream_delay) as server,
            mw.AsyncMoveworks(
                assistant_name="acme-capi",
                token="test-token",
                base_url=server.url,
                api_version="v1",
            ) as client,
        ):
            yield client
        return
    env = os.environ
    token = env.get("MOVEWORKS_TOKEN")
    has_credentials = "MOVEWORKS_CLIENT_ID" in env and "MOVEWORKS_CLIENT_SECRET" in env
    if "MOVEWORKS_ASSISTANT_NAME" not in env or not (token or has_credentials):
        raise SystemExit(
            "set MOVEWORKS_ASSISTANT_NAME and MOVEWORKS_TOKEN (or MOVEWORKS_CLIENT_ID and "
            "MOVEWORKS_CLIENT_SECRET), or pass --simulate"
        )
    auth = None
    if not token:
        token = None
        auth = mw.ClientCredentials(env["MOVEWORKS_CLIENT_ID"], env["MOVEWORKS_CLIENT_SECRET"])
    async with mw.AsyncMoveworks(
        assistant_name=env["MOVEWORKS_ASSISTANT_NAME"],
        token=token,
        auth=auth,
        base_url=env.get("MOVEWORKS_BASE_URL", mw.DEFAULT_BASE_URL),
        api_version=env.get("MOVEWORKS_API_VERSION", "v1"),
    ) as client:
        yield client
