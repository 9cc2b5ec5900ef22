"""In-memory state of the fake server: conversations, responses, messages, events.

Pure bookkeeping without I/O. All orderings use creation/append sequence numbers, never
wall-clock timestamps, so pages are stable even when two things share a microsecond.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import itertools
from typing import Any, Final

from . import _render as render
from ._answers import Answer
from ._records import ConversationRecord, EventRecord, MessageRecord, ResponseRecord
from ._wire import new_id, now_iso

__all__ = [
    "ConversationRecord",
    "EventRecord",
    "InvalidCursorError",
    "MessageRecord",
    "ResponseRecord",
    "Store",
]

SYSTEM_CONVERSATION_TITLE: Final = "System Initiated Conversation"
_AUTO_TITLE_CHARS: Final = 80


@functools.lru_cache(maxsize=1024)
def _display(title: str) -> dict[str, Any]:
    # Shared between citations (never mutated): fewer live containers for the collector.
    return {
        "title": render.commonmark(title),
        "body": render.commonmark(f"Excerpt from {title}."),
        "attributes": [],
    }


@functools.lru_cache(maxsize=1024)
def _step_content(step: str) -> dict[str, Any]:
    return render.plain_text(step)


class InvalidCursorError(ValueError):
    """A pagination cursor this server did not mint (400 ``INVALID_CURSOR``)."""


def encode_cursor(kind: str, key: str) -> str:
    """Return an opaque cursor for position ``key`` of listing ``kind``."""
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> str:
    """Return the position inside ``cursor``; raise :class:`InvalidCursorError` if it is foreign."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursorError(cursor) from exc
    found, sep, key = raw.partition(":")
    if found != kind or not sep or not key:
        raise InvalidCursorError(cursor)
    return key


class Store:
    """All server state. Single-threaded: only ever touched from the server's event loop."""

    def __init__(self) -> None:
        # Insertion order of this dict *is* the updated_at order: touching a conversation
        # re-inserts it at the end, so listing newest-first is a reversed walk, no sort.
        self.conversations: dict[str, ConversationRecord] = {}
        self.responses: dict[str, ResponseRecord] = {}
        self.messages: dict[str, MessageRecord] = {}
        self.events: dict[str, EventRecord] = {}
        self.event_ids: list[str] = []  # ascending (ids sort by creation)
        self.feedback_callbacks: dict[str, tuple[str, str]] = {}  # callback -> (message, rating)
        self._seq = itertools.count(1)

    # -- conversations ---------------------------------------------------------------------

    def create_conversation(self, title: str | None) -> ConversationRecord:
        """Create an empty conversation."""
        now = now_iso()
        conv = ConversationRecord(new_id("conv_"), title, False, now, now, next(self._seq))
        self.conversations[conv.conversation_id] = conv
        return conv

    def touch(self, conv: ConversationRecord) -> None:
        """Mark ``conv`` as just updated (moves it to the top of the listing)."""
        conv.updated_at = now_iso()
        conv.order = next(self._seq)
        del self.conversations[conv.conversation_id]
        self.conversations[conv.conversation_id] = conv

    def conversations_page(
        self, archived: bool, cursor: str | None, limit: int
    ) -> tuple[list[ConversationRecord], str | None]:
        """Return one page, most recently updated first, and the next cursor.

        The cursor is the update order of the last item (keyset paging): a conversation
        updated between two page reads moves above the cursor and is not repeated.
        """
        below = None
        if cursor is not None:
            key = decode_cursor("conv", cursor)
            if not key.isdigit():
                raise InvalidCursorError(cursor)
            below = int(key)
        page: list[ConversationRecord] = []
        for conv in reversed(self.conversations.values()):
            if below is not None and conv.order >= below:
                continue
            if conv.archived != archived:
                continue
            if len(page) == limit:
                return page, encode_cursor("conv", str(page[-1].order))
            page.append(conv)
        return page, None

    # -- messages --------------------------------------------------------------------------

    def _append(self, conv: ConversationRecord, msg: MessageRecord) -> None:
        msg.seq = next(self._seq)
        conv.messages.append(msg)
        conv.message_seqs.append(msg.seq)
        self.messages[msg.message_id] = msg

    def messages_page(
        self, conv: ConversationRecord, cursor: str | None, limit: int
    ) -> tuple[list[MessageRecord], str | None]:
        """Return one page of the conversation's messages, newest first."""
        end = len(conv.messages)
        if cursor is not None:
            key = decode_cursor("msg", cursor)
            if not key.isdigit():
                raise InvalidCursorError(cursor)
            end = bisect.bisect_left(conv.message_seqs, int(key))
        start = max(0, end - limit)
        page = conv.messages[start:end][::-1]
        more = start > 0
        return page, encode_cursor("msg", str(page[-1].seq)) if more and page else None

    # -- responses -------------------------------------------------------------------------

    def create_response(
        self, conv: ConversationRecord, user_content: dict[str, Any], answer: Answer
    ) -> ResponseRecord:
        """Store the user's message and the (not yet visible) reply to it."""
        response_id = new_id("resp_")
        now = now_iso()
        user = MessageRecord(
            new_id("msg_"), conv.conversation_id, response_id, "USER", user_content, now
        )
        reasoning = [
            {
                "type": "REASONING_MESSAGE",
                "reasoning_message": {
                    "reasoning_message_id": new_id("msg_"),
                    "conversation_id": conv.conversation_id,
                    "response_id": response_id,
                    "content": _step_content(step),
                    "created_at": now,
                },
            }
            for step in answer.reasoning
        ]
        reply = None if answer.fail else self._assistant_message(conv, response_id, answer, now)
        resp = ResponseRecord(
            response_id, conv.conversation_id, now, answer, user, reasoning, reply
        )
        self.responses[response_id] = resp
        self._append(conv, user)
        if conv.title is None and user_content["type"] == "PLAIN_TEXT":
            # The real service titles untitled conversations from the first turn.
            first = user.text.strip().replace("\n", " ")[:_AUTO_TITLE_CHARS]
            conv.title = first or "New conversation"
        self.touch(conv)
        return resp

    def _assistant_message(
        self, conv: ConversationRecord, response_id: str, answer: Answer, now: str
    ) -> MessageRecord:
        text = answer.text
        citations = [
            {"citation_id": new_id("cite_"), "url": url, "display": _display(title)}
            for title, url in answer.citations
        ]
        n = len(citations)
        # Spread the references evenly through the text: ascending, inside the text.
        refs = [
            {"citation_id": c["citation_id"], "offset": len(text) * (i + 1) // (n + 1)}
            for i, c in enumerate(citations)
        ]
        helpful, unhelpful = new_id("fbk_"), new_id("fbk_")
        msg = MessageRecord(
            message_id=new_id("msg_"),
            conversation_id=conv.conversation_id,
            response_id=response_id,
            actor="ASSISTANT",
            content=render.commonmark(text),
            created_at=now,
            citations=citations,
            content_references=refs,
            feedback={"helpful": {"callback_id": helpful}, "unhelpful": {"callback_id": unhelpful}},
            actions=tuple(answer.actions),
            modal_id=new_id("modal_") if answer.modal else None,
        )
        self.feedback_callbacks[helpful] = (msg.message_id, "helpful")
        self.feedback_callbacks[unhelpful] = (msg.message_id, "unhelpful")
        self.messages[msg.message_id] = msg  # addressable (feedback, modals) before it is listed
        return msg

    def finalize(self, resp: ResponseRecord, error: dict[str, str] | None = None) -> None:
        """Move ``resp`` to its terminal state (idempotent); ``error`` forces ``FAILED``."""
        if resp.status in render.TERMINAL:
            return
        resp.completed_at = now_iso()
        if error is None and resp.answer.fail:
            error = {
                "code": "INTERNAL_ERROR",
                "message": "The assistant could not complete this response.",
            }
        if error is not None:
            resp.status, resp.error = render.FAILED, error
            return
        resp.status = render.COMPLETED
        conv = self.conversations.get(resp.conversation_id)
        if resp.message is not None and conv is not None:
            self._append(conv, resp.message)
            self.touch(conv)

    def poll(self, resp: ResponseRecord, polls_to_complete: int) -> None:
        """Count one GET: the response reaches its terminal state on GET ``polls_to_complete``."""
        if resp.status in render.TERMINAL:
            return
        resp.polls += 1
        if resp.polls >= polls_to_complete:
            self.finalize(resp)
        else:
            resp.status = render.IN_PROGRESS

    def response_messages(self, resp: ResponseRecord) -> list[MessageRecord]:
        """Return the user's input message then the visible assistant messages, oldest first."""
        out = [] if resp.user_message is None else [resp.user_message]
        if resp.message is not None and resp.status == render.COMPLETED:
            out.append(resp.message)
        out.extend(resp.followups)
        return out

    # -- events ----------------------------------------------------------------------------

    def push_event(
        self, conversation_id: str | None, text: str, response: ResponseRecord | None = None
    ) -> EventRecord:
        """Create a system-initiated assistant message and its ``MESSAGE_EVENT``.

        Without a conversation id a new "System Initiated Conversation" is created; without a
        response the message gets a response of its own (already ``COMPLETED``).
        """
        if conversation_id is None:
            conv = self.create_conversation(SYSTEM_CONVERSATION_TITLE)
        else:
            conv = self.conversations[conversation_id]
        answer = Answer(text=text, reasoning=(), citations=())
        now = now_iso()
        if response is None:
            response_id = new_id("resp_")
            msg = self._assistant_message(conv, response_id, answer, now)
            response = ResponseRecord(response_id, conv.conversation_id, now, answer, None, [], msg)
            self.responses[response_id] = response
            self.finalize(response)
        else:
            msg = self._assistant_message(conv, response.response_id, answer, now)
            response.followups.append(msg)
            self._append(conv, msg)
            self.touch(conv)
        evt = EventRecord(new_id("evt_"), conv.conversation_id, now, msg)
        self.events[evt.event_id] = evt
        self.event_ids.append(evt.event_id)
        conv.event_ids.append(evt.event_id)
        return evt

    def events_page(
        self,
        conv: ConversationRecord | None,
        starting_after: str | None,
        ending_at: str | None,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[EventRecord], str | None]:
        """Return events oldest first: after ``starting_after``, up to ``ending_at`` inclusive."""
        ids = self.event_ids if conv is None else conv.event_ids
        lower = starting_after
        if cursor is not None:
            after = decode_cursor("evt", cursor)
            lower = after if lower is None else max(lower, after)
        start = 0 if lower is None else bisect.bisect_right(ids, lower)
        stop = len(ids) if ending_at is None else bisect.bisect_right(ids, ending_at)
        chosen = ids[start : min(stop, start + limit)]
        page = [self.events[eid] for eid in chosen]
        more = start + limit < stop
        return page, encode_cursor("evt", chosen[-1]) if more and chosen else None
