"""Chat relay: a one-page chat UI whose answers stream to every open browser tab over SSE.

Run it, then open http://127.0.0.1:8080 in one or more tabs::

    python examples/relay.py --simulate          # against an in-process fake server
    python examples/relay.py                     # against the API configured in the environment

Every tab keeps one ``EventSource`` on ``GET /events``. A question (``POST /ask``) opens one
upstream ``responses.stream`` and its events are broadcast to all tabs, so N viewers cost one
upstream connection, not N. Answer snapshots are cumulative, so each relayed ``answer`` frame
carries the whole text so far and a tab that joins late (or reconnects) catches up from the
latest frame alone. When the last tab disconnects, the upstream streams are cancelled: leaving
``async with client.responses.stream(...)`` closes the upstream connection at once.

Slow-consumer policy: each tab has a bounded queue; a tab that falls ``MAX_QUEUED`` frames
behind is disconnected (its ``EventSource`` reconnects and catches up), so one stalled browser
never slows the others or grows memory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
from typing import Any, Final

from _connect import connect, run  # examples/_connect.py: --simulate or the environment
from aiohttp import web

import moveworks_async as mw

MAX_QUEUED: Final = 256
MAX_QUESTION: Final = 4000
HEARTBEAT: Final = 15.0  # seconds; a comment frame also tells us when a quiet tab has gone

Frame = bytes | None  # None tells a viewer's handler to end its response


def sse(kind: str, data: dict[str, Any]) -> bytes:
    """One SSE frame; JSON never contains a raw newline, so one ``data:`` line is enough."""
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()


class Room:
    """The connected viewers and the questions being answered, shared by every request."""

    def __init__(self, client: mw.AsyncMoveworks) -> None:
        self.client = client
        self.viewers: set[asyncio.Queue[Frame]] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.live: dict[str, dict[str, bytes]] = {}  # question id -> latest frame per kind
        self._ids = itertools.count(1)
        self._conversation: str | None = None
        self._lock = asyncio.Lock()

    # -- viewers ---------------------------------------------------------------------------

    def join(self) -> asyncio.Queue[Frame]:
        """A new viewer, first sent the latest state of the answers still in flight."""
        queue: asyncio.Queue[Frame] = asyncio.Queue(MAX_QUEUED)
        for frames in self.live.values():
            for frame in frames.values():
                queue.put_nowait(frame)
        self.viewers.add(queue)
        return queue

    def leave(self, queue: asyncio.Queue[Frame]) -> None:
        """A viewer is gone; with nobody left, stop the upstream streams nobody would see."""
        self.viewers.discard(queue)
        if not self.viewers:
            for task in self.tasks:
                task.cancel()

    def publish(self, question_id: str, kind: str, data: dict[str, Any], key: str = "") -> None:
        """Send a frame to every viewer and remember it for viewers who join later."""
        frame = sse(kind, {"id": question_id, **data})
        self.live.setdefault(question_id, {})[kind + key] = frame
        for queue in list(self.viewers):
            try:
                queue.put_nowait(frame)
            except asyncio.QueueFull:
                self._drop(queue)

    def _drop(self, queue: asyncio.Queue[Frame]) -> None:
        # Too slow: empty its queue and tell its handler to hang up; it reconnects and catches up.
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)
        self.viewers.discard(queue)

    def close(self) -> None:
        """Server shutdown: end every viewer's response and every upstream stream."""
        for queue in list(self.viewers):
            self._drop(queue)
        for task in self.tasks:
            task.cancel()

    # -- questions -------------------------------------------------------------------------

    def ask(self, text: str) -> str:
        """Start answering ``text`` in the background; return the question id."""
        question_id = f"q{next(self._ids)}"
        self.publish(question_id, "question", {"text": text})
        task = asyncio.create_task(self._answer(question_id, text))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return question_id

    async def _conversation_id(self) -> str:
        # One conversation for the room, created once even if two questions race for it.
        async with self._lock:
            if self._conversation is None:
                conversation = await self.client.conversations.create(title="Chat relay")
                self._conversation = conversation.conversation_id
            return self._conversation

    async def _answer(self, question_id: str, text: str) -> None:
        try:
            conversation_id = await self._conversation_id()
            async with self.client.responses.stream(conversation_id, text=text) as stream:
                answers: dict[str, str] = {}
                async for event in stream:
                    if not self.viewers:
                        return  # leaving the block closes the upstream connection
                    if not isinstance(event, mw.ResponseOutputDelta):
                        continue
                    output = event.output
                    if isinstance(output, mw.ReasoningOutput):
                        step = {"step": output.id, "text": output.reasoning_message.text}
                        self.publish(question_id, "reasoning", step, key=output.id)
                    elif isinstance(output, mw.MessageOutput):
                        answers[output.id] = output.message.text
                        whole = "\n\n".join(answers.values())
                        self.publish(question_id, "answer", {"text": whole})
                final = await stream.final_response()
            self.publish(question_id, "done", summary(final))
        except mw.MoveworksError as exc:
            self.publish(question_id, "failed", {"message": str(exc)})
        finally:
            self.live.pop(question_id, None)


def summary(response: mw.Response) -> dict[str, Any]:
    """The final answer, its unique sources and its link actions, for the ``done`` frame."""
    sources: dict[tuple[str, str], None] = {}
    links: list[dict[str, str]] = []
    for message in response.messages:
        for citation in message.citations:
            title = citation.display.title if citation.display else None
            sources[(title.text if title else "", citation.url or "")] = None
        links += [
            {"label": action.label, "url": action.url}
            for action in message.actions
            if isinstance(action, mw.UrlAction)
        ]
    return {
        "status": response.status.value,
        "text": response.text,
        "sources": [{"title": title, "url": url} for title, url in sources],
        "links": links,
    }


ROOM: Final = web.AppKey("room", Room)


async def page(request: web.Request) -> web.Response:
    """``GET /``: the chat page."""
    return web.Response(text=PAGE, content_type="text/html")


async def ask(request: web.Request) -> web.Response:
    """``POST /ask`` with ``{"text": ...}``: start an answer; 202 with the question id."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_QUESTION:
        raise web.HTTPBadRequest(text=f"send {{'text': '...'}}, 1-{MAX_QUESTION} characters")
    return web.json_response({"id": request.app[ROOM].ask(text.strip())}, status=202)


async def events(request: web.Request) -> web.StreamResponse:
    """``GET /events``: this viewer's SSE feed of every question and answer."""
    room = request.app[ROOM]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # no proxy buffering: frames must leave at once
        }
    )
    queue = room.join()
    try:
        await response.prepare(request)
        await response.write(b"retry: 1000\n\n")
        while True:
            try:
                frame = await asyncio.wait_for(queue.get(), HEARTBEAT)
            except TimeoutError:
                frame = b": heartbeat\n\n"
            if frame is None:
                break
            await response.write(frame)
    except ConnectionResetError:
        pass  # the tab went away; a write found out
    finally:
        room.leave(queue)
    return response


def make_app(client: mw.AsyncMoveworks) -> web.Application:
    """The relay as an aiohttp application around a caller-owned client."""
    app = web.Application()
    room = app[ROOM] = Room(client)

    async def on_shutdown(app: web.Application) -> None:
        room.close()

    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/", page)
    app.router.add_post("/ask", ask)
    app.router.add_get("/events", events)
    return app


async def main(argv: list[str] | None = None) -> None:
    """Serve the relay until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--simulate", action="store_true", help="use an in-process fake server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    async with connect(args.simulate, stream_delay=0.1) as client:
        # handler_cancellation: a tab that hangs up cancels its handler at once, so the
        # upstream stream is closed without waiting for the next frame or heartbeat.
        runner = web.AppRunner(make_app(client), handler_cancellation=True)
        await runner.setup()
        try:
            await web.TCPSite(runner, args.host, args.port).start()
            print(f"relay on http://{args.host}:{args.port} (Ctrl-C to stop)")
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()


PAGE: Final = r"""<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Moveworks chat relay</title>
<style>
  body { font: 16px/1.45 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto;
         padding: 0 1rem; }
  #log { list-style: none; padding: 0; }
  #log > li { border-bottom: 1px solid #ddd; padding: .75rem 0; }
  .question { font-weight: 600; margin: 0 0 .25rem; }
  .steps { color: #777; font-size: .9em; margin: 0; padding-left: 1.2rem; }
  .answer { white-space: pre-wrap; margin: .5rem 0; }
  .failed { color: #b00020; }
  form { display: flex; gap: .5rem; position: sticky; bottom: 0; background: #fff;
         padding: .5rem 0; }
  input { flex: 1; font: inherit; padding: .4rem .6rem; }
  #status { color: #777; font-size: .85em; }
</style>
<h1>Ask the assistant</h1>
<p id="status">connecting…</p>
<ol id="log"></ol>
<form id="ask">
  <input id="question" name="text" autocomplete="off" required
         placeholder="Who does John Doe report to?">
  <button>Ask</button>
</form>
<script>
  // Everything from the server is set with textContent, never as HTML.
  const log = document.getElementById("log"), status = document.getElementById("status");
  const entries = new Map();
  function entry(id) {
    let li = entries.get(id);
    if (!li) {
      li = document.createElement("li");
      li.dataset.id = id;
      const parts = [["p", "question"], ["ul", "steps"], ["div", "answer"], ["ul", "sources"]];
      for (const [tag, cls] of parts) {
        const el = document.createElement(tag); el.className = cls; li.append(el);
      }
      log.append(li); entries.set(id, li);
    }
    return li;
  }
  function on(kind, render) {
    feed.addEventListener(kind, (e) => { const d = JSON.parse(e.data); render(entry(d.id), d); });
  }
  function item(list, text, href) {
    const li = document.createElement("li");
    if (/^https?:\/\//.test(href)) {  // no javascript: links from server data
      const a = document.createElement("a");
      a.href = href; a.textContent = text; li.append(a);
    } else {
      li.textContent = text;
    }
    list.append(li);
  }
  const feed = new EventSource("/events");
  feed.onopen = () => { status.textContent = "connected"; };
  feed.onerror = () => { status.textContent = "reconnecting…"; };
  on("question", (li, d) => { li.querySelector(".question").textContent = d.text; });
  on("reasoning", (li, d) => {
    const steps = li.querySelector(".steps");
    let step = steps.querySelector(`[data-step="${CSS.escape(d.step)}"]`);
    if (!step) {
      step = document.createElement("li"); step.dataset.step = d.step; steps.append(step);
    }
    step.textContent = d.text;
  });
  on("answer", (li, d) => { li.querySelector(".answer").textContent = d.text; });
  on("done", (li, d) => {
    li.querySelector(".answer").textContent = d.text;
    const sources = li.querySelector(".sources");
    sources.replaceChildren();
    for (const s of d.sources) item(sources, s.title || s.url, s.url);
    for (const l of d.links) item(sources, l.label, l.url);
    li.dataset.status = d.status;
  });
  on("failed", (li, d) => {
    const answer = li.querySelector(".answer");
    answer.textContent = d.message; answer.classList.add("failed"); li.dataset.status = "FAILED";
  });
  document.getElementById("ask").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = document.getElementById("question"), text = input.value.trim();
    if (!text) return;
    input.value = "";
    const reply = await fetch("/ask", {
      method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({text}),
    });
    if (!reply.ok) status.textContent = await reply.text();
  });
</script>
</html>
"""


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        run(main())
