"""The ``moveworks-async`` command line: commands, output formats, configuration, exit codes."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
from conftest import require

import moveworks_async as mw
from moveworks_async._cli import ENV, main
from moveworks_async._cli_render import LiveChatView, display_text, mask_token
from moveworks_async._events import ResponseOutputDelta
from moveworks_async.testing import FakeMoveworks

T = TypeVar("T")
ORG_QUESTION = "Who does John Doe report to?"
CANARY = "sk-canary-8f3a61-DO-NOT-PRINT"


class ThreadedFake:
    """A FakeMoveworks served by an event loop in a background thread.

    ``main()`` runs its own event loop, so tests that need a server the CLI reaches through
    ``MOVEWORKS_BASE_URL`` run the server beside it.
    """

    def __init__(self, **options: Any) -> None:
        self.server = FakeMoveworks(stream_delay=0, polls_to_complete=1, **options)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop (server state is only touched from there)."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def __enter__(self) -> FakeMoveworks:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(10)
        return self.server

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No MOVEWORKS_* variable of the developer's shell leaks into a test."""
    for name in ENV.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


@pytest.fixture
def fake() -> Iterator[ThreadedFake]:
    """A threaded fake server, with the environment pointing the CLI at it."""
    threaded = ThreadedFake()
    with threaded as server:
        env = {
            "MOVEWORKS_BASE_URL": server.url,
            "MOVEWORKS_TOKEN": "test-token",
            "MOVEWORKS_ASSISTANT_NAME": "acme-capi",
        }
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            yield threaded


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``main(argv)`` and its captured (exit status, stdout, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return status, out, err


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` parsed as JSON."""
    return [json.loads(line) for line in text.splitlines()]


# --- chat --------------------------------------------------------------------------------------


def test_chat_simulate_prints_reasoning_answer_sources_and_actions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Not a TTY: reasoning lines, then the answer once, deduplicated sources and the actions."""
    status, out, err = run(capsys, "chat", "--simulate", ORG_QUESTION)
    assert status == 0
    assert err == ""
    assert "\x1b" not in out  # no control codes when stdout is not a terminal
    lines = out.splitlines()
    assert lines[:2] == [
        "[thinking] Looking up John Doe in the employee directory",
        "[thinking] Reading the Platform Engineering org chart",
    ]
    assert out.count("John Doe reports to **Jane Smith**") == 1
    # Slack-style links are made readable.
    assert "Platform org chart (https://people.example.com/org/platform)" in out
    sources = lines[lines.index("Sources") + 1 : lines.index("Actions") - 1]
    assert sources == [
        "  [1] Employee directory: John Doe - https://people.example.com/u/jdoe",
        "  [2] Platform org chart - https://people.example.com/org/platform",
    ]
    assert lines[lines.index("Actions") + 1 :] == [
        "  - Open org chart: https://people.example.com/org/platform",
        "  - Message Jane Smith (button)",
    ]


def test_chat_json_prints_one_event_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    """``--json``: every stream event as a JSON object, created first and completed last."""
    status, out, _ = run(capsys, "--json", "chat", "--simulate", "How do I connect to the VPN?")
    assert status == 0
    events = json_lines(out)
    kinds = [e["event_type"] for e in events]
    assert kinds[0] == "RESPONSE_CREATED"
    assert kinds[-1] == "RESPONSE_COMPLETED"
    assert "RESPONSE_OUTPUT_DELTA" in kinds
    assert [e["sequence_number"] for e in events] == list(range(1, len(events) + 1))
    final = events[-1]["response"]
    assert final["status"] == "COMPLETED"
    message = final["outputs"][-1]["message"]
    assert "GlobalProtect" in message["content"]["commonmark_text"]["text"]


@pytest.mark.parametrize("version", ["v1beta1", "assistant-v1", "v1"])
def test_chat_simulate_works_with_every_generation(
    capsys: pytest.CaptureFixture[str], version: str
) -> None:
    """``--simulate`` serves each generation; only v1beta1 has no actions."""
    status, out, _ = run(capsys, "chat", "--simulate", "--api-version", version, "PTO policy?")
    assert status == 0
    assert "20 days of PTO" in out
    assert ("Actions" in out) is (version != "v1beta1")


def test_chat_interactive_keeps_one_conversation(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Piped stdin: one answer per line in one conversation; /new starts another; /quit ends."""
    lines = f"{ORG_QUESTION}\n\n   \nWhat is the PTO policy?\n/new\nvpn\n/quit\nnever asked\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(lines))
    status, out, _ = run(capsys, "chat", "--simulate", "--json")
    assert status == 0
    created = [e["response"] for e in json_lines(out) if e["event_type"] == "RESPONSE_CREATED"]
    first, second, third = (response["conversation_id"] for response in created)
    assert first == second
    assert third != first


def test_chat_interactive_plain_answers_until_end_of_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without /quit, end of input ends the session; each answer is printed in full."""
    monkeypatch.setattr(sys, "stdin", io.StringIO("reset my password\nvpn\n"))
    status, out, _ = run(capsys, "chat", "--simulate")
    assert status == 0
    assert "You can reset your password yourself" in out
    assert "To connect to the VPN" in out
    assert "you>" not in out  # no prompt when stdin is not a terminal


def test_chat_continues_a_conversation(
    fake: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--conversation ID`` sends the turn into that conversation instead of a new one."""
    _, out, _ = run(capsys, "chat", "--json", "hello")
    conversation_id = json_lines(out)[0]["response"]["conversation_id"]
    status, out, _ = run(capsys, "chat", "--json", "--conversation", conversation_id, "again")
    assert status == 0
    assert json_lines(out)[0]["response"]["conversation_id"] == conversation_id
    assert fake.server.stats.creates_per_conversation == {conversation_id: 2}


def test_chat_unknown_conversation_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    """An API error is one ``error:`` line with status, code and request id; exit status 1."""
    status, out, err = run(capsys, "chat", "--simulate", "--conversation", "conv_missing", "hi")
    assert status == 1
    assert out == ""
    assert len(err.splitlines()) == 1
    assert re.fullmatch(r"error: 404 NOT_FOUND: .+ \(request id [\w-]+\)\n", err)


def test_failed_answer_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """An answer that ends FAILED is reported on stderr with its error code; exit status 1."""
    from moveworks_async import _cli_simulate
    from moveworks_async.testing import Answer

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_cli_simulate, "demo_answer", lambda q: Answer(text="", fail=True))
        status, _, err = run(capsys, "ask", "--simulate", "anything")
    assert status == 1
    assert re.fullmatch(
        r"error: the assistant could not answer \(resp_\w+\): INTERNAL_ERROR: .+\n", err
    )


# --- ask, conversations, messages, events ------------------------------------------------------


def test_ask_prints_the_answer_without_streaming(
    fake: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ask`` creates and polls (no stream request) and prints the answer."""
    status, out, _ = run(capsys, "ask", "What", "is", "up?")
    assert status == 0
    assert "\u201cWhat is up?\u201d" in out
    paths = [r.path for r in fake.server.requests]
    assert not any(p.endswith("/responses/stream") for p in paths)
    assert sum(p.endswith("/responses") for p in paths) == 1


def test_ask_json_is_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    """``ask --json`` prints the terminal Response as one JSON document."""
    status, out, _ = run(capsys, "ask", "--simulate", "--json", "PTO?")
    assert status == 0
    response = json.loads(out)
    assert response["status"] == "COMPLETED"
    assert response["response_id"].startswith("resp_")
    assert any("20 days of PTO" in json.dumps(o) for o in response["outputs"])


def test_conversations_list_honours_limit_and_archived(
    fake: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    """``conversations list``: newest first, at most --limit, archived ones only with --archived."""
    store = fake.server.store

    def seed() -> None:
        for title in ("first", "second", "third"):
            store.create_conversation(title)
        store.create_conversation("old").archived = True

    fake.call(seed)
    status, out, _ = run(capsys, "conversations", "list", "--json", "--limit", "2")
    assert status == 0
    assert [c["title"] for c in json.loads(out)["conversations"]] == ["third", "second"]
    status, out, _ = run(capsys, "conversations", "list", "--archived")
    assert status == 0
    assert re.fullmatch(r"conv_\w+  \d{4}-\d\d-\d\d \d\d:\d\d  \[archived\] old\n", out)


def test_messages_prints_history_oldest_first(
    fake: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    """``messages ID`` shows the user's turn before the assistant's; --json has the same order."""
    _, out, _ = run(capsys, "chat", "--json", "where is my laptop?")
    conversation_id = json_lines(out)[0]["response"]["conversation_id"]
    status, out, _ = run(capsys, "messages", conversation_id)
    assert status == 0
    assert out.index("USER\n    where is my laptop?") < out.index("ASSISTANT\n")
    status, out, _ = run(capsys, "messages", "--json", conversation_id)
    assert [m["actor"] for m in json.loads(out)["messages"]] == ["USER", "ASSISTANT"]


def test_events_watch_once_resumes_from_its_checkpoint(
    fake: ThreadedFake, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``events watch --once --checkpoint F`` prints only events after the saved one."""
    checkpoint = tmp_path / "events.checkpoint"
    first = fake.call(lambda: fake.server.push_event(None, "Laptop approved"))
    second = fake.call(lambda: fake.server.push_event(None, "Ticket updated"))
    status, out, _ = run(
        capsys, "events", "watch", "--once", "--json", "--checkpoint", str(checkpoint)
    )
    assert status == 0
    assert [e["event_id"] for e in json_lines(out)] == [first, second]
    assert checkpoint.read_text().strip() == second
    third = fake.call(lambda: fake.server.push_event(None, "Password expires soon"))
    status, out, _ = run(capsys, "events", "watch", "--once", "--checkpoint", str(checkpoint))
    assert status == 0
    assert out.splitlines()[0].startswith(third)
    assert out.splitlines()[1] == "    Password expires soon"
    assert checkpoint.read_text().strip() == third
    status, out, _ = run(capsys, "events", "watch", "--once", "--json", "--since", first)
    assert [e["event_id"] for e in json_lines(out)] == [second, third]


def test_events_watch_simulate_shows_the_demo_notification(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The simulated server has one proactive notification to catch up on."""
    status, out, _ = run(capsys, "events", "watch", "--simulate", "--once")
    assert status == 0
    assert "RITM0012345 was approved" in out


def test_events_watch_unwritable_checkpoint_is_a_usage_error_before_any_event(
    fake: ThreadedFake, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A checkpoint that cannot be written is found before the first event is printed (found
    at the first save, every position printed so far was lost): exit 2, naming the flag."""
    fake.call(lambda: fake.server.push_event(None, "hello"))
    for target in (tmp_path / "missing" / "checkpoint", tmp_path):
        status, out, err = run(capsys, "events", "watch", "--once", "--checkpoint", str(target))
        assert status == 2
        assert out == ""
        assert err.startswith(f"error: --checkpoint {target} ")
        assert len(err.splitlines()) == 1
    assert not list(tmp_path.iterdir())  # the writability probe left nothing behind


def test_a_checkpoint_that_cannot_be_saved_says_where_to_resume(tmp_path: Path) -> None:
    from moveworks_async._cli import _save_checkpoint

    with pytest.raises(OSError, match=r"--checkpoint .* resume with --since evt_42$"):
        _save_checkpoint(tmp_path / "gone" / "checkpoint", "evt_42")


# --- token and secrets -------------------------------------------------------------------------


def test_token_prints_a_masked_client_credentials_token(
    fake: ThreadedFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``token`` fetches one token with the client credentials and prints only its ends."""
    monkeypatch.delenv("MOVEWORKS_TOKEN")
    monkeypatch.setenv("MOVEWORKS_CLIENT_ID", "test-client")
    monkeypatch.setenv("MOVEWORKS_CLIENT_SECRET", "test-secret")
    status, out, _ = run(capsys, "token")
    assert status == 0
    assert re.fullmatch(r"mwt_\u2026\w{4}\n", out)
    assert fake.server.stats.token_requests == 1
    status, out, _ = run(capsys, "token", "--json")
    assert json.loads(out)["source"] == "client_credentials"
    assert "test-secret" not in out


def test_token_is_never_printed(fake: ThreadedFake, capsys: pytest.CaptureFixture[str]) -> None:
    """A rejected token gives a 401 line that does not contain the token, even with --verbose."""
    status, out, err = run(capsys, "--verbose", "--token", CANARY, "ask", "hi")
    assert status == 1
    assert err.splitlines()[-1].startswith("error: 401 UNAUTHORIZED: ")
    assert CANARY not in out + err
    status, out, _ = run(capsys, "--token", CANARY, "token")
    assert status == 0
    assert out == "\u2026RINT\n"  # a static token is masked too
    assert CANARY not in out


def test_mask_token_keeps_only_a_short_prefix_and_the_last_four() -> None:
    """Masking shows a type prefix like ``mwt_`` and at most four characters of the secret."""
    assert mask_token("mwt_fnl7yb8Qz0pLk3") == "mwt_\u2026pLk3"
    assert mask_token("abcdefghijklmnopqrstuvwxyz") == "\u2026wxyz"
    assert mask_token("short") == "\u2026"
    assert mask_token("verylongprefix_0123456789abcdef") == "\u2026cdef"


# --- configuration and usage -------------------------------------------------------------------


def test_environment_configures_the_client(
    fake: ThreadedFake, capsys: pytest.CaptureFixture[str]
) -> None:
    """MOVEWORKS_* variables choose host, bot, token and generation (default /rest/v1)."""
    status, _, _ = run(capsys, "ask", "hi")
    assert status == 0
    record = fake.server.requests[-1]
    assert record.path.startswith("/rest/v1/")
    assert record.headers["Assistant-Name"] == "acme-capi"


def test_flags_override_the_environment(
    fake: ThreadedFake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flags win over variables, and may come after the command name."""
    monkeypatch.setenv("MOVEWORKS_TOKEN", "wrong-token")
    monkeypatch.setenv("MOVEWORKS_API_VERSION", "v1")
    status, _, _ = run(capsys, "ask", "hi", "--token", "test-token", "--api-version", "v1beta1")
    assert status == 0
    assert fake.server.requests[-1].path.startswith("/rest/v1beta1/")


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({}, "MOVEWORKS_TOKEN"),
        ({"MOVEWORKS_TOKEN": "t"}, "MOVEWORKS_ASSISTANT_NAME"),
        ({"MOVEWORKS_CLIENT_ID": "id", "MOVEWORKS_ASSISTANT_NAME": "a"}, "MOVEWORKS_CLIENT_SECRET"),
        (
            {
                "MOVEWORKS_TOKEN": "t",
                "MOVEWORKS_ASSISTANT_NAME": "a",
                "MOVEWORKS_API_VERSION": "v9",
            },
            "MOVEWORKS_API_VERSION must be one of",
        ),
        (
            {
                "MOVEWORKS_TOKEN": "t",
                "MOVEWORKS_ASSISTANT_NAME": "a",
                "MOVEWORKS_BASE_URL": "ftp://x",
            },
            "MOVEWORKS_BASE_URL must be",
        ),
    ],
    ids=["no-credentials", "no-assistant", "id-without-secret", "bad-version", "bad-url"],
)
def test_configuration_errors_exit_2_before_any_request(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    needle: str,
) -> None:
    """Missing or invalid configuration is one ``error:`` line naming the fix; exit status 2."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    status, out, err = run(capsys, "chat", "hello")
    assert status == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("error: ")
    assert needle in err


@pytest.mark.parametrize(
    "argv",
    [[], ["conversations"], ["events"], ["ask"], ["messages"], ["bogus"], ["chat", "--limit", "3"]],
    ids=["nothing", "conversations", "events", "ask", "messages", "unknown", "bad-flag"],
)
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    """A command line argparse cannot accept is one ``error:`` line pointing at --help, exit 2;
    no command at all prints the help."""
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    if argv:
        assert len(err.splitlines()) == 1
        assert err.startswith("error: ")
        assert "--help" in err
    else:
        assert "usage:" in err


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` exits 0 and names the commands and the environment variables."""
    status, out, _ = run(capsys, "--help")
    assert status == 0
    for word in ("chat", "ask", "conversations", "messages", "events", "token", *ENV.values()):
        assert word in out


def test_connection_failure_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    """An unreachable host is exit status 1 with one line, after no retries of a create."""
    status, _, err = run(
        capsys,
        "--token",
        "t",
        "--assistant-name",
        "a",
        "--base-url",
        "http://127.0.0.1:9",
        "ask",
        "hi",
    )
    assert status == 1
    assert len(err.splitlines()) == 1
    assert err.startswith("error: ")


def test_keyboard_interrupt_exits_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C inside a command ends it with status 130 and no traceback."""
    from moveworks_async import _cli

    async def interrupted(*args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "cmd_ask", interrupted)
    previous = signal.getsignal(signal.SIGINT)
    try:
        status, out, err = run(capsys, "ask", "--simulate", "hi")
        # The report itself cannot be interrupted: further Ctrl-C are ignored from then on.
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert status == 130
    assert out == ""
    assert err == "error: interrupted\n"


# --- terminal rendering ------------------------------------------------------------------------


def _delta(output: mw.OutputItem, seq: int) -> ResponseOutputDelta:
    return ResponseOutputDelta(seq, output)


def _reasoning(rid: str, text: str) -> mw.ReasoningOutput:
    now = datetime.now(UTC)
    content = mw.Content("PLAIN_TEXT", text)
    return mw.ReasoningOutput(mw.ReasoningMessage(rid, "conv_1", "resp_1", content, now))


def _message(text: str) -> mw.MessageOutput:
    now = datetime.now(UTC)
    content = mw.Content("COMMONMARK_TEXT", text)
    return mw.MessageOutput(
        mw.Message("msg_1", "conv_1", "resp_1", mw.ActorType.ASSISTANT, content, now)
    )


class _Terminal(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def test_live_view_appends_growth_and_redraws_rewrites(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a TTY a growing answer is appended in place; a rewritten one is erased and redrawn."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")
    screen = _Terminal()
    view = LiveChatView(screen, color=False)
    view.on_event(_delta(_reasoning("r1", "Searching"), 1))
    assert screen.getvalue() == "\u203a Searching"
    view.on_event(_delta(_message("Hello"), 2))
    view.on_event(_delta(_message("Hello, wor"), 3))
    assert screen.getvalue() == "\u203a Searching\n\nHello, wor"  # appended, no control codes
    view.on_event(_delta(_message("Hi, world"), 4))  # not an extension: redraw the block
    assert screen.getvalue().endswith("\r\x1b[2A\x1b[J\u203a Searching\n\nHi, world")
    final = mw.Response(
        "resp_1",
        "conv_1",
        mw.ResponseStatus.COMPLETED,
        datetime.now(UTC),
        outputs=(_message("Hi, world"),),
    )
    view.finish(final)
    assert screen.getvalue().endswith("Hi, world\n")


def test_live_view_styles_only_when_colour_is_on() -> None:
    """Reasoning is dimmed with colour on; NO_COLOR-style ``color=False`` writes plain text."""
    screen = _Terminal()
    LiveChatView(screen, color=True).on_event(_delta(_reasoning("r1", "Searching"), 1))
    assert screen.getvalue() == "\x1b[2m\u203a Searching\x1b[0m"


def test_display_text_rewrites_slack_links() -> None:
    """``<url|label>`` becomes ``label (url)`` and ``<url>`` the bare url."""
    assert display_text("see <https://a.example/x|the guide> or <https://b.example>") == (
        "see the guide (https://a.example/x) or https://b.example"
    )


# --- the installed entry points ----------------------------------------------------------------


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ENV.values()}


def test_console_script_runs_the_readme_command() -> None:
    """The installed ``moveworks-async chat --simulate`` prints the demo answer and exits 0."""
    script = shutil.which("moveworks-async")
    require(script is not None, "the moveworks-async console script is not installed")
    assert script is not None
    done = subprocess.run(
        [script, "chat", "--simulate", ORG_QUESTION],
        capture_output=True,
        text=True,
        timeout=60,
        env=_clean_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "John Doe reports to **Jane Smith**" in done.stdout
    assert "Sources" in done.stdout
    assert done.stderr == ""


def test_python_dash_m_help() -> None:
    """``python -m moveworks_async --help`` shows the usage under that name."""
    done = subprocess.run(
        [sys.executable, "-m", "moveworks_async", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("usage: python -m moveworks_async")


def default_sigint() -> None:
    """``preexec_fn`` of a child that is sent SIGINT: the default disposition, whatever the
    parent's is (a CI runner or a background job may ignore SIGINT, and an ignored signal
    stays ignored across exec, so the child would never see the Ctrl-C)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_at_the_interactive_prompt_exits_130() -> None:
    """SIGINT while waiting for the next line ends the process at once with status 130."""
    process = subprocess.Popen(
        [sys.executable, "-m", "moveworks_async", "chat", "--simulate"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_clean_env(),
        preexec_fn=default_sigint,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    try:
        process.stdin.write("reset my password\n")
        process.stdin.flush()
        for line in process.stdout:  # the answer's last line: it now waits for more input
            if line.startswith("  - Reset password"):
                break
        process.send_signal(signal.SIGINT)
        # Waited for with stdin still open: closing it would end the session by EOF instead.
        process.wait(timeout=20)
        assert process.stderr is not None
        err = process.stderr.read()
    finally:
        process.kill()
        for pipe in (process.stdin, process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
    assert process.returncode == 130
    assert err.splitlines() == ["error: interrupted"]
