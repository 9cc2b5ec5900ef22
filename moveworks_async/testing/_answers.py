"""Scripted assistant answers: the :class:`Answer` value and how a question picks one."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeAlias

import attrs

__all__ = ["CALLBACK_ANSWER", "Answer", "AnswerSource", "default_answer", "resolve_answer"]

DEFAULT_REASONING: Final = ("Searching knowledge base", "Reading sources")
DEFAULT_CITATIONS: Final = (
    ("Employee Handbook", "https://help.example.com/kb/employee-handbook"),
    ("IT Help Center", "https://help.example.com/kb/it-help-center"),
)


def _tuple_of_str(value: Sequence[str]) -> tuple[str, ...]:
    return tuple(value)


def _tuple_of_pairs(value: Sequence[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple((str(title), str(url)) for title, url in value)


def _tuple_of_mappings(value: Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
    return tuple(value)


@attrs.frozen
class Answer:
    """What the fake assistant replies to one user turn.

    Attributes:
        text: Final assistant message text (``COMMONMARK_TEXT``).
        reasoning: Reasoning-trail messages, each a ``REASONING_MESSAGE`` output streamed before
            the message.
        citations: ``(title, url)`` pairs, rendered as ``Citation`` objects plus
            ``content_references`` at ascending offsets inside ``text``.
        actions: Raw ``Action`` dicts attached to the message on assistant/v1 and rest/v1
            (``MODAL_ACTION`` dicts only on rest/v1; v1beta1 has no actions).
        modal: On rest/v1, attach a ``MODAL_ACTION`` and serve a modal form for it.
        fail: End ``FAILED`` (``error`` ``{code, message}``, no assistant message) instead of
            ``COMPLETED``.
        snapshots: How many growing ``RESPONSE_OUTPUT_DELTA`` snapshots of the message a stream
            carries (cumulative text, same ``message_id``; the last one is the whole message).
    """

    text: str
    reasoning: Sequence[str] = attrs.field(default=DEFAULT_REASONING, converter=_tuple_of_str)
    citations: Sequence[tuple[str, str]] = attrs.field(
        default=DEFAULT_CITATIONS, converter=_tuple_of_pairs
    )
    actions: Sequence[Mapping[str, Any]] = attrs.field(default=(), converter=_tuple_of_mappings)
    modal: bool = False
    fail: bool = False
    snapshots: int = attrs.field(default=3, validator=attrs.validators.ge(1))


#: Answer to a ``callback_id`` input (a pressed ``CALLBACK_ACTION`` button).
CALLBACK_ANSWER: Final = Answer(text="Done.", reasoning=(), citations=())

AnswerSource: TypeAlias = Callable[[str], Answer] | Mapping[str, Answer | str] | None


def default_answer(question: str) -> Answer:
    """Return the deterministic canned answer for ``question`` (it quotes the question)."""
    # Curly quotes and an em dash put multi-byte UTF-8 on the wire, so 1-byte trickle faults
    # split characters, as reliability fault #15 wants.
    return Answer(
        text=(
            f"Here is what I found about \u201c{question}\u201d \u2014 the steps are in the "
            "Employee Handbook, and the IT Help Center has the details for your device."
        )
    )


def resolve_answer(source: AnswerSource, question: str) -> Answer:
    """Pick the answer for ``question`` from a callable, a table, or the default.

    A table entry may be a plain ``str`` (meaning ``Answer(text=...)``); questions missing from
    the table get :func:`default_answer`. A callable may also return a plain ``str``.
    """
    if source is None:
        return default_answer(question)
    if callable(source):
        chosen: Answer | str = source(question)
    else:
        found = source.get(question)
        if found is None:
            return default_answer(question)
        chosen = found
    return Answer(text=chosen) if isinstance(chosen, str) else chosen
