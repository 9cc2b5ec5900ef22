"""The one reply interpreter: ``(status, headers, body)`` -> a value or the typed exception.

Pure (no I/O, no client), in the manner of gidgethub's ``sansio.decipher_response``: the
attempt loop, the resources, the notifications and the Data API all read replies through
these functions, so what a reply means is decided in one place.

* :func:`failure`: a non-2xx reply -> its :class:`APIStatusError` and the server's wait
  (``Retry-After`` of a 429 or 503, in seconds), the credentials masked;
* :func:`json_body`: a 2xx reply -> its JSON document, or :class:`UnexpectedResponseError`;
* :func:`to_model`: a JSON document -> a model, or :class:`ResponseValidationError`;
* :func:`model`: both of the above, for a 2xx reply.

A create (``idempotent=False``) that the server answered 2xx was applied, whatever the body
says: every error about such a body carries ``outcome_unknown=True``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from . import _json, _wire
from ._converter import structure, structure_fast
from ._errors import APIStatusError, ResponseValidationError, UnexpectedResponseError
from ._protocol import error_from_response, parse_retry_after, request_id_from
from ._transport import Reply

__all__ = ["failure", "json_body", "model", "to_model"]

T = TypeVar("T")

#: Statuses whose ``Retry-After`` the client honours (RFC 9110 15.5.20 / 15.6.4).
RETRY_AFTER_STATUSES = frozenset({429, 503})


def failure(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secrets: tuple[str, ...] = (),
    now: Callable[[], float] = time.time,
) -> tuple[APIStatusError, float | None]:
    """The typed error of a non-2xx reply, and the server's requested wait in seconds.

    The wait is read from ``Retry-After`` on 429 and 503 only (``None`` otherwise or when
    absent); ``now`` is the wall clock an HTTP-date is measured against. ``secrets`` are
    masked in everything the error keeps from the reply.
    """
    retry_after = parse_retry_after(headers, now()) if status in RETRY_AFTER_STATUSES else None
    error = error_from_response(status, headers, body, retry_after=retry_after, secrets=secrets)
    return error, retry_after


def _is_json(headers: Mapping[str, str]) -> bool:
    # Media types are case-insensitive.
    return "json" in headers.get("Content-Type", "").lower()


def json_body(reply: Reply, idempotent: bool = True) -> Any:
    """The JSON document of a 2xx reply, or :class:`UnexpectedResponseError`.

    For a create (``idempotent=False``) the error carries ``outcome_unknown=True``: the server
    answered 2xx, so the create may well have been applied.
    """
    if not _is_json(reply.headers):
        content_type = reply.headers.get("Content-Type", "")
        raise UnexpectedResponseError(
            f"expected JSON, got {content_type or 'no content type'}",
            status_code=reply.status,
            request_id=request_id_from(reply.headers),
            outcome_unknown=not idempotent,
        )
    try:
        return _json.loads(reply.body)
    except ValueError:
        pass
    # Raised here, not in the except block: the decoder's error (orjson's keeps the whole
    # document as ``.doc``) must not stay alive as ``__context__``.
    error = UnexpectedResponseError(
        "reply is not valid JSON",
        status_code=reply.status,
        request_id=request_id_from(reply.headers),
        outcome_unknown=not idempotent,
    )
    del reply  # this frame stays in the traceback
    raise error


def to_model(payload: Any, cls: type[T], headers: Mapping[str, str], idempotent: bool = True) -> T:
    """``payload`` as ``cls``, or :class:`ResponseValidationError` naming the path.

    The fast converter is tried first; on any failure the checking converter says why. The
    request id (from ``headers``) is only read for that error.
    """
    try:
        return structure_fast(payload, cls)
    except Exception:
        pass
    # Outside the except block (no __context__).
    try:
        return structure(payload, cls, request_id=request_id_from(headers))
    except ResponseValidationError as exc:
        exc.outcome_unknown = not idempotent
        raise


def model(reply: Reply, cls: type[T], *, key: str | None = None, idempotent: bool = True) -> T:
    """A 2xx reply's JSON (or its ``key`` member; absent: ``None``) as ``cls``.

    With msgspec (the ``speedups`` extra) the body is first read through its wire Structs
    (``_wire``); on a miss, the reference path (:func:`json_body`, then :func:`to_model`)
    decides, so the value or the error is the same either way.
    """
    if key is None and _wire.ENABLED and _is_json(reply.headers):
        value = _wire.decode(reply.body, cls)
        if value is not _wire.MISS:
            return value  # type: ignore[no-any-return]
    payload = json_body(reply, idempotent)
    if key is not None:
        payload = payload.get(key) if isinstance(payload, Mapping) else None
    return to_model(payload, cls, reply.headers, idempotent)
