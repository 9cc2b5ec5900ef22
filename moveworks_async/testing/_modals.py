"""rest/v1 modals: one small request form behind every ``Answer(modal=True)``
(https://help.moveworks.com/api-reference/conversations-api/conversations-api/modals/get-modal).

The form: a ``DISPLAY`` intro, a required choice ``model`` (``triggers_refresh``), a ``TEXT``
``other_model`` shown and required only when ``model`` is ``other``, and a required ``TEXT``
``reason``. Values look like ``{"model": {"option": "mac"}, "reason": {"text": "broken"}}``.
Assumptions (the reference leaves them open): the choice field type is ``CHOICE``, modal ids
are stable per message, and submit answers ``{"status": "SUBMITTED"}``.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from ._handlers import read_json
from ._host import Host
from ._stats import ModalSubmission
from ._store import MessageRecord, ResponseRecord
from ._wire import REST_V1, ApiError, json_response, not_found

__all__ = ["Modals"]

MODAL_TITLE: Final = ":memo: New request"
SUBMITTED_TEXT: Final = "Your request has been submitted. We will follow up here."
_OPTIONS: Final = (("Mac", "mac"), ("Windows", "windows"), ("Other", "other"))


def _field(
    kind: str, name: str, *, visible: bool = True, required: bool = False, refresh: bool = False
) -> dict[str, Any]:
    return {
        "type": kind,
        "name": name,
        "visible": visible,
        "required": required,
        "read_only": kind == "DISPLAY",
        "triggers_refresh": refresh,
    }


def build_modal(modal_id: str, values: dict[str, Any], with_options: bool) -> dict[str, Any]:
    """Return the modal with every field resolved against ``values``."""
    other = values.get("model", {}).get("option") == "other"
    intro = _field("DISPLAY", "intro")
    intro["display"] = {
        "text": {
            "style": "SUBTLE",
            "text": 'Tell us what you need.<br><a href="https://help.example.com">Help</a>',
        }
    }
    model = _field("CHOICE", "model", required=True, refresh=True)
    model["choice"] = {}
    if with_options:  # refresh omits options: clients keep them from the first read
        model["options"] = [{"label": label, "value": value} for label, value in _OPTIONS]
    other_model = _field("TEXT", "other_model", visible=other, required=other)
    other_model["text"] = {}
    reason = _field("TEXT", "reason", required=True)
    reason["text"] = {}
    return {
        "modal_id": modal_id,
        "title": MODAL_TITLE,
        "fields": [intro, model, other_model, reason],
    }


def _values(body: Any) -> dict[str, Any]:
    values = body.get("values") if isinstance(body, dict) else None
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        raise ApiError(400, "INVALID_INPUT", "values must map field names to objects.")
    return values


def _missing(values: dict[str, Any]) -> list[str]:
    """Return the names of visible required fields without a usable value."""
    modal = build_modal("", values, with_options=False)
    choices = {value for _, value in _OPTIONS}
    missing = []
    for field in modal["fields"]:
        if not (field["visible"] and field["required"]):
            continue
        value = values.get(field["name"], {})
        ok = (
            value.get("option") in choices if field["type"] == "CHOICE" else bool(value.get("text"))
        )
        if not ok:
            missing.append(field["name"])
    return missing


class Modals:
    """Get, refresh and submit handlers."""

    def __init__(self, server: Host) -> None:
        self.server = server
        self.store = server.store

    def _locate(self, request: web.Request) -> tuple[ResponseRecord, MessageRecord, str]:
        info = request.match_info
        resp = self.store.responses.get(info["response_id"])
        if resp is None or resp.conversation_id != info["conversation_id"]:
            raise not_found("Response")
        msg = self.store.messages.get(info["message_id"])
        if msg is None or msg.response_id != resp.response_id:
            raise not_found("Message")
        if msg.modal_id is None or msg.modal_id != info["modal_id"]:
            raise not_found("Modal")
        return resp, msg, msg.modal_id

    async def get(self, request: web.Request) -> web.Response:
        """``GET .../modals/{modal_id}``: the form with resolved fields and choice options."""
        _, _, modal_id = self._locate(request)
        return json_response(build_modal(modal_id, {}, with_options=True), REST_V1)

    async def refresh(self, request: web.Request) -> web.Response:
        """``POST .../refresh``: re-resolve fields for ``values``; nothing is stored."""
        _, _, modal_id = self._locate(request)
        values = _values(await read_json(request))
        return json_response(build_modal(modal_id, values, with_options=False), REST_V1)

    async def submit(self, request: web.Request) -> web.Response:
        """``POST .../submit``: validate, record, and post the follow-up as an event."""
        resp, msg, modal_id = self._locate(request)
        values = _values(await read_json(request))
        missing = _missing(values)
        if missing:
            raise ApiError(
                400, "INVALID_INPUT", f"Required fields are missing: {', '.join(missing)}."
            )
        self.server.modal_submissions.append(ModalSubmission(modal_id, msg.message_id, values))
        self.store.push_event(resp.conversation_id, SUBMITTED_TEXT, response=resp)
        return json_response({"status": "SUBMITTED"}, REST_V1)

    def routes(self) -> list[web.RouteDef]:
        """Return the rest/v1 modal routes."""
        base = (
            REST_V1.prefix + "/conversations/{conversation_id}/responses/{response_id}"
            "/messages/{message_id}/modals/{modal_id}"
        )
        return [
            web.get(base, self.get),
            web.post(base + "/refresh", self.refresh),
            web.post(base + "/submit", self.submit),
        ]
