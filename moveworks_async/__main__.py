"""``python -m moveworks_async``: the same command line as ``moveworks-async``."""

from ._launch import main

raise SystemExit(main(prog="python -m moveworks_async"))
