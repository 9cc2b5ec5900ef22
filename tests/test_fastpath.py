"""The generated structure functions (``_fastpath``) agree with cattrs' own hooks.

The fast converter structures attrs classes through code generated once per class; the
reference here is the same configuration without that registration (cattrs' generated code
calling one hook per field). Both must accept and reject the same payloads and build equal
models, over a realistic payload and thousands of random mutations of it.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest

from moveworks_async import _converter, _fastpath
from moveworks_async._models import (
    Conversation,
    Event,
    Message,
    Modal,
    ReasoningMessage,
    Response,
)


def _plain(text: str) -> dict[str, Any]:
    return {"type": "PLAIN_TEXT", "plain_text": {"text": text}}


MESSAGE: dict[str, Any] = {
    "message_id": "msg_1",
    "conversation_id": "conv_1",
    "response_id": "resp_1",
    "actor": "ASSISTANT",
    "content": {"type": "COMMONMARK_TEXT", "commonmark_text": {"text": "See the handbook."}},
    "created_at": "2026-11-26T10:00:03.000001Z",
    "citations": [
        {
            "citation_id": "cit_1",
            "url": "https://help.example.com/kb/1",
            "display": {
                "title": _plain("Handbook"),
                "body": _plain("VPN access"),
                "attributes": [{"key": "UPDATE_DATETIME", "value": "2026-01-01"}],
            },
            "location": {"offset": 4},
        }
    ],
    "content_references": [{"citation_id": "cit_1", "offset": 8}],
    "feedback": {"helpful": {"callback_id": "up"}, "unhelpful": {"callback_id": "down"}},
    "actions": [
        {"type": "CALLBACK_ACTION", "label": "Yes", "callback_action": {"callback_id": "cb"}},
        {"type": "URL_ACTION", "label": "Open", "url_action": {"url": "https://x.example"}},
        {"type": "FUTURE_ACTION", "label": "?"},
    ],
    "sender_info": {"display_name": "Ada", "avatar_url": None},
    "handoff": {
        "handoff_categories": [
            {
                "category_id": "c1",
                "name": "IT",
                "handoff_items": [
                    {
                        "title": "Call",
                        "type": "ACTION",
                        "action": {
                            "type": "URL_ACTION",
                            "label": "Call",
                            "url_action": {"url": "tel:1"},
                        },
                    },
                    {"title": "Note", "type": "TEXT", "text": _plain("Open 9-5")},
                ],
            }
        ]
    },
}

RESPONSE: dict[str, Any] = {
    "response_id": "resp_1",
    "conversation_id": "conv_1",
    "status": "COMPLETED",
    "created_at": "2026-11-26T10:00:00Z",
    "completed_at": "2026-11-26T10:00:05+02:00",
    "updated_at": None,
    "outputs": [
        {
            "type": "REASONING_MESSAGE",
            "reasoning_message": {
                "reasoning_message_id": "rm_1",
                "conversation_id": "conv_1",
                "response_id": "resp_1",
                "content": _plain("Searching"),
                "created_at": "2026-11-26T10:00:01",
            },
        },
        {"type": "MESSAGE", "message": MESSAGE},
        {"type": "FUTURE_OUTPUT", "x": 1},
    ],
    "error": {"code": None, "message": "none"},
}

CASES: list[tuple[dict[str, Any], type[Any]]] = [
    (RESPONSE, Response),
    (MESSAGE, Message),
    (RESPONSE["outputs"][0]["reasoning_message"], ReasoningMessage),
    (
        {"conversation_id": "conv_1", "created_at": "2026-11-26T10:00:00Z", "archived": True},
        Conversation,
    ),
    (
        {
            "event_id": "evt_1",
            "conversation_id": "conv_1",
            "event_payload": {"type": "MESSAGE_EVENT", "message": MESSAGE},
            "created_at": "2026-11-26T10:00:00Z",
        },
        Event,
    ),
    (
        {
            "modal_id": "modal_1",
            "title": "Form",
            "fields": [
                {"name": "a", "type": "TEXT", "visible": True, "options": [{"v": 1}]},
                {"name": "b", "type": "DISPLAY", "read_only": True},
            ],
        },
        Modal,
    ),
]

VALUES: list[Any] = [None, 0, 1, True, False, 1.5, "", "x", "2026-11-26T10:00:00", [], [1],
                     ["a"], {}, {"type": "PLAIN_TEXT"}, "PAUSED"]  # fmt: skip


@pytest.fixture(scope="module")
def reference() -> Any:
    """The converter as configured, minus the generated functions."""
    original = _fastpath.register
    _fastpath.register = lambda *args, **kwargs: None  # type: ignore[assignment]
    try:
        return _converter._make(detailed=False)
    finally:
        _fastpath.register = original


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _mutate(data: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    data = copy.deepcopy(data)
    paths = list(_paths(data))[1:]
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(paths)
        parent: Any = data
        try:
            for key in path[:-1]:
                parent = parent[key]
            if isinstance(parent, dict) and rng.random() < 0.3:
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = copy.deepcopy(rng.choice(VALUES))
        except (KeyError, IndexError, TypeError):
            pass
    return data


def _outcome(conv: Any, data: Any, cls: type[Any]) -> tuple[str, Any]:
    try:
        return "ok", conv.structure(data, cls)
    except Exception as exc:
        return "error", type(exc).__name__


@pytest.mark.parametrize(("data", "cls"), CASES, ids=[c.__name__ for _, c in CASES])
def test_valid_payloads_give_equal_models(reference: Any, data: Any, cls: type[Any]) -> None:
    fast = _converter.converter.structure(data, cls)
    assert fast == reference.structure(data, cls)
    assert _converter.converter.unstructure(fast) == reference.unstructure(fast)


def test_generated_hooks_are_in_use() -> None:
    hook = _converter.converter.get_structure_hook(Response)
    assert hook.__name__ == "structure_Response"
    assert hook.__code__.co_filename.startswith("<moveworks_async generated")


def test_mutated_payloads_agree(reference: Any) -> None:
    rng = random.Random(6)
    accepted = rejected = 0
    for _ in range(3000):
        base, cls = rng.choice(CASES)
        data = _mutate(base, rng)
        want = _outcome(reference, data, cls)
        got = _outcome(_converter.converter, data, cls)
        assert got[0] == want[0], (data, want, got)
        if want[0] == "ok":
            assert got[1] == want[1], data
            accepted += 1
        else:
            rejected += 1
    # Both sides of the rules were exercised.
    assert accepted > 300
    assert rejected > 300


def test_non_mapping_inputs_are_rejected() -> None:
    for value in ("text", [1, 2], 3, None):
        with pytest.raises(Exception):  # noqa: B017 - any error: the public path explains
            _converter.converter.structure(value, Response)
