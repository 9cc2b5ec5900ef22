"""``moveworks-async``: the command line of the SDK (also ``python -m moveworks_async``).

Commands: ``chat`` (streamed, one-shot or interactive), ``ask`` (create and wait),
``conversations list``, ``messages``, ``events watch`` and ``token``. ``--simulate`` runs any of
them against an in-process fake server, without credentials; ``--json`` prints machine-readable
output (one JSON document, or JSON lines for streams).

Exit codes: 0 success; 1 an API or network error, or an answer that FAILED; 2 a usage or
configuration error; 130 interrupted (Ctrl-C). Errors are one ``error: ...`` line on stderr,
never a traceback, and never contain the token.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, aclosing
from pathlib import Path
from typing import Final, TextIO, TypeVar

import anyio

from ._auth import ClientCredentials
from ._cli_config import DEFAULT_API_VERSION, ENV, Settings, UsageError, connect, settings_for
from ._cli_render import (
    ChatView,
    JsonChatView,
    LiveChatView,
    PlainChatView,
    conversation_line,
    event_lines,
    failure,
    mask_token,
    message_lines,
    read_line,
    reader_blocked,
    to_json,
)
from ._client import _VERSION, DEFAULT_BASE_URL, AsyncMoveworks
from ._errors import APIError, InvalidParameterError, MoveworksError, UnsupportedOperationError
from ._models import Response

__all__ = ["main"]

Command = Callable[[Settings, argparse.Namespace, TextIO], Awaitable[int]]
T = TypeVar("T")


# --- small helpers ---------------------------------------------------------------------------


def _error(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()


def _note(message: str) -> None:
    """A hint for a person at a terminal; scripts reading stderr never see it."""
    if sys.stderr.isatty():
        sys.stderr.write(message + "\n")


async def _take(items: AsyncIterator[T], count: int) -> list[T]:
    """The first ``count`` items; the pager is closed at once instead of fetching more."""
    taken: list[T] = []
    if count <= 0:
        return taken
    async with aclosing(items) as pages:  # type: ignore[type-var]
        async for item in pages:
            taken.append(item)
            if len(taken) >= count:
                break
    return taken


def _failed(response: Response) -> bool:
    """Report a FAILED answer; True if it failed."""
    message = failure(response)
    if message is not None:
        _error(message)
    return message is not None


# --- commands --------------------------------------------------------------------------------


def _view(args: argparse.Namespace, out: TextIO) -> ChatView:
    if args.json:
        return JsonChatView(out)
    return LiveChatView(out) if out.isatty() else PlainChatView(out)


async def _conversation(client: AsyncMoveworks, conversation_id: str | None) -> str:
    """``conversation_id``, or a new conversation's (the service titles it from the first turn)."""
    return conversation_id or (await client.conversations.create()).conversation_id


async def _turn(
    client: AsyncMoveworks, conversation_id: str, text: str, view: ChatView
) -> Response:
    """Stream one answer into ``view`` and return the terminal response."""
    async with client.responses.stream(conversation_id, text=text) as stream:
        async for event in stream:
            view.on_event(event)
        response = await stream.final_response()
    view.finish(response)
    return response


async def cmd_chat(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """``chat [TEXT]``: stream one answer, or keep a conversation going line by line."""
    text = " ".join(args.text).strip()
    async with connect(settings) as client:
        if not text:
            return await _interactive(client, args, out)
        conversation_id = await _conversation(client, args.conversation)
        response = await _turn(client, conversation_id, text, _view(args, out))
        _note(f"(conversation {conversation_id}: continue with --conversation {conversation_id})")
        return 1 if _failed(response) else 0


async def _interactive(client: AsyncMoveworks, args: argparse.Namespace, out: TextIO) -> int:
    tty = sys.stdin.isatty()
    conversation_id: str | None = args.conversation
    status = 0
    _note(f"Chatting with {client.assistant_name}. /new starts a new conversation; /quit leaves.")
    while (line := await read_line("you> " if tty else "")) is not None:
        text = line.strip()
        if text in ("/quit", "/exit"):
            break
        if text == "/new":
            conversation_id = None
            continue
        if not text:
            continue
        conversation_id = await _conversation(client, conversation_id)
        try:
            response = await _turn(client, conversation_id, text, _view(args, out))
        except APIError as exc:  # one failed turn does not end the session
            _error(str(exc))
            status = 1
            continue
        if _failed(response):
            status = 1
        if not args.json:
            out.write("\n")
    return status


async def cmd_ask(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """``ask TEXT``: create a response, poll until it is terminal, print it."""
    async with connect(settings) as client:
        conversation_id = await _conversation(client, args.conversation)
        created = await client.responses.create(conversation_id, text=" ".join(args.text))
        response = await client.responses.wait(
            conversation_id, created.response_id, timeout=args.timeout
        )
    if args.json:
        to_json(response, out)
    else:
        PlainChatView(out).finish(response)
    return 1 if _failed(response) else 0


async def cmd_conversations_list(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """``conversations list``: the most recently active conversations first."""
    async with connect(settings) as client:
        pages = client.conversations.list(archived=args.archived, limit=min(args.limit, 100))
        conversations = await _take(pages, args.limit)
    if args.json:
        to_json({"conversations": conversations}, out)
    else:
        out.write("".join(conversation_line(c) + "\n" for c in conversations))
        if not conversations:
            _note("no conversations")
    return 0


async def cmd_messages(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """``messages ID``: the last N messages of a conversation, oldest first."""
    async with connect(settings) as client:
        pages = client.messages.list(args.conversation_id, limit=min(args.limit, 100))
        messages = (await _take(pages, args.limit))[::-1]  # the API lists newest first
    if args.json:
        to_json({"messages": messages}, out)
    else:
        out.write("".join(line + "\n" for m in messages for line in message_lines(m)))
    return 0


def _load_checkpoint(path: Path | None) -> str | None:
    if path is None or not path.exists():
        return None
    return path.read_text(encoding="utf-8").strip() or None


def _save_checkpoint(path: Path, event_id: str) -> None:
    # Write-then-rename: a crash mid-write leaves the old checkpoint, never a torn one.
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(event_id + "\n", encoding="utf-8")
    os.replace(partial, path)


async def cmd_events_watch(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """``events watch``: poll system-initiated events after a checkpoint, saving it as it moves."""
    checkpoint = args.since or _load_checkpoint(args.checkpoint)
    async with connect(settings) as client:
        if not args.once:
            _note(f"watching events every {args.interval:g} s; Ctrl-C to stop")
        while True:
            # Page size 100 (the maximum): a catch-up costs as few requests as possible of the
            # budget that events share with history and list reads.
            pages = client.events.list(args.conversation, starting_after=checkpoint, limit=100)
            async with aclosing(pages) as events:  # type: ignore[type-var]
                async for event in events:
                    if args.json:
                        to_json(event, out)
                    else:
                        out.write("".join(line + "\n" for line in event_lines(event)))
                        out.flush()
                    checkpoint = event.event_id
                    if args.checkpoint is not None:
                        _save_checkpoint(args.checkpoint, checkpoint)
            if args.once:
                return 0
            await anyio.sleep(args.interval)


async def cmd_token(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """``token``: obtain a token with the client credentials and print it masked."""
    if settings.client_id and settings.client_secret:
        credentials = ClientCredentials(settings.client_id, settings.client_secret)
        async with AsyncMoveworks(
            # The token endpoint ignores Assistant-Name; the client just needs one to exist.
            assistant_name=settings.assistant_name or "moveworks-async-cli",
            auth=credentials,
            base_url=settings.base_url,
        ):
            token, source = await credentials.get_token(), "client_credentials"
    else:
        token, source = settings.token or "", "static"
    if args.json:
        to_json({"token": mask_token(token), "source": source}, out)
    else:
        out.write(f"{mask_token(token)}\n")
    return 0


# --- argument parsing ------------------------------------------------------------------------


def _positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    def parse(text: str) -> T:
        value = kind(text)
        if not value > 0:  # type: ignore[operator]
            raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


#: The connection options, each also read from the environment variable ``ENV[name]``.
_OPTIONS: Final = (
    ("token", "API key or bearer"),
    ("client_id", "OAuth client id"),
    ("client_secret", "OAuth client secret (prefer the variable: flags show up in ps)"),
    ("assistant_name", "the bot name"),
    ("base_url", f"API host (default {DEFAULT_BASE_URL})"),
    ("api_version", f"v1beta1, assistant-v1 or v1 (default {DEFAULT_API_VERSION})"),
)
_SWITCHES: Final = (
    ("simulate", "run against an in-process fake server (no credentials needed)"),
    ("json", "machine-readable output: one JSON document, or JSON lines for streams"),
    ("verbose", "log retries and show the traceback of unexpected errors"),
)


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Options every command takes, before or after the command name.

    Subcommand copies default to SUPPRESS: a default there would overwrite the value parsed by
    the top-level parser, so ``--json chat`` and ``chat --json`` both work.
    """
    group = parser.add_argument_group("options of every command (flags override variables)")
    for name, text in _OPTIONS:
        option, default = "--" + name.replace("_", "-"), None if top else argparse.SUPPRESS
        group.add_argument(option, default=default, help=f"{text} [{ENV[name]}]")
    for name, text in _SWITCHES:
        flag = False if top else argparse.SUPPRESS
        group.add_argument(f"--{name}", action="store_true", default=flag, help=text)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``moveworks-async``."""
    parser = argparse.ArgumentParser(
        prog=prog or "moveworks-async",
        description="Talk to a Moveworks assistant through the Conversations API.",
        epilog='Try: moveworks-async chat --simulate "Who does John Doe report to?"',
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_VERSION}")
    _common(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(
        group: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        run: Command | None,
        summary: str,
    ) -> argparse.ArgumentParser:
        sub = group.add_parser(name, help=summary, description=summary)
        _common(sub, top=False)
        sub.set_defaults(run=run)
        return sub

    chat = command(commands, "chat", cmd_chat, "stream an answer (no TEXT: interactive)")
    chat.add_argument("text", nargs="*", help="the question (none: interactive, from stdin)")
    chat.add_argument("--conversation", metavar="ID", help="continue this conversation")
    ask = command(commands, "ask", cmd_ask, "ask and wait for the whole answer (no streaming)")
    ask.add_argument("text", nargs="+", help="the question")
    ask.add_argument("--conversation", metavar="ID", help="continue this conversation")
    ask.add_argument("--timeout", type=_positive(float), default=150.0, help="seconds to wait")

    conversations = command(commands, "conversations", None, "list conversations")
    group = conversations.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = command(group, "list", cmd_conversations_list, "most recently active first")
    listing.add_argument("--archived", action="store_true", help="list archived ones instead")
    listing.add_argument("--limit", type=_positive(int), default=20, metavar="N")
    messages = command(commands, "messages", cmd_messages, "a conversation's last messages")
    messages.add_argument("conversation_id", metavar="CONVERSATION_ID")
    messages.add_argument("--limit", type=_positive(int), default=20, metavar="N")

    events = command(commands, "events", None, "system-initiated events")
    group = events.add_subparsers(dest="action", metavar="ACTION", required=True)
    watch = command(group, "watch", cmd_events_watch, "poll events after a checkpoint")
    watch.add_argument("--conversation", default="-", metavar="ID", help="default: all ('-')")
    watch.add_argument("--since", metavar="EVENT_ID", help="start after this event id")
    watch.add_argument("--checkpoint", type=Path, metavar="FILE", help="read and save position")
    watch.add_argument("--interval", type=_positive(float), default=6.0, metavar="SECONDS")
    watch.add_argument("--once", action="store_true", help="one catch-up pass, then exit")
    command(commands, "token", cmd_token, "get a token by client credentials, print it masked")
    return parser


# --- entry point -----------------------------------------------------------------------------


async def _run(args: argparse.Namespace) -> int:
    async with AsyncExitStack() as stack:
        settings = await settings_for(args, stack)
        run: Command = args.run
        return await run(settings, args, sys.stdout)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has already explained
        return exc.code if isinstance(exc.code, int) else 2
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return 2
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        if reader_blocked():
            # The prompt's reader thread holds stdin's lock: a normal shutdown would abort
            # while finalizing stdin (see reader_blocked), so leave without one.
            with contextlib.suppress(OSError):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(130)
        return 130
    except (UsageError, InvalidParameterError, UnsupportedOperationError) as exc:
        _error(str(exc))
        return 2
    except MoveworksError as exc:
        _error(str(exc))
        return 1
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly; point stdout at devnull so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # the checkpoint file
        _error(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        return 1
    except Exception as exc:
        # A bug, not a user error: still one line, with the way to the full story.
        if args.verbose:
            logging.getLogger("moveworks_async").exception("unexpected error")
        _error(f"unexpected {type(exc).__name__}: {exc} (a bug; --verbose shows the traceback)")
        return 1
