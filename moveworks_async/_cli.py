"""``moveworks-async``: the command line of the SDK (also ``python -m moveworks_async``).

Commands: ``chat`` (streamed, one-shot or interactive), ``ask`` (create and wait),
``conversations list``, ``messages``, ``events watch``, ``token``, ``notify`` (Events API) and
``export`` (Data API). ``--simulate`` runs any of them against an in-process fake server,
without credentials; ``--json`` prints machine-readable output (one JSON document, or JSON
lines for streams).

Exit codes: 0 success; 1 an API or network error, or an answer that FAILED; 2 a usage or
configuration error; 130 interrupted (Ctrl-C, at any moment). Errors are one line on stderr,
``error: ...`` or with ``--json`` one JSON object (see ``_cli_options.report``), never a
traceback, and never contain the token. Options are declared with ``_cli_options.option``
(help with default and range, ranges enforced).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, aclosing
from pathlib import Path
from typing import Final, TextIO, TypeVar

import anyio

from ._auth import ClientCredentials
from ._cli_config import (
    CONNECTION,
    DEFAULT_API_VERSION,
    ENV,
    Settings,
    UsageError,
    connect,
    flag,
    settings_for,
)
from ._cli_export import add_export, cmd_export
from ._cli_notify import add_notify, cmd_notify
from ._cli_options import CliParser, interrupted, option, report, wants_json
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
    to_json,
)
from ._client import AsyncMoveworks
from ._config import API_VERSIONS, DEFAULT_BASE_URL
from ._errors import (
    APIError,
    APIStatusError,
    InvalidParameterError,
    MoveworksError,
    StreamProtocolError,
    UnsupportedOperationError,
)
from ._models import Response
from ._runner import run
from ._validate import check_id, check_regular_file
from ._version import package_version

__all__ = ["main"]

Command = Callable[[Settings, argparse.Namespace, TextIO], Awaitable[int]]
T = TypeVar("T")


# --- small helpers ---------------------------------------------------------------------------


#: Whether errors are reported as JSON (``--json``); set once by :func:`main`.
_as_json = False


def _error(message: str, kind: str = "Error", response_id: str | None = None) -> None:
    report(message, as_json=_as_json, kind=kind, response_id=response_id)


def _report(exc: BaseException) -> None:
    """One error, with its type, status and request id when it has them."""
    status = exc.status_code if isinstance(exc, APIStatusError) else None
    request_id = getattr(exc, "request_id", None)
    retry_after = getattr(exc, "retry_after", None)
    response_id = getattr(exc, "response_id", None)
    report(
        str(exc) or type(exc).__name__,
        as_json=_as_json,
        kind=type(exc).__name__,
        status=status,
        request_id=request_id if isinstance(request_id, str) else None,
        retry_after=retry_after if isinstance(retry_after, int | float) else None,
        response_id=response_id if isinstance(response_id, str) else None,
    )


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
        # The plain line names the response already; the JSON object gets its own field.
        _error(
            message, kind="ResponseFailed", response_id=response.response_id if _as_json else None
        )
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
    """Stream one answer into ``view`` and return the terminal response.

    A stream that turned undecodable after its response was created (an event over the size
    cap, a flood of keep-alives) does not lose the answer: as the library documents,
    ``final_response()`` then polls the response, and the view shows what it returns."""
    async with client.responses.stream(conversation_id, text=text) as stream:
        try:
            async for event in stream:
                view.on_event(event)
        except StreamProtocolError as exc:
            if exc.response_id is None:
                raise  # nothing was created that could be polled
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
        if not args.simulate:  # a simulated conversation ends with this run
            _note(
                f"(conversation {conversation_id}: continue with --conversation {conversation_id})"
            )
        return 1 if _failed(response) else 0


async def _interactive(client: AsyncMoveworks, args: argparse.Namespace, out: TextIO) -> int:
    tty = sys.stdin.isatty()
    if isinstance(sys.stdin, io.TextIOWrapper):
        # A line that is not valid UTF-8 arrives with its bad bytes escaped (instead of
        # ending the session with a decode error), so it can be reported and skipped.
        sys.stdin.reconfigure(errors="surrogateescape")
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
        if not _is_utf8(text):
            # Reported, and the session goes on: it does not change the exit status.
            _error(f"that line is {_NOT_UTF8}; it was not sent", kind="UsageError")
            continue
        conversation_id = await _conversation(client, conversation_id)
        try:
            response = await _turn(client, conversation_id, text, _view(args, out))
        except (APIError, InvalidParameterError) as exc:  # one failed turn does not end it
            _report(exc)
            status = max(status, 1)
            continue
        if _failed(response):
            status = 1
        if not args.json:
            out.write("\n")
    return status


async def cmd_ask(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """``ask TEXT``: create a response, poll until it is terminal, print it."""
    async with connect(settings) as connected:
        # --timeout bounds each API call as a whole (attempts, retries, a token fetch), so a
        # server that never answers the create fails within it too, not only the wait.
        client = connected.with_options(timeout=args.timeout)
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


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def _check_checkpoint(args: argparse.Namespace) -> None:
    """``--checkpoint`` must be readable and writable before the first event is printed:
    found out only at the first save, the position of every event printed so far is lost."""
    path: Path | None = args.checkpoint
    if path is None:
        return
    try:
        # A device or FIFO would be replaced by the first save's rename, a directory fail it.
        check_regular_file(path, "--checkpoint")
    except InvalidParameterError as exc:
        raise UsageError(str(exc)) from None
    probe = _partial(path)
    try:
        with probe.open("x", encoding="utf-8"):
            pass
        probe.unlink()
    except FileExistsError:  # a save interrupted earlier left it: it is rewritten anyway
        pass
    except OSError as exc:
        raise UsageError(
            f"--checkpoint {path} cannot be written ({exc.strerror or type(exc).__name__})"
        ) from None
    args.since = args.since or _load_checkpoint(path)


def _load_checkpoint(path: Path) -> str | None:
    if not path.exists():
        return None
    try:
        event_id = path.read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"--checkpoint {path} cannot be read ({reason})") from None
    if event_id is not None:
        try:
            check_id(event_id, "event_id")
        except InvalidParameterError:
            # Named by the flag that brought it, not by the library's parameter.
            raise UsageError(f"--checkpoint {path} does not hold an event id") from None
    return event_id


def _save_checkpoint(path: Path, event_id: str) -> None:
    # Write-then-rename: a crash mid-write leaves the old checkpoint, never a torn one.
    partial = _partial(path)
    try:
        partial.write_text(event_id + "\n", encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:  # a full disk, say: say where the position is, not just the errno
        raise OSError(
            exc.errno,
            f"--checkpoint {path} could not be saved ({exc.strerror}); the last event "
            f"printed is {event_id}: resume with --since {event_id}",
        ) from None


async def cmd_events_watch(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """``events watch``: poll system-initiated events after a checkpoint, saving it as it moves."""
    checkpoint = args.since  # or the checkpoint file's, read by _check_checkpoint
    async with connect(settings) as client:
        if not args.once:
            _note(f"watching events every {args.interval:g} s; Ctrl-C to stop")
        while True:
            # Page size 100 (the maximum): a catch-up costs as few requests as possible of the
            # budget that events share with history and list reads.
            pages = client.events.list(args.conversation, starting_after=checkpoint, limit=100)
            async with aclosing(pages) as events:
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


#: Why a text argument or line cannot be sent (bytes the terminal did not encode as UTF-8).
_NOT_UTF8: Final = "not valid UTF-8 (check the terminal's encoding)"


def _is_utf8(text: str) -> bool:
    """False for text with bytes that were not UTF-8 (escaped as lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text_type(text: str) -> str:
    """An argparse type for question text: valid UTF-8 (the message names the argument)."""
    if not _is_utf8(text):
        raise argparse.ArgumentTypeError(_NOT_UTF8)
    return text


def _check_chat(args: argparse.Namespace) -> None:
    if not " ".join(args.text).strip() and sys.stdin is None:
        # Started with stdin closed (`<&-`): an interactive chat has nothing to read.
        raise UsageError("standard input is closed: give the question as TEXT")


def _check_question(args: argparse.Namespace) -> None:
    if not " ".join(args.text).strip():
        raise UsageError("argument TEXT: the question is empty")


def _id_type(name: str) -> Callable[[str], str]:
    """An argparse type for an id: checked as the API will, the message naming the flag."""

    def parse(text: str) -> str:
        try:
            return check_id(text, name)
        except InvalidParameterError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(name + " ")) from None

    parse.__name__ = "id"
    return parse


#: The connection options, each also read from the environment variable ``ENV[name]``.
_CONNECTION_HELP: Final = {
    "token": "API key or bearer (default: none)",
    "client_id": "OAuth client id (default: none)",
    "client_secret": "OAuth client secret; prefer the variable, flags show up in ps "
    "(default: none)",
    "assistant_name": "the bot name (default: none)",
    "base_url": f"API host (default {DEFAULT_BASE_URL})",
    "api_version": f"API generation (default {DEFAULT_API_VERSION})",
}
_SWITCHES: Final = (
    (
        "simulate",
        "run against an in-process fake server, no credentials needed; its state "
        "lasts for this run only (default off)",
    ),
    (
        "json",
        "machine-readable output: one JSON document, or JSON lines for streams; errors "
        "as one JSON object on stderr (default off)",
    ),
    ("verbose", "log retries and show the traceback of unexpected errors (default off)"),
)


def _common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Options every command takes, before or after the command name.

    Subcommand copies default to SUPPRESS: a default there would overwrite the value parsed by
    the top-level parser, so ``--json chat`` and ``chat --json`` both work.
    """
    group = parser.add_argument_group("options of every command (flags override variables)")
    for name in CONNECTION:
        option(
            group,
            flag(name),
            help=f"{_CONNECTION_HELP[name]} [{ENV[name]}]",
            default=None if top else argparse.SUPPRESS,
            choices=API_VERSIONS if name == "api_version" else None,
            show_default=False,
        )
    for name, text in _SWITCHES:
        default = False if top else argparse.SUPPRESS
        option(group, f"--{name}", help=text, default=default, action="store_true")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of ``moveworks-async``; its errors raise ``UsageError``."""
    parser = CliParser(
        prog=prog or "moveworks-async",
        description="Talk to a Moveworks assistant through the Conversations API.",
        epilog='Try: moveworks-async chat --simulate "Who does John Doe report to?"',
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    _common(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(
        group: argparse._SubParsersAction[CliParser],
        name: str,
        run: Command | None,
        summary: str,
    ) -> CliParser:
        sub = group.add_parser(name, help=summary, description=summary)
        _common(sub, top=False)
        # The innermost command's prog wins: it is the help an unknown option points to.
        sub.set_defaults(run=run, help_prog=sub.prog)
        return sub

    def conversation(sub: argparse.ArgumentParser, text: str, default: str | None) -> None:
        option(
            sub,
            "--conversation",
            help=text,
            default=default,
            metavar="ID",
            kind=_id_type("--conversation"),
            show_default=default is not None,
        )

    def limit(sub: argparse.ArgumentParser) -> None:
        option(
            sub,
            "--limit",
            help="how many to show, the most recent",
            default=20,
            kind=int,
            low=1,
            high=100,
            metavar="N",
        )

    chat = command(commands, "chat", cmd_chat, "stream an answer (no TEXT: interactive)")
    chat.add_argument(
        "text",
        nargs="*",
        type=_text_type,
        metavar="TEXT",
        help="the question (none: interactive, from stdin)",
    )
    chat.set_defaults(check=_check_chat)
    conversation(chat, "continue this conversation (default: a new one)", None)
    ask = command(commands, "ask", cmd_ask, "ask and wait for the whole answer (no streaming)")
    ask.add_argument("text", nargs="+", type=_text_type, metavar="TEXT", help="the question")
    ask.set_defaults(check=_check_question)
    conversation(ask, "continue this conversation (default: a new one)", None)
    option(
        ask,
        "--timeout",
        help="seconds to wait for the whole answer; also the whole-call bound of each request",
        default=150.0,
        kind=float,
        low=1,
        high=3600,
        metavar="SECONDS",
    )

    conversations = command(commands, "conversations", None, "list conversations")
    group = conversations.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = command(group, "list", cmd_conversations_list, "most recently active first")
    option(
        listing,
        "--archived",
        help="list archived ones instead (default off)",
        default=False,
        action="store_true",
    )
    limit(listing)
    messages = command(commands, "messages", cmd_messages, "a conversation's last messages")
    messages.add_argument(
        "conversation_id",
        metavar="CONVERSATION_ID",
        type=_id_type("CONVERSATION_ID"),
        help="the conversation to read",
    )
    limit(messages)

    events = command(commands, "events", None, "system-initiated events")
    group = events.add_subparsers(dest="action", metavar="ACTION", required=True)
    watch = command(group, "watch", cmd_events_watch, "poll events after a checkpoint")
    conversation(watch, "one conversation's events; '-' reads all", "-")
    option(
        watch,
        "--since",
        help="start after this event id (default: the checkpoint, else the first event)",
        metavar="EVENT_ID",
        kind=_id_type("--since"),
        show_default=False,
    )
    option(
        watch,
        "--checkpoint",
        help="file to read and save the position in (default: none)",
        kind=Path,
        metavar="FILE",
        show_default=False,
    )
    watch.set_defaults(check=_check_checkpoint)
    option(
        watch,
        "--interval",
        help="seconds between polls; polls share the rate limit with history reads",
        default=6.0,
        kind=float,
        low=1,
        high=3600,
        metavar="SECONDS",
    )
    option(
        watch,
        "--once",
        help="one catch-up pass, then exit (default off)",
        default=False,
        action="store_true",
    )
    command(commands, "token", cmd_token, "get a token by client credentials, print it masked")
    add_notify(command(commands, "notify", cmd_notify, "send a chat message for an event"))
    export = command(commands, "export", cmd_export, "write a Data API table as JSON Lines")
    export.set_defaults(data_api=True)  # its own credentials: no MOVEWORKS_TOKEN needed
    add_export(export)
    return parser


# --- entry point -----------------------------------------------------------------------------


async def _run(args: argparse.Namespace) -> int:
    async with AsyncExitStack() as stack:
        # The assistant name is checked by connect(): `token` needs none.
        settings = await settings_for(args, stack, need_assistant=False)
        run: Command = args.run
        return await run(settings, args, sys.stdout)


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Ctrl-C at any moment, including while an error is being reported, ends with one line
    and status 130 (see ``_launch`` for the moments before this module is imported).
    """
    global _as_json
    arguments = list(sys.argv[1:] if argv is None else argv)
    _as_json = wants_json(arguments)
    try:
        return _main(arguments, prog)
    except KeyboardInterrupt:
        return interrupted(_as_json)


def _main(argv: list[str], prog: str | None) -> int:
    parser = build_parser(prog)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help or --version, already printed
        return exc.code if isinstance(exc.code, int) else 2
    except UsageError as exc:
        _report(exc)
        return 2
    if getattr(args, "run", None) is None:
        if _as_json:  # a script asked for JSON: one object, not a page of help
            _error(f"no command given (see {parser.prog} --help)", kind="UsageError")
        else:
            parser.print_help(sys.stderr)
        return 2
    if sys.stdout is None:  # started with stdout closed (`>&-`): nowhere to print the result
        _error("standard output is closed: nothing could be printed", kind="UsageError")
        return 2
    try:
        check: Callable[[argparse.Namespace], None] | None = getattr(args, "check", None)
        if check is not None:  # before any I/O, --simulate's server included
            check(args)
    except UsageError as exc:
        _report(exc)
        return 2
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    try:
        return run(_run(args))
    except (UsageError, InvalidParameterError, UnsupportedOperationError) as exc:
        _report(exc)
        return 2
    except MoveworksError as exc:
        _report(exc)
        return 1
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly; point stdout at devnull so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:  # the checkpoint file
        message = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else exc.strerror
        message = message or str(exc)
        report(message, as_json=_as_json, kind=type(exc).__name__)
        return 1
    except Exception as exc:
        # A bug, not a user error: still one line, with the way to the full story.
        if args.verbose:
            logging.getLogger("moveworks_async").exception("unexpected error")
        report(
            f"unexpected {type(exc).__name__}: {exc} (a bug; --verbose shows the traceback)",
            as_json=_as_json,
            kind=type(exc).__name__,
        )
        return 1
