"""How user code type-checks against moveworks-async.

Never executed: ``mypy tests/typing`` (strict, from pyproject) checks it. ``assert_type`` pins
the types users get back; each ``# type: ignore[code]`` marks a misuse mypy must keep
rejecting (strict mode reports an ignore that is no longer needed).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, assert_type

import aiohttp

import moveworks_async as mw


async def get_token() -> str:
    """A caller-side token provider (e.g. an IdP exchange)."""
    return "bearer"


async def construct() -> None:
    """Every documented way to build a client."""
    async with mw.AsyncMoveworks(assistant_name="acme-capi", token="key") as client:
        assert_type(client, mw.AsyncMoveworks)
    mw.AsyncMoveworks(assistant_name="acme-capi", auth=get_token)
    mw.AsyncMoveworks(
        assistant_name="acme-capi",
        auth=mw.ClientCredentials(client_id="id", client_secret="secret", token_url=None),
        base_url="https://api.am-eu-central.moveworks.ai",
        api_version="v1",
    )
    async with aiohttp.ClientSession() as session:
        mw.AsyncMoveworks(
            assistant_name="acme-capi",
            token="key",
            session=session,
            timeout=mw.Timeout(connect=5, read=30, total=60),
        )
    mw.AsyncMoveworks(assistant_name="acme-capi", token="key", timeout=30.0)
    mw.AsyncMoveworks(token="key")  # the assistant name from MOVEWORKS_ASSISTANT_NAME
    mw.AsyncMoveworks("acme-capi", "key")  # type: ignore[call-arg]
    mw.AsyncMoveworks(assistant_name="acme-capi", token=b"key")  # type: ignore[arg-type]


async def conversations(client: mw.AsyncMoveworks) -> None:
    """Conversations: create, get, update, list."""
    conv = await client.conversations.create(title=None)
    assert_type(conv, mw.Conversation)
    assert_type(conv.conversation_id, str)
    assert_type(conv.created_at, datetime)
    assert_type(conv.title, str | None)
    assert_type(conv.archived, bool | None)
    conv = await client.conversations.get(conv.conversation_id, timeout=5.0)
    conv = await client.conversations.update(conv.conversation_id, title="New", archived=True)
    async for item in client.conversations.list(archived=False, limit=None):
        assert_type(item, mw.Conversation)
    # Every method takes the per-call options; list methods apply them to each page.
    conv = await client.conversations.create("t", timeout=mw.Timeout(read=5.0), max_retries=1)
    conv = await client.conversations.update(conv.conversation_id, archived=True, max_retries=0)
    async for item in client.conversations.list(timeout=10.0, max_retries=3):
        assert_type(item, mw.Conversation)
    await client.conversations.get(conv.conversation_id, max_retries="2")  # type: ignore[arg-type]
    client.conversations.list(False, None, 5.0)  # type: ignore[call-arg]
    conv.title = "renamed"  # type: ignore[misc]
    await client.conversations.get(42)  # type: ignore[arg-type]
    await client.conversations.create(titel="typo")  # type: ignore[call-arg]


async def responses(client: mw.AsyncMoveworks, conversation_id: str) -> str:
    """Responses: create, get, wait; reading outputs."""
    resp = await client.responses.create(conversation_id, text="reset my password")
    assert_type(resp, mw.Response)
    resp = await client.responses.create(conversation_id, callback_id="cb_1")
    resp = await client.responses.get(conversation_id, resp.response_id, max_retries=0)
    resp = await client.responses.create(conversation_id, "hi", timeout=30.0, max_retries=0)
    await client.responses.wait(conversation_id, resp.response_id, 60.0, max_retries=1)
    done = await client.responses.wait(conversation_id, resp.response_id, timeout=150.0)
    assert_type(done.status, mw.ResponseStatus)
    assert_type(done.completed_at, datetime | None)
    assert_type(done.text, str)
    assert_type(done.is_terminal, bool)
    if done.status == "COMPLETED" or done.status is mw.ResponseStatus.FAILED:
        pass
    for output in done.outputs:
        if isinstance(output, mw.MessageOutput):
            assert_type(output.message, mw.Message)
            assert_type(output.id, str)
        elif isinstance(output, mw.ReasoningOutput):
            assert_type(output.reasoning_message.text, str)
        else:
            assert_type(output, mw.UnknownOutput)
            assert_type(output.raw, Mapping[str, Any])
    assert_type(done.messages, tuple[mw.Message, ...])
    await client.responses.wait(conversation_id, resp.response_id, timeout="soon")  # type: ignore[arg-type]
    return done.text


async def messages(client: mw.AsyncMoveworks, conversation_id: str, response_id: str) -> None:
    """Messages, citations, actions, feedback and modals."""
    async for message in client.messages.list(conversation_id, limit=50):
        assert_type(message, mw.Message)
    async for message in client.messages.list(conversation_id, timeout=5.0, max_retries=0):
        assert_type(message, mw.Message)
    msgs = await client.messages.list_for_response(conversation_id, response_id, max_retries=1)
    assert_type(msgs, tuple[mw.Message, ...])
    for msg in msgs:
        assert_type(msg.actor, mw.ActorType)
        assert_type(msg.content, mw.Content)
        assert_type(msg.content.text, str)
        assert_type(msg.sender_info, mw.SenderInfo | None)
        for citation in msg.citations:
            assert_type(citation, mw.Citation)
            assert_type(citation.url, str | None)
        for ref in msg.content_references:
            assert_type(ref.offset, int)
        if msg.feedback is not None and msg.feedback.helpful is not None:
            result = await client.feedback.submit(
                conversation_id,
                response_id,
                msg.message_id,
                callback_id=msg.feedback.helpful.callback_id,
                additional_feedback=None,
                timeout=10.0,
                max_retries=2,
            )
            assert_type(result, mw.FeedbackResult)
        for action in msg.actions:
            if isinstance(action, mw.CallbackAction):
                await client.responses.create(conversation_id, callback_id=action.callback_id)
            elif isinstance(action, mw.UrlAction):
                assert_type(action.url, str)
            elif isinstance(action, mw.ModalAction):
                modal = await client.modals.get(
                    conversation_id, response_id, msg.message_id, action.modal_id
                )
                assert_type(modal, mw.Modal)
                values = {"reason": {"text": "broken"}}
                modal = await client.modals.refresh(
                    conversation_id, response_id, msg.message_id, action.modal_id, values
                )
                ack = await client.modals.submit(
                    conversation_id,
                    response_id,
                    msg.message_id,
                    action.modal_id,
                    values,
                    timeout=mw.Timeout(total=30.0),
                    max_retries=0,
                )
                assert_type(ack, mw.ModalSubmission)
            else:
                assert_type(action, mw.UnknownAction)
    await client.feedback.submit(conversation_id, response_id, "msg_1", "cb")  # type: ignore[call-arg]


async def events(client: mw.AsyncMoveworks) -> None:
    """Events: list across conversations from a checkpoint; get one (v1)."""
    async for event in client.events.list("-", starting_after="evt_1", ending_at=None, limit=100):
        assert_type(event, mw.Event)
        assert_type(event.created_at, datetime | None)
        assert_type(event.message, mw.Message | None)
    async for event in client.events.list("-", limit=100, timeout=30.0, max_retries=5):
        assert_type(event, mw.Event)
    one = await client.events.get("conv_1", "evt_1", timeout=5.0, max_retries=0)
    assert_type(one.event_payload.type, mw.EventType)


async def errors(client: mw.AsyncMoveworks) -> None:
    """The exception tree and its attributes."""
    try:
        await client.conversations.get("conv_1")
    except mw.RateLimitError as exc:
        assert_type(exc.retry_after, float | None)
    except mw.APIStatusError as exc:
        assert_type(exc.status_code, int)
        assert_type(exc.code, str | None)
        assert_type(exc.message, str)
        assert_type(exc.request_id, str | None)
        assert_type(exc.outcome_unknown, bool)
    except mw.APITimeoutError as exc:
        assert_type(exc.phase, mw.TimeoutPhase)
    except mw.APIConnectionError as exc:
        assert_type(exc.outcome_unknown, bool)
    except mw.ResponseValidationError as exc:
        assert_type(exc.path, str)
    except mw.WaitTimeoutError as exc:
        assert_type(exc.response_id, str)
    except mw.InvalidParameterError as exc:
        assert_type(exc, mw.InvalidParameterError)
    except mw.MoveworksError:
        pass
