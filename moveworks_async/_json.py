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
    _orjson_dumps = orjson.dumps

    def dumps(obj: Any) -> bytes:
        out = _orjson_dumps(obj)
        # orjson (3.8 here) returns a short result inside its 1 KiB starting buffer, so a
        # 60-byte body kept for a stream's whole life holds ~1 KiB; an exact-size copy of a
        # short result costs ~0.1 us and frees the buffer.
        return bytes(memoryview(out)) if len(out) < 1024 else out
