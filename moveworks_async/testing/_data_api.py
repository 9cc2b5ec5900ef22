"""The fake Data API: ``GET /export/v1/records/{kind}``
(https://help.moveworks.com/reference/data-api-1).

OData v4 style: ``$filter`` (comparisons joined by ``and``), ``$select``, ``$orderby``,
``$top``, ``$skip``, ``$count``; server-driven paging with an absolute ``@odata.nextLink``
carrying a ``$skiptoken`` (which holds the query, so it must be sent alone); flat
``{code, message}`` errors. Records are either given (:meth:`DataApi.add`) or generated on
demand (:meth:`DataApi.generate`), so a million-record export costs the server no memory.

Credentials are the Data API's own: the key given as ``data_api_key`` or an OAuth token minted
by ``/oauth/v1/token``; the Conversations API's static token is refused with 403.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from aiohttp import web

from ._host import Host
from ._wire import dumps, flat_error

__all__ = ["DATA_PREFIX", "DataApi"]

DATA_PREFIX: Final = "/export/"
KINDS: Final = ("conversations", "interactions", "plugin-calls", "plugin-resources", "users")
_OPTIONS: Final = frozenset({"$filter", "$select", "$orderby", "$top", "$skip", "$count"})
_CLAUSE: Final = re.compile(
    r"\s*([A-Za-z_][A-Za-z0-9_]*)\s+(eq|ne|gt|ge|lt|le)\s+"
    r"('(?:[^']|'')*'|-?\d+(?:\.\d+)?|true|false|null)\s*"
)
_EPOCH: Final = datetime(2026, 1, 1, tzinfo=UTC)
#: Orderings that generated records already have (ids and times grow with the index).
_NATURAL: Final = frozenset({"id", "created_time", "last_updated_time"})


class BadQuery(Exception):
    """A query the fake cannot accept: answered with 400 ``BAD_REQUEST``."""


# --- generated records -----------------------------------------------------------------------


def _iso(index: int) -> str:
    return (_EPOCH + timedelta(seconds=index)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def generated_record(kind: str, index: int) -> dict[str, Any]:
    """Record ``index`` of a generated ``kind`` table (deterministic, ids sort by index)."""
    t = _iso(index)
    user = f"user_{index % 1000:06d}"
    conv = f"conv_{index // 4:012d}"
    if kind == "conversations":
        return {
            "id": f"conv_{index:012d}",
            "primary_domain": ("IT", "HR", "FINANCE")[index % 3],
            "route": ("DM", "Notification", "Channel", "Ticket")[index % 4],
            "user_id": user,
            "type": "CONVERSATION_TYPE_EVENTS_NOTIFICATION" if index % 4 == 1 else None,
            "detail": None,
            "created_time": t,
            "last_updated_time": t,
        }
    if kind == "interactions":
        return {
            "id": f"{index:08x}-0000-4000-8000-000000000000",
            "conversation_id": conv,
            "user_id": user,
            "actor": "user",
            "platform": ("slack", "msteams")[index % 2],
            "type": "INTERACTION_TYPE_LINK_CLICK",
            "label": "Open article",
            "parent_interaction_id": None,
            "detail": {"content": "VPN setup guide", "domain": "IT", "file_types": []},
            "created_time": t,
            "last_updated_time": t,
        }
    if kind == "plugin-calls":
        return {
            "id": f"pc_{index:012d}",
            "interaction_id": f"{index:08x}-0000-4000-8000-000000000000",
            "conversation_id": conv,
            "plugin_name": ("Knowledge Search", "Ticketing", "Approvals")[index % 3],
            "user_id": user,
            "served": True,
            "used": index % 2 == 0,
            "plugin_update_time": t,
            "created_time": t,
            "last_updated_time": t,
        }
    if kind == "plugin-resources":
        return {
            "id": f"pr_{index:012d}",
            "resource_id": f"KB{index:07d}",
            "type": "RESOURCE_TYPE_KNOWLEDGE",
            "plugin_call_id": f"pc_{index:012d}",
            "interaction_id": f"{index:08x}-0000-4000-8000-000000000000",
            "user_id": user,
            "conversation_id": conv,
            "detail": {"name": "VPN setup guide", "source": "confluence", "url": None},
            "cited": index % 3 == 0,
            "created_time": t,
            "last_updated_time": t,
        }
    return {
        "id": f"user_{index:012d}",
        "email_addr": f"user{index}@example.com",
        "access_to_bot": True,
        "first_name": "Ada",
        "last_name": f"Lovelace{index}",
        "user_preferred_language": "EN-US",
        "first_interaction_time": t,
        "latest_interaction_time": t,
        "external_ids": [{"connector_name": "okta", "external_id": f"00u{index}", "source": "idp"}],
        "last_updated_time": t,
    }


class _Generated(Sequence[dict[str, Any]]):
    """``count`` generated records, made when read."""

    def __init__(self, kind: str, count: int) -> None:
        self.kind, self.size = kind, count

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self.size))]
        if not -self.size <= index < self.size:
            raise IndexError(index)
        return generated_record(self.kind, index % self.size)


# --- query language --------------------------------------------------------------------------


def _literal(text: str) -> Any:
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    return float(text) if "." in text else int(text)


def _comparable(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


_OPS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}


def parse_filter(text: str) -> Callable[[dict[str, Any]], bool]:
    """A predicate for ``text``: comparisons joined by ``and``, parentheses allowed around
    a group of them (the subset Moveworks documents and its sample uses)."""
    clauses = []
    for part in re.split(r"\s+and\s+", text.replace("(", " ").replace(")", " ").strip()):
        match = _CLAUSE.fullmatch(part)
        if match is None:
            raise BadQuery("Invalid $filter expression.")
        field, op, literal = match.groups()
        clauses.append((field, _OPS[op], _comparable(_literal(literal))))

    def predicate(record: dict[str, Any]) -> bool:
        for field, op, value in clauses:
            actual = _comparable(record.get(field))
            try:
                if not op(actual, value):
                    return False
            except TypeError:  # None or mismatched types: the comparison is false
                return False
        return True

    return predicate


def _order(records: Sequence[dict[str, Any]], orderby: str | None) -> Sequence[dict[str, Any]]:
    if not orderby:
        return records
    keys = []
    for part in orderby.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise BadQuery("Invalid $orderby expression.")
        keys.append((words[0], len(words) == 2 and words[1] == "desc"))
    if isinstance(records, _Generated) and len(keys) == 1 and keys[0][0] in _NATURAL:
        if keys[0][1]:
            return _Reversed(records)
        return records
    ordered = list(records)
    for field, descending in reversed(keys):  # stable sorts, last key first
        ordered.sort(key=lambda r: (r.get(field) is None, str(r.get(field))), reverse=descending)
    return ordered


class _Reversed(Sequence[dict[str, Any]]):
    def __init__(self, inner: Sequence[dict[str, Any]]) -> None:
        self._inner = inner

    def __len__(self) -> int:
        return len(self._inner)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self._inner[len(self._inner) - 1 - index]


def _encode_token(state: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(dumps(state)).decode().rstrip("=")


def _decode_token(token: str) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        raise BadQuery("Invalid $skiptoken.") from None
    if not isinstance(state, dict) or type(state.get("pos")) is not int:
        raise BadQuery("Invalid $skiptoken.")
    return state


def _count(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise BadQuery(f"{name} must be a non-negative integer.")
    return int(value)


# --- the endpoint ----------------------------------------------------------------------------


class DataApi:
    """State and handler of the fake Data API (``server.data_api``).

    Attributes:
        api_key: the Data API key accepted as a bearer.
        page_size: records per page (server-driven paging).
        tables: kind (``"plugin-calls"`` style) -> its records.
    """

    def __init__(self, server: Host, *, api_key: str, page_size: int = 500) -> None:
        self._server = server
        self.api_key = api_key
        self.page_size = page_size
        self.tables: dict[str, Sequence[dict[str, Any]]] = {kind: [] for kind in KINDS}

    @staticmethod
    def _kind(kind: str) -> str:
        kind = kind.replace("_", "-")
        if kind not in KINDS:
            raise ValueError(f"unknown Data API kind {kind!r}")
        return kind

    def add(self, kind: str, records: Iterable[dict[str, Any]]) -> None:
        """Append ``records`` (dicts as the API would send them) to the ``kind`` table."""
        kind = self._kind(kind)
        table = self.tables[kind]
        self.tables[kind] = [*table, *records]

    def generate(self, kind: str, count: int) -> None:
        """Make the ``kind`` table ``count`` generated records (made on demand, not stored)."""
        self.tables[self._kind(kind)] = _Generated(self._kind(kind), count)

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/export/v1/records/{kind}", self._list)]

    def _auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization") or ""
        token = header[7:].strip() if header.startswith("Bearer ") else ""
        if token and token == self.api_key:
            return None
        serial = self._server.tokens.serial_of(header) if token else None
        if serial is not None and serial > 0:
            return None  # an OAuth token minted by /oauth/v1/token
        if serial == 0:
            return flat_error(
                403, "FORBIDDEN", "Credentials of other Moveworks APIs do not work for Data API."
            )
        return flat_error(401, "UNAUTHORIZED", "Missing or invalid Data API credentials.")

    async def _list(self, request: web.Request) -> web.StreamResponse:
        kind = request.match_info["kind"]
        if kind not in KINDS:
            return flat_error(404, "NOT_FOUND", f"No such table: {kind[:40]}.")
        refused = self._auth(request)
        if refused is not None:
            return refused
        try:
            return self._page(request, kind)
        except BadQuery as exc:
            return flat_error(400, "BAD_REQUEST", str(exc))

    def _page(self, request: web.Request, kind: str) -> web.Response:
        query = request.query
        token = query.get("$skiptoken")
        if token is not None:
            if len(query) > 1:
                raise BadQuery("$skiptoken must be sent alone (follow @odata.nextLink as is).")
            state = _decode_token(token)
        else:
            unknown = set(query) - _OPTIONS
            if unknown:
                raise BadQuery(f"Unsupported query option: {sorted(unknown)[0][:40]}.")
            top, skip = _count(query.get("$top"), "$top"), _count(query.get("$skip"), "$skip")
            state = {
                "f": query.get("$filter"),
                "s": query.get("$select"),
                "o": query.get("$orderby"),
                "pos": 0,
                "skip": skip or 0,
                "left": top,
            }
        records = _order(self.tables[kind], state["o"])
        predicate = parse_filter(state["f"]) if state["f"] else None
        fields = self._fields(kind, state["s"])
        page: list[dict[str, Any]] = []
        pos, skip, left = state["pos"], state["skip"], state["left"]
        total = len(records)
        while pos < total and len(page) < self.page_size and (left is None or left > 0):
            record = records[pos]
            pos += 1
            if predicate is not None and not predicate(record):
                continue
            if skip:
                skip -= 1
                continue
            page.append(record if fields is None else {k: record.get(k) for k in fields})
            if left is not None:
                left -= 1
        origin = f"{request.scheme}://{request.host}"
        body: dict[str, Any] = {"@odata.context": f"{origin}/export/v1/$metadata#{kind}"}
        if token is None and query.get("$count") == "true":
            body["@odata.count"] = sum(1 for r in records if predicate is None or predicate(r))
        body["value"] = page
        more = pos < total and (left is None or left > 0)
        if more:
            next_state = {**state, "pos": pos, "skip": skip, "left": left}
            body["@odata.nextLink"] = (
                f"{origin}/export/v1/records/{kind}?$skiptoken={_encode_token(next_state)}"
            )
        return web.Response(body=dumps(body), headers={"Content-Type": "application/json"})

    def _fields(self, kind: str, select: str | None) -> list[str] | None:
        if not select:
            return None
        fields = [f.strip() for f in select.split(",")]
        table = self.tables[kind]
        known = set(generated_record(kind, 0)) | (set(table[0]) if len(table) else set())
        for name in fields:
            if name not in known:
                raise BadQuery(f"Unknown field in $select: {name[:40]}.")
        return fields


def iter_generated(kind: str, count: int) -> Iterator[dict[str, Any]]:
    """The records :meth:`DataApi.generate` serves, in order (for assertions)."""
    return (generated_record(kind, i) for i in range(count))
