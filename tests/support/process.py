"""The `convtool` console script run as a real process: what only a process shows (signals,
closed or full stdout, special files, resource limits, peak memory)."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def console_script() -> list[str]:
    """The installed `convtool` script beside this Python (not a shell shim)."""
    beside = Path(sys.executable).parent / "convtool"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("convtool")
    if found is None:
        raise RuntimeError("the convtool console script is not installed: pip install -e .")
    return [found]


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str
    peak_bytes: int  # the child's peak resident set
    seconds: float


def run(
    args: Sequence[str], *, timeout: float = 60, cwd: Path = ROOT, stdin: int | None = subprocess.DEVNULL,
    stdout: int | None = None, setup: Callable[[], None] | None = None, env: dict[str, str] | None = None,
    interrupt_after: float | None = None,
) -> Done:
    """Run the console script; `setup` runs in the child before exec (limits, closing fds);
    `interrupt_after` sends SIGINT that many seconds after the start."""
    start = time.monotonic()
    child = subprocess.Popen(
        [*console_script(), *args], cwd=cwd, stdin=stdin,
        stdout=subprocess.PIPE if stdout is None else stdout, stderr=subprocess.PIPE,
        preexec_fn=setup, env={**os.environ, "COLUMNS": "100", **(env or {})},
    )
    if interrupt_after is not None:
        time.sleep(interrupt_after)
        child.send_signal(signal.SIGINT)
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise AssertionError(f"convtool {' '.join(args)} did not end within {timeout} s") from None
    return Done(child.returncode, (out or b"").decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                0, time.monotonic() - start)


def run_measured(args: Sequence[str], *, timeout: float = 300, cwd: Path = ROOT) -> Done:
    """Run the console script and measure its peak resident set (os.wait4's rusage)."""
    start = time.monotonic()
    child = subprocess.Popen([*console_script(), *args], cwd=cwd, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # read before waiting (a full pipe would block the child); wait4 then reaps it with its usage
    out = child.stdout.read()  # type: ignore[union-attr]
    err = child.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return Done(child.returncode, out.decode(), err.decode(), peak, time.monotonic() - start)


def limit(kind: int, size: int) -> Callable[[], None]:
    """A `setup` that sets a resource limit (RLIMIT_FSIZE, RLIMIT_AS) in the child."""
    return lambda: resource.setrlimit(kind, (size, size))


def close_stdout() -> None:
    os.close(1)
