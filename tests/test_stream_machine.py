"""The stream machine (``_stream_machine``), without aiohttp, sockets, loops or clocks: bytes
in, typed events out, as h11's connection object is tested."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from _stream_support import RID, event, frame, happy_events, message_item, response_json
from hypothesis import given, settings
from hypothesis import strategies as st
from test_mutants_sse import largest_event, largest_quiet
from test_sse import reference, split

import moveworks_async as mw
from moveworks_async import _json
from moveworks_async._sse import ServerSentEvent
from moveworks_async._stream_machine import _OVERSIZE, GAP, StreamMachine


def run(machine: StreamMachine, *chunks: bytes) -> list[Any]:
    """Feed ``chunks`` and accept every frame; the outcomes in order (events, None, GAP)."""
    out: list[Any] = []
    for chunk in chunks:
        for sse in machine.feed(chunk):
            out.append(machine.accept(sse))
    return out


def test_needs_no_network_stack() -> None:
    """The machine module imports neither aiohttp nor the transport or the client."""
    import subprocess

    probe = (
        "import sys, moveworks_async._stream_machine; "
        "print(sorted(m for m in sys.modules if 'aiohttp' in m or m.endswith(('_transport', "
        "'_client', '_streaming'))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_whole_stream_in_one_chunk_and_byte_by_byte() -> None:
    body = b"".join(happy_events())
    whole = run(StreamMachine(1 << 20), body)
    machine = StreamMachine(1 << 20)
    single = run(machine, *(body[i : i + 1] for i in range(len(body))))
    assert whole == single
    assert [type(e).__name__ for e in whole] == [
        "ResponseCreated",
        "ResponseInProgress",
        "ResponseOutputDelta",
        "ResponseOutputDelta",
        "ResponseOutputDelta",
        "ResponseOutputDelta",
        "ResponseCompleted",
    ]
    assert machine.response_id == RID
    assert machine.final is not None
    assert machine.final.status is mw.ResponseStatus.COMPLETED
    assert len(machine.outputs) == 2  # the reasoning item and the message, upserted by id


def test_an_oversize_event_after_created_in_one_read_keeps_the_created_event() -> None:
    """RESPONSE_CREATED and an event over max_event_size in the same read: the created event
    is delivered first (the stream knows its response), then StreamProtocolError carries the
    response id, so the stream can recover by polling."""
    created = event("RESPONSE_CREATED", 1, response=response_json("CREATED"))
    big = event("RESPONSE_OUTPUT_DELTA", 2, output=message_item("x" * 5000))
    machine = StreamMachine(1024)
    frames = machine.feed(created + big)
    first = machine.accept(frames[0])
    assert type(first).__name__ == "ResponseCreated"
    assert len(frames) == 2  # the created event, then where the oversize one failed
    with pytest.raises(mw.StreamProtocolError, match="larger than 1024 bytes") as raised:
        machine.accept(frames[1])
    assert raised.value.response_id == RID
    assert raised.value.outcome_unknown is False
    alone = StreamMachine(1024)
    with pytest.raises(mw.StreamProtocolError) as early:
        alone.feed(big)
    assert early.value.response_id is None


def test_duplicates_and_late_events_are_dropped() -> None:
    machine = StreamMachine(1 << 20)
    created = event("RESPONSE_CREATED", 1, response=response_json("CREATED"))
    delta = event("RESPONSE_OUTPUT_DELTA", 2, output=message_item("a"))
    out = run(machine, created, delta, delta, created)
    assert [type(e).__name__ if e is not None else None for e in out] == [
        "ResponseCreated",
        "ResponseOutputDelta",
        None,
        None,
    ]
    assert machine.last_seq == 2


def test_a_skipped_number_is_a_gap_but_a_terminal_event_is_the_truth() -> None:
    machine = StreamMachine(1 << 20)
    out = run(
        machine,
        event("RESPONSE_OUTPUT_DELTA", 1, output=message_item("a")),
        event("RESPONSE_IN_PROGRESS", 3, response=response_json("IN_PROGRESS")),
    )
    assert out[1] is GAP
    assert machine.response_id == RID  # learned from the event after the gap, for polling
    terminal = StreamMachine(1 << 20)
    done = response_json("COMPLETED", [message_item("done")])
    out = run(
        terminal,
        event("RESPONSE_CREATED", 1, response=response_json("CREATED")),
        event("RESPONSE_COMPLETED", 5, response=done),
    )
    assert isinstance(out[1], mw.ResponseCompleted)
    assert terminal.final is not None


def test_error_event_is_raised_masked() -> None:
    machine = StreamMachine(1 << 20, mask=lambda text: text.replace("sk-1", "<redacted>"))
    machine.request_id = "req-9"
    run(machine, event("RESPONSE_CREATED", 1, response=response_json("CREATED")))
    with pytest.raises(mw.StreamError) as info:
        run(machine, event("ERROR", 2, error={"code": "E", "message": "bad sk-1"}))
    assert "sk-1" not in str(info.value)
    assert (info.value.response_id, info.value.request_id) == (RID, "req-9")


def test_error_event_code_is_masked_too() -> None:
    """A server echoing the bearer in an ERROR event's code: masked like the message
    (README, "Secrets"), in the code, str() and repr()."""
    machine = StreamMachine(1 << 20, mask=lambda text: text.replace("sk-1", "<redacted>"))
    run(machine, event("RESPONSE_CREATED", 1, response=response_json("CREATED")))
    with pytest.raises(mw.StreamError) as info:
        run(machine, event("ERROR", 2, error={"code": "invalid_sk-1", "message": "m"}))
    assert info.value.code == "invalid_<redacted>"
    assert "sk-1" not in str(info.value)
    assert "sk-1" not in repr(info.value)
    machine = StreamMachine(1 << 20, mask=lambda text: text.replace("sk-1", "<redacted>"))
    with pytest.raises(mw.StreamError) as info:
        run(machine, event("ERROR", 1, error={"message": "m"}))
    assert info.value.code is None


def test_bad_json_in_a_known_event_is_a_protocol_error_and_unknown_events_pass() -> None:
    machine = StreamMachine(1 << 20)
    out = run(machine, b"event: PING\ndata: not json\n\n")
    assert out == [mw.UnknownEvent("PING", None, {"data": "not json"})]
    with pytest.raises(mw.StreamProtocolError, match="not valid JSON"):
        run(machine, b"event: RESPONSE_CREATED\ndata: {oops\n\n")


def test_one_check_per_read_keeps_loads_bounds_for_every_frame() -> None:
    """A read whose bytes ``loads_for`` clears decodes its frames without per-event checks;
    a read holding a long digit run or deep nesting keeps them for all of its frames."""
    machine = StreamMachine(1 << 20)
    run(machine, event("RESPONSE_CREATED", 1, response=response_json("CREATED")))
    assert machine.loads is _json.loads_plain
    big = 1234567890123456789012345  # beyond 64 bits: orjson alone would give a float
    deep = b"[" * 300 + b"]" * 300  # deeper than MAX_DEPTH: loads refuses it
    out = run(
        machine,
        b'event: PING\ndata: {"n": %d}\n\n' % big
        + b"event: PING\ndata: "
        + deep
        + b"\n\n"
        + b'event: PING\ndata: {"m": 1}\n\n',
    )
    assert machine.loads is _json.loads
    assert out == [
        mw.UnknownEvent("PING", None, {"n": big}),
        mw.UnknownEvent("PING", None, {"data": deep.decode()}),
        mw.UnknownEvent("PING", None, {"m": 1}),
    ]
    assert type(out[0].data["n"]) is int


def test_bytes_without_an_event_are_capped() -> None:
    machine = StreamMachine(64)
    for _ in range(10):  # 60 bytes of keep-alive comments, each one complete
        assert machine.feed(b": ka\n\n") == []
    assert machine.decoder.quiet_bytes == 60
    with pytest.raises(mw.StreamProtocolError, match="more than 64 bytes without an event"):
        machine.feed(b": ka\n\n")


def test_comments_before_an_event_in_the_same_read_count() -> None:
    """39 KB of keep-alives and then an event, all in one read, are over a 1,024 B cap: the
    bytes between events count whatever the reads' boundaries (before, a read that completed
    an event never counted its comments, so one aiohttp read passed what pyreqwest refused)."""
    created = event("RESPONSE_CREATED", 1, response=response_json("CREATED"))
    body = b": keep-alive\n\n" * 3000 + created
    with pytest.raises(mw.StreamProtocolError, match="more than 1024 bytes without an event"):
        StreamMachine(1024).feed(body)


def test_events_before_too_many_quiet_bytes_come_first() -> None:
    """An event, then too many comment bytes, then another event, all in one read: the first
    event is delivered and names the response; the error follows it, carrying that id."""
    created = event("RESPONSE_CREATED", 1, response=response_json("CREATED"))
    machine = StreamMachine(1024)
    first, marker = machine.feed(created + b": keep-alive\n\n" * 100 + created)
    assert machine.accept(first) is not None
    with pytest.raises(mw.StreamProtocolError, match="without an event") as info:
        machine.accept(marker)
    assert info.value.response_id == RID


_PIECES = [
    b"data: x\n\n",
    b"data: " + b"y" * 20 + b"\r\n\r\n",
    b"event: e\ndata: z\n",
    b": keep-alive\n\n",
    b": ka\r\n",
    b"id: 3\n\n",
    b"retry: 5\r\r",
    b"\n",
    b"\r\n",
    b"\r",
    b":",
    b"data",
]


def _outcome(chunks: list[bytes], limit: int) -> tuple[list[ServerSentEvent], bool]:
    """The frames a machine hands out (in order) and whether the stream then failed."""
    machine = StreamMachine(limit)
    out: list[ServerSentEvent] = []
    try:
        for chunk in chunks:
            if not chunk:
                continue
            for sse in machine.feed(chunk):
                if sse is _OVERSIZE:
                    return out, True
                out.append(sse)
        machine.decoder.close()
    except mw.StreamProtocolError:
        return out, True
    return out, False


@settings(max_examples=400, deadline=None)
@given(st.data(), st.lists(st.sampled_from(_PIECES), max_size=30).map(b"".join), st.integers(1, 60))
def test_the_caps_do_not_depend_on_the_reads(data: st.DataObject, body: bytes, limit: int) -> None:
    """Any split of the same bytes gives the same frames and the same failure; the stream
    fails exactly when an event, or the bytes between two events, pass the cap."""
    whole = _outcome([body], limit)
    assert _outcome(data.draw(split(body)), limit) == whole
    assert _outcome([body[i : i + 1] for i in range(len(body))], limit) == whole
    over = max(largest_event(body), largest_quiet(body)) > limit
    assert whole[1] is over
    if not over:
        assert whole[0] == reference(body)[0]


def test_eof_discards_an_unterminated_event() -> None:
    machine = StreamMachine(1 << 20)
    frame = event("RESPONSE_CREATED", 1, response=response_json("CREATED"))
    assert machine.feed(frame[:-1]) == []
    machine.on_eof()
    assert machine.response_id is None


def test_finish_upserts_outputs_by_id() -> None:
    machine = StreamMachine(1 << 20)
    run(machine, event("RESPONSE_OUTPUT_DELTA", 1, output=message_item("a")))
    response = mw.Response  # the converter builds it from the wire shape
    from moveworks_async._converter import structure

    final = structure(response_json("COMPLETED", [message_item("a, then b")]), response)
    machine.finish(final)
    assert machine.final is final
    assert len(machine.outputs) == 1
    assert next(iter(machine.outputs.values())) == final.outputs[0]


@pytest.mark.parametrize("msgspec_on", [False, True])
@pytest.mark.parametrize(
    ("name", "status", "says"),
    [
        ("RESPONSE_COMPLETED", "IN_PROGRESS", "RESPONSE_COMPLETED event with a IN_PROGRESS"),
        ("RESPONSE_COMPLETED", "CREATED", "RESPONSE_COMPLETED event with a CREATED"),
        ("RESPONSE_COMPLETED", "FAILED", "RESPONSE_COMPLETED event with a FAILED"),
        ("RESPONSE_FAILED", "COMPLETED", "RESPONSE_FAILED event with a COMPLETED"),
        ("RESPONSE_FAILED", "IN_PROGRESS", "RESPONSE_FAILED event with a IN_PROGRESS"),
    ],
)
def test_a_terminal_event_whose_response_contradicts_it_is_a_protocol_error(
    name: str, status: str, says: str, msgspec_on: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Completed" with a response still IN_PROGRESS (outside review s15b): the stream does
    not know the outcome. It was taken as the final answer (a partial text presented as
    complete); now it is a StreamProtocolError naming the response, so the stream recovers
    by polling, and nothing is final."""
    from moveworks_async import _wire

    monkeypatch.setattr(_wire, "ENABLED", msgspec_on and _wire.available())
    machine = StreamMachine(1 << 20)
    created = event("RESPONSE_CREATED", 1, response=response_json("CREATED"))
    partial = response_json(status, [message_item("The final ")])
    (first,) = run(machine, created)
    assert type(first) is mw.ResponseCreated
    (sse,) = machine.feed(event(name, 2, response=partial))
    with pytest.raises(mw.StreamProtocolError, match=says) as raised:
        machine.accept(sse)
    assert raised.value.response_id == RID
    assert machine.final is None


def test_an_event_name_over_other_data_cannot_finish_the_stream() -> None:
    """``event: RESPONSE_COMPLETED`` over a RESPONSE_CREATED payload (status CREATED): the
    SSE name types the event, and the status check refuses it as the final answer."""
    machine = StreamMachine(1 << 20)
    run(machine, event("RESPONSE_CREATED", 1, response=response_json("CREATED")))
    data = {"event_type": "RESPONSE_CREATED", "sequence_number": 2}
    data["response"] = response_json("CREATED")
    (sse,) = machine.feed(frame("RESPONSE_COMPLETED", data))
    with pytest.raises(mw.StreamProtocolError, match="with a CREATED response"):
        machine.accept(sse)
    assert machine.final is None


@pytest.mark.parametrize("name", ["RESPONSE_COMPLETED", "RESPONSE_IN_PROGRESS", "RESPONSE_FAILED"])
def test_an_event_about_another_response_is_a_protocol_error(name: str) -> None:
    """A stream answers one create: an event carrying another response (its text 'OTHER')
    was delivered, and a terminal one became the final answer (outside review s15b)."""
    machine = StreamMachine(1 << 20)
    run(machine, event("RESPONSE_CREATED", 1, response=response_json("CREATED")))
    status = {"RESPONSE_COMPLETED": "COMPLETED", "RESPONSE_FAILED": "FAILED"}.get(name)
    other = response_json(status or "IN_PROGRESS", [message_item("OTHER")])
    other["response_id"] = "resp_other"
    (sse,) = machine.feed(event(name, 2, response=other))
    with pytest.raises(mw.StreamProtocolError, match="event for another response") as raised:
        machine.accept(sse)
    assert "resp_other" not in raised.value.message  # server text stays out of messages
    assert raised.value.response_id == RID
    assert machine.final is None


def test_a_terminal_event_with_an_unknown_status_still_ends_the_stream() -> None:
    """Forward compatible: a newer server's status in a terminal event is trusted."""
    machine = StreamMachine(1 << 20)
    run(machine, event("RESPONSE_CREATED", 1, response=response_json("CREATED")))
    done = response_json("COMPLETED_WITH_NOTES", [message_item("All of it")])
    (last,) = run(machine, event("RESPONSE_COMPLETED", 2, response=done))
    assert type(last) is mw.ResponseCompleted
    assert machine.final is not None
    assert machine.final.status == "COMPLETED_WITH_NOTES"


@pytest.mark.parametrize("kind", ["message", "reasoning"])
def test_a_delta_about_another_response_is_a_protocol_error(kind: str) -> None:
    """A RESPONSE_OUTPUT_DELTA whose item belongs to another response was delivered, and
    text_deltas() yielded its text (outside review s15c); now it is refused like any event
    about another response, and nothing of it is kept."""
    from _stream_support import reasoning_item

    machine = StreamMachine(1 << 20)
    run(machine, event("RESPONSE_CREATED", 1, response=response_json("CREATED")))
    item = message_item("OTHER TEXT") if kind == "message" else reasoning_item("OTHER")
    inner = item["message" if kind == "message" else "reasoning_message"]
    inner["response_id"] = "resp_other"
    (sse,) = machine.feed(event("RESPONSE_OUTPUT_DELTA", 2, output=item))
    with pytest.raises(mw.StreamProtocolError, match="event for another response") as raised:
        machine.accept(sse)
    assert raised.value.response_id == RID
    assert machine.outputs == {}
    same = machine.feed(event("RESPONSE_OUTPUT_DELTA", 3, output=message_item("Mine")))
    assert type(machine.accept(same[0])) is mw.ResponseOutputDelta  # its own still pass


def test_an_unknown_output_in_a_delta_passes_unchecked() -> None:
    """Forward compatible: an output type this version does not know has no response id to
    check, and is delivered."""
    machine = StreamMachine(1 << 20)
    run(machine, event("RESPONSE_CREATED", 1, response=response_json("CREATED")))
    item = {"type": "CHART", "chart": {"response_id": "resp_other"}}
    (delta,) = run(machine, event("RESPONSE_OUTPUT_DELTA", 2, output=item))
    assert type(delta) is mw.ResponseOutputDelta
    assert type(delta.output) is mw.UnknownOutput
