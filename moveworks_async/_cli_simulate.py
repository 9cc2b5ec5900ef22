"""What ``moveworks-async --simulate`` talks to: an in-process fake server with demo answers.

The fake (``moveworks_async.testing.FakeMoveworks``) speaks the real wire protocol, so every CLI
command runs its normal code path against it; only the answers are scripted. A few common
employee-support questions get a hand-written answer with a reasoning trail, citations and
actions; anything else gets the fake's default answer, which quotes the question.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final, TypedDict

from .testing import Answer, FakeMoveworks
from .testing._answers import default_answer

__all__ = [
    "SIMULATED",
    "SIMULATED_EVENT_ID",
    "SIMULATED_RECORDS",
    "demo_answer",
    "simulated_server",
]


class Credentials(TypedDict):
    """Keyword arguments shared by ``FakeMoveworks`` and the CLI's settings."""

    assistant_name: str
    token: str
    client_id: str
    client_secret: str


#: The credentials the simulated server accepts (and the CLI then uses): nothing secret.
SIMULATED: Final[Credentials] = {
    "assistant_name": "acme-capi",
    "token": "test-token",
    "client_id": "test-client",
    "client_secret": "test-secret",
}


#: The Events API event the simulated server defines (``notify --simulate EVENT_ID``).
SIMULATED_EVENT_ID: Final = "00000000-0000-4000-8000-000000000001"
#: Records of every Data API table on the simulated server.
SIMULATED_RECORDS: Final = 2500


def _url(label: str, url: str) -> dict[str, Any]:
    return {"type": "URL_ACTION", "label": label, "url_action": {"url": url}}


def _button(label: str, callback_id: str) -> dict[str, Any]:
    return {
        "type": "CALLBACK_ACTION",
        "label": label,
        "callback_action": {"callback_id": callback_id},
    }


# (keywords, answer): the first entry with a keyword in the lower-cased question wins.
# More snapshots than the fake's default make the answer visibly grow on a terminal.
_DEMO: Final[tuple[tuple[tuple[str, ...], Answer], ...]] = (
    (
        ("report to", "manager", "org chart", "reports to"),
        Answer(
            text=(
                "John Doe reports to **Jane Smith**, Director of Platform Engineering. "
                "Jane leads a team of 14 across Platform and Developer Experience, and she "
                "reports to the CTO, Priya Raman.\n\n"
                "See the <https://people.example.com/org/platform|Platform org chart> for the "
                "whole team."
            ),
            reasoning=(
                "Looking up John Doe in the employee directory",
                "Reading the Platform Engineering org chart",
            ),
            citations=(
                ("Employee directory: John Doe", "https://people.example.com/u/jdoe"),
                ("Platform org chart", "https://people.example.com/org/platform"),
                ("Employee directory: John Doe", "https://people.example.com/u/jdoe"),
            ),
            actions=(
                _url("Open org chart", "https://people.example.com/org/platform"),
                _button("Message Jane Smith", "cb_message_manager"),
            ),
            snapshots=8,
        ),
    ),
    (
        ("pto", "vacation", "time off", "holiday", "leave"),
        Answer(
            text=(
                "Full-time employees accrue **20 days of PTO** a year (1.67 days a month), "
                "plus 11 company holidays. Up to 5 unused days roll over into the next year.\n\n"
                "Request time off in Workday at least two weeks ahead; your manager approves it."
            ),
            reasoning=("Searching HR policies", "Reading the PTO policy (2026)"),
            citations=(
                ("PTO policy (2026)", "https://hr.example.com/policies/pto"),
                ("Company holidays", "https://hr.example.com/holidays"),
            ),
            actions=(_url("Request time off in Workday", "https://workday.example.com/pto"),),
            snapshots=8,
        ),
    ),
    (
        ("vpn", "remote access", "globalprotect"),
        Answer(
            text=(
                "To connect to the VPN:\n"
                "1. Open **GlobalProtect** from the menu bar (install it from Self Service "
                "if it is missing).\n"
                "2. Enter the portal `vpn.example.com` and sign in with SSO.\n"
                "3. Approve the push notification on your phone.\n\n"
                "If it still fails, restart GlobalProtect and try again, or file a ticket."
            ),
            reasoning=("Searching the IT knowledge base", "Reading: Connect to the VPN"),
            citations=(("Connect to the VPN", "https://it.example.com/kb/vpn"),),
            actions=(_button("File an IT ticket", "cb_file_ticket"),),
            snapshots=8,
        ),
    ),
    (
        ("password", "locked out", "reset my"),
        Answer(
            text=(
                "You can reset your password yourself: go to "
                "<https://id.example.com/reset|the password reset page>, verify with your "
                "phone, and choose a new password of at least 14 characters. It syncs to "
                "email, Slack and the VPN within five minutes."
            ),
            reasoning=("Checking your account status", "Reading: Reset your password"),
            citations=(("Reset your password", "https://it.example.com/kb/password-reset"),),
            actions=(_url("Reset password", "https://id.example.com/reset"),),
            snapshots=8,
        ),
    ),
)


def demo_answer(question: str) -> Answer:
    """The scripted demo answer for ``question``, or the fake's default answer."""
    lowered = question.lower()
    for keywords, answer in _DEMO:
        if any(keyword in lowered for keyword in keywords):
            return answer
    return default_answer(question)


@asynccontextmanager
async def simulated_server() -> AsyncIterator[FakeMoveworks]:
    """A started fake server with the demo answers and one proactive notification.

    Its state (conversations, responses, events) lives in this process for one run only: a
    conversation id printed by one ``--simulate`` run means nothing to the next.
    Streams use the fake's default pacing, so answers visibly grow as they stream.
    """
    async with FakeMoveworks(answer=demo_answer, polls_to_complete=2, **SIMULATED) as server:
        # One system-initiated message, so `events watch --simulate` has something to show.
        server.push_event(None, "Your laptop refresh request RITM0012345 was approved.")
        # `notify --simulate` needs a defined event, `export --simulate` some records.
        server.events_api.register(SIMULATED_EVENT_ID)
        for kind in ("conversations", "interactions", "plugin-calls", "plugin-resources", "users"):
            server.data_api.generate(kind, SIMULATED_RECORDS)
        yield server
