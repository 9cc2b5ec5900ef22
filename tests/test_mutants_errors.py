"""The exception tree's documented attributes and messages (found by ``nox -s mutants``).

Callers branch on these attributes (``outcome_unknown``, ``retry_after``, ``phase``,
``response_id``) and log ``str(error)``; each constructor is checked for what it keeps and what
its message says, with and without the optional parts.
"""

from __future__ import annotations

import moveworks_async as mw


def test_api_error_message_carries_the_request_id_only_when_known() -> None:
    """``str()`` ends with the request id when there is one; ``.message`` never has it."""
    with_id = mw.APIError("boom", request_id="req-1")
    assert str(with_id) == "boom (request id req-1)"
    assert (with_id.message, with_id.request_id) == ("boom", "req-1")
    without = mw.APIError("boom")
    assert str(without) == "boom"
    assert without.request_id is None


def test_status_error_keeps_every_documented_attribute() -> None:
    """Status, code, message, body, headers (a copy) and outcome_unknown are all kept."""
    headers = {"x-trace-id": "t-1"}
    error = mw.APIStatusError(
        "no such thing",
        status_code=404,
        code="NOT_FOUND",
        request_id="t-1",
        body={"error": {"code": "NOT_FOUND"}},
        headers=headers,
        outcome_unknown=True,
    )
    assert str(error) == "404 NOT_FOUND: no such thing (request id t-1)"
    assert error.message == "no such thing"
    assert (error.status_code, error.code, error.request_id) == (404, "NOT_FOUND", "t-1")
    assert error.body == {"error": {"code": "NOT_FOUND"}}
    headers["x-trace-id"] = "changed"
    assert error.headers == {"x-trace-id": "t-1"}  # the error's own copy
    assert error.outcome_unknown is True
    bare = mw.InternalServerError("upstream failed", status_code=502)
    assert str(bare) == "502: upstream failed"
    assert (bare.code, bare.request_id, bare.body, bare.headers) == (None, None, None, {})
    assert bare.outcome_unknown is False


def test_timeout_error_keeps_phase_request_id_and_outcome() -> None:
    """A timeout says which phase timed out; outcome_unknown defaults to False."""
    timeout = mw.APITimeoutError("read timed out", phase="read", request_id="r-3")
    assert (timeout.phase, timeout.request_id, timeout.outcome_unknown) == ("read", "r-3", False)
    assert str(timeout) == "read timed out (request id r-3)"
    assert mw.APITimeoutError("late", phase="idle", outcome_unknown=True).outcome_unknown is True


def test_stream_interrupted_outcome_follows_the_response_id() -> None:
    """Without a response id the create's outcome is unknown; with one it is known."""
    unknown = mw.StreamInterruptedError("cut", request_id="r-4")
    assert (unknown.response_id, unknown.outcome_unknown, unknown.request_id) == (
        None,
        True,
        "r-4",
    )
    assert str(unknown) == "cut (request id r-4)"
    known = mw.StreamInterruptedError("cut", response_id="resp-1")
    assert (known.response_id, known.outcome_unknown) == ("resp-1", False)


def test_stream_error_message_and_fields() -> None:
    """An ERROR event's code prefixes the message; ``.message`` is the server's own text."""
    error = mw.StreamError("it broke", code="INTERNAL", response_id="resp-2", request_id="r-5")
    assert str(error) == "INTERNAL: it broke (request id r-5)"
    assert (error.message, error.code, error.response_id) == ("it broke", "INTERNAL", "resp-2")
    bare = mw.StreamError("it broke")
    assert str(bare) == "it broke"
    assert (bare.code, bare.response_id, bare.request_id) == (None, None, None)


def test_wait_timeout_error_keeps_the_last_response() -> None:
    """``responses.wait()``'s timeout names the response and keeps the last one seen."""
    error = mw.WaitTimeoutError("still running", response_id="resp-3", response="last")
    assert str(error) == "still running"
    assert (error.response_id, error.response) == ("resp-3", "last")
    assert mw.WaitTimeoutError("x", response_id="resp-4").response is None


def test_validation_error_keeps_the_message_apart_from_the_path() -> None:
    """``.message`` is the problem alone; ``str()`` adds where it is and the request id."""
    error = mw.ResponseValidationError("expected a string", path="$.id", request_id="r-6")
    assert str(error) == "expected a string at $.id (request id r-6)"
    assert (error.message, error.path, error.request_id) == ("expected a string", "$.id", "r-6")
