"""Time of `convtool invert SIZE --to TARGET` over the full default search space (SPEC §7: under 0.5 s).

    python benchmarks/bench_invert.py [--repeat 15]

Each case is timed twice: the library call (search, rank the best 10, nearest targets) in
this process, and the command end to end in a subprocess (table and --json). Runs are
interleaved and medians reported; the results go to benchmarks/results.md (section "invert").
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from results_md import machine, write_section

from convtool.design import search

BAR = 0.5

# (SIZE, TARGET): typical upsamplers, the ones with the most solutions, none at all, 3-D
CASES = [
    ("28", "56"),
    ("50x100", "100x200"),
    ("1", "4"),
    ("4", "8"),
    ("7x7", "64x64"),
    ("28", "1000"),
    ("14x14x14", "28x28x28"),
]


def spatial(text: str, ndim: int) -> tuple[int, ...]:
    values = tuple(int(v) for v in text.split("x"))
    return values * ndim if len(values) == 1 else values


def library_call(size: str, target: str) -> tuple[int, int]:
    nd = max(len(size.split("x")), len(target.split("x")), 2)
    found = search(spatial(size, nd), spatial(target, nd))
    best = found.solutions(10)
    found.nearest()
    return found.total, len(best)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    library: dict[tuple[str, str], list[float]] = {case: [] for case in CASES}
    table: dict[tuple[str, str], list[float]] = {case: [] for case in CASES}
    as_json: dict[tuple[str, str], list[float]] = {case: [] for case in CASES}
    totals: dict[tuple[str, str], int] = {}
    for _ in range(args.repeat):
        for case in CASES:
            size, target = case
            start = time.perf_counter()
            totals[case], _ = library_call(size, target)
            library[case].append(time.perf_counter() - start)
            command = [sys.executable, "-m", "convtool", "invert", size, "--to", target]
            for timings, extra in ((table, []), (as_json, ["--json"])):
                start = time.perf_counter()
                subprocess.run(command + extra, stdout=subprocess.DEVNULL, check=True)
                timings[case].append(time.perf_counter() - start)
    rows = [
        "| invert SIZE --to TARGET | layers found | library ms | end to end ms (table) | end to end ms (--json) |",
        "|---|---:|---:|---:|---:|",
    ]
    worst = 0.0
    for case in CASES:
        medians = [statistics.median(s) for s in (library[case], table[case], as_json[case])]
        worst = max(worst, *medians)
        rows.append(
            f"| {case[0]} --to {case[1]} | {totals[case]:,} | "
            + " | ".join(f"{m * 1000:.1f}" for m in medians)
            + " |"
        )
    verdict = "meets" if worst < BAR else "MISSES"
    text = "\n".join(rows)
    print(text)
    print(f"slowest median {worst * 1000:.0f} ms: {verdict} the bar of {BAR * 1000:.0f} ms")
    write_section(
        "invert",
        f"## `invert --to` over the default search space (`benchmarks/bench_invert.py`)\n\n"
        f"{machine()}; {args.repeat} interleaved runs, medians. Space: stride 1-8, kernel 1-16, "
        f"dilation 1-3, padding 0..d(k-1), every legal output_padding (29,032 layers per dim). "
        f"Library: search + best 10 + nearest targets. Bar (SPEC §7): under {BAR * 1000:.0f} ms; "
        f"slowest median {worst * 1000:.0f} ms ({verdict} it).\n\n{text}\n",
    )


if __name__ == "__main__":
    main()
