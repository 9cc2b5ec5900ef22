"""Peer models of the Response wire shape for #4: pydantic v2 and msgspec (the ceiling).

No ``from __future__ import annotations`` here: the classes are built inside functions (so
importing this module needs neither library) and msgspec resolves annotations eagerly.
"""

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

# --- pydantic models of the same wire shape --------------------------------------------------


def pydantic_models() -> Any:
    from pydantic import BaseModel, Field

    class FileRef(BaseModel):
        file_id: str
        file_name: str | None = None

    class TextBody(BaseModel):
        text: str
        files: list[FileRef] = []

    class CallbackBody(BaseModel):
        callback_id: str

    class PlainText(BaseModel):
        type: Literal["PLAIN_TEXT"]
        plain_text: TextBody

    class CommonmarkText(BaseModel):
        type: Literal["COMMONMARK_TEXT"]
        commonmark_text: TextBody

    class MarkdownText(BaseModel):
        type: Literal["MARKDOWN_TEXT"]
        markdown_text: TextBody

    class CallbackContent(BaseModel):
        type: Literal["CALLBACK_ACTION_CONTENT"]
        callback_action: CallbackBody

    Content = Annotated[
        PlainText | CommonmarkText | MarkdownText | CallbackContent, Field(discriminator="type")
    ]

    class UrlBody(BaseModel):
        url: str

    class ModalBody(BaseModel):
        modal_id: str

    class CallbackAction(BaseModel):
        type: Literal["CALLBACK_ACTION"]
        label: str
        callback_action: CallbackBody

    class UrlAction(BaseModel):
        type: Literal["URL_ACTION"]
        label: str
        url_action: UrlBody

    class ModalAction(BaseModel):
        type: Literal["MODAL_ACTION"]
        label: str
        modal_action: ModalBody

    Action = Annotated[CallbackAction | UrlAction | ModalAction, Field(discriminator="type")]

    class CitationAttribute(BaseModel):
        key: str
        value: str

    class CitationDisplay(BaseModel):
        title: Content | None = None
        body: Content | None = None
        attributes: list[CitationAttribute] = []

    class CitationLocation(BaseModel):
        offset: int

    class Citation(BaseModel):
        citation_id: str
        url: str | None = None
        display: CitationDisplay | None = None
        location: CitationLocation | None = None

    class ContentReference(BaseModel):
        citation_id: str
        offset: int

    class FeedbackOption(BaseModel):
        callback_id: str

    class MessageFeedback(BaseModel):
        helpful: FeedbackOption | None = None
        unhelpful: FeedbackOption | None = None

    class SenderInfo(BaseModel):
        display_name: str | None = None
        avatar_url: str | None = None

    class HandoffItem(BaseModel):
        title: str | None = None
        type: str | None = None
        action: Action | None = None
        text: Content | None = None

    class HandoffCategory(BaseModel):
        category_id: str | None = None
        name: str | None = None
        description: str | None = None
        handoff_items: list[HandoffItem] = []

    class Handoff(BaseModel):
        handoff_categories: list[HandoffCategory] = []

    class ActorType(StrEnum):
        USER = "USER"
        ASSISTANT = "ASSISTANT"
        LIVE_AGENT = "LIVE_AGENT"

    class ResponseStatus(StrEnum):
        CREATED = "CREATED"
        IN_PROGRESS = "IN_PROGRESS"
        COMPLETED = "COMPLETED"
        FAILED = "FAILED"

    class Message(BaseModel):
        message_id: str
        conversation_id: str
        response_id: str
        actor: ActorType
        content: Content
        created_at: datetime
        citations: list[Citation] = []
        content_references: list[ContentReference] = []
        feedback: MessageFeedback | None = None
        actions: list[Action] = []
        sender_info: SenderInfo | None = None
        handoff: Handoff | None = None

    class ReasoningMessage(BaseModel):
        reasoning_message_id: str
        conversation_id: str
        response_id: str
        content: Content
        created_at: datetime

    class MessageOutput(BaseModel):
        type: Literal["MESSAGE"]
        message: Message

    class ReasoningOutput(BaseModel):
        type: Literal["REASONING_MESSAGE"]
        reasoning_message: ReasoningMessage

    Output = Annotated[MessageOutput | ReasoningOutput, Field(discriminator="type")]

    class ErrorDetail(BaseModel):
        code: str | None = None
        message: str | None = None

    class Response(BaseModel):
        response_id: str
        conversation_id: str
        status: ResponseStatus
        created_at: datetime
        completed_at: datetime | None = None
        outputs: list[Output] = []
        updated_at: datetime | None = None
        error: ErrorDetail | None = None

    return Response


def msgspec_models() -> Any:
    import msgspec

    class S(msgspec.Struct, kw_only=True, frozen=True):
        pass

    class T(msgspec.Struct, kw_only=True, frozen=True, tag_field="type"):
        pass

    class FileRef(S):
        file_id: str
        file_name: str | None = None

    class TextBody(S):
        text: str
        files: tuple[FileRef, ...] = ()

    class CallbackBody(S):
        callback_id: str

    class PlainText(T, tag="PLAIN_TEXT"):
        plain_text: TextBody

    class CommonmarkText(T, tag="COMMONMARK_TEXT"):
        commonmark_text: TextBody

    class MarkdownText(T, tag="MARKDOWN_TEXT"):
        markdown_text: TextBody

    class CallbackContent(T, tag="CALLBACK_ACTION_CONTENT"):
        callback_action: CallbackBody

    Content = PlainText | CommonmarkText | MarkdownText | CallbackContent

    class UrlBody(S):
        url: str

    class ModalBody(S):
        modal_id: str

    class CallbackAction(T, tag="CALLBACK_ACTION"):
        label: str
        callback_action: CallbackBody

    class UrlAction(T, tag="URL_ACTION"):
        label: str
        url_action: UrlBody

    class ModalAction(T, tag="MODAL_ACTION"):
        label: str
        modal_action: ModalBody

    Action = CallbackAction | UrlAction | ModalAction

    class CitationAttribute(S):
        key: str
        value: str

    class CitationDisplay(S):
        title: Content | None = None
        body: Content | None = None
        attributes: tuple[CitationAttribute, ...] = ()

    class CitationLocation(S):
        offset: int

    class Citation(S):
        citation_id: str
        url: str | None = None
        display: CitationDisplay | None = None
        location: CitationLocation | None = None

    class ContentReference(S):
        citation_id: str
        offset: int

    class FeedbackOption(S):
        callback_id: str

    class MessageFeedback(S):
        helpful: FeedbackOption | None = None
        unhelpful: FeedbackOption | None = None

    class SenderInfo(S):
        display_name: str | None = None
        avatar_url: str | None = None

    class Message(S):
        message_id: str
        conversation_id: str
        response_id: str
        actor: Literal["USER", "ASSISTANT", "LIVE_AGENT"]
        content: Content
        created_at: datetime
        citations: tuple[Citation, ...] = ()
        content_references: tuple[ContentReference, ...] = ()
        feedback: MessageFeedback | None = None
        actions: tuple[Action, ...] = ()
        sender_info: SenderInfo | None = None

    class ReasoningMessage(S):
        reasoning_message_id: str
        conversation_id: str
        response_id: str
        content: Content
        created_at: datetime

    class MessageOutput(T, tag="MESSAGE"):
        message: Message

    class ReasoningOutput(T, tag="REASONING_MESSAGE"):
        reasoning_message: ReasoningMessage

    class ErrorDetail(S):
        code: str | None = None
        message: str | None = None

    class Response(S):
        response_id: str
        conversation_id: str
        status: Literal["CREATED", "IN_PROGRESS", "COMPLETED", "FAILED"]
        created_at: datetime
        completed_at: datetime | None = None
        outputs: tuple[MessageOutput | ReasoningOutput, ...] = ()
        updated_at: datetime | None = None
        error: ErrorDetail | None = None

    return Response
