"""How every ``moveworks-async`` command declares its options and reports failures.

* :func:`option` declares a flag with its help text, default and range in one place: the help
  says both, and the range is enforced by argparse with a message naming the flag.
* :class:`CliParser` raises :class:`UsageError` instead of printing and exiting, so a usage
  error goes through the same one-line (or one-JSON-object) report as every other error.
* :func:`report` writes that report: ``error: ...`` on stderr, or with ``--json`` one object
  ``{"error": {"type", "message", "status", "request_id"}}``.
* :func:`interrupted` is the one Ctrl-C path: one line, exit status 130.

Standard library only, and no import of the SDK but ``_console`` (what it shares with the
launcher): the command line uses this before the SDK (and aiohttp) is imported.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

from ._console import EXIT_INTERRUPTED, wants_json

__all__ = [
    "EXIT_INTERRUPTED",
    "CliParser",
    "UsageError",
    "error_object",
    "interrupted",
    "option",
    "report",
    "terminal_safe",
    "wants_json",
]

N = TypeVar("N", int, float)


class UsageError(Exception):
    """A usage or configuration problem found before any request (exit status 2)."""


class CliParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are raised (as :class:`UsageError`), not printed."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """As argparse's, but an unknown option points to the help of the command it was
        given to (``help_prog``, set by each command), not to the top-level help."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            prog = getattr(parsed, "help_prog", self.prog)
            raise UsageError(f"unrecognized arguments: {' '.join(extras)} (see {prog} --help)")
        return parsed


def _bounded(kind: Callable[[str], N], low: N | None, high: N | None) -> Callable[[str], N]:
    """An argparse type: ``kind`` within ``[low, high]`` (a bound of None: open)."""
    label = "an integer" if kind is int else "a number"

    def parse(text: str) -> N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {label}, got {text!r}") from None
        if (
            (isinstance(value, float) and not math.isfinite(value))
            or (low is not None and value < low)
            or (high is not None and value > high)
        ):
            raise argparse.ArgumentTypeError(f"must be {_range(label, low, high)}, not {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _range(label: str, low: float | None, high: float | None) -> str:
    if low is not None and high is not None:
        return f"{label} from {low:g} to {high:g}"
    if low is not None:
        return f"{label} of at least {low:g}"
    return f"{label} of at most {high:g}"


def option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *flags: str,
    help: str,
    default: Any = None,
    kind: Callable[[str], Any] | None = None,
    low: float | None = None,
    high: float | None = None,
    choices: Sequence[str] | None = None,
    show_default: bool = True,
    **extra: Any,
) -> argparse.Action:
    """Add an option whose help states its default and range, and whose range is enforced.

    ``kind`` int or float with ``low``/``high`` makes a bounded number; ``choices`` a closed
    set (listed in the help). ``show_default=False`` for defaults that are not a value (the
    environment, say), which ``help`` then explains itself.
    """
    notes: list[str] = []
    if choices is not None:
        notes.append("one of " + ", ".join(choices))
        extra["choices"] = choices
        extra.setdefault("metavar", "{" + ",".join(choices) + "}")
    if kind in (int, float) and (low is not None or high is not None):
        notes.append(
            f"range {low:g}-{high:g}"
            if low is not None and high is not None
            else _range("range:", low, high).replace("range: of ", "")
        )
        extra["type"] = _bounded(kind, low, high)
    elif kind is not None:
        extra["type"] = kind
    if show_default and default is not None and extra.get("action") not in ("store_true",):
        notes.insert(
            0, f"default {default:g}" if isinstance(default, float) else f"default {default}"
        )
    text = help + (f" ({'; '.join(notes)})" if notes else "")
    return parser.add_argument(*flags, default=default, help=text, **extra)


def error_object(
    kind: str,
    message: str,
    status: int | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
    response_id: str | None = None,
) -> dict[str, dict[str, Any]]:
    """The ``--json`` form of an error (``retry_after`` only when the server asked a wait,
    ``response_id`` only when a response was created that can be polled later)."""
    error: dict[str, Any] = {
        "type": kind,
        "message": message,
        "status": status,
        "request_id": request_id,
    }
    if retry_after is not None:
        error["retry_after"] = retry_after
    if response_id is not None:
        error["response_id"] = response_id
    return {"error": error}


# C0 controls but tab and newline, DEL and C1 controls: what can drive a terminal. And the
# bidi controls (LRM/RLM, the embeddings and overrides, the isolates): they reorder what is
# shown, so server text could make a line read differently from what it holds.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """``text`` with terminal control characters shown as ``\\xNN`` and bidi controls as
    ``\\uNNNN`` (tab and newline kept): server-provided text must not move the cursor,
    recolour or retitle the terminal, nor reorder what a line shows."""
    return _UNSAFE.sub(lambda m: _escaped(m.group()), text)


def report(
    message: str,
    *,
    as_json: bool,
    kind: str = "Error",
    status: int | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
    response_id: str | None = None,
) -> None:
    """Write one error to stderr: ``error: message`` or one JSON object, one line either way.

    Control characters in ``message`` (server text can hold an ANSI escape sequence) are
    shown escaped, never sent to the terminal. ``retry_after``: the server's requested wait
    (a rate limit), shown in both forms. ``response_id``: the response a failed stream created
    (poll it later with ``get``/``wait``), shown in both forms."""
    message = terminal_safe(message)
    if response_id is not None:
        response_id = terminal_safe(response_id)
    if as_json:
        line = json.dumps(
            error_object(kind, message, status, request_id, retry_after, response_id),
            ensure_ascii=False,
        )
    else:
        line = "error: " + " ".join(message.split())  # one line, whatever the message holds
        if retry_after is not None:
            line += f" (the server asks to retry after {retry_after:g} s)"
        if response_id is not None:
            line += f" (response {response_id})"
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed: nothing left to tell
        pass


def interrupted(as_json: bool) -> int:
    """Ctrl-C: stop listening for more (a second Ctrl-C must not interrupt this report),
    write one line and return 130."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    report("interrupted", as_json=as_json, kind="Interrupted")
    return EXIT_INTERRUPTED
