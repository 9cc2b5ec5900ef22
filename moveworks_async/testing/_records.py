"""The fake server's records (conversations, responses, messages, events) and response
statuses: plain data, rendered to each generation's wire shape by ``_render``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from ._answers import Answer

__all__ = [
    "COMPLETED",
    "CREATED",
    "FAILED",
    "IN_PROGRESS",
    "TERMINAL",
    "ConversationRecord",
    "EventRecord",
    "MessageRecord",
    "ResponseRecord",
]

CREATED: Final = "CREATED"
IN_PROGRESS: Final = "IN_PROGRESS"
COMPLETED: Final = "COMPLETED"
FAILED: Final = "FAILED"
TERMINAL: Final = frozenset({COMPLETED, FAILED})


@attrs.define(eq=False)
class MessageRecord:
    """One message; immutable once created, so its per-generation renders are cached."""

    message_id: str
    conversation_id: str
    response_id: str
    actor: str
    content: dict[str, Any]
    created_at: str
    citations: list[dict[str, Any]] = attrs.Factory(list)
    content_references: list[dict[str, Any]] = attrs.Factory(list)
    feedback: dict[str, Any] | None = None
    actions: tuple[Mapping[str, Any], ...] = ()
    modal_id: str | None = None
    seq: int = 0  # position in the conversation, set when the message becomes visible
    rendered: dict[str, dict[str, Any]] = attrs.Factory(dict)

    @property
    def text(self) -> str:
        """Return the message text ('' for callback content)."""
        body = self.content.get(self.content["type"].lower(), {})
        return str(body.get("text", "")) if isinstance(body, dict) else ""


@attrs.define(eq=False)
class ResponseRecord:
    """One assistant turn and its deterministic progression."""

    response_id: str
    conversation_id: str
    created_at: str
    answer: Answer
    user_message: MessageRecord | None
    reasoning: list[dict[str, Any]]  # REASONING_MESSAGE output items (same on every generation)
    message: MessageRecord | None  # the assistant reply; None when the answer fails
    status: str = CREATED
    completed_at: str | None = None
    error: dict[str, str] | None = None
    polls: int = 0
    followups: list[MessageRecord] = attrs.Factory(list)  # system messages filed under it
    terminal_cache: dict[str, bytes] = attrs.Factory(dict)


@attrs.define(eq=False)
class EventRecord:
    """A system-initiated message event."""

    event_id: str
    conversation_id: str
    created_at: str
    message: MessageRecord


@attrs.define(eq=False)
class ConversationRecord:
    """A conversation with its visible messages (chronological) and events."""

    conversation_id: str
    title: str | None
    archived: bool
    created_at: str
    updated_at: str
    order: int  # rises on every update; the listing order and the paging key
    messages: list[MessageRecord] = attrs.Factory(list)
    message_seqs: list[int] = attrs.Factory(list)
    event_ids: list[str] = attrs.Factory(list)
