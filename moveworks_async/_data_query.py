"""Sans-I/O part of the Data API: OData query options, page URLs and page bodies.

Pure functions of their arguments, so the rules are tested without a network and shared by the
iterators and the export.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Literal, TypeAlias
from urllib.parse import quote, urljoin

from yarl import URL

from ._data_models import (
    DataConversation,
    DataInteraction,
    DataPluginCall,
    DataPluginResource,
    DataUser,
)
from ._errors import InvalidParameterError, UnexpectedResponseError
from ._validate import check_unicode

__all__ = [
    "KINDS",
    "Kind",
    "SeenLinks",
    "build_query",
    "check_next_link",
    "kind_path",
    "page_url",
    "parse_page",
    "strip_records_path",
]

#: The record kinds ``export`` takes (``"plugin-calls"`` and ``"plugin-resources"`` work too).
Kind: TypeAlias = Literal[
    "conversations",
    "interactions",
    "plugin_calls",
    "plugin_resources",
    "users",
    "plugin-calls",
    "plugin-resources",
]

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
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise InvalidParameterError(f"{name} is out of range once converted to UTC") from None
    # By hand: strftime("%Y") is not zero-padded below year 1000 on glibc ('1-01-01').
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


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
        clauses.append(check_unicode(filter, "filter"))
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
        query["$orderby"] = check_unicode(orderby, "orderby")
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


def check_next_link(
    link: object, base_url: str, request_id: str | None, current: str | None = None
) -> str | None:
    """The ``@odata.nextLink`` to follow, as an absolute URL, or None at the end.

    A relative link (``/export/v1/records/users?$skiptoken=2``, ``users?...``, ``?...``) is
    resolved against ``current``, the URL of the page that carried it (default ``base_url``);
    its text is otherwise kept as given. It is followed only on the origin of ``base_url``:
    the Data API key goes with it, and a link to another host (a compromised or misconfigured
    proxy) must not get it.
    """
    if link is None or link == "":
        return None
    if not isinstance(link, str):
        raise UnexpectedResponseError(
            "@odata.nextLink is not a string", status_code=200, request_id=request_id
        )
    try:
        absolute = urljoin(current or base_url, link)
        here, there = URL(base_url), URL(absolute, encoded=True)
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
    return absolute


def wire_url(url: str) -> str | URL:
    """What the transport is given for ``url``: a next link goes out exactly as the server
    wrote it (``%2F`` stays ``%2F``), unless it is not a valid URL text as it stands (raw
    spaces or non-ASCII), which is then percent-encoded normally."""
    if url.isascii() and url.isprintable() and " " not in url:
        return URL(url, encoded=True)
    return url


class SeenLinks:
    """The next links one paging run has followed, to stop a server that loops.

    Holds a 16-byte digest per link (a 1,000,000-record export of 1,000-record pages holds
    1,000 of them) and at most ``limit``; past that, new links are no longer remembered.
    """

    def __init__(self, first: str, limit: int = 100_000) -> None:
        self._seen: set[bytes] = set()
        self._limit = limit
        self.add(first, None)

    def add(self, url: str, request_id: str | None) -> None:
        """Remember ``url``; UnexpectedResponseError if it was followed before."""
        digest = hashlib.blake2b(url.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if digest in self._seen:
            raise UnexpectedResponseError(
                "@odata.nextLink repeats the link of an earlier page; paging stopped "
                "(the server would send the same records again, forever)",
                status_code=200,
                request_id=request_id,
            )
        if len(self._seen) < self._limit:
            self._seen.add(digest)


def parse_page(payload: object, request_id: str | None) -> tuple[list[Any], Any]:
    """``(records, next link or None)`` of a decoded page body ``{"value": [...], ...}``.

    A page without a ``value`` array (an error object sent with 200, ``"value": null``) is
    an UnexpectedResponseError, never taken for the end of the table: only an empty
    ``value`` or an absent next link ends it.
    """
    if not isinstance(payload, Mapping):
        raise UnexpectedResponseError(
            "a Data API page must be a JSON object", status_code=200, request_id=request_id
        )
    records = payload.get("value")
    if not isinstance(records, list):
        raise UnexpectedResponseError(
            "a Data API page must hold a 'value' array"
            + ("" if "value" in payload else " (it has none)"),
            status_code=200,
            request_id=request_id,
        )
    return records, payload.get("@odata.nextLink")


#: What a ``base_url`` copied from the Data API reference's server list ends with
#: (https://help.moveworks.com/reference/data-api-1).
_RECORDS_PATHS: Final = ("/export/v1/records", "/export/v1")


def strip_records_path(base_url: str) -> str:
    """``base_url`` without a trailing ``/export/v1/records`` (or ``/export/v1``): the API
    reference (https://help.moveworks.com/reference/data-api-1) lists the Data API server as
    ``https://api.moveworks.ai/export/v1/records``."""
    for suffix in _RECORDS_PATHS:
        if base_url.endswith(suffix):
            return base_url[: -len(suffix)]
    return base_url
