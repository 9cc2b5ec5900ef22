"""The transport's pure helpers (found by ``nox -s mutants``): which package error each wire
failure becomes, which content codings a stream accepts, and the bounded, salvaging inflater.
"""

from __future__ import annotations

import gzip
import zlib

import aiohttp
import pytest

import moveworks_async as mw
from moveworks_async._transport import _INFLATE_STEP, _inflater, _mapped


@pytest.mark.parametrize("ambiguous", [True, False])
def test_wire_failures_map_to_typed_errors(ambiguous: bool) -> None:
    """Phase, outcome and message of each kind of failure; only connect-phase ones are known
    not to have reached the server."""
    connect = _mapped(aiohttp.ConnectionTimeoutError(), ambiguous=ambiguous)
    assert isinstance(connect, mw.APITimeoutError)
    assert (connect.phase, connect.outcome_unknown) == ("connect", False)
    assert str(connect) == "connect timeout (ConnectionTimeoutError)"

    read = _mapped(aiohttp.SocketTimeoutError(), ambiguous=ambiguous)
    assert isinstance(read, mw.APITimeoutError)
    assert (read.phase, read.outcome_unknown) == ("read", ambiguous)
    assert str(read) == "read timeout (SocketTimeoutError)"

    total = _mapped(TimeoutError(), ambiguous=ambiguous)
    assert isinstance(total, mw.APITimeoutError)
    assert (total.phase, total.outcome_unknown) == ("total", ambiguous)
    assert str(total) == "total timeout"

    reset = _mapped(aiohttp.ClientOSError(104, "Connection reset by peer"), ambiguous=ambiguous)
    assert type(reset) is mw.APIConnectionError
    assert reset.outcome_unknown is ambiguous
    assert str(reset) == "ClientOSError: [Errno 104] Connection reset by peer"

    silent = _mapped(aiohttp.ClientPayloadError(), ambiguous=ambiguous)
    assert str(silent) == "ClientPayloadError: ClientPayloadError"  # no text: the name twice


@pytest.mark.parametrize("value", ["gzip", "x-gzip", " GZIP ", "X-Gzip"])
def test_gzip_codings_are_decoded(value: str) -> None:
    """``gzip`` and its old alias ``x-gzip``, in any case and padding, decode as gzip."""
    inflater = _inflater({"Content-Encoding": value}, 200)
    assert inflater is not None
    assert inflater.inflate(gzip.compress(b"data: x\n\n")) == (b"data: x\n\n", None)


@pytest.mark.parametrize(
    "headers", [{}, {"Content-Encoding": ""}, {"Content-Encoding": "Identity"}]
)
def test_identity_needs_no_inflater(headers: dict[str, str]) -> None:
    """No coding, an empty one or ``identity`` leaves the body as it is."""
    assert _inflater(headers, 200) is None


def test_unsupported_coding_names_it_and_keeps_the_status() -> None:
    """An unknown coding is an UnexpectedResponseError with the status and a bounded name."""
    with pytest.raises(mw.UnexpectedResponseError) as caught:
        _inflater({"Content-Encoding": "br"}, 206)
    assert caught.value.status_code == 206
    assert str(caught.value) == "unsupported Content-Encoding 'br' (offered: gzip, deflate)"
    with pytest.raises(mw.UnexpectedResponseError) as long:
        _inflater({"Content-Encoding": "x" * 100}, 200)
    assert f"'{'x' * 40}'" in str(long.value)
    assert "x" * 41 not in str(long.value)


def test_a_bomb_is_inflated_in_bounded_steps() -> None:
    """A small input that inflates to 8 MiB comes out at most one step at a time."""
    bomb = gzip.compress(b"\0" * (8 * 1024 * 1024))
    inflater = _inflater({"Content-Encoding": "gzip"}, 200)
    assert inflater is not None
    out, error = inflater.inflate(bomb)
    assert error is None
    assert len(out) == _INFLATE_STEP
    assert inflater.pending
    total = len(out)
    while inflater.pending:
        out, error = inflater.inflate(b"")
        assert len(out) <= _INFLATE_STEP
        total += len(out)
    assert total == 8 * 1024 * 1024


def test_corruption_is_reported_after_the_bytes_before_it() -> None:
    """Bytes decoded before a corrupt spot come back with the error, not instead of it."""
    z = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    good = z.compress(b"data: kept\n\n") + z.flush(zlib.Z_SYNC_FLUSH)
    inflater = _inflater({"Content-Encoding": "gzip"}, 200)
    assert inflater is not None
    out, error = inflater.inflate(good + b"\xff" * 16)
    assert out == b"data: kept\n\n"
    assert isinstance(error, zlib.error)
