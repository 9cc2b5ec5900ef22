"""How user code type-checks with ``with_options``, ``with_raw_response`` and ``api_version``.

Never executed: ``mypy tests/typing`` (strict) checks it, like ``api_usage.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import assert_type

import aiohttp

import moveworks_async as mw


async def environment_and_versions() -> None:
    """Every setting may come from MOVEWORKS_* variables; api_version is a closed set."""
    async with mw.AsyncMoveworks() as client:
        assert_type(client, mw.AsyncMoveworks)
    mw.AsyncMoveworks(api_version="v1beta1")
    mw.AsyncMoveworks(api_version="assistant-v1")
    mw.AsyncMoveworks(api_version=mw.DEFAULT_API_VERSION)
    version: mw.ApiVersion = "v1"
    mw.AsyncMoveworks(assistant_name="acme-capi", token="key", api_version=version)
    mw.AsyncMoveworks(api_version="v2")  # type: ignore[arg-type]
    mw.AsyncMoveworks(api_version="V1")  # type: ignore[arg-type]
    typo: str = "v1"
    mw.AsyncMoveworks(api_version=typo)  # type: ignore[arg-type]


def transports(session: aiohttp.ClientSession) -> None:
    """transport= is a closed set of names, or an instance (outside review s15a: a typo
    passed the type check)."""
    mw.AsyncMoveworks(transport="aiohttp")
    mw.AsyncMoveworks(transport="pyreqwest")
    name: mw.TransportName = "pyreqwest"
    mw.AsyncMoveworks(transport=name)
    mw.AsyncMoveworks(transport=mw.AiohttpTransport(session))
    mw.AsyncDataAPI(transport="pyreqwest")
    mw.AsyncMoveworks(transport="pyreqwst")  # type: ignore[arg-type]
    mw.AsyncDataAPI(transport="httpx")  # type: ignore[arg-type]


async def with_options(client: mw.AsyncMoveworks, conversation_id: str) -> None:
    """A view with other defaults is a client too; per-call extra_headers everywhere."""
    fast = client.with_options(timeout=5.0, max_retries=0)
    assert_type(fast, mw.AsyncMoveworks)
    traced = client.with_options(
        timeout=mw.Timeout(connect=2, read=10, total=30),
        extra_headers={"X-Team": "support"},
        retry_policy=mw.RetryPolicy(max_retries=5),
    )
    conv = await traced.conversations.get(conversation_id, extra_headers={"X-Call": "1"})
    assert_type(conv, mw.Conversation)
    async with client.with_options(max_retries=1) as view:
        assert_type(view, mw.AsyncMoveworks)
    client.with_options(timeout="5")  # type: ignore[arg-type]
    client.with_options(extra_headers={"X-Team": 1})  # type: ignore[dict-item]
    client.with_options(5.0)  # type: ignore[call-arg]
    await client.responses.wait(conversation_id, "resp_1", timeout=mw.Timeout(total=60))
    async with client.responses.stream(conversation_id, text="hi", timeout=30.0) as stream:
        assert_type(stream.request_id, str | None)


async def raw_responses(client: mw.AsyncMoveworks, conversation_id: str) -> None:
    """with_raw_response: the same arguments, a RawResponse of the usual result."""
    raw = await client.conversations.with_raw_response.create(title="Org chart")
    assert_type(raw, mw.RawResponse[mw.Conversation])
    assert_type(raw.status_code, int)
    assert_type(raw.headers, Mapping[str, str])
    assert_type(raw.request_id, str | None)
    assert_type(raw.parse(), mw.Conversation)
    created = await client.responses.with_raw_response.create(conversation_id, text="hi")
    assert_type(created.parse(), mw.Response)
    done = await client.responses.with_raw_response.wait(conversation_id, "resp_1", timeout=60)
    assert_type(done.parse().status, mw.ResponseStatus)
    pages = await client.messages.with_raw_response.list(conversation_id, limit=10)
    assert_type(pages, mw.RawResponse[AsyncIterator[mw.Message]])
    async for message in pages.parse():
        assert_type(message, mw.Message)
    msgs = await client.messages.with_raw_response.list_for_response(conversation_id, "resp_1")
    assert_type(msgs.parse(), tuple[mw.Message, ...])
    modal = await client.modals.with_raw_response.get(conversation_id, "r", "m", "modal_1")
    assert_type(modal.parse(), mw.Modal)
    event = await client.events.with_raw_response.get(conversation_id, "evt_1", max_retries=0)
    assert_type(event.parse(), mw.Event)
    feedback = await client.feedback.with_raw_response.submit(
        conversation_id, "r", "m", callback_id="cb", extra_headers={"X-Team": "a"}
    )
    assert_type(feedback.parse(), mw.FeedbackResult)
    await client.conversations.with_raw_response.get(42)  # type: ignore[arg-type]
    await client.conversations.with_raw_response.create(titel="typo")  # type: ignore[call-arg]
    client.responses.with_raw_response.stream  # type: ignore[attr-defined]  # noqa: B018
