"""The installed ``moveworks-async`` console script, run as a user runs it (a subprocess):
JSON errors, option help and ranges, messages that name flags, --simulate rules, and Ctrl-C
at any moment."""

from __future__ import annotations

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
