"""Start-up time of `convtool shape` as a user installs it: a regular (not editable) install in a
fresh virtual environment, each command's wall time as a ratio to `python -c pass` in that same
environment. Bars: the table at most 4x, `--json` at most 3x.

    python benchmarks/bench_startup.py [--runs 40] [--keep]

The repository's files are copied to a temporary directory (so that building leaves nothing in
the checkout), a virtual environment is made beside them and convtool is installed into it with
pip from that copy (click, rich, numpy and pyyaml come from pip's cache or the index). The
commands then run in turn, round after round (the order rotated each round), each run a whole
process with its output read through a pipe; quoted are the medians, and each ratio is the
median of the per-round ratios, so that a drift of the machine's speed cancels. Two floors are
timed beside them: importing click (which every command needs) and click with rich's console
(which the table needs: convtool lays its tables out itself). Which packages each command imports is read from
`python -X importtime`. Writes the "startup" section of benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_md import machine, write_section

ROOT = Path(__file__).resolve().parent.parent
SHAPE = ["shape", "16x16", "-k", "4", "-s", "2", "-p", "1"]
BARS = {"shape": 4.0, "shape --json": 3.0}
FLOORS = {"shape": "floor: import click, rich.console", "shape --json": "floor: import click"}  # what each loads
WATCHED = ("click", "rich", "numpy", "yaml")  # the runtime dependencies


def clean_env() -> dict[str, str]:
    """The environment without Python's own variables (no PYTHONPATH reaching the checkout, and
    bytecode written as after `pip install`)."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}


def install(where: Path) -> Path:
    """A fresh virtual environment in `where` with convtool installed regularly; its bin folder."""
    source = where / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".venv", ".pytest_cache", ".hypothesis"))
    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", str(source)],
        capture_output=True, text=True, env=clean_env(),
    )
    if done.returncode != 0:
        sys.exit(f"pip install failed:\n{done.stdout}{done.stderr}")
    return venv / "bin"


def commands(bin_dir: Path) -> dict[str, list[str]]:
    python, convtool = str(bin_dir / "python"), str(bin_dir / "convtool")
    return {
        "python -c pass": [python, "-c", "pass"],
        "shape": [convtool, *SHAPE],
        "shape --json": [convtool, *SHAPE, "--json"],
        "floor: import click": [python, "-c", "import click"],
        "floor: import click, rich.console": [python, "-c", "import click, rich.console"],
    }


def time_rounds(named: dict[str, list[str]], runs: int, cwd: Path) -> dict[str, list[float]]:
    """Wall seconds of each command over `runs` rounds (after two rounds not counted)."""
    env = clean_env()
    names = list(named)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(runs + 2):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            done = subprocess.run(named[name], capture_output=True, cwd=cwd, env=env)
            elapsed = time.perf_counter() - start
            if done.returncode != 0:
                sys.exit(f"{name} failed: {done.stderr.decode(errors='replace')}")
            if round_ >= 2:
                times[name].append(elapsed)
    return times


def imported(bin_dir: Path, args: list[str], cwd: Path) -> list[str]:
    """The runtime dependencies the console script imports for `args`."""
    done = subprocess.run([str(bin_dir / "python"), "-X", "importtime", str(bin_dir / "convtool"), *args],
                          capture_output=True, text=True, cwd=cwd, env=clean_env(), check=True)
    names = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in done.stderr.splitlines()
             if line.startswith("import time:") and "|" in line}
    return [name for name in WATCHED if name in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40, help="counted rounds (default 40)")
    parser.add_argument("--keep", action="store_true", help="keep the virtual environment and print where")
    args = parser.parse_args()
    where = Path(tempfile.mkdtemp(prefix="convtool-startup-"))
    try:
        bin_dir = install(where)
        named = commands(bin_dir)
        times = time_rounds(named, args.runs, where)
        uses = {name: imported(bin_dir, named[name][1:], where) for name in BARS}
    finally:
        if args.keep:
            print(f"kept: {where}")
        else:
            shutil.rmtree(where, ignore_errors=True)
    base = times["python -c pass"]
    ratios = {name: statistics.median(t / b for t, b in zip(samples, base)) for name, samples in times.items()}
    rows = ["| command | median ms | ratio to `python -c pass` | bar | met | imports |", "|---|---:|---:|---:|---|---|"]
    for name, samples in times.items():
        ratio, bar = ratios[name], BARS.get(name)
        shown = f"`convtool {' '.join(SHAPE)}{' --json' if name.endswith('--json') else ''}`" if bar else name
        rows.append(
            f"| {shown} | {statistics.median(samples) * 1000:.1f} | {ratio:.2f}x | {f'{bar:g}x' if bar else ''} "
            f"| {('yes' if ratio <= bar else 'no') if bar else ''} | {', '.join(uses[name]) if bar else ''} |"
        )
    table = "\n".join(rows)
    bounds = "".join(
        f"\n`{name}` cannot meet its bar of {bar:g}x here: the imports it cannot avoid ({FLOORS[name][7:]}) take "
        f"{ratios[FLOORS[name]]:.2f}x, and convtool's own part adds {ratios[name] - ratios[FLOORS[name]]:.2f}x.\n"
        for name, bar in BARS.items() if ratios[FLOORS[name]] > bar
    )
    print(table + "\n" + bounds)
    write_section(
        "startup",
        f"## Start-up (`benchmarks/bench_startup.py`)\n\n{machine()}; a regular install in a fresh virtual "
        f"environment; {args.runs} rounds of the commands in turn (order rotated), whole processes, output "
        "piped; medians, each ratio the median of the per-round ratios. Bars: the table at most 4x "
        "`python -c pass` in the same environment, `--json` at most 3x. The floor rows time the imports "
        "no command can avoid; `imports` names the runtime dependencies the command loads.\n\n"
        f"{table}\n{bounds}",
    )


if __name__ == "__main__":
    main()
