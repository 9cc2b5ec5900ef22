"""Sans-I/O protocol rules: generations, paths, create bodies, error mapping, Retry-After."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest

import moveworks_async as mw
from moveworks_async._protocol import (
    Generation,
    create_input,
    error_from_response,
    ids,
    parse_retry_after,
    path,
    request_id_from,
    require_v1,
)

# --- generations and paths -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "prefix"),
    [("v1beta1", "/rest/v1beta1"), ("assistant-v1", "/assistant/v1"), ("v1", "/rest/v1")],
)
def test_generation_prefixes(name: str, prefix: str) -> None:
    """Each api_version maps to its documented path prefix."""
    generation = Generation.parse(name)
    assert generation.prefix == prefix
    assert path(generation, "conversations", "conv_1") == prefix + "/conversations/conv_1"


@pytest.mark.parametrize("bad", ["v2", "V1", "rest/v1", "", None, 1, "assistant_v1"])
def test_generation_rejects_unknown_names(bad: object) -> None:
    """An unknown api_version is an InvalidParameterError (a ValueError)."""
    with pytest.raises(mw.InvalidParameterError, match="api_version"):
        Generation.parse(bad)


def test_generation_is_exported() -> None:
    """``mw.Generation`` is the same enum."""
    assert mw.Generation is Generation
    assert Generation("v1") is Generation.V1


@pytest.mark.parametrize("generation", [Generation.V1BETA1, Generation.ASSISTANT_V1])
def test_require_v1_refuses_older_generations(generation: Generation) -> None:
    """v1-only operations raise UnsupportedOperationError naming the operation and generation."""
    with pytest.raises(mw.UnsupportedOperationError, match=r"modals\.get") as info:
        require_v1(generation, "modals.get")
    assert generation.value in str(info.value)


def test_require_v1_accepts_v1() -> None:
    """On /rest/v1 the check passes."""
    require_v1(Generation.V1, "modals.get")


def test_ids_validates_every_value() -> None:
    """``ids`` returns valid ids and names the bad parameter."""
    assert ids(conversation_id="conv_1", response_id="resp_2") == {
        "conversation_id": "conv_1",
        "response_id": "resp_2",
    }
    with pytest.raises(mw.InvalidParameterError, match="response_id"):
        ids(conversation_id="conv_1", response_id="../x")


# --- create bodies ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("generation", "text", "callback_id", "body"),
    [
        (Generation.V1BETA1, "hi", None, {"input": {"text": "hi"}}),
        (Generation.ASSISTANT_V1, "hi", None, {"input": {"text": "hi"}}),
        (Generation.ASSISTANT_V1, None, "cb_1", {"input": {"callback_id": "cb_1"}}),
        (Generation.V1, "hi", None, {"input": {"chat": {"text": "hi"}}}),
        (Generation.V1, None, "cb_1", {"input": {"callback_id": "cb_1"}}),
    ],
    ids=["beta-text", "assistant-text", "assistant-callback", "v1-text", "v1-callback"],
)
def test_create_input_per_generation(
    generation: Generation, text: str | None, callback_id: str | None, body: Any
) -> None:
    """The create-response body follows the generation."""
    assert create_input(generation, text, callback_id) == body


def test_create_input_callback_on_v1beta1_is_unsupported() -> None:
    """v1beta1 has no callback input."""
    with pytest.raises(mw.UnsupportedOperationError):
        create_input(Generation.V1BETA1, None, "cb_1")


@pytest.mark.parametrize(
    ("text", "callback_id"),
    [(None, None), ("hi", "cb"), ("", None), ("   \n", None), (None, ""), (5, None), (None, 5)],
    ids=[
        "neither",
        "both",
        "empty-text",
        "blank-text",
        "empty-callback",
        "int-text",
        "int-callback",
    ],
)
@pytest.mark.parametrize("generation", list(Generation))
def test_create_input_rejects_bad_arguments(
    generation: Generation, text: object, callback_id: object
) -> None:
    """Exactly one non-empty str of text and callback_id is required."""
    with pytest.raises(mw.InvalidParameterError):
        create_input(generation, text, callback_id)  # type: ignore[arg-type]


# --- error mapping ---------------------------------------------------------------------------

ENVELOPE = b'{"error": {"code": "NOT_FOUND", "message": "Conversation does not exist"}}'


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, mw.BadRequestError),
        (401, mw.AuthenticationError),
        (403, mw.PermissionDeniedError),
        (404, mw.NotFoundError),
        (429, mw.RateLimitError),
        (500, mw.InternalServerError),
        (502, mw.InternalServerError),
        (503, mw.InternalServerError),
        (504, mw.InternalServerError),
        (599, mw.InternalServerError),
        (405, mw.APIStatusError),
        (409, mw.APIStatusError),
        (418, mw.APIStatusError),
        (422, mw.APIStatusError),
    ],
)
def test_status_maps_to_class(status: int, cls: type[mw.APIStatusError]) -> None:
    """Every status maps to its documented exception class (other 4xx: APIStatusError)."""
    error = error_from_response(status, {"x-trace-id": "tr-1"}, ENVELOPE)
    assert type(error) is cls
    assert error.status_code == status
    assert error.code == "NOT_FOUND"
    assert error.message == "Conversation does not exist"
    assert error.request_id == "tr-1"
    assert error.body == json.loads(ENVELOPE)
    assert str(status) in str(error)
    assert "tr-1" in str(error)


def test_rate_limit_error_carries_retry_after() -> None:
    """A RateLimitError keeps the parsed Retry-After."""
    error = error_from_response(
        429, {}, b'{"error":{"code":"RATE_LIMIT_EXCEEDED","message":"slow"}}', retry_after=7.5
    )
    assert isinstance(error, mw.RateLimitError)
    assert error.retry_after == 7.5
    assert error.code == "RATE_LIMIT_EXCEEDED"


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            b'{"error": {"code": "INVALID_CURSOR", "message": "bad cursor"}}',
            "INVALID_CURSOR",
            "bad cursor",
        ),
        (
            b'{"code": "OAUTH_INVALID_CLIENT", "message": "bad client"}',
            "OAUTH_INVALID_CLIENT",
            "bad client",
        ),
        (b'{"error": "invalid_audience"}', None, "invalid_audience"),
        (b'{"error": {"code": 5, "message": ["x"]}}', None, "Bad Request"),
        (b'{"detail": "nope"}', None, "Bad Request"),
        (b"[1, 2]", None, "Bad Request"),
        (b'"just a string"', None, "Bad Request"),
    ],
    ids=["envelope", "flat", "error-string", "wrong-types", "other-object", "array", "json-string"],
)
def test_error_bodies_both_envelopes_and_odd_json(
    body: bytes, code: str | None, message: str
) -> None:
    """Both error envelopes are read; odd JSON falls back to the status phrase."""
    error = error_from_response(400, {}, body)
    assert (error.code, error.message) == (code, message)
    assert error.body == json.loads(body)


@pytest.mark.parametrize(
    ("body", "expected_body"),
    [
        (
            b"<html><body><h1>502 Bad Gateway</h1></body></html>",
            "<html><body><h1>502 Bad Gateway</h1></body></html>",
        ),
        (b"", None),
        (b"\xff\xfe not utf-8", "\ufffd\ufffd not utf-8"),
    ],
    ids=["html", "empty", "binary"],
)
def test_error_bodies_html_empty_binary(body: bytes, expected_body: object) -> None:
    """HTML, empty and undecodable bodies give a typed error with the status phrase."""
    error = error_from_response(502, {"x-moveworks-root-uuid": "root-1"}, body)
    assert isinstance(error, mw.InternalServerError)
    assert error.code is None
    assert error.message == "Bad Gateway"
    assert error.body == expected_body
    assert error.request_id == "root-1"


def test_error_body_snippet_is_capped() -> None:
    """A huge non-JSON error body is kept only as a 2 KiB snippet."""
    error = error_from_response(500, {}, b"<html>" + b"x" * 100_000)
    assert isinstance(error.body, str)
    assert len(error.body) == 2048


def test_unknown_status_has_a_message() -> None:
    """A status with no standard phrase still gets a message."""
    error = error_from_response(499, {}, b"")
    assert error.message == "unexpected status"
    assert type(error) is mw.APIStatusError


def test_error_keeps_response_headers() -> None:
    """The reply headers are available on the error."""
    error = error_from_response(404, {"x-trace-id": "t", "Server": "envoy"}, b"")
    assert error.headers["Server"] == "envoy"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-moveworks-root-uuid": "root-1"}, "root-1"),
        ({"x-trace-id": "trace-1"}, "trace-1"),
        ({"x-moveworks-root-uuid": "root-1", "x-trace-id": "trace-1"}, "root-1"),
        ({"x-moveworks-root-uuid": "", "x-trace-id": "trace-1"}, "trace-1"),
        ({}, None),
    ],
    ids=["root-uuid", "trace-id", "both", "empty-root", "none"],
)
def test_request_id_from_both_headers(headers: dict[str, str], expected: str | None) -> None:
    """The request id comes from ``x-moveworks-root-uuid`` or ``x-trace-id``."""
    assert request_id_from(headers) == expected


# --- Retry-After -----------------------------------------------------------------------------

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": " 2.5 "}, 2.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "junk", "retry-after": "9"}, 9.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "1e308"}, 1e9),
        ({"retry-after": "99999999999999999999999"}, 1e9),
        ({"retry-after": "1000000000000"}, 1e9),
        ({"retry-after-ms": "1000000000000000000"}, 1e6),
        ({}, None),
    ],
    ids=[
        "seconds",
        "float",
        "zero",
        "negative",
        "ms",
        "ms-wins",
        "bad-ms",
        "garbage",
        "inf",
        "nan",
        "absurd",
        "huge-integer",
        "1e12",
        "huge-ms",
        "absent",
    ],
)
def test_parse_retry_after_numbers(headers: dict[str, str], expected: float | None) -> None:
    """Retry-After (seconds or milliseconds) is parsed; nonsense gives None."""
    assert parse_retry_after(headers, NOW) == expected


def test_parse_retry_after_http_date() -> None:
    """An HTTP-date Retry-After is measured against now."""
    when = datetime.fromtimestamp(NOW + 30, UTC)
    assert parse_retry_after({"retry-after": format_datetime(when, usegmt=True)}, NOW) == 30.0


def test_parse_retry_after_http_date_uses_date_header() -> None:
    """With a ``Date`` header the server's own clock is the reference (no skew)."""
    server_now = datetime.fromtimestamp(NOW - 500, UTC)
    when = datetime.fromtimestamp(NOW - 480, UTC)
    headers = {
        "retry-after": format_datetime(when, usegmt=True),
        "date": format_datetime(server_now, usegmt=True),
    }
    assert parse_retry_after(headers, NOW) == 20.0


def test_parse_retry_after_past_date_is_zero() -> None:
    """A date in the past means retry now."""
    when = datetime.fromtimestamp(NOW - 60, UTC)
    assert parse_retry_after({"retry-after": format_datetime(when, usegmt=True)}, NOW) == 0.0


# --- masking the client's credentials in server text (issue 12, item 7) ----------------------


def test_redact_masks_every_secret_and_its_json_escaped_form() -> None:
    from moveworks_async._protocol import REDACTED, mask_text, redact

    body = b'{"message": "you sent tok/abc-123456 and tok\\/abc-123456 and s3cret-xyz"}'
    out = redact(body, ("tok/abc-123456", "s3cret-xyz"))
    assert b"abc-123456" not in out
    assert b"s3cret-xyz" not in out
    assert out.count(REDACTED.encode()) == 3
    assert mask_text("Bearer tok/abc-123456!", ("tok/abc-123456",)) == f"Bearer {REDACTED}!"
    assert redact(body, ()) is body  # nothing to mask: the same object, no copy


@pytest.mark.parametrize("secret", ['Canary\\Tok"Qx7Wz9Lm3Pk', 'Se"cr\\et/ZZ99canary'])
def test_a_secret_with_quotes_or_backslashes_is_masked_json_escaped(secret: str) -> None:
    """A server quoting the JSON it was sent shows ``"`` and ``\\`` escaped (``\\"``,
    ``\\\\``), once in a message, twice in the raw body: both are masked, in any letter case
    (an outside review saw such a bearer and a client secret unmasked)."""
    from moveworks_async._protocol import REDACTED, mask_text

    sent = json.dumps({"authorization": "Bearer " + secret, "client_secret": secret})
    for text in (sent, json.dumps(sent), sent.upper()):
        masked = mask_text(text, (secret,))
        assert masked.count(REDACTED) == 2, masked
        assert "ZZ99" not in masked.upper()
        assert "QX7WZ9" not in masked.upper()


def test_error_from_response_masks_message_body_and_snippet() -> None:
    from moveworks_async._protocol import error_from_response

    secret = "tok-CANARY-protocol-1"
    json_body = f'{{"error": {{"code": "X", "message": "saw {secret}"}}}}'.encode()
    error = error_from_response(500, {}, json_body, secrets=(secret,))
    assert secret not in str(error) + repr(error.body)
    html = f"<html>debug: Authorization: Bearer {secret}</html>".encode()
    error = error_from_response(502, {}, html, secrets=(secret,))
    assert secret not in repr(error.body)
    assert "<redacted>" in str(error.body)


def test_error_bodies_over_the_json_cap_are_a_snippet() -> None:
    from moveworks_async._protocol import MAX_ERROR_JSON, error_from_response

    body = b'{"error": {"code": "X", "message": "' + b"y" * MAX_ERROR_JSON + b'"}}'
    error = error_from_response(500, {}, body)
    assert error.code is None
    assert isinstance(error.body, str)
    assert len(error.body) == 2048


def test_error_from_response_masks_echoed_headers() -> None:
    from moveworks_async._protocol import error_from_response

    secret = "tok-CANARY-header-1"
    headers = {"X-Debug-Echo": f"Bearer {secret}", "x-trace-id": "t-1"}
    error = error_from_response(500, headers, b"{}", secrets=(secret,))
    assert error.headers["X-Debug-Echo"] == "Bearer <redacted>"
    assert error.request_id == "t-1"
