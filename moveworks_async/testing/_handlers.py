"""Conversations API endpoints of one generation (the paths of the repository's
``tests/data/moveworks-openapi.yaml``).

Authentication, ``Assistant-Name``, rate limiting and faults are handled by the server
middleware before these run; a handler only validates its own input and raises
:class:`ApiError` for 4xx replies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from . import _render as render
from ._answers import CALLBACK_ANSWER, Answer, resolve_answer
from ._host import Host
from ._sse import stream_response
from ._stats import FeedbackRecord
from ._store import ConversationRecord, InvalidCursorError, ResponseRecord
from ._wire import ApiError, Generation, json_response, not_found

__all__ = ["Api", "read_json"]

MAX_TITLE: Final = 256
_TRUE: Final = frozenset(("true", "1"))
_FALSE: Final = frozenset(("false", "0"))
_SHAPES: Final = {
    "v1beta1": '{"input": {"text": "..."}}',
    "assistant/v1": '{"input": {"text": "..."}} or {"input": {"callback_id": "..."}}',
    "rest/v1": '{"input": {"chat": {"text": "..."}}} or {"input": {"callback_id": "..."}}',
}


async def read_json(request: web.Request, code: str = "INVALID_INPUT") -> Any:
    """Return the parsed JSON body (``None`` when empty); bad JSON is a 400 with ``code``."""
    raw = await request.read()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, code, "The request body is not valid JSON.") from exc


def _limit(query: Mapping[str, str]) -> int:
    value = query.get("limit")
    if value is None:
        return 20
    if not value.isdigit() or not 1 <= int(value) <= 100:
        raise ApiError(400, "INVALID_INPUT", "limit must be an integer between 1 and 100.")
    return int(value)


def _archived(query: Mapping[str, str]) -> bool:
    value = query.get("archived", "false").lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ApiError(400, "INVALID_INPUT", "archived must be true or false.")


def _title(body: Mapping[str, Any]) -> str | None:
    title = body.get("title")
    if title is not None and (not isinstance(title, str) or len(title) > MAX_TITLE):
        raise ApiError(
            400, "INVALID_INPUT", f"title must be a string of at most {MAX_TITLE} characters."
        )
    return title


def _bad_input(message: str) -> ApiError:
    return ApiError(400, "INVALID_INPUT", message)


def parse_input(gen: Generation, body: Any) -> tuple[str, str]:
    """Return ``("text", text)`` or ``("callback", callback_id)`` from a create-response body.

    v1beta1 takes ``{"input": {"text"}}``; assistant/v1 exactly one of ``{"text"}`` or
    ``{"callback_id"}``; rest/v1 ``{"input": {"chat": {"text"}}}`` or (an assumption, the
    reference leaves the rest/v1 callback form open) ``{"input": {"callback_id"}}``.
    """
    inp = body.get("input") if isinstance(body, dict) else None
    if not isinstance(inp, dict):
        raise _bad_input("The input field is required.")
    keys = inp.keys()
    if gen.name == "rest/v1":
        chat = inp.get("chat")
        text = chat.get("text") if isinstance(chat, dict) and chat.keys() == {"text"} else None
        if keys == {"chat"} and isinstance(text, str) and text:
            return "text", text
    else:
        text = inp.get("text")
        if keys == {"text"} and isinstance(text, str) and text:
            return "text", text
    callback = inp.get("callback_id")
    if gen.has_actions and keys == {"callback_id"} and isinstance(callback, str) and callback:
        return "callback", callback
    raise _bad_input(f"input must be {_SHAPES[gen.name]} with a non-empty string.")


class Api:
    """The handlers of one generation, bound to the server state."""

    def __init__(self, server: Host, gen: Generation) -> None:
        self.server = server
        self.store = server.store
        self.gen = gen

    def _ok(self, payload: Any, status: int = 200) -> web.Response:
        return json_response(payload, self.gen, status)

    def _conversation(self, request: web.Request) -> ConversationRecord:
        conv = self.store.conversations.get(request.match_info["conversation_id"])
        if conv is None:
            raise not_found("Conversation")
        return conv

    def _response(self, request: web.Request) -> ResponseRecord:
        conv = self._conversation(request)
        resp = self.store.responses.get(request.match_info["response_id"])
        if resp is None or resp.conversation_id != conv.conversation_id:
            raise not_found("Response")
        return resp

    # -- conversations ---------------------------------------------------------------------

    async def list_conversations(self, request: web.Request) -> web.Response:
        """``GET /conversations``: newest activity first, archived filter, cursor pages."""
        query = request.query
        limit, archived = _limit(query), _archived(query)
        try:
            page, cursor = self.store.conversations_page(archived, query.get("cursor"), limit)
        except InvalidCursorError as exc:
            raise ApiError(400, "INVALID_CURSOR", "The cursor is not valid.") from exc
        return self._ok(
            {
                "conversations": [render.conversation(c) for c in page],
                "metadata": {"next_cursor": cursor},
            }
        )

    async def create_conversation(self, request: web.Request) -> web.Response:
        """``POST /conversations`` with an optional ``{"title"}`` (at most 256 characters)."""
        body = await read_json(request)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise _bad_input("The body must be a JSON object.")
        conv = self.store.create_conversation(_title(body))
        return self._ok(render.conversation(conv), 201)

    async def get_conversation(self, request: web.Request) -> web.Response:
        """``GET /conversations/{id}``."""
        return self._ok(render.conversation(self._conversation(request)))

    async def update_conversation(self, request: web.Request) -> web.Response:
        """``PATCH /conversations/{id}`` with ``title`` and/or ``archived``."""
        conv = self._conversation(request)
        body = await read_json(request)
        if not isinstance(body, dict):
            raise _bad_input("The body must be a JSON object.")
        title = _title(body)
        archived = body.get("archived")
        if archived is not None and not isinstance(archived, bool):
            raise _bad_input("archived must be a boolean.")
        if title is not None:
            conv.title = title
        if archived is not None:
            conv.archived = archived
        self.store.touch(conv)
        return self._ok(render.conversation(conv))

    # -- responses -------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> tuple[ConversationRecord, ResponseRecord]:
        conv = self._conversation(request)
        kind, value = parse_input(self.gen, await read_json(request))
        if kind == "text":
            answer: Answer = resolve_answer(self.server.answer, value)
            content = render.plain_text(value)
        else:
            answer = CALLBACK_ANSWER
            content = {"type": "CALLBACK_ACTION_CONTENT", "callback_action": {"callback_id": value}}
        resp = self.store.create_response(conv, content, answer)
        stats = self.server.stats
        stats.creates += 1
        stats.creates_per_conversation[conv.conversation_id] += 1
        return conv, resp

    async def create_response(self, request: web.Request) -> web.Response:
        """``POST .../responses``: 202 with status ``CREATED``; poll GET for the result."""
        _, resp = await self._create(request)
        return self._ok(render.response(resp, self.gen, render.CREATED, []), 202)

    async def create_response_stream(self, request: web.Request) -> web.StreamResponse:
        """``POST .../responses/stream``: the same turn, answered as Server-Sent Events."""
        self._conversation(request)
        if "text/event-stream" not in request.headers.get("Accept", ""):
            raise _bad_input("The streaming endpoint requires Accept: text/event-stream.")
        _, resp = await self._create(request)
        return await stream_response(self.server, self.gen, request, resp)

    async def get_response(self, request: web.Request) -> web.Response:
        """``GET .../responses/{id}``: each call advances the response one step."""
        resp = self._response(request)
        self.store.poll(resp, self.server.polls_to_complete)
        if resp.status in render.TERMINAL:
            return web.Response(
                body=render.terminal_bytes(resp, self.gen), headers=self.gen.headers()
            )
        return self._ok(render.snapshot(resp, self.gen))

    # -- messages --------------------------------------------------------------------------

    async def list_messages(self, request: web.Request) -> web.Response:
        """``GET .../messages``: user and assistant messages, newest first, cursor pages."""
        conv = self._conversation(request)
        limit = _limit(request.query)
        try:
            page, cursor = self.store.messages_page(conv, request.query.get("cursor"), limit)
        except InvalidCursorError as exc:
            raise ApiError(400, "INVALID_CURSOR", "The cursor is not valid.") from exc
        return self._ok(
            {
                "messages": [render.message(m, self.gen) for m in page],
                "metadata": {"next_cursor": cursor},
            }
        )

    async def list_response_messages(self, request: web.Request) -> web.Response:
        """``GET .../responses/{id}/messages``: the input message, then the replies."""
        resp = self._response(request)
        msgs = self.store.response_messages(resp)
        return self._ok({"messages": [render.message(m, self.gen) for m in msgs]})

    async def submit_feedback(self, request: web.Request) -> web.Response:
        """``POST .../messages/{id}/feedback`` with a callback id taken from that message."""
        resp = self._response(request)
        msg = self.store.messages.get(request.match_info["message_id"])
        if msg is None or msg.response_id != resp.response_id:
            raise not_found("Message")
        body = await read_json(request, "INVALID_REQUEST")
        callback = body.get("callback_id") if isinstance(body, dict) else None
        found = self.store.feedback_callbacks.get(callback) if isinstance(callback, str) else None
        if found is None or found[0] != msg.message_id:
            raise ApiError(400, "INVALID_REQUEST", "The callback_id is not valid for this message.")
        extra = body.get("additional_feedback")
        if extra is not None and not isinstance(extra, str):
            raise ApiError(400, "INVALID_REQUEST", "additional_feedback must be a string.")
        self.server.feedback.append(
            FeedbackRecord(msg.conversation_id, resp.response_id, msg.message_id, found[1], extra)
        )
        return self._ok({"status": "SUBMITTED"})

    # -- events ----------------------------------------------------------------------------

    async def list_events(self, request: web.Request) -> web.Response:
        """``GET .../events``: system-initiated messages, oldest first; ``-`` means all."""
        conv = None
        if request.match_info["conversation_id"] != "-":
            conv = self._conversation(request)
        query = request.query
        limit = _limit(query)
        after, until = query.get("starting_after"), query.get("ending_at")
        if after is not None and until is not None and until <= after:
            raise _bad_input("ending_at must be greater than starting_after.")
        try:
            page, cursor = self.store.events_page(conv, after, until, query.get("cursor"), limit)
        except InvalidCursorError as exc:
            raise ApiError(400, "INVALID_CURSOR", "The cursor is not valid.") from exc
        return self._ok(
            {
                "events": [render.event(e, self.gen) for e in page],
                "metadata": {"next_cursor": cursor},
            }
        )

    async def get_event(self, request: web.Request) -> web.Response:
        """``GET .../events/{id}`` (rest/v1): one event of that conversation; no ``-``."""
        conv = self._conversation(request)
        evt = self.store.events.get(request.match_info["event_id"])
        if evt is None or evt.conversation_id != conv.conversation_id:
            raise not_found("Event")
        return self._ok(render.event(evt, self.gen))

    def routes(self) -> list[web.RouteDef]:
        """Return this generation's routes (modal routes are added by the modal module)."""
        p = self.gen.prefix + "/conversations"
        c = p + "/{conversation_id}"
        r = c + "/responses/{response_id}"
        # aiohttp tries the dynamic resources of a prefix in registration order, so the hot
        # paths (poll, create, stream) come first; routes on one path stay adjacent so they
        # share a resource.
        routes = [
            web.get(r, self.get_response),
            web.post(c + "/responses", self.create_response),
            web.post(c + "/responses/stream", self.create_response_stream),
            web.get(p, self.list_conversations),
            web.post(p, self.create_conversation),
            web.get(c, self.get_conversation),
            web.patch(c, self.update_conversation),
            web.get(c + "/messages", self.list_messages),
            web.get(r + "/messages", self.list_response_messages),
            web.post(r + "/messages/{message_id}/feedback", self.submit_feedback),
            web.get(c + "/events", self.list_events),
        ]
        if self.gen.has_modals:
            routes.append(web.get(c + "/events/{event_id}", self.get_event))
        return routes
