"""A minimal async bot: read questions, stream each answer, and rate it as helpful.

::

    printf 'How do I reset my password?\\nWhat is the PTO policy?\\n' | \\
        python examples/bot.py --simulate

The bot keeps one conversation, so follow-up questions have context. Each answer is streamed
(``stream.text_deltas()`` yields only the text added since the previous snapshot, which is
what a chat platform's "edit message" or a terminal needs), then rated through
``client.feedback.submit`` with the message's own ``helpful`` callback id: the rating is the
callback id you send back, not a value you choose. A real bot would ask its user; this one
rates every answer that came with a feedback option.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import TextIO

import anyio
from _connect import connect, run  # examples/_connect.py: --simulate or the environment

import moveworks_async as mw


async def stdin_lines() -> AsyncIterator[str]:
    """Lines of stdin without blocking the event loop (anyio reads them in a worker thread)."""
    async for line in anyio.wrap_file(sys.stdin):
        yield line


async def _each(questions: Iterable[str] | AsyncIterable[str]) -> AsyncIterator[str]:
    if isinstance(questions, AsyncIterable):
        async for question in questions:
            yield question
    else:
        for question in questions:
            yield question


async def run_bot(
    client: mw.AsyncMoveworks,
    questions: Iterable[str] | AsyncIterable[str],
    out: TextIO | None = None,
) -> list[mw.Response]:
    """Answer each question in one conversation and submit helpful feedback for each answer."""
    out = out or sys.stdout  # looked up now, not at import: tests and callers may swap it
    conversation = await client.conversations.create(title="Support bot")
    answered: list[mw.Response] = []
    async for line in _each(questions):
        question = line.strip()
        if not question:
            continue
        out.write(f"> {question}\n")
        async with client.responses.stream(conversation.conversation_id, text=question) as stream:
            async for piece in stream.text_deltas():
                out.write(piece)
                out.flush()
            response = await stream.final_response()
        out.write("\n")
        for message in response.messages:
            if message.feedback is not None and message.feedback.helpful is not None:
                await client.feedback.submit(
                    conversation.conversation_id,
                    response.response_id,
                    message.message_id,
                    callback_id=message.feedback.helpful.callback_id,
                    additional_feedback="Rated by the example bot.",
                )
                out.write("(rated helpful)\n")
        answered.append(response)
    return answered


async def main(argv: list[str] | None = None) -> int:
    """Answer the questions on stdin."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--simulate", action="store_true", help="use an in-process fake server")
    args = parser.parse_args(argv)
    async with connect(args.simulate) as client:
        await run_bot(client, stdin_lines())
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(run(main()))
