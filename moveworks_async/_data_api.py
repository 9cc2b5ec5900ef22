"""``AsyncDataAPI``: the Moveworks Data API (analytics export, OData v4 style).

Requests go through the same machinery as the Conversations API client (one transport, the
attempt loop with auth, retry policy, rate governor and hooks); only the credentials differ:
Data API keys are separate from every other Moveworks credential.

Paging follows ``@odata.nextLink`` (sent as given, never with the first page's options added
again; a relative link is resolved against the page that carried it) until it is absent or a
page is empty; a link that repeats an earlier one stops paging with UnexpectedResponseError.
One page is held in memory at a time, by the iterators and by :meth:`AsyncDataAPI.export`
alike.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypedDict, TypeVar, Unpack, cast
from urllib.parse import urlsplit

import aiohttp
import anyio
import anyio.lowlevel
import anyio.to_thread
import attrs
from yarl import URL

from . import _json
from ._auth import ClientCredentials, TokenSource
from ._client import AsyncMoveworks, engine_seam
from ._converter import structure_fast
from ._data_models import (
    DataConversation,
    DataInteraction,
    DataPluginCall,
    DataPluginResource,
    DataUser,
)
from ._data_query import (
    Kind,
    SeenLinks,
    build_query,
    check_next_link,
    kind_path,
    page_url,
    parse_page,
    strip_records_path,
    wire_url,
)
from ._errors import InvalidParameterError, UnexpectedResponseError
from ._governor import Governor
from ._iterators import one_task
from ._off_loop import decode_in_time
from ._protocol import Request, cap_text, request_id_from
from ._retry import RetryPolicy
from ._transport import Reply, Timeout, Transport, TransportName
from ._validate import check_max_retries, check_regular_file

__all__ = ["DATA_API_KEY_ENV", "AsyncDataAPI", "QueryOptions"]

#: The environment variable read when neither ``api_key=`` nor ``auth=`` is given.
DATA_API_KEY_ENV: Final = "MOVEWORKS_DATA_API_KEY"
#: 2: the checkpoint names the origin (scheme, host, port) the export was fetched from.
_CHECKPOINT_VERSION: Final = 2
#: What Checkpoint.load reads from a file that is not JSON (a marker no JSON value can be).
_UNREADABLE: Final = object()
#: Records converted between two turns of the event loop (~4 ms: ~15 us per record).
_RECORDS_PER_TURN: Final = 256
_OPTIONS: Final = frozenset(
    {"filter", "select", "orderby", "top", "skip", "updated_since", "updated_until"}
)

R = TypeVar("R")


class QueryOptions(TypedDict, total=False):
    """Keyword options of the Data API iterators and of ``export`` (all optional).

    ``filter``, ``select`` (field names), ``orderby``, ``top`` and ``skip`` are sent as
    ``$filter``, ``$select``, ... on the first page; ``updated_since``/``updated_until``
    (timezone-aware datetimes) add ``last_updated_time ge/le '...'`` to the filter;
    ``timeout`` and ``max_retries`` apply to each page request.
    """

    filter: str
    select: Sequence[str]
    orderby: str
    top: int
    skip: int
    updated_since: datetime | None
    updated_until: datetime | None
    timeout: Timeout | float | None
    max_retries: int | None


class AsyncDataAPI:
    """Async client of the Moveworks Data API (``{base_url}/export/v1/records/{kind}``).

    Use it as an async context manager (or call :meth:`aclose`), like ``AsyncMoveworks``.

    Args:
        api_key: a Data API key, sent as the bearer; default: ``$MOVEWORKS_DATA_API_KEY``; or
        auth: ``ClientCredentials(...)`` of a Data API OAuth credential (token from
            ``{base_url}/oauth/v1/token``), a ``TokenSource`` or an async callable.
        base_url: API host (regional hosts allowed); default ``$MOVEWORKS_BASE_URL``, else
            ``https://api.moveworks.ai``. The API reference's server URL, ending in
            ``/export/v1/records``, is accepted too (that suffix is dropped).
        session, timeout, max_retries, retry_policy, governor, hooks, max_connections,
            transport, clock, sleep: as for ``AsyncMoveworks`` (``transport="pyreqwest"``
            or a ``Transport`` instance; see README "Transports"). Pages are GETs, so a
            failed page is retried (connection errors, 408, 429, 5xx) and paging continues
            where it was.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        auth: TokenSource | ClientCredentials | Callable[[], Awaitable[str]] | None = None,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: Timeout | float | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        governor: Governor | None = None,
        hooks: Iterable[object] | None = None,
        max_connections: int = 100,
        transport: TransportName | Transport | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> None:
        if api_key is not None and auth is not None:
            raise InvalidParameterError("pass exactly one of api_key= and auth=")
        if api_key is None and auth is None:
            api_key = os.environ.get(DATA_API_KEY_ENV) or None
            if api_key is None:
                raise InvalidParameterError(
                    f"pass api_key= or auth=, or set {DATA_API_KEY_ENV} "
                    "(Data API credentials are separate from the other Moveworks APIs)"
                )
        engine = AsyncMoveworks(
            # The Data API takes no Assistant-Name; ``engine_seam`` drops the header again.
            assistant_name="data-api",
            token=api_key,
            auth=auth,
            base_url=base_url,
            api_version="v1",  # unused here; fixed so a shell's MOVEWORKS_API_VERSION is not read
            session=session,
            timeout=timeout,
            max_retries=max_retries,
            retry_policy=retry_policy,
            governor=governor,
            hooks=hooks,
            max_connections=max_connections,
            transport=transport,
            clock=clock,
            sleep=sleep,
        )
        engine.base_url = strip_records_path(engine.base_url)
        #: The client this runs on: only its public lifecycle is used; requests go through
        #: the seam (the "not closed" warning names this class).
        self._engine = engine
        self._seam = engine_seam(engine, owner="AsyncDataAPI")
        self.base_url = engine.base_url
        self.governor = engine.governor
        self.retry_policy = engine.retry_policy
        #: What an export's checkpoint records as the server it was fetched from (the CLI's
        #: --simulate, whose fake server gets a new port every run, sets a fixed label).
        self._checkpoint_origin = _origin(self.base_url)

    def __repr__(self) -> str:
        return f"AsyncDataAPI(base_url={self.base_url!r}, auth={self._seam.auth_repr})"

    # --- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        await self._engine.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool if the client owns it. Idempotent."""
        await self._engine.aclose()

    @property
    def is_closed(self) -> bool:
        """True after :meth:`aclose`."""
        return self._engine.is_closed

    # --- pages -----------------------------------------------------------------------------

    async def _page(
        self, url: str, timeout: Timeout | float | None, max_retries: int | None
    ) -> tuple[list[Any], Any, str | None]:
        """One page: ``(raw records, raw next link, request id)``."""
        # The path alone names the call in hooks and logs (the query can be long).
        request = Request("GET", urlsplit(url).path, idempotent=True)
        # A yarl URL where the link must go out exactly as written (see wire_url).
        target = cast(str, wire_url(url))
        started = asyncio.get_running_loop().time()
        reply: Reply = await self._seam.request(
            request, url=target, timeout=timeout, max_retries=max_retries
        )
        request_id = request_id_from(reply.headers)
        # The page's Timeout.total covers decoding it too (as for every other call's reply).
        total = (self._seam.timeout if timeout is None else Timeout.coerce(timeout)).total
        records, link = await decode_in_time(
            total, started, True, len(reply.body), _read_page, reply, request_id
        )
        return records, link, request_id

    async def _pages(
        self, url: str, timeout: Timeout | float | None, max_retries: int | None
    ) -> AsyncIterator[list[Any]]:
        seen = SeenLinks(url)
        next_url: str | None = url
        while next_url is not None:
            records, link, request_id = await self._page(next_url, timeout, max_retries)
            if not records:
                return
            yield records  # a page's records come before any complaint about its next link
            next_url = check_next_link(link, self.base_url, request_id, next_url)
            if next_url is not None:
                seen.add(next_url, request_id)

    @one_task
    async def _records(
        self,
        cls: type[R],
        url: str,
        timeout: Timeout | float | None,
        max_retries: int | None,
    ) -> AsyncGenerator[R, None]:
        from ._converter import structure

        async for records in self._pages(url, timeout, max_retries):
            for index, data in enumerate(records):
                if index and not index % _RECORDS_PER_TURN:
                    # A page may hold tens of thousands of records, converted here one by one
                    # as the caller iterates: a loop turn now and then, so that other tasks
                    # run even when the caller awaits nothing between records.
                    await anyio.lowlevel.checkpoint()
                try:
                    record = structure_fast(data, cls)
                except Exception:
                    record = structure(data, cls)
                # ``raw``: the record as received, unknown fields included.
                yield attrs.evolve(record, raw=data)  # type: ignore[misc]

    def _iterate(self, kind: str, cls: type[R], options: QueryOptions) -> AsyncGenerator[R, None]:
        """Validate ``options`` (before any I/O) and return the iterator of ``kind``."""
        query, timeout, max_retries = _split(options)
        segment, _ = kind_path(kind)
        url = page_url(self.base_url, segment, build_query(**query))
        return self._records(cls, url, timeout, max_retries)

    def conversations(
        self, **options: Unpack[QueryOptions]
    ) -> AsyncGenerator[DataConversation, None]:
        """Every conversation record matching ``options`` (see :class:`QueryOptions`), page
        after page; the options are validated when this is called (InvalidParameterError)."""
        return self._iterate("conversations", DataConversation, options)

    def interactions(
        self, **options: Unpack[QueryOptions]
    ) -> AsyncGenerator[DataInteraction, None]:
        """Every interaction record matching ``options`` (see :meth:`conversations`)."""
        return self._iterate("interactions", DataInteraction, options)

    def plugin_calls(self, **options: Unpack[QueryOptions]) -> AsyncGenerator[DataPluginCall, None]:
        """Every plugin-call record matching ``options`` (see :meth:`conversations`)."""
        return self._iterate("plugin_calls", DataPluginCall, options)

    def plugin_resources(
        self, **options: Unpack[QueryOptions]
    ) -> AsyncGenerator[DataPluginResource, None]:
        """Every plugin-resource record matching ``options`` (see :meth:`conversations`)."""
        return self._iterate("plugin_resources", DataPluginResource, options)

    def users(self, **options: Unpack[QueryOptions]) -> AsyncGenerator[DataUser, None]:
        """Every user record matching ``options`` (see :meth:`conversations`)."""
        return self._iterate("users", DataUser, options)

    # --- export ----------------------------------------------------------------------------

    async def export(
        self,
        kind: Kind,
        path: str | os.PathLike[str],
        *,
        resume: bool = True,
        progress: Callable[[int], object] | None = None,
        **options: Unpack[QueryOptions],
    ) -> int:
        """Write every record of ``kind`` to ``path`` as JSON Lines; return the record count.

        ``kind``: ``conversations``, ``interactions``, ``plugin_calls``, ``plugin_resources``
        or ``users``; ``options``: those of the iterators (:class:`QueryOptions`). One record
        per line, as received (compact JSON, fields in the order the server sent them). One
        page at a time is held in memory. ``progress(count)`` is called after every page.

        Resuming: progress is checkpointed in ``<path>.checkpoint`` after every page (the next
        page's link and the file offset it starts at). If the export is interrupted, calling
        ``export`` again with the same kind and options continues from there: a truncated
        last line is dropped, and records of the interrupted page that are already in the file
        are not written again (matched by ``id``, or by position when the records have no
        ``id``). A finished export is recognised and not fetched again; ``resume=False``
        starts over, overwriting ``path``. The count returned is the number of records in the
        file. The checkpoint holds no credentials; it names the origin of ``base_url``, and a
        resume against another origin is refused.

        "As received" holds with or without orjson: integers beyond 64 bits are written
        exactly, and a page holding what JSON Lines cannot carry faithfully (``1e400``, a
        lone surrogate) fails with UnexpectedResponseError, so the file is always valid JSON.

        Raises:
            InvalidParameterError: bad options; ``path`` (or its checkpoint) exists and is
                not a regular file (a device, FIFO, directory: refused before any I/O); or
                ``path`` holds an export of other options
                or from another origin, or records without a checkpoint, or is shorter than
                its checkpoint says (pass ``resume=False`` to start over).
            APIError: a page failed after the retries; the file and the checkpoint stay
                consistent, so calling again resumes.
        """
        query, timeout, max_retries = _split(options)
        segment, _ = kind_path(kind)
        first = page_url(self.base_url, segment, build_query(**query))
        # File work runs in a worker thread: the event loop keeps serving other tasks.
        sink = await anyio.to_thread.run_sync(
            _Sink.open, Path(path), segment, first, resume, self._checkpoint_origin
        )
        try:
            url = _absolute(sink.next, self.base_url) if sink.next is not None else None
            seen = SeenLinks(url) if url is not None else None
            while url is not None:
                records, link, request_id = await self._page(url, timeout, max_retries)
                url = check_next_link(link, self.base_url, request_id, url) if records else None
                if url is not None and seen is not None:
                    seen.add(url, request_id)
                count = await anyio.to_thread.run_sync(sink.write, records, url)
                if progress is not None:
                    progress(count)
        finally:
            sink.close()  # synchronous: it must happen even in a cancelled task
        return sink.count


class _Sink:
    """The output file of an export and its checkpoint (blocking I/O, run in a thread)."""

    def __init__(self, out: Any, journal: _Checkpoint, state: _State, target: Path) -> None:
        self._out = out
        self._journal = journal
        self.next = state.next
        self.count = state.count
        self._skip_ids: set[Any] | None = None
        self._skip_count = 0
        if out is not None:
            self._skip_ids, kept, _ = _recover(out, state.offset, target)
            self._skip_count = kept if self._skip_ids is None else 0
            self.count += kept

    @classmethod
    def open(cls, target: Path, kind: str, first: str, resume: bool, origin: str) -> _Sink:
        path = target.with_name(target.name + ".checkpoint")
        check_regular_file(target, "path")  # before anything is written beside it
        check_regular_file(path, "checkpoint")
        journal = _Checkpoint(path, kind, _relative(first), origin)
        state = journal.load() if resume else None
        if state is None:
            if resume and target.exists() and target.stat().st_size > 0:
                raise InvalidParameterError(
                    f"{target} exists and has no export checkpoint; pass resume=False "
                    "(CLI: --restart) to overwrite it"
                )
            journal.clear()  # first: a stale checkpoint must never describe the new file
            with open(target, "wb"):
                pass
            state = journal.start()
        if state.next is None:
            return cls(None, journal, state, target)  # finished earlier: nothing to fetch
        out = open(target, "r+b")  # noqa: SIM115 - kept open across pages, closed by close()
        try:
            return cls(out, journal, state, target)
        except BaseException:
            out.close()
            raise

    def write(self, records: list[Any], next_url: str | None) -> int:
        """Append the page's records (minus those an interrupted run already wrote), then
        checkpoint ``next_url``; return the count so far."""
        lines = []
        skip_ids, skip_count = self._skip_ids, self._skip_count
        for record in records:
            if skip_ids is not None:
                if isinstance(record, dict) and record.get("id") in skip_ids:
                    continue
            elif skip_count:
                skip_count -= 1
                continue
            lines.append(_json.dumps(record))
        self._skip_ids, self._skip_count = None, 0  # only the interrupted page repeats
        out = self._out
        if lines:
            out.write(b"\n".join(lines) + b"\n")
            out.flush()
            self.count += len(lines)
        self._journal.save(next_url, out.tell(), self.count)
        return self.count

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


def _relative(url: str) -> str:
    """``url`` without its origin: what identifies an export in its checkpoint."""
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def _absolute(relative: str, base_url: str) -> str:
    """A checkpointed (relative) link on the origin of ``base_url``; the checkpoint's origin
    was checked to be this one."""
    here = urlsplit(base_url)
    return f"{here.scheme}://{here.netloc}{relative}"


def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url`` (lower case, default port made explicit)."""
    try:
        parsed = URL(url)
    except ValueError:
        return ""
    return f"{parsed.scheme}://{parsed.host}:{parsed.port}".lower()


def _read_page(reply: Reply, request_id: str | None) -> tuple[list[Any], Any]:
    """A page's raw records and raw next link (decoded off the loop when the page is big)."""
    return parse_page(_decode_page(reply, request_id), request_id)


def _decode_page(reply: Reply, request_id: str | None) -> Any:
    """The JSON body of a page, decoded exactly (see ``_json.loads_exact``)."""
    content_type = reply.headers.get("Content-Type", "")
    if "json" not in content_type.lower():  # media types are case-insensitive
        raise UnexpectedResponseError(
            f"expected JSON, got {cap_text(content_type, 100) or 'no content type'}",
            status_code=reply.status,
            request_id=request_id,
        )
    try:
        return _json.loads_exact(reply.body)
    except ValueError:
        pass
    # Raised outside the except block: the decoder's error must not keep the page alive.
    raise UnexpectedResponseError(
        f"reply is not valid JSON, nests deeper than {_json.MAX_DEPTH} levels, or holds what "
        "JSON Lines cannot carry faithfully (a number beyond the range of a float, a lone "
        "surrogate)",
        status_code=reply.status,
        request_id=request_id,
    )


def _split(options: QueryOptions) -> tuple[dict[str, Any], Timeout | float | None, int | None]:
    """``(query options, timeout, max_retries)``; an unknown keyword is InvalidParameterError
    (a TypedDict is not checked at run time)."""
    unknown = set(options) - _OPTIONS - {"timeout", "max_retries"}
    if unknown:
        raise InvalidParameterError(f"unknown option(s): {', '.join(sorted(unknown))}")
    query = {k: v for k, v in options.items() if k in _OPTIONS}
    timeout = options.get("timeout")
    if timeout is not None:
        Timeout.coerce(timeout)  # validated now, not at the first page
    return query, timeout, check_max_retries(options.get("max_retries"))


@attrs.frozen
class _State:
    #: Path and query of the page whose records start at ``offset`` (None: complete).
    next: str | None
    offset: int
    count: int


class _Checkpoint:
    """The ``<path>.checkpoint`` file of an export, replaced atomically after every page."""

    def __init__(self, path: Path, kind: str, first: str, origin: str) -> None:
        self.path = path
        self.kind = kind
        self.first = first  # relative: path and query
        self.origin = origin

    def load(self) -> _State | None:
        try:
            data = _json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:
            data = _UNREADABLE
        if data is _UNREADABLE:
            # Raised outside the except block: the decoder's error (and the document it may
            # hold) is not kept as this error's __context__.
            raise InvalidParameterError(
                f"{self.path} is not a valid export checkpoint; pass resume=False "
                "(CLI: --restart) to start over"
            )
        if (
            not isinstance(data, dict)
            or data.get("version") != _CHECKPOINT_VERSION
            or data.get("kind") != self.kind
            or data.get("first") != self.first
        ):
            raise InvalidParameterError(
                f"{self.path} belongs to an export of another kind or other options; pass "
                "resume=False (CLI: --restart) to start over"
            )
        if data.get("origin") != self.origin:
            raise InvalidParameterError(
                f"{self.path} belongs to an export from another server "
                f"({cap_text(str(data.get('origin')), 200)}); resume it with that base_url, "
                "or pass resume=False (CLI: --restart) to start over here"
            )
        offset, count, next_url = data.get("offset"), data.get("count"), data.get("next")
        if type(offset) is not int or type(count) is not int or offset < 0 or count < 0:
            raise InvalidParameterError(f"{self.path} is not a valid export checkpoint")
        if next_url is not None and (not isinstance(next_url, str) or next_url[:1] != "/"):
            raise InvalidParameterError(f"{self.path} is not a valid export checkpoint")
        return _State(next_url, offset, count)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def start(self) -> _State:
        state = _State(self.first, 0, 0)
        self.save(state.next, 0, 0)
        return state

    def save(self, next_url: str | None, offset: int, count: int) -> None:
        data = {
            "version": _CHECKPOINT_VERSION,
            "kind": self.kind,
            "origin": self.origin,
            "first": self.first,
            # Relative, like "first": the origin is recorded once, above.
            "next": _relative(next_url) if next_url is not None else None,
            "offset": offset,
            "count": count,
        }
        partial = self.path.with_name(self.path.name + ".tmp")
        partial.write_bytes(_json.dumps(data))
        # Write-then-rename: a crash leaves the old checkpoint or the new one, never a torn one.
        os.replace(partial, self.path)


def _recover(out: Any, offset: int, target: Path) -> tuple[set[Any] | None, int, int]:
    """Inspect what an interrupted page left after ``offset``; cut a torn last line.

    Returns ``(ids of those records or None, their number, new end of file)``: ids when every
    such record has one (matched against the re-fetched page), else None (the records are
    then skipped by position). At most one page of lines follows the offset.
    """
    out.seek(0, os.SEEK_END)
    size = out.tell()
    if size < offset:
        raise InvalidParameterError(
            f"{target} is shorter than its checkpoint says (was it edited?); pass resume=False "
            "(CLI: --restart) to start over"
        )
    out.seek(offset)
    tail = out.read()
    ids: set[Any] = set()
    have_ids = True
    kept = 0
    end = offset
    for line in tail.split(b"\n")[:-1]:  # the last piece has no newline: torn or empty
        try:
            record = _json.loads(line)
        except ValueError:
            break  # a line cut by the crash and then partly rewritten: stop here
        kept += 1
        end += len(line) + 1
        record_id = record.get("id") if isinstance(record, dict) else None
        if isinstance(record_id, str | int):
            ids.add(record_id)
        else:
            have_ids = False
    out.seek(end)
    out.truncate()
    return (ids if have_ids and kept else None), kept, end
