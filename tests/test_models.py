"""The models read realistic payloads of all three API generations, forward compatibly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs
import pytest
from _core_support import (
    GENERATIONS,
    assistant_message,
    conversation,
    event,
    modal,
    reasoning_output,
    response,
    user_message,
)

import moveworks_async as mw
from moveworks_async._converter import structure

# --- ResponseStatus and the other open enums --------------------------------------------------


@pytest.mark.parametrize(
    ("value", "terminal"),
    [("CREATED", False), ("IN_PROGRESS", False), ("COMPLETED", True), ("FAILED", True)],
)
def test_response_status_known_values(value: str, terminal: bool) -> None:
    """Documented statuses compare equal to their strings and know whether they are terminal."""
    status = mw.ResponseStatus(value)
    assert status == value
    assert status.is_terminal is terminal
    assert status.is_known


def test_response_status_unknown_value_preserved() -> None:
    """An undocumented status is kept, equals its string and is not terminal."""
    status = mw.ResponseStatus("PAUSED")
    assert status == "PAUSED"
    assert str(status) == "PAUSED"
    assert not status.is_terminal
    assert not status.is_known
    assert "PAUSED" not in [s.value for s in mw.ResponseStatus]


def test_response_status_is_a_str() -> None:
    """``ResponseStatus`` is str-valued, so it serialises and compares as a string."""
    assert isinstance(mw.ResponseStatus.COMPLETED, str)
    assert mw.ResponseStatus.COMPLETED == "COMPLETED"
    assert {"COMPLETED": 1}[mw.ResponseStatus.COMPLETED] == 1


@pytest.mark.parametrize(
    ("enum", "value"),
    [(mw.ActorType, "BOT_OF_THE_FUTURE"), (mw.EventType, "TYPING_EVENT")],
    ids=["actor", "event-type"],
)
def test_other_enums_keep_unknown_values(enum: Any, value: str) -> None:
    """Actor and event types keep unknown values too."""
    assert enum(value) == value


def test_enum_rejects_non_strings() -> None:
    """Only strings become pseudo-members; other values still raise ValueError."""
    with pytest.raises(ValueError):
        mw.ResponseStatus(3)


# --- models are frozen values ----------------------------------------------------------------


def test_models_are_frozen() -> None:
    """Models cannot be mutated after parsing."""
    conv = structure(conversation(), mw.Conversation)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        conv.title = "changed"  # type: ignore[misc]


def test_models_compare_by_value() -> None:
    """Two parses of the same payload are equal and hash alike."""
    a = structure(response(), mw.Response)
    b = structure(response(), mw.Response)
    assert a == b
    assert hash(a.outputs[0]) == hash(b.outputs[0])


# --- Conversation ----------------------------------------------------------------------------


def test_conversation_fields() -> None:
    """A Conversation carries id, title, archived flag and aware timestamps."""
    conv = structure(conversation(), mw.Conversation)
    assert conv.conversation_id == "conv_32bt7BMLhLyVzTUjfi35N"
    assert conv.title == "Help with user permissions"
    assert conv.archived is False
    assert conv.created_at == datetime(2025, 1, 20, 10, 0, tzinfo=UTC)
    assert conv.updated_at == datetime(2026, 9, 25, 18, 40, 42, 411933, tzinfo=UTC)


def test_conversation_optional_fields_may_be_null_or_absent() -> None:
    """``title``/``archived`` may be null (beta HTML rendering) and ``updated_at`` absent."""
    conv = structure(
        {
            "conversation_id": "conv_1",
            "created_at": "2025-01-20T10:00:00Z",
            "title": None,
            "archived": None,
        },
        mw.Conversation,
    )
    assert conv.title is None
    assert conv.archived is None
    assert conv.updated_at is None


# --- Response across generations -------------------------------------------------------------


@pytest.mark.parametrize("generation", GENERATIONS)
def test_completed_response_of_each_generation(generation: str) -> None:
    """A COMPLETED response gives its reasoning trail, its message and ``.text``."""
    resp = structure(response("COMPLETED", generation), mw.Response)
    assert resp.status is mw.ResponseStatus.COMPLETED
    assert resp.is_terminal
    assert resp.completed_at == datetime(2026, 9, 25, 18, 40, 51, 20001, tzinfo=UTC)
    assert [type(o) for o in resp.outputs] == [mw.ReasoningOutput, mw.MessageOutput]
    assert resp.reasoning[0].text == "Searching knowledge base (1)"
    assert resp.outputs[0].id == "rmsg_1"
    assert resp.outputs[1].id == "msg_32bt8vagXAoRwRLIdI2Oj"
    assert resp.text.startswith("John Doe reports to Jane Smith")
    assert len(resp.messages) == 1


def test_created_response_has_no_outputs() -> None:
    """The 202 acknowledgement of a create (no outputs, no completed_at) parses."""
    resp = structure(
        {
            "response_id": "resp_32bt7rXXugeJjvE3pQzOk",
            "conversation_id": "conv_32bt7BMLhLyVzTUjfi35N",
            "status": "CREATED",
            "created_at": "2025-01-20T10:00:00Z",
        },
        mw.Response,
    )
    assert resp.status == "CREATED"
    assert resp.outputs == ()
    assert resp.completed_at is None
    assert resp.text == ""
    assert not resp.is_terminal


def test_failed_response_with_error_detail() -> None:
    """A FAILED response exposes the docs.moveworks.com ``error`` object and ``updated_at``."""
    resp = structure(
        response(
            "FAILED", error={"code": "INTERNAL_ERROR", "message": "boom"}, updated_at=T_UPDATED
        ),
        mw.Response,
    )
    assert resp.status is mw.ResponseStatus.FAILED
    assert resp.error == mw.ErrorDetail(code="INTERNAL_ERROR", message="boom")
    assert resp.updated_at == datetime(2026, 9, 25, 18, 41, tzinfo=UTC)


T_UPDATED = "2026-09-25T18:41:00Z"


def test_response_text_joins_message_outputs_only() -> None:
    """``Response.text`` joins message texts with blank lines and skips reasoning and empty ones."""
    second = assistant_message("v1", "msg_2")
    second["content"] = {"type": "MARKDOWN_TEXT", "markdown_text": {"text": "Second part."}}
    empty = assistant_message("v1", "msg_3")
    empty["content"] = {"type": "CALLBACK_ACTION_CONTENT", "callback_action": {"callback_id": "x"}}
    payload = response()
    payload["outputs"] += [
        reasoning_output(2),
        {"type": "MESSAGE", "message": second},
        {"type": "MESSAGE", "message": empty},
    ]
    resp = structure(payload, mw.Response)
    first = payload["outputs"][1]["message"]["content"]["commonmark_text"]["text"]
    assert resp.text == first + "\n\nSecond part."
    assert [r.reasoning_message_id for r in resp.reasoning] == ["rmsg_1", "rmsg_2"]


def test_unknown_status_parses_and_is_not_terminal() -> None:
    """A status from the future is preserved on the model and is not terminal."""
    resp = structure(response("PAUSED"), mw.Response)
    assert resp.status == "PAUSED"
    assert not resp.is_terminal


# --- Message ---------------------------------------------------------------------------------


def test_v1beta1_message_citations_with_location() -> None:
    """v1beta1 citations carry the deprecated ``location`` and a full display."""
    msg = structure(assistant_message("v1beta1"), mw.Message)
    cite = msg.citations[0]
    assert cite.citation_id == "cite_1"
    assert cite.url == "https://acme.example/kb/vpn"
    assert cite.location == mw.CitationLocation(offset=12)
    assert msg.citations[1].location is None
    assert cite.display is not None
    assert cite.display.title is not None
    assert cite.display.title.text == "**<https://acme.example/kb/vpn|VPN setup>**"
    assert cite.display.body is not None
    assert cite.display.body.type == "MARKDOWN_TEXT"
    assert cite.display.attributes == (
        mw.CitationAttribute("TICKET_STATE", "NEW"),
        mw.CitationAttribute("UPDATE_DATETIME", "2026-09-01T00:00:00Z"),
    )
    assert msg.actions == ()
    assert msg.sender_info is None
    assert msg.handoff is None


def test_message_content_references_and_feedback() -> None:
    """Content references keep their offsets; feedback gives both callback ids."""
    msg = structure(assistant_message("assistant-v1"), mw.Message)
    assert msg.content_references == (
        mw.ContentReference("cite_1", 8),
        mw.ContentReference("cite_2", 30),
    )
    assert msg.feedback == mw.MessageFeedback(
        helpful=mw.FeedbackOption("fb_up"), unhelpful=mw.FeedbackOption("fb_down")
    )
    assert msg.actor is mw.ActorType.ASSISTANT
    assert msg.text.startswith("John Doe")
    assert msg.content.type == "COMMONMARK_TEXT"


def test_assistant_v1_actions() -> None:
    """assistant-v1 messages carry callback and URL actions."""
    msg = structure(assistant_message("assistant-v1"), mw.Message)
    assert msg.actions == (
        mw.CallbackAction(label="File ticket", callback_id="cb_1"),
        mw.UrlAction(label="Open", url="https://app.moveworks.ai/r?x"),
    )


def test_v1_message_actions_sender_and_handoff() -> None:
    """rest/v1 messages add modal actions, sender info and the handoff menu."""
    msg = structure(assistant_message("v1"), mw.Message)
    assert msg.actions[2] == mw.ModalAction(label="Request laptop", modal_id="modal_1")
    assert [a.type for a in msg.actions] == ["CALLBACK_ACTION", "URL_ACTION", "MODAL_ACTION"]
    assert msg.sender_info == mw.SenderInfo("Acme Assistant", "https://acme.example/a.png")
    assert msg.handoff is not None
    category = msg.handoff.handoff_categories[0]
    assert (category.category_id, category.name, category.description) == (
        "cat_1",
        "Get Help",
        "Other help options",
    )
    action_item, text_item = category.handoff_items
    assert action_item.type == "ACTION"
    assert action_item.action == mw.UrlAction(label="Chat", url="https://acme.example/chat")
    assert text_item.type == "TEXT"
    assert text_item.text is not None
    assert text_item.text.text == "+1 555 0100"


def test_handoff_item_callback_and_modal_actions() -> None:
    """A handoff item's action is dispatched on its type like message actions are."""
    item = structure(
        {
            "title": "File ticket",
            "type": "ACTION",
            "action": {
                "type": "MODAL_ACTION",
                "label": "Form",
                "modal_action": {"modal_id": "m_2"},
            },
        },
        mw.HandoffItem,
    )
    assert item.action == mw.ModalAction(label="Form", modal_id="m_2")


def test_user_message_with_files_and_null_arrays() -> None:
    """A rest/v1 user turn keeps attached file references; null arrays become ``()``."""
    msg = structure(user_message("v1"), mw.Message)
    assert msg.actor is mw.ActorType.USER
    assert msg.content.type == "PLAIN_TEXT"
    assert msg.text == "how do I set up VPN?"
    assert msg.content.files == (
        mw.FileRef("file_1", "screenshot.png"),
        mw.FileRef("file_2", None),
    )
    assert msg.citations == ()
    assert msg.content_references == ()
    assert msg.feedback is None


def test_live_agent_message() -> None:
    """A rest/v1 LIVE_AGENT message parses with its sender info."""
    payload = assistant_message("v1")
    payload["actor"] = "LIVE_AGENT"
    payload["sender_info"] = {"display_name": "Sam (IT)", "avatar_url": None}
    msg = structure(payload, mw.Message)
    assert msg.actor is mw.ActorType.LIVE_AGENT
    assert msg.sender_info == mw.SenderInfo("Sam (IT)", None)


def test_callback_content_without_payload_object() -> None:
    """A history USER message with bare ``CALLBACK_ACTION_CONTENT`` parses (demo fixture)."""
    payload = user_message("assistant-v1")
    payload["content"] = {"type": "CALLBACK_ACTION_CONTENT"}
    msg = structure(payload, mw.Message)
    assert msg.content.type == "CALLBACK_ACTION_CONTENT"
    assert msg.content.callback_id is None
    assert msg.text == ""


def test_callback_content_with_callback_id() -> None:
    """A pressed button's callback id is read from ``callback_action``."""
    payload = user_message("assistant-v1")
    payload["content"] = {
        "type": "CALLBACK_ACTION_CONTENT",
        "callback_action": {"callback_id": "cb_9"},
    }
    assert structure(payload, mw.Message).content.callback_id == "cb_9"


# --- events and modals -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("generation", "has_created_at"),
    [("v1beta1", False), ("assistant-v1", True), ("v1", True)],
)
def test_event_with_and_without_created_at(generation: str, has_created_at: bool) -> None:
    """Events parse in every generation; v1beta1 sends no ``created_at``."""
    evt = structure(event("evt_9", created_at=has_created_at, generation=generation), mw.Event)
    assert evt.event_id == "evt_9"
    assert evt.event_payload.type is mw.EventType.MESSAGE_EVENT
    assert evt.message is not None
    assert evt.message.message_id == "msg_evt"
    if has_created_at:
        assert evt.created_at == datetime(2026, 9, 25, 18, 40, 51, 20001, tzinfo=UTC)
    else:
        assert evt.created_at is None


def test_modal_fields_resolved_and_raw_kept() -> None:
    """A modal keeps field order, resolved flags, choice options and each field's raw payload."""
    m = structure(modal(), mw.Modal)
    assert m.modal_id == "modal_1"
    assert m.title == ":memo: New request"
    assert [f.name for f in m.fields] == ["intro", "summary", "model"]
    intro, summary, choice = m.fields
    assert intro.type == "DISPLAY"
    assert intro.raw["display"]["text"]["style"] == "SUBTLE"
    assert (intro.visible, intro.required, intro.read_only) == (True, False, False)
    assert summary.required
    assert summary.triggers_refresh
    assert not choice.visible
    assert choice.read_only
    assert choice.options == ({"value": "mac", "label": "Mac"}, {"value": "pc", "label": "PC"})


def test_modal_submission_and_feedback_result() -> None:
    """The two acknowledgement bodies parse."""
    assert structure({"status": "SUBMITTED"}, mw.FeedbackResult).status == "SUBMITTED"
    assert structure({"status": "ACCEPTED"}, mw.ModalSubmission).status == "ACCEPTED"
    assert structure({}, mw.ModalSubmission).status is None
