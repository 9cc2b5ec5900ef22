"""Hostile and invalid input is refused with a ValueError before any I/O."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from _core_support import RawServer, Wire, conversation, http_reply, response
from aioresponses import aioresponses

import moveworks_async as mw

pytestmark = pytest.mark.asyncio

HOSTILE_IDS = [
    pytest.param("../x", id="dotdot-slash"),
    pytest.param("..", id="dotdot"),
    pytest.param(".", id="dot"),
    pytest.param("a/b", id="slash"),
    pytest.param("%2e%2e", id="encoded-dotdot"),
    pytest.param("%2F", id="encoded-slash"),
    pytest.param("x?y=1", id="query"),
    pytest.param("x#f", id="fragment"),
    pytest.param("a\r\nb", id="crlf"),
    pytest.param("a\nb", id="lf"),
    pytest.param("a\x00b", id="nul"),
    pytest.param("a b", id="space"),
    pytest.param(" conv_1", id="leading-space"),
    pytest.param("", id="empty"),
    pytest.param("x" * 10_000, id="10k"),
    pytest.param("x" * 257, id="257"),
    pytest.param("conv_café", id="latin1"),
    pytest.param("会話_1", id="cjk"),
    pytest.param("conv_\u202e1", id="bidi"),
    pytest.param("conv_\uff11", id="fullwidth-digit"),
    pytest.param(None, id="none"),
    pytest.param(123, id="int"),
    pytest.param(b"conv_1", id="bytes"),
]

# Every id-taking call; ``bad`` goes into one slot, the others get valid ids.
ID_CALLS: list[tuple[str, Callable[[mw.AsyncMoveworks, Any], Any]]] = [
    ("conversations.get", lambda c, bad: c.conversations.get(bad)),
    ("conversations.update", lambda c, bad: c.conversations.update(bad, title="t")),
    ("responses.create", lambda c, bad: c.responses.create(bad, text="hi")),
    ("responses.get[conversation]", lambda c, bad: c.responses.get(bad, "resp_1")),
    ("responses.get[response]", lambda c, bad: c.responses.get("conv_1", bad)),
    ("responses.wait", lambda c, bad: c.responses.wait("conv_1", bad)),
    ("messages.list", lambda c, bad: c.messages.list(bad)),
    ("messages.list_for_response", lambda c, bad: c.messages.list_for_response("conv_1", bad)),
    (
        "feedback.submit[message]",
        lambda c, bad: c.feedback.submit("conv_1", "resp_1", bad, callback_id="fb"),
    ),
    ("events.list[conversation]", lambda c, bad: c.events.list(bad)),
    ("events.list[starting_after]", lambda c, bad: c.events.list("-", starting_after=bad)),
    ("events.list[ending_at]", lambda c, bad: c.events.list("-", ending_at=bad)),
    ("events.get[event]", lambda c, bad: c.events.get("conv_1", bad)),
    ("modals.get[modal]", lambda c, bad: c.modals.get("conv_1", "resp_1", "msg_1", bad)),
    ("modals.submit[message]", lambda c, bad: c.modals.submit("conv_1", "resp_1", bad, "m", {})),
    ("modals.refresh[response]", lambda c, bad: c.modals.refresh("conv_1", bad, "msg_1", "m", {})),
]


@pytest.fixture
def wire() -> Iterator[Wire]:
    """aioresponses answering 200 to anything (so a leaked request would succeed)."""
    with aioresponses() as mock:
        w = Wire(mock)
        w.always(conversation())
        yield w


async def drive(result: Any) -> Any:
    """Await a coroutine or start iterating an async iterator."""
    if inspect.isawaitable(result):
        return await result
    assert isinstance(result, AsyncIterator)
    return await anext(result)


def client(**kwargs: Any) -> mw.AsyncMoveworks:
    kwargs.setdefault("assistant_name", "acme-capi")
    kwargs.setdefault("token", "tok-test")
    kwargs.setdefault("api_version", "v1")
    return mw.AsyncMoveworks(**kwargs)


# None is the documented "no bound" value of the optional event-id bounds.
_OPTIONAL = {"events.list[starting_after]", "events.list[ending_at]"}
ID_CASES = [
    pytest.param(call, bad.values[0], id=f"{name}-{bad.id}")
    for name, call in ID_CALLS
    for bad in HOSTILE_IDS
    if not (name in _OPTIONAL and bad.values[0] is None)
]


@pytest.mark.parametrize(("call", "bad"), ID_CASES)
async def test_hostile_ids_refused_before_io(
    wire: Wire, call: Callable[[mw.AsyncMoveworks, Any], Any], bad: Any
) -> None:
    """Path-unsafe ids raise InvalidParameterError (a ValueError) and send nothing."""
    async with client() as c:
        with pytest.raises(ValueError) as info:
            await drive(call(c, bad))
    assert isinstance(info.value, mw.InvalidParameterError)
    assert wire.calls == []


@pytest.mark.parametrize(
    "bad",
    ["../../admin", "conv?injected=1", "會話-evil", "tok-CANARY-123\r\n"],
    ids=["dotdot", "query", "cjk", "crlf"],
)
async def test_error_message_does_not_echo_the_value(wire: Wire, bad: str) -> None:
    """The message names the parameter and the rule, never the rejected value."""
    async with client() as c:
        with pytest.raises(mw.InvalidParameterError) as info:
            await c.conversations.get(bad)
    assert "conversation_id" in str(info.value)
    assert bad.strip() not in str(info.value)
    assert bad.strip() not in repr(info.value)


@pytest.mark.parametrize(
    "good",
    [
        "conv_32bt7BMLhLyVzTUjfi35N",
        "conv_01J9ZK4Q8T3X7Y2M5N6P8R0S1V",
        "modal_1",
        "x" * 256,
        "a-b_C9",
    ],
)
async def test_documented_id_shapes_are_accepted(wire: Wire, good: str) -> None:
    """Base-62, ULID and opaque ids (up to 256 characters) pass validation."""
    async with client() as c:
        await c.conversations.get(good)
    assert wire.calls[0].path == f"/rest/v1/conversations/{good}"


async def test_dash_accepted_for_event_listing(wire: Wire) -> None:
    """``"-"`` (all conversations) is a valid events.list conversation id."""
    wire.always({"events": [], "metadata": None})
    async with client() as c:
        assert [e async for e in c.events.list("-")] == []
    assert wire.calls[0].path == "/rest/v1/conversations/-/events"


async def test_hostile_ids_reach_no_real_server() -> None:
    """Against a real local server, hostile ids cause zero requests on the wire."""

    async def handler(
        server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        writer.write(http_reply(200, b"{}"))
        await writer.drain()

    async with RawServer(handler).running() as server, client(base_url=server.url) as c:
        for bad in ("../x", "a/b", "%2e%2e", "x?y=1", "x#f", "a\r\nb", "", "x" * 10_000, "é"):
            with pytest.raises(mw.InvalidParameterError):
                await c.conversations.get(bad)
            with pytest.raises(mw.InvalidParameterError):
                await c.responses.create(bad, text="hi")
    assert server.requests == 0


# --- header values ---------------------------------------------------------------------------

HOSTILE_HEADER_VALUES = [
    pytest.param("acme\r\ncapi", id="crlf"),
    pytest.param("acme\ncapi", id="lf"),
    pytest.param("acme\rcapi", id="cr"),
    pytest.param("acme\x00", id="nul"),
    pytest.param("acme\tcapi", id="tab"),
    pytest.param("acmé-capi", id="latin1"),
    pytest.param("アクメ", id="katakana"),
    pytest.param("acme\u2028", id="line-separator"),
    pytest.param("", id="empty"),
    pytest.param(" acme", id="leading-space"),
    pytest.param("acme ", id="trailing-space"),
    pytest.param("a" * 5000, id="5000"),
    pytest.param(None, id="none"),
    pytest.param(5, id="int"),
]


@pytest.mark.parametrize("bad", HOSTILE_HEADER_VALUES)
async def test_hostile_assistant_name(wire: Wire, bad: Any) -> None:
    """Assistant names that are not printable ASCII header values are refused at construction."""
    with pytest.raises(ValueError) as info:
        client(assistant_name=bad)
    assert isinstance(info.value, mw.InvalidParameterError)
    assert "assistant_name" in str(info.value)
    assert wire.calls == []


HOSTILE_TOKENS = [
    p for p in HOSTILE_HEADER_VALUES if p.values[0] is not None and p.id != "5000"
] + [pytest.param("a" * 20_000, id="20000")]


@pytest.mark.parametrize("bad", HOSTILE_TOKENS)
async def test_hostile_token(wire: Wire, bad: Any) -> None:
    """Tokens that could not be sent as a header value are refused at construction."""
    with pytest.raises(mw.InvalidParameterError):
        client(token=bad)
    assert wire.calls == []


async def test_long_jwt_token_is_accepted(wire: Wire) -> None:
    """A 5,000-character bearer (an IdP-exchanged JWT) is sent, not refused as a short header."""
    token = "eyJ" + "a" * 4997
    async with client(token=token) as c:
        await c.conversations.get("conv_1")
    assert wire.calls[0].headers["Authorization"] == "Bearer " + token


async def test_assistant_name_with_inner_spaces_is_fine(wire: Wire) -> None:
    """Inner spaces are legal in a header value and sent as given."""
    async with client(assistant_name="Acme IT Bot") as c:
        await c.conversations.get("conv_1")
    assert wire.calls[0].headers["Assistant-Name"] == "Acme IT Bot"


# --- configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        "api.moveworks.ai",
        "ftp://api.moveworks.ai",
        "javascript:alert(1)",
        "https://",
        "https://api.moveworks.ai?x=1",
        "https://api.moveworks.ai#frag",
        "",
        "https://api.moveworks.ai\r\nX-Evil: 1",
        "https://api.moveworks.ai\t",
        "https://api .moveworks.ai",
        "https://user:secret@api.moveworks.ai",
        "https://api.moveworks.ai:99999",
        "https://[::1",
        5,
    ],
    ids=[
        "no-scheme",
        "ftp",
        "javascript",
        "no-host",
        "query",
        "fragment",
        "empty",
        "crlf",
        "tab",
        "space-in-host",
        "userinfo",
        "bad-port",
        "bad-ipv6",
        "int",
    ],
)
async def test_bad_base_url(bad: Any) -> None:
    """A base_url that is not a plain http(s) origin (no controls, spaces, userinfo) is refused."""
    with pytest.raises(mw.InvalidParameterError):
        client(base_url=bad)


@pytest.mark.parametrize(
    "good",
    [
        "https://api.moveworks.ai",
        "https://api.am-eu-central.moveworks.ai/",
        "http://127.0.0.1:8080",
        "https://[::1]:8443",
    ],
)
async def test_good_base_urls(good: str) -> None:
    """Regional hosts, local test servers and IPv6 literals are accepted."""
    assert client(base_url=good).base_url == good.rstrip("/")


@pytest.mark.parametrize("bad", ["v2", "V1", "/rest/v1", "", 1, "v1 "])
async def test_bad_api_version(bad: Any) -> None:
    """Only the three documented generations are accepted."""
    with pytest.raises(mw.InvalidParameterError, match="api_version"):
        client(api_version=bad)


@pytest.mark.parametrize("bad", [0, 101, -1, "10", 1.5, True, 10**9])
@pytest.mark.parametrize(
    "call",
    [
        lambda c, n: c.conversations.list(limit=n),
        lambda c, n: c.messages.list("conv_1", limit=n),
        lambda c, n: c.events.list("-", limit=n),
    ],
    ids=["conversations", "messages", "events"],
)
async def test_bad_limit(wire: Wire, bad: Any, call: Callable[[Any, Any], Any]) -> None:
    """``limit`` must be an int in 1..100; it is checked when the list is created."""
    async with client() as c:
        with pytest.raises(mw.InvalidParameterError, match="limit"):
            call(c, bad)
    assert wire.calls == []


@pytest.mark.parametrize("good", [1, 100])
async def test_limit_bounds_accepted(wire: Wire, good: int) -> None:
    """1 and 100 are valid page sizes."""
    wire.always({"conversations": [], "metadata": None})
    async with client() as c:
        assert [x async for x in c.conversations.list(limit=good)] == []
    assert wire.calls[0].query["limit"] == str(good)


@pytest.mark.parametrize(
    "bad",
    [0, -1, "5", True, float("inf"), float("nan"), [1]],
    ids=["zero", "negative", "str", "bool", "inf", "nan", "list"],
)
async def test_bad_client_timeout(bad: Any) -> None:
    """A client timeout must be a Timeout, a positive finite number or None."""
    with pytest.raises(mw.InvalidParameterError, match="timeout"):
        client(timeout=bad)


@pytest.mark.parametrize("bad", [0, -5, float("inf"), "1", True])
async def test_bad_per_call_timeout(wire: Wire, bad: Any) -> None:
    """A per-call timeout is validated before any request."""
    async with client() as c:
        with pytest.raises(mw.InvalidParameterError):
            await c.conversations.get("conv_1", timeout=bad)
    assert wire.calls == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"connect": -1},
        {"read": 0},
        {"total": float("inf")},
        {"connect": float("nan")},
        {"read": "5"},
    ],
    ids=["connect-negative", "read-zero", "total-inf", "connect-nan", "read-str"],
)
async def test_bad_timeout_fields(kwargs: dict[str, Any]) -> None:
    """Each Timeout field must be a positive finite number or None."""
    with pytest.raises(mw.InvalidParameterError):
        mw.Timeout(**kwargs)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
async def test_bad_max_retries(wire: Wire, bad: Any) -> None:
    """``max_retries`` must be an int >= 0, on the client and per call."""
    with pytest.raises(mw.InvalidParameterError, match="max_retries"):
        client(max_retries=bad)
    async with client() as c:
        with pytest.raises(mw.InvalidParameterError, match="max_retries"):
            await c.responses.get("conv_1", "resp_1", max_retries=bad)
    assert wire.calls == []


@pytest.mark.parametrize("bad", [0, -1, "150", True, None])
async def test_bad_wait_timeout(wire: Wire, bad: Any) -> None:
    """``responses.wait(timeout=)`` must be a positive number."""
    async with client() as c:
        with pytest.raises(mw.InvalidParameterError):
            await c.responses.wait("conv_1", "resp_1", timeout=bad)
    assert wire.calls == []


async def test_text_input_is_sent_verbatim(wire: Wire) -> None:
    """Message text is JSON-encoded, not validated: CR/LF, quotes and non-ASCII pass intact."""
    text = 'line 1\r\nline "2" — 会話 \x00 </script>'
    wire.always(
        {
            "response_id": "r",
            "conversation_id": "c",
            "status": "CREATED",
            "created_at": "2025-01-20T10:00:00Z",
        }
    )
    async with client() as c:
        await c.responses.create("conv_1", text=text)
    assert wire.calls[0].json == {"input": {"chat": {"text": text}}}


@pytest.mark.parametrize("bad", ["../x", "a/b", "x\r\ny", "", "x" * 300])
async def test_get_and_wait_refuse_a_response_id_no_url_can_hold(wire: Wire, bad: str) -> None:
    """As a create does: a GET whose reply names a response id the SDK could not put into a
    URL fails with ResponseValidationError at ``$.response_id`` instead of returning it (an
    outside review had ``get`` and ``wait`` hand back "../x" and "x\\r\\ny")."""
    wire.always({**response("COMPLETED"), "response_id": bad})
    async with client() as c:
        for call in (c.responses.get, c.responses.wait):
            with pytest.raises(mw.ResponseValidationError) as info:
                await call("conv_1", "resp_1")
            assert info.value.path == "$.response_id"
