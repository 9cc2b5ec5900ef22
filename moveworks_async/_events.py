"""Typed events of ``POST .../responses/stream`` and their conversion from decoded JSON.

The wire format (the API reference,
https://help.moveworks.com/api-reference/conversations-api/responses/create-response-stream.md)
is one SSE frame per event: the ``event``
field names the type and ``data`` holds a JSON object that repeats it as ``event_type`` next to
a ``sequence_number`` and either a ``response`` or an ``output``::

    event: RESPONSE_OUTPUT_DELTA
    data: {"event_type":"RESPONSE_OUTPUT_DELTA","sequence_number":4,"output":{"type":"MESSAGE",...}}

Every event model is a frozen attrs class with ``.event_type`` and ``.sequence_number``
(``None`` when the server sent none). The class is chosen by one dict lookup keyed by the event
name, so the cost of an event is one JSON decode plus one structure of its payload, never a
trial of union members. An event name this version does not know becomes an
:class:`UnknownEvent` carrying the decoded data (forward compatible, never an error); an
``ERROR`` event raises :class:`~moveworks_async.StreamError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final, TypeAlias

from attrs import frozen

from ._converter import converter, structure
from ._errors import ResponseValidationError, StreamError, StreamProtocolError
from ._fastpath import slot_setters
from ._models import OutputItem, Response

__all__ = [
    "EVENT_TYPES",
    "ResponseCompleted",
    "ResponseCreated",
    "ResponseFailed",
    "ResponseInProgress",
    "ResponseOutputDelta",
    "StreamEvent",
    "UnknownEvent",
    "parse_event",
]


@frozen
class ResponseCreated:
    """``RESPONSE_CREATED``: the first event; ``response.response_id`` identifies the turn."""

    sequence_number: int | None
    response: Response
    event_type: ClassVar[str] = "RESPONSE_CREATED"


@frozen
class ResponseInProgress:
    """``RESPONSE_IN_PROGRESS``: the assistant is working on the response."""

    sequence_number: int | None
    response: Response
    event_type: ClassVar[str] = "RESPONSE_IN_PROGRESS"


@frozen
class ResponseOutputDelta:
    """``RESPONSE_OUTPUT_DELTA``: a new or updated output item.

    Despite the name, ``output`` is a whole snapshot of the item, not a fragment: a later delta
    with the same message id replaces the earlier one (see ``ResponseStream.messages``).
    """

    sequence_number: int | None
    output: OutputItem
    event_type: ClassVar[str] = "RESPONSE_OUTPUT_DELTA"


@frozen
class ResponseCompleted:
    """``RESPONSE_COMPLETED``: terminal success; ``response`` holds every output.

    ``recovered`` is True when the stream did not deliver this event itself: it ended early (or
    stalled, or skipped sequence numbers) and the SDK polled the response until it was
    terminal, then synthesized this event from the polled ``response`` (``sequence_number`` is
    then ``None``).
    """

    sequence_number: int | None
    response: Response
    recovered: bool = False
    event_type: ClassVar[str] = "RESPONSE_COMPLETED"


@frozen
class ResponseFailed:
    """``RESPONSE_FAILED``: terminal failure; ``response.error`` has the details.

    ``recovered`` has the same meaning as on :class:`ResponseCompleted`.
    """

    sequence_number: int | None
    response: Response
    recovered: bool = False
    event_type: ClassVar[str] = "RESPONSE_FAILED"


@frozen
class UnknownEvent:
    """An event type this version of the package does not know.

    ``data`` is the decoded JSON object as received; data that is not a JSON object (another
    JSON value, or text that is not JSON at all) is wrapped as ``{"data": value}``. Yielded,
    not raised, so a newer server never breaks an older client.
    """

    event_type: str
    sequence_number: int | None
    data: Mapping[str, Any]


StreamEvent: TypeAlias = (
    ResponseCreated
    | ResponseInProgress
    | ResponseOutputDelta
    | ResponseCompleted
    | ResponseFailed
    | UnknownEvent
)

#: Event classes that end a stream.
TERMINAL_EVENTS: Final = (ResponseCompleted, ResponseFailed)

_EMPTY: Final[Mapping[str, Any]] = {}

# Bound once: calling the hook directly skips cattrs' per-call dispatch. On failure the public
# ``structure`` runs again for a ResponseValidationError naming the offending field.
_structure_response = converter.get_structure_hook(Response)
_structure_output = converter.get_structure_hook(OutputItem)


def _sequence(data: Mapping[str, Any]) -> int | None:
    number = data.get("sequence_number")
    # Strict: a bool is not a sequence number, and neither is "3".
    return number if type(number) is int else None


def _response(data: Mapping[str, Any], event_type: str) -> Response:
    value = data.get("response")
    try:
        return _structure_response(value, Response)  # type: ignore[no-any-return]
    except Exception:
        pass
    try:
        return structure(value, Response)
    except ResponseValidationError as exc:
        error = ResponseValidationError(
            f"{event_type} event: {exc.message}", path="$.response" + exc.path[1:]
        )
    raise error  # outside the except block: no __context__


def _output(data: Mapping[str, Any], event_type: str) -> OutputItem:
    value = data.get("output")
    try:
        return _structure_output(value, OutputItem)  # type: ignore[no-any-return]
    except Exception:
        pass
    return _output_error(value, event_type)


def _output_error(value: Any, event_type: str) -> OutputItem:
    """The slow path of a delta's output: structured again for a precise error."""
    try:
        return structure(value, OutputItem)  # type: ignore[arg-type]
    except ResponseValidationError as exc:
        error = ResponseValidationError(
            f"{event_type} event: {exc.message}", path="$.output" + exc.path[1:]
        )
    raise error  # outside the except block: no __context__


def _created(data: Mapping[str, Any]) -> ResponseCreated:
    return ResponseCreated(_sequence(data), _response(data, "RESPONSE_CREATED"))


def _in_progress(data: Mapping[str, Any]) -> ResponseInProgress:
    return ResponseInProgress(_sequence(data), _response(data, "RESPONSE_IN_PROGRESS"))


_new: Final = object.__new__
_delta_setters = slot_setters(ResponseOutputDelta)

if _delta_setters is not None and len(_delta_setters) == 2:
    _set_delta_sequence, _set_delta_output = _delta_setters

    def _delta(data: Mapping[str, Any]) -> ResponseOutputDelta:
        # The hot path of a stream, one call: what _output and ResponseOutputDelta(...) do,
        # with the instance built as attrs' __init__ would (see _fastpath.slot_setters).
        value = data.get("output")
        try:
            output = _structure_output(value, OutputItem)
        except Exception:
            output = None
        if output is None:  # outside the except block: the error gets no __context__
            output = _output_error(value, "RESPONSE_OUTPUT_DELTA")
        number = data.get("sequence_number")
        event: ResponseOutputDelta = _new(ResponseOutputDelta)
        _set_delta_sequence(event, number if type(number) is int else None)
        _set_delta_output(event, output)
        return event

else:  # pragma: no cover - an attrs that builds these classes differently

    def _delta(data: Mapping[str, Any]) -> ResponseOutputDelta:
        return ResponseOutputDelta(_sequence(data), _output(data, "RESPONSE_OUTPUT_DELTA"))


def _completed(data: Mapping[str, Any]) -> ResponseCompleted:
    return ResponseCompleted(_sequence(data), _response(data, "RESPONSE_COMPLETED"))


def _failed(data: Mapping[str, Any]) -> ResponseFailed:
    return ResponseFailed(_sequence(data), _response(data, "RESPONSE_FAILED"))


def _error(data: Mapping[str, Any]) -> StreamEvent:
    error = data.get("error")
    error = error if isinstance(error, Mapping) else _EMPTY
    code, message = error.get("code"), error.get("message")
    raise StreamError(
        message if isinstance(message, str) and message else "the stream reported an error",
        code=code if isinstance(code, str) else None,
    )


#: Builders by SSE event name; the one dispatch of the hot path.
_BUILDERS: Final[dict[str, Callable[[Mapping[str, Any]], StreamEvent]]] = {
    "RESPONSE_OUTPUT_DELTA": _delta,
    "RESPONSE_CREATED": _created,
    "RESPONSE_IN_PROGRESS": _in_progress,
    "RESPONSE_COMPLETED": _completed,
    "RESPONSE_FAILED": _failed,
    "ERROR": _error,
}

#: The documented ``StreamEventType`` values.
EVENT_TYPES: Final = frozenset(_BUILDERS)


def parse_event(event_type: str, data: Any) -> StreamEvent:
    """The typed event for SSE event name ``event_type`` and decoded JSON ``data``.

    A frame without an ``event`` field (SSE default name ``"message"``) is typed by the
    ``event_type`` member of its data. Unknown names give :class:`UnknownEvent`.

    Raises:
        StreamError: an ``ERROR`` event (``response_id`` is left for the caller to fill in).
        StreamProtocolError: a known event whose data is not a JSON object.
        ResponseValidationError: a known event whose payload does not have the documented
            shape (``.path`` starts at the event data, e.g. ``$.response.status``).
    """
    builder = _BUILDERS.get(event_type)
    if builder is not None and type(data) is dict:
        return builder(data)
    if event_type == "message" and isinstance(data, Mapping):
        named = data.get("event_type")
        if type(named) is str and named != "message":
            return parse_event(named, data)
    if builder is not None:
        if isinstance(data, Mapping):
            return builder(data)
        raise StreamProtocolError(f"{event_type} event data is not a JSON object")
    if not isinstance(data, Mapping):
        return UnknownEvent(event_type, None, {"data": data})
    return UnknownEvent(event_type, _sequence(data), data)
