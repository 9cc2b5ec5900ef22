"""The installed distribution's version, read once (``__version__`` and the User-Agent)."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version

__all__ = ["package_version"]


@functools.cache
def package_version() -> str:
    """``moveworks-async``'s installed version (``"0"`` when run from a bare source tree)."""
    try:
        return version("moveworks-async")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"
