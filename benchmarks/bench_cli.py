"""Wall time of `convtool shape` end to end, as a ratio to `python -c pass` (at most 3x).

    python benchmarks/bench_cli.py [--repeat 30]

Runs are interleaved (baseline, shape, shape --json, ...) and medians reported; the
results go to benchmarks/results.md (section "cli").
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from results_md import machine, write_section

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "convtool shape (table)": [sys.executable, "-m", "convtool", "shape", "--input-shape", "20,16,50,100",
                               "--out-channels", "33", "-k", "3", "-s", "2"],
    "convtool shape --json": [sys.executable, "-m", "convtool", "shape", "--input-shape", "20,16,50,100",
                              "--out-channels", "33", "-k", "3", "-s", "2", "--json"],
    "convtool shape --op conv2d": [sys.executable, "-m", "convtool", "shape", "64", "-k", "3", "-s", "2",
                                   "-p", "1", "--op", "conv2d"],
}


# As after `pip install`: bytecode cached (some sandboxes set PYTHONDONTWRITEBYTECODE).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for command in COMMANDS.values():  # warm up: writes the bytecode caches
        subprocess.run(command, stdout=subprocess.DEVNULL, env=ENV, check=True)
    for _ in range(args.repeat):
        for name, command in COMMANDS.items():
            start = time.perf_counter()
            subprocess.run(command, stdout=subprocess.DEVNULL, env=ENV, check=True)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["python -c pass"])
    rows = ["| command | median ms | ratio to `python -c pass` |", "|---|---:|---:|"]
    for name, samples in times.items():
        median = statistics.median(samples)
        rows.append(f"| {name} | {median * 1000:.1f} | {median / base:.2f}x |")
    table = "\n".join(rows)
    print(table)
    write_section(
        "cli",
        f"## CLI latency (`benchmarks/bench_cli.py`)\n\n{machine()}; {args.repeat} interleaved runs, "
        f"medians, bytecode cached. Bar: `convtool shape` at most 3x `python -c pass`.\n\n{table}\n",
    )


if __name__ == "__main__":
    main()
