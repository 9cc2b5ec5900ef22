"""Regression tests of issue 12's items 1-9, one test (or parametrized group) per item.

Each failed before its fix. JSON-decoding tests run with both backends: the default install
has no orjson, so the stdlib path (``stdlib_json``) is what most users get.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from _core_support import BASE, R, Wire
from _stream_support import RID, event, response_json, scripted
from aioresponses import aioresponses

import moveworks_async as mw
from moveworks_async import _json

pytestmark = pytest.mark.asyncio

CID = "conv_1"


def _stdlib_json_module() -> ModuleType:
    """A second copy of ``moveworks_async._json`` built as if orjson were not installed."""
    saved = sys.modules.get("orjson")
    sys.modules["orjson"] = None  # type: ignore[assignment]  # makes "import orjson" fail
    try:
        name = "moveworks_async._json_stdlib"
        spec = importlib.util.spec_from_file_location(name, _json.__file__)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["orjson"]
        else:
            sys.modules["orjson"] = saved
    assert module.using_orjson is False
    return module


_STDLIB = _stdlib_json_module()


@pytest.fixture(params=["stdlib", "orjson"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test with each JSON backend in turn (every caller goes through ``_json.x``)."""
    if request.param == "stdlib":
        monkeypatch.setattr(_json, "loads", _STDLIB.loads)
        monkeypatch.setattr(_json, "dumps", _STDLIB.dumps)
    elif not _json.using_orjson:  # pragma: no cover - orjson is a test dependency
        pytest.skip("orjson not installed")
    return request.param


@pytest.fixture
def wire() -> Iterator[Wire]:
    with aioresponses() as mock:
        yield Wire(mock)


def client(**kw: Any) -> mw.AsyncMoveworks:
    kw.setdefault("token", "tok-item")
    return mw.AsyncMoveworks(assistant_name="acme", **kw)


DEEP = "[" * 20_000 + "]" * 20_000  # under aioresponses' 64 KiB body limit


# --- item 1: every exception that leaves a public call is a MoveworksError -------------------


@pytest.mark.parametrize(
    "output", [None, "a string", "MISSING", {"type": "MESSAGE", "message": None}]
)
async def test_item1_bad_delta_output_is_typed_and_fails_the_stream(output: Any) -> None:
    payload: dict[str, Any] = {} if output == "MISSING" else {"output": output}
    script = [
        event("RESPONSE_CREATED", 1, response=response_json("CREATED")),
        event("RESPONSE_OUTPUT_DELTA", 2, **payload),
    ]
    async with scripted(script) as (_server, c), c.responses.stream(CID, text="hi") as stream:
        with pytest.raises(mw.MoveworksError) as caught:
            async for _ in stream:
                pass
        assert isinstance(caught.value, mw.ResponseValidationError)
        assert caught.value.path.startswith("$.output")
        # The stream's failure path ran: the connection is let go, recovery still works.
        assert stream._reply is None
        final = await stream.final_response()
        assert final.response_id == RID


async def test_item1_deep_json_is_typed_everywhere(backend: str, wire: Wire) -> None:
    wire.always(R(200, body=DEEP))
    async with client(base_url=BASE) as c:
        with pytest.raises(mw.UnexpectedResponseError):
            await c.conversations.get(CID, max_retries=0)
        wire.always(R(400, body=DEEP))
        with pytest.raises(mw.BadRequestError) as bad:
            await c.conversations.get(CID, max_retries=0)
        assert isinstance(bad.value.body, str)
        assert len(bad.value.body) <= 2048
    # The token endpoint's reply too.
    wire.always(R(200, body=DEEP))
    creds = mw.ClientCredentials("id", "secret-item")
    async with client(base_url=BASE, token=None, auth=creds) as c:
        with pytest.raises(mw.MoveworksError):
            await c.conversations.get(CID, max_retries=0)


async def test_item1_deep_stream_data_is_a_protocol_error(backend: str) -> None:
    script = [
        event("RESPONSE_CREATED", 1, response=response_json("CREATED")),
        b"event: RESPONSE_OUTPUT_DELTA\ndata: " + DEEP.encode() + b"\n\n",
    ]
    async with scripted(script) as (_, c), c.responses.stream(CID, text="hi") as stream:
        with pytest.raises(mw.StreamProtocolError):
            async for _ in stream:
                pass


@pytest.mark.parametrize("expires", ["1" + "0" * 400, "NaN", "1e400", "Infinity"])
async def test_item1_absurd_token_lifetimes_are_typed(
    backend: str, wire: Wire, expires: str
) -> None:
    token_reply = '{"access_token": "tok-x", "expires_in": ' + expires + "}"
    tokens = 0

    def handler(call: Any) -> R:
        nonlocal tokens
        if call.path.endswith("/oauth/v1/token"):
            tokens += 1
            return R(200, body=token_reply)
        return R(200, {"conversation_id": CID})

    wire.serve(handler)
    creds = mw.ClientCredentials("id", "secret-item")
    async with client(base_url=BASE, token=None, auth=creds) as c:
        for _ in range(3):
            with pytest.raises(mw.MoveworksError) as caught:
                await c.conversations.get(CID, max_retries=0)
            assert isinstance(caught.value, mw.ResponseValidationError | mw.UnexpectedResponseError)
    assert tokens == 3  # one attempt per call, none cached, nothing else raised


@pytest.mark.parametrize("text", ["\ud800", "ok \udfff tail"])
async def test_item1_lone_surrogate_is_invalid_parameter_before_io(
    backend: str, wire: Wire, text: str
) -> None:
    async with client(base_url=BASE) as c:
        with pytest.raises(mw.InvalidParameterError, match="text"):
            await c.responses.create(CID, text=text)
        with pytest.raises(mw.InvalidParameterError, match="text"):
            c.responses.stream(CID, text=text)
        with pytest.raises(mw.InvalidParameterError, match="title"):
            await c.conversations.create(title=text)
    assert wire.calls == []


@pytest.mark.parametrize("value", [object(), "\ud800", {1j: 2}])
async def test_item1_unencodable_modal_value_is_invalid_parameter(
    backend: str, wire: Wire, value: Any
) -> None:
    async with client(base_url=BASE, api_version="v1") as c:
        with pytest.raises(mw.InvalidParameterError):
            await c.modals.submit(CID, "resp_1", "msg_1", "modal_1", {"field": {"value": value}})
    assert wire.calls == []
