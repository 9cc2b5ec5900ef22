"""``moveworks-async notify``: push a chat message to users through the Events API."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TextIO

from ._auth import ClientCredentials
from ._cli_config import Settings, UsageError
from ._cli_options import option
from ._cli_render import to_json
from ._client import AsyncMoveworks
from ._errors import InvalidParameterError, NotificationBatchError

__all__ = ["add_notify", "cmd_notify", "read_recipients"]


def _usage(exc: InvalidParameterError) -> UsageError:
    """The library's message about a parameter, naming the argument or flag it came from."""
    text = str(exc)
    if found := re.match(r"recipients\[(\d+)\]", text):
        where = f"recipient {int(found.group(1)) + 1} (of --recipient, then --recipients-file)"
        return UsageError(where + text[found.end() :])
    for name, spelled in (("event_id", "EVENT_ID"), ("message", "--message")):
        if text.startswith(name + " "):
            return UsageError(spelled + text[len(name) :])
    return UsageError(text)


def read_recipients(path: Path) -> list[str]:
    """Addresses from a UTF-8 file (a byte-order mark is dropped): one per line; blank lines
    and ``#`` comments are skipped. A file that cannot be read is a UsageError (exit 2)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UsageError(f"--recipients-file {path} is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"--recipients-file {path}: {exc.strerror or exc}") from None
    return [s for line in text.splitlines() if (s := line.split("#", 1)[0].strip())]


async def cmd_notify(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """``notify EVENT_ID``: send ``--message`` to every recipient, in batches of 500.

    A failed batch exits 1 with the error on stderr; with ``--json`` stdout then lists the
    recipients that were scheduled, not scheduled, and of unknown outcome."""
    recipients = list(args.recipient or [])
    if args.recipients_file is not None:
        recipients += read_recipients(args.recipients_file)
    if not recipients:
        raise UsageError("no recipients: pass --recipient EMAIL (repeatable) or --recipients-file")
    auth = None
    if settings.token is None and settings.client_id and settings.client_secret:
        auth = ClientCredentials(settings.client_id, settings.client_secret)
    async with AsyncMoveworks(
        # The Events API ignores Assistant-Name (and the client does not send it there).
        assistant_name=settings.assistant_name or "moveworks-async-cli",
        token=settings.token if auth is None else None,
        auth=auth,
        base_url=settings.base_url,
    ) as client:
        try:
            results = await client.notifications.send_many(
                args.event_id, message=args.message, recipients=recipients
            )
        except InvalidParameterError as exc:  # checked before any request
            raise _usage(exc) from None
        except NotificationBatchError as exc:
            if args.json:  # what a script needs to retry only the right recipients
                to_json(
                    {
                        "scheduled": exc.scheduled,
                        "not_scheduled": exc.not_scheduled,
                        "outcome_unknown": exc.outcome_unknown,
                    },
                    out,
                )
            raise
    scheduled = sum(len(r.recipients) for r in results)
    if args.json:
        to_json({"scheduled": scheduled, "batches": results}, out)
    else:
        batches = "batch" if len(results) == 1 else "batches"
        out.write(f"scheduled for {scheduled} recipients ({len(results)} {batches})\n")
    return 0


def add_notify(sub: argparse.ArgumentParser) -> None:
    """The arguments of ``notify``."""
    sub.add_argument("event_id", metavar="EVENT_ID", help="UUID of an Events Workspace event")
    option(
        sub,
        "--message",
        help="the chat message in Moveworks chat markup, 1-20000 characters (required, no default)",
        required=True,
        metavar="TEXT",
    )
    option(
        sub,
        "--recipient",
        help="an email address to send to; repeat for more (default: none)",
        action="append",
        metavar="EMAIL",
    )
    option(
        sub,
        "--recipients-file",
        help="a file of email addresses, one per line, '#' comments (default: none)",
        kind=Path,
        metavar="FILE",
    )
