"""Tests written to kill the mutants of ``_reply`` the suite let survive (see docs/mutants.md):
the exact messages, and the create/non-create rule of ``outcome_unknown`` through ``model``."""

from __future__ import annotations

import pytest
from _core_support import conversation

import moveworks_async as mw
from moveworks_async import _json
from moveworks_async._reply import json_body, model
from moveworks_async._transport import Reply

JSON = {"Content-Type": "application/json"}


def test_messages_are_exact() -> None:
    with pytest.raises(mw.UnexpectedResponseError) as info:
        json_body(Reply(200, {}, b"{}"))
    assert info.value.message == "expected JSON, got no content type"
    with pytest.raises(mw.UnexpectedResponseError) as info:
        json_body(Reply(200, JSON, b"{oops"))
    assert info.value.message == "reply is not valid JSON"


def test_json_body_defaults_to_a_call_that_may_be_repeated() -> None:
    with pytest.raises(mw.UnexpectedResponseError) as info:
        json_body(Reply(200, JSON, b"{oops"))
    assert info.value.outcome_unknown is False


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply(200, JSON, b"{oops"), mw.UnexpectedResponseError),
        (Reply(200, JSON, _json.dumps({"conversation_id": 5})), mw.ResponseValidationError),
    ],
    ids=["bad-json", "bad-model"],
)
def test_model_passes_the_create_rule_to_both_steps(reply: Reply, error: type[mw.APIError]) -> None:
    with pytest.raises(error) as info:
        model(reply, mw.Conversation)
    assert info.value.outcome_unknown is False
    with pytest.raises(error) as info:
        model(reply, mw.Conversation, idempotent=False)
    assert info.value.outcome_unknown is True


def test_model_of_a_good_reply() -> None:
    reply = Reply(200, JSON, _json.dumps(conversation("c9")))
    assert model(reply, mw.Conversation, idempotent=False).conversation_id == "c9"
