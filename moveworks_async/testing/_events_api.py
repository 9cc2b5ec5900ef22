"""The fake Events API: ``POST /rest/v1/events/{event_id}/messages/send`` and the deprecated
``POST /rest/v1/messages/send`` (https://help.moveworks.com/docs/events-rest-api-errors,
https://help.moveworks.com/api-reference/events-api/rate-limits.md).

Errors are flat ``{code, message}`` bodies, as the Events API documents them; the 120 requests
per minute per organisation are a token bucket of 120 refilled at 2 per second, shared by both
endpoints, and a 429 carries no ``Retry-After`` (none is documented).
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Final

import attrs
from aiohttp import web

from moveworks_async._notifications import is_email

from ._host import Host
from ._stats import TokenBucket
from ._wire import REST_V1, flat_error, json_response

__all__ = ["EVENTS_PREFIXES", "Delivery", "EventsApi"]

#: Paths served here (checked by the server's middleware, which leaves auth to us).
EVENTS_PREFIXES: Final = ("/rest/v1/events/", "/rest/v1/messages/send")
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
MAX_MESSAGE: Final = 20_000
MAX_RECIPIENTS: Final = 500


@attrs.frozen
class Delivery:
    """One accepted send: the event (``None`` for the deprecated endpoint) and its body."""

    event_id: str | None
    message: str
    recipients: tuple[str, ...]
    context: Any = None


class EventsApi:
    """State and handlers of the fake Events API (``server.events_api``).

    Attributes:
        events: event ids defined in the "Events Workspace"; others answer 404.
        deliveries: every accepted send, oldest first.
        bucket: the organisation's 120-per-minute token bucket (server clock).
    """

    def __init__(self, server: Host, *, per_minute: float = 120.0) -> None:
        self._server = server
        self.events: set[str] = set()
        self.deliveries: list[Delivery] = []
        self.bucket = TokenBucket(per_minute / 60.0, per_minute, server.clock)

    def register(self, event_id: str | None = None) -> str:
        """Define an event (a fresh UUID by default) and return its id."""
        event_id = event_id or str(uuid.uuid4())
        self.events.add(event_id.lower())
        return event_id

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/rest/v1/events/{event_id}/messages/send", self._send_for_event),
            web.post("/rest/v1/messages/send", self._send_legacy),
        ]

    async def _send_for_event(self, request: web.Request) -> web.Response:
        event_id = request.match_info["event_id"]
        refused = self._admit(request)
        if refused is not None:
            return refused
        if _UUID.fullmatch(event_id) is None:
            return flat_error(400, "INVALID_EVENT_ID", "The event id must be a UUID.")
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        invalid = _validate(body, with_context=True)
        if invalid is not None:
            return invalid
        if event_id.lower() not in self.events:
            return flat_error(404, "INVALID_EVENT_ID", "Event not found.")
        self.deliveries.append(
            Delivery(event_id, body["message"], tuple(body["recipients"]), body.get("context"))
        )
        return json_response({"data": {"status": "RECEIVED"}}, REST_V1)

    async def _send_legacy(self, request: web.Request) -> web.Response:
        refused = self._admit(request)
        if refused is not None:
            return refused
        body = await _body(request)
        if isinstance(body, web.Response):
            return body
        invalid = _validate(body, with_context=False)
        if invalid is not None:
            return invalid
        self.deliveries.append(Delivery(None, body["message"], tuple(body["recipients"])))
        return web.Response(status=200, headers=REST_V1.headers(), body=b"{}")

    def _admit(self, request: web.Request) -> web.Response | None:
        """Authentication, then the rate limit (every authenticated request counts)."""
        if self._server.tokens.serial_of(request.headers.get("Authorization")) is None:
            return flat_error(401, "UNAUTHENTICATED", "Token validation failed")
        if self.bucket.take():
            self._server.stats.rate_limited += 1
            return flat_error(429, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded.")
        return None


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    raw = await request.read()
    try:
        body = json.loads(raw)
    except ValueError:
        return flat_error(400, "BAD_REQUEST", "Parsing of json payload failed : invalid character")
    if not isinstance(body, dict):
        return flat_error(400, "BAD_REQUEST", "One or more fields have an incorrect data-type")
    return body


def _validate(body: dict[str, Any], *, with_context: bool) -> web.Response | None:
    message, recipients = body.get("message"), body.get("recipients")
    if not isinstance(message, str) or not isinstance(recipients, list):
        return flat_error(400, "BAD_REQUEST", "One or more fields have an incorrect data-type")
    if not 1 <= len(message) <= MAX_MESSAGE:
        return flat_error(400, "BAD_REQUEST", "message must be 1-20000 characters.")
    if not 1 <= len(recipients) <= MAX_RECIPIENTS:
        return flat_error(400, "BAD_REQUEST", "recipients must hold 1-500 items.")
    # The SDK's own address rule: one definition of "email syntax" (invisible characters,
    # leading/trailing/doubled dots refused) for the client's checks and the fake's.
    if not all(isinstance(r, str) and is_email(r) for r in recipients):
        return flat_error(400, "BAD_REQUEST", "recipients must be email addresses.")
    context = body.get("context")
    if context is not None and (not with_context or not isinstance(context, dict)):
        return flat_error(400, "BAD_REQUEST", "One or more fields have an incorrect data-type")
    return None
