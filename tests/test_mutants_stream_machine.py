"""Tests written to kill the mutants of ``_stream_machine`` the suite let survive (see
docs/mutants.md): the request id every error carries, the exact byte count without an event,
and outputs without an id kept one by one."""

from __future__ import annotations

import pytest
from _stream_support import event, response_json

import moveworks_async as mw
from moveworks_async._converter import structure
from moveworks_async._stream_machine import Poll, StreamMachine

UNKNOWN_OUTPUT = {"type": "FUTURE_KIND", "x": 1}  # an output kind from the future: no id


def _machine(cap: int = 1 << 20) -> StreamMachine:
    machine = StreamMachine(cap)
    machine.request_id = "req-7"
    return machine


def test_an_oversized_event_names_the_request() -> None:
    with pytest.raises(mw.StreamProtocolError) as info:
        _machine(32).feed(b"data: " + b"x" * 64 + b"\n\n")
    assert info.value.request_id == "req-7"


def test_too_many_bytes_without_an_event_names_the_request() -> None:
    machine = _machine(8)
    assert machine.feed(b": a\n\n") == []  # each comment is short: the decoder's cap is not hit
    with pytest.raises(mw.StreamProtocolError, match="without an event") as info:
        machine.feed(b": a\n\n")
    assert info.value.request_id == "req-7"


def test_bad_json_names_the_request() -> None:
    machine = _machine()
    (sse,) = machine.feed(b"event: RESPONSE_CREATED\ndata: {oops\n\n")
    with pytest.raises(mw.StreamProtocolError) as info:
        machine.accept(sse)
    assert info.value.request_id == "req-7"


def test_no_request_id_until_the_shell_sets_one() -> None:
    with pytest.raises(mw.StreamProtocolError) as info:
        StreamMachine(8).feed(b": abcdefgh\n\n")
    assert info.value.request_id is None


def test_exactly_the_cap_without_an_event_is_allowed_and_an_event_resets_the_count() -> None:
    machine = StreamMachine(12)
    assert machine.feed(b": 12345678\n\n") == []  # 12 bytes: at the cap, not over it
    assert machine.decoder.quiet_bytes == 12
    frame = event("RESPONSE_CREATED", 1, response=response_json("CREATED"))
    machine2 = StreamMachine(1 << 20)
    machine2.feed(b": ka\n\n")
    assert machine2.feed(frame) != []
    assert machine2.decoder.quiet_bytes == 0
    machine2.feed(b": ka\n\n")
    assert machine2.decoder.quiet_bytes == 6


def test_outputs_without_an_id_are_kept_one_by_one() -> None:
    machine = StreamMachine(1 << 20)
    for seq in (1, 2):
        (sse,) = machine.feed(event("RESPONSE_OUTPUT_DELTA", seq, output=UNKNOWN_OUTPUT))
        machine.accept(sse)
    assert len(machine.outputs) == 2
    final = structure(response_json("COMPLETED", [UNKNOWN_OUTPUT, UNKNOWN_OUTPUT]), mw.Response)
    machine.finish(final)
    assert len(machine.outputs) == 4


def test_the_gap_marker_reads_as_gap() -> None:
    """It shows up in debugger output and assertion messages of the shell's tests."""
    from moveworks_async._stream_machine import GAP

    assert repr(GAP) == "GAP"


# --- second run (stream3, after the timers moved into the machine): 17 survivors of 255 ----


def test_an_unusable_response_id_is_a_protocol_error_with_its_message() -> None:
    machine = _machine()
    created = response_json("CREATED")
    created["response_id"] = "../../admin"
    (sse,) = machine.feed(event("RESPONSE_CREATED", 1, response=created))
    with pytest.raises(mw.StreamProtocolError) as info:
        machine.accept(sse)
    assert info.value.message == "the server sent a response id the SDK cannot use"
    assert info.value.request_id == "req-7"
    assert machine.response_id is None


def test_a_fresh_machine_has_no_read_deadline() -> None:
    machine = _machine()
    assert machine.next_deadline() == float("inf")
    assert machine.on_timer(1e12) is None  # nothing is overdue before a wait starts
    assert machine.fatal is False


def test_deadline_endings_name_the_request() -> None:
    machine = StreamMachine(1 << 20, deadline=5.0)
    machine.request_id = "req-9"
    machine.start(0.0)
    machine.wait_started(0.0)
    action = machine.on_timer(5.0)
    assert action is not None
    assert action.error.request_id == "req-9"  # type: ignore[union-attr]
    assert type(action.error) is mw.DeadlineTimeout  # type: ignore[union-attr]
    late = machine.recovery_past_deadline()
    assert late.message == "the stream passed its deadline while recovering"
    assert late.request_id == "req-9"


def test_a_fatal_failure_records_no_ending() -> None:
    machine = _machine()
    machine.fail(mw.StreamProtocolError("bad"), fatal=True)
    assert machine.ending is None
    assert machine.fatal is True
    other = _machine()
    other.fail(mw.StreamProtocolError("bad"))
    assert other.ending is not None


def test_a_reset_with_the_id_known_is_recovered_by_polling() -> None:
    machine = _machine()
    (sse,) = machine.feed(event("RESPONSE_CREATED", 1, response=response_json("CREATED")))
    machine.accept(sse)
    assert machine.response_id is not None
    action = machine.on_reset()
    assert action == Poll(machine.response_id)


def test_a_fresh_machine_accepts_a_frame_from_another_decoder() -> None:
    """The machine used as a library: a frame parsed elsewhere (not by its own feed())
    is decoded with loads' full checks and applied."""
    from moveworks_async._sse import ServerSentEvent

    machine = _machine()
    created = event("RESPONSE_CREATED", 1, response=response_json("CREATED"))
    data = created.split(b"data: ", 1)[1].strip().decode()
    got = machine.accept(ServerSentEvent("RESPONSE_CREATED", data, None, None))
    assert isinstance(got, mw.ResponseCreated)
    assert got.sequence_number == 1
    deep = "[" * 300 + "]" * 300  # too deep for loads: bad JSON, as on the feed() path
    assert machine.accept(ServerSentEvent("PING", deep, None, None)) == mw.UnknownEvent(
        "PING", None, {"data": deep}
    )
