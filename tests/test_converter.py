"""The one converter: datetimes, strict scalars, null arrays, dispatch on ``type``, error paths,
and unstructuring back to the wire shape."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from _core_support import GENERATIONS, assistant_message, conversation, event, modal, response
from hypothesis import given, settings
from hypothesis import strategies as st

import moveworks_async as mw
from moveworks_async._converter import structure, unstructure


def _conv(**fields: Any) -> dict[str, Any]:
    return {"conversation_id": "conv_1", "created_at": "2025-01-20T10:00:00Z", **fields}


# --- datetimes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-20T10:00:00Z", datetime(2025, 1, 20, 10, 0, tzinfo=UTC)),
        ("2026-09-25T18:40:42.411933Z", datetime(2026, 9, 25, 18, 40, 42, 411933, tzinfo=UTC)),
        ("2026-09-25T18:40:42.4Z", datetime(2026, 9, 25, 18, 40, 42, 400000, tzinfo=UTC)),
        ("2025-01-20T10:00:00+00:00", datetime(2025, 1, 20, 10, 0, tzinfo=UTC)),
        (
            "2025-01-20T12:00:00.000001+02:00",
            datetime(2025, 1, 20, 12, 0, 0, 1, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2025-01-20T10:00:00", datetime(2025, 1, 20, 10, 0, tzinfo=UTC)),
    ],
    ids=["Z", "microseconds", "tenths", "+00:00", "offset", "naive-is-utc"],
)
def test_datetimes_become_aware(text: str, expected: datetime) -> None:
    """ISO 8601 strings become aware datetimes (naive input is taken as UTC)."""
    parsed = structure(_conv(created_at=text), mw.Conversation).created_at
    assert parsed == expected
    assert parsed.tzinfo is not None
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "value",
    ["yesterday", "", 1737367200, None, ["2025-01-20"]],
    ids=["word", "empty", "epoch", "null", "list"],
)
def test_bad_datetime_is_a_validation_error(value: object) -> None:
    """A required timestamp that is not an ISO string raises with its path."""
    with pytest.raises(mw.ResponseValidationError) as info:
        structure(_conv(created_at=value), mw.Conversation)
    assert info.value.path == "$.created_at"


def test_datetime_unstructures_with_z_and_microseconds() -> None:
    """UTC datetimes go back to the wire as ``...Z`` with their microseconds."""
    conv = mw.Conversation("conv_1", datetime(2026, 9, 25, 18, 40, 42, 411933, tzinfo=UTC))
    assert unstructure(conv)["created_at"] == "2026-09-25T18:40:42.411933Z"
    offset = datetime(2025, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert unstructure(mw.Conversation("c", offset))["created_at"] == "2025-01-01T12:00:00+02:00"


# --- strict scalars, null arrays, unknown fields ---------------------------------------------


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"conversation_id": 123}, "$.conversation_id"),
        ({"conversation_id": None}, "$.conversation_id"),
        ({"title": {"text": "x"}}, "$.title"),
        ({"title": 5}, "$.title"),
        ({"archived": "true"}, "$.archived"),
        ({"archived": 1}, "$.archived"),
    ],
    ids=["id-int", "id-null", "title-object", "title-int", "archived-str", "archived-int"],
)
def test_scalars_are_checked_not_coerced(fields: dict[str, Any], path: str) -> None:
    """Wrong scalar types raise instead of being coerced (``str({})`` is not a title)."""
    with pytest.raises(mw.ResponseValidationError) as info:
        structure(_conv(**fields), mw.Conversation)
    assert info.value.path == path


def test_offset_must_be_an_integer() -> None:
    """A content reference offset of ``"8"`` or ``8.5`` is refused."""
    for bad in ("8", 8.5, True):
        with pytest.raises(mw.ResponseValidationError) as info:
            structure({"citation_id": "c", "offset": bad}, mw.ContentReference)
        assert info.value.path == "$.offset"


@pytest.mark.parametrize("field", ["citations", "content_references", "actions"])
@pytest.mark.parametrize("how", ["null", "absent"])
def test_null_or_absent_arrays_are_empty_tuples(field: str, how: str) -> None:
    """Arrays sent as ``null`` or omitted become ``()``."""
    payload = assistant_message("v1")
    if how == "null":
        payload[field] = None
    else:
        del payload[field]
    assert getattr(structure(payload, mw.Message), field) == ()


def test_null_outputs_and_attributes_are_empty() -> None:
    """``outputs: null`` and ``display.attributes: null`` become ``()``."""
    resp = structure(response("COMPLETED", outputs=None), mw.Response)
    assert resp.outputs == ()
    display = structure({"title": None, "attributes": None}, mw.CitationDisplay)
    assert display.attributes == ()


def test_array_of_the_wrong_shape_is_an_error() -> None:
    """An object where an array belongs raises with the array's path."""
    with pytest.raises(mw.ResponseValidationError) as info:
        structure(response("COMPLETED", outputs={"0": {}}), mw.Response)
    assert info.value.path == "$.outputs"


def test_unknown_fields_are_ignored_at_every_level() -> None:
    """New fields anywhere in a payload do not break parsing and are not kept."""
    payload = response("COMPLETED")
    payload["brand_new"] = {"x": 1}
    message = payload["outputs"][1]["message"]
    message["mood"] = "cheerful"
    message["content"]["commonmark_text"]["lang"] = "en"
    message["citations"][0]["display"]["color"] = "blue"
    message["actions"][0]["style"] = "primary"
    message["feedback"]["helpful"]["emoji"] = ":+1:"
    payload["outputs"][0]["reasoning_message"]["duration_ms"] = 12
    assert structure(payload, mw.Response) == structure(response("COMPLETED"), mw.Response)


# --- dispatch on type ------------------------------------------------------------------------


def test_unknown_output_type_is_kept_raw() -> None:
    """An unknown output item type becomes UnknownOutput carrying the raw mapping."""
    raw = {"type": "TOOL_CALL", "tool_call": {"name": "lookup", "args": {"q": "vpn"}}}
    resp = structure(response("COMPLETED", outputs=[raw]), mw.Response)
    (item,) = resp.outputs
    assert isinstance(item, mw.UnknownOutput)
    assert item.type == "TOOL_CALL"
    assert item.raw == raw
    assert item.id is None
    assert resp.text == ""


def test_output_without_type_is_unknown() -> None:
    """An output item with no (or a non-string) ``type`` is UnknownOutput with type ``""``."""
    resp = structure(response("COMPLETED", outputs=[{"message": {}}, {"type": 7}]), mw.Response)
    assert [type(o) for o in resp.outputs] == [mw.UnknownOutput, mw.UnknownOutput]
    assert resp.outputs[0].type == ""


def test_unknown_content_type_is_kept_raw() -> None:
    """An unknown content type becomes UnknownContent (text ``""``) with the raw payload."""
    raw = {"type": "ADAPTIVE_CARD", "adaptive_card": {"body": [{"type": "TextBlock"}]}}
    payload = assistant_message("v1")
    payload["content"] = raw
    msg = structure(payload, mw.Message)
    assert isinstance(msg.content, mw.UnknownContent)
    assert isinstance(msg.content, mw.Content)
    assert msg.content.type == "ADAPTIVE_CARD"
    assert msg.content.raw == raw
    assert msg.text == ""


def test_unknown_action_type_is_kept_raw() -> None:
    """An unknown action type becomes UnknownAction with its label and raw payload."""
    raw = {"type": "FORM_ACTION", "label": "Fill", "form_action": {"form_id": "f1"}}
    payload = assistant_message("v1")
    payload["actions"] = [raw, {"type": "X", "label": None}]
    msg = structure(payload, mw.Message)
    assert msg.actions[0] == mw.UnknownAction(type="FORM_ACTION", label="Fill", raw=raw)
    assert msg.actions[1].label is None


@pytest.mark.parametrize("kind", ["PLAIN_TEXT", "COMMONMARK_TEXT", "MARKDOWN_TEXT"])
def test_text_content_reads_the_lowercased_payload(kind: str) -> None:
    """Each text type reads ``text`` under its lower-cased type name."""
    content = structure({"type": kind, kind.lower(): {"text": "hi"}}, mw.Content)
    assert (type(content), content.type, content.text) == (mw.Content, kind, "hi")


def test_text_content_missing_payload_is_empty_text() -> None:
    """A text type without its payload object reads as empty text (lenient history reads)."""
    assert structure({"type": "PLAIN_TEXT"}, mw.Content).text == ""


# --- malformed payloads ----------------------------------------------------------------------


def _message_path(path: str) -> str:
    return "$.outputs[1].message" + path


def _break(mutate: Any) -> dict[str, Any]:
    payload = response("COMPLETED", "v1")
    mutate(payload["outputs"][1]["message"])
    return payload


MALFORMED = [
    pytest.param(
        lambda m: m["content"]["commonmark_text"].update(text={}),
        _message_path(".content.commonmark_text.text"),
        id="content-text-object",
    ),
    pytest.param(lambda m: m.update(content="hello"), _message_path(".content"), id="content-str"),
    pytest.param(lambda m: m.update(content=None), _message_path(".content"), id="content-null"),
    pytest.param(lambda m: m.pop("message_id"), _message_path(".message_id"), id="missing-id"),
    pytest.param(
        lambda m: m.update(created_at="soon"), _message_path(".created_at"), id="bad-date"
    ),
    pytest.param(
        lambda m: m.update(citations=[None]), _message_path(".citations[0]"), id="null-citation"
    ),
    pytest.param(
        lambda m: m["citations"][1]["display"]["attributes"][0].update(value=3),
        _message_path(".citations[1].display.attributes[0].value"),
        id="attribute-value",
    ),
    pytest.param(
        lambda m: m["actions"][0].pop("callback_action"),
        _message_path(".actions[0]"),
        id="callback-action-without-id",
    ),
    pytest.param(
        lambda m: m["actions"][1]["url_action"].update(url=5),
        _message_path(".actions[1]"),
        id="url-action-url-int",
    ),
    pytest.param(
        lambda m: m["content_references"][0].update(offset="8"),
        _message_path(".content_references[0].offset"),
        id="offset-str",
    ),
    pytest.param(
        lambda m: m["feedback"]["helpful"].pop("callback_id"),
        _message_path(".feedback.helpful.callback_id"),
        id="feedback-no-callback",
    ),
    pytest.param(
        lambda m: m.update(
            content={"type": "PLAIN_TEXT", "plain_text": {"text": "x", "files": [{}]}}
        ),
        _message_path(".content.plain_text.files[0].file_id"),
        id="file-without-id",
    ),
    pytest.param(
        lambda m: m["handoff"]["handoff_categories"][0]["handoff_items"][0]["action"].update(
            label=None
        ),
        _message_path(".handoff.handoff_categories[0].handoff_items[0].action"),
        id="handoff-action-label",
    ),
    pytest.param(lambda m: m.update(actor=["USER"]), _message_path(".actor"), id="actor-list"),
]


@pytest.mark.parametrize(("mutate", "path"), MALFORMED)
def test_malformed_message_raises_with_path(mutate: Any, path: str) -> None:
    """A malformed nested field raises ResponseValidationError naming its path and request id."""
    with pytest.raises(mw.ResponseValidationError) as info:
        structure(_break(mutate), mw.Response, request_id="rid-42")
    assert info.value.path == path
    assert info.value.request_id == "rid-42"
    assert path in str(info.value)
    assert "rid-42" in str(info.value)


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        ({"status": "COMPLETED"}, "$.response_id"),
        (response(status=3), "$.status"),
        (response(outputs=["MESSAGE"]), "$.outputs[0]"),
        (response(outputs=[{"type": "MESSAGE"}]), "$.outputs[0].message"),
        (response(outputs=[{"type": "MESSAGE", "message": []}]), "$.outputs[0].message"),
        (
            response(outputs=[{"type": "REASONING_MESSAGE", "reasoning_message": {"content": 5}}]),
            "$.outputs[0].reasoning_message",
        ),
        (response(error="boom"), "$.error"),
    ],
    ids=[
        "missing-id",
        "status-int",
        "output-str",
        "message-missing",
        "message-list",
        "reasoning",
        "error-str",
    ],
)
def test_malformed_response_paths(payload: Any, path: str) -> None:
    """Top-level and output-level problems are reported at the right path."""
    with pytest.raises(mw.ResponseValidationError) as info:
        structure(payload, mw.Response)
    assert info.value.path.startswith(path)


@pytest.mark.parametrize(
    "body",
    [[], [response()], "COMPLETED", 42, 4.2, True, None],
    ids=["empty-list", "list", "string", "int", "float", "bool", "null"],
)
@pytest.mark.parametrize("cls", [mw.Response, mw.Conversation, mw.Event, mw.Modal, mw.Message])
def test_non_object_body_raises_at_root(body: object, cls: type[Any]) -> None:
    """A body that is not an object at all raises at ``$`` (never a bare cattrs/KeyError)."""
    with pytest.raises(mw.ResponseValidationError) as info:
        structure(body, cls, request_id="rid")
    assert info.value.path == "$"
    assert info.value.request_id == "rid"
    assert "expected an object" in info.value.message


def test_validation_error_hides_cattrs_internals() -> None:
    """The raised error does not chain the cattrs exception as its cause."""
    with pytest.raises(mw.ResponseValidationError) as info:
        structure(response(status=None), mw.Response)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


# --- unstructure: back to the wire shape -----------------------------------------------------


@pytest.mark.parametrize("generation", GENERATIONS)
def test_round_trip_of_realistic_payloads(generation: str) -> None:
    """structure(unstructure(x)) == x for responses, events and conversations of each generation."""
    for payload, cls in [
        (response("COMPLETED", generation), mw.Response),
        (event(generation=generation, created_at=generation != "v1beta1"), mw.Event),
        (conversation(), mw.Conversation),
    ]:
        value = structure(payload, cls)
        wire = unstructure(value)
        assert json.loads(json.dumps(wire)) == wire  # JSON-ready: plain dicts, lists, strings
        assert structure(wire, cls) == value


def test_unstructure_gives_the_wire_shape() -> None:
    """Content, actions, outputs, enums and datetimes unstructure to the documented JSON shape."""
    payload = response("COMPLETED", "v1")
    wire = unstructure(structure(payload, mw.Response))
    assert wire["status"] == "COMPLETED"
    assert type(wire["status"]) is str
    assert wire["created_at"] == "2025-01-20T10:00:00Z"
    reasoning, message = wire["outputs"]
    assert reasoning == payload["outputs"][0]
    sent = payload["outputs"][1]["message"]
    assert wire["outputs"][1]["type"] == "MESSAGE"
    msg = message["message"]
    assert msg["content"] == sent["content"]
    assert msg["actions"] == sent["actions"]
    assert msg["content_references"] == sent["content_references"]
    assert msg["feedback"] == sent["feedback"]
    assert msg["sender_info"] == sent["sender_info"]
    assert msg["created_at"] == sent["created_at"]
    assert msg["actor"] == "ASSISTANT"
    assert msg["citations"][0]["display"] == sent["citations"][0]["display"]


def test_unstructure_conversation_equals_payload() -> None:
    """A full Conversation unstructures to exactly the payload it came from."""
    payload = conversation()
    assert unstructure(structure(payload, mw.Conversation)) == payload


def test_unknown_values_unstructure_to_their_raw_payloads() -> None:
    """Unknown outputs, contents and actions go back out exactly as they came in."""
    out = {"type": "TOOL_CALL", "tool_call": {"name": "x"}}
    content = {"type": "ADAPTIVE_CARD", "adaptive_card": {"v": 1}}
    action = {"type": "FORM_ACTION", "label": "Fill", "form_action": {"id": 1}}
    payload = response("COMPLETED")
    message = payload["outputs"][1]["message"]
    message["content"] = content
    message["actions"] = [action]
    payload["outputs"].append(out)
    wire = unstructure(structure(payload, mw.Response))
    assert wire["outputs"][2] == out
    assert wire["outputs"][1]["message"]["content"] == content
    assert wire["outputs"][1]["message"]["actions"] == [action]


def test_callback_content_and_files_unstructure() -> None:
    """Callback content and attached files take their wire shape."""
    callback = {"type": "CALLBACK_ACTION_CONTENT", "callback_action": {"callback_id": "cb"}}
    assert unstructure(structure(callback, mw.Content)) == callback
    with_files = {
        "type": "PLAIN_TEXT",
        "plain_text": {"text": "see", "files": [{"file_id": "f1", "file_name": "a.png"}]},
    }
    assert unstructure(structure(with_files, mw.Content)) == with_files


def test_modal_field_unstructures_to_raw() -> None:
    """A modal field goes back out as the full payload it came from."""
    payload = modal()
    wire = unstructure(structure(payload, mw.Modal))
    assert wire["fields"] == payload["fields"]


def test_structure_does_not_mutate_input() -> None:
    """Parsing leaves the decoded JSON untouched."""
    payload = response("COMPLETED", "v1")
    before = copy.deepcopy(payload)
    structure(payload, mw.Response)
    assert payload == before


# --- properties ------------------------------------------------------------------------------

_ids = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_",
    min_size=1,
    max_size=24,
)
_text = st.text(max_size=40)
_aware = st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7, minutes=-30))]
    ),
)
_text_content = st.builds(
    mw.Content,
    type=st.sampled_from(["PLAIN_TEXT", "COMMONMARK_TEXT", "MARKDOWN_TEXT"]),
    text=_text,
)
_callback_content = st.builds(mw.Content, type=st.just("CALLBACK_ACTION_CONTENT"), callback_id=_ids)
_content = st.one_of(_text_content, _callback_content)
_action = st.one_of(
    st.builds(mw.CallbackAction, label=_text, callback_id=_ids),
    st.builds(mw.UrlAction, label=_text, url=_text),
    st.builds(mw.ModalAction, label=_text, modal_id=_ids),
)
_status = st.one_of(
    st.sampled_from(list(mw.ResponseStatus)),
    st.builds(mw.ResponseStatus, st.sampled_from(["PAUSED", "QUEUED"])),
)
_message = st.builds(
    mw.Message,
    message_id=_ids,
    conversation_id=_ids,
    response_id=_ids,
    actor=st.sampled_from(list(mw.ActorType)),
    content=_content,
    created_at=_aware,
    citations=st.lists(
        st.builds(mw.Citation, citation_id=_ids, url=st.none() | _text), max_size=3
    ).map(tuple),
    content_references=st.lists(
        st.builds(mw.ContentReference, citation_id=_ids, offset=st.integers(0, 10_000)), max_size=3
    ).map(tuple),
    actions=st.lists(_action, max_size=3).map(tuple),
    feedback=st.none() | st.builds(mw.MessageFeedback, helpful=st.builds(mw.FeedbackOption, _ids)),
)
_response = st.builds(
    mw.Response,
    response_id=_ids,
    conversation_id=_ids,
    status=_status,
    created_at=_aware,
    completed_at=st.none() | _aware,
    outputs=st.lists(st.builds(mw.MessageOutput, _message), max_size=3).map(tuple),
)
_conversation = st.builds(
    mw.Conversation,
    conversation_id=_ids,
    created_at=_aware,
    updated_at=st.none() | _aware,
    title=st.none() | _text,
    archived=st.none() | st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(st.one_of(_conversation, _message, _response))
def test_round_trip_property(value: Any) -> None:
    """Any model value survives unstructure -> JSON -> structure unchanged."""
    wire = json.loads(json.dumps(unstructure(value)))
    assert structure(wire, type(value)) == value


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
        max_leaves=12,
    )
)
def test_arbitrary_json_never_escapes_as_a_bare_error(data: Any) -> None:
    """Any JSON value either parses as a Response or raises ResponseValidationError."""
    path = "$"
    try:
        structure(data, mw.Response)
    except mw.ResponseValidationError as exc:
        path = exc.path
    assert path.startswith("$")


@pytest.mark.parametrize("bad", ["boom", ["x"], 3, True], ids=["str", "list", "int", "bool"])
@pytest.mark.parametrize(
    ("field", "path"),
    [
        ("feedback", "$.feedback"),
        ("sender_info", "$.sender_info"),
        ("handoff", "$.handoff"),
    ],
)
def test_non_object_where_an_optional_object_belongs(bad: object, field: str, path: str) -> None:
    """A scalar or list in place of an all-optional object is an error, not an empty instance."""
    payload = assistant_message("v1")
    payload[field] = bad
    with pytest.raises(mw.ResponseValidationError) as info:
        structure(payload, mw.Message)
    assert info.value.path == path


@pytest.mark.parametrize("bad", ["boom", ["x"]], ids=["str", "list"])
def test_non_object_response_error_and_acknowledgements(bad: object) -> None:
    """``Response.error`` and the all-optional acknowledgement bodies refuse non-objects."""
    with pytest.raises(mw.ResponseValidationError) as info:
        structure(response("FAILED", error=bad), mw.Response)
    assert info.value.path == "$.error"
    for cls in (mw.ModalSubmission, mw.FeedbackResult, mw.ErrorDetail):
        with pytest.raises(mw.ResponseValidationError) as info:
            structure(bad, cls)
        assert info.value.path == "$"


def test_valid_payload_survives_a_fast_path_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the fast converter wrongly rejects a valid payload, the detailed one's result is used."""
    from moveworks_async import _converter

    class Broken:
        def structure(self, data: Any, cls: Any) -> Any:
            raise KeyError("fast path bug")

    monkeypatch.setattr(_converter, "converter", Broken())
    payload = {
        "conversation_id": "conv_1",
        "created_at": "2025-01-20T10:00:00Z",
        "updated_at": "2025-01-20T10:00:00Z",
        "title": "x",
    }
    conv = _converter.structure(payload, mw.Conversation)
    assert conv.conversation_id == "conv_1"
    assert conv.title == "x"


# --- the error path of a large array costs about what the happy path costs ------------------


def _messages(count: int, bad: set[int]) -> list[Any]:
    """``count`` assistant messages; those at ``bad`` indexes have content of the wrong shape."""
    items = []
    for index in range(count):
        message = assistant_message(message_id=f"m{index}")
        if index in bad:
            message["content"] = [message["content"]]
        items.append(message)
    return items


def test_detailed_array_hook_stops_at_the_first_failure() -> None:
    """The detailed converter's error tree holds one failure, not one per bad item (issue 12:
    60,000 bad messages took seconds and +236 MB to collect)."""
    from cattrs.errors import IterableValidationError

    from moveworks_async import _converter

    with pytest.raises(IterableValidationError) as info:
        _converter._detailed.structure(_messages(500, set(range(500))), tuple[mw.Message, ...])
    assert len(info.value.exceptions) == 1


@pytest.mark.parametrize("bad_index", [0, 1, 299])
def test_array_error_reads_only_the_failing_item_in_detail(
    monkeypatch: pytest.MonkeyPatch, bad_index: int
) -> None:
    """Only the first rejected item reaches the detailed converter; the error is the one the
    detailed converter gives for the whole array (same path and message)."""
    from moveworks_async import _converter

    payload = _messages(300, set(range(bad_index, 300, 2)))
    try:
        _converter._detailed.structure(payload, tuple[mw.Message, ...])
    except Exception as exc:
        expected = _converter._first_path(exc)
    else:  # pragma: no cover - the payload is malformed
        raise AssertionError("the detailed converter accepted a malformed page")

    calls: list[Any] = []
    detailed = _converter._detailed

    class Counting:
        def structure(self, data: Any, cls: Any) -> Any:
            calls.append((data, cls))
            return detailed.structure(data, cls)

    monkeypatch.setattr(_converter, "_detailed", Counting())
    with pytest.raises(mw.ResponseValidationError) as info:
        structure(payload, tuple[mw.Message, ...], request_id="rid")
    assert calls == [(payload[bad_index], mw.Message)]
    assert info.value.path == expected[1] == f"$[{bad_index}].content"
    assert info.value.message == f"cannot read tuple: {expected[0]}"
    assert info.value.request_id == "rid"


def test_valid_array_survives_a_fast_path_item_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the fast converter wrongly rejects an item the detailed one accepts, the detailed
    converter judges the whole array (and accepts it)."""
    from moveworks_async import _converter

    def broken(data: Any, cls: Any) -> Any:
        raise KeyError("fast path bug")

    payload = _messages(3, set())
    expected = structure(payload, tuple[mw.Message, ...])
    monkeypatch.setitem(_converter._fast_hooks, tuple[mw.Message, ...], broken)
    monkeypatch.setitem(_converter._fast_hooks, mw.Message, broken)
    assert structure(payload, tuple[mw.Message, ...]) == expected
