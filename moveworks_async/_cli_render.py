"""Terminal I/O of the ``moveworks-async`` CLI: chat views, list lines, JSON, the prompt.

Three chat views share one interface (``on_event`` for each stream event, ``finish`` with the
terminal response):

* :class:`LiveChatView` (stdout is a TTY): the reasoning trail and the growing answer are one
  live block that is re-rendered in place. Answer snapshots are cumulative (each delta replaces
  the previous one), so the common case writes only the new suffix; anything else (a rewritten
  answer, a late reasoning step) erases the block and draws it again.
* :class:`PlainChatView` (pipes, files, CI logs): no control codes; each reasoning step is
  printed once it is final, then the final answer once.
* :class:`JsonChatView` (``--json``): one JSON object per stream event (JSON lines).

Standard library only: ANSI sequences are written by hand and used only on a TTY.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol, TextIO

from ._cli_options import terminal_safe
from ._console import STDIN_READER
from ._converter import unstructure
from ._events import (
    TERMINAL_EVENTS,
    ResponseCompleted,
    ResponseFailed,
    ResponseOutputDelta,
    StreamEvent,
    UnknownEvent,
)
from ._models import (
    CallbackAction,
    Citation,
    Content,
    Conversation,
    Event,
    Message,
    MessageOutput,
    ModalAction,
    ReasoningOutput,
    Response,
    ResponseStatus,
    UrlAction,
)
from ._stream_machine import recovered_event

__all__ = [
    "ChatView",
    "JsonChatView",
    "LiveChatView",
    "PlainChatView",
    "conversation_line",
    "display_text",
    "event_lines",
    "failure",
    "footer_lines",
    "mask_token",
    "message_lines",
    "read_line",
    "to_json",
]

# Slack-style links the assistant sends, ``<https://url|label>`` and ``<https://url>``.
_LABELLED_LINK = re.compile(r"<(https?://[^|>\s]+)\|([^>]*)>")
_BARE_LINK = re.compile(r"<(https?://[^|>\s]+)>")


def display_text(text: str) -> str:
    """Assistant text made readable in a terminal: ``<url|label>`` becomes ``label (url)``,
    control characters are shown escaped (see ``terminal_safe``)."""
    return terminal_safe(_BARE_LINK.sub(r"\1", _LABELLED_LINK.sub(r"\2 (\1)", text)))


def _title(content: Content | None) -> str:
    # Titles often arrive as ``**<url|Title>**``: keep only the label.
    text = _LABELLED_LINK.sub(r"\2", content.text if content is not None else "")
    return terminal_safe(_BARE_LINK.sub(r"\1", text).strip().strip("*_").strip())


def mask_token(token: str) -> str:
    """``mwt_…wxyz``: the prefix and the last four characters; short tokens show no tail."""
    head, sep, _ = token.partition("_")
    prefix = head + sep if sep and len(head) <= 5 else ""
    return f"{prefix}…{token[-4:] if len(token) >= 16 else ''}"


def to_json(value: Any, out: TextIO) -> None:
    """Write ``value`` (models are unstructured first) as one line of JSON."""
    out.write(json.dumps(unstructure(value), ensure_ascii=False) + "\n")
    out.flush()


def event_json(event: StreamEvent) -> dict[str, Any]:
    """A stream event as the API names it: ``event_type``, ``sequence_number``, payload."""
    data: dict[str, Any] = {
        "event_type": event.event_type,
        "sequence_number": event.sequence_number,
    }
    if isinstance(event, UnknownEvent):
        data["data"] = dict(event.data)
    elif isinstance(event, ResponseOutputDelta):
        data["output"] = unstructure(event.output)
    else:
        data["response"] = unstructure(event.response)
        if isinstance(event, ResponseCompleted | ResponseFailed) and event.recovered:
            data["recovered"] = True
    return data


# --- footers: citations and actions ----------------------------------------------------------


def _citations(messages: Iterable[Message]) -> list[tuple[str, str]]:
    """Unique ``(title, url)`` pairs in order: one document is often cited once per section."""
    seen: dict[tuple[str, str], None] = {}
    for message in messages:
        for citation in message.citations:
            seen.setdefault(_citation_key(citation), None)
    return list(seen)


def _citation_key(citation: Citation) -> tuple[str, str]:
    display = citation.display
    return _title(display.title if display is not None else None), terminal_safe(citation.url or "")


def _action_line(action: object) -> str:
    return terminal_safe(_action_text(action))


def _action_text(action: object) -> str:
    if isinstance(action, UrlAction):
        return f"{action.label}: {action.url}"
    if isinstance(action, CallbackAction):
        return f"{action.label} (button)"
    if isinstance(action, ModalAction):
        return f"{action.label} (form)"
    label = getattr(action, "label", None) or "action"
    return f"{label} ({getattr(action, 'type', 'unknown')})"


def footer_lines(messages: Sequence[Message], bold: Callable[[str], str] = str) -> list[str]:
    """The ``Sources`` and ``Actions`` sections of an answer (empty when it has neither)."""
    lines: list[str] = []
    citations = _citations(messages)
    if citations:
        lines += ["", bold("Sources")]
        for number, (title, url) in enumerate(citations, 1):
            lines.append(f"  [{number}] {' - '.join(part for part in (title, url) if part)}")
    actions = [action for message in messages for action in message.actions]
    if actions:
        lines += ["", bold("Actions")]
        lines += [f"  - {_action_line(action)}" for action in actions]
    return lines


# --- list commands ---------------------------------------------------------------------------


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M") if moment is not None else "-" * 16


def conversation_line(conversation: Conversation) -> str:
    """``conv_…  2026-01-20 10:00  Title`` (``[archived]`` marks archived ones)."""
    moment = conversation.updated_at or conversation.created_at
    flag = "[archived] " if conversation.archived else ""
    line = f"{conversation.conversation_id}  {_when(moment)}  {flag}{conversation.title or ''}"
    return terminal_safe(line)


def _text_of(message: Message) -> str:
    if message.content.callback_id is not None and not message.text:
        return terminal_safe(f"(pressed button {message.content.callback_id})")
    return display_text(message.text)


def message_lines(message: Message) -> list[str]:
    """A message as a header line plus its text indented (chronological history view)."""
    author = message.actor.value
    if message.sender_info is not None and message.sender_info.display_name:
        author = f"{author} ({message.sender_info.display_name})"
    lines = [terminal_safe(f"{_when(message.created_at)}  {author}")]
    lines += [f"    {line}" for line in _text_of(message).splitlines() or [""]]
    return lines


def event_lines(event: Event) -> list[str]:
    """An event as ``evt_…  conv_…  time`` plus its message text indented."""
    lines = [terminal_safe(f"{event.event_id}  {event.conversation_id}  {_when(event.created_at)}")]
    message = event.message
    if message is not None:
        lines += [f"    {line}" for line in _text_of(message).splitlines()]
    return lines


def failure(response: Response) -> str | None:
    """The error line for a FAILED answer (``None`` for any other status)."""
    if response.status != ResponseStatus.FAILED:
        return None
    error = response.error
    detail = ": ".join(part for part in (error.code, error.message) if part) if error else ""
    return terminal_safe(
        f"the assistant could not answer ({response.response_id})"
        + (f": {detail}" if detail else "")
    )


async def read_line(prompt: str) -> str | None:
    """``input()`` without blocking the event loop; ``None`` at end of input.

    A daemon thread (not the loop's executor, whose shutdown waits for its threads) reads, so
    Ctrl-C at the prompt ends the program at once instead of waiting for a line.
    """
    loop = asyncio.get_running_loop()
    line: asyncio.Future[str | None] = loop.create_future()

    def deliver(value: str | None) -> None:
        if not line.done():
            line.set_result(value)

    def read() -> None:
        try:
            value: str | None = input(prompt)
        except (EOFError, OSError, ValueError):  # end of input, or stdin closed
            value = None
        # RuntimeError: the loop is gone, the program is already leaving.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(deliver, value)

    threading.Thread(target=read, name=STDIN_READER, daemon=True).start()
    return await line


# --- chat views ------------------------------------------------------------------------------


class ChatView(Protocol):
    """What the chat command tells a view."""

    def on_event(self, event: StreamEvent) -> None:
        """One stream event, in order."""

    def finish(self, response: Response) -> None:
        """The terminal response (after the last event)."""


class _Outputs:
    """Stream outputs upserted by id (deltas are snapshots), in first-seen order."""

    def __init__(self) -> None:
        self.reasoning: dict[str, str] = {}
        self.answers: dict[str, str] = {}

    def apply(self, event: StreamEvent) -> str | None:
        """Record a delta; return the id of the output it updated (None if nothing changed)."""
        if not isinstance(event, ResponseOutputDelta):
            return None
        output = event.output
        if isinstance(output, ReasoningOutput):
            self.reasoning[output.id] = output.reasoning_message.text
            return output.id
        if isinstance(output, MessageOutput):
            self.answers[output.id] = output.message.text
            return output.id
        return None

    @property
    def answer(self) -> str:
        return "\n\n".join(text for text in self.answers.values() if text)


class PlainChatView:
    """Pipes and files: reasoning steps as ``[thinking] …`` lines, then the answer once."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._outputs = _Outputs()
        self._printed: set[str] = set()
        self._pending: str | None = None

    def on_event(self, event: StreamEvent) -> None:
        updated = self._outputs.apply(event)
        # A reasoning step is final once another output arrives; printing it then (and not at
        # its first snapshot) keeps a growing step from appearing twice.
        if updated is not None and updated != self._pending:
            self._flush_reasoning()
            self._pending = updated if updated in self._outputs.reasoning else None

    def _flush_reasoning(self) -> None:
        for output_id, text in self._outputs.reasoning.items():
            if output_id not in self._printed and text:
                self._printed.add(output_id)
                self._out.write(f"[thinking] {terminal_safe(text)}\n")
        self._out.flush()

    def finish(self, response: Response) -> None:
        for message in response.reasoning:
            self._outputs.reasoning.setdefault(message.reasoning_message_id, message.text)
        self._flush_reasoning()
        lines = ([""] if self._printed and response.text else []) + (
            [display_text(response.text)] if response.text else []
        )
        lines += footer_lines(response.messages)
        self._out.write("".join(f"{line}\n" for line in lines))
        self._out.flush()


class LiveChatView:
    """A TTY: the reasoning trail and the growing answer, re-rendered in place."""

    def __init__(self, out: TextIO, color: bool | None = None) -> None:
        self._out = out
        self._color = (not os.environ.get("NO_COLOR")) if color is None else color
        encoding = (getattr(out, "encoding", None) or "").lower().replace("-", "")
        self._mark = "\u203a " if encoding == "utf8" else "> "
        self._outputs = _Outputs()
        self._shown = ""  # the block on screen, without styles: what the cursor math measures

    def _style(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self._color and text else text

    def _steps(self) -> tuple[str, str]:
        """The reasoning trail as (plain, styled) lines."""
        steps = [
            self._mark + terminal_safe(text) for text in self._outputs.reasoning.values() if text
        ]
        return "\n".join(steps), "\n".join(self._style("2", step) for step in steps)

    def _rows(self, text: str) -> int:
        width = max(shutil.get_terminal_size().columns, 1)
        return sum(max(1, math.ceil(len(line) / width)) for line in text.split("\n"))

    def _draw(self, answer: str) -> None:
        """Bring the block (reasoning lines, a blank line, the answer) up to date on screen."""
        plain_steps, styled_steps = self._steps()
        tail = display_text(answer)
        if tail and plain_steps:
            tail = "\n\n" + tail
        plain, styled = plain_steps + tail, styled_steps + tail
        shown = self._shown
        if plain == shown:
            return
        if shown and plain.startswith(shown) and len(shown) >= len(plain_steps):
            # The usual case: the answer grew at its end and nothing above it changed, so the
            # new characters are unstyled answer text that can simply be appended.
            self._out.write(plain[len(shown) :])
        elif shown and self._rows(shown) < shutil.get_terminal_size().lines:
            up = self._rows(shown) - 1
            self._out.write("\r" + (f"\x1b[{up}A" if up else "") + "\x1b[J" + styled)
        else:
            # Nothing drawn yet, or too tall to reach: start a fresh block below.
            self._out.write(("\n" if shown else "") + styled)
        self._shown = plain
        self._out.flush()

    def on_event(self, event: StreamEvent) -> None:
        if self._outputs.apply(event) is not None:
            self._draw(self._outputs.answer)

    def finish(self, response: Response) -> None:
        for message in response.reasoning:
            self._outputs.reasoning.setdefault(message.reasoning_message_id, message.text)
        self._draw(response.text)
        lines = footer_lines(response.messages, bold=lambda text: self._style("1", text))
        self._out.write(("\n" if self._shown else "") + "".join(f"{line}\n" for line in lines))
        self._out.flush()


class JsonChatView:
    """``--json``: one JSON object per stream event; the last one is always terminal."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._ended = False

    def on_event(self, event: StreamEvent) -> None:
        self._ended = isinstance(event, TERMINAL_EVENTS)
        self._out.write(json.dumps(event_json(event), ensure_ascii=False) + "\n")
        self._out.flush()

    def finish(self, response: Response) -> None:
        """The terminal event, unless the stream yielded one (a recovery synthesizes it):
        after a stream that turned undecodable, ``chat`` polled ``response`` instead, and the
        lines so far (a partial answer) must not stand as the last word."""
        if not self._ended:
            self.on_event(recovered_event(response))
