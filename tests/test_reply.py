"""The reply interpreter (``_reply``): pure, tested without a client, a server or a loop."""

from __future__ import annotations

import json

import pytest
from _core_support import conversation

import moveworks_async as mw
from moveworks_async._reply import failure, json_body, model, to_model
from moveworks_async._transport import Reply

JSON = {"Content-Type": "application/json", "x-trace-id": "trace-1"}
CONVERSATION = conversation("c1")


def test_429_becomes_rate_limit_error_with_the_server_wait() -> None:
    error, wait = failure(429, {"retry-after": "7"}, b"", now=lambda: 0.0)
    assert type(error) is mw.RateLimitError
    assert wait == 7.0
    assert error.retry_after == 7.0


def test_503_reads_retry_after_and_500_does_not() -> None:
    _, wait = failure(503, {"retry-after": "3"}, b"", now=lambda: 0.0)
    assert wait == 3.0
    error, wait = failure(500, {"retry-after": "3"}, b"", now=lambda: 0.0)
    assert type(error) is mw.InternalServerError
    assert wait is None


def test_an_http_date_is_measured_against_the_given_wall_clock() -> None:
    _, wait = failure(429, {"retry-after": "Thu, 01 Jan 1970 00:01:40 GMT"}, b"", now=lambda: 40.0)
    assert wait == 60.0


def test_failure_masks_the_secrets_and_keeps_code_and_request_id() -> None:
    body = json.dumps({"error": {"code": "BAD", "message": "token sk-secret-1 is bad"}}).encode()
    error, _ = failure(400, {"x-trace-id": "r1"}, body, secrets=("sk-secret-1",))
    assert type(error) is mw.BadRequestError
    assert "sk-secret-1" not in str(error)
    assert (error.code, error.request_id, error.status_code) == ("BAD", "r1", 400)


def test_json_body_of_a_json_reply() -> None:
    assert json_body(Reply(200, JSON, b'{"a": [1]}')) == {"a": [1]}


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({"Content-Type": "text/html"}, b"<html>", "expected JSON, got text/html"),
        ({}, b"{}", "no content type"),
        (JSON, b"{oops", "not valid JSON"),
    ],
)
def test_json_body_refuses_what_is_not_json(
    headers: dict[str, str], body: bytes, message: str
) -> None:
    for idempotent in (True, False):
        with pytest.raises(mw.UnexpectedResponseError, match=message) as info:
            json_body(Reply(200, headers, body), idempotent)
        # A create answered 2xx was applied: its outcome is unknown whatever the body says.
        assert info.value.outcome_unknown is (not idempotent)
        assert info.value.__context__ is None


def test_to_model_and_its_validation_error() -> None:
    assert to_model(CONVERSATION, mw.Conversation, JSON).conversation_id == "c1"
    with pytest.raises(mw.ResponseValidationError) as info:
        to_model({"conversation_id": 5}, mw.Conversation, JSON, idempotent=False)
    assert info.value.request_id == "trace-1"
    assert info.value.outcome_unknown is True
    with pytest.raises(mw.ResponseValidationError) as info:
        to_model({"conversation_id": 5}, mw.Conversation, JSON)
    assert info.value.outcome_unknown is False


def test_model_reads_a_member_when_asked() -> None:
    reply = Reply(200, JSON, json.dumps({"data": CONVERSATION}).encode())
    assert model(reply, mw.Conversation, key="data").conversation_id == "c1"
    with pytest.raises(mw.ResponseValidationError):
        model(Reply(200, JSON, b"[1]"), mw.Conversation, key="data")
