"""Sans-I/O part of the Data API: OData query options, page URLs and page bodies.

Pure functions of their arguments, so the rules are tested without a network and shared by the
iterators and the export.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

from yarl import URL

from ._data_models import (
    DataConversation,
    DataInteraction,
    DataPluginCall,
    DataPluginResource,
    DataUser,
)
from ._errors import InvalidParameterError, UnexpectedResponseError

__all__ = ["KINDS", "build_query", "check_next_link", "kind_path", "page_url", "parse_page"]

#: Record kind -> (path segment under ``/export/v1/records``, record class).
KINDS: Final[dict[str, tuple[str, type[Any]]]] = {
    "conversations": ("conversations", DataConversation),
    "interactions": ("interactions", DataInteraction),
    "plugin_calls": ("plugin-calls", DataPluginCall),
    "plugin_resources": ("plugin-resources", DataPluginResource),
    "users": ("users", DataUser),
}
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_./]{0,127}")
#: Characters left as they are in query values (readable, and legal in a query).
_SAFE: Final = ",:'$()"
#: The filter field the documented ``updated_since``/``updated_until`` bounds apply to.
UPDATED_FIELD: Final = "last_updated_time"


def kind_path(kind: object) -> tuple[str, type[Any]]:
    """``(path segment, record class)`` of ``kind`` (``"plugin_calls"`` or ``"plugin-calls"``)."""
    if isinstance(kind, str):
        found = KINDS.get(kind.replace("-", "_"))
        if found is not None:
            return found
    names = ", ".join(KINDS)
    raise InvalidParameterError(f"kind must be one of {names}")


def _odata_time(value: object, name: str) -> str:
    if not isinstance(value, datetime):
        raise InvalidParameterError(f"{name} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidParameterError(f"{name} must be timezone-aware (e.g. tzinfo=UTC)")
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _count(value: object, name: str, minimum: int) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < minimum:
        raise InvalidParameterError(f"{name} must be an int >= {minimum}")
    return value


def build_query(
    *,
    filter: str | None = None,
    select: Sequence[str] | None = None,
    orderby: str | None = None,
    top: int | None = None,
    skip: int | None = None,
    updated_since: datetime | None = None,
    updated_until: datetime | None = None,
) -> dict[str, str]:
    """The ``$filter``/``$select``/``$orderby``/``$top``/``$skip`` query of a first page.

    ``updated_since``/``updated_until`` add the documented bounds ``last_updated_time ge
    '...'`` and ``last_updated_time le '...'`` (inclusive, millisecond UTC timestamps), joined
    to ``filter`` with ``and`` (the caller's filter in parentheses).

    Raises:
        InvalidParameterError: a wrong type, an empty string, a field name that is not a plain
            identifier, a naive datetime, ``updated_until`` before ``updated_since``.
    """
    clauses: list[str] = []
    if filter is not None:
        if not isinstance(filter, str) or not filter.strip():
            raise InvalidParameterError("filter must be a non-empty str")
        clauses.append(filter)
    if updated_since is not None:
        clauses.append(f"{UPDATED_FIELD} ge '{_odata_time(updated_since, 'updated_since')}'")
    if updated_until is not None:
        clauses.append(f"{UPDATED_FIELD} le '{_odata_time(updated_until, 'updated_until')}'")
    if updated_since is not None and updated_until is not None and updated_until < updated_since:
        raise InvalidParameterError("updated_until must not be before updated_since")
    query: dict[str, str] = {}
    if clauses:
        if len(clauses) > 1 and filter is not None:
            clauses[0] = f"({filter})"
        query["$filter"] = " and ".join(clauses)
    if select is not None:
        if isinstance(select, str) or not isinstance(select, Sequence) or not select:
            raise InvalidParameterError("select must be a non-empty list of field names")
        for index, name in enumerate(select):
            if not isinstance(name, str) or _FIELD.fullmatch(name) is None:
                raise InvalidParameterError(f"select[{index}] must be a field name")
        query["$select"] = ",".join(select)
    if orderby is not None:
        if not isinstance(orderby, str) or not orderby.strip():
            raise InvalidParameterError("orderby must be a non-empty str such as 'id desc'")
        query["$orderby"] = orderby
    top_value = _count(top, "top", 1)
    if top_value is not None:
        query["$top"] = str(top_value)
    skip_value = _count(skip, "skip", 0)
    if skip_value is not None:
        query["$skip"] = str(skip_value)
    return query


def page_url(base_url: str, segment: str, query: Mapping[str, str]) -> str:
    """The full URL of a first page (the query percent-encoded; ``$`` and ``,`` kept)."""
    url = f"{base_url}/export/v1/records/{segment}"
    if not query:
        return url
    parts = [quote(k, safe="$") + "=" + quote(v, safe=_SAFE) for k, v in query.items()]
    return url + "?" + "&".join(parts)


def check_next_link(link: object, base_url: str, request_id: str | None) -> str | None:
    """The ``@odata.nextLink`` to follow, or None at the end.

    The link is sent as given, but only to the origin of ``base_url``: the Data API key goes
    with it, and a link to another host (a compromised or misconfigured proxy) must not get it.
    """
    if link is None or link == "":
        return None
    if not isinstance(link, str):
        raise UnexpectedResponseError(
            "@odata.nextLink is not a string", status_code=200, request_id=request_id
        )
    try:
        here, there = URL(base_url), URL(link)
        same = (there.scheme, there.host, there.port) == (here.scheme, here.host, here.port)
    except (TypeError, ValueError):
        same = False
    if not same:
        raise UnexpectedResponseError(
            "@odata.nextLink points to another origin than base_url; not following it "
            "(the Data API key would go with the request)",
            status_code=200,
            request_id=request_id,
        )
    return link


def parse_page(payload: object, request_id: str | None) -> tuple[list[Any], Any]:
    """``(records, next link or None)`` of a decoded page body ``{"value": [...], ...}``."""
    if not isinstance(payload, Mapping):
        raise UnexpectedResponseError(
            "a Data API page must be a JSON object", status_code=200, request_id=request_id
        )
    records = payload.get("value")
    if records is None:
        records = []
    if not isinstance(records, list):
        raise UnexpectedResponseError(
            "the 'value' of a Data API page must be an array",
            status_code=200,
            request_id=request_id,
        )
    return records, payload.get("@odata.nextLink")
