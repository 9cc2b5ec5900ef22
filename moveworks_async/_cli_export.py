"""``moveworks-async export``: write a Data API table to a JSON Lines file (resumable)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TextIO

from ._cli_config import Settings, UsageError
from ._cli_options import option
from ._cli_render import to_json
from ._data_api import DATA_API_KEY_ENV, AsyncDataAPI
from ._data_query import KINDS

__all__ = ["SIMULATED_DATA_API_KEY", "Progress", "add_export", "cmd_export", "parse_time"]

#: The Data API key the simulated server accepts.
SIMULATED_DATA_API_KEY: Final = "test-data-key"
#: Seconds between progress lines when stderr is not a terminal.
_PROGRESS_EVERY: Final = 5.0


def parse_time(text: str) -> datetime:
    """An ISO 8601 date or time; without an offset it is taken as UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 date or time: {text[:40]!r} (e.g. 2026-01-31T00:00:00Z)"
        ) from None
    value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    try:
        value.astimezone(UTC)  # the filter is sent in UTC
    except OverflowError:
        raise argparse.ArgumentTypeError(
            f"out of range once converted to UTC: {text[:40]!r}"
        ) from None
    return value


class Progress:
    """``exported N records`` on stderr: rewritten in place on a terminal, else a line every
    few seconds, so long exports show they are alive without flooding a log."""

    def __init__(
        self, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.clock = clock
        self.last = clock()
        self.shown = False

    def __call__(self, count: int) -> None:
        if self.tty:
            self.stream.write(f"\rexported {count} records")
            self.shown = True
        else:
            now = self.clock()
            if now - self.last < _PROGRESS_EVERY:
                return
            self.last = now
            self.stream.write(f"exported {count} records\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self.shown:
            self.stream.write("\n")
            self.stream.flush()


async def cmd_export(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """``export KIND --output FILE``: every record of KIND, resumable after an interruption."""
    key = args.data_api_key or os.environ.get(DATA_API_KEY_ENV) or None
    if args.simulate:
        key = SIMULATED_DATA_API_KEY
    if key is None:
        raise UsageError(f"no Data API key: set {DATA_API_KEY_ENV} (or --data-api-key)")
    options: dict[str, Any] = {"updated_since": args.since, "updated_until": args.until}
    if args.filter:
        options["filter"] = args.filter
    if args.select:
        options["select"] = [name.strip() for name in args.select.split(",")]
    progress = Progress()
    try:
        async with AsyncDataAPI(api_key=key, base_url=settings.base_url) as data:
            if args.simulate:
                # Every run's fake server listens on a new port: its exports resume anyway.
                data._checkpoint_origin = "simulated"
            count = await data.export(
                args.kind, args.output, resume=not args.restart, progress=progress, **options
            )
    finally:
        progress.done()
    if args.json:
        to_json({"kind": args.kind, "output": str(args.output), "records": count}, out)
    else:
        out.write(f"{count} records in {args.output}\n")
    return 0


def _kind(text: str) -> str:
    return text.replace("-", "_")


def add_export(sub: argparse.ArgumentParser) -> None:
    """The arguments of ``export``."""
    sub.add_argument(
        "kind",
        type=_kind,
        choices=sorted(KINDS),
        metavar="KIND",
        help=", ".join(KINDS) + " ('-' works as '_')",
    )
    option(
        sub,
        "--output",
        help="the JSON Lines file; a partial one is resumed (required, no default)",
        required=True,
        kind=Path,
        metavar="FILE",
    )
    option(
        sub,
        "--since",
        help="records with last_updated_time >= ISO; no offset means UTC (default: no bound)",
        kind=parse_time,
        metavar="ISO",
    )
    option(
        sub,
        "--until",
        help="records with last_updated_time <= ISO; no offset means UTC (default: no bound)",
        kind=parse_time,
        metavar="ISO",
    )
    option(sub, "--filter", help="an OData $filter expression (default: none)", metavar="ODATA")
    option(sub, "--select", help="comma-separated field names (default: all)", metavar="FIELDS")
    option(
        sub,
        "--restart",
        help="start over instead of resuming a partial FILE (default off)",
        default=False,
        action="store_true",
    )
    option(
        sub,
        "--data-api-key",
        help=f"Data API key (default: ${DATA_API_KEY_ENV}; prefer the variable: flags show in ps)",
        metavar="KEY",
    )
