"""How user code of the Events API (``client.notifications``) and the Data API
(``AsyncDataAPI``) type-checks. Never executed: ``mypy tests/typing`` (strict) checks it."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, assert_type

import moveworks_async as mw

EVENT = "123e4567-e89b-42d3-a456-426614174000"


async def notifications(client: mw.AsyncMoveworks) -> None:
    """Send, send to many, the deprecated endpoint and the batch error."""
    result = await client.notifications.send(
        EVENT,
        message="<b>Hi</b>",
        recipients=["ada@example.com"],
        context={"slots": {"ticket": "RITM1"}},
        timeout=10.0,
        max_retries=1,
    )
    assert_type(result, mw.NotificationResult)
    assert_type(result.status, mw.NotificationStatus)
    assert_type(result.recipients, tuple[str, ...])
    assert result.status is mw.NotificationStatus.RECEIVED
    try:
        results = await client.notifications.send_many(
            EVENT, message="hi", recipients=(f"u{i}@example.com" for i in range(2000))
        )
        assert_type(results, list[mw.NotificationResult])
    except mw.NotificationBatchError as exc:
        assert_type(exc.scheduled, tuple[str, ...])
        assert_type(exc.not_scheduled, tuple[str, ...])
        assert_type(exc.outcome_unknown, tuple[str, ...])
        assert_type(exc.error, Exception)  # any failure of a batch, typed or not
    await client.notifications.send_legacy(message="hi", recipients=["a@example.com"])
    await client.notifications.send(EVENT, message="hi")  # type: ignore[call-arg]
    await client.notifications.send(EVENT, "hi", ["a@example.com"])  # type: ignore[call-arg]


def governors() -> None:
    """The 120/min preset, local or shared through Redis, given to a client."""
    local = mw.notifications_governor()
    assert_type(local, mw.RateGovernor)
    shared = mw.notifications_governor(
        redis_url="redis://localhost:6379/0", on_redis_error="closed"
    )
    mw.AsyncMoveworks(assistant_name="acme-capi", token="key", notifications_governor=shared)
    mw.notifications_governor(redis_url="redis://r", on_redis_error="maybe")  # type: ignore[call-overload]


async def data_api() -> None:
    """Every iterator, the typed records and the export."""
    async with mw.AsyncDataAPI(api_key="key", base_url="https://api.moveworks.ai") as data:
        assert_type(data, mw.AsyncDataAPI)
        since = datetime(2026, 1, 1, tzinfo=UTC)
        async for conversation in data.conversations(updated_since=since, top=10):
            assert_type(conversation, mw.DataConversation)
            assert_type(conversation.route, str | None)
            assert_type(conversation.created_time, datetime | None)
            assert_type(conversation.raw, Mapping[str, Any])
        async for interaction in data.interactions(select=["id", "platform"], skip=5):
            assert_type(interaction, mw.DataInteraction)
        async for call in data.plugin_calls(filter="served eq true", orderby="id desc"):
            assert_type(call.used, bool | None)
        async for resource in data.plugin_resources(updated_until=since):
            assert_type(resource.detail, mw.DataPluginResourceDetail | None)
        async for user in data.users():
            assert_type(user.external_ids, tuple[mw.DataExternalId, ...])
        count = await data.export("users", "users.jsonl", updated_since=since, progress=print)
        assert_type(count, int)
        data.users(top="10")  # type: ignore[arg-type]
        data.users(limit=10)  # type: ignore[call-arg]
        await data.export("users", "u.jsonl", timeout=30.0, max_retries=5, select=["id"])
        await data.export("plugin-calls", "p.jsonl")
        await data.export("user", "u.jsonl")  # type: ignore[arg-type]  # not a kind
    mw.AsyncDataAPI(auth=mw.ClientCredentials("id", "secret"))


async def close_iterators_early(client: mw.AsyncMoveworks, data: mw.AsyncDataAPI) -> None:
    """List and Data API iterators close early with ``aclose()`` or ``contextlib.aclosing``."""
    conversations = client.conversations.list()
    await conversations.aclose()
    async with contextlib.aclosing(client.messages.list("conv_1", limit=10)) as messages:
        async for message in messages:
            assert_type(message, mw.Message)
            break
    async with contextlib.aclosing(client.events.list("-")) as events:
        async for event in events:
            assert_type(event, mw.Event)
    async with contextlib.aclosing(data.users()) as users:
        async for user in users:
            assert_type(user, mw.DataUser)
