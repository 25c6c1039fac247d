"""The numeric engine against PyTorch, float32 on 2 threads.

    python benchmarks/bench_numeric.py [--rounds 7] [--only dcgan] [--dims 1] [--strategies] [--no-write]

For every layer (2-D: DCGAN generator, U-Net decoder, k3 s2 op1, depthwise, stride 4; 1-D:
vocoder upsamplers; 3-D: U-Net decoder layers) and the convolution that it inverts, at batch
1 and 16 (3-D: 1 and 2): median milliseconds of convtool and torch,
their ratio and GFLOP/s (2 · MACs / time). Repetitions are interleaved (convtool, torch,
convtool, ...) with a pause before each switch, so that neither library's idle threads
(OpenBLAS and OpenMP spin for a while after a call) steal the cores from the other, and
a wait for other processes to leave the cores idle (the machine may be shared); a group
during which the hypervisor took the cores (Linux's steal time) is timed again.
`--strategies` also times every strategy of the engine, forced, next to the cost model's
choice. Needs torch; writes the "numeric" section of benchmarks/results.md.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from results_md import machine, write_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from convtool import numeric  # noqa: E402
from convtool.params import ConvParams  # noqa: E402

THREADS = 2
PAUSE = 0.2  # seconds before each switch: OpenBLAS threads spin ~0.12 s after a call
QUIET_WAIT = 20.0  # at most this long, wait for other processes to leave the cores idle
STEAL_SHARE = 0.1  # a timed group the hypervisor took more than this share of the cores from ...
STEAL_RETRIES = 3  # ... is timed again, this many times at most


def cpu_ticks() -> list[int] | None:
    """The machine's CPU time so far, in clock ticks summed over the cores, per kind (Linux's
    /proc/stat: user, nice, system, idle, iowait, irq, softirq, steal, ...); None elsewhere."""
    try:
        return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None


def cpu_idle(window: float = 0.25) -> float | None:
    """The fraction of CPU time spent idle (or waiting for I/O) over `window` seconds."""
    before = cpu_ticks()
    time.sleep(window)
    after = cpu_ticks()
    if before is None or after is None or len(before) < 5:
        return None
    spent = [b - a for a, b in zip(before, after)]
    return (spent[3] + spent[4]) / max(sum(spent), 1)


def stolen_seconds() -> float | None:
    """CPU time the hypervisor has taken from this virtual machine so far ("steal"), summed
    over the cores; None where the system does not tell."""
    ticks = cpu_ticks()
    if ticks is None or len(ticks) < 8 or not hasattr(os, "sysconf"):
        return None
    return ticks[7] / os.sysconf("SC_CLK_TCK")


def settle() -> bool:
    """Pause so that idle library threads stop spinning, then wait (a while) for other
    processes on a shared machine to leave the cores idle; False if that wait gave up."""
    time.sleep(PAUSE)
    deadline = time.perf_counter() + QUIET_WAIT
    while True:
        idle = cpu_idle()
        if idle is None or idle >= 0.9:
            return True
        if time.perf_counter() > deadline:
            return False


@dataclass(frozen=True)
class Layer:
    """A transposed layer (square in its `ndim` dims); its convolution twin maps the output
    back with the same weight."""

    name: str
    cin: int
    cout: int
    kernel: int
    stride: int
    padding: int
    size: int
    output_padding: int = 0
    groups: int = 1
    ndim: int = 2
    batches: tuple[int, ...] = (1, 16)

    def params(self, transposed: bool) -> ConvParams:
        if transposed:
            return ConvParams.conv_transpose(
                self.kernel, self.stride, self.padding, self.output_padding, self.groups, False,
                in_channels=self.cin, out_channels=self.cout, ndim=self.ndim,
            )
        return ConvParams.conv(
            self.kernel, self.stride, self.padding, 1, self.groups, False,
            in_channels=self.cout, out_channels=self.cin, ndim=self.ndim,
        )

    def op(self, transposed: bool) -> str:
        return f"conv_transpose{self.ndim}d" if transposed else f"conv{self.ndim}d"

    @property
    def out_size(self) -> int:
        return (self.size - 1) * self.stride - 2 * self.padding + self.kernel + self.output_padding


LAYERS = (
    Layer("DCGAN 100→512 k4 s1 1×1", 100, 512, 4, 1, 0, 1),
    Layer("DCGAN 512→256 k4 s2 p1 4×4", 512, 256, 4, 2, 1, 4),
    Layer("DCGAN 256→128 k4 s2 p1 8×8", 256, 128, 4, 2, 1, 8),
    Layer("DCGAN 128→64 k4 s2 p1 16×16", 128, 64, 4, 2, 1, 16),
    Layer("DCGAN 64→3 k4 s2 p1 32×32", 64, 3, 4, 2, 1, 32),
    Layer("U-Net 1024→512 k2 s2 28×28", 1024, 512, 2, 2, 0, 28),
    Layer("U-Net 128→64 k2 s2 136×136", 128, 64, 2, 2, 0, 136),
    Layer("256→128 k3 s2 p1 op1 64×64", 256, 128, 3, 2, 1, 64, output_padding=1),
    Layer("depthwise 256 k4 s2 p1 32×32", 256, 256, 4, 2, 1, 32, groups=256),
    Layer("64→32 k8 s4 p2 32×32", 64, 32, 8, 4, 2, 32),
    Layer("vocoder 512→256 k16 s8 p4 200", 512, 256, 16, 8, 4, 200, ndim=1),
    Layer("vocoder 512→256 k16 s8 p4 400", 512, 256, 16, 8, 4, 400, ndim=1),
    Layer("HiFi-GAN 256→128 k16 s8 p4 1600", 256, 128, 16, 8, 4, 1600, ndim=1),
    Layer("HiFi-GAN 128→64 k4 s2 p1 12800", 128, 64, 4, 2, 1, 12800, ndim=1),
    Layer("3-D U-Net 64→32 k2 s2 32³", 64, 32, 2, 2, 0, 32, ndim=3, batches=(1, 2)),
    Layer("3-D U-Net 32→16 k2 s2 64³", 32, 16, 2, 2, 0, 64, ndim=3, batches=(1,)),
    Layer("3-D 32→32 k3 s1 p1 32³", 32, 32, 3, 1, 1, 32, ndim=3, batches=(1, 2)),
)


@dataclass
class Case:
    """One layer, direction and batch with its callables and timings."""

    layer: Layer
    transposed: bool
    batch: int
    calls: dict[str, Callable[[], object]]
    macs: int
    strategy: str
    times: dict[str, list[float]]

    def median(self, name: str) -> float:
        return statistics.median(self.times[name])


def make_case(layer: Layer, transposed: bool, batch: int, strategies: bool) -> Case:
    rng = np.random.default_rng(0)
    params = layer.params(transposed)
    size = layer.size if transposed else layer.out_size
    cin = layer.cin if transposed else layer.cout
    nd = layer.ndim
    x = rng.standard_normal((batch, cin, *(size,) * nd), dtype=np.float32)
    w = rng.standard_normal((layer.cin, layer.cout // layer.groups, *(layer.kernel,) * nd), dtype=np.float32)
    xt, wt = torch.from_numpy(x), torch.from_numpy(w)
    s, p, g = layer.stride, layer.padding, layer.groups
    ours, theirs = getattr(numeric, layer.op(transposed)), getattr(torch.nn.functional, layer.op(transposed))
    calls: dict[str, Callable[[], object]]
    if transposed:
        op = layer.output_padding
        calls = {"convtool": lambda: ours(x, w, None, s, p, op, g), "torch": lambda: theirs(xt, wt, None, s, p, op, g)}
    else:
        calls = {"convtool": lambda: ours(x, w, None, s, p, 1, g), "torch": lambda: theirs(xt, wt, None, s, p, 1, g)}
    out = np.asarray(calls["convtool"]())
    ref = calls["torch"]().numpy()  # type: ignore[attr-defined]
    err = float(np.abs(out - ref).max() / max(np.abs(ref).max(), 1e-30))
    if err > 1e-4:
        raise AssertionError(f"{layer.name}: convtool differs from torch by {err:.2e} (relative)")
    plan = numeric.make_plan(params, x.shape, ref.shape, 4)
    if layer.groups == 1:  # one bare matrix product of the same FLOPs, in the layer's own shape
        taps = layer.kernel**nd
        m, k = (layer.cout * taps, layer.cin) if transposed else (layer.cin, layer.cout * taps)
        pixels = batch * (size**nd if transposed else math.prod(ref.shape[2:]))
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, pixels), dtype=np.float32)
        calls["gemm"] = lambda: a @ b
    if strategies:
        for name in numeric.strategies(params, x.shape[2:]):
            calls[name] = lambda name=name: numeric.run(params, x, w, None, strategy=name)
    spatial = math.prod(ref.shape[2:]) if not transposed else size**nd
    macs = batch * w.size * spatial
    return Case(layer, transposed, batch, calls, macs, plan.strategy, {name: [] for name in calls})


def measure(case: Case, rounds: int, stats: dict[str, int]) -> None:
    """Interleaved rounds; in each, per callable: settle, warm up, then time a few calls."""
    for _ in range(rounds):
        for name, call in case.calls.items():
            stats["groups"] = stats.get("groups", 0) + 1
            quiet = True
            for attempt in range(STEAL_RETRIES + 1):
                quiet = settle() and quiet
                call()
                inner = max(1, min(5, int(0.05 / max(min(case.times[name], default=0.05), 1e-6))))
                samples = []
                stolen, begin = stolen_seconds(), time.perf_counter()
                for _ in range(inner):
                    start = time.perf_counter()
                    call()
                    samples.append(time.perf_counter() - start)
                after, elapsed = stolen_seconds(), time.perf_counter() - begin
                if stolen is None or after is None:
                    break
                # one tick may fall in any short group; more, above the share, is a disturbed group
                if after - stolen <= max(1 / os.sysconf("SC_CLK_TCK"), STEAL_SHARE * elapsed * THREADS):
                    break
                stats["repeats"] = stats.get("repeats", 0) + 1
                if attempt == STEAL_RETRIES:
                    stats["stolen_kept"] = stats.get("stolen_kept", 0) + 1
            stats["busy"] = stats.get("busy", 0) + (not quiet)
            case.times[name].extend(samples)


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def table(cases: list[Case], strategies: bool) -> str:
    head = ("| layer | op | N | strategy | convtool ms | torch ms | ratio | convtool GFLOP/s | torch GFLOP/s "
            "| x bare GEMM |")
    rule = "|---|---|---:|---|---:|---:|---:|---:|---:|---:|"
    extra = sorted({name for c in cases for name in c.calls} - {"convtool", "torch", "gemm"}) if strategies else []
    if extra:
        head += "".join(f" {name} ratio |" for name in extra)
        rule += "---:|" * len(extra)
    rows = [head, rule]
    for c in cases:
        ours, theirs = c.median("convtool"), c.median("torch")
        vs_gemm = f"{ours / c.median('gemm'):.2f}" if "gemm" in c.times else ""
        op = c.layer.op(c.transposed)
        row = (
            f"| {c.layer.name} | {op} | {c.batch} | {c.strategy} | {ours * 1e3:.2f} | {theirs * 1e3:.2f} "
            f"| {ours / theirs:.2f} | {2 * c.macs / ours / 1e9:.1f} | {2 * c.macs / theirs / 1e9:.1f} "
            f"| {vs_gemm} |"
        )
        for name in extra:
            row += f" {c.median(name) / theirs:.2f} |" if name in c.times else " |"
        rows.append(row)
    return "\n".join(rows)


# The bars: the geometric mean of each op and dims; no layer above 2x; above 1.5x named with its floor
BARS = {"conv_transpose2d": 0.8, "conv2d": 1.0, "conv_transpose1d": 1.0, "conv1d": 1.0,
        "conv_transpose3d": 1.5, "conv3d": 1.5}
LAYER_BAR, NAMED = 2.0, 1.5


def summary(cases: list[Case]) -> str:
    lines = []
    for label, bar in BARS.items():
        subset = [c for c in cases if c.layer.op(c.transposed) == label]
        if not subset:
            continue
        ratios = [c.median("convtool") / c.median("torch") for c in subset]
        worst = max(zip(ratios, subset), key=lambda rc: rc[0])
        meets = geomean(ratios) <= bar and worst[0] <= LAYER_BAR
        lines.append(
            f"- {label}: geometric mean {geomean(ratios):.2f}x torch's time over {len(subset)} layers, "
            f"range {min(ratios):.2f}-{worst[0]:.2f}x (worst: {worst[1].layer.name}, N={worst[1].batch}); "
            f"bar ≤ {bar}x mean and ≤ {LAYER_BAR}x per layer: {'met' if meets else 'not met'}"
        )
    slow = [c for c in cases if c.median("convtool") / c.median("torch") > NAMED]
    if slow:
        lines.append(f"\nLayers above {NAMED}x torch, with their floor (one bare numpy GEMM of the same FLOPs in the "
                     "layer's own shape; depthwise layers have none, their work is many tiny products):\n")
        for c in slow:
            floor = (f"bare GEMM {c.median('gemm') * 1e3:.2f} ms, convtool {c.median('convtool') / c.median('gemm'):.2f}x it, "
                     f"torch {c.median('torch') / c.median('gemm'):.2f}x it" if "gemm" in c.times else "no single GEMM")
            lines.append(f"- {c.layer.name} {c.layer.op(c.transposed)} N={c.batch}: "
                         f"{c.median('convtool') / c.median('torch'):.2f}x torch; {floor}")
    return "\n".join(lines)


def main() -> None:
    global QUIET_WAIT
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", default="", help="only layers whose name contains this text")
    parser.add_argument("--op", choices=("transposed", "conv", "both"), default="both")
    parser.add_argument("--dims", type=int, choices=(1, 2, 3), help="only layers of this many spatial dims")
    parser.add_argument("--batch", type=int, help="only this batch size")
    parser.add_argument("--quiet-wait", type=float, default=QUIET_WAIT,
                        help="at most this many seconds to wait for idle cores before each timed group")
    parser.add_argument("--strategies", action="store_true", help="also time every strategy, forced")
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/results.md")
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    numeric.set_num_threads(THREADS)
    directions = {"transposed": (True,), "conv": (False,), "both": (True, False)}[args.op]
    QUIET_WAIT = args.quiet_wait
    cases = []
    stats: dict[str, int] = {}
    for transposed in directions:
        for layer in LAYERS:
            if args.only.lower() not in layer.name.lower() or args.dims not in (None, layer.ndim):
                continue
            for batch in layer.batches:
                if args.batch not in (None, batch):
                    continue
                case = make_case(layer, transposed, batch, args.strategies)
                measure(case, args.rounds, stats)
                cases.append(case)
                ratio = case.median("convtool") / case.median("torch")
                op = layer.op(transposed)
                print(f"{layer.name:32s} {op:16s} N={batch:<3d} {case.strategy:8s} "
                      f"{case.median('convtool') * 1e3:9.2f} ms  torch {case.median('torch') * 1e3:9.2f} ms"
                      f"  ratio {ratio:5.2f}", flush=True)
    text = table(cases, args.strategies)
    print()
    print(text)
    print()
    print(summary(cases))
    busy = (
        f"{stats.get('busy', 0)} of {stats.get('groups', 0)} timed groups started while other processes kept the "
        f"cores busy; {stats.get('repeats', 0)} timings were repeated because the hypervisor took over "
        f"{STEAL_SHARE:.0%} of the cores' time (steal) meanwhile, and {stats.get('stolen_kept', 0)} groups were kept still disturbed after "
        f"{STEAL_RETRIES} retries"
    )
    print(busy)
    if args.no_write or args.only or args.batch or args.dims or args.op != "both" or args.strategies:
        return
    write_section(
        "numeric",
        f"## Numeric engine vs torch (`benchmarks/bench_numeric.py`)\n\n{machine()}; numpy "
        f"{np.__version__}, torch {torch.__version__}, float32, {THREADS} threads for both; "
        f"{args.rounds} interleaved rounds, medians. Ratio = convtool's time / torch's time "
        f"(below 1 is faster). GFLOP/s = 2·MACs / time; x bare GEMM = convtool's time / one numpy "
        f"matrix product of the same FLOPs in the layer's own shape. Bars: geometric mean per op "
        f"and dims ≤ {', '.join(f'{op} {bar}x' for op, bar in BARS.items())}; no layer above {LAYER_BAR}x, "
        f"each above {NAMED}x named with its floor. The machine is shared: before each timed group the script waits "
        f"(up to {QUIET_WAIT:g} s) for the cores to go idle, and it times a group again when the "
        f"hypervisor took the cores meanwhile; {busy}.\n\n{text}\n\n{summary(cases)}\n",
    )


if __name__ == "__main__":
    main()
