"""The ``moveworks-async`` console script, with Ctrl-C handled from its first moment.

Importing the command line pulls in aiohttp, half a second on a slow machine; a Ctrl-C then
would print a long traceback. This module imports nothing heavy itself (the package's
``__init__`` is lazy), so the import is inside the ``try`` and an interrupt at any moment
ends with one line and status 130.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(prog: str | None = None) -> int:
    """Run ``moveworks-async`` with ``sys.argv``; return its exit status."""
    try:
        from ._cli import main as run

        return run(prog=prog)
    except KeyboardInterrupt:
        from ._cli_options import interrupted, wants_json

        return interrupted(wants_json(sys.argv[1:]))
