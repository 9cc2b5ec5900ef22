"""JSON encoding in one place: orjson when the ``speedups`` extra is installed, else the stdlib.

Both paths take and give the same types (``bytes`` out of ``dumps``; ``bytes`` or ``str`` into
``loads``), so callers never branch on which one is active.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["dumps", "loads", "using_orjson"]

# Both decoders raise ValueError subclasses (UnicodeDecodeError included) on bad input.

loads: Callable[[bytes | str], Any]
dumps: Callable[[Any], bytes]

try:
    import orjson
except ImportError:  # pragma: no cover - exercised in environments without the extra
    using_orjson = False
    loads = json.loads
    _encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))

    def dumps(obj: Any) -> bytes:
        return _encoder.encode(obj).encode()

else:
    using_orjson = True
    loads = orjson.loads
    dumps = orjson.dumps
