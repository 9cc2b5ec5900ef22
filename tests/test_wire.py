"""The msgspec wire path (``_wire``) gives what the reference path gives, byte for byte.

``_reply.model`` reads a reply through msgspec's wire Structs first (when msgspec is
installed and :data:`_wire.ENABLED`), else, or on a miss, through ``_json.loads`` and
``_converter.structure``. The reference here is the same call with the switch off. Over
realistic, generated and mutated payloads, sent as BYTES so that JSON-level oddities
(duplicate keys, ``1e400``, lone surrogates, a BOM, big integers, floats for ints...) are
covered, both must give an equal model (with the same types all the way down) or the same
exception type, message, path and ``outcome_unknown``.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from importlib.util import find_spec
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_converter import _conversation, _message, _response
from test_fastpath import CASES, _mutate

import moveworks_async as mw
from benchmarks import payloads
from moveworks_async import _fastpath, _json, _reply, _stream_machine, _wire
from moveworks_async._converter import unstructure
from moveworks_async._events import EVENT_TYPES, parse_event
from moveworks_async._models import (
    Conversation,
    Event,
    Message,
    Modal,
    ReasoningMessage,
    Response,
)
from moveworks_async._sse import ServerSentEvent, SSEDecoder
from moveworks_async._stream_machine import StreamMachine
from moveworks_async._transport import Reply

HAVE_MSGSPEC = find_spec("msgspec") is not None
needs_msgspec = pytest.mark.skipif(not HAVE_MSGSPEC, reason="msgspec is not installed")

JSON_HEADERS = {"Content-Type": "application/json", "X-Request-ID": "req_1"}


@pytest.fixture(autouse=True)
def _no_back_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """The differential tests feed thousands of payloads msgspec misses: without this the
    back-off would answer most of them with a miss before msgspec is tried, and the tests
    would compare the reference with itself. The back-off has its own tests below."""
    monkeypatch.setattr(_wire, "MISSES_BEFORE_SKIP", 10**9)


@contextmanager
def wire(enabled: bool) -> Iterator[None]:
    saved = _wire.ENABLED
    _wire.ENABLED = enabled and HAVE_MSGSPEC
    try:
        yield
    finally:
        _wire.ENABLED = saved


def typed(value: Any) -> Any:
    """``value`` with every type made explicit: attrs' ``==`` would let a plain ``str`` equal
    a ``ResponseStatus`` and 10:00+02:00 equal 08:00Z."""
    if attrs.has(type(value)):
        return (
            type(value),
            tuple((f.name, typed(getattr(value, f.name))) for f in attrs.fields(type(value))),
        )
    if type(value) is tuple or type(value) is list:
        return (type(value), tuple(typed(v) for v in value))
    if isinstance(value, dict):
        return (type(value), tuple((k, typed(v)) for k, v in value.items()))
    if isinstance(value, datetime):
        return (type(value), value.isoformat())
    if isinstance(value, Enum):
        return (type(value), value.value, value.is_known)  # type: ignore[attr-defined]
    return (type(value), value)


def outcome(body: bytes, cls: type[Any], *, enabled: bool, idempotent: bool = True) -> Any:
    reply = Reply(200, JSON_HEADERS, body)
    with wire(enabled):
        try:
            return "ok", typed(_reply.model(reply, cls, idempotent=idempotent))
        except Exception as exc:
            return "error", (
                type(exc),
                str(exc),
                getattr(exc, "path", None),
                getattr(exc, "outcome_unknown", None),
                getattr(exc, "request_id", None),
            )


def agree(body: bytes, cls: type[Any], *, idempotent: bool = True) -> tuple[Any, bool]:
    """Assert both paths agree on ``body``; the outcome and whether msgspec answered."""
    want = outcome(body, cls, enabled=False, idempotent=idempotent)
    got = outcome(body, cls, enabled=True, idempotent=idempotent)
    assert got == want, body
    with wire(True):
        hit = HAVE_MSGSPEC and _wire.decode(body, cls) is not _wire.MISS
    if hit:
        assert want[0] == "ok", body  # msgspec never accepts what the reference rejects
    return want, hit


# --- mutations at the JSON level -------------------------------------------------------------

#: JSON texts spliced in place of a value (or as a duplicate/unknown key's value).
RAW: list[bytes] = [
    b"1.0", b"1e400", b"-1e400", b"1.7976931348623159e308", b"1E2", b"-0", b"0", b"7",
    b"123456789012345678901234567890", b"-9223372036854775809", b"true", b"false", b"null",
    b"NaN", b"Infinity", b"-Infinity", b'"\\ud800"', b'"\\udc00x"', b'"\xed\xa0\x80"',
    b'"\\ud83d\\ude00"', b'"\xf0\x9f\x98\x80"', b'"\xff"', b'""', b'"x"', b"{}", b"[]",
    b"[1]", b'["a"]', b'"PAUSED"', b'"COMPLETED"', b'"2026-11-26T10:00:00"',
    b'"2026-11-26T10:00:00+02:00"', b'"2026-13-01T00:00:00Z"', b'"\\u0000"', b'"a\\/b"',
    b'{"type": "FUTURE_TYPE"}', b'{"type": "PLAIN_TEXT", "plain_text": {"text": "t"}}',
    b'{"a": 1, "a": 2}', b"[" * 300 + b"]" * 300, b'{"x": ' * 40 + b"1" + b"}" * 40,
    b'"\x01"', b"01", b"1.", b".5",
]  # fmt: skip

_SENTINEL = "\u0001sentinel"
_KEY = "\u0001key"


def _objects(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from _objects(item)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        yield from _paths(item, (*prefix, key))


def mutate_bytes(base: dict[str, Any], rng: random.Random) -> bytes:
    """``base`` mutated structurally (test_fastpath's mutations), then at the JSON level."""
    data = _mutate(base, rng) if rng.random() < 0.5 else json.loads(json.dumps(base))
    raw = rng.choice(RAW)
    how = rng.randrange(6)
    if how == 0:  # a value replaced by raw JSON text
        paths = list(_paths(data))
        if paths:
            path = rng.choice(paths)
            parent: Any = data
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = _SENTINEL
    elif how in (1, 2):  # a duplicate key, after (1) or before (2) the original
        objects = [o for o in _objects(data) if o]
        if objects:
            target = rng.choice(objects)
            key = rng.choice(list(target))
            items = list(target.items())
            target.clear()
            if how == 2:
                target[_KEY] = _SENTINEL
            target.update(items)
            if how == 1:
                target[_KEY] = _SENTINEL
            raw_key = json.dumps(key).encode()
            body = json.dumps(data, ensure_ascii=rng.random() < 0.5).encode()
            return body.replace(json.dumps(_KEY).encode(), raw_key, 1).replace(
                json.dumps(_SENTINEL).encode(), raw, 1
            )
    elif how == 3:  # an unknown key
        objects = list(_objects(data))
        rng.choice(objects)["zz_future"] = _SENTINEL
    body = json.dumps(data, ensure_ascii=rng.random() < 0.5).encode()
    body = body.replace(json.dumps(_SENTINEL).encode(), raw, 1)
    if how == 4:  # the document's edges
        body = rng.choice([b"\xef\xbb\xbf" + body, body + b" \n", b" " + body, body + b"x",
                           body[:-1], body + b"{}", b"[" + body + b"]", raw])  # fmt: skip
    return body


# --- tests ------------------------------------------------------------------------------------

BENCH = json.dumps(payloads.response(0)).encode()
CONVERSATION = b'{"conversation_id": "c", "created_at": "2026-01-01T00:00:00Z"}'
CREATE = json.dumps(
    {
        "response_id": "resp_0000000001",
        "conversation_id": payloads.CONV,
        "status": "CREATED",
        "created_at": "2026-11-26T10:00:00.000000Z",
        "outputs": [],
    }
).encode()


@needs_msgspec
def test_msgspec_is_on_by_default_in_this_run() -> None:
    """msgspec is a test dependency: the wire path must be live here, not silently off."""
    assert _wire.available()
    # (conftest clears MOVEWORKS_* variables per test: the module kept what import saw)
    assert _wire.ENABLED or not _wire._ALLOWED_BY_ENVIRONMENT


@needs_msgspec
@pytest.mark.parametrize("body", [BENCH, CREATE], ids=["bench-2.4KB", "create-220B"])
def test_hot_replies_take_the_msgspec_path(body: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's Response and a create's: msgspec answers, the reference decoder is
    never called (it raises here), and the model is the reference's."""
    want = outcome(body, Response, enabled=False)
    assert want[0] == "ok"

    def refuse(data: Any) -> Any:
        raise AssertionError("the reference decoder ran")

    monkeypatch.setattr(_json, "loads", refuse)
    got = outcome(body, Response, enabled=True)
    assert got == want


def _count_attempts(entry: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the msgspec attempts of one model's entry."""
    attempts = [0]
    decode = entry.decode

    def counting(data: Any) -> Any:
        attempts[0] += 1
        return decode(data)

    monkeypatch.setattr(entry, "decode", counting)
    return attempts


@needs_msgspec
def test_repeated_misses_back_off_then_msgspec_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that adds a field sends it in every reply: after MISSES_BEFORE_SKIP misses in a
    row msgspec is not tried for the next SKIP_AFTER_MISSES replies of that model (each would
    pay a failed msgspec decode before the reference path), then it is tried again; the models
    are the reference's throughout, and a well-known reply gets the fast path back."""
    monkeypatch.setattr(_wire, "MISSES_BEFORE_SKIP", 2)
    monkeypatch.setattr(_wire, "SKIP_AFTER_MISSES", 5)
    newer = json.dumps({**json.loads(BENCH), "a_field_added_later": 1}).encode()
    assert _wire.supports(Response)
    attempts = _count_attempts(_wire._entries[Response], monkeypatch)
    want = outcome(newer, Response, enabled=False)
    assert want[0] == "ok"
    seen = []
    for _ in range(2 + 5 + 1):
        assert outcome(newer, Response, enabled=True) == want
        seen.append(attempts[0])
    # Tried twice, then five replies skip it, then tried again (and it misses once more).
    assert seen == [1, 2, 2, 2, 2, 2, 2, 3]
    # One more miss completes a streak of two: the next replies skip again.
    assert outcome(newer, Response, enabled=True) == want
    assert attempts[0] == 4
    assert outcome(BENCH, Response, enabled=True)[0] == "ok"
    assert attempts[0] == 4  # skipped
    for _ in range(4):  # the rest of the skip
        outcome(BENCH, Response, enabled=True)
    assert attempts[0] == 4
    # After the skip, a reply msgspec reads is a hit, and a hit resets the streak.
    outcome(BENCH, Response, enabled=True)
    assert attempts[0] == 5
    outcome(newer, Response, enabled=True)  # miss 1
    outcome(BENCH, Response, enabled=True)  # hit: the streak starts over
    outcome(newer, Response, enabled=True)  # miss 1 again, no skip
    assert outcome(BENCH, Response, enabled=True) == outcome(BENCH, Response, enabled=False)
    assert attempts[0] == 9


@needs_msgspec
def test_stream_events_back_off_the_same_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """An event type whose data msgspec keeps missing (a new field) is left to parse_event for
    SKIP_AFTER_MISSES events after MISSES_BEFORE_SKIP misses in a row."""
    monkeypatch.setattr(_wire, "MISSES_BEFORE_SKIP", 3)
    monkeypatch.setattr(_wire, "SKIP_AFTER_MISSES", 4)
    delta = next(f for f in FRAMES if f.event == "RESPONSE_OUTPUT_DELTA")
    newer = json.dumps({**json.loads(delta.data), "new": True})
    with wire(True):
        assert _wire.event(delta.event, delta.data) is not _wire.MISS
        attempts = _count_attempts(_wire._event_entries[delta.event], monkeypatch)
        for _ in range(3 + 4):
            assert _wire.event(delta.event, newer) is _wire.MISS
        assert attempts[0] == 3
        assert _wire.event(delta.event, delta.data) is not _wire.MISS
        assert attempts[0] == 4
    assert event_outcome(delta.event, newer)[0] == "ok"  # parse_event reads it


def test_switched_off_the_reference_path_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default install's path (the switch off): the reference decoder reads the body."""
    calls: list[bytes] = []
    loads = _json.loads

    def spy(data: Any) -> Any:
        calls.append(data)
        return loads(data)

    monkeypatch.setattr(_json, "loads", spy)
    assert outcome(BENCH, Response, enabled=False)[0] == "ok"
    assert calls == [BENCH]


@pytest.mark.parametrize(
    ("value", "enabled"),
    [("0", False), ("false", False), (" OFF ", False), ("No", False), ("1", HAVE_MSGSPEC),
     ("", HAVE_MSGSPEC), ("yes", HAVE_MSGSPEC)],
)  # fmt: skip
def test_environment_switch(value: str, enabled: bool) -> None:
    """``MOVEWORKS_ASYNC_MSGSPEC=0`` (or false/no/off, any case) at import turns the wire
    path off; other values leave it as installed."""
    code = "from moveworks_async import _wire; print(_wire.ENABLED)"
    env = {**os.environ, "MOVEWORKS_ASYNC_MSGSPEC": value}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == str(enabled), out.stderr


@needs_msgspec
@pytest.mark.parametrize(("data", "cls"), CASES, ids=[c.__name__ for _, c in CASES])
def test_realistic_payloads_agree(data: dict[str, Any], cls: type[Any]) -> None:
    """test_fastpath's payloads. Its Response, Message and Event hold an unknown output or
    action type (so msgspec misses and the reference builds ``UnknownOutput``), and a Modal
    has no Structs (``ModalField.raw``); each still gives the reference's model."""
    body = json.dumps(data).encode()
    _, hit = agree(body, cls)
    assert not hit or cls in (ReasoningMessage, Conversation)


@needs_msgspec
@pytest.mark.parametrize(
    ("body", "cls"),
    [
        (CONVERSATION.replace(b"}", b', "new_field": 1}'), Conversation),
        (BENCH.replace(b'"type": "REASONING_MESSAGE"', b'"type": "FUTURE_OUTPUT"', 1), Response),
        (BENCH.replace(b'"URL_ACTION"', b'"FUTURE_ACTION"'), Response),
        (BENCH.replace(b'"plain_text": {"text": "Searching knowledge base"}', b'"plain_text": 5'),
         Response),
        (BENCH.replace(b'{"text": "Reading sources"}', b'{"text": "x", "files": 0}'), Response),
        (CREATE.replace(b'"outputs": []', b'"zz": 123456789012345678901234567890'), Response),
    ],
    ids=["unknown-key", "unknown-output", "unknown-action", "lenient-body", "files-0", "big-int"],
)  # fmt: skip
def test_msgspec_misses_fall_back_to_an_accepting_reference(body: bytes, cls: type[Any]) -> None:
    """Payloads the Structs refuse (unknown keys and types, the hooks' lenient corners) are
    still accepted, by the reference path, with its model."""
    with wire(True):
        assert _wire.decode(body, cls) is _wire.MISS
    want, hit = agree(body, cls)
    assert want[0] == "ok"
    assert not hit


@needs_msgspec
@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbf" + CREATE,
        CREATE.replace(b'"outputs": []', b'"outputs": [], "x": 1e400'),
        CREATE.replace(b'"outputs": []', b'"outputs": [], "x": [' + b"[" * 300 + b"]" * 300 + b"]"),
        CREATE.replace(b'"CREATED"', b'"\\ud800"'),
        CREATE.replace(b'"CREATED"', b'"\xed\xa0\x80"'),
        CREATE.replace(b'"outputs": []', b'"outputs": NaN'),
        CREATE.replace(b'"resp_0000000001"', b"1"),
        CREATE.replace(b'"2026-11-26T10:00:00.000000Z"', b'"yesterday"'),
        CREATE.replace(b'"2026-11-26T10:00:00.000000Z"', b'""'),
        b"[" + CREATE + b"]",
        b"null",
    ],
    ids=["bom", "1e400", "deep", "lone-escape", "raw-surrogate", "nan", "int-id", "bad-date",
         "empty-date", "array", "null"],
)  # fmt: skip
def test_rejections_are_the_reference_errors(body: bytes) -> None:
    """Every rejection is the reference's: the same type, message, path and
    ``outcome_unknown`` (a create's reply: True)."""
    want, hit = agree(body, Response, idempotent=False)
    assert want[0] == "error"
    assert want[1][3] is True
    assert not hit


@needs_msgspec
def test_unknown_enum_values_and_offsets_are_kept() -> None:
    body = CREATE.replace(b'"CREATED"', b'"PAUSED"').replace(b".000000Z", b"+02:00")
    _, hit = agree(body, Response)
    assert hit
    with wire(True):
        value = _wire.decode(body, Response)
    assert value.status == "PAUSED"
    assert not value.status.is_known
    assert value.created_at.utcoffset().total_seconds() == 7200


@needs_msgspec
def test_naive_datetimes_are_utc_and_duplicate_keys_take_the_last() -> None:
    body = CREATE.replace(b".000000Z", b"").replace(
        b'"status": "CREATED"', b'"status": "FAILED", "status": "CREATED"'
    )
    _, hit = agree(body, Response)
    assert hit
    with wire(True):
        value = _wire.decode(body, Response)
    assert value.status == "CREATED"
    assert value.created_at.tzinfo is not None


@needs_msgspec
def test_models_it_cannot_mirror_are_left_to_the_reference() -> None:
    assert not _wire.supports(Modal)  # ModalField.raw keeps the whole payload
    for cls in (Response, Message, ReasoningMessage, Conversation, Event):
        assert _wire.supports(cls), cls
    body = json.dumps(CASES[-1][0]).encode()
    assert agree(body, Modal)[0][0] == "ok"


@needs_msgspec
def test_long_documents_take_the_stepwise_reference() -> None:
    """A body over ``_json.STEPWISE_SIZE`` misses (one msgspec call would hold the GIL)."""
    data = json.loads(CREATE)
    data["outputs"] = [payloads.reasoning_item(1, k, "x" * 1000) for k in range(1100)]
    body = json.dumps(data).encode()
    assert len(body) > _json.STEPWISE_SIZE
    with wire(True):
        assert _wire.decode(body, Response) is _wire.MISS
    assert agree(body, Response)[0][0] == "ok"


@needs_msgspec
def test_without_twins_the_models_are_equal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fastpath, "TWINS", False)
    entry = _wire._compile(Response)
    assert entry is not None
    with wire(False):
        want = typed(_reply.model(Reply(200, JSON_HEADERS, BENCH), Response))
    assert typed(entry.build(entry.decode(BENCH))) == want


@needs_msgspec
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.one_of(_conversation, _message, _response), ascii_only=st.booleans())
def test_generated_valid_payloads_take_the_msgspec_path(value: Any, ascii_only: bool) -> None:
    """Any model value, written as the API writes it: msgspec answers, with the reference's
    model."""
    body = json.dumps(unstructure(value), ensure_ascii=ascii_only).encode()
    want, hit = agree(body, type(value))
    assert want[0] == "ok"
    assert hit


@needs_msgspec
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.sampled_from(range(len(CASES) + 2)), seed=st.integers(0, 2**32 - 1))
def test_mutated_bytes_agree(case: int, seed: int) -> None:
    """Thousands of structurally and JSON-level mutated payloads: the same model or the
    same error, with and without msgspec."""
    if case < len(CASES):
        base, cls = CASES[case]
    else:  # the hot replies, whose unmutated form msgspec reads
        base, cls = json.loads(BENCH if case == len(CASES) else CREATE), Response
    agree(mutate_bytes(base, random.Random(seed)), cls)


@needs_msgspec
def test_mutations_exercise_both_paths_and_both_answers() -> None:
    """The mutations above are not vacuous: msgspec answers some, misses others, and the
    reference accepts and rejects."""
    rng = random.Random(1616)
    counts = {"hit": 0, "miss-ok": 0, "error": 0}
    for _ in range(1500):
        base = json.loads(BENCH if rng.random() < 0.5 else CREATE)
        want, hit = agree(mutate_bytes(base, rng), Response)
        counts["hit" if hit else "miss-ok" if want[0] == "ok" else "error"] += 1
    assert min(counts.values()) > 100, counts


# --- stream events ----------------------------------------------------------------------------

EVENT_NAMES = [*sorted(EVENT_TYPES), "message", "FUTURE_EVENT"]


def _frames(n: int = 50) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return [sse for chunk in payloads.stream_events(n) for sse in decoder.feed(chunk)]


FRAMES = _frames()


def event_outcome(name: str, data: str) -> Any:
    """``parse_event`` on the decoded data, as the stream machine runs it without msgspec."""
    try:
        decoded = _json.loads(data)
    except ValueError:
        return "error", "bad JSON"
    try:
        return "ok", typed(parse_event(name, decoded))
    except Exception as exc:
        return "error", (type(exc), str(exc), getattr(exc, "path", None))


def event_agree(name: str, data: str) -> bool:
    """Assert msgspec's event, when it gives one, is parse_event's; whether it gave one."""
    with wire(True):
        got = _wire.event(name, data) if HAVE_MSGSPEC else _wire.MISS
    if got is _wire.MISS:
        return False
    assert ("ok", typed(got)) == event_outcome(name, data), (name, data)
    return True


@needs_msgspec
def test_stream_events_take_the_msgspec_path() -> None:
    """Every frame of the benchmark's 50-event stream (CREATED, IN_PROGRESS, deltas,
    COMPLETED) is typed by msgspec, equal to parse_event's."""
    assert {f.event for f in FRAMES} == EVENT_TYPES - {"ERROR", "RESPONSE_FAILED"}
    for frame in FRAMES:
        assert event_agree(frame.event, frame.data)
    failed = (
        FRAMES[-1]
        .data.replace('"COMPLETED"', '"FAILED"')
        .replace('"completed_at"', '"error": {"code": "E1", "message": "m"}, "completed_at"')
    )
    assert event_agree("RESPONSE_FAILED", failed)


def _run_machine(frames: list[bytes]) -> Any:
    machine = StreamMachine(1 << 20)
    out: list[Any] = []
    for chunk in frames:
        for sse in machine.feed(chunk):
            try:
                out.append(typed(machine.accept(sse)))
            except Exception as exc:
                out.append((type(exc), str(exc), getattr(exc, "path", None)))
    return out, typed(machine.final)


@needs_msgspec
def test_the_stream_machine_uses_it_and_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's events (errors included) and final response are the same with and
    without msgspec; with it, parse_event is not called for the known, valid frames."""
    chunks = payloads.stream_events(50)
    chunks.insert(3, b'event: FUTURE_EVENT\ndata: {"x": 1e400}\n\n')
    chunks.insert(5, b'event: RESPONSE_OUTPUT_DELTA\ndata: {"output": {"type": "NEW"}}\n\n')
    chunks.insert(7, b'event: RESPONSE_OUTPUT_DELTA\ndata: {"output": 5}\n\n')
    with wire(False):
        want = _run_machine(chunks)
        plain = _run_machine(payloads.stream_events(50))
    assert any(type(item) is tuple and item[0] is mw.ResponseValidationError for item in want[0])
    with wire(True):
        assert _run_machine(chunks) == want

        def refuse(name: str, data: Any) -> Any:
            raise AssertionError("parse_event ran")

        monkeypatch.setattr(_stream_machine, "parse_event", refuse)
        assert _run_machine(payloads.stream_events(50)) == plain


@needs_msgspec
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    index=st.integers(0, len(FRAMES) - 1),
    name=st.sampled_from(EVENT_NAMES),
    seed=st.integers(0, 2**32 - 1),
    errors=st.sampled_from(["replace", "surrogateescape"]),
)
def test_mutated_event_data_agrees(index: int, name: str, seed: int, errors: str) -> None:
    """Mutated event data (structural and JSON-level, decoded as the SSE decoder does or
    keeping raw surrogates), under its own or another event name: msgspec's event is
    parse_event's, or it misses."""
    base = json.loads(FRAMES[index].data)
    body = mutate_bytes(base, random.Random(seed))
    event_agree(name if seed % 3 == 0 else FRAMES[index].event, body.decode("utf-8", errors))


@needs_msgspec
def test_event_mutations_exercise_both_paths() -> None:
    rng = random.Random(2)
    hits = misses = 0
    for _ in range(1000):
        frame = rng.choice(FRAMES)
        body = mutate_bytes(json.loads(frame.data), rng).decode("utf-8", "replace")
        if event_agree(frame.event, body):
            hits += 1
        else:
            misses += 1
    assert hits > 100
    assert misses > 100


@needs_msgspec
def test_unknown_error_and_message_frames_are_left_to_parse_event() -> None:
    frame = FRAMES[0].data
    for name in ("ERROR", "message", "FUTURE_EVENT"):
        with wire(True):
            assert _wire.event(name, frame) is _wire.MISS


def test_the_wire_structs_are_not_tracked_by_the_garbage_collector() -> None:
    """The decoder's trees (JSON holds no cycles) are read once by the builder and dropped:
    untracked, they cost the collector nothing (~5 % of a Response's conversion); the models
    handed out are ordinary tracked objects."""
    import gc

    assert _wire.supports(mw.Response)
    entry = _wire._entries[mw.Response]
    assert entry is not None
    tree = entry.decode(payloads.dumps(payloads.response(1)))
    assert not gc.is_tracked(tree)
    assert all(not gc.is_tracked(output) for output in tree.outputs)
    assert gc.is_tracked(entry.build(tree))
