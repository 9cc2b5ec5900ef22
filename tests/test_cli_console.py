"""The installed ``moveworks-async`` console script, run as a user runs it (a subprocess):
JSON errors, option help and ranges, messages that name flags, --simulate rules, and Ctrl-C
at any moment."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import require

from moveworks_async import RateLimitError, StreamInterruptedError
from moveworks_async._cli_options import error_object
from moveworks_async._config import ENV

SCRIPT = shutil.which("moveworks-async") or str(Path(sys.executable).parent / "moveworks-async")


def _default_sigint() -> None:
    """``preexec_fn`` of a child sent SIGINT: the default disposition whatever the parent's
    (an ignored SIGINT stays ignored across exec, and the child would never see the Ctrl-C)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _commands() -> list[list[str]]:
    """Every command path of the parser (so a command added later is checked too)."""
    import argparse

    from moveworks_async._cli import build_parser

    found: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        found.append(path)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])

    walk(build_parser(), [])
    return found


COMMANDS = _commands()


@pytest.fixture(autouse=True)
def _installed() -> None:
    require(os.access(SCRIPT, os.X_OK), "the moveworks-async console script is not installed")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV.values()}
    env.pop("NO_COLOR", None)
    return {**env, **extra}


def cli(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [SCRIPT, *argv], capture_output=True, text=True, env=_env(**env), timeout=60
    )
    assert "Traceback" not in done.stdout + done.stderr
    return done


def json_error(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The one JSON error object on stderr."""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    error = json.loads(lines[0])
    assert set(error) == {"error"}
    assert set(error["error"]) == {"type", "message", "status", "request_id"}
    return error["error"]  # type: ignore[no-any-return]


# --- --json errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "kind", "needle"),
    [
        (
            ["--json", "conversations", "list", "--simulate", "--limit", "1000"],
            "UsageError",
            "--limit",
        ),
        (["--json", "ask", "hi"], "UsageError", "MOVEWORKS_TOKEN"),
        (
            ["chat", "--json", "--simulate", "--base-url", "notaurl", "hi"],
            "UsageError",
            "--base-url",
        ),
        (["--json", "bogus"], "UsageError", "bogus"),
    ],
    ids=["range", "no-credentials", "simulate-base-url", "unknown-command"],
)
def test_json_usage_errors_are_one_object_exit_2(argv: list[str], kind: str, needle: str) -> None:
    done = cli(*argv)
    assert done.returncode == 2
    assert done.stdout == ""
    error = json_error(done)
    assert error["type"] == kind
    assert needle in error["message"]
    assert error["status"] is None


def test_json_api_error_has_status_and_request_id_exit_1() -> None:
    """A 404 from the (simulated) API: type, status and the server's request id."""
    done = cli("--json", "messages", "conv_does_not_exist", "--simulate")
    assert done.returncode == 1
    error = json_error(done)
    assert error["type"] == "NotFoundError"
    assert error["status"] == 404
    assert re.fullmatch(r"[0-9a-f-]{36}", error["request_id"])
    assert "Conversation does not exist" in error["message"]


def test_without_json_errors_stay_one_plain_line() -> None:
    done = cli("messages", "conv_does_not_exist", "--simulate")
    assert done.returncode == 1
    assert done.stderr.startswith("error: 404 NOT_FOUND")
    assert len(done.stderr.splitlines()) == 1


# --- flags, ranges, help ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--api-version", "v9", "chat", "--simulate", "hi"], "--api-version"),
        (["conversations", "list", "--simulate", "--limit", "0"], "--limit"),
        (["messages", "c", "--simulate", "--limit", "101"], "--limit"),
        (["events", "watch", "--simulate", "--interval", "0.5"], "--interval"),
        (["ask", "--simulate", "--timeout", "nan", "hi"], "--timeout"),
        (["chat", "--simulate", "--conversation", "../x", "hi"], "--conversation"),
        (["events", "watch", "--simulate", "--since", "a/b"], "--since"),
    ],
    ids=["api-version", "limit-0", "limit-101", "interval", "timeout-nan", "conv-id", "since"],
)
def test_out_of_range_values_name_the_flag(argv: list[str], flag: str) -> None:
    done = cli(*argv)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: argument {flag}:")
    assert "_" not in done.stderr.split(":")[1]  # a flag, never a Python parameter name


def test_bad_variables_name_the_variable() -> None:
    done = cli(
        "ask", "hi", MOVEWORKS_TOKEN="t", MOVEWORKS_ASSISTANT_NAME="a", MOVEWORKS_API_VERSION="v9"
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: MOVEWORKS_API_VERSION must be one of")


def test_simulate_refuses_connection_flags_but_ignores_shell_variables() -> None:
    """--simulate runs its own server: a --base-url (or credential flag) would be silently
    ignored, so it is an error; variables of the user's shell are just not used."""
    for option in (["--base-url", "notaurl"], ["--token", "x"], ["--assistant-name", "b"]):
        done = cli("chat", "--simulate", *option, "hi")
        assert done.returncode == 2
        assert option[0] in done.stderr
        assert "--simulate" in done.stderr
    done = cli(
        "conversations",
        "list",
        "--simulate",
        MOVEWORKS_BASE_URL="notaurl",
        MOVEWORKS_TOKEN="whatever",
    )
    assert done.returncode == 0, done.stderr


def _option_blocks(help_text: str) -> dict[str, str]:
    """``--flag`` -> its help text, from argparse's help output."""
    blocks: dict[str, str] = {}
    current = None
    for line in help_text.splitlines():
        match = re.match(r"  (--[a-z-]+)", line)
        if match:
            current = match.group(1)
            blocks[current] = line
        elif current and line.startswith("    "):
            blocks[current] += " " + line.strip()
        else:
            current = None
    return blocks


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_every_option_states_its_default_and_numbers_their_range(command: list[str]) -> None:
    done = cli(*command, "--help")
    assert done.returncode == 0
    blocks = _option_blocks(done.stdout)
    assert "--json" in blocks
    for flag, text in blocks.items():
        if flag in ("--help", "--version"):
            continue
        assert "default" in text, f"{flag}: {text}"
        if re.search(r"SECONDS|\bN\b", text.split("  ")[1] if "  " in text else text):
            assert "range" in text, f"{flag}: {text}"
    if command == ["conversations", "list"]:
        assert "(default 20; range 1-100)" in blocks["--limit"]
    if command == ["events", "watch"]:
        assert "(default 6; range 1-3600)" in blocks["--interval"]


# --- Ctrl-C ----------------------------------------------------------------------------------

_SLOW_IMPORT = """
import importlib.abc, os, sys, time

class _Slow(importlib.abc.MetaPathFinder):
    # Makes importing aiohttp take 3 s, so a test can interrupt the start-up for certain.
    def find_spec(self, name, path=None, target=None):
        if name == "aiohttp":
            open(os.environ["SLOW_IMPORT_MARKER"], "w").close()
            time.sleep(3)
        return None

sys.meta_path.insert(0, _Slow())
"""


def test_ctrl_c_during_start_up_is_one_line_and_130(tmp_path: Path) -> None:
    """SIGINT while the command is still importing aiohttp (made slow on purpose): one line,
    status 130, no traceback; with --json, the line is a JSON object."""
    (tmp_path / "sitecustomize.py").write_text(_SLOW_IMPORT)
    for as_json in (False, True):
        marker = tmp_path / f"importing-{as_json}"
        argv = [SCRIPT, *(["--json"] if as_json else []), "chat", "--simulate", "hi"]
        env = _env(PYTHONPATH=str(tmp_path), SLOW_IMPORT_MARKER=str(marker))
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=_default_sigint,
        )
        try:
            deadline = time.monotonic() + 30
            while not marker.exists():
                assert time.monotonic() < deadline, "the command never started importing"
                time.sleep(0.01)
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=30)
        finally:
            process.kill()
        assert process.returncode == 130
        assert out == ""
        if as_json:
            assert json.loads(err)["error"]["type"] == "Interrupted"
        else:
            assert err == "error: interrupted\n"


@pytest.mark.parametrize("delay", [0.2, 0.6, 1.0])
def test_ctrl_c_at_any_moment_of_a_chat_is_one_line_and_130(delay: float) -> None:
    """SIGINT at several moments of `chat --simulate` (start-up, server start, mid-stream):
    always status 130 and at most one line on stderr. (A signal that lands before the
    interpreter itself is up kills it by SIGINT, which a shell reports as 130 too.)"""
    process = subprocess.Popen(
        [SCRIPT, "chat", "--simulate", "Who does John Doe report to?"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        preexec_fn=_default_sigint,
    )
    try:
        time.sleep(delay)  # the moment of the interrupt is the point of this test
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    if process.returncode == 0:
        pytest.skip("the chat finished before the signal (a very fast machine)")
    assert "Traceback" not in err
    if process.returncode == -signal.SIGINT:
        assert err == ""
    else:
        assert process.returncode == 130
        assert err == "error: interrupted\n"


# --- --simulate pacing -----------------------------------------------------------------------


def test_simulated_chat_visibly_streams() -> None:
    """Under --json each event is printed as it arrives: the fake's default pacing spaces
    them, so the first event is read well before the last (not all in one millisecond)."""
    # "with": the pipes are closed at the end (an unclosed one fails the run as unraisable).
    with subprocess.Popen(
        [SCRIPT, "--json", "chat", "--simulate", "Who does John Doe report to?"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    ) as process:
        assert process.stdout is not None
        arrivals = [(time.monotonic(), json.loads(line)["event_type"]) for line in process.stdout]
        process.wait(30)
    assert process.returncode == 0
    kinds = [kind for _, kind in arrivals]
    assert kinds[0] == "RESPONSE_CREATED"
    assert kinds[-1] == "RESPONSE_COMPLETED"
    # At least 0.05 s between consecutive events (sleeps never end early).
    assert arrivals[-1][0] - arrivals[0][0] >= 0.05 * (len(arrivals) - 1) * 0.9


def test_a_corrupt_checkpoint_file_names_the_flag(tmp_path: Path) -> None:
    checkpoint = tmp_path / "events.ckpt"
    checkpoint.write_text("../../etc/passwd\n")
    done = cli("events", "watch", "--simulate", "--once", "--checkpoint", str(checkpoint))
    assert done.returncode == 2
    assert done.stderr == f"error: --checkpoint {checkpoint} does not hold an event id\n"


# --- Ctrl-C: the adversarial review's cases ----------------------------------------------------


def test_the_console_entry_imports_nothing_before_its_ctrl_c_handler() -> None:
    """The console script imports ``moveworks_async._launch`` (so the package ``__init__``)
    before ``main`` can install its handler: an import there would be a window in which
    Ctrl-C prints a traceback. Nothing beyond what the interpreter (and the script's own
    ``import re``) loaded may be imported, but ``_console``, the leaf of constants the launcher
    shares with the command line (it imports nothing: its imports are part of this probe)."""
    probe = (
        "import re, sys; before = set(sys.modules); import moveworks_async._launch; "
        "print(sorted(set(sys.modules) - before))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == (
        "['moveworks_async', 'moveworks_async._console', 'moveworks_async._launch']"
    )


def _interrupt_repeatedly(process: subprocess.Popen[str], times: int = 5) -> None:
    for _ in range(times):
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        time.sleep(0.002)  # Ctrl-C mashed: the moments between are the point of this test


def test_mashed_ctrl_c_during_start_up_is_one_line_and_130(tmp_path: Path) -> None:
    """Five SIGINTs while aiohttp is being imported: the report itself must not be
    interrupted (it once imported json, and a second Ctrl-C there printed a traceback)."""
    (tmp_path / "sitecustomize.py").write_text(_SLOW_IMPORT)
    marker = tmp_path / "importing"
    process = subprocess.Popen(
        [SCRIPT, "--json", "ask", "--simulate", "hi"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(PYTHONPATH=str(tmp_path), SLOW_IMPORT_MARKER=str(marker)),
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline, "the command never started importing"
            time.sleep(0.01)
        _interrupt_repeatedly(process)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130
    assert out == ""
    assert err.splitlines() == [json.dumps(error_object("Interrupted", "interrupted"))]


def test_mashed_ctrl_c_mid_stream_is_one_line_and_130() -> None:
    """Five SIGINTs once the answer is streaming: one line, status 130, and none of the
    warnings of an interrupted clean-up (unclosed sessions, un-awaited coroutines)."""
    process = subprocess.Popen(
        [SCRIPT, "--json", "chat", "--simulate", "Who does John Doe report to?"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        assert process.stdout is not None
        first = json.loads(process.stdout.readline())
        assert first["event_type"] == "RESPONSE_CREATED"
        _interrupt_repeatedly(process)
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 130
    assert err.splitlines() == [json.dumps(error_object("Interrupted", "interrupted"))]
    for line in out.splitlines():  # what was printed is whole JSON lines
        json.loads(line)


def test_ctrl_c_on_a_terminal_starts_a_new_line() -> None:
    """On a TTY the interrupt report is not glued onto the partial answer line."""
    import pty

    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [SCRIPT, "chat", "--simulate", "Who does John Doe report to?"],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env=_env(NO_COLOR="1"),
    )
    os.close(terminal)
    shown = b""
    try:
        deadline = time.monotonic() + 30
        while b"John" not in shown:  # the answer has started
            assert time.monotonic() < deadline, shown
            shown += os.read(controller, 4096)
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 130
        with contextlib.suppress(OSError):  # EIO once the terminal's last writer is gone
            while chunk := os.read(controller, 4096):
                shown += chunk
    finally:
        process.kill()
        os.close(controller)
    text = shown.decode()
    assert text.endswith("error: interrupted\r\n")
    assert text[: -len("error: interrupted\r\n")].endswith("\n")


# --- the adversarial review's CLI cases ----------------------------------------------------------


def test_json_without_a_command_is_one_json_object_exit_2() -> None:
    done = cli("--json")
    assert done.returncode == 2
    error = json_error(done)
    assert error["type"] == "UsageError"
    assert "no command" in error["message"]


def test_question_text_is_checked_by_the_cli_naming_the_argument() -> None:
    """A blank question, or bytes that are not UTF-8, are usage errors of the CLI's own
    (naming TEXT), not a library message about a Python parameter, nor "a bug"."""
    done = cli("--json", "ask", "--simulate", "  ")
    assert done.returncode == 2
    error = json_error(done)
    assert error == {
        "type": "UsageError",
        "message": "argument TEXT: the question is empty",
        "status": None,
        "request_id": None,
    }
    for command in ("chat", "ask"):
        bad = subprocess.run(
            [os.fsencode(SCRIPT), command.encode(), b"--simulate", b"caf\xff"],
            capture_output=True,
            env=_env(),
            timeout=60,
        )
        assert bad.returncode == 2
        assert bad.stdout == b""
        assert bad.stderr.startswith(b"error: argument TEXT: not valid UTF-8"), bad.stderr
        assert len(bad.stderr.splitlines()) == 1


def test_an_interactive_line_that_is_not_utf8_is_reported_and_the_chat_goes_on() -> None:
    done = subprocess.run(
        [SCRIPT, "chat", "--simulate"],
        input=b"caf\xff\nWho does John Doe report to?\n",
        capture_output=True,
        env=_env(),
        timeout=60,
    )
    # Reported on stderr, and the session ended normally: exit 0, not 2.
    assert done.returncode == 0
    assert done.stderr == (
        b"error: that line is not valid UTF-8 (check the terminal's encoding); it was not sent\n"
    )
    assert b"John Doe" in done.stdout  # the next line was answered


def test_an_unwritable_checkpoint_is_a_usage_error_naming_the_flag() -> None:
    for path, reason in (("/nonexistent/dir/f", "cannot be written"), ("/", "is a directory")):
        done = cli("--json", "events", "watch", "--simulate", "--once", "--checkpoint", path)
        assert done.returncode == 2
        assert done.stdout == ""
        error = json_error(done)
        assert error["type"] == "UsageError"
        assert error["message"].startswith(f"--checkpoint {path} {reason}")


def test_client_id_flag_combines_with_the_secret_variable(tmp_path: Path) -> None:
    """--client-secret's help says to prefer the variable: --client-id with
    MOVEWORKS_CLIENT_SECRET is client credentials (the token request is made)."""
    done = cli(
        "token",
        "--client-id",
        "test-client",
        "--base-url",
        "http://127.0.0.1:9",
        MOVEWORKS_CLIENT_SECRET="test-secret",
    )
    # Port 9 refuses: the request was attempted, so the credentials were accepted.
    assert done.returncode == 1
    assert "cannot connect" in done.stderr
    done = cli("token", "--client-id", "test-client")
    assert done.returncode == 2
    assert done.stderr == (
        "error: --client-id needs --client-secret too (or set MOVEWORKS_CLIENT_SECRET)\n"
    )


def test_simulate_gives_no_advice_to_continue_a_conversation_that_ends_with_the_run() -> None:
    """On a terminal, chat prints how to continue the conversation; a simulated one lives
    for one run only, so the advice would not work."""
    import pty

    controller, terminal = pty.openpty()
    done = subprocess.run(
        [SCRIPT, "chat", "--simulate", "hi"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=_env(),
        timeout=60,
    )
    os.close(terminal)
    shown = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(controller, 4096):
            shown += chunk
    os.close(controller)
    assert done.returncode == 0
    assert b"--conversation" not in shown


def test_an_unknown_option_points_to_the_help_of_its_command() -> None:
    done = cli("conversations", "list", "--json", "--bogus-flag")
    assert done.returncode == 2
    assert json_error(done)["message"] == (
        "unrecognized arguments: --bogus-flag (see moveworks-async conversations list --help)"
    )


def test_closed_stdout_is_one_usage_error_line() -> None:
    done = subprocess.run(
        [SCRIPT, "conversations", "list", "--simulate"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        timeout=60,
        # `>&-`: the child starts with file descriptor 1 closed.
        preexec_fn=lambda: os.close(1),
    )
    assert done.returncode == 2
    assert done.stderr == "error: standard output is closed: nothing could be printed\n"


def test_simulate_reads_the_api_version_variable_as_the_readme_says() -> None:
    """README once said no MOVEWORKS_* variable is used under --simulate, yet the generation
    is read from MOVEWORKS_API_VERSION; README (and CHANGELOG, on the default) now agree with
    the behaviour."""
    root = Path(__file__).resolve().parent.parent
    readme = " ".join((root / "README.md").read_text(encoding="utf-8").split())
    assert "are simply not used" not in readme
    assert "`--api-version` or `MOVEWORKS_API_VERSION` (the fake serves all three)" in readme
    done = cli("conversations", "list", "--simulate", MOVEWORKS_API_VERSION="v9")
    assert done.returncode == 2
    assert done.stderr.startswith("error: MOVEWORKS_API_VERSION must be one of")
    assert (
        cli("conversations", "list", "--simulate", MOVEWORKS_API_VERSION="v1beta1").returncode == 0
    )
    changelog = (root / "CHANGELOG.md").read_text(encoding="utf-8")
    assert '`api_version="v1beta1"` (default)' not in changelog
    assert '`api_version="v1"` (default)' in changelog


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--recipient", "a@b.co", "--recipient", "notanemail"],
            "recipient 2 (of --recipient, then --recipients-file) is not a valid email address",
        ),
        (["--recipient", "a@b.co", "--message", "x" * 20001], "--message must be 1-20000"),
    ],
    ids=["recipient", "message"],
)
def test_notify_input_errors_name_the_flag(argv: list[str], message: str) -> None:
    event = "00000000-0000-4000-8000-000000000001"
    done = cli("--json", "notify", "--simulate", event, "--message", "hi", *argv)
    assert done.returncode == 2
    error = json_error(done)
    assert error["type"] == "UsageError"
    assert error["message"].startswith(message)
    done = cli("notify", "--simulate", "not-a-uuid", "--message", "hi", "--recipient", "a@b.co")
    assert done.returncode == 2
    assert done.stderr.startswith("error: EVENT_ID must be a UUID")


@pytest.mark.parametrize("as_json", [True, False])
def test_rate_limit_error_reports_its_retry_after(
    as_json: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 429 with Retry-After 120 (above max_retry_after, so not waited for) tells the user
    how long the server asked to wait: ``retry_after`` in --json, a note in plain text."""
    from moveworks_async import _cli

    monkeypatch.setattr(_cli, "_as_json", as_json)
    _cli._report(RateLimitError("429 RATE_LIMITED: slow down", status_code=429, retry_after=120.0))
    err = capsys.readouterr().err
    if as_json:
        error = json.loads(err)["error"]
        assert error["retry_after"] == 120.0
        assert error["status"] == 429
    else:
        assert err.startswith("error: ")
        assert "slow down" in err
        assert err.endswith(" (the server asks to retry after 120 s)\n")


@pytest.mark.parametrize("as_json", [True, False])
def test_a_stream_error_names_the_response_to_poll_later(
    as_json: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream that failed after its response was created (its recovery polls failed) says
    which response to poll: ``response_id`` in --json, a note in plain text (an outside review
    found the id nowhere in the CLI's error output); control characters stay escaped."""
    from moveworks_async import _cli

    monkeypatch.setattr(_cli, "_as_json", as_json)
    error = StreamInterruptedError("polling failed", response_id="resp_abc\x1b[2J")
    _cli._report(error)
    err = capsys.readouterr().err
    assert "\x1b" not in err
    if as_json:
        assert json.loads(err)["error"]["response_id"] == "resp_abc\\x1b[2J"
    else:
        assert err.endswith(" (response resp_abc\\x1b[2J)\n"), err
    monkeypatch.setattr(_cli, "_as_json", True)
    _cli._report(StreamInterruptedError("no id yet"))
    assert "response_id" not in json.loads(capsys.readouterr().err)["error"]


@pytest.mark.parametrize("as_json", [True, False])
def test_a_failed_answer_names_its_response_once(
    as_json: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FAILED answer's error names the response: ``response_id`` in the --json object (an
    outside review found it missing there), in the message of the plain line (once)."""
    from moveworks_async import _cli
    from moveworks_async._converter import structure
    from moveworks_async._models import Response

    failed = structure(
        {
            "response_id": "resp_failed1",
            "conversation_id": "conv_1",
            "status": "FAILED",
            "created_at": "2026-11-26T10:00:00Z",
            "error": {"code": "E", "message": "no"},
        },
        Response,
    )
    monkeypatch.setattr(_cli, "_as_json", as_json)
    assert _cli._failed(failed)
    err = capsys.readouterr().err
    if as_json:
        assert json.loads(err)["error"]["response_id"] == "resp_failed1"
    else:
        assert err.count("resp_failed1") == 1, err


def test_a_fifo_checkpoint_is_a_usage_error_and_left_alone(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"  # a non-regular file of our own, never a real device
    os.mkfifo(fifo)
    done = cli("--json", "events", "watch", "--simulate", "--once", "--checkpoint", str(fifo))
    assert done.returncode == 2
    assert done.stdout == ""
    error = json_error(done)
    assert error["type"] == "UsageError"
    assert error["message"] == f"--checkpoint {fifo} is not a regular file"
    assert fifo.is_fifo()  # not replaced by a regular file
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]


@pytest.mark.parametrize("as_json", [False, True])
def test_interactive_chat_with_stdin_closed_is_a_usage_error(as_json: bool) -> None:
    flags = ["--json"] if as_json else []
    done = subprocess.run(
        ["sh", "-c", 'exec "$0" "$@" <&-', SCRIPT, *flags, "chat", "--simulate"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    message = "standard input is closed: give the question as TEXT"
    if as_json:
        assert json_error(done) == {
            "type": "UsageError",
            "message": message,
            "status": None,
            "request_id": None,
        }
    else:
        assert done.stderr == f"error: {message}\n"


@pytest.mark.parametrize("args", [["ask", "--simulate", "hi"], ["chat", "--simulate", "hi"]])
def test_a_closed_stdin_does_not_abort_a_finished_command(args: list[str]) -> None:
    """With uvloop installed (the ``[fast]`` extra), a closed stdin let a socket take
    descriptor 0 and libuv aborted the process at exit (exit 134) after printing the answer."""
    done = subprocess.run(
        ["sh", "-c", 'exec "$0" "$@" <&-', SCRIPT, *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert "Assertion" not in done.stderr
