"""Turn stored records into the wire dicts of each generation (the schemas of the repository's
``tests/data/moveworks-openapi.yaml``)."""

from __future__ import annotations

from typing import Any

from ._records import (
    COMPLETED,
    CREATED,
    FAILED,
    IN_PROGRESS,
    TERMINAL,
    ConversationRecord,
    EventRecord,
    MessageRecord,
    ResponseRecord,
)
from ._wire import Generation, dumps

__all__ = [
    "COMPLETED",
    "CREATED",
    "FAILED",
    "IN_PROGRESS",
    "TERMINAL",
    "commonmark",
    "conversation",
    "event",
    "message",
    "message_item",
    "outputs",
    "plain_text",
    "response",
    "snapshot",
    "terminal_bytes",
]


def plain_text(text: str) -> dict[str, Any]:
    """Return a ``PLAIN_TEXT`` Content."""
    return {"type": "PLAIN_TEXT", "plain_text": {"text": text}}


def commonmark(text: str) -> dict[str, Any]:
    """Return a ``COMMONMARK_TEXT`` Content."""
    return {"type": "COMMONMARK_TEXT", "commonmark_text": {"text": text}}


def conversation(conv: ConversationRecord) -> dict[str, Any]:
    """Return a ``Conversation``."""
    return {
        "conversation_id": conv.conversation_id,
        "title": conv.title,
        "archived": conv.archived,
        "created_at": conv.created_at,
        "updated_at": conv.updated_at,
    }


def _actions_for(msg: MessageRecord, gen: Generation) -> list[dict[str, Any]]:
    actions = [dict(a) for a in msg.actions if gen.has_modals or a.get("type") != "MODAL_ACTION"]
    if msg.modal_id is not None and gen.has_modals:
        actions.append(
            {
                "type": "MODAL_ACTION",
                "label": "Open form",
                "modal_action": {"modal_id": msg.modal_id},
            }
        )
    return actions


def message(msg: MessageRecord, gen: Generation) -> dict[str, Any]:
    """Return the full ``Message`` as ``gen`` shows it (cached: messages never change)."""
    cached = msg.rendered.get(gen.name)
    if cached is not None:
        return cached
    out: dict[str, Any] = {
        "message_id": msg.message_id,
        "conversation_id": msg.conversation_id,
        "response_id": msg.response_id,
        "actor": msg.actor,
        "content": msg.content,
        "created_at": msg.created_at,
    }
    if msg.actor == "ASSISTANT":
        out["citations"] = msg.citations
        out["content_references"] = msg.content_references
        out["feedback"] = msg.feedback
        if gen.has_actions:
            actions = _actions_for(msg, gen)
            if actions:  # the reference says actions are absent when there are none
                out["actions"] = actions
    msg.rendered[gen.name] = out
    return out


def message_item(msg: MessageRecord, gen: Generation) -> dict[str, Any]:
    """Return a ``MESSAGE`` OutputItem."""
    return {"type": "MESSAGE", "message": message(msg, gen)}


def response(
    resp: ResponseRecord, gen: Generation, status: str, outputs: list[dict[str, Any]]
) -> dict[str, Any]:
    """Return a ``Response`` snapshot with the given status and outputs."""
    out: dict[str, Any] = {
        "response_id": resp.response_id,
        "conversation_id": resp.conversation_id,
        "status": status,
        "created_at": resp.created_at,
        "completed_at": resp.completed_at if status in TERMINAL else None,
        "outputs": outputs,
    }
    if status == FAILED:
        out["error"] = resp.error
    return out


def event(evt: EventRecord, gen: Generation) -> dict[str, Any]:
    """Return an ``Event`` (``created_at`` is absent on v1beta1)."""
    out: dict[str, Any] = {"event_id": evt.event_id, "conversation_id": evt.conversation_id}
    if gen.event_created_at:
        out["created_at"] = evt.created_at
    out["event_payload"] = {"type": "MESSAGE_EVENT", "message": message(evt.message, gen)}
    return out


def outputs(
    resp: ResponseRecord, gen: Generation, reasoning_count: int | None = None
) -> list[dict[str, Any]]:
    """The outputs of ``resp``: the first ``reasoning_count`` reasoning items, or all + the
    message."""
    if reasoning_count is not None:
        return resp.reasoning[:reasoning_count]
    items = list(resp.reasoning)
    if resp.message is not None and resp.status == COMPLETED:
        items.append(message_item(resp.message, gen))
    return items


def snapshot(resp: ResponseRecord, gen: Generation) -> dict[str, Any]:
    """The response as a GET shows it now."""
    if resp.status in TERMINAL:
        return response(resp, gen, resp.status, outputs(resp, gen))
    count = resp.polls if resp.status == IN_PROGRESS else 0
    return response(resp, gen, resp.status, outputs(resp, gen, count))


def terminal_bytes(resp: ResponseRecord, gen: Generation) -> bytes:
    """The serialised terminal response (cached on the record: it never changes again)."""
    cached = resp.terminal_cache.get(gen.name)
    if cached is None:
        cached = resp.terminal_cache[gen.name] = dumps(snapshot(resp, gen))
    return cached
