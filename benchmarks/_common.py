"""Plumbing shared by the benchmarks: CPU pinning, server and worker processes, statistics.

Layout of a run: the driver (``python -m benchmarks``) starts one server process pinned to
CPU 1 and long-lived client *workers* pinned to CPU 0, one per client library. A worker reads
one JSON command per line on stdin, runs it on a fresh event loop and answers one
``RESULT {json}`` line. Because workers stay alive, the driver can interleave the libraries
(rotating their order every repeat) without paying interpreter start-up per measurement, and
ratios are paired within a repeat. Every process is started here and stopped by its PID.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLIENT_CPU = "0"
SERVER_CPU = "1"
HOST = "127.0.0.1"

_taskset_ok: bool | None = None


def taskset_works() -> bool:
    """True when ``taskset -c 0`` and ``-c 1`` both run here (two CPUs, util-linux present)."""
    global _taskset_ok
    if _taskset_ok is None:
        try:
            _taskset_ok = (os.cpu_count() or 1) >= 2 and all(
                subprocess.run(
                    ["taskset", "-c", cpu, "true"], capture_output=True, timeout=10
                ).returncode
                == 0
                for cpu in (CLIENT_CPU, SERVER_CPU)
            )
        except (OSError, subprocess.SubprocessError):
            _taskset_ok = False
    return _taskset_ok


def pinned(cpu: str, argv: Sequence[str]) -> list[str]:
    """``argv`` prefixed with ``taskset -c cpu`` where pinning works."""
    return ["taskset", "-c", cpu, *argv] if taskset_works() else list(argv)


def pin_self(cpu: str) -> None:
    """Pin the current process (used by in-process benchmarks run as workers)."""
    if taskset_works() and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cpu)})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("PYTHONHASHSEED", "0")
    return env


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu(pid: int) -> float | None:
    """User+system CPU seconds of process ``pid`` (Linux ``/proc``), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return None


def process_rss(pid: int) -> int | None:
    """Resident set size of ``pid`` in bytes (Linux ``/proc``), or None."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return None


class Process:
    """A child process stopped by its own PID (SIGTERM, then SIGKILL) on ``stop()``."""

    def __init__(self, argv: Sequence[str], *, stdin: bool = False) -> None:
        self.argv = list(argv)
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None,
            cwd=ROOT,
            env=_env(),
            text=True,
            bufsize=1,
        )
        self.pid = self.proc.pid

    def readline(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.poll()
            raise RuntimeError(f"process {self.argv[-3:]} ended (exit {code})")
        return line

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                pass
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


class Server(Process):
    """``benchmarks.server`` (or the package's fake server) in its own process on CPU 1."""

    def __init__(self, *args: str, fake: bool = False) -> None:
        if fake:
            port = free_port()
            argv = [sys.executable, "-m", "moveworks_async.testing", "--port", str(port)]
            argv += ["--stream-delay", "0", *args]  # no pacing: benchmarks measure the client
        else:
            argv = [sys.executable, "-m", "benchmarks.server", "--port", "0", *args]
        super().__init__(pinned(SERVER_CPU, argv))
        try:
            self.url = self.readline().strip()
        except Exception:
            self.stop()
            raise
        if not self.url.startswith("http://"):
            self.stop()
            raise RuntimeError(f"server did not start: {self.url!r}")

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def cpu(self) -> float | None:
        return process_cpu(self.pid)


class Worker(Process):
    """A client worker on CPU 0: ``call(command)`` sends one command and returns its result."""

    def __init__(self, module: str, kind: str) -> None:
        self.kind = kind
        argv = [sys.executable, "-m", module, "--worker", kind]
        super().__init__(pinned(CLIENT_CPU, argv), stdin=True)
        ready = self.call({"op": "ping"})
        self.available = bool(ready.get("available", True))
        self.reason = str(ready.get("reason", ""))

    def call(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.readline()
            if line.startswith("RESULT "):
                result: dict[str, Any] = json.loads(line[7:])
                if "error" in result and result.get("fatal"):
                    raise RuntimeError(f"worker {self.kind}: {result['error']}")
                return result
            sys.stderr.write(line)  # stray output of a library: pass it on


def worker_main(handle: Callable[[str, dict[str, Any]], dict[str, Any]]) -> None:
    """The stdin/stdout loop of a worker process: ``handle(kind, command) -> result``."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", required=True)
    kind = parser.parse_args().worker
    for line in sys.stdin:
        command = json.loads(line)
        try:
            result = handle(kind, command)
        except Exception as exc:  # reported to the driver, which decides
            import traceback

            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}", "fatal": True}
        sys.stdout.write("RESULT " + json.dumps(result) + "\n")
        sys.stdout.flush()


# --- statistics ----------------------------------------------------------------------------


def mmm(values: Iterable[float]) -> tuple[float, float, float]:
    """(min, median, max)."""
    data = sorted(values)
    if not data:
        return (float("nan"),) * 3  # type: ignore[return-value]
    return data[0], statistics.median(data), data[-1]


def fmt_mmm(values: Iterable[float], fmt: str = "{:.2f}") -> str:
    lo, mid, hi = mmm(values)
    return "/".join(fmt.format(v) for v in (lo, mid, hi))


def rotate(items: Sequence[Any], repeat: int) -> list[Any]:
    """``items`` rotated by ``repeat``: a different library goes first each repeat."""
    k = repeat % len(items) if items else 0
    return list(items[k:]) + list(items[:k])


def human(value: float, unit: str = "") -> str:
    for limit, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.2f}{suffix}{unit}"
    return f"{value:.0f}{unit}" if abs(value) >= 100 else f"{value:.3g}{unit}"


class Row:
    """One line of the final table."""

    def __init__(
        self,
        num: str,
        what: str,
        variant: str,
        absolute: str,
        ratio: Sequence[float] | None = None,
        ratio_label: str = "",
        goal: str = "",
        met: bool | None = None,
    ) -> None:
        self.num, self.what, self.variant, self.absolute = num, what, variant, absolute
        self.ratio = mmm(ratio) if ratio else None
        self.ratio_label, self.goal, self.met = ratio_label, goal, met

    def cells(self) -> list[str]:
        ratio = "-"
        if self.ratio is not None:
            ratio = "/".join(f"{v:.2f}" for v in self.ratio) + "x"
            if self.ratio_label:
                ratio += f" {self.ratio_label}"
        status = {True: "met", False: "**MISSED**", None: ""}[self.met]
        return [self.num, self.what, self.variant, self.absolute, ratio, self.goal, status]


def table(rows: Sequence[Row]) -> str:
    head = ["#", "benchmark", "variant", "absolute (median)", "ratio min/med/max", "goal", ""]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def now() -> float:
    return time.perf_counter()
