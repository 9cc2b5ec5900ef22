"""``moveworks-async notify`` and ``moveworks-async export``, run through the console script
against ``--simulate`` (and a live fake server for the progress line and the key)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
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
