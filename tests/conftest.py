"""Shared test fixtures: a fake clock, and an aioresponses shim for aiohttp >= 3.14."""

from __future__ import annotations

import os
import types
from collections.abc import Iterator
from typing import Any

import pytest


def _patch_aioresponses() -> None:
    """aioresponses 0.7.9 builds ClientResponse without the ``stream_writer`` argument that
    aiohttp 3.14 made mandatory; supply a stand-in so the mocks keep working."""
    try:
        import aioresponses.core as core
    except ImportError:  # pragma: no cover
        return
    import inspect

    from aiohttp import ClientResponse

    if "stream_writer" not in inspect.signature(ClientResponse.__init__).parameters:
        return
    no_writer = types.SimpleNamespace(output_size=0)

    class _CompatResponse(ClientResponse):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("stream_writer", no_writer)
            super().__init__(*args, **kwargs)

    core.ClientResponse = _CompatResponse  # type: ignore[misc]


_patch_aioresponses()


def _select_transport() -> None:
    """``MWA_TRANSPORT=pyreqwest`` runs the whole suite with clients that default to another
    transport (CI runs the suite once per transport); tests that need aiohttp by nature
    (aioresponses mocks, a caller's aiohttp session) pass ``session=`` or are marked
    ``aiohttp_only``."""
    name = os.environ.get("MWA_TRANSPORT")
    if name:
        from moveworks_async import _transport_choice as _transport

        if name not in _transport.TRANSPORTS:
            raise pytest.UsageError(f"MWA_TRANSPORT must be one of {_transport.TRANSPORTS}")
        _transport.DEFAULT_TRANSPORT = name
        if name != "aiohttp":
            _aioresponses_pins_aiohttp(_transport)


def _aioresponses_pins_aiohttp(transport_module: Any) -> None:
    """Excluded by nature: a test that mocks aiohttp with aioresponses tests the aiohttp
    transport, so clients created while an aioresponses mock is active use aiohttp whatever
    ``MWA_TRANSPORT`` says (the transport-neutral tests run against the fake server)."""
    import aioresponses.core as core

    cls = core.aioresponses
    start, stop = cls.start, cls.stop

    def pinned_start(self: Any) -> None:
        self._mwa_saved_transport = transport_module.DEFAULT_TRANSPORT
        transport_module.DEFAULT_TRANSPORT = "aiohttp"
        start(self)

    def pinned_stop(self: Any) -> None:
        stop(self)
        transport_module.DEFAULT_TRANSPORT = getattr(
            self, "_mwa_saved_transport", transport_module.DEFAULT_TRANSPORT
        )

    cls.start, cls.stop = pinned_start, pinned_stop


_select_transport()


class FakeTime:
    """The client's injected clock and sleep in tests; ``sleeps`` records every requested delay
    so tests can assert backoff schedules.

    On the virtual-time loop (tests marked ``virtual_time``) it is that loop's clock, offset by
    ``start``, and its sleep: one time for the client's sleeps, the streams' watchdogs and the
    fake server's stalls, none of it real. On a plain loop its sleeps are instant (they advance
    ``now``), for tests that only count backoff and polling sleeps; a stream's timers sleep on
    it too, so a test that streams with it runs in virtual time.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._offset = start
        self.sleeps: list[float] = []

    @staticmethod
    def _virtual_loop() -> Any:
        import asyncio

        from _virtual_loop import VirtualTimeLoop

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        return loop if isinstance(loop, VirtualTimeLoop) else None

    @property
    def now(self) -> float:
        loop = self._virtual_loop()
        return self._offset + (loop.time() if loop is not None else 0.0)

    @now.setter
    def now(self, value: float) -> None:
        self._offset += value - self.now

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        import asyncio

        self.sleeps.append(seconds)
        if self._virtual_loop() is not None:
            await asyncio.sleep(max(seconds, 0.0))
            return
        self._offset += max(seconds, 0.0)
        await asyncio.sleep(0)


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """Tests marked ``virtual_time`` run on :class:`VirtualTimeLoop`: the loop's clock (the
    streams' timers, the fake server's stalls, ``asyncio.sleep``) jumps to the next timer
    whenever nothing else can happen. The others run on a plain asyncio loop."""
    import asyncio

    from _virtual_loop import VirtualTimeLoop

    if item.get_closest_marker("virtual_time") is not None:
        return {"virtual_time": VirtualTimeLoop}
    return {"asyncio": asyncio.new_event_loop}


@pytest.fixture(autouse=True)
def _virtual_time_pins_aiohttp(request: pytest.FixtureRequest) -> Iterator[None]:
    """Excluded by nature under ``MWA_TRANSPORT=pyreqwest``: a ``virtual_time`` test's loop jumps
    its clock whenever the loop itself has no I/O ready, and pyreqwest does its I/O on its own
    runtime threads, so the loop would jump past replies that are on their way. Those tests
    (stream timers) use aiohttp; tests/test_transports.py covers pyreqwest's timeouts in real
    time."""
    if request.node.get_closest_marker("virtual_time") is None:
        yield
        return
    from moveworks_async import _transport_choice as _transport

    saved = _transport.DEFAULT_TRANSPORT
    _transport.DEFAULT_TRANSPORT = "aiohttp"
    try:
        yield
    finally:
        _transport.DEFAULT_TRANSPORT = saved


@pytest.fixture(autouse=True)
def _stream_timers_never_wait_in_real_time(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The suite keeps issue 13's property: a stream timeout (first event, idle, deadline; in
    the opening phase or while reading) fires on a virtual clock, never after real time.

    A test not marked ``virtual_time`` fails here when one of its streams timed out on the
    real loop's clock (the default clock). A test that needs real time by nature (pyreqwest's
    own threads, a deadline passing during CPU-bound work) says why with
    ``@pytest.mark.real_time_timers("reason")``."""
    node = request.node
    if node.get_closest_marker("virtual_time") is not None:
        yield
        return
    marker = node.get_closest_marker("real_time_timers")
    if marker is not None:
        if not marker.args:
            pytest.fail("real_time_timers needs a reason")
        yield
        return
    import asyncio

    from moveworks_async import _errors, _streaming
    from moveworks_async._stream_machine import End

    timer_endings = (End.FIRST_EVENT, End.IDLE, End.DEADLINE)
    fired: list[str] = []

    def on_real_clock(stream: Any) -> bool:
        clock = stream._clock
        if clock is _streaming.loop_time:
            return True
        loop = getattr(clock, "__self__", None)
        return isinstance(loop, asyncio.AbstractEventLoop)

    cls = _streaming.ResponseStream
    enter, recover = cls.__aenter__, cls._recover_event

    async def guarded_enter(self: Any) -> Any:
        try:
            return await enter(self)
        except (_errors.FirstEventTimeout, _errors.DeadlineTimeout) as exc:
            if on_real_clock(self):
                fired.append(f"opening: {exc!r}")
            raise

    async def guarded_recover(self: Any, recover_: bool) -> Any:
        ending = self._m.ending
        if ending in timer_endings and on_real_clock(self):
            fired.append(f"reading: {ending.name}")
        return await recover(self, recover_)

    monkeypatch.setattr(cls, "__aenter__", guarded_enter)
    monkeypatch.setattr(cls, "_recover_event", guarded_recover)
    yield
    if fired:
        pytest.fail(
            f"a stream timer fired in real time ({'; '.join(fired)}): mark the test "
            "virtual_time (or real_time_timers('why'))"
        )


@pytest.fixture
def fake_time() -> FakeTime:
    """A fresh FakeTime."""
    return FakeTime()


def require(condition: bool, reason: str) -> None:
    """Skip when an optional system dependency is missing, but fail under CI (CI=true), where
    ``.ci/run`` installs it: a skipped test there would hide a missing install step."""
    import os

    if condition:
        return
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (required when CI is set; .ci/run installs it)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _msgspec_back_off_starts_fresh() -> None:
    """Each test starts with msgspec tried for every model: the back-off after repeated misses
    (``_wire.MISSES_BEFORE_SKIP``) is process-wide state, and a test that fed a model payloads
    msgspec misses would otherwise send the next test's replies straight to the reference path."""
    from moveworks_async import _wire

    for entry in [*_wire._entries.values(), *_wire._event_entries.values()]:
        if entry is not None:
            entry.misses = entry.skip = 0


@pytest.fixture(autouse=True)
def _no_moveworks_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MOVEWORKS_* variable of the developer's shell reaches a test: clients read them."""
    for name in [n for n in os.environ if n.startswith("MOVEWORKS_")]:
        monkeypatch.delenv(name)
