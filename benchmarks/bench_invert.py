"""Time of `convtool invert` searches: `--to` over the default space (bar: under 0.5 s) and
`--factor` / `--stages` over the factor-aware space (bar: under 1 s).

    python benchmarks/bench_invert.py [--repeat 15]

Each case is timed twice: the library call (search, rank the best 10, nearest targets; or
the chains and each shown stage's best 3) in this process, and the command end to end in a
subprocess (table and --json). Runs are interleaved and medians reported; the results go to
benchmarks/results.md (section "invert").
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from results_md import machine, write_section

from convtool.design import _periodic, factor_search, search, stage_search, stage_search_to

# (arguments after `convtool invert`, bar in seconds)
TO_BAR, FACTOR_BAR = 0.5, 1.0
CASES = [
    # --to: typical upsamplers, the ones with the most solutions, none at all, 3-D
    ("28 --to 56", TO_BAR),
    ("50x100 --to 100x200", TO_BAR),
    ("1 --to 4", TO_BAR),
    ("4 --to 8", TO_BAR),
    ("7x7 --to 64x64", TO_BAR),
    ("28 --to 1000", TO_BAR),
    ("14x14x14 --to 28x28x28", TO_BAR),
    # --factor and --stages: vocoder factors in 1-D, a 2-D and a 3-D decoder
    ("80 --factor 8 --dims 1", FACTOR_BAR),
    ("80 --factor 20 --dims 1", FACTOR_BAR),
    ("80 --factor 32 --dims 1", FACTOR_BAR),
    ("80 --factor 300 --stages 2 --dims 1", FACTOR_BAR),
    ("80 --factor 300 --stages 3 --dims 1", FACTOR_BAR),
    ("80 --factor 256 --stages 4 --dims 1", FACTOR_BAR),
    ("1 --to 64 --stages 5", FACTOR_BAR),
    ("7 --to 64 --stages 3", FACTOR_BAR),
    ("4 --factor 8 --stages 3 --dims 3", FACTOR_BAR),
]


def spatial(text: str, ndim: int) -> tuple[int, ...]:
    values = tuple(int(v) for v in text.split("x"))
    return values * ndim if len(values) == 1 else values


def library_call(args: str) -> int:
    """What the command computes, in this process, from a cold start (the per-(k, s, d) cache
    emptied, as in a new process); returns how many layers (or chains) it found."""
    _periodic.cache_clear()
    words = args.split()
    opts = dict(zip(words[1::2], words[2::2]))
    nd = int(opts.get("--dims", max(len(w.split("x")) for w in words[::2] if w[0].isdigit())))
    nd = max(nd, 2) if "--dims" not in opts else nd
    size = spatial(words[0], nd)
    if "--stages" in opts:
        stages = int(opts["--stages"])
        if "--factor" in opts:
            found = stage_search(size, spatial(opts["--factor"], nd), stages)
        else:
            found = stage_search_to(size, spatial(opts["--to"], nd), stages)
        for chain in found.chains[:10]:
            for stage in chain.stages:
                stage.solutions(3)
        return len(found.chains)
    if "--factor" in opts:
        result = factor_search(size, spatial(opts["--factor"], nd))
    else:
        result = search(size, spatial(opts["--to"], nd))
    result.solutions(10)
    result.nearest()
    return result.total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    library: dict[str, list[float]] = {case: [] for case, _ in CASES}
    table: dict[str, list[float]] = {case: [] for case, _ in CASES}
    as_json: dict[str, list[float]] = {case: [] for case, _ in CASES}
    totals: dict[str, int] = {}
    for _ in range(args.repeat):
        for case, _ in CASES:
            start = time.perf_counter()
            totals[case] = library_call(case)
            library[case].append(time.perf_counter() - start)
            command = [sys.executable, "-m", "convtool", "invert", *case.split()]
            for timings, extra in ((table, []), (as_json, ["--json"])):
                start = time.perf_counter()
                subprocess.run(command + extra, stdout=subprocess.DEVNULL, check=True)
                timings[case].append(time.perf_counter() - start)
    rows = [
        "| convtool invert ... | found | bar ms | library ms | end to end ms (table) | end to end ms (--json) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    misses = []
    for case, bar in CASES:
        medians = [statistics.median(s) for s in (library[case], table[case], as_json[case])]
        if max(medians) >= bar:
            misses.append(case)
        rows.append(
            f"| {case} | {totals[case]:,} | {bar * 1000:.0f} | "
            + " | ".join(f"{m * 1000:.1f}" for m in medians)
            + " |"
        )
    verdict = f"MISSES the bar: {', '.join(misses)}" if misses else "every case meets its bar"
    text = "\n".join(rows)
    print(text)
    print(verdict)
    write_section(
        "invert",
        f"## `invert` searches (`benchmarks/bench_invert.py`)\n\n"
        f"{machine()}; {args.repeat} interleaved runs, medians. `--to`: the default space (stride 1-8, "
        f"kernel 1-16, dilation 1-3, padding 0..d(k-1), every legal output_padding: 29,032 layers per dim), "
        f"bar under {TO_BAR * 1000:.0f} ms. `--factor F`: stride F, kernel up to max(16, 4F), bar under "
        f"{FACTOR_BAR * 1000:.0f} ms, as for `--stages` (stage factors up to 32; found = chains). Library: the "
        f"search + best 10 + nearest targets (stages: the chains and each shown stage's best 3); "
        f"{verdict}.\n\n{text}\n",
    )


if __name__ == "__main__":
    main()
