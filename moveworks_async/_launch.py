"""The ``moveworks-async`` console script, with Ctrl-C handled from its first moment.

Importing the command line pulls in aiohttp, half a second on a slow machine; a Ctrl-C then
would print a long traceback. This module imports nothing heavy itself (the package's
``__init__`` is lazy), so the import is inside the ``try`` and an interrupt at any moment
ends with one line and status 130.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

__all__ = ["main"]

#: The name of the daemon thread ``chat`` reads its prompt with (``_cli_render.read_line``).
STDIN_READER = "moveworks-async stdin"


def main(prog: str | None = None) -> int:
    """Run ``moveworks-async`` with ``sys.argv``; return its exit status."""
    try:
        from ._cli import main as run

        status = run(prog=prog)
    except KeyboardInterrupt:
        from ._cli_options import interrupted, wants_json

        status = interrupted(wants_json(sys.argv[1:]))
    if any(t.name == STDIN_READER and t.is_alive() for t in threading.enumerate()):
        # A prompt left waiting (Ctrl-C at `you>`): its thread holds stdin's lock, and the
        # interpreter's shutdown would abort on that lock. Everything is done: flush and go.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(status)
    return status
