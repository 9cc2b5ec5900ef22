"""The ``moveworks-async`` console script, with Ctrl-C handled from its first moment.

Importing the command line pulls in aiohttp, half a second on a slow machine, and an
interrupt that lands in any import (or in the cleanup that asyncio and aiohttp run while a
``KeyboardInterrupt`` unwinds) would print a traceback. So the console script never lets
SIGINT become an exception: the first thing :func:`main` does is install a handler that
writes the one ``interrupted`` line (a JSON object with ``--json``), ignores any further
Ctrl-C, and ends the process with status 130 at once. Everything the command wrote to
stdout so far is flushed first; nothing is left to clean up that the exit does not close.

To keep the moment before that handler as short as possible, neither this module nor the
package's ``__init__`` imports anything at module level that the interpreter has not loaded
already (``sys`` and ``os`` are loaded at start-up; not even ``__future__``, hence the quoted
annotations) but ``_console``, a leaf of constants that imports nothing itself; the rest is
imported inside ``main``. The command line imports ``_console`` too, never this module: the
launcher sits above the command line, and the package's imports form a DAG.
"""

import os
import sys

from ._console import EXIT_INTERRUPTED, INTERRUPTED_JSON, STDIN_READER, wants_json

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at start-up
if TYPE_CHECKING:
    from types import FrameType
    from typing import NoReturn

__all__ = ["main"]


def _exit_interrupted(as_json: bool) -> "NoReturn":
    """Write the one ``interrupted`` line and end the process with status 130, now."""
    # Not contextlib.suppress: nothing is imported here, at the moment of an interrupt.
    try:  # noqa: SIM105
        sys.stdout.flush()  # what was printed so far is kept
    except Exception:  # stdout closed, a broken pipe, a write in progress
        pass
    line = INTERRUPTED_JSON if as_json else "error: interrupted"
    try:
        # On a terminal the cursor may be mid-line (a streamed answer, the prompt, the
        # echoed ^C): start a new line so the report is not glued onto it.
        prefix = "\n" if os.isatty(2) else ""
        os.write(2, (prefix + line + "\n").encode("utf-8"))
    except OSError:  # stderr closed: nothing left to tell
        pass
    os._exit(EXIT_INTERRUPTED)


def main(prog: "str | None" = None) -> int:
    """Run ``moveworks-async`` with ``sys.argv``; return its exit status."""
    as_json = wants_json(sys.argv[1:])
    try:
        import signal

        def on_interrupt(signum: int, frame: "FrameType | None") -> None:
            # A second Ctrl-C while this one is being reported must not start another.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            _exit_interrupted(as_json)

        signal.signal(signal.SIGINT, on_interrupt)
    except KeyboardInterrupt:  # it landed before the handler was in place
        _exit_interrupted(as_json)

    import contextlib
    import threading

    from ._cli import main as run

    status = run(prog=prog)
    if any(t.name == STDIN_READER and t.is_alive() for t in threading.enumerate()):
        # A prompt left waiting: its thread holds stdin's lock, and the interpreter's
        # shutdown would abort on that lock. Everything is done: flush and go.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()
        os._exit(status)
    return status
