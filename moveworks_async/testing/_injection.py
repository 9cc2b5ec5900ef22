"""Injected faults and how they are matched to requests.

A fault injected with ``conversation_id`` only hits requests whose path names that
conversation; ``path_contains`` narrows by substring. ``/oauth/v1/token`` is only ever hit by
faults whose ``path_contains`` matches it, so a global ``Fault.status(500)`` leaves token
minting alone. ``times`` counts firings (``None``: until :meth:`FaultRegistry.clear`).
"""

from __future__ import annotations

import attrs

from ._faults import ExpireToken, Fault

__all__ = ["FaultRegistry"]


@attrs.define
class _Injected:
    fault: Fault
    conversation_id: str | None
    path_contains: str | None
    remaining: int | None
    token_serial: int  # tokens with a serial up to this existed at inject time


class FaultRegistry:
    """The injected faults, in injection order."""

    def __init__(self) -> None:
        self._entries: list[_Injected] = []

    def __bool__(self) -> bool:
        return bool(self._entries)

    def add(
        self,
        fault: Fault,
        conversation_id: str | None,
        times: int | None,
        path_contains: str | None,
        token_serial: int,
    ) -> None:
        """Register ``fault``; ``times`` must be ``None`` or positive."""
        if times is not None and times < 1:
            raise ValueError("times must be None or >= 1")
        self._entries.append(_Injected(fault, conversation_id, path_contains, times, token_serial))

    def clear(self) -> None:
        """Forget every fault."""
        self._entries.clear()

    def _matches(
        self, entry: _Injected, path: str, conversation_id: str | None, oauth: bool
    ) -> bool:
        if entry.path_contains is None:
            if oauth:
                return False
        elif entry.path_contains not in path:
            return False
        return entry.conversation_id is None or entry.conversation_id == conversation_id

    def _consume(self, entry: _Injected) -> None:
        if entry.remaining is not None:
            entry.remaining -= 1
            if entry.remaining == 0:
                self._entries.remove(entry)

    def take_gate(
        self, path: str, conversation_id: str | None, oauth: bool, token_serial: int | None
    ) -> Fault | None:
        """Fire and return the first matching gate fault, if any."""
        for entry in self._entries:
            if not entry.fault.gate or not self._matches(entry, path, conversation_id, oauth):
                continue
            if isinstance(entry.fault, ExpireToken) and (
                token_serial is None or token_serial > entry.token_serial
            ):
                continue
            self._consume(entry)
            return entry.fault
        return None

    def take(
        self, path: str, conversation_id: str | None, oauth: bool, stream: bool
    ) -> list[Fault]:
        """Fire and return every matching non-gate fault for a plain or a stream reply."""
        fired: list[Fault] = []
        for entry in list(self._entries):
            fault = entry.fault
            if fault.gate or not (fault.stream if stream else fault.plain):
                continue
            if self._matches(entry, path, conversation_id, oauth):
                self._consume(entry)
                fired.append(fault)
        return fired
