"""Configuration of the ``moveworks-async`` CLI: flags, then environment, then defaults.

The library's own resolver (``_config.resolve_settings``) does the work, so the CLI and
``AsyncMoveworks()`` read the same variables by the same rules; here settings are named by
their flags. Everything runs before the first request, so a missing or invalid setting is a
usage error (exit status 2) with one line that names the flag and the variable that fix it.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Final

from ._auth import ClientCredentials
from ._cli_options import UsageError
from ._client import AsyncMoveworks
from ._config import DEFAULT_API_VERSION, ENV, Settings, resolve_settings
from ._errors import InvalidParameterError

__all__ = [
    "CONNECTION",
    "DEFAULT_API_VERSION",
    "ENV",
    "Settings",
    "UsageError",
    "connect",
    "flag",
    "settings_for",
]

#: The connection settings, each a flag (``--base-url``) and a variable (``ENV[name]``).
CONNECTION: Final = tuple(ENV)
#: Settings ``--simulate`` decides itself (its fake server's URL and credentials).
_SIMULATED_SETTINGS: Final = (
    "token",
    "client_id",
    "client_secret",
    "assistant_name",
    "base_url",
    "data_api_key",  # export's own credential: the simulated Data API has its key too
)
_HINT: Final = "; or try --simulate"


def flag(name: str) -> str:
    """The flag of a setting: ``base_url`` -> ``--base-url``."""
    if name == "credentials":
        return "--token (or --client-id and --client-secret)"
    return "--" + name.replace("_", "-")


def _given(args: argparse.Namespace) -> dict[str, str | None]:
    return {name: getattr(args, name, None) for name in CONNECTION}


def resolve(args: argparse.Namespace, *, need_assistant: bool = True) -> Settings:
    """Settings from flags and environment; credentials are checked here, before any I/O."""
    try:
        return resolve_settings(
            _given(args),
            # A command with credentials of its own sets ``data_api`` (``export``).
            need_credentials=not getattr(args, "data_api", False),
            need_assistant=need_assistant,
            spell=flag,
            hint=_HINT,
        )
    except InvalidParameterError as exc:
        raise UsageError(str(exc)) from None


@asynccontextmanager
async def connect(settings: Settings) -> AsyncIterator[AsyncMoveworks]:
    """A client for ``settings``; a static token wins over client credentials."""
    if settings.assistant_name is None:
        raise UsageError(
            f"no assistant name: pass --assistant-name or set {ENV['assistant_name']}{_HINT}"
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


async def settings_for(
    args: argparse.Namespace, stack: AsyncExitStack, *, need_assistant: bool = True
) -> Settings:
    """The settings of this run; with ``--simulate``, of a fake server started on ``stack``.

    ``--simulate`` refuses the flags it would otherwise ignore (the fake server has its own
    URL and credentials); variables of the shell are simply not used.
    """
    if not getattr(args, "simulate", False):
        return resolve(args, need_assistant=need_assistant)
    given = [flag(name) for name in _SIMULATED_SETTINGS if getattr(args, name, None) is not None]
    if given:
        raise UsageError(
            f"{', '.join(given)} cannot be used with --simulate, which runs its own fake "
            "server (drop --simulate to reach a real one)"
        )
    from ._cli_simulate import SIMULATED, simulated_server

    server = await stack.enter_async_context(simulated_server())
    version = resolve_settings(
        # Only the generation may come from the shell; the rest is the simulation's own.
        {
            "api_version": getattr(args, "api_version", None),
            "base_url": server.url,
            "assistant_name": SIMULATED["assistant_name"],
        },
        has_auth=True,
        need_assistant=False,
        spell=flag,
    ).api_version
    return Settings(base_url=server.url, api_version=version, **SIMULATED)
