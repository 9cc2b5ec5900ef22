"""Whole-call deadlines for many calls at once, one event-loop timer per call length.

``asyncio.timeout`` per call costs a ``Timeout`` object, two coroutines (``__aenter__`` and
``__aexit__``) and a ``TimerHandle`` pushed on the loop's heap, whose ``__lt__`` is Python code;
with the default 600 s total nearly every handle is cancelled unfired, so the heap fills with
dead handles the loop later sorts out again. That was ~12 % of a GET's own work.

Here the calls of one length (``Timeout.total``) on one loop share a :class:`DeadlineLane`: the
loop's clock is monotonic, so their deadlines arrive in the order the calls started, and an
insertion-ordered dict of the calls in flight is already sorted. Starting a call is one dict
store (plus one timer when the lane is idle), ending it one dict removal; the lane's single
timer is armed at the oldest call's deadline and, when it fires, cancels the calls whose time
is up and re-arms for the oldest one left.

The cancellation protocol is ``asyncio.timeout``'s: the expired call's task is cancelled and
remembers it (:attr:`Deadline.expired`); the call then uncancels the task and turns the
``CancelledError`` into its timeout only when no other cancellation is pending (see
:meth:`Deadline.settle`), so an outer cancel scope or a caller's ``task.cancel()`` still wins.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from types import TracebackType
from typing import Any

#: Lanes that may stay registered (their timer armed) while idle: a client uses a few call
#: lengths over and over (its default, a per-endpoint timeout), and those keep the cheap path.
IDLE_LANES = 4


class Deadline:
    """One call's entry in a lane: its task, its deadline on the loop's clock, and whether the
    lane cancelled it.

    A caller may use a subclass that carries its own per-call state (the client's call
    bounds): one object per call instead of two. Such a subclass sets ``task`` and
    ``expired = False`` itself and is registered with :meth:`DeadlineLane.enter`, which sets
    ``when`` and ``cancelling``.
    """

    __slots__ = ("cancelling", "expired", "task", "when")

    #: The loop-clock deadline (set by :meth:`DeadlineLane.enter`).
    when: float
    #: The task's pending cancellations when the call started (see :meth:`settle`).
    cancelling: int

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.expired = False

    def settle(self, exc: BaseException | None) -> bool:
        """Undo the lane's cancellation once the call has ended; True when the call's
        ``CancelledError`` (``exc``) was the deadline's alone and is to become a timeout.

        As ``asyncio.timeout``'s exit: a cancellation that arrived besides the deadline's
        (``uncancel()`` still above the count at the start) is left to propagate."""
        if not self.expired:
            return False
        return self.task.uncancel() <= self.cancelling and isinstance(exc, asyncio.CancelledError)


class DeadlineLane:
    """The calls of one length in flight on one loop (see the module docstring).

    Deadlines must be added in non-decreasing ``when`` order (``loop.time() + length`` with
    one ``length`` per lane): a call whose deadline is earlier than one added before it would
    be cancelled late, at that earlier call's deadline.
    """

    __slots__ = ("_armed", "_calls", "_handle", "_key", "_owner", "loop")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        owner: dict[float, DeadlineLane] | None = None,
        key: float = 0.0,
    ) -> None:
        self.loop = loop
        #: The registry holding this lane under ``key``; an idle lane leaves it, so call
        #: lengths used once (a shrinking per-call timeout) do not pile up.
        self._owner = owner
        self._key = key
        #: The calls in flight, oldest first (a dict as an ordered set: O(1) removal).
        self._calls: dict[Deadline, None] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._armed = 0.0

    def __len__(self) -> int:
        return len(self._calls)

    def add(self, task: asyncio.Task[Any], when: float) -> Deadline:
        """Register ``task``'s call, due at ``when`` on the loop's clock; remove it when it
        ends (:meth:`remove`)."""
        entry = Deadline(task)
        self.enter(entry, when)
        return entry

    def enter(self, entry: Deadline, when: float) -> None:
        """Register ``entry`` (its ``task`` set, not yet expired), due at ``when`` on the
        loop's clock; remove it when the call ends (:meth:`remove`)."""
        entry.when = when
        # Read at the start, as asyncio.timeout does: a cancellation pending by the time the
        # deadline fires is then still told apart from the deadline's own (settle).
        entry.cancelling = entry.task.cancelling()
        self._calls[entry] = None
        if self._handle is None:
            self._arm(when)

    def remove(self, entry: Deadline) -> None:
        """Forget a call that ended. The timer stays armed: it re-arms itself when it fires,
        so a call costs no timer operation of its own while others are in flight. A lane left
        idle while more than :data:`IDLE_LANES` lengths are registered retires at once (its
        timer cancelled): calls that each use their own length (a shrinking budget) would
        otherwise keep one lane and one armed timer apiece until their totals ran out."""
        calls = self._calls
        calls.pop(entry, None)
        owner = self._owner
        if not calls and owner is not None and len(owner) > IDLE_LANES:
            handle = self._handle
            if handle is not None:
                self._handle = None
                handle.cancel()
            if owner.get(self._key) is self:
                del owner[self._key]

    def _arm(self, when: float) -> None:
        self._armed = when
        self._handle = self.loop.call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        # Due now: the calls due at or before the time this timer was armed for (the loop
        # runs a timer up to its clock resolution early). Not every call due by the loop's
        # clock: when the loop runs late, a call due after another timer (a caller's own
        # asyncio.timeout, due earlier) must not expire before that timer had its turn, so
        # later calls get a timer for their own deadline, taking their place in the loop's
        # order.
        now = self._armed
        due = []
        for entry in self._calls:
            if entry.when > now:
                self._arm(entry.when)
                break
            due.append(entry)
        for entry in due:
            del self._calls[entry]
            entry.expired = True
            entry.task.cancel()
        if self._handle is None and self._owner is not None and self._owner.get(self._key) is self:
            del self._owner[self._key]


class LaneTimeout:
    """``asyncio.timeout_at(when)`` on a lane: the same ``async with``, ``expired()`` and
    disarming ``reschedule(None)``, for a block due ``when = loop.time() + length`` (computed
    just before entering, so the lane's order holds) without a timer of its own.

    A stream's opening phase uses two per stream (before the POST is sent, and until the reply
    headers arrive); with a loop timer each, 200 concurrent streams kept 400 handles on the
    loop's heap, nearly all cancelled unfired.
    """

    __slots__ = ("_entry", "_lane", "_when")

    def __init__(self, lane: DeadlineLane, when: float) -> None:
        self._lane = lane
        self._when = when
        self._entry: Deadline | None = None

    async def __aenter__(self) -> LaneTimeout:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - asyncio runs coroutines in tasks
            raise RuntimeError("LaneTimeout must be used inside a task")
        self._entry = self._lane.add(task, self._when)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        entry = self._entry
        assert entry is not None
        self._lane.remove(entry)
        if entry.settle(exc):
            raise TimeoutError from exc

    def expired(self) -> bool:
        """Whether the deadline came and cancelled the block (as ``asyncio.Timeout``'s)."""
        return self._entry is not None and self._entry.expired

    def reschedule(self, when: None) -> None:
        """Disarm: the block runs on without a deadline (the only rescheduling offered)."""
        if when is not None:
            raise ValueError("a LaneTimeout can only be disarmed")
        if self._entry is not None:
            self._lane.remove(self._entry)


class Lanes(dict[float, DeadlineLane]):
    """The client's lanes on its current loop, by call length: ``lanes[length]`` is the lane
    of calls lasting ``length`` seconds, made when first asked for (a dict lookup per call)."""

    __slots__ = ("loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Empty as made (dict.__init__ would take ``loop`` for items).
        self.loop = loop

    def __missing__(self, length: float) -> DeadlineLane:
        lane = self[length] = DeadlineLane(self.loop, self, length)
        return lane

    def lane(self, length: float) -> DeadlineLane:
        """The lane of calls lasting ``length`` seconds."""
        return self[length]


#: The whole-call bound of the call running in this task (the client sets it: its ``_Bounds``,
#: a :class:`Deadline`). Here, below the client, so that a transport can read it.
CURRENT: ContextVar[Deadline | None] = ContextVar("moveworks_async_call", default=None)


def time_left() -> float | None:
    """Seconds left before the whole-call deadline of the call running in this task, on the
    loop's clock; None without one (no ``Timeout.total``, or not known here: a call nested in
    another one's bound)."""
    entry = CURRENT.get()
    if entry is None:
        return None
    when: float | None = getattr(entry, "when", None)  # set when the call entered its lane
    if when is None or entry.task is not asyncio.current_task():
        return None
    return when - asyncio.get_running_loop().time()
