"""The stream machine's deadlines and endings (``_stream_machine``), pure: time is whatever the
test passes as ``now``; no loop, no clock, no server."""

from __future__ import annotations

import math
from typing import Any

import pytest
from _stream_support import RID, event, response_json

import moveworks_async as mw
from moveworks_async._converter import structure
from moveworks_async._stream_machine import GAP, End, Fail, Poll, StreamMachine

CREATED = event("RESPONSE_CREATED", 1, response=response_json("CREATED"))


def _machine(**kw: Any) -> StreamMachine:
    machine = StreamMachine(1 << 20, **kw)
    machine.request_id = "req-3"
    return machine


def _created(machine: StreamMachine) -> None:
    for sse in machine.feed(CREATED):
        machine.accept(sse)


def test_no_timeouts_means_no_deadline() -> None:
    machine = _machine()
    machine.start(0.0)
    machine.sent(0.0)
    assert machine.wait_started(1e9) is None
    assert machine.next_deadline() == math.inf
    assert machine.on_timer(1e12) is None
    assert machine.ending is None


def test_first_event_deadline_counts_from_sending_not_from_the_wait() -> None:
    machine = _machine(first_event_timeout=5.0, idle_timeout=1.0)
    machine.start(100.0)
    machine.sent(102.0)
    assert machine.wait_started(104.0) is None
    assert machine.next_deadline() == 107.0  # sent + 5, not the idle limit of the wait
    assert machine.on_timer(106.9) is None
    assert machine.ending is None
    action = machine.on_timer(107.0)
    assert machine.ending is End.FIRST_EVENT
    assert type(action) is Fail
    assert type(action.error) is mw.FirstEventTimeout
    assert action.error.outcome_unknown is True  # no response id: nothing says what happened
    assert action.error.request_id == "req-3"
    assert action.fatal is True


def test_after_the_first_event_each_wait_gets_idle_timeout() -> None:
    machine = _machine(first_event_timeout=5.0, idle_timeout=2.0)
    machine.sent(0.0)
    _created(machine)
    assert machine.first_at is None
    assert machine.wait_started(10.0) is None
    assert machine.next_deadline() == 12.0
    assert machine.wait_started(11.5) is None  # data arrived: the idle timer is pushed
    assert machine.next_deadline() == 13.5
    assert machine.on_timer(13.0) is None
    action = machine.on_timer(13.5)
    assert machine.ending is End.IDLE
    assert action == Poll(RID)  # the id is known and recover is on: poll for the truth


def test_keep_alive_bytes_without_an_event_keep_the_first_event_deadline() -> None:
    machine = _machine(first_event_timeout=5.0, idle_timeout=60.0)
    machine.sent(0.0)
    assert machine.feed(b": keep-alive\n\n") == []
    assert machine.first_at == 5.0
    assert machine.wait_started(1.0) is None
    assert machine.next_deadline() == 5.0


def test_the_overall_deadline_caps_every_wait_and_is_never_recovered() -> None:
    machine = _machine(first_event_timeout=50.0, idle_timeout=50.0, deadline=3.0)
    machine.start(10.0)
    assert machine.deadline_at == 13.0
    machine.sent(11.0)
    _created(machine)
    assert machine.wait_started(12.0) is None
    assert machine.next_deadline() == 13.0
    action = machine.on_timer(13.0)
    assert machine.ending is End.DEADLINE
    assert type(action) is Fail
    assert type(action.error) is mw.DeadlineTimeout
    assert action.fatal is True
    assert action.error.outcome_unknown is False  # the response id is known


def test_a_deadline_without_response_id_leaves_the_outcome_unknown() -> None:
    machine = _machine(deadline=1.0)
    machine.start(0.0)
    action = machine.wait_started(1.0)  # already overdue when the wait starts
    assert type(action) is Fail
    assert type(action.error) is mw.DeadlineTimeout
    assert action.error.outcome_unknown is True


def test_a_wait_already_overdue_reports_at_once() -> None:
    machine = _machine(first_event_timeout=1.0)
    machine.sent(0.0)
    assert machine.wait_started(0.5) is None
    assert type(machine.wait_started(1.0)) is Fail
    assert machine.ending is End.FIRST_EVENT


def test_past_deadline_between_buffered_events() -> None:
    machine = _machine()
    assert machine.past_deadline(1e9) is False  # no deadline at all
    machine = _machine(deadline=2.0)
    machine.start(0.0)
    assert machine.past_deadline(1.9) is False
    assert machine.ending is None
    assert machine.past_deadline(2.0) is True
    assert machine.ending is End.DEADLINE


def test_eof_without_terminal_event_polls_or_fails() -> None:
    machine = _machine()
    _created(machine)
    assert machine.on_eof() == Poll(RID)
    assert machine.ending is End.EOF
    fail = machine.action(False)  # recover=False: the interruption is raised
    assert type(fail) is Fail
    assert type(fail.error) is mw.StreamInterruptedError
    assert fail.error.response_id == RID
    assert fail.error.request_id == "req-3"
    assert fail.fatal is False  # final_response() may still poll


def test_eof_with_the_id_unknown_is_fatal_and_discards_a_partial_event() -> None:
    machine = _machine(recover=True)
    assert machine.feed(CREATED[:-1]) == []
    action = machine.on_eof()
    assert machine.response_id is None  # the unterminated event was discarded
    assert type(action) is Fail
    assert type(action.error) is mw.StreamInterruptedError
    assert action.fatal is True
    assert str(action.error).startswith(End.EOF.value)


def test_a_reset_keeps_the_timeout_that_caused_it() -> None:
    machine = _machine(idle_timeout=1.0, recover=False)
    _created(machine)
    machine.wait_started(0.0)
    assert machine.on_timer(1.0) is not None
    action = machine.on_reset()  # the shell closed the reply: the read fails
    assert machine.ending is End.IDLE
    assert type(action) is Fail
    assert type(action.error) is mw.IdleTimeout
    assert action.error.outcome_unknown is False
    plain = _machine(recover=False)
    _created(plain)
    assert type(plain.on_reset().error) is mw.StreamInterruptedError  # type: ignore[union-attr]
    assert plain.ending is End.RESET


def test_recover_setting_decides_the_timer_action() -> None:
    machine = _machine(idle_timeout=1.0, recover=False)
    _created(machine)
    machine.wait_started(0.0)
    action = machine.on_timer(5.0)
    assert type(action) is Fail
    assert type(action.error) is mw.IdleTimeout
    assert machine.action(True) == Poll(RID)  # final_response() always recovers


def test_a_gap_is_an_ending() -> None:
    machine = _machine()
    _created(machine)
    skipped = event("RESPONSE_IN_PROGRESS", 3, response=response_json("IN_PROGRESS"))
    assert [machine.accept(s) for s in machine.feed(skipped)] == [GAP]
    assert machine.ending is End.GAP
    assert machine.action(True) == Poll(RID)


def test_fail_records_the_error_and_lets_final_response_recover() -> None:
    machine = _machine()
    error = mw.StreamProtocolError("bad")
    assert machine.fail(error) is error
    assert (machine.error, machine.fatal, machine.ending) == (error, False, End.ERROR)
    assert error.outcome_unknown is True  # no response id yet
    known = _machine()
    _created(known)
    other = mw.StreamProtocolError("bad")
    known.ending = End.GAP
    known.fail(other, fatal=True)
    assert (known.fatal, known.ending) == (True, End.GAP)  # an earlier ending stays
    assert other.outcome_unknown is False
    server = mw.StreamError("E", code="x")
    _machine().fail(server)
    assert server.outcome_unknown is False  # the server said what happened


def test_poll_budget_is_cut_by_the_deadline() -> None:
    machine = _machine()
    assert machine.poll_budget(5.0, 150.0) == (150.0, False)
    bounded = _machine(deadline=100.0)
    bounded.start(0.0)
    assert bounded.poll_budget(10.0, 150.0) == (90.0, True)
    assert bounded.poll_budget(10.0, 90.0) == (90.0, True)
    assert bounded.poll_budget(10.0, 89.0) == (89.0, False)
    error = bounded.recovery_past_deadline()
    assert type(error) is mw.DeadlineTimeout
    assert (bounded.error, bounded.fatal) == (error, True)
    assert error.request_id == "req-3"


@pytest.mark.parametrize(
    ("status", "cls"), [("COMPLETED", mw.ResponseCompleted), ("FAILED", mw.ResponseFailed)]
)
def test_a_poll_result_is_a_recovered_terminal_event(status: str, cls: type[Any]) -> None:
    machine = _machine()
    _created(machine)
    machine.on_eof()
    response = structure(response_json(status), mw.Response)
    synthesized = machine.polled(response)
    assert type(synthesized) is cls
    assert synthesized.recovered is True
    assert synthesized.sequence_number is None
    assert synthesized.response is response
    assert machine.final is response
    assert machine.ending is None
