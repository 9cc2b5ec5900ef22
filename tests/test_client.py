"""The client at the HTTP seam (aioresponses): error mapping for every status, odd bodies,
retry rules per method, and configuration."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from _core_support import Call, R, Wire, conversation, response
from aioresponses import aioresponses

import moveworks_async as mw

pytestmark = pytest.mark.asyncio

ENVELOPE = {"error": {"code": "SOME_CODE", "message": "something went wrong"}}


@pytest.fixture
def wire() -> Iterator[Wire]:
    """aioresponses routing every request to a test-controlled handler."""
    with aioresponses() as mock:
        yield Wire(mock)


def make_client(fake_time: Any, **kwargs: Any) -> mw.AsyncMoveworks:
    """A client with a static token and the fake clock (on /rest/v1beta1 unless told)."""
    kwargs.setdefault("token", "tok-test")
    kwargs.setdefault("api_version", "v1beta1")
    return mw.AsyncMoveworks(
        assistant_name="acme-capi", clock=fake_time.clock, sleep=fake_time.sleep, **kwargs
    )


# --- every status maps to its error ----------------------------------------------------------

STATUSES = [
    (400, mw.BadRequestError, "INVALID_INPUT"),
    (401, mw.AuthenticationError, "UNAUTHORIZED"),
    (403, mw.PermissionDeniedError, "FORBIDDEN"),
    (404, mw.NotFoundError, "NOT_FOUND"),
    (429, mw.RateLimitError, "RATE_LIMIT_EXCEEDED"),
    (500, mw.InternalServerError, "INTERNAL_ERROR"),
    (502, mw.InternalServerError, None),
    (503, mw.InternalServerError, None),
    (504, mw.InternalServerError, None),
    (409, mw.APIStatusError, "CONFLICT"),
    (422, mw.APIStatusError, "UNPROCESSABLE"),
]


@pytest.mark.parametrize(("status", "cls", "code"), STATUSES, ids=[str(s[0]) for s in STATUSES])
@pytest.mark.parametrize("trace_header", ["x-moveworks-root-uuid", "x-trace-id"])
async def test_status_maps_to_typed_error(
    wire: Wire,
    fake_time: Any,
    status: int,
    cls: type[mw.APIStatusError],
    code: str | None,
    trace_header: str,
) -> None:
    """Each status raises its class with status_code, code, message, request_id and body."""
    body = (
        {"error": {"code": code, "message": f"failure {status}"}}
        if code
        else {"error": {"message": f"failure {status}"}}
    )
    wire.always(R(status, body, headers={trace_header: f"id-{status}"}))
    async with make_client(fake_time, max_retries=0) as client:
        with pytest.raises(cls) as info:
            await client.conversations.get("conv_1")
    error = info.value
    assert type(error) is cls
    assert error.status_code == status
    assert error.code == code
    assert error.message == f"failure {status}"
    assert error.request_id == f"id-{status}"
    assert error.body == body
    assert len(wire.calls) == 1


async def test_rate_limit_error_has_retry_after(wire: Wire, fake_time: Any) -> None:
    """A final 429 carries the server's Retry-After in seconds."""
    wire.always(
        R(
            429,
            {"error": {"code": "RATE_LIMIT_EXCEEDED", "message": "slow down"}},
            headers={"Retry-After": "12"},
        )
    )
    async with make_client(fake_time, max_retries=0) as client:
        with pytest.raises(mw.RateLimitError) as info:
            await client.conversations.get("conv_1")
    assert info.value.retry_after == 12.0
    assert info.value.code == "RATE_LIMIT_EXCEEDED"


async def test_rate_limit_without_retry_after(wire: Wire, fake_time: Any) -> None:
    """A 429 without Retry-After has ``retry_after=None``."""
    wire.always(R(429, ENVELOPE))
    async with make_client(fake_time, max_retries=0) as client:
        with pytest.raises(mw.RateLimitError) as info:
            await client.conversations.get("conv_1")
    assert info.value.retry_after is None


async def test_flat_error_body(wire: Wire, fake_time: Any) -> None:
    """The flat ``{code, message}`` error body is read too."""
    wire.always(R(403, {"code": "FORBIDDEN", "message": "Invalid assistant"}))
    async with make_client(fake_time) as client:
        with pytest.raises(mw.PermissionDeniedError) as info:
            await client.conversations.get("conv_1")
    assert (info.value.code, info.value.message) == ("FORBIDDEN", "Invalid assistant")


@pytest.mark.parametrize(
    ("status", "body", "content_type", "cls", "message"),
    [
        (
            502,
            b"<html><h1>502 Bad Gateway</h1></html>",
            "text/html",
            mw.InternalServerError,
            "Bad Gateway",
        ),
        (404, b"", "text/plain", mw.NotFoundError, "Not Found"),
        (401, b"Token validation failed", "text/plain", mw.AuthenticationError, "Unauthorized"),
        (
            400,
            b'{"error": {"code": "INVALID',
            "application/json",
            mw.BadRequestError,
            "Bad Request",
        ),
    ],
    ids=["html", "empty", "text", "truncated-json"],
)
async def test_odd_error_bodies(
    wire: Wire,
    fake_time: Any,
    status: int,
    body: bytes,
    content_type: str,
    cls: type[Exception],
    message: str,
) -> None:
    """HTML, empty, plain-text and broken JSON error bodies still give the typed error."""
    wire.always(R(status, body=body, content_type=content_type, headers={"x-trace-id": "tr"}))
    async with make_client(fake_time, max_retries=0) as client:
        with pytest.raises(cls) as info:
            await client.conversations.get("conv_1")
    assert info.value.message == message  # type: ignore[attr-defined]
    assert info.value.code is None  # type: ignore[attr-defined]
    assert info.value.request_id == "tr"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html>maintenance</html>", "text/html"),
        (b"", ""),
        (b"{not json", "application/json"),
        (b"\xff\xfe\x00", "application/json"),
    ],
    ids=["html", "no-content-type", "bad-json", "binary"],
)
async def test_success_with_non_json_body(
    wire: Wire, fake_time: Any, body: bytes, content_type: str
) -> None:
    """A 2xx reply that is not JSON raises UnexpectedResponseError with status and request id."""
    wire.always(
        R(200, body=body, content_type=content_type, headers={"x-moveworks-root-uuid": "root-3"})
    )
    async with make_client(fake_time) as client:
        with pytest.raises(mw.UnexpectedResponseError) as info:
            await client.conversations.get("conv_1")
    assert info.value.status_code == 200
    assert info.value.request_id == "root-3"


@pytest.mark.parametrize(
    "body", [[conversation()], "conv_1", 42, None], ids=["list", "string", "int", "null"]
)
async def test_success_with_wrong_json_shape(wire: Wire, fake_time: Any, body: Any) -> None:
    """A JSON 2xx body of the wrong shape raises ResponseValidationError at ``$`` (with id)."""
    raw = b"null" if body is None else None
    wire.always(
        R(200, body if raw is None else None, body=raw or b"", headers={"x-trace-id": "tr-5"})
    )
    async with make_client(fake_time) as client:
        with pytest.raises(mw.ResponseValidationError) as info:
            await client.conversations.get("conv_1")
    assert info.value.path == "$"
    assert info.value.request_id == "tr-5"


async def test_validation_error_path_through_client(wire: Wire, fake_time: Any) -> None:
    """A malformed nested field in a real reply names its path."""
    payload = response("COMPLETED")
    payload["outputs"][1]["message"]["content"]["commonmark_text"]["text"] = {"oops": 1}
    wire.always(R(200, payload, headers={"x-trace-id": "tr-6"}))
    async with make_client(fake_time) as client:
        with pytest.raises(mw.ResponseValidationError) as info:
            await client.responses.get("conv_1", "resp_1")
    assert info.value.path == "$.outputs[1].message.content.commonmark_text.text"
    assert info.value.request_id == "tr-6"


# --- retries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
async def test_get_retried_on_transient_status_then_succeeds(
    wire: Wire, fake_time: Any, status: int
) -> None:
    """An idempotent GET is retried after a transient status and returns the later success."""
    wire.sequence(R(status, ENVELOPE), R(status, ENVELOPE), conversation("conv_1"))
    async with make_client(fake_time) as client:
        conv = await client.conversations.get("conv_1")
    assert conv.conversation_id == "conv_1"
    assert len(wire.calls) == 3
    assert len(fake_time.sleeps) >= 2  # backoff between attempts, on the fake clock


async def test_get_gives_up_after_max_retries(wire: Wire, fake_time: Any) -> None:
    """With max_retries=2 a GET is tried three times, then the error surfaces."""
    wire.always(R(500, ENVELOPE))
    async with make_client(fake_time, max_retries=2) as client:
        with pytest.raises(mw.InternalServerError) as info:
            await client.conversations.get("conv_1")
    assert len(wire.calls) == 3
    assert info.value.outcome_unknown is False


async def test_backoff_is_capped_full_jitter(wire: Wire, fake_time: Any) -> None:
    """Retry delays stay within ``[0, min(cap, base * 2**n)]``."""
    wire.always(R(500, ENVELOPE))
    policy = mw.RetryPolicy(max_retries=6, backoff_base=0.5, backoff_cap=2.0)
    async with make_client(fake_time, retry_policy=policy) as client:
        with pytest.raises(mw.InternalServerError):
            await client.conversations.get("conv_1")
    assert len(wire.calls) == 7
    backoffs = [s for s in fake_time.sleeps if s > 0]
    assert len(backoffs) <= 6
    for n, delay in enumerate(fake_time.sleeps):
        assert 0 <= delay <= min(2.0, 0.5 * 2**n)


async def test_per_call_max_retries_overrides_client(wire: Wire, fake_time: Any) -> None:
    """``responses.get(max_retries=0)`` makes a single attempt."""
    wire.always(R(503, ENVELOPE))
    async with make_client(fake_time, max_retries=5) as client:
        with pytest.raises(mw.InternalServerError):
            await client.responses.get("conv_1", "resp_1", max_retries=0)
    assert len(wire.calls) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
async def test_client_errors_are_not_retried(wire: Wire, fake_time: Any, status: int) -> None:
    """4xx replies (other than 408/429) are final."""
    wire.always(R(status, ENVELOPE))
    async with make_client(fake_time) as client:
        with pytest.raises(mw.APIStatusError):
            await client.conversations.get("conv_1")
    assert len(wire.calls) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize(
    "create",
    [
        lambda c: c.responses.create("conv_1", text="hi"),
        lambda c: c.conversations.create(title="t"),
    ],
    ids=["responses.create", "conversations.create"],
)
async def test_create_not_retried_on_5xx(
    wire: Wire, fake_time: Any, status: int, create: Any
) -> None:
    """A create is sent once on a 5xx and the error says its outcome is unknown."""
    wire.always(R(status, ENVELOPE))
    async with make_client(fake_time, max_retries=3) as client:
        with pytest.raises(mw.InternalServerError) as info:
            await create(client)
    assert len(wire.calls) == 1
    assert info.value.outcome_unknown is True


async def test_create_retried_on_429(wire: Wire, fake_time: Any) -> None:
    """A 429 was refused before processing, so even a create is retried, after Retry-After."""
    wire.sequence(R(429, ENVELOPE, headers={"Retry-After": "3"}), R(202, response("CREATED")))
    async with make_client(fake_time) as client:
        start = fake_time.clock()
        resp = await client.responses.create("conv_1", text="hi")
    assert resp.status == "CREATED"
    assert [c.method for c in wire.calls] == ["POST", "POST"]
    assert fake_time.clock() - start >= 3.0


async def test_retry_after_above_cap_is_not_waited(wire: Wire, fake_time: Any) -> None:
    """A Retry-After above ``max_retry_after`` raises RateLimitError at once."""
    wire.always(R(429, ENVELOPE, headers={"Retry-After": "3600"}))
    async with make_client(fake_time) as client:
        with pytest.raises(mw.RateLimitError) as info:
            await client.conversations.get("conv_1")
    assert info.value.retry_after == 3600.0
    assert len(wire.calls) == 1
    assert fake_time.sleeps == []


async def test_patch_and_feedback_are_retried(wire: Wire, fake_time: Any) -> None:
    """PATCH (same values) and feedback (same callback id) are safe to retry."""
    wire.sequence(R(500, ENVELOPE), conversation("conv_1"))
    async with make_client(fake_time) as client:
        await client.conversations.update("conv_1", title="x")
        wire.sequence(R(502, ENVELOPE), {"status": "SUBMITTED"})
        await client.feedback.submit("conv_1", "resp_1", "msg_1", callback_id="fb")
    assert [c.method for c in wire.calls] == ["PATCH", "PATCH", "POST", "POST"]


async def test_get_retried_after_disconnect(wire: Wire, fake_time: Any) -> None:
    """A GET whose connection dropped is retried."""
    replies: list[Any] = [aiohttp.ServerDisconnectedError(), conversation("conv_1")]

    def handler(call: Call) -> Any:
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    wire.serve(handler)
    async with make_client(fake_time) as client:
        assert (await client.conversations.get("conv_1")).conversation_id == "conv_1"
    assert len(wire.calls) == 2


async def test_create_not_retried_after_disconnect(wire: Wire, fake_time: Any) -> None:
    """A create whose connection dropped after sending is not replayed: outcome unknown."""

    def handler(call: Call) -> Any:
        raise aiohttp.ServerDisconnectedError()

    wire.serve(handler)
    async with make_client(fake_time) as client:
        with pytest.raises(mw.APIConnectionError) as info:
            await client.responses.create("conv_1", text="hi")
    assert len(wire.calls) == 1
    assert info.value.outcome_unknown is True


async def test_retries_are_logged(
    wire: Wire, fake_time: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Each retry is logged at INFO with method, path and reason."""
    wire.sequence(R(500, ENVELOPE), conversation("conv_1"))
    with caplog.at_level(logging.INFO, logger="moveworks_async"):
        async with make_client(fake_time) as client:
            await client.conversations.get("conv_1")
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 1
    assert "GET /rest/v1beta1/conversations/conv_1" in retries[0]
    assert "500" in retries[0]


# --- configuration ---------------------------------------------------------------------------


async def test_repr_shows_configuration() -> None:
    """The client's repr names host, assistant, generation and the auth kind."""
    client = mw.AsyncMoveworks(assistant_name="acme-capi", token="tok-test", api_version="v1")
    text = repr(client)
    assert "https://api.moveworks.ai" in text
    assert "acme-capi" in text
    assert "'v1'" in text
    assert "StaticToken" in text


async def test_async_callable_auth_called_per_attempt(wire: Wire, fake_time: Any) -> None:
    """An async callable is asked for a bearer before every attempt."""
    tokens = iter(["t1", "t2", "t3"])

    async def auth() -> str:
        return next(tokens)

    wire.sequence(R(500, ENVELOPE), conversation("conv_1"))
    async with make_client(fake_time, token=None, auth=auth) as client:
        await client.conversations.get("conv_1")
    assert [c.headers["Authorization"] for c in wire.calls] == ["Bearer t1", "Bearer t2"]


async def test_default_generation_is_v1(wire: Wire, fake_time: Any) -> None:
    """Without api_version the client talks to /rest/v1, the generation the API calls current."""
    wire.always(conversation())
    client = mw.AsyncMoveworks(assistant_name="acme-capi", token="t", sleep=fake_time.sleep)
    async with client:
        assert client.generation is mw.Generation.V1
        await client.conversations.get("conv_1")
    assert wire.calls[0].path == "/rest/v1/conversations/conv_1"
