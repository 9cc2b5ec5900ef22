"""Configuration of the ``moveworks-async`` CLI: flags, then environment, then defaults.

Everything here runs before the first request, so a missing or invalid setting is a usage error
(exit status 2) with one line that names the flag and the variable that fix it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Final

import attrs

from ._auth import ClientCredentials
from ._client import DEFAULT_BASE_URL, AsyncMoveworks

__all__ = ["DEFAULT_API_VERSION", "ENV", "Settings", "UsageError", "connect", "settings_for"]

#: The CLI talks to the current generation (``/rest/v1``, the one Moveworks' own app uses, and
#: the only one with every action type); the library's default stays ``v1beta1``.
DEFAULT_API_VERSION: Final = "v1"
#: Seconds between simulated stream events on a terminal, so the answer visibly grows.
DEMO_STREAM_DELAY: Final = 0.12
#: Setting name -> environment variable (``MOVEWORKS_TOKEN``, ...).
ENV: Final = {
    name: "MOVEWORKS_" + name.upper()
    for name in ("token", "client_id", "client_secret", "assistant_name", "base_url", "api_version")
}


class UsageError(Exception):
    """A configuration problem found before any request (exit status 2)."""


@attrs.frozen
class Settings:
    """Where and as whom to connect, resolved from flags, then environment, then defaults."""

    base_url: str
    api_version: str
    assistant_name: str | None = None
    token: str | None = attrs.field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = attrs.field(default=None, repr=False)


def _setting(args: argparse.Namespace, name: str) -> str | None:
    value = getattr(args, name, None)
    return value if value is not None else os.environ.get(ENV[name]) or None


def resolve_settings(args: argparse.Namespace) -> Settings:
    """Settings from flags and environment; credentials are checked here, before any I/O."""
    settings = Settings(
        base_url=_setting(args, "base_url") or DEFAULT_BASE_URL,
        api_version=_setting(args, "api_version") or DEFAULT_API_VERSION,
        assistant_name=_setting(args, "assistant_name"),
        token=_setting(args, "token"),
        client_id=_setting(args, "client_id"),
        client_secret=_setting(args, "client_secret"),
    )
    if (settings.client_id is None) != (settings.client_secret is None):
        raise UsageError("--client-id and --client-secret must be given together")
    # ``export`` (data_api) has credentials of its own, read by the command itself.
    if settings.token is None and settings.client_id is None and not getattr(args, "data_api", 0):
        raise UsageError(
            "no credentials: set MOVEWORKS_TOKEN (or --token), or MOVEWORKS_CLIENT_ID and "
            "MOVEWORKS_CLIENT_SECRET (or --client-id/--client-secret); or try --simulate"
        )
    return settings


@asynccontextmanager
async def connect(settings: Settings) -> AsyncIterator[AsyncMoveworks]:
    """A client for ``settings``; a static token wins over client credentials."""
    if settings.assistant_name is None:
        raise UsageError(
            "no assistant name: set MOVEWORKS_ASSISTANT_NAME (or --assistant-name); "
            "or try --simulate"
        )
    auth = None
    if settings.token is None and settings.client_id and settings.client_secret:
        auth = ClientCredentials(settings.client_id, settings.client_secret)
    async with AsyncMoveworks(
        assistant_name=settings.assistant_name,
        token=settings.token if auth is None else None,
        auth=auth,
        base_url=settings.base_url,
        api_version=settings.api_version,
    ) as client:
        yield client


async def settings_for(args: argparse.Namespace, stack: AsyncExitStack) -> Settings:
    """The settings of this run; with ``--simulate``, of a fake server started on ``stack``."""
    if not getattr(args, "simulate", False):
        return resolve_settings(args)
    from ._cli_simulate import SIMULATED, simulated_server

    live = sys.stdout.isatty() and not getattr(args, "json", False)
    server = await stack.enter_async_context(simulated_server(DEMO_STREAM_DELAY if live else 0))
    version = _setting(args, "api_version") or DEFAULT_API_VERSION
    return Settings(base_url=server.url, api_version=version, **SIMULATED)
