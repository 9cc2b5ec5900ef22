"""Frozen attrs models of the Conversations API payloads (all three generations).

Values only: behaviour lives in the client. Conversion to and from the wire is done by the one
converter in ``_converter.py``. Rules that keep callers working when the API grows:

* unknown JSON fields are ignored;
* unknown enum values are preserved as pseudo-members (``ResponseStatus("PAUSED")`` works and
  ``== "PAUSED"`` holds), never an exception;
* unknown output, content and action types become ``UnknownOutput``/``UnknownContent``/
  ``UnknownAction`` carrying the raw mapping;
* arrays the API sends as ``null`` or omits become empty tuples.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeAlias

from attrs import field, frozen

__all__ = [
    "Action",
    "ActorType",
    "CallbackAction",
    "Citation",
    "CitationAttribute",
    "CitationDisplay",
    "CitationLocation",
    "Content",
    "ContentReference",
    "Conversation",
    "ErrorDetail",
    "Event",
    "EventPayload",
    "EventType",
    "FeedbackOption",
    "FeedbackResult",
    "FileRef",
    "Handoff",
    "HandoffCategory",
    "HandoffItem",
    "Message",
    "MessageFeedback",
    "MessageOutput",
    "Modal",
    "ModalAction",
    "ModalField",
    "ModalSubmission",
    "OutputItem",
    "ReasoningMessage",
    "ReasoningOutput",
    "Response",
    "ResponseStatus",
    "SenderInfo",
    "UnknownAction",
    "UnknownContent",
    "UnknownOutput",
    "UrlAction",
]


class _OpenEnum(StrEnum):
    """A str enum that keeps values it does not know instead of raising.

    The pseudo-member is not added to the class (iteration lists only documented values), and it
    compares equal to its string, so ``status == "PAUSED"`` works for a value from the future.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member

    @property
    def is_known(self) -> bool:
        """True for a value this version of the package documents."""
        return self._name_ in type(self).__members__


class ResponseStatus(_OpenEnum):
    """Lifecycle of a response: ``CREATED`` -> ``IN_PROGRESS`` -> ``COMPLETED`` | ``FAILED``."""

    CREATED = "CREATED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"

    @property
    def is_terminal(self) -> bool:
        """True for ``COMPLETED`` and ``FAILED``; an unknown status is not terminal."""
        return self is ResponseStatus.COMPLETED or self is ResponseStatus.FAILED


class ActorType(_OpenEnum):
    """Who wrote a message. ``LIVE_AGENT`` appears on ``/rest/v1`` only."""

    USER = "USER"
    ASSISTANT = "ASSISTANT"
    LIVE_AGENT = "LIVE_AGENT"


class EventType(_OpenEnum):
    """Type of a system-initiated event; only message events exist today."""

    MESSAGE_EVENT = "MESSAGE_EVENT"


# --- content -------------------------------------------------------------------------------


@frozen
class FileRef:
    """A file attached to a user message (``plain_text.files`` on ``/rest/v1``)."""

    file_id: str
    file_name: str | None = None


@frozen
class Content:
    """Message content. ``type`` is ``PLAIN_TEXT``, ``COMMONMARK_TEXT``, ``MARKDOWN_TEXT`` or
    ``CALLBACK_ACTION_CONTENT``; ``text`` is the text of the three text types (``""`` otherwise)
    and ``callback_id`` is set for a pressed button."""

    TEXT_TYPES: ClassVar[frozenset[str]] = frozenset(
        {"PLAIN_TEXT", "COMMONMARK_TEXT", "MARKDOWN_TEXT"}
    )

    type: str
    text: str = ""
    callback_id: str | None = None
    files: tuple[FileRef, ...] = ()


@frozen
class UnknownContent(Content):
    """Content of a type this version does not know; ``raw`` is the payload as received."""

    raw: Mapping[str, Any] = field(factory=dict)


# --- actions -------------------------------------------------------------------------------


@frozen
class CallbackAction:
    """A button: send ``callback_id`` back as a new response input."""

    label: str
    callback_id: str
    type: ClassVar[str] = "CALLBACK_ACTION"


@frozen
class UrlAction:
    """A link to open."""

    label: str
    url: str
    type: ClassVar[str] = "URL_ACTION"


@frozen
class ModalAction:
    """Opens a modal (``/rest/v1`` only); fetch it with ``client.modals.get``."""

    label: str
    modal_id: str
    type: ClassVar[str] = "MODAL_ACTION"


@frozen
class UnknownAction:
    """An action of a type this version does not know; ``raw`` is the payload as received."""

    type: str
    label: str | None
    raw: Mapping[str, Any] = field(factory=dict)


Action: TypeAlias = CallbackAction | UrlAction | ModalAction | UnknownAction


# --- citations, feedback, handoff ------------------------------------------------------------


@frozen
class CitationAttribute:
    """An opaque rendering hint of a citation (``TICKET_STATE``, ``UPDATE_DATETIME``, ...)."""

    key: str
    value: str


@frozen
class CitationDisplay:
    """How to render a citation."""

    title: Content | None = None
    body: Content | None = None
    attributes: tuple[CitationAttribute, ...] = ()


@frozen
class CitationLocation:
    """Deprecated position of a citation (``/rest/v1beta1`` only, unpopulated since 2026-05-12)."""

    offset: int


@frozen
class Citation:
    """A cited source; join with ``Message.content_references`` for positions."""

    citation_id: str
    url: str | None = None
    display: CitationDisplay | None = None
    location: CitationLocation | None = None


@frozen
class ContentReference:
    """Where a citation is referenced in the message text (zero-based character offset)."""

    citation_id: str
    offset: int


@frozen
class FeedbackOption:
    """An opaque callback id to pass to ``client.feedback.submit``."""

    callback_id: str


@frozen
class MessageFeedback:
    """Feedback choices of a final assistant message."""

    helpful: FeedbackOption | None = None
    unhelpful: FeedbackOption | None = None


@frozen
class SenderInfo:
    """Identity of a message author (``/rest/v1``; the only identity given for live agents)."""

    display_name: str | None = None
    avatar_url: str | None = None


@frozen
class HandoffItem:
    """One entry of a handoff category: an action or a text."""

    title: str | None = None
    type: str | None = None
    action: Action | None = None
    text: Content | None = None


@frozen
class HandoffCategory:
    """A group of the "Get Help" menu."""

    category_id: str | None = None
    name: str | None = None
    description: str | None = None
    handoff_items: tuple[HandoffItem, ...] = ()


@frozen
class Handoff:
    """The "Get Help" menu attached to a message (``/rest/v1``)."""

    handoff_categories: tuple[HandoffCategory, ...] = ()


# --- messages and outputs ------------------------------------------------------------------


@frozen
class Message:
    """A user, assistant or live-agent message."""

    message_id: str
    conversation_id: str
    response_id: str
    actor: ActorType
    content: Content
    created_at: datetime
    citations: tuple[Citation, ...] = ()
    content_references: tuple[ContentReference, ...] = ()
    feedback: MessageFeedback | None = None
    actions: tuple[Action, ...] = ()
    sender_info: SenderInfo | None = None
    handoff: Handoff | None = None

    @property
    def text(self) -> str:
        """The message text (``""`` for non-text content)."""
        return self.content.text


@frozen
class ReasoningMessage:
    """A step of the assistant's reasoning trail (never returned by the events endpoint)."""

    reasoning_message_id: str
    conversation_id: str
    response_id: str
    content: Content
    created_at: datetime

    @property
    def text(self) -> str:
        """The reasoning text."""
        return self.content.text


@frozen
class MessageOutput:
    """An output item holding an assistant message."""

    message: Message
    type: ClassVar[str] = "MESSAGE"

    @property
    def id(self) -> str:
        """The message id, the key under which stream snapshots are upserted."""
        return self.message.message_id


@frozen
class ReasoningOutput:
    """An output item holding a reasoning message."""

    reasoning_message: ReasoningMessage
    type: ClassVar[str] = "REASONING_MESSAGE"

    @property
    def id(self) -> str:
        """The reasoning message id, the key under which stream snapshots are upserted."""
        return self.reasoning_message.reasoning_message_id


@frozen
class UnknownOutput:
    """An output item of a type this version does not know; ``raw`` is the payload."""

    type: str
    raw: Mapping[str, Any] = field(factory=dict)

    @property
    def id(self) -> str | None:
        """No id is known for an unknown output type."""
        return None


OutputItem: TypeAlias = MessageOutput | ReasoningOutput | UnknownOutput


@frozen
class ErrorDetail:
    """Error details of a failed response or a stream ``ERROR`` event."""

    code: str | None = None
    message: str | None = None


@frozen
class Response:
    """One assistant turn. ``status`` moves CREATED -> IN_PROGRESS -> COMPLETED | FAILED."""

    response_id: str
    conversation_id: str
    status: ResponseStatus
    created_at: datetime
    completed_at: datetime | None = None
    outputs: tuple[OutputItem, ...] = ()
    updated_at: datetime | None = None
    error: ErrorDetail | None = None

    @property
    def is_terminal(self) -> bool:
        """True once the status is COMPLETED or FAILED."""
        return self.status.is_terminal

    @property
    def messages(self) -> tuple[Message, ...]:
        """The assistant messages among the outputs, in order."""
        return tuple(o.message for o in self.outputs if type(o) is MessageOutput)

    @property
    def reasoning(self) -> tuple[ReasoningMessage, ...]:
        """The reasoning trail among the outputs, in order."""
        return tuple(o.reasoning_message for o in self.outputs if type(o) is ReasoningOutput)

    @property
    def text(self) -> str:
        """The assistant's answer: the text of every message output, joined by blank lines."""
        return "\n\n".join(m.content.text for m in self.messages if m.content.text)


# --- conversations, events, modals, acknowledgements ---------------------------------------


@frozen
class Conversation:
    """A conversation between the user and the assistant."""

    conversation_id: str
    created_at: datetime
    updated_at: datetime | None = None
    title: str | None = None
    archived: bool | None = None


@frozen
class EventPayload:
    """What a system-initiated event carries."""

    type: EventType
    message: Message | None = None


@frozen
class Event:
    """A system-initiated event (asynchronous response or proactive notification).

    ``created_at`` is ``None`` on ``/rest/v1beta1``, which does not send it.
    """

    event_id: str
    conversation_id: str
    event_payload: EventPayload
    created_at: datetime | None = None

    @property
    def message(self) -> Message | None:
        """The event's message, if it is a message event."""
        return self.event_payload.message


@frozen
class ModalField:
    """A field of a modal, with its rules already resolved by the server.

    The field schema is only loosely documented, so ``raw`` keeps the whole payload
    (``display``, ``text``, value shapes) for rendering.
    """

    name: str | None = None
    type: str | None = None
    visible: bool = True
    required: bool = False
    read_only: bool = False
    triggers_refresh: bool = False
    options: tuple[Mapping[str, Any], ...] = ()
    raw: Mapping[str, Any] = field(factory=dict)


@frozen
class Modal:
    """A modal form opened by a ``ModalAction`` (``/rest/v1`` only)."""

    modal_id: str
    title: str | None = None
    fields: tuple[ModalField, ...] = ()


@frozen
class ModalSubmission:
    """Acknowledgement of a modal submission; the follow-up arrives as messages or events."""

    status: str | None = None


@frozen
class FeedbackResult:
    """Acknowledgement of submitted feedback (``status`` is ``SUBMITTED``)."""

    status: str
