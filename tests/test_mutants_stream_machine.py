"""Tests written to kill the mutants of ``_stream_machine`` the suite let survive (see
docs/mutants.md): the request id every error carries, the exact byte count without an event,
and outputs without an id kept one by one."""

from __future__ import annotations

import pytest
from _stream_support import event, response_json

import moveworks_async as mw
from moveworks_async._converter import structure
from moveworks_async._stream_machine import StreamMachine

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
    assert machine.quiet == 12
    frame = event("RESPONSE_CREATED", 1, response=response_json("CREATED"))
    machine2 = StreamMachine(1 << 20)
    machine2.feed(b": ka\n\n")
    assert machine2.feed(frame) != []
    assert machine2.quiet == 0
    machine2.feed(b": ka\n\n")
    assert machine2.quiet == 6


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
