"""Worker pool: answer a queue of questions with bounded concurrency through one shared client.

::

    python examples/worker_pool.py --simulate                 # 1,000 generated questions
    python examples/worker_pool.py --workers 20 < questions.txt

One ``AsyncMoveworks`` serves every worker: they share its connection pool, its token (one
refresh for all of them) and its rate governor (a 429 pauses all workers together instead of
each one retrying on its own). Concurrency is bounded by the number of workers, not by a
semaphore around each call, so a slow answer holds one worker and nothing else.

Each question gets its own conversation (independent questions should not share context) and
is answered with create + wait; a failed question is recorded and the others go on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Iterable

import anyio
import attrs
from _connect import connect, run  # examples/_connect.py: --simulate or the environment

import moveworks_async as mw


@attrs.define
class PoolResult:
    """Answers in question order (``None`` where it failed), failures, and the peak load."""

    answers: list[mw.Response | None]
    failures: dict[int, str] = attrs.Factory(dict)
    max_in_flight: int = 0


async def answer_all(
    client: mw.AsyncMoveworks, questions: Iterable[str], workers: int = 50
) -> PoolResult:
    """Answer every question, at most ``workers`` at a time."""
    queue: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
    for item in enumerate(questions):
        queue.put_nowait(item)
    result = PoolResult(answers=[None] * queue.qsize())
    in_flight = 0

    async def worker() -> None:
        nonlocal in_flight
        while not queue.empty():
            index, question = queue.get_nowait()
            in_flight += 1
            result.max_in_flight = max(result.max_in_flight, in_flight)
            try:
                conversation = await client.conversations.create()
                created = await client.responses.create(conversation.conversation_id, text=question)
                result.answers[index] = await client.responses.wait(
                    conversation.conversation_id, created.response_id
                )
            except mw.MoveworksError as exc:  # one bad question must not stop the pool
                result.failures[index] = str(exc)
            finally:
                in_flight -= 1

    async with anyio.create_task_group() as tasks:
        for _ in range(workers):
            tasks.start_soon(worker)
    return result


async def main(argv: list[str] | None = None) -> int:
    """Answer questions from stdin (or 1,000 generated ones with --simulate); print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--simulate", action="store_true", help="use an in-process fake server")
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--count", type=int, default=1000, help="generated questions (simulate)")
    args = parser.parse_args(argv)
    if args.simulate:
        questions = [f"Question {n}: how do I reset my VPN token?" for n in range(args.count)]
    else:
        questions = [line.strip() for line in sys.stdin if line.strip()]
    started = time.perf_counter()
    async with connect(args.simulate) as client:
        result = await answer_all(client, questions, workers=args.workers)
    elapsed = time.perf_counter() - started
    answered = sum(answer is not None for answer in result.answers)
    print(
        f"answered {answered}/{len(questions)} questions in {elapsed:.1f} s with "
        f"{args.workers} workers (peak {result.max_in_flight} in flight)"
    )
    for index, reason in sorted(result.failures.items()):
        print(f"  question {index + 1} failed: {reason}", file=sys.stderr)
    return 0 if not result.failures else 1


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(run(main()))
