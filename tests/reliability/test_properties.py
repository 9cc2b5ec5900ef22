"""S9 parser properties (hypothesis) and S12 retry timing (scorecard, README "Reliability").

Examples per property: ``MWA_HYPOTHESIS_EXAMPLES``, else 10,000 in the full soak run and 200
in a plain ``pytest`` (see ``_scorecard.examples``). Every run is derandomized, so the default
suite is deterministic; the soak run explores 50 times more.

Each property states what may come out: a value, or an exception of the package's tree;
anything else (AttributeError, RecursionError, OverflowError, UnicodeError ...) is a failure.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import random
import sys
from typing import Any

import pytest
from _scorecard import examples, record
from _stream_support import completed_response, response_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_retry import NOW, RETRY_AFTER_TABLE

import moveworks_async as mw
from moveworks_async import _json
from moveworks_async._converter import structure
from moveworks_async._events import parse_event
from moveworks_async._protocol import error_from_response, parse_retry_after
from moveworks_async._reply import json_body
from moveworks_async._retry import RetryPolicy
from moveworks_async._sse import SSEDecoder
from moveworks_async._transport import Reply

SETTINGS = settings(
    max_examples=examples(),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

_counts: dict[str, int] = {}


def _count(name: str) -> None:
    _counts[name] = _counts.get(name, 0) + 1


def _report(name: str) -> None:
    n = _counts.get(name, 0)
    record(
        "S9",
        f"{name}: {n} examples, 0 failures",
        f">= {examples()} each, 0 failures",
        n >= examples(),
    )


# --- strategies --------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def mutated_response(draw: st.DrawFn) -> Any:
    """A valid Response payload with one field replaced, deleted or nested oddly."""
    payload = completed_response() if draw(st.booleans()) else response_json("IN_PROGRESS")
    target: Any = payload
    path = draw(st.lists(st.integers(0, 5), max_size=4))
    for step in path:
        if isinstance(target, dict) and target:
            key = sorted(target)[step % len(target)]
            if isinstance(target[key], dict | list) and target[key]:
                target = target[key]
                continue
            break
        if isinstance(target, list) and target:
            item = target[step % len(target)]
            if isinstance(item, dict | list) and item:
                target = item
                continue
            break
    if isinstance(target, dict) and target:
        key = sorted(target)[draw(st.integers(0, len(target) - 1))]
        if draw(st.booleans()):
            del target[key]
        else:
            target[key] = draw(json_values)
    return payload


def deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


json_bodies = (
    json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=200)
    | st.integers(1, 200_000).map(deep)
    | st.integers(1, 200_000).map(lambda d: b'{"a":' * d + b"1" + b"}" * d)
    | st.sampled_from([b"NaN", b"1e400", b'"\\ud800"', b"-Infinity", b"1" + b"0" * 5000])
)


# --- S9: properties ------------------------------------------------------------------------------

frames = st.lists(
    st.tuples(
        st.sampled_from(["data", "event", "id", "retry", "", ":", "dat\u00e4", "data"]),
        st.text(alphabet=st.characters(blacklist_characters="\r\n"), max_size=30),
    ),
    max_size=12,
)


@SETTINGS
@given(
    frames,
    st.sampled_from(["\n", "\r", "\r\n"]),
    st.lists(st.integers(0, 400), max_size=8),
    st.booleans(),
)
def test_row_15_sse_any_split_gives_the_same_events(
    fields: list[tuple[str, str]], ending: str, cuts: list[int], bom: bool
) -> None:
    """parse(split(x)) == parse(x) for any line endings, BOM and chunk boundaries (mid-UTF-8
    included); nothing but StreamProtocolError ever escapes the decoder."""
    _count("SSE split invariance")
    text = ""
    for name, value in fields:
        text += (f"{name}: {value}" if name not in ("", ":") else name + value) + ending
        if value.endswith("x"):
            text += ending
    # surrogatepass: a lone surrogate becomes bytes that are not UTF-8 (decoded as U+FFFD),
    # a case any split must also agree on.
    body = ("\ufeff" if bom else "").encode() + text.encode("utf-8", "surrogatepass")
    body += ending.encode() * 2

    def decode(chunks: list[bytes]) -> list[Any]:
        decoder = SSEDecoder(max_event_size=1 << 20)
        return [e for c in chunks for e in decoder.feed(c)] + decoder.close()

    points = sorted({min(c, len(body)) for c in cuts})
    pieces = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    assert decode(pieces) == decode([body])


@SETTINGS
@given(st.binary(max_size=600), st.integers(16, 256))
def test_row_16_sse_decoder_raises_only_typed_errors(body: bytes, cap: int) -> None:
    """Arbitrary bytes with a small event cap: events, or StreamProtocolError, nothing else."""
    _count("SSE arbitrary bytes")
    decoder = SSEDecoder(max_event_size=cap)
    try:
        decoder.feed(body)
        decoder.close()
    except mw.StreamProtocolError:
        pass


EVENT_TYPES = [
    "RESPONSE_CREATED",
    "RESPONSE_IN_PROGRESS",
    "RESPONSE_OUTPUT_DELTA",
    "RESPONSE_COMPLETED",
    "RESPONSE_FAILED",
    "ERROR",
    "message",
    "future",
]


@SETTINGS
@given(
    st.sampled_from(EVENT_TYPES),
    json_values
    | mutated_response().map(lambda r: {"response": r})
    | st.fixed_dictionaries({"output": json_values}),
)
def test_row_22_stream_events_convert_or_raise_typed(event_type: str, data: Any) -> None:
    """Any decoded event data (null, a string, a missing or odd output ...): a typed event or
    a MoveworksError (issue 12 item 1: no AttributeError from the converter)."""
    _count("event conversion")
    with contextlib.suppress(mw.MoveworksError):
        parse_event(event_type, data)


@SETTINGS
@given(mutated_response() | json_values)
def test_row_22_converter_returns_a_model_or_validation_error(payload: Any) -> None:
    """structure(any JSON, Response): a Response or ResponseValidationError with a path."""
    _count("converter")
    try:
        structure(payload, mw.Response)
    except mw.ResponseValidationError as exc:
        assert exc.path.startswith("$")


@SETTINGS
@given(
    st.integers(400, 599),
    json_bodies,
    st.dictionaries(
        st.sampled_from(["x-trace-id", "retry-after", "content-type"]), st.text(max_size=30)
    ),
)
def test_row_39_error_parser_always_gives_a_status_error(
    status: int, body: bytes, headers: dict[str, str]
) -> None:
    """Any status 400-599 with any body (HTML, binary, deep JSON, NaN): an APIStatusError of
    the right class whose str() works."""
    _count("error parser")
    error = error_from_response(status, headers, body)
    assert isinstance(error, mw.APIStatusError)
    assert error.status_code == status
    str(error)
    repr(error)


@SETTINGS
@given(json_bodies)
def test_row_22_json_replies_decode_or_raise_typed(body: bytes) -> None:
    """A 200 JSON reply or a 400 error body of any bytes (deep nesting, 1e400, lone
    surrogates): a value or a MoveworksError, with either JSON backend (issue 12 item 1: the
    stdlib decoder raised RecursionError)."""
    _count("JSON decoding")
    reply = Reply(200, {"Content-Type": "application/json"}, body)
    for backend in BACKENDS:
        with _json_backend(backend):
            with contextlib.suppress(mw.MoveworksError):
                json_body(reply)
            error = error_from_response(400, {}, body)
            assert isinstance(error, mw.BadRequestError)


def _stdlib_json() -> Any:
    """A second copy of ``moveworks_async._json`` loaded as if orjson were not installed
    (the default install), so both decoders are exercised whatever this venv has."""
    spec = importlib.util.spec_from_file_location("moveworks_async._json_stdlib", _json.__file__)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved = sys.modules.get("orjson")
    sys.modules["orjson"] = None  # type: ignore[assignment]  # import orjson -> ImportError
    try:
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            del sys.modules["orjson"]
        else:
            sys.modules["orjson"] = saved
    assert module.using_orjson is False
    return module


#: The stdlib decoder (the default install), and orjson (the ``speedups`` extra) if present.
BACKENDS: list[Any] = [_stdlib_json().loads]
if _json.using_orjson:
    BACKENDS.append(_json.loads)


@contextlib.contextmanager
def _json_backend(loads: Any) -> Any:
    saved = _json.loads
    _json.loads = loads
    try:
        yield
    finally:
        _json.loads = saved


@pytest.mark.parametrize(
    "name",
    [
        "SSE split invariance",
        "SSE arbitrary bytes",
        "event conversion",
        "converter",
        "error parser",
        "JSON decoding",
    ],
)
def test_s9_example_counts(name: str) -> None:
    """Each property ran its examples (run after them: records S9)."""
    _report(name)
    if name in _counts:
        assert _counts[name] >= examples()


# --- S12: retry timing ---------------------------------------------------------------------------


def test_row_35_ten_thousand_seeded_backoff_draws_within_bounds() -> None:
    """10,000 seeded draws: every full-jitter delay within [0, min(cap, base * 2**n)], and a
    503 Retry-After honoured within [r, 1.1 r]."""
    rng = random.Random(12)
    policy = RetryPolicy()
    outside = 0
    for i in range(10_000):
        retry = i % 12
        delay = policy.backoff(retry, rng.random)
        outside += not 0 <= delay <= min(policy.backoff_cap, policy.backoff_base * 2**retry)
        after = rng.uniform(0, 60)
        error = mw.InternalServerError("x", status_code=503)
        decision = policy.decide(
            error, attempt=0, idempotent=True, retry_after=after, rng=rng.random
        )
        outside += not (after <= decision.delay <= after * 1.1 or decision.delay <= 0.5)
    record("S12", f"10,000 seeded draws: {outside} outside bounds", "0", outside == 0)
    assert outside == 0


_table: list[bool] = []


@pytest.mark.parametrize(("headers", "parsed", "outcome"), RETRY_AFTER_TABLE)
def test_row_36_retry_after_table_exact(
    headers: dict[str, str], parsed: float | None, outcome: str
) -> None:
    """The openai-style Retry-After table (>= 20 rows), each parsed exactly."""
    value = parse_retry_after(headers, NOW)
    ok = value == (pytest.approx(parsed) if parsed is not None else None)
    _table.append(bool(ok))
    assert ok, (headers, value, parsed, outcome)


def test_s12_retry_after_table_summary() -> None:
    """Records the table's result (runs after it): every row exact, at least 20 rows."""
    exact = sum(_table)
    ok = exact == len(_table) == len(RETRY_AFTER_TABLE) >= 20
    record(
        "S12",
        f"Retry-After table: {exact}/{len(RETRY_AFTER_TABLE)} rows exact",
        ">= 20 rows, all exact",
        ok,
    )
    assert ok
