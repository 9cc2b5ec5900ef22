"""Regression tests of the second adversarial review of issue 12 (findings numbered as in it).

Each failed before its fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _core_support import BASE, R, Wire
from aioresponses import aioresponses

import moveworks_async as mw
from moveworks_async._protocol import mask_text

CID = "conv_1"
TOKEN = "tok-CANARY-review2-Zq9x7Wv3"


@pytest.fixture
def wire() -> Iterator[Wire]:
    with aioresponses() as mock:
        yield Wire(mock)


def client(**kw: Any) -> mw.AsyncMoveworks:
    kw.setdefault("token", TOKEN)
    kw.setdefault("base_url", BASE)
    return mw.AsyncMoveworks(assistant_name="acme", **kw)


# --- finding 1: the masker is iterative and bounded; nesting never escapes untyped -----------

NESTED = {
    "amp": "&" + "amp;" * 5000,
    "amp-1100": "&" + "amp;" * 1100,
    "pct": "%" + "25" * 5000,
    "mixed": ("&amp;%25" * 3000),
}


@pytest.mark.parametrize("text", list(NESTED.values()), ids=list(NESTED))
def test_f1_mask_text_of_deep_nesting_is_bounded(text: str) -> None:
    # Before: one recursive call per peeled layer, RecursionError at ~1000 layers.
    start = time.process_time()
    assert mask_text(text, (TOKEN,)) == text
    assert time.process_time() - start < 1.0  # linear: a few ms; recursion took 100+ ms


def test_f1_mask_text_still_peels_a_few_layers() -> None:
    hidden = TOKEN.replace("-", "&amp;#45;")  # entity behind an entity
    assert TOKEN not in mask_text("x " + hidden, (TOKEN,))
    assert "<redacted>" in mask_text("x " + hidden, (TOKEN,))
    twice = TOKEN.replace("-", "%252D")  # percent-encoded twice
    assert mask_text(twice, (TOKEN,)) == "<redacted>"
    both = TOKEN.replace("-", "&#37;2D")  # a percent escape behind an entity
    assert mask_text(both, (TOKEN,)) == "<redacted>"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "reply",
    [
        R(500, body=json.dumps({"message": NESTED["amp-1100"]})),
        R(500, body=json.dumps({"message": NESTED["pct"]})),
        R(500, body=json.dumps({"code": NESTED["amp"], "message": "m"})),
        R(500, body=NESTED["amp"], content_type="text/plain"),
        R(500, body='{"message": "x"}', headers={"x-trace-id": "&" + "amp;" * 2000}),
    ],
    ids=["message", "percent", "code", "text-body", "request-id"],
)
async def test_f1_nested_server_text_is_a_typed_error(wire: Wire, reply: R) -> None:
    wire.always(reply)
    async with client() as c:
        with pytest.raises(mw.InternalServerError):
            await c.conversations.get(CID, max_retries=0)
        with pytest.raises(mw.InternalServerError) as caught:
            await c.responses.create(CID, text="hi", max_retries=0)
    assert caught.value.outcome_unknown is True


# --- finding 5a: literal \uXXXX escapes of the bearer are masked -----------------------------


def _esc(text: str, fmt: str = "\\u{:04x}") -> str:
    return "".join(fmt.format(ord(ch)) for ch in text)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "echo",
    [
        _esc(TOKEN),
        _esc(TOKEN, "\\u{:04X}"),
        TOKEN[:3] + _esc(TOKEN[3]) + TOKEN[4:],
        TOKEN.replace("-", "\\u002d"),
        json.dumps({"auth": "Bearer " + TOKEN}).replace("C", "\\u0043"),
    ],
    ids=["all", "upper-hex", "one-char", "dash-only", "in-json-dump"],
)
async def test_f5a_literal_u_escaped_bearer_is_masked(wire: Wire, echo: str) -> None:
    wire.always(R(500, json={"code": "E " + echo, "message": "debug: " + echo}))
    async with client() as c:
        with pytest.raises(mw.APIStatusError) as caught:
            await c.conversations.get(CID, max_retries=0)
    shown = " ".join([str(caught.value), str(caught.value.code), repr(caught.value.body)])
    decoded = shown.encode().decode("unicode_escape", "ignore")
    assert TOKEN not in decoded
    assert "<redacted>" in shown


# --- finding 2: a response id the SDK cannot use is a server error, outcome unknown ----------

BAD_IDS = ["a/b", "../x", "r\r\nX-Evil: 1", "", "%2e%2e", "x" * 300]


@pytest.mark.asyncio
@pytest.mark.parametrize("rid", BAD_IDS, ids=["slash", "dotdot", "crlf", "empty", "pct", "long"])
async def test_f2_stream_with_an_unusable_server_id_fails_before_delivering_it(rid: str) -> None:
    from _stream_support import event, response_json, scripted

    # RESPONSE_CREATED with the bad id, then the connection is cut (no terminal event).
    script = [event("RESPONSE_CREATED", 1, response=response_json("CREATED", response_id=rid))]
    delivered: list[Any] = []
    async with scripted(script) as (server, c):
        with pytest.raises(mw.APIError) as caught:
            async with c.responses.stream(CID, text="hi") as stream:
                async for ev in stream:
                    delivered.append(ev)
        polls = server.polls
    assert not isinstance(caught.value, mw.InvalidParameterError)
    assert isinstance(caught.value, mw.StreamProtocolError)
    assert caught.value.outcome_unknown is True
    assert delivered == []  # detected at RESPONSE_CREATED, before it is delivered
    assert polls == 0  # the id never went into a URL


@pytest.mark.asyncio
@pytest.mark.parametrize("rid", BAD_IDS, ids=["slash", "dotdot", "crlf", "empty", "pct", "long"])
async def test_f2_create_answered_with_an_unusable_id_is_outcome_unknown(
    wire: Wire, rid: str
) -> None:
    from _stream_support import response_json

    wire.always(R(200, response_json("CREATED", response_id=rid)))
    async with client() as c:
        with pytest.raises(mw.ResponseValidationError) as caught:
            await c.responses.create(CID, text="hi")
    assert caught.value.outcome_unknown is True
    assert caught.value.path == "$.response_id"
    assert len(wire.calls) == 1


# --- finding 3: a token fetch obeys the call's per-attempt bounds without a total ------------


@pytest.mark.asyncio
async def test_f3_token_fetch_obeys_per_attempt_bounds_when_total_is_none() -> None:
    from test_review_findings import black_hole

    async with black_hole() as (url, seen):
        creds = mw.ClientCredentials("id", "secret-review2", token_url=url + "/oauth/v1/token")
        async with client(base_url=url, token=None, auth=creds, max_retries=0) as c:
            call = c.conversations.get(CID, timeout=mw.Timeout(total=None, read=0.2))
            with pytest.raises(mw.ReadTimeout):
                # Before: the client's 60 s read default per token attempt; the guard fails.
                await asyncio.wait_for(call, 10)
    assert seen
    assert all(b"/oauth/" in line for line in seen)


# --- finding 4: no "Task exception was never retrieved" after a timed-out call (pyreqwest) ---


@pytest.mark.asyncio
@pytest.mark.real_time_timers(
    "pyreqwest does its I/O on its own threads, which a virtual loop cannot see"
)
@pytest.mark.parametrize("mode", ["float", "timeout", "stream"])
async def test_f4_pyreqwest_leaves_no_unretrieved_task_exception(mode: str) -> None:
    import gc

    pytest.importorskip("pyreqwest")
    from test_review_findings import black_hole

    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        async with black_hole() as (url, _):
            creds = mw.ClientCredentials("id", "secret-review2", token_url=url + "/oauth/v1/token")
            async with client(base_url=url, token=None, auth=creds, transport="pyreqwest") as c:
                with pytest.raises(mw.APITimeoutError):
                    if mode == "stream":
                        async with c.responses.stream(CID, text="x", deadline=0.3) as stream:
                            async for _ in stream:
                                pass
                    else:
                        limit = 0.3 if mode == "float" else mw.Timeout(total=0.3)
                        await c.conversations.get(CID, timeout=limit)
        for _ in range(3):
            await asyncio.sleep(0.05)
            gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert [context.get("message") for context in reported] == []


# --- finding 5b/5c: hook info and raw responses never hold the echoed token ------------------


class _Recorder(mw.Hooks):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_response(self, info: Any) -> None:
        self.seen.append(repr(info))

    def on_call_end(self, info: Any) -> None:
        self.seen.append(repr(info))

    def on_retry(self, info: Any) -> None:
        self.seen.append(repr(info))


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [200, 500])
async def test_f5b_hook_infos_never_hold_an_echoed_token(wire: Wire, status: int) -> None:
    from _core_support import conversation

    body = conversation(CID) if status == 200 else {"message": "x"}
    wire.always(R(status, body, headers={"x-trace-id": TOKEN}))
    hooks = _Recorder()
    async with client(hooks=[hooks], max_retries=1) as c:
        with pytest.raises(mw.APIStatusError) if status >= 400 else contextlib.nullcontext():
            await c.conversations.get(CID)
    assert any("request_id='<redacted>'" in seen for seen in hooks.seen), hooks.seen
    assert not [seen for seen in hooks.seen if TOKEN in seen]


@pytest.mark.asyncio
async def test_f5c_raw_response_masks_echoed_credentials(wire: Wire) -> None:
    from _core_support import conversation

    headers = {"x-trace-id": TOKEN, "x-debug": "you sent Bearer " + TOKEN}
    wire.always(R(200, conversation(CID), headers=headers))
    async with client() as c:
        raw = await c.conversations.with_raw_response.get(CID)
    assert raw.request_id == "<redacted>"
    assert raw.headers["X-Debug"] == "you sent Bearer <redacted>"  # still case-insensitive
    assert TOKEN not in repr(raw)
    assert raw.parse().conversation_id == CID


@pytest.mark.asyncio
async def test_f5_stream_request_id_is_masked() -> None:
    from _stream_support import ScriptServer, happy_events

    async with (
        ScriptServer(happy_events(), headers={"x-trace-id": TOKEN}) as server,
        client(base_url=server.url, api_version="v1beta1") as c,
    ):
        async with c.responses.stream(CID, text="hi") as stream:
            async for _ in stream:
                pass
            assert stream.request_id == "<redacted>"
            assert TOKEN not in repr(stream)


# --- finding 8: without uvloop, an error of the run is not chained to its ImportError --------


def test_f8_runner_without_uvloop_chains_no_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from moveworks_async import _runner

    async def boom() -> None:
        raise KeyError("unexpected")

    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed
    with pytest.raises(KeyError) as caught:
        _runner.run(boom())
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None


# --- finding 7: a stream after its `async with` (completed: keeps its result; cut: raises) ---


@pytest.mark.asyncio
async def test_f7_completed_stream_keeps_its_result_after_async_with() -> None:
    from _stream_support import happy_events, scripted

    async with scripted(happy_events()) as (_, c):
        async with c.responses.stream(CID, text="hi") as stream:
            delivered = [event async for event in stream]
            final = await stream.final_response()
        assert isinstance(delivered[-1], mw.ResponseCompleted)
        assert [event async for event in stream] == []
        assert [text async for text in stream.text_deltas()] == []
        assert await stream.final_response() is final
        assert final.status == "COMPLETED"


@pytest.mark.asyncio
@pytest.mark.parametrize("use", ["iterate", "text_deltas", "final_response"])
async def test_f7_stream_left_before_its_end_raises_client_state_error(use: str) -> None:
    from _stream_support import happy_events, scripted

    async with scripted(happy_events()) as (_, c):
        async with c.responses.stream(CID, text="hi") as stream:
            async for _ in stream:
                break
        with pytest.raises(mw.ClientStateError):
            if use == "iterate":
                async for _ in stream:
                    pass
            elif use == "text_deltas":
                async for _ in stream.text_deltas():
                    pass
            else:
                await stream.final_response()
