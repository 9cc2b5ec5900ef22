"""The one exception tree of moveworks-async.

This module is a leaf: it imports nothing from the package, so every other module can raise
from it without import cycles and every attribute keeps a precise type.

::

    MoveworksError
    ├── InvalidParameterError (also ValueError)   bad input, raised before any I/O
    ├── ClientStateError (also RuntimeError)      a closed client, another event loop, stream misuse
    ├── UnsupportedOperationError                 endpoint absent in the configured API generation
    ├── GovernorUnavailableError                  Redis governor down with on_redis_error="closed"
    ├── SlowConsumerError                         a tee() consumer fell too far behind
    ├── WaitTimeoutError (also TimeoutError)      responses.wait() passed its deadline
    ├── NotificationBatchError                    a notifications.send_many() batch failed
    └── APIError                                  the server or the wire (.outcome_unknown)
        ├── APIStatusError                        non-2xx reply (.status_code .code .body)
        │   ├── BadRequestError                   400
        │   ├── AuthenticationError               401
        │   ├── PermissionDeniedError             403
        │   ├── NotFoundError                     404
        │   ├── RateLimitError                    429 (.retry_after)
        │   └── InternalServerError               5xx
        ├── APIConnectionError                    transport failure
        │   ├── APITimeoutError                   a timeout (.phase, a TimeoutPhase)
        │   │   ├── ConnectTimeout                connecting (Timeout.connect)
        │   │   ├── ReadTimeout                   waiting for the reply (Timeout.read)
        │   │   ├── TotalTimeout                  the whole call (Timeout.total)
        │   │   ├── FirstEventTimeout             a stream's first_event_timeout
        │   │   ├── IdleTimeout                   a stream's idle_timeout
        │   │   └── DeadlineTimeout               a stream's deadline
        │   └── StreamInterruptedError            a stream ended before its terminal event
        ├── StreamError                           an ERROR event in a stream (.code .response_id)
        ├── StreamProtocolError                   undecodable stream (.response_id)
        ├── ResponseValidationError               a payload that cannot be understood (.path)
        └── UnexpectedResponseError               a 2xx reply of the wrong content type

No exception carries the bearer token: messages are built from status, code, server message and
request id only, and aiohttp exceptions (whose ``request_info`` holds the request headers) are never
chained as ``__cause__``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ClientStateError",
    "ConnectTimeout",
    "DeadlineTimeout",
    "FirstEventTimeout",
    "IdleTimeout",
    "InternalServerError",
    "InvalidParameterError",
    "MoveworksError",
    "NotFoundError",
    "NotificationBatchError",
    "PermissionDeniedError",
    "RateLimitError",
    "ReadTimeout",
    "GovernorUnavailableError",
    "ResponseValidationError",
    "SlowConsumerError",
    "StreamError",
    "StreamInterruptedError",
    "StreamProtocolError",
    "TimeoutPhase",
    "TotalTimeout",
    "UnexpectedResponseError",
    "UnsupportedOperationError",
    "WaitTimeoutError",
]


def _suffix(request_id: str | None) -> str:
    return f" (request id {request_id})" if request_id else ""


class MoveworksError(Exception):
    """Root of every exception this package raises on purpose."""


class InvalidParameterError(MoveworksError, ValueError):
    """An argument was rejected before any request was sent.

    The message names the parameter and the rule, never the offending value: the value may be a
    secret (a token pasted into the wrong field) or an attack string.
    """


class ClientStateError(MoveworksError, RuntimeError):
    """An object was used in a state that does not allow it: a closed client, a client used
    from another event loop than its own, a ``ResponseStream`` used outside ``async with`` or
    after it closed, read by two tasks at once. A programming error; nothing was sent, except
    by a read that the client's close ended on the wire (a ``get``, a ``wait``), which is safe
    to make again (a stream whose recovery the close ended raises
    ``StreamInterruptedError`` with its ``response_id`` instead). A create that may have
    been sent when the client closed (a stream whose reply arrived after the close too)
    raises ``APIConnectionError(outcome_unknown=True)`` instead.

    A ``RuntimeError`` too, so ``except RuntimeError`` written before it existed still works.
    """


#: The message of the ClientStateError of a call whose client closed while it ran (a read on
#: the wire, a wait the close ended): one wording wherever the close is noticed.
CLOSED_DURING_CALL = "this AsyncMoveworks client closed during the call"


class UnsupportedOperationError(MoveworksError):
    """The endpoint does not exist in the client's configured API generation."""


class GovernorUnavailableError(MoveworksError):
    """The shared rate limit cannot be enforced: Redis is unreachable and the governor was
    built with ``on_redis_error="closed"``. Nothing was sent."""


class SlowConsumerError(MoveworksError):
    """A ``ResponseStream.tee`` consumer fell more than ``max_buffer`` events behind.

    It was disconnected so the other consumers are neither blocked nor make the buffer grow;
    the stream itself goes on (``final_response()`` still works).
    """


class WaitTimeoutError(MoveworksError, TimeoutError):
    """``responses.wait()`` reached its deadline before a terminal status.

    ``.response`` is the last Response seen (``None`` if no poll succeeded).
    """

    def __init__(self, message: str, *, response_id: str, response: Any = None) -> None:
        super().__init__(message)
        self.response_id = response_id
        self.response = response


class NotificationBatchError(MoveworksError):
    """A batch of ``notifications.send_many()`` failed; the batches after it were not sent.

    Attributes:
        scheduled: recipients of the batches the server accepted (see ``results``).
        not_scheduled: recipients certainly not sent to: the failed batch when the server
            refused it, and every later batch.
        outcome_unknown: recipients of the failed batch when it may have been received (a
            timeout or reset after sending, a 5xx): check before sending to them again.
        results: one ``NotificationResult`` per accepted batch, in order.
        error: the error of the failed batch (also ``__cause__``).
    """

    def __init__(
        self,
        message: str,
        *,
        scheduled: tuple[str, ...],
        not_scheduled: tuple[str, ...],
        outcome_unknown: tuple[str, ...],
        results: tuple[Any, ...],
        error: Exception,
    ) -> None:
        super().__init__(message)
        self.scheduled = scheduled
        self.not_scheduled = not_scheduled
        self.outcome_unknown = outcome_unknown
        self.results = results
        self.error = error


class APIError(MoveworksError):
    """Something the server (or the connection to it) did.

    ``.message`` is a human-readable explanation; ``.request_id`` is the server trace id
    (``x-moveworks-root-uuid`` or ``x-trace-id``) when one was seen. ``.outcome_unknown`` is
    True on every error raised after the server may have received a create (a timeout or
    reset after sending, a 5xx, a 2xx whose body cannot be read, a stream that broke before
    its response id was known): check before sending the create again.
    """

    outcome_unknown: bool = False

    def __init__(
        self, message: str, *, request_id: str | None = None, outcome_unknown: bool = False
    ) -> None:
        super().__init__(message + _suffix(request_id))
        self.message = message
        self.request_id = request_id
        self.outcome_unknown = outcome_unknown


class APIStatusError(APIError):
    """The server answered with a non-success HTTP status.

    Attributes: ``status_code``, ``code`` (the API's stable error code, or ``None``), ``message``,
    ``request_id``, ``body`` (parsed JSON, or a text snippet of at most 2 KiB) and
    ``outcome_unknown`` (True when a create may have been applied although this error was raised,
    for example a 502/504 from a gateway).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        request_id: str | None = None,
        body: object = None,
        headers: Mapping[str, str] | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        label = f"{status_code} {code}: {message}" if code else f"{status_code}: {message}"
        super().__init__(label, request_id=request_id, outcome_unknown=outcome_unknown)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.body = body
        self.headers: Mapping[str, str] = dict(headers or {})


class BadRequestError(APIStatusError):
    """400: a malformed request (``INVALID_INPUT``, ``INVALID_CURSOR``, ``INVALID_REQUEST``)."""


class AuthenticationError(APIStatusError):
    """401: the bearer was missing, invalid or expired (after one refresh and replay)."""


class PermissionDeniedError(APIStatusError):
    """403: forbidden, typically an ``Assistant-Name`` the org does not know."""


class NotFoundError(APIStatusError):
    """404: the resource does not exist (or the API is not enabled for the org)."""


class RateLimitError(APIStatusError):
    """429: rate limited, and no retry was left or the server asked for too long a wait.

    ``.retry_after`` is the server-requested wait in seconds, or ``None`` if it sent none.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """5xx: the server (or a gateway in front of it) failed."""


class APIConnectionError(APIError):
    """The request could not be completed on the wire.

    ``outcome_unknown`` is True when the request may have reached the server (a reset after
    sending, a timeout waiting for the reply): for a create, check before sending again.
    ``tls`` is True when the server's TLS certificate failed verification; such an error is
    never retried (another attempt cannot fix a wrong certificate) and nothing was sent.
    """

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        outcome_unknown: bool = False,
        tls: bool = False,
    ) -> None:
        super().__init__(message, request_id=request_id, outcome_unknown=outcome_unknown)
        self.tls = tls


class TimeoutPhase(enum.StrEnum):
    """Which bound an :class:`APITimeoutError` reached (a ``str``: ``phase == "read"`` works)."""

    CONNECT = "connect"
    """Establishing the connection (``Timeout.connect``, a stream's ``connect_timeout``)."""
    READ = "read"
    """Waiting for the reply (``Timeout.read``)."""
    TOTAL = "total"
    """The whole call, retries and waits included (``Timeout.total``)."""
    FIRST_EVENT = "first_event"
    """A stream's ``first_event_timeout``."""
    IDLE = "idle"
    """A stream's ``idle_timeout``."""
    DEADLINE = "deadline"
    """A stream's ``deadline``."""


class APITimeoutError(APIConnectionError):
    """A timeout. Catch a subclass for one kind (:class:`ConnectTimeout`, :class:`ReadTimeout`,
    :class:`TotalTimeout`, :class:`FirstEventTimeout`, :class:`IdleTimeout`,
    :class:`DeadlineTimeout`), or this class for all; ``.phase`` (a :class:`TimeoutPhase`)
    says which one.

    ``APITimeoutError(message, phase=...)`` builds the subclass of that phase, so code written
    before the subclasses existed raises and catches the same errors as before.
    """

    #: Set by each subclass; the base class takes it from the ``phase`` argument.
    phase: TimeoutPhase

    def __new__(cls, message: str, *, phase: str | None = None, **_: Any) -> APITimeoutError:
        if cls is APITimeoutError:
            if phase is None:
                raise TypeError("APITimeoutError needs phase= (or use one of its subclasses)")
            cls = _TIMEOUTS[TimeoutPhase(phase)]
        return super().__new__(cls, message)

    def __init__(
        self,
        message: str,
        *,
        phase: str | None = None,
        request_id: str | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message, request_id=request_id, outcome_unknown=outcome_unknown)
        if phase is not None and TimeoutPhase(phase) is not type(self).phase:
            raise ValueError(f"{type(self).__name__} has phase {type(self).phase.value!r}")

    def __reduce__(self) -> Any:
        # Keyword-only arguments: pickle (multiprocessing, a worker's result) rebuilds it so.
        return (_rebuild_timeout, (type(self), self.args, self.__dict__))


def _rebuild_timeout(
    cls: type[APITimeoutError], args: tuple[Any, ...], state: dict[str, Any]
) -> APITimeoutError:
    error = cls.__new__(cls, *args)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class ConnectTimeout(APITimeoutError):
    """The connection could not be established in time (nothing was sent)."""

    phase = TimeoutPhase.CONNECT


class ReadTimeout(APITimeoutError):
    """No (complete) reply within ``Timeout.read``."""

    phase = TimeoutPhase.READ


class TotalTimeout(APITimeoutError):
    """The whole call passed ``Timeout.total`` (retries, backoff and waits included)."""

    phase = TimeoutPhase.TOTAL


class FirstEventTimeout(APITimeoutError):
    """A stream sent no reply or no first event within ``first_event_timeout``."""

    phase = TimeoutPhase.FIRST_EVENT


class IdleTimeout(APITimeoutError):
    """A stream was silent for longer than ``idle_timeout``."""

    phase = TimeoutPhase.IDLE


class DeadlineTimeout(APITimeoutError):
    """A stream passed its ``deadline`` (recovery included; no recovery is attempted)."""

    phase = TimeoutPhase.DEADLINE


_TIMEOUTS: dict[TimeoutPhase, type[APITimeoutError]] = {
    cls.phase: cls
    for cls in (
        ConnectTimeout,
        ReadTimeout,
        TotalTimeout,
        FirstEventTimeout,
        IdleTimeout,
        DeadlineTimeout,
    )
}


class StreamInterruptedError(APIConnectionError):
    """A stream ended (or stalled) before its terminal event and could not be recovered.

    ``response_id`` is the id seen in ``RESPONSE_CREATED`` or ``None``; with ``None`` the outcome
    of the create is unknown (``outcome_unknown`` is then True). A recovery whose polls failed
    raises it with the id and the poll's error as ``__cause__``.
    """

    def __init__(
        self,
        message: str,
        *,
        response_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id, outcome_unknown=response_id is None)
        self.response_id = response_id


class StreamError(APIError):
    """The server sent an ``ERROR`` event inside a stream.

    The events before it were delivered first. ``.code`` and ``.message`` come from the event;
    ``.response_id`` is the stream's response id if it was known.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        response_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}" if code else message, request_id=request_id)
        self.message = message
        self.code = code
        self.response_id = response_id


class StreamProtocolError(APIError):
    """The event stream could not be decoded: an event over the size cap, or undecodable JSON.

    ``.response_id`` is the stream's response id when the stream knew it before the error
    (from ``RESPONSE_CREATED``): poll it (``responses.wait``) to learn the outcome. With
    ``None`` the create's outcome is unknown (``outcome_unknown`` is then True). Like
    ``StreamError``, the message does not repeat the id.
    """

    def __init__(
        self,
        message: str,
        *,
        response_id: str | None = None,
        request_id: str | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message, request_id=request_id, outcome_unknown=outcome_unknown)
        self.response_id = response_id


class ResponseValidationError(APIError):
    """A payload did not have the documented shape.

    ``.path`` names the offending field (``$.outputs[0].message.content``) and ``.request_id``
    the server trace id, so the failure can be reported without the payload itself.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str,
        request_id: str | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(
            f"{message} at {path}", request_id=request_id, outcome_unknown=outcome_unknown
        )
        self.message = message
        self.path = path


class UnexpectedResponseError(APIError):
    """A success status with a body that is not what the endpoint returns (HTML on a JSON route)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message, request_id=request_id, outcome_unknown=outcome_unknown)
        self.status_code = status_code
