"""Plans: how one layer runs on one input shape. The strategy, its per-axis tables (output
phases, kernel taps, input planes), the flat layout and the tiles, computed once per layer
and shape (plans are cached) and shared by the cost model and the kernels.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from math import prod

from ..errors import ConfigError
from ..params import ConvParams
from . import cost
from .threads import balanced

Tiles = tuple[tuple[int, int, int, int], ...]  # (first image, end image, first row, end row)

STRATEGIES = {
    "conv_transpose2d": ("columns", "scatter", "gather", "gemm"),
    "conv2d": ("columns", "gather", "im2col", "gemm"),
}
TILE_BYTES = 4 << 20  # temporary columns per tile (1 and 2 MiB measured no faster)
TILE_COLUMNS = 2048  # yet up to this many GEMM columns per tile: 2·K (at least 512) of them,
# as a GEMM with a long inner dimension K loses speed on narrow tiles


def strategies(params: ConvParams, spatial: tuple[int, ...]) -> tuple[str, ...]:
    """The strategies that can run the layer on inputs of this spatial size: all of
    STRATEGIES[params.op], but ``gemm`` only where the layer is one matrix product.

    >>> strategies(ConvParams.conv_transpose(4), (1, 1))
    ('columns', 'scatter', 'gather', 'gemm')
    >>> strategies(ConvParams.conv(4), (8, 8))
    ('columns', 'gather', 'im2col')
    """
    if _product(params, tuple(spatial)):
        return STRATEGIES[params.op]
    return tuple(name for name in STRATEGIES[params.op] if name != "gemm")


def _product(params: ConvParams, spatial: tuple[int, ...]) -> str:
    """How the layer is one matrix product on inputs of this spatial size, if it is: "pixels"
    (a 1x1 kernel at stride 1, no padding: each output pixel from its own input pixel) or
    "whole" (the kernel meets the input in one place: a transposed layer on a 1x1 input, a
    convolution whose kernel covers its input; no padding, no dilation); else ""."""
    unpadded = not any(params.padding) if params.transposed else not any(map(any, params.padding_pairs))
    if not unpadded or any(params.output_padding or ()):
        return ""
    if all(k == 1 for k in params.kernel_size) and all(s == 1 for s in params.stride):
        return "pixels"
    meets = all(i == 1 for i in spatial) if params.transposed else tuple(spatial) == tuple(params.kernel_size)
    undilated = all(d == 1 or k == 1 for d, k in zip(params.dilation, params.kernel_size))
    return "whole" if meets and undilated else ""


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
    In the flat layout position a sits at `lead + a`, rows of `pitch` along the last axis.
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
    # one guard of max(lo, hi) zeros after each row serves both neighbours (reads wrap into it)
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
    input_shape: tuple[int, int, int, int]
    output_shape: tuple[int, int, int, int]
    strategy: str
    axes: tuple[Axis, Axis]
    itemsize: int
    estimates: tuple[tuple[str, float], ...] = ()  # (strategy, estimated seconds), for reports
    split: str = ""  # "groups", "images", "tiles" or "channels": what the threads share out
    parts: int = 1  # the threads that each run a share

    @property
    def groups(self) -> int:
        return self.params.groups

    @functools.cached_property
    def product(self) -> str:
        """How the layer is one matrix product on this input, if it is (see `_product`)."""
        return _product(self.params, self.input_shape[2:])

    @functools.cached_property
    def flat(self) -> Flat:
        return _flat_layout(self.axes, self.input_shape[0])

    @functools.cached_property
    def targets(self) -> tuple[tuple[int, int, Phase, Phase], ...]:
        """The output phases (rh, rw, height phase, width phase) that hold any output."""
        ah, aw = self.axes
        return tuple(
            (rh, rw, ph_h, ph_w)
            for rh, ph_h in enumerate(ah.phases)
            for rw, ph_w in enumerate(aw.phases)
            if ph_h.count and ph_w.count
        )

    @functools.cached_property
    def sources(self) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int, int], ...]]:
        """The distinct (plane, flat offset) inputs, numbered in kernel order, and per output
        phase (numbered as `targets`) and tap: (phase, tap, input number)."""
        kw = self.params.kernel_size[1]
        pitch, planes_w = self.axes[1].pitch, self.axes[1].in_step
        index: dict[tuple[int, int], int] = {}
        entries = []
        for r, (_, _, ph_h, ph_w) in enumerate(self.targets):
            for th, plh, oh in ph_h.taps:
                for tw, plw, ow in ph_w.taps:
                    key = (plh * planes_w + plw, oh * pitch + ow)
                    entries.append((r, th * kw + tw, index.setdefault(key, len(index))))
        return tuple(index), tuple(entries)

    @functools.cached_property
    def direct(self) -> bool:
        """The input planes themselves are the stack of sources: every tap reads its own plane
        at offset 0 (a convolution whose kernel equals its stride, e.g. k2 s2)."""
        planes = self.axes[0].in_step * self.axes[1].in_step
        return self.sources[0] == tuple((plane, 0) for plane in range(planes))

    @functools.cached_property
    def tiles(self) -> Tiles:
        """(first image, end image, first row, end row) of every tile; the columns strategy
        takes whole images (rows 0, 0)."""
        n, cin, h, w = self.input_shape
        cout, ho, wo = self.output_shape[1:]
        cig, taps = cin // self.groups, prod(self.params.kernel_size)
        if self.strategy == "gemm":
            return ((0, n, 0, 0),)
        if self.strategy == "im2col":
            return tuple(_im2col_tiles(n, ho, wo * cin * taps * self.itemsize, cig * taps, wo))
        if self.strategy == "columns":
            per_image = h * w if self.params.transposed else ho * wo
            column = (cout if self.params.transposed else cin) * taps * self.itemsize
            k = cig if self.params.transposed else cig * taps
            return tuple((n0, n1, 0, 0) for n0, n1 in _image_tiles(n, per_image * column, per_image, k))
        sources = len(self.sources[0])
        if self.strategy == "scatter":
            column, k = cout * taps, cig
        else:
            column, k = cin * (0 if self.direct else sources) + cout * len(self.targets), cig * sources
        return tuple(_row_tiles(n, self.flat, column * self.itemsize, k))

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
        return make_plan(params, (n, cin, *spatial_in), (n, cout, *spatial_out), self.itemsize, self.strategy)



@functools.lru_cache(maxsize=512)
def make_plan(
    params: ConvParams,
    input_shape: tuple[int, int, int, int],
    output_shape: tuple[int, int, int, int],
    itemsize: int,
    strategy: str | None = None,
    threads: int = 1,
) -> Plan:
    """The plan for a validated layer and shapes; the cost model picks the strategy unless given,
    and how up to `threads` threads share the work (`cost.split`).

    >>> p = ConvParams.conv_transpose(4, 2, 1, in_channels=64, out_channels=3)
    >>> make_plan(p, (16, 64, 32, 32), (16, 3, 64, 64), 4).strategy
    'scatter'
    """
    (hi, wi), (ho, wo) = input_shape[2:], output_shape[2:]
    if params.transposed:
        axes = tuple(
            _transpose_axis(i, k, s, p, d, o)
            for i, k, s, p, d, o in zip(
                (hi, wi), params.kernel_size, params.stride, params.padding, params.dilation, (ho, wo)
            )
        )
    else:
        axes = tuple(
            _conv_axis(i, k, s, a, b, d, o)
            for i, k, s, (a, b), d, o in zip(
                (hi, wi), params.kernel_size, params.stride, params.padding_pairs, params.dilation,
                (ho, wo),
            )
        )
    candidates = {
        name: Plan(params, input_shape, output_shape, name, axes, itemsize)  # type: ignore[arg-type]
        for name in strategies(params, input_shape[2:])
    }
    if strategy is not None and strategy not in candidates:  # gemm, the one that does not always apply
        raise ConfigError(
            f"strategy {strategy!r} does not apply to this layer on a {hi}x{wi} input: it runs only a 1x1 kernel "
            "at stride 1, a transposed layer on a 1x1 input or a kernel covering its input, without padding",
            hint=f"use one of {', '.join(candidates)}",
        )
    estimates = tuple((name, cost.estimate(plan)) for name, plan in candidates.items())
    chosen = candidates[strategy or min(estimates, key=lambda e: e[1])[0]]
    split, parts = cost.split(chosen, dict(estimates)[chosen.strategy], threads)
    return replace(chosen, estimates=estimates, split=split, parts=parts)



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




@dataclass(frozen=True)
class Flat:
    """The flat layout: plane position (a, b) of image n at lead + (n·image_rows + a)·pitch + b.

    Zero guards (transposed layers) and zero padding (convolutions) are part of the grid; the
    images follow each other channel by channel, so one GEMM covers many images.
    """

    lead: int
    pitch: int
    image_rows: int
    rows: int  # output rows per image to compute
    length: int
    lo: int  # smallest tap offset
    hi: int  # largest tap offset

    def span(self, tile: tuple[int, int, int, int]) -> tuple[int, int]:
        """(first flat output position, number of positions) of a tile."""
        n0, n1, q0, q1 = tile
        return (n0 * self.image_rows + q0) * self.pitch, ((n1 - n0 - 1) * self.image_rows + q1 - q0) * self.pitch


def _flat_layout(axes: tuple[Axis, Axis], n: int) -> Flat:
    ah, aw = axes
    offsets = [
        oh * aw.pitch + ow
        for ph_h in ah.phases for _, _, oh in ph_h.taps
        for ph_w in aw.phases for _, _, ow in ph_w.taps
    ] or [0]
    lead = ah.lead * aw.pitch + aw.lead
    length = lead + n * ah.pitch * aw.pitch + max(0, max(offsets))
    return Flat(lead, aw.pitch, ah.pitch, ah.rows, length, min(offsets), max(offsets))



def _row_tiles(n: int, flat: Flat, column_bytes: int, k: int) -> Iterator[tuple[int, int, int, int]]:
    """(first image, end image, first row, end row) tiles: whole images, or bands of one image."""
    band = max(1, TILE_BYTES // max(column_bytes * flat.pitch, 1), -(-_min_columns(k) // flat.pitch))
    if band >= flat.image_rows:
        columns = flat.image_rows * flat.pitch
        for n0, n1 in _image_tiles(n, columns * column_bytes, columns, k):
            yield n0, n1, 0, flat.image_rows
        return
    band = max(band, 8 * (flat.hi - flat.lo) // flat.pitch + 1)  # keep the recomputed halo small
    for i in range(n):
        for q0, q1 in balanced(flat.rows, band):
            yield i, i + 1, q0, q1
