"""Typed stream events: conversion of decoded SSE data into the event models."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from _stream_support import RID, message_item, reasoning_item, response_json

import moveworks_async as mw
from moveworks_async._events import EVENT_TYPES, parse_event


def _data(name: str, seq: int | None = 1, **payload: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"event_type": name, **payload}
    if seq is not None:
        data["sequence_number"] = seq
    return data


@pytest.mark.parametrize(
    ("name", "cls", "status"),
    [
        ("RESPONSE_CREATED", mw.ResponseCreated, "CREATED"),
        ("RESPONSE_IN_PROGRESS", mw.ResponseInProgress, "IN_PROGRESS"),
        ("RESPONSE_COMPLETED", mw.ResponseCompleted, "COMPLETED"),
        ("RESPONSE_FAILED", mw.ResponseFailed, "FAILED"),
    ],
)
def test_response_events(name: str, cls: type[Any], status: str) -> None:
    """Each response-carrying event becomes its class with a structured Response."""
    event = parse_event(name, _data(name, 3, response=response_json(status)))
    assert type(event) is cls
    assert not isinstance(event, mw.ResponseOutputDelta | mw.UnknownEvent)
    assert event.event_type == name
    assert event.sequence_number == 3
    assert isinstance(event.response, mw.Response)
    assert event.response.response_id == RID
    assert event.response.status == status


def test_delta_event_message() -> None:
    """RESPONSE_OUTPUT_DELTA carries a whole MessageOutput snapshot."""
    event = parse_event(
        "RESPONSE_OUTPUT_DELTA", _data("RESPONSE_OUTPUT_DELTA", 4, output=message_item("Hi"))
    )
    assert type(event) is mw.ResponseOutputDelta
    assert isinstance(event.output, mw.MessageOutput)
    assert event.output.message.text == "Hi"
    assert event.output.id == "msg_1"


def test_delta_event_reasoning() -> None:
    """A reasoning delta carries a ReasoningOutput."""
    event = parse_event(
        "RESPONSE_OUTPUT_DELTA", _data("RESPONSE_OUTPUT_DELTA", 4, output=reasoning_item("x"))
    )
    assert isinstance(event, mw.ResponseOutputDelta)
    assert isinstance(event.output, mw.ReasoningOutput)
    assert event.output.id == "rmsg_1"


def test_delta_with_unknown_output_type() -> None:
    """An output type from the future becomes UnknownOutput, not an error."""
    output = {"type": "FUTURE_OUTPUT", "future": {"x": 1}}
    event = parse_event("RESPONSE_OUTPUT_DELTA", _data("RESPONSE_OUTPUT_DELTA", 5, output=output))
    assert isinstance(event, mw.ResponseOutputDelta)
    assert isinstance(event.output, mw.UnknownOutput)
    assert event.output.type == "FUTURE_OUTPUT"


def test_missing_sequence_number_is_none() -> None:
    """An event without sequence_number has ``sequence_number is None``."""
    event = parse_event(
        "RESPONSE_CREATED", _data("RESPONSE_CREATED", None, response=response_json())
    )
    assert event.sequence_number is None


@pytest.mark.parametrize("bad", ["3", 3.0, True, None, [3]])
def test_non_integer_sequence_number_is_none(bad: object) -> None:
    """A sequence_number that is not a JSON integer is treated as absent."""
    data = {"event_type": "RESPONSE_CREATED", "sequence_number": bad, "response": response_json()}
    assert parse_event("RESPONSE_CREATED", data).sequence_number is None


def test_unknown_event() -> None:
    """An unknown event name gives UnknownEvent with the raw data and its sequence number."""
    data = {"event_type": "RESPONSE_FUTURE_THING", "sequence_number": 7, "thing": {"a": 1}}
    event = parse_event("RESPONSE_FUTURE_THING", data)
    assert event == mw.UnknownEvent("RESPONSE_FUTURE_THING", 7, data)
    assert event.event_type == "RESPONSE_FUTURE_THING"
    assert event.data["thing"] == {"a": 1}


def test_unknown_event_without_sequence_or_object() -> None:
    """Unknown events tolerate a missing sequence number and non-object data."""
    assert parse_event("PING", {"x": 1}) == mw.UnknownEvent("PING", None, {"x": 1})
    assert parse_event("PING", [1, 2]) == mw.UnknownEvent("PING", None, {"data": [1, 2]})
    assert parse_event("PING", "text") == mw.UnknownEvent("PING", None, {"data": "text"})


def test_unknown_fields_ignored() -> None:
    """Extra keys at every level are ignored."""
    response = {**response_json("COMPLETED", [message_item("ok")]), "future": True}
    data = {**_data("RESPONSE_COMPLETED", 9, response=response), "extra": {"x": 1}}
    event = parse_event("RESPONSE_COMPLETED", data)
    assert isinstance(event, mw.ResponseCompleted)
    assert event.response.text == "ok"


def test_unknown_status_is_kept() -> None:
    """An unknown status value is preserved, not rejected."""
    event = parse_event(
        "RESPONSE_IN_PROGRESS", _data("RESPONSE_IN_PROGRESS", 2, response=response_json("PAUSED"))
    )
    assert isinstance(event, mw.ResponseInProgress)
    assert event.response.status == "PAUSED"
    assert not event.response.status.is_terminal


def test_error_event_raises_stream_error() -> None:
    """ERROR raises StreamError with the server's code and message."""
    data = {"event_type": "ERROR", "error": {"code": "INTERNAL_ERROR", "message": "boom"}}
    with pytest.raises(mw.StreamError) as info:
        parse_event("ERROR", data)
    assert info.value.code == "INTERNAL_ERROR"
    assert info.value.message == "boom"
    assert isinstance(info.value, mw.APIError)


def test_error_event_without_details() -> None:
    """An ERROR event without an error object still raises a StreamError."""
    with pytest.raises(mw.StreamError) as info:
        parse_event("ERROR", {})
    assert info.value.code is None
    assert info.value.message


def test_frame_without_event_name_uses_event_type() -> None:
    """A frame with no ``event:`` line (SSE name "message") is typed by its event_type."""
    data = _data("RESPONSE_CREATED", 1, response=response_json())
    assert isinstance(parse_event("message", data), mw.ResponseCreated)
    assert parse_event("message", {"x": 1}) == mw.UnknownEvent("message", None, {"x": 1})


def test_known_event_with_non_object_data() -> None:
    """A known event whose data is not an object is a protocol error."""
    with pytest.raises(mw.StreamProtocolError):
        parse_event("RESPONSE_CREATED", [1, 2, 3])


def test_missing_response_is_validation_error_with_path() -> None:
    """A known event missing its payload raises ResponseValidationError naming the field."""
    with pytest.raises(mw.ResponseValidationError) as info:
        parse_event("RESPONSE_CREATED", {"event_type": "RESPONSE_CREATED", "sequence_number": 1})
    assert info.value.path.startswith("$.response")


def test_bad_nested_field_path() -> None:
    """A wrong type deep inside the response is reported with its path from the event data."""
    response = response_json()
    response["status"] = 5
    with pytest.raises(mw.ResponseValidationError) as info:
        parse_event("RESPONSE_CREATED", _data("RESPONSE_CREATED", 1, response=response))
    assert info.value.path == "$.response.status"


def test_events_are_frozen() -> None:
    """Event models are immutable values."""
    event = parse_event("RESPONSE_CREATED", _data("RESPONSE_CREATED", 1, response=response_json()))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.sequence_number = 2  # type: ignore[misc]


def test_terminal_events_default_not_recovered() -> None:
    """Terminal events parsed from the wire have ``recovered=False``."""
    event = parse_event(
        "RESPONSE_COMPLETED", _data("RESPONSE_COMPLETED", 8, response=response_json("COMPLETED"))
    )
    assert isinstance(event, mw.ResponseCompleted)
    assert event.recovered is False


def test_event_types_are_the_documented_enum() -> None:
    """The dispatch table covers exactly the documented StreamEventType values."""
    assert (
        frozenset(
            {
                "RESPONSE_CREATED",
                "RESPONSE_IN_PROGRESS",
                "RESPONSE_OUTPUT_DELTA",
                "RESPONSE_COMPLETED",
                "RESPONSE_FAILED",
                "ERROR",
            }
        )
        == EVENT_TYPES
    )


def test_event_type_class_attributes() -> None:
    """``event_type`` is available on the classes too, for matching."""
    assert mw.ResponseCreated.event_type == "RESPONSE_CREATED"
    assert mw.ResponseOutputDelta.event_type == "RESPONSE_OUTPUT_DELTA"
    assert mw.ResponseFailed.event_type == "RESPONSE_FAILED"
