"""Realistic wire payloads of the Conversations API, shared by the server and the model bench.

A completed ``Response`` has two reasoning outputs and one assistant message with two
citations (each with a display title, body and an attribute), two content references,
helpful/unhelpful feedback ids and two actions: about 2 KB of JSON, the shape the fake server
and the real API send after a knowledge-base answer.
"""

from __future__ import annotations

import json
from typing import Any

from moveworks_async._config import DEFAULT_API_VERSION
from moveworks_async._protocol import Generation

CONV = "conv_01JD4C8K3M9Q2R5T7V0W"
#: The path prefix of the SDK's default generation: the benchmark clients are built without
#: ``api_version=``, as users build theirs (the generations differ only in this prefix).
PREFIX = Generation(DEFAULT_API_VERSION).prefix
TEXT = (
    "Here is what I found about resetting your VPN password \u2014 the steps are in the "
    "Employee Handbook, and the IT Help Center has the details for your device."
)


def _ts(i: int, second: int) -> str:
    return f"2026-11-26T10:{(i // 60) % 60:02d}:{(i + second) % 60:02d}.{(i * 7919) % 1000000:06d}Z"


def _plain(text: str) -> dict[str, Any]:
    return {"type": "PLAIN_TEXT", "plain_text": {"text": text}}


def _commonmark(text: str) -> dict[str, Any]:
    return {"type": "COMMONMARK_TEXT", "commonmark_text": {"text": text}}


def reasoning_item(i: int, k: int, text: str) -> dict[str, Any]:
    return {
        "type": "REASONING_MESSAGE",
        "reasoning_message": {
            "reasoning_message_id": f"rmsg_{i:08d}_{k}",
            "conversation_id": CONV,
            "response_id": f"resp_{i:010d}",
            "content": _plain(text),
            "created_at": _ts(i, k),
        },
    }


def message(i: int, text: str = TEXT, *, full: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "message_id": f"msg_{i:010d}",
        "conversation_id": CONV,
        "response_id": f"resp_{i:010d}",
        "actor": "ASSISTANT",
        "content": _commonmark(text),
        "created_at": _ts(i, 3),
    }
    if not full:
        return out
    sources = (
        ("Employee Handbook", "https://help.example.com/kb/employee-handbook", "VPN access"),
        ("IT Help Center", "https://help.example.com/kb/it-help-center", "Password resets"),
    )
    out["citations"] = [
        {
            "citation_id": f"cit_{i:08d}_{k}",
            "url": url,
            "display": {
                "title": _plain(title),
                "body": _plain(f"{body}: how to reset, unlock and enrol a device."),
                "attributes": [{"key": "UPDATE_DATETIME", "value": _ts(i, 9)}],
            },
        }
        for k, (title, url, body) in enumerate(sources)
    ]
    out["content_references"] = [
        {"citation_id": f"cit_{i:08d}_0", "offset": 92},
        {"citation_id": f"cit_{i:08d}_1", "offset": 130},
    ]
    out["feedback"] = {
        "helpful": {"callback_id": f"fb_up_{i:08d}"},
        "unhelpful": {"callback_id": f"fb_down_{i:08d}"},
    }
    out["actions"] = [
        {
            "type": "CALLBACK_ACTION",
            "label": "It worked",
            "callback_action": {"callback_id": "cb_ok"},
        },
        {
            "type": "URL_ACTION",
            "label": "Open the IT Help Center",
            "url_action": {"url": "https://help.example.com/kb/it-help-center"},
        },
    ]
    return out


def response(i: int, status: str = "COMPLETED", outputs: bool = True) -> dict[str, Any]:
    """A Response dict; ``i`` varies ids and timestamps so no two payloads are equal."""
    items: list[dict[str, Any]] = []
    if outputs:
        items = [
            reasoning_item(i, 0, "Searching knowledge base"),
            reasoning_item(i, 1, "Reading sources"),
            {"type": "MESSAGE", "message": message(i)},
        ]
    terminal = status in ("COMPLETED", "FAILED")
    return {
        "response_id": f"resp_{i:010d}",
        "conversation_id": CONV,
        "status": status,
        "created_at": _ts(i, 0),
        "completed_at": _ts(i, 5) if terminal else None,
        "outputs": items,
    }


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def create_request_body() -> bytes:
    return dumps({"input": {"text": "How do I reset my VPN password?"}})


def sse_frame(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + dumps(data) + b"\n\n"


def stream_events(n: int, i: int = 1) -> list[bytes]:
    """``n`` SSE frames: CREATED, IN_PROGRESS, ``n - 3`` output deltas, COMPLETED.

    Deltas alternate between a reasoning output and a message snapshot of fixed size (about
    400 B of JSON each), so the cost per event does not grow along a long stream.
    """
    assert n >= 3
    frames = [
        sse_frame(
            "RESPONSE_CREATED",
            {
                "event_type": "RESPONSE_CREATED",
                "sequence_number": 1,
                "response": response(i, "CREATED", outputs=False),
            },
        ),
        sse_frame(
            "RESPONSE_IN_PROGRESS",
            {
                "event_type": "RESPONSE_IN_PROGRESS",
                "sequence_number": 2,
                "response": response(i, "IN_PROGRESS", outputs=False),
            },
        ),
    ]
    snippet = TEXT[:100]
    for seq in range(3, n):
        if seq % 2:
            output = {"type": "MESSAGE", "message": message(i, snippet, full=False)}
        else:
            output = reasoning_item(i, seq % 7, "Reading sources")
        frames.append(
            sse_frame(
                "RESPONSE_OUTPUT_DELTA",
                {"event_type": "RESPONSE_OUTPUT_DELTA", "sequence_number": seq, "output": output},
            )
        )
    frames.append(
        sse_frame(
            "RESPONSE_COMPLETED",
            {"event_type": "RESPONSE_COMPLETED", "sequence_number": n, "response": response(i)},
        )
    )
    return frames
