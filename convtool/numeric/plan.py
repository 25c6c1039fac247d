"""Plans: how one layer runs on one input shape, in any number of spatial dims. The strategy,
its per-axis tables (output phases, kernel taps, input planes), the flat layout and the tiles,
computed once per layer and shape (plans are cached) and shared by the cost model and the
kernels.

Every table is per axis, and the layer's are their products: an output phase of the layer is
one phase per axis, a kernel tap one tap per axis, a flat offset the sum of the axes' offsets
times their flat strides. Tiles are whole images, or bands along the first spatial axis.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from math import prod
from typing import NamedTuple

from ..errors import ConfigError
from ..params import ConvParams
from . import cost
from .threads import balanced

Tiles = tuple[tuple[int, int, int, int], ...]  # (first image, end image, first row, end row)

_TRANSPOSED = ("columns", "scatter", "gather", "gemm")
_CONV = ("columns", "gather", "shifts", "im2col", "gemm")
STRATEGIES = {
    **{f"conv_transpose{nd}d": _TRANSPOSED for nd in (1, 2, 3)},
    **{f"conv{nd}d": _CONV for nd in (1, 2, 3)},
}
TILE_BYTES = 4 << 20  # temporary columns per tile (1 and 2 MiB measured no faster)
TILE_COLUMNS = 2048  # yet up to this many GEMM columns per tile: 2·K (at least 512) of them,
# as a GEMM with a long inner dimension K loses speed on narrow tiles


def strategies(params: ConvParams, spatial: Sequence[int]) -> tuple[str, ...]:
    """The strategies that can run the layer on inputs of this spatial size: all of
    STRATEGIES[params.op], but ``gemm`` only where the layer is one matrix product.

    >>> strategies(ConvParams.conv_transpose(4), (1, 1))
    ('columns', 'scatter', 'gather', 'gemm')
    >>> strategies(ConvParams.conv(4, ndim=1), (8,))
    ('columns', 'gather', 'shifts', 'im2col')
    """
    if _product(params, tuple(spatial), _crops(params, tuple(spatial))):
        return STRATEGIES[params.op]
    return tuple(name for name in STRATEGIES[params.op] if name != "gemm")


def full_length(i: int, k: int, s: int, d: int) -> int:
    """The uncropped length of a transposed axis: every position some tap writes.

    >>> full_length(4, 3, 2, 1)
    9
    """
    return (i - 1) * s + d * (k - 1) + 1


def _crops(params: ConvParams, spatial: tuple[int, ...], begin: Sequence[int] | None = None,
           out: Sequence[int] | None = None) -> tuple[tuple[int, int], ...]:
    """Per axis, what is taken away from the input's extent at each end: a convolution's
    padding (negated), a transposed layer's crop of its full output (negative: zeros added)."""
    if not params.transposed:
        return tuple((-a, -b) for a, b in params.padding_pairs)
    begin = params.padding if begin is None else begin
    fulls = [full_length(i, k, s, d) for i, k, s, d in zip(spatial, params.kernel_size, params.stride, params.dilation)]
    if out is None:
        out = [f - 2 * p + op for f, p, op in zip(fulls, params.padding, params.output_padding)]
    return tuple((b, f - b - o) for b, f, o in zip(begin, fulls, out))


def _product(params: ConvParams, spatial: tuple[int, ...], crops: tuple[tuple[int, int], ...]) -> str:
    """How the layer is one matrix product on inputs of this spatial size, if it is: "pixels"
    (a 1x1 kernel at stride 1, no padding: each output pixel from its own input pixel) or
    "whole" (the kernel meets the input in one place: a transposed layer on a 1x1 input, a
    convolution whose kernel covers its input; no padding, no dilation); else ""."""
    if any(a or b for a, b in crops):
        return ""
    if all(k == 1 for k in params.kernel_size) and all(s == 1 for s in params.stride):
        return "pixels"
    meets = all(i == 1 for i in spatial) if params.transposed else tuple(spatial) == tuple(params.kernel_size)
    undilated = all(d == 1 or k == 1 for d, k in zip(params.dilation, params.kernel_size))
    return "whole" if meets and undilated else ""


class Dims(NamedTuple):
    """A plan's sizes, unpacked once: images, channels (per group too), spatial sizes, kernel."""

    n: int
    cin: int
    cout: int
    groups: int
    cig: int
    cog: int
    spatial_in: tuple[int, ...]
    spatial_out: tuple[int, ...]
    kernel: tuple[int, ...]
    taps: int
    pixels_in: int
    pixels_out: int


@dataclass(frozen=True)
class Phase:
    """Output positions r, r + step, ... (`count` of them); each reads input q + offset per tap."""

    count: int
    taps: tuple[tuple[int, int, int], ...]  # (kernel index, input plane, offset)


@dataclass(frozen=True)
class Axis:
    """One spatial axis of a layer: its output phases, its input planes and the flat layout.

    Input index i sits in plane `(i + before) % in_step` at position `(i + before) // in_step`
    (convolutions: space-to-depth by the stride; transposed layers: one plane, in_step 1).
    In the flat layout position a sits at `lead + a`, in lines of `pitch` along this axis.
    """

    size: int
    step: int  # output phases: the stride of a transposed layer, 1 for a convolution
    in_step: int
    before: int
    lead: int
    pitch: int
    phases: tuple[Phase, ...]

    @property
    def rows(self) -> int:
        """Output positions per phase to compute (the largest phase)."""
        return max(ph.count for ph in self.phases)

    def plane_span(self, plane: int) -> tuple[int, int, int]:
        """(first position, first input index, count) of the input data in one plane."""
        first = -(-(self.before - plane) // self.in_step) if self.before > plane else 0
        start = plane + self.in_step * first - self.before
        count = max(0, -(-(self.size - start) // self.in_step))
        return first, start, count

    def offsets(self) -> list[int]:
        """Every tap offset of every phase."""
        return [off for ph in self.phases for *_, off in ph.taps]


def _transpose_axis(i: int, k: int, s: int, p: int, d: int, o: int) -> Axis:
    """Output phase r holds outputs r + s*q; tap t writes it from input q + (r + p - t*d) / s."""
    phases = []
    lo = hi = 0
    for r in range(s):
        count = max(0, -(-(o - r) // s))
        taps = tuple((t, 0, (r + p - t * d) // s) for t in range(k) if (r + p - t * d) % s == 0)
        if count and taps:
            lo = max(lo, -min(off for *_, off in taps))
            hi = max(hi, count - 1 + max(off for *_, off in taps) - (i - 1))
        phases.append(Phase(count, taps if count else ()))
    # one guard of max(lo, hi) zeros after each line serves both neighbours (reads wrap into it)
    pitch = max(i + max(lo, hi), max(ph.count for ph in phases))
    return Axis(i, s, 1, 0, lo, pitch, tuple(phases))


def _conv_axis(i: int, k: int, s: int, before: int, after: int, d: int, o: int) -> Axis:
    """One output phase; tap t reads padded position q*s + t*d: plane t*d % s, offset t*d // s."""
    taps = tuple((t, (t * d) % s, (t * d) // s) for t in range(k))
    pitch = -(-(i + before + after) // s)
    return Axis(i, 1, s, before, 0, pitch, (Phase(o, taps),))


@dataclass(frozen=True)
class Plan:
    """How one layer runs on one batched input shape: the strategy and its tables, computed once
    (plans are cached) and shared by the cost estimate and the run."""

    params: ConvParams
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    strategy: str
    axes: tuple[Axis, ...]
    itemsize: int
    begin: tuple[int, ...] | None = None  # a transposed layer's crop at the start, if not its padding
    estimates: tuple[tuple[str, float], ...] = ()  # (strategy, estimated seconds), for reports
    split: str = ""  # "groups", "images", "tiles" or "channels": what the threads share out
    parts: int = 1  # the threads that each run a share

    @property
    def groups(self) -> int:
        return self.params.groups

    @functools.cached_property
    def dims(self) -> Dims:
        n, cin, *spatial_in = self.input_shape
        cout, *spatial_out = self.output_shape[1:]
        g, kernel = self.params.groups, tuple(self.params.kernel_size)
        return Dims(n, cin, cout, g, cin // g, cout // g, tuple(spatial_in), tuple(spatial_out), kernel,
                    prod(kernel), prod(spatial_in), prod(spatial_out))

    @functools.cached_property
    def product(self) -> str:
        """How the layer is one matrix product on this input, if it is (see `_product`)."""
        d = self.dims
        return _product(self.params, d.spatial_in, _crops(self.params, d.spatial_in, self.begin, d.spatial_out))

    @functools.cached_property
    def flat(self) -> Flat:
        return _flat_layout(self.axes, self.input_shape[0])

    @functools.cached_property
    def targets(self) -> tuple[tuple[tuple[int, ...], tuple[Phase, ...]], ...]:
        """The output phases (phase number per axis, phase per axis) that hold any output."""
        return tuple(
            (tuple(r for r, _ in pairs), tuple(ph for _, ph in pairs))
            for pairs in itertools.product(*(enumerate(axis.phases) for axis in self.axes))
            if all(ph.count for _, ph in pairs)
        )

    @functools.cached_property
    def sources(self) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int, int], ...]]:
        """The distinct (plane, flat offset) inputs, numbered in kernel order, and per output
        phase (numbered as `targets`) and tap: (phase, tap, input number)."""
        kernel, strides = self.dims.kernel, self.flat.strides
        planes = [axis.in_step for axis in self.axes]
        index: dict[tuple[int, int], int] = {}
        entries = []
        for r, (_, phases) in enumerate(self.targets):
            for taps in itertools.product(*(ph.taps for ph in phases)):
                plane = ravel([pl for _, pl, _ in taps], planes)
                key = (plane, sum(off * st for (*_, off), st in zip(taps, strides)))
                entries.append((r, ravel([t for t, _, _ in taps], kernel), index.setdefault(key, len(index))))
        return tuple(index), tuple(entries)

    @functools.cached_property
    def direct(self) -> bool:
        """The input planes themselves are the stack of sources: every tap reads its own plane
        at offset 0 (a convolution whose kernel equals its stride, e.g. k2 s2)."""
        planes = prod(axis.in_step for axis in self.axes)
        return self.sources[0] == tuple((plane, 0) for plane in range(planes))

    @functools.cached_property
    def tiles(self) -> Tiles:
        """(first image, end image, first row, end row) of every tile, rows along the first
        spatial axis; the columns strategy takes whole images (rows 0, 0)."""
        d = self.dims
        if self.strategy == "gemm":
            return ((0, d.n, 0, 0),)
        if self.strategy == "im2col":
            width = d.pixels_out // d.spatial_out[0]
            return tuple(_im2col_tiles(d.n, d.spatial_out[0], width * d.cin * d.taps * self.itemsize, d.cig * d.taps, width))
        if self.strategy == "columns":
            per_image = d.pixels_in if self.params.transposed else d.pixels_out
            column = (d.cout if self.params.transposed else d.cin) * d.taps * self.itemsize
            k = d.cig if self.params.transposed else d.cig * d.taps
            return tuple((n0, n1, 0, 0) for n0, n1 in _image_tiles(d.n, per_image * column, per_image, k))
        sources = len(self.sources[0])
        if self.strategy == "scatter":
            column, k = d.cout * d.taps, d.cig
        elif self.strategy == "shifts":  # the product and one partial product per column
            column, k = 2 * d.cout, d.cig * prod(axis.in_step for axis in self.axes)
        else:
            column, k = d.cin * (0 if self.direct else sources) + d.cout * len(self.targets), d.cig * sources
        return tuple(_row_tiles(d.n, self.flat, column * self.itemsize, k, self.strategy == "scatter"))

    def share(self, *, groups: int | None = None, images: int | None = None, out_channels: int | None = None) -> Plan:
        """One thread's share of the layer, same strategy: some of its groups (their channels),
        some of its images, or some of its output channels."""
        n, cin, *spatial_in = self.input_shape
        cout, *spatial_out = self.output_shape[1:]
        params = self.params
        if groups is not None:
            cin, cout = cin // self.groups * groups, cout // self.groups * groups
            params = params.replace(groups=groups, in_channels=cin, out_channels=cout)
        elif out_channels is not None:
            cout = out_channels
            params = params.replace(out_channels=cout)
        n = images or n
        return make_plan(params, (n, cin, *spatial_in), (n, cout, *spatial_out), self.itemsize, self.strategy,
                         begin=self.begin)


def ravel(index: Sequence[int], sizes: Sequence[int]) -> int:
    """The row-major number of a multi-index.

    >>> ravel((1, 2), (3, 4))
    6
    """
    number = 0
    for i, size in zip(index, sizes):
        number = number * size + i
    return number


@functools.lru_cache(maxsize=512)
def make_plan(
    params: ConvParams,
    input_shape: tuple[int, ...],
    output_shape: tuple[int, ...],
    itemsize: int,
    strategy: str | None = None,
    threads: int = 1,
    begin: tuple[int, ...] | None = None,
) -> Plan:
    """The plan for a validated layer and shapes; the cost model picks the strategy unless given,
    and how up to `threads` threads share the work (`cost.split`). A transposed layer's output
    starts `begin` positions into its full (uncropped) extent, its padding unless given.

    >>> p = ConvParams.conv_transpose(4, 2, 1, in_channels=64, out_channels=3)
    >>> make_plan(p, (16, 64, 32, 32), (16, 3, 64, 64), 4).strategy
    'scatter'
    """
    spatial_in, spatial_out = input_shape[2:], output_shape[2:]
    if params.transposed:
        axes = tuple(
            _transpose_axis(i, k, s, p, d, o)
            for i, k, s, p, d, o in zip(
                spatial_in, params.kernel_size, params.stride, params.padding if begin is None else begin,
                params.dilation, spatial_out,
            )
        )
    else:
        axes = tuple(
            _conv_axis(i, k, s, a, b, d, o)
            for i, k, s, (a, b), d, o in zip(
                spatial_in, params.kernel_size, params.stride, params.padding_pairs, params.dilation, spatial_out,
            )
        )
    crops = _crops(params, tuple(spatial_in), begin, spatial_out)
    names = [name for name in STRATEGIES[params.op] if name != "gemm" or _product(params, tuple(spatial_in), crops)]
    candidates = {name: Plan(params, input_shape, output_shape, name, axes, itemsize, begin) for name in names}
    if strategy is not None and strategy not in candidates:  # gemm, the one that does not always apply
        raise ConfigError(
            f"strategy {strategy!r} does not apply to this layer on a {'x'.join(map(str, spatial_in))} input: it "
            "runs only a 1x1 kernel at stride 1, a transposed layer on a 1x1 input or a kernel covering its "
            "input, without padding",
            hint=f"use one of {', '.join(candidates)}",
        )
    estimates = tuple((name, cost.estimate(plan)) for name, plan in candidates.items())
    chosen = candidates[strategy or min(estimates, key=lambda e: e[1])[0]]
    split, parts = cost.split(chosen, dict(estimates)[chosen.strategy], threads)
    return replace(chosen, estimates=estimates, split=split, parts=parts)


# == tiles ===================================================================================


def _min_columns(k: int) -> int:
    """The fewest GEMM columns per tile for an inner dimension k."""
    return min(TILE_COLUMNS, max(512, 2 * k))


def _image_tiles(n: int, per_image_bytes: int, per_image_columns: int, k: int) -> Iterator[tuple[int, int]]:
    least = -(-_min_columns(k) // max(per_image_columns, 1))
    return balanced(n, max(1, TILE_BYTES // max(per_image_bytes, 1), least))


def _im2col_tiles(n: int, rows: int, row_bytes: int, k: int, width: int) -> Iterator[tuple[int, int, int, int]]:
    """Tiles of the im2col strategy: whole images, or bands of output rows of one image."""
    band = max(1, TILE_BYTES // max(row_bytes, 1), -(-_min_columns(k) // max(width, 1)))
    if band >= rows:
        yield from ((n0, n1, 0, rows) for n0, n1 in _image_tiles(n, rows * row_bytes, rows * width, k))
        return
    for i in range(n):
        for q0, q1 in balanced(rows, band):
            yield i, i + 1, q0, q1


# == the flat layout =========================================================================


@dataclass(frozen=True)
class Flat:
    """The flat layout: position (a0, a1, ...) of image n at lead + (n·image_rows + a0)·pitch +
    a1·strides[1] + ..., each axis in lines of its own pitch (its `Axis.pitch`).

    Zero guards (transposed layers) and zero padding (convolutions) are part of the grid; the
    images follow each other channel by channel, so one GEMM covers many images. A read that
    leaves an axis lands in that axis's guard (the innermost axis it leaves decides), so it
    reads zero in any number of dims.
    """

    lead: int
    pitch: int  # positions per row (one step along the first axis)
    image_rows: int
    rows: int  # output rows per image to compute
    length: int
    lo: int  # smallest tap offset
    hi: int  # largest tap offset
    strides: tuple[int, ...]  # flat positions per step along each axis
    pitches: tuple[int, ...]  # each axis's line length

    def span(self, tile: tuple[int, int, int, int]) -> tuple[int, int]:
        """(first flat output position, number of positions) of a tile."""
        n0, n1, q0, q1 = tile
        return (n0 * self.image_rows + q0) * self.pitch, ((n1 - n0 - 1) * self.image_rows + q1 - q0) * self.pitch


def _flat_layout(axes: tuple[Axis, ...], n: int) -> Flat:
    pitches = tuple(axis.pitch for axis in axes)
    strides = tuple(prod(pitches[i + 1:]) for i in range(len(axes)))
    per_axis = [axis.offsets() for axis in axes]
    if all(per_axis):
        lo = sum(min(offs) * st for offs, st in zip(per_axis, strides))
        hi = sum(max(offs) * st for offs, st in zip(per_axis, strides))
    else:
        lo = hi = 0
    lead = sum(axis.lead * st for axis, st in zip(axes, strides))
    length = lead + n * pitches[0] * strides[0] + max(0, hi)
    return Flat(lead, strides[0], pitches[0], axes[0].rows, length, lo, hi, strides, pitches)


def _row_tiles(n: int, flat: Flat, column_bytes: int, k: int, halo: bool) -> Iterator[tuple[int, int, int, int]]:
    """(first image, end image, first row, end row) tiles: whole images, or bands of one image;
    `halo`: each band recomputes the columns its neighbours' taps reach (scatter)."""
    band = max(1, TILE_BYTES // max(column_bytes * flat.pitch, 1), -(-_min_columns(k) // flat.pitch))
    if band >= flat.image_rows:
        columns = flat.image_rows * flat.pitch
        for n0, n1 in _image_tiles(n, columns * column_bytes, columns, k):
            yield n0, n1, 0, flat.image_rows
        return
    if halo:  # keep the recomputed halo small (in 3-D a row is a whole plane: this makes bands deep)
        band = max(band, 8 * (flat.hi - flat.lo) // flat.pitch + 1)
    for i in range(n):
        for q0, q1 in balanced(flat.rows, band):
            yield i, i + 1, q0, q1
