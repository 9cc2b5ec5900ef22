"""``AsyncDataAPI``: the Moveworks Data API (analytics export, OData v4 style).

Requests go through the same machinery as the Conversations API client (one transport, the
attempt loop with auth, retry policy, rate governor and hooks); only the credentials differ:
Data API keys are separate from every other Moveworks credential.

Paging follows ``@odata.nextLink`` (a full URL, sent as given, never with the first page's
options added again) until it is absent or a page is empty. One page is held in memory at a
time, by the iterators and by :meth:`AsyncDataAPI.export` alike.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypedDict, TypeVar, Unpack
from urllib.parse import urlsplit

import aiohttp
import anyio
import anyio.to_thread
import attrs

from . import _json
from ._auth import ClientCredentials, TokenSource
from ._client import AsyncMoveworks, _Send, derived
from ._converter import structure_fast
from ._data_models import (
    DataConversation,
    DataInteraction,
    DataPluginCall,
    DataPluginResource,
    DataUser,
)
from ._data_query import build_query, check_next_link, kind_path, page_url, parse_page
from ._errors import InvalidParameterError
from ._governor import Governor
from ._protocol import Request, request_id_from
from ._reply import json_body
from ._retry import RetryPolicy
from ._transport import Reply, Timeout
from ._validate import check_max_retries

__all__ = ["DATA_API_KEY_ENV", "AsyncDataAPI", "QueryOptions"]

#: The environment variable read when neither ``api_key=`` nor ``auth=`` is given.
DATA_API_KEY_ENV: Final = "MOVEWORKS_DATA_API_KEY"
_CHECKPOINT_VERSION: Final = 1
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
        base_url: API host (regional hosts allowed), without ``/export/v1``; default
            ``$MOVEWORKS_BASE_URL``, else ``https://api.moveworks.ai``.
        session, timeout, max_retries, retry_policy, governor, hooks, max_connections,
            clock, sleep: as for ``AsyncMoveworks``. Pages are GETs, so a failed page is
            retried (connection errors, 408, 429, 5xx) and paging continues where it was.
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
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> None:
        if api_key is None and auth is None:
            api_key = os.environ.get(DATA_API_KEY_ENV) or None
            if api_key is None:
                raise InvalidParameterError(
                    f"pass api_key= or auth=, or set {DATA_API_KEY_ENV} "
                    "(Data API credentials are separate from the other Moveworks APIs)"
                )
        engine = AsyncMoveworks(
            # The Data API takes no Assistant-Name; ``derived`` drops the header again.
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
            clock=clock,
            sleep=sleep,
        )
        self._engine = derived(engine)
        self.base_url = engine.base_url
        self.governor = engine.governor
        self.retry_policy = engine.retry_policy

    def __repr__(self) -> str:
        return f"AsyncDataAPI(base_url={self.base_url!r}, auth={self._engine._auth!r})"

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
        engine = self._engine
        call_timeout = engine.timeout if timeout is None else Timeout.coerce(timeout)
        # The path alone names the call in hooks and logs (the query can be long).
        request = Request("GET", urlsplit(url).path, idempotent=True)
        send = _Send(url, None, call_timeout, None)
        reply: Reply = await engine._execute(request, send, max_retries=max_retries)
        request_id = request_id_from(reply.headers)
        records, link = parse_page(json_body(reply), request_id)
        return records, link, request_id

    async def _pages(
        self, url: str, timeout: Timeout | float | None, max_retries: int | None
    ) -> AsyncIterator[list[Any]]:
        next_url: str | None = url
        while next_url is not None:
            records, link, request_id = await self._page(next_url, timeout, max_retries)
            if not records:
                return
            yield records  # a page's records come before any complaint about its next link
            next_url = check_next_link(link, self.base_url, request_id)

    async def _records(
        self,
        cls: type[R],
        url: str,
        timeout: Timeout | float | None,
        max_retries: int | None,
    ) -> AsyncIterator[R]:
        from ._converter import structure

        async for records in self._pages(url, timeout, max_retries):
            for data in records:
                try:
                    record = structure_fast(data, cls)
                except Exception:
                    record = structure(data, cls)
                # ``raw``: the record as received, unknown fields included.
                yield attrs.evolve(record, raw=data)  # type: ignore[misc]

    def _iterate(self, kind: str, cls: type[R], options: QueryOptions) -> AsyncIterator[R]:
        """Validate ``options`` (before any I/O) and return the iterator of ``kind``."""
        query, timeout, max_retries = _split(options)
        segment, _ = kind_path(kind)
        url = page_url(self.base_url, segment, build_query(**query))
        return self._records(cls, url, timeout, max_retries)

    def conversations(self, **options: Unpack[QueryOptions]) -> AsyncIterator[DataConversation]:
        """Every conversation record matching ``options`` (see :class:`QueryOptions`), page
        after page; the options are validated when this is called (InvalidParameterError)."""
        return self._iterate("conversations", DataConversation, options)

    def interactions(self, **options: Unpack[QueryOptions]) -> AsyncIterator[DataInteraction]:
        """Every interaction record matching ``options`` (see :meth:`conversations`)."""
        return self._iterate("interactions", DataInteraction, options)

    def plugin_calls(self, **options: Unpack[QueryOptions]) -> AsyncIterator[DataPluginCall]:
        """Every plugin-call record matching ``options`` (see :meth:`conversations`)."""
        return self._iterate("plugin_calls", DataPluginCall, options)

    def plugin_resources(
        self, **options: Unpack[QueryOptions]
    ) -> AsyncIterator[DataPluginResource]:
        """Every plugin-resource record matching ``options`` (see :meth:`conversations`)."""
        return self._iterate("plugin_resources", DataPluginResource, options)

    def users(self, **options: Unpack[QueryOptions]) -> AsyncIterator[DataUser]:
        """Every user record matching ``options`` (see :meth:`conversations`)."""
        return self._iterate("users", DataUser, options)

    # --- export ----------------------------------------------------------------------------

    async def export(
        self,
        kind: str,
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
        file. The checkpoint holds no credentials.

        Raises:
            InvalidParameterError: bad options; or ``path`` holds an export of other options,
                or records without a checkpoint, or is shorter than its checkpoint says
                (pass ``resume=False`` to start over).
            APIError: a page failed after the retries; the file and the checkpoint stay
                consistent, so calling again resumes.
        """
        query, timeout, max_retries = _split(options)
        segment, _ = kind_path(kind)
        first = page_url(self.base_url, segment, build_query(**query))
        # File work runs in a worker thread: the event loop keeps serving other tasks.
        sink = await anyio.to_thread.run_sync(_Sink.open, Path(path), segment, first, resume)
        if sink.next is not None:
            sink.next = _rebase(sink.next, self.base_url)
        try:
            url = sink.next
            while url is not None:
                records, link, request_id = await self._page(url, timeout, max_retries)
                url = check_next_link(link, self.base_url, request_id) if records else None
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
    def open(cls, target: Path, kind: str, first: str, resume: bool) -> _Sink:
        journal = _Checkpoint(target.with_name(target.name + ".checkpoint"), kind, first)
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


def _rebase(url: str, base_url: str) -> str:
    """A checkpointed link on the current ``base_url``'s origin (the file is ours, and the
    host may be named differently than when the export began)."""
    here = urlsplit(base_url)
    return f"{here.scheme}://{here.netloc}{_relative(url)}"


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
    #: URL of the page whose records start at ``offset`` (None: the export is complete).
    next: str | None
    offset: int
    count: int


class _Checkpoint:
    """The ``<path>.checkpoint`` file of an export, replaced atomically after every page."""

    def __init__(self, path: Path, kind: str, first: str) -> None:
        self.path = path
        self.kind = kind
        self.first = first

    def load(self) -> _State | None:
        try:
            data = _json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:
            raise InvalidParameterError(
                f"{self.path} is not a valid export checkpoint; pass resume=False "
                "(CLI: --restart) to start over"
            ) from None
        if (
            not isinstance(data, dict)
            or data.get("version") != _CHECKPOINT_VERSION
            or data.get("kind") != self.kind
            or data.get("first") != _relative(self.first)
        ):
            raise InvalidParameterError(
                f"{self.path} belongs to an export of another kind or other options; pass "
                "resume=False (CLI: --restart) to start over"
            )
        offset, count, next_url = data.get("offset"), data.get("count"), data.get("next")
        if type(offset) is not int or type(count) is not int or offset < 0 or count < 0:
            raise InvalidParameterError(f"{self.path} is not a valid export checkpoint")
        if next_url is not None and not isinstance(next_url, str):
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
            "first": _relative(self.first),
            "next": next_url,
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
