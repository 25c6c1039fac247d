"""The cost model: the estimated seconds of a plan, which picks the strategy of each layer, and
how threads share a plan out.

The constants are seconds per unit, measured on the benchmark machine (an "Intel Xeon
Processor" virtual machine, 2 cores, AVX-512, 4 MiB L2 per core; numpy 2.4's OpenBLAS) on
22 November 2026, from timings of numpy passes, BLAS calls and products of every shape the
strategies make. They are float32 figures; float64 moves twice the bytes. On another machine the
model still ranks the strategies sensibly, as its terms are counts of work of each kind, but
the crossovers move.
"""

from __future__ import annotations

from math import prod
from typing import TYPE_CHECKING

from .. import shape
from . import threads

if TYPE_CHECKING:
    from .plan import Plan

_BLAS_SERIAL_MACS = 1 << 18  # OpenBLAS runs a smaller product on the calling thread alone
SPLIT_SECONDS = 2e-3  # estimated work below which handing a share to another thread does not pay

# The GEMM runs on both cores, every other pass is one numpy loop on one.
_FLOP = 1 / 140e9
_BLAS_CALL = 2e-6  # one call; one big enough for both cores costs _BLAS_SYNC more
_BLAS_SYNC = 4e-6
_GEMM_BYTE = 1 / 12e9  # a GEMM with a short inner dimension is bound by its memory traffic
_ELEMENT = 0.35e-9  # one element of a contiguous numpy pass
_STRIDED = 1.2e-9  # one element of a transposing or strided pass
_LOOP = 15e-9  # one numpy inner loop
_CALL = 3e-6  # one numpy call from Python


def _gemm(m: int, k: int, n: int, itemsize: int, calls: int, groups: int = 1) -> float:
    """The time of an (m x k) @ (k x n) product for each of `groups` groups, in `calls` BLAS
    calls in all: short dims waste the vector units (K = 1 most of all)."""
    if min(m, k, n) == 0:
        return calls * _BLAS_CALL
    eff = 0.005 if k == 1 else min(1.0, k / 64) ** 0.6 * min(1.0, m / 32) ** 0.5 * min(1.0, n / 128) ** 0.3
    compute = 2 * m * k * n * groups * _FLOP * itemsize / 4 / eff
    traffic = (m * n + m * k + k * n) * groups * itemsize * _GEMM_BYTE
    threaded = 2 * m * k * n * groups > 1e6 * calls
    return max(compute, traffic) + calls * (_BLAS_CALL + _BLAS_SYNC * threaded)


def estimate(plan: Plan) -> float:
    """Estimated seconds of a plan: its GEMMs plus its numpy passes, element by element."""
    params, itemsize, strategy = plan.params, plan.itemsize, plan.strategy
    n, cin, cout, g, cig, cog, spatial_in, spatial_out, _, taps, pixels_in, pixels_out = plan.dims
    lines_in = pixels_in // max(spatial_in[-1], 1)  # numpy's inner loops run along the last axis
    lines_out = pixels_out // max(spatial_out[-1], 1)
    scale = itemsize / 4
    out_rows = n * cout * lines_out  # the output written line by line: one inner loop each
    if strategy == "gemm":
        bias = n * cout * pixels_out * _ELEMENT * scale if params.bias else 0.0
        if plan.product == "pixels":
            return _gemm(cog, cig, n * pixels_in, itemsize, n * g, g) + bias
        return _gemm(cog * pixels_out, cig * pixels_in, n, itemsize, g, g) + bias
    if strategy == "columns":
        pixels = n * (pixels_in if params.transposed else pixels_out)
        parts = len(plan.tiles)
        if params.transposed:
            gemm = _gemm(pixels, cig, cog * taps, itemsize, g * parts, g)
            per_tap = pixels * cout * (_ELEMENT * 3 if cin < pixels else _STRIDED)  # scatter-adds
        else:
            gemm = _gemm(pixels, cig * taps, cog, itemsize, g * parts, g)
            per_tap = pixels * cin * (_ELEMENT * 2 if cin < pixels else _STRIDED)  # im2col copies
        loops = taps * pixels * g * _LOOP + taps * parts * 4 * _CALL
        # to channels last and back; a convolution gathers its input across whole planes, twice as
        # slow, and its product comes out channels first (whole rows to move, none for one image)
        if params.transposed:
            transposes = (n * cin * pixels_in + 2 * n * cout * pixels_out) * _STRIDED
        else:
            transposes = n * cin * pixels_in * 2 * _STRIDED + (n > 1 or params.bias) * n * cout * pixels_out * _ELEMENT
        transposes += (out_rows + pixels * g) * _LOOP
        return gemm + (taps * per_tap + transposes) * scale + loops
    if strategy == "im2col":
        tiles = plan.tiles
        pairs = params.padding_pairs
        padded = prod(i + a + b for i, (a, b) in zip(spatial_in, pairs))
        fill = (n * cin * padded * _ELEMENT + n * cin * lines_in * _LOOP) if any(map(any, pairs)) else 0.0
        copies = taps * n * cin * pixels_out * (_STRIDED if max(params.stride) > 1 else _ELEMENT * 2)
        loops = taps * n * cin * lines_out * _LOOP + len(tiles) * taps * _CALL
        columns = sum((n1 - n0) * (q1 - q0) for n0, n1, q0, q1 in tiles) * (pixels_out // max(spatial_out[0], 1))
        gemm = _gemm(cog, cig * taps, columns, itemsize, g * sum(n1 - n0 for n0, n1, _, _ in tiles), g)
        return gemm + (fill + copies + (n * cout * pixels_out * _ELEMENT if plan.params.bias else 0)) * scale + loops
    flat, tiles = plan.flat, plan.tiles
    span = sum(flat.span(tile)[1] for tile in tiles)
    halo = flat.hi - flat.lo
    phases = len(plan.targets)
    fill = cin * flat.length * _ELEMENT + n * cin * pixels_in * _STRIDED + n * cin * lines_in * _LOOP
    emit = n * cout * pixels_out * _STRIDED + out_rows * _LOOP + len(tiles) * phases * 4 * _CALL
    if strategy == "scatter":
        gemm = _gemm(cog * taps, cig, span + len(tiles) * halo, itemsize, g * len(tiles), g)
        adds = max(0, taps - phases) * cout * span * _ELEMENT * 3 + len(tiles) * taps * 2 * _CALL
        return gemm + (fill + adds + emit) * scale
    if strategy == "shifts":  # one product per distinct offset over every plane, read in place; summed
        shifts = len({off for _, off in plan.sources[0]})
        planes = prod(axis.in_step for axis in plan.axes)
        gemm = _gemm(cog, cig * planes, span, itemsize, g * len(tiles) * shifts, g * shifts)
        adds = (shifts - 1) * cout * span * _ELEMENT * 3 + len(tiles) * shifts * 2 * _CALL
        weights = shifts * cout * cig * planes * _STRIDED * 2  # gathered tap by tap from the weight
        # its products read the input where the fill put it, so the fill's strided reads (a stride
        # along the lines) are all of its input work: measured half again as slow as _STRIDED
        lined = plan.axes[-1].in_step > 1
        return gemm + (fill + lined * n * cin * pixels_in * _STRIDED / 2 + adds + weights + emit) * scale
    sources = len(plan.sources[0])
    copies = 0.0 if plan.direct else sources * cin * span * _ELEMENT * 2 + len(tiles) * sources * _CALL
    if params.transposed:  # the weight matrix is assembled tap by tap, with strided writes
        copies += cog * phases * cin * sources * _ELEMENT + cin * cog * taps * _STRIDED + taps * _CALL
    gemm = _gemm(cog * phases, cig * sources, span, itemsize, g * len(tiles), g)
    return gemm + (fill + copies + emit) * scale


def split(plan: Plan, seconds: float, workers: int) -> tuple[str, int]:
    """How `workers` threads share a plan (estimated to take `seconds`) out: ("", 1) when one thread
    is better.

    Only layers with enough work are shared. Grouped layers whose products BLAS runs on one
    core anyway (depthwise) share out their groups. Other layers only when numpy's BLAS can be
    kept to one thread meanwhile (`threads.blas_threads`): by images, else by bands of rows, else by
    output channels when the input-side work is cheap to repeat.
    """
    params, d = plan.params, plan.dims
    n, cout = d.n, d.cout
    if workers == 1 or seconds < SPLIT_SECONDS:
        return "", 1
    if params.groups > 1:
        group_macs = shape.macs(params, n, d.spatial_in, d.spatial_out) // params.groups  # type: ignore[operator]
        if group_macs < _BLAS_SERIAL_MACS * len(plan.tiles):
            return "groups", min(workers, params.groups)
    if threads.blas_threads() is None:
        return "", 1
    if n >= 2:
        return "images", min(workers, n)
    if len(plan.tiles) >= 2 and plan.strategy != "columns":
        return "tiles", min(workers, len(plan.tiles))
    light = plan.strategy == "scatter" or (params.transposed and plan.strategy == "columns") or (
        plan.strategy == "gather" and plan.direct
    )
    if params.groups == 1 and light and cout >= 2 * workers:
        return "channels", workers
    return "", 1


