"""``moveworks-async notify`` and ``moveworks-async export``, run through the console script
against ``--simulate`` (and a live fake server for the progress line and the key)."""

from __future__ import annotations

import http.server
import io
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from conftest import require
from test_cli import ThreadedFake

from moveworks_async._cli_export import Progress
from moveworks_async._cli_simulate import SIMULATED_EVENT_ID, SIMULATED_RECORDS
from moveworks_async.testing._data_api import iter_generated

CANARY = "data-key-canary-77f0-DO-NOT-PRINT"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOVEWORKS_")}
    env.update(extra)
    return env


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    script = shutil.which("moveworks-async")
    require(script is not None, "the moveworks-async console script is not installed")
    assert script is not None
    return subprocess.run(
        [script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env if env is not None else _env(),
        check=False,
    )


def test_notify_simulated(tmp_path: Path) -> None:
    listed = tmp_path / "people.txt"
    listed.write_text("# team\n" + "".join(f"user{i}@example.com\n" for i in range(600)) + "\n\n")
    done = run(
        "notify",
        "--simulate",
        SIMULATED_EVENT_ID,
        "--message",
        "Laptop refresh: <b>book a slot</b>",
        "--recipient",
        "ada@example.com",
        "--recipients-file",
        str(listed),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "scheduled for 601 recipients (2 batches)\n"
    done = run("--json", "notify", "--simulate", SIMULATED_EVENT_ID, "--message", "hi",
               "--recipient", "ada@example.com")  # fmt: skip
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["scheduled"] == 1
    assert payload["batches"][0]["status"] == "RECEIVED"


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["00000000-0000-4000-8000-0000000000ff", "--recipient", "a@example.com"], 1, "404"),
        (["not-a-uuid", "--recipient", "a@example.com"], 2, "EVENT_ID must be a UUID"),
        ([SIMULATED_EVENT_ID, "--recipient", "not-an-email"], 2, "recipient 1 (of --recipient"),
        ([SIMULATED_EVENT_ID], 2, "no recipients"),
    ],
)
def test_notify_errors(args: list[str], status: int, message: str) -> None:
    done = run("notify", "--simulate", "--message", "hi", *args)
    assert done.returncode == status
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_notify_json_lists_who_was_not_scheduled() -> None:
    unknown = "00000000-0000-4000-8000-0000000000ff"
    people = ["--recipient", "a@example.com", "--recipient", "b@example.com"]
    done = run("--json", "notify", "--simulate", unknown, "--message", "hi", *people)
    assert done.returncode == 1
    assert json.loads(done.stdout) == {
        "scheduled": [],
        "not_scheduled": ["a@example.com", "b@example.com"],
        "outcome_unknown": [],
    }
    assert "INVALID_EVENT_ID" in done.stderr


def test_notify_needs_credentials_without_simulate() -> None:
    done = run("notify", SIMULATED_EVENT_ID, "--message", "hi", "--recipient", "a@example.com")
    assert done.returncode == 2
    assert "no credentials" in done.stderr


def test_export_simulated_and_resumed(tmp_path: Path) -> None:
    out = tmp_path / "users.jsonl"
    done = run("export", "users", "--simulate", "--output", str(out), "--since",
               "2026-01-01T00:10:00Z", "--until", "2026-01-01T00:20:00")  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [f"user_{i:012d}" for i in range(600, 1201)]
    assert done.stdout == f"601 records in {out}\n"
    # Run again: already complete, same count, the file untouched.
    before = out.read_bytes()
    again = run("--json", "export", "users", "--simulate", "--output", str(out), "--since",
                "2026-01-01T00:10:00Z", "--until", "2026-01-01T00:20:00")  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {"kind": "users", "output": str(out), "records": 601}
    assert out.read_bytes() == before
    # Other options on the same file: refused, with the way out.
    other = run("export", "users", "--simulate", "--output", str(out))
    assert other.returncode == 2
    assert "--restart" in other.stderr
    restarted = run("export", "users", "--simulate", "--output", str(out), "--restart")
    assert restarted.returncode == 0, restarted.stderr
    assert len(out.read_text().splitlines()) == SIMULATED_RECORDS


def test_export_reads_the_key_from_the_environment_and_never_prints_it(tmp_path: Path) -> None:
    out = tmp_path / "calls.jsonl"
    with ThreadedFake(data_api_key=CANARY) as server:
        server.data_api.page_size = 50
        server.data_api.generate("plugin-calls", 400)
        env = _env(MOVEWORKS_DATA_API_KEY=CANARY, MOVEWORKS_BASE_URL=server.url)
        done = run("export", "plugin_calls", "--output", str(out), env=env)
        wrong = _env(MOVEWORKS_DATA_API_KEY="wrong", MOVEWORKS_BASE_URL=server.url)
        bad = run("export", "plugin-calls", "--output", str(tmp_path / "x.jsonl"), env=wrong)
        missing = run("export", "users", "--output", str(tmp_path / "y.jsonl"), env=_env())
    assert done.returncode == 0, done.stderr
    assert out.read_text().splitlines() == [
        json.dumps(r, separators=(",", ":")) for r in iter_generated("plugin-calls", 400)
    ]
    assert CANARY not in done.stdout + done.stderr
    assert bad.returncode == 1
    assert "401 UNAUTHORIZED" in bad.stderr
    assert missing.returncode == 2
    assert "MOVEWORKS_DATA_API_KEY" in missing.stderr


def test_export_bad_arguments() -> None:
    done = run("export", "tickets", "--simulate", "--output", "x.jsonl")
    assert done.returncode == 2
    assert "invalid choice" in done.stderr
    done = run("export", "users", "--simulate", "--output", "x.jsonl", "--since", "yesterday")
    assert done.returncode == 2
    assert "not an ISO 8601 date" in done.stderr


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_line_on_a_terminal_and_in_a_log() -> None:
    now = [0.0]
    log = _Stream(tty=False)
    progress = Progress(log, clock=lambda: now[0])
    for t, count in ((1.0, 500), (6.0, 1000), (7.0, 1500), (12.0, 2000)):
        now[0] = t
        progress(count)
    progress.done()
    assert log.getvalue() == "exported 1000 records\nexported 2000 records\n"
    terminal = _Stream(tty=True)
    progress = Progress(terminal)
    progress(500)
    progress(1000)
    progress.done()
    assert terminal.getvalue() == "\rexported 500 records\rexported 1000 records\n"


# --- the adversarial review of issue 15 ---------------------------------------------------


def test_notify_recipients_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    listed = tmp_path / "people.txt"
    listed.write_bytes("\ufeffada@example.com\nbob@example.com\n".encode())
    done = run("notify", "--simulate", SIMULATED_EVENT_ID, "--message", "hi",
               "--recipients-file", str(listed))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "scheduled for 2 recipients (1 batch)\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"ada@example.com\n\xff\xfebob@example.com\n", "is not UTF-8 text"),
        (None, "No such file or directory"),
        ("dir", "Is a directory"),
    ],
    ids=["latin-1", "missing", "directory"],
)
def test_notify_unreadable_recipients_file_is_a_usage_error(
    tmp_path: Path, content: bytes | str | None, message: str
) -> None:
    listed = tmp_path / "people.txt"
    if content == "dir":
        listed.mkdir()
    elif isinstance(content, bytes):
        listed.write_bytes(content)
    done = run("notify", "--simulate", SIMULATED_EVENT_ID, "--message", "hi",
               "--recipients-file", str(listed))  # fmt: skip
    assert done.returncode == 2
    assert message in done.stderr
    assert "a bug" not in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "bound", [["--since", "0001-01-01T00:00:00+01:00"], ["--until", "9999-12-31T23:59:59-01:00"]]
)
def test_export_times_out_of_range_in_utc_are_usage_errors(
    tmp_path: Path, bound: list[str]
) -> None:
    done = run("export", "users", "--simulate", "--output", str(tmp_path / "x.jsonl"), *bound)
    assert done.returncode == 2
    assert "out of range" in done.stderr
    assert "a bug" not in done.stderr


def test_export_simulate_refuses_a_data_api_key(tmp_path: Path) -> None:
    out = str(tmp_path / "x.jsonl")
    done = run("export", "users", "--simulate", "--output", out, "--data-api-key", "k")
    assert done.returncode == 2
    assert "--data-api-key cannot be used with --simulate" in done.stderr


class _Hostile(http.server.BaseHTTPRequestHandler):
    """Every request: 400 with terminal escape sequences in the error message."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = json.dumps(
            {"code": "BAD_REQUEST", "message": "x \x1b[31mRED\x1b[0m \x1b]0;title\x07 \x9b2J"}
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("as_json", [False, True])
def test_server_text_in_errors_never_reaches_the_terminal_raw(as_json: bool) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = _env(MOVEWORKS_TOKEN="t", MOVEWORKS_BASE_URL=f"http://127.0.0.1:{server.server_port}")
        flags = ["--json"] if as_json else []
        done = run(*flags, "notify", SIMULATED_EVENT_ID, "--message", "hi",
                   "--recipient", "a@example.com", env=env)  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert done.returncode == 1
    assert "\x1b" not in done.stderr
    assert "\x07" not in done.stderr
    assert "\x9b" not in done.stderr
    assert "\\x1b[31mRED" in done.stderr


def test_server_text_is_shown_with_control_characters_escaped() -> None:
    from moveworks_async._cli_options import terminal_safe
    from moveworks_async._cli_render import display_text

    hostile = "ok \x1b[2J\x1b]0;pwned\x07 \r\x9b31m tab\tand\nnewline kept"
    shown = display_text(hostile)
    assert shown == terminal_safe(hostile)
    assert shown == "ok \\x1b[2J\\x1b]0;pwned\\x07 \\x0d\\x9b31m tab\tand\nnewline kept"
