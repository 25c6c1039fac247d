"""The numeric engine: PyTorch's conv2d and conv_transpose2d, and their modules, on numpy arrays.

Exact (float64 agrees with torch to 1e-10) and fast. Every strategy is one matrix product per
tile through numpy's BLAS plus a few numpy passes with long inner loops; a cost estimate picks
one per layer and input shape:

- ``columns``: a GEMM into channels-last columns, then per kernel tap a scatter-add (col2im, for
  transposed layers) or a gather before the GEMM (im2col, for convolutions). No padding waste:
  small maps with many channels.
- ``scatter`` (transposed layers): the input is laid out flat, rows padded by a zero guard that
  neighbouring rows share, so that every kernel tap reads at a constant offset. One GEMM per tile
  gives every tap's columns; each stride phase of the output (the sub-pixel decomposition) is
  the sum of its taps' shifted columns, written once into the interleaved output.
- ``gather``: the same flat layout (for convolutions split into stride phases first, so taps are
  offsets again); the shifted inputs of every distinct offset are stacked (im2col) and one GEMM
  yields all output phases: convolutions on larger maps, and transposed layers with few input
  channels per group (depthwise).
- ``im2col`` (convolutions): the classic layout, C_in · taps rows of exactly the output's
  columns, so that one GEMM per image writes the output itself: few input channels, large maps.
- ``gemm``: only for the layers that are one matrix product as they stand, written straight
  into the output: a 1x1 kernel at stride 1 without padding, a transposed layer on a 1x1 input
  (a generator's first layer) and a convolution whose kernel covers its whole input.

Tiles (whole images, or bands of rows of one image) bound the temporary columns at a few MiB
whatever the batch (the 136x136 U-Net layer at batch 16 would need 289 MiB at once); the other
buffers are the size of the input or the output. Big layers are shared out across threads
(images, bands of rows or output channels; see `_split`), each thread keeping its BLAS calls on
its own core, so that the numpy passes, not only the products, use every core. Shapes and every
check come from the shape engine (`convtool.shape`), so the messages are PyTorch's.
"""

from __future__ import annotations

import ctypes
import functools
import operator
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from math import prod, sqrt

import numpy as np
import numpy.typing as npt

from . import shape
from .errors import ConfigError
from .params import ConvParams, IntOrSeq

Array = npt.NDArray[np.floating]
Tiles = tuple[tuple[int, int, int, int], ...]  # (first image, end image, first row, end row)

STRATEGIES = {
    "conv_transpose2d": ("columns", "scatter", "gather", "gemm"),
    "conv2d": ("columns", "gather", "im2col", "gemm"),
}
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_TILE_BYTES = 4 << 20  # temporary columns per tile (1 and 2 MiB measured no faster)
_TILE_COLUMNS = 2048  # yet up to this many GEMM columns per tile: 2·K (at least 512) of them,
# as a GEMM with a long inner dimension K loses speed on narrow tiles
_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}
_BLAS_SERIAL_MACS = 1 << 18  # OpenBLAS runs a smaller product on the calling thread alone
_SPLIT_SECONDS = 2e-3  # estimated work below which handing a share to another thread does not pay


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_threads = _usable_cpus()


def set_num_threads(threads: int) -> None:
    """How many threads a layer may share its work out to (as `torch.set_num_threads`): each
    runs a share (images, bands of rows, output channels or groups), numpy passes and matrix
    products alike, when the work is worth it (see `_split`); a layer not shared runs its
    products on BLAS's own threads.

    >>> before = get_num_threads(); set_num_threads(1); get_num_threads()
    1
    >>> set_num_threads(before)
    """
    global _threads
    try:
        count = operator.index(threads)
    except TypeError:
        count = 0
    if isinstance(threads, bool) or count < 1:
        raise ConfigError(f"set_num_threads expects a positive integer, but got {threads!r}")
    _threads = count


def get_num_threads() -> int:
    """The threads a layer may use: every usable CPU unless set_num_threads said otherwise."""
    return _threads


# == functional API ==========================================================================


def conv2d(
    x: npt.ArrayLike,
    weight: npt.ArrayLike,
    bias: npt.ArrayLike | None = None,
    stride: IntOrSeq = 1,
    padding: IntOrSeq | str = 0,
    dilation: IntOrSeq = 1,
    groups: int = 1,
) -> Array:
    """`torch.nn.functional.conv2d` on numpy arrays: x (N, C_in, H, W) or (C_in, H, W), weight
    (C_out, C_in/groups, kH, kW), bias (C_out,); padding may be 'same' or 'valid'.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv2d(x, np.ones((1, 1, 2, 2)), stride=2)
    array([[[[10., 18.],
             [42., 50.]]]])
    """
    xa, wa, ba = _arrays(x, weight, bias)
    params = shape.functional_params(
        False, xa.shape, wa.shape, None if ba is None else ba.shape,
        stride=stride, padding=padding, dilation=dilation, groups=groups,
    )
    return _forward(params, xa, wa, ba)


def conv_transpose2d(
    x: npt.ArrayLike,
    weight: npt.ArrayLike,
    bias: npt.ArrayLike | None = None,
    stride: IntOrSeq = 1,
    padding: IntOrSeq = 0,
    output_padding: IntOrSeq = 0,
    groups: int = 1,
    dilation: IntOrSeq = 1,
) -> Array:
    """`torch.nn.functional.conv_transpose2d` on numpy arrays: x (N, C_in, H, W) or
    (C_in, H, W), weight (C_in, C_out/groups, kH, kW), bias (C_out,).

    >>> conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)), stride=2)[0, 0]
    array([[1., 1., 2., 1., 1.],
           [1., 1., 2., 1., 1.],
           [2., 2., 4., 2., 2.],
           [1., 1., 2., 1., 1.],
           [1., 1., 2., 1., 1.]])
    """
    xa, wa, ba = _arrays(x, weight, bias)
    params = shape.functional_params(
        True, xa.shape, wa.shape, None if ba is None else ba.shape,
        stride=stride, padding=padding, output_padding=output_padding, dilation=dilation,
        groups=groups,
    )
    return _forward(params, xa, wa, ba)


def run(
    params: ConvParams,
    x: npt.ArrayLike,
    weight: npt.ArrayLike,
    bias: npt.ArrayLike | None = None,
    *,
    strategy: str | None = None,
) -> Array:
    """The functional call for the layer `params` (zero padding), with the given strategy (one
    of STRATEGIES[params.op]) or the one the cost model picks; tests and benchmarks use it.

    >>> p = ConvParams.conv_transpose(2, 2)
    >>> run(p, np.ones((1, 1, 1, 2)), np.ones((1, 1, 2, 2)), strategy="scatter")
    array([[[[1., 1., 1., 1.],
             [1., 1., 1., 1.]]]])
    """
    xa, wa, ba = _arrays(x, weight, bias)
    if strategy is not None and strategy not in STRATEGIES[params.op]:
        raise ConfigError(
            f"unknown strategy {strategy!r} for {params.op}; one of {', '.join(STRATEGIES[params.op])}"
        )
    extra = {"output_padding": params.output_padding} if params.transposed else {}
    checked = shape.functional_params(
        params.transposed, xa.shape, wa.shape, None if ba is None else ba.shape,
        stride=params.stride, padding=params.padding_string or params.padding,
        dilation=params.dilation, groups=params.groups, ndim=params.ndim, **extra,  # type: ignore[arg-type]
    )
    return _forward(checked, xa, wa, ba, strategy)


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


# == modules =================================================================================


class Conv2d:
    """`torch.nn.Conv2d` with numpy weights: PyTorch's layout, initialisation and padding modes.

    >>> layer = Conv2d(3, 8, 3, padding=1, padding_mode="reflect", rng=0)
    >>> layer.weight.shape, layer(np.zeros((2, 3, 5, 5), np.float32)).shape
    ((8, 3, 3, 3), (2, 8, 5, 5))
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrSeq,
        stride: IntOrSeq = 1,
        padding: IntOrSeq | str = 0,
        dilation: IntOrSeq = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        rng: np.random.Generator | int | None = None,
        dtype: npt.DTypeLike = np.float32,
    ) -> None:
        self.params = ConvParams.conv(
            kernel_size, stride, padding, dilation, groups, bias, padding_mode,
            in_channels=in_channels, out_channels=out_channels, ndim=2,
        )
        self.weight, self.bias = init_weights(self.params, rng, dtype)

    def __call__(self, x: npt.ArrayLike) -> Array:
        return self.forward(x)

    def forward(self, x: npt.ArrayLike) -> Array:
        """The layer applied to x (N, C_in, H, W) or (C_in, H, W)."""
        p = self.params
        xa, wa, ba = _arrays(x, self.weight, self.bias)
        shape.output_shape(p, xa.shape)  # PyTorch's checks, F.pad's included, before padding
        if p.padding_mode == "zeros":
            padding: IntOrSeq | str = p.padding_string or p.padding
        else:
            pads = [(0, 0)] * (xa.ndim - 2) + list(p.padding_pairs)
            xa = np.pad(xa, pads, mode=_PAD_MODES[p.padding_mode])  # type: ignore[call-overload]
            padding = 0
        return conv2d(xa, wa, ba, p.stride, padding, p.dilation, p.groups)

    def __repr__(self) -> str:
        return self.params.torch_code().removeprefix("nn.")


class ConvTranspose2d:
    """`torch.nn.ConvTranspose2d` with numpy weights; `forward(x, output_size=...)` as PyTorch.

    >>> layer = ConvTranspose2d(16, 8, 3, stride=2, padding=1, rng=0)
    >>> layer(np.zeros((16, 6, 6), np.float32), output_size=(12, 12)).shape
    (8, 12, 12)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrSeq,
        stride: IntOrSeq = 1,
        padding: IntOrSeq = 0,
        output_padding: IntOrSeq = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: IntOrSeq = 1,
        padding_mode: str = "zeros",
        *,
        rng: np.random.Generator | int | None = None,
        dtype: npt.DTypeLike = np.float32,
    ) -> None:
        self.params = ConvParams.conv_transpose(
            kernel_size, stride, padding, output_padding, groups, bias, dilation, padding_mode,
            in_channels=in_channels, out_channels=out_channels, ndim=2,
        )
        self.weight, self.bias = init_weights(self.params, rng, dtype)

    def __call__(self, x: npt.ArrayLike, output_size: tuple[int, ...] | None = None) -> Array:
        return self.forward(x, output_size)

    def forward(self, x: npt.ArrayLike, output_size: tuple[int, ...] | None = None) -> Array:
        """The layer applied to x; `output_size` (spatial, or a full shape) picks output_padding."""
        p = self.params
        xa, wa, ba = _arrays(x, self.weight, self.bias)
        output_padding = p.output_padding
        if output_size is not None:
            output_padding = shape.output_padding_for(p, xa.shape, output_size)
        return conv_transpose2d(xa, wa, ba, p.stride, p.padding, output_padding, p.groups, p.dilation)

    def __repr__(self) -> str:
        return self.params.torch_code().removeprefix("nn.")


def init_weights(
    params: ConvParams, rng: np.random.Generator | int | None = None, dtype: npt.DTypeLike = np.float32
) -> tuple[Array, Array | None]:
    """PyTorch's default initialisation: weight and bias ~ U(-1/√fan_in, 1/√fan_in), with
    fan_in = weight.size(1) · ∏kernel (for a transposed layer: out_channels/groups · ∏kernel).

    >>> w, b = init_weights(ConvParams.conv_transpose(3, in_channels=64, out_channels=32), rng=0)
    >>> w.shape, bool(abs(w).max() <= 1 / np.sqrt(32 * 9)), b.shape
    ((64, 32, 3, 3), True, (32,))
    """
    w_shape = shape.weight_shape(params)
    if w_shape is None:
        raise ConfigError("initialising weights needs in_channels and out_channels")
    generator = np.random.default_rng(rng)
    fan_in = prod(w_shape[1:])
    bound = 1 / sqrt(fan_in) if fan_in else 0.0
    weight = uniform(generator, bound, w_shape, dtype)
    if not params.bias:
        return weight, None
    out_channels = w_shape[1] * params.groups if params.transposed else w_shape[0]
    return weight, uniform(generator, bound, (out_channels,), dtype)


def uniform(rng: np.random.Generator, bound: float, shape: tuple[int, ...], dtype: npt.DTypeLike) -> Array:
    """U(-bound, bound) drawn in `dtype` itself: no float64 array twice the size on the way
    (what `--verify` counts as its memory is what it allocates).

    >>> a = uniform(np.random.default_rng(0), 0.5, (1000,), np.float32)
    >>> a.dtype.name, bool(abs(a).max() <= 0.5)
    ('float32', True)
    """
    values = rng.random(shape, dtype=np.dtype(dtype).type)
    values *= 2 * bound
    values -= bound
    return values


# == entry: arrays, checks, batching =========================================================


def _arrays(
    x: npt.ArrayLike, weight: npt.ArrayLike, bias: npt.ArrayLike | None
) -> tuple[Array, Array, Array | None]:
    return np.asarray(x), np.asarray(weight), None if bias is None else np.asarray(bias)


def _dtype_name(dtype: np.dtype) -> str:
    return {"float32": "Float", "float64": "Double"}.get(dtype.name, dtype.name)


def _check_dtypes(params: ConvParams, x: Array, weight: Array, bias: Array | None) -> None:
    """PyTorch's dtype checks, after its shape checks; convtool computes in float32/float64."""
    if x.dtype not in _DTYPES:
        raise ConfigError(
            f"{params.op} computes in float32 or float64, but got input of dtype {x.dtype}",
            hint="convert with x.astype(np.float32)",
        )
    if weight.dtype != x.dtype:
        raise ConfigError(
            f"expected scalar type {_dtype_name(x.dtype)} but found {_dtype_name(weight.dtype)}"
        )
    if bias is not None and bias.dtype != x.dtype and not params.transposed:
        raise ConfigError(
            f"Input type ({_dtype_name(x.dtype).lower()}) and bias type "
            f"({_dtype_name(bias.dtype).lower()}) should be the same"
        )


def _forward(
    params: ConvParams, x: Array, weight: Array, bias: Array | None, strategy: str | None = None
) -> Array:
    out_shape = shape.output_shape(params, x.shape)
    _check_dtypes(params, x, weight, bias)
    batched = x.ndim == 4
    xb = np.ascontiguousarray(x if batched else x[None])
    out_b = out_shape if batched else (1, *out_shape)
    plan = make_plan(params, xb.shape, out_b, x.dtype.itemsize, strategy, _threads)  # type: ignore[arg-type]
    b = None if bias is None else bias.astype(x.dtype, copy=False)
    out = plan.execute(xb, np.ascontiguousarray(weight), b)
    return out if batched else out[0]


# == plans ===================================================================================


@dataclass(frozen=True)
class _Phase:
    """Output positions r, r + step, ... (`count` of them); each reads input q + offset per tap."""

    count: int
    taps: tuple[tuple[int, int, int], ...]  # (kernel index, input plane, offset)


@dataclass(frozen=True)
class _Axis:
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
    phases: tuple[_Phase, ...]

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


def _transpose_axis(i: int, k: int, s: int, p: int, d: int, o: int) -> _Axis:
    """Output phase r holds outputs r + s*q; tap t writes it from input q + (r + p - t*d) / s."""
    phases = []
    lo = hi = 0
    for r in range(s):
        count = max(0, -(-(o - r) // s))
        taps = tuple((t, 0, (r + p - t * d) // s) for t in range(k) if (r + p - t * d) % s == 0)
        if count and taps:
            lo = max(lo, -min(off for *_, off in taps))
            hi = max(hi, count - 1 + max(off for *_, off in taps) - (i - 1))
        phases.append(_Phase(count, taps if count else ()))
    # one guard of max(lo, hi) zeros after each row serves both neighbours (reads wrap into it)
    pitch = max(i + max(lo, hi), max(ph.count for ph in phases))
    return _Axis(i, s, 1, 0, lo, pitch, tuple(phases))


def _conv_axis(i: int, k: int, s: int, before: int, after: int, d: int, o: int) -> _Axis:
    """One output phase; tap t reads padded position q*s + t*d: plane t*d % s, offset t*d // s."""
    taps = tuple((t, (t * d) % s, (t * d) // s) for t in range(k))
    pitch = -(-(i + before + after) // s)
    return _Axis(i, 1, s, before, 0, pitch, (_Phase(o, taps),))


@dataclass(frozen=True)
class Plan:
    """How one layer runs on one batched input shape: the strategy and its tables, computed once
    (plans are cached) and shared by the cost estimate and the run."""

    params: ConvParams
    input_shape: tuple[int, int, int, int]
    output_shape: tuple[int, int, int, int]
    strategy: str
    axes: tuple[_Axis, _Axis]
    itemsize: int
    estimates: tuple[tuple[str, float], ...] = ()  # (strategy, estimated seconds), for reports
    split: str = ""  # "groups", "images", "tiles" or "channels": what the threads share out
    parts: int = 1  # the threads that each run a share

    @property
    def groups(self) -> int:
        return self.params.groups

    @functools.cached_property
    def flat(self) -> _Flat:
        return _flat_layout(self.axes, self.input_shape[0])

    @functools.cached_property
    def targets(self) -> tuple[tuple[int, int, _Phase, _Phase], ...]:
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

    def execute(self, x: Array, weight: Array, bias: Array | None) -> Array:
        """Compute the layer: x (N, C_in, H, W) C-contiguous, weight in PyTorch's layout."""
        out = np.empty(self.output_shape, x.dtype)
        if out.size == 0:
            return out
        run = _RUN[self.strategy, self.params.transposed]
        if self.parts == 1:
            run(self, x, weight, bias, out)
            return out
        n, cin = self.input_shape[:2]
        cout, g, transposed = self.output_shape[1], self.groups, self.params.transposed
        jobs = []
        if self.split == "tiles":  # each share lays the whole input out again: a pass each, side by side
            for t0, t1 in _shares(len(self.tiles), self.parts):
                jobs.append(functools.partial(run, self, x, weight, bias, out, tiles=self.tiles[t0:t1]))
        elif self.split == "images":
            for n0, n1 in _shares(n, self.parts):
                jobs.append(functools.partial(run, self.share(images=n1 - n0), x[n0:n1], weight, bias, out[n0:n1]))
        elif self.split == "groups":
            cig, cog = cin // g, cout // g
            for g0, g1 in _shares(g, self.parts):
                ci, co = slice(g0 * cig, g1 * cig), slice(g0 * cog, g1 * cog)
                jobs.append(functools.partial(
                    run, self.share(groups=g1 - g0), x[:, ci], weight[ci if transposed else co],
                    None if bias is None else bias[co], out[:, co],
                ))
        else:  # output channels (one group): each share reads the whole input
            for c0, c1 in _shares(cout, self.parts):
                co = slice(c0, c1)
                jobs.append(functools.partial(
                    run, self.share(out_channels=c1 - c0), x, weight[:, co] if transposed else weight[co],
                    None if bias is None else bias[co], out[:, co],
                ))
        _side_by_side(jobs)
        return out

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


def _shares(total: int, parts: int) -> Iterator[tuple[int, int]]:
    """[start, end) ranges splitting range(total) into at most `parts` near-equal shares."""
    return _balanced(total, -(-total // parts))


def _side_by_side(jobs: list[Callable[[], None]]) -> None:
    """Run the jobs, all but the first on the thread pool, with numpy's BLAS on one thread
    meanwhile (each job's products on its own core); waits for all, then re-raises the first
    failure. The BLAS thread count is process-wide: shared calls take turns, and other threads'
    products run on one core while one is under way."""
    blas = _blas_threads()
    with _SHARING:
        before = blas.get() if blas else 1
        if before != 1:
            blas.set(1)  # type: ignore[union-attr]
        try:
            pool = _pool()
            futures = [pool.submit(job) for job in jobs[1:]]
            try:
                jobs[0]()
            finally:
                wait(futures)
            for future in futures:
                future.result()
        finally:
            if before != 1:
                blas.set(before)  # type: ignore[union-attr]


_SHARING = threading.Lock()


@dataclass(frozen=True)
class _BlasThreads:
    get: Callable[[], int]
    set: Callable[[int], None]


_MAPS = "/proc/self/maps"
_THREAD_SYMBOLS = (  # (get, set) in OpenBLAS's builds: numpy's wheels, 64-bit ints, plain
    ("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
    ("scipy_openblas_get_num_threads", "scipy_openblas_set_num_threads"),
    ("openblas_get_num_threads64_", "openblas_set_num_threads64_"),
    ("openblas_get_num_threads", "openblas_set_num_threads"),
)


@functools.lru_cache(maxsize=1)
def _blas_threads() -> _BlasThreads | None:
    """The thread count of numpy's BLAS when it is an OpenBLAS convtool can identify (numpy's
    own copy, or the only one loaded), else None. With it, the threads that share a layer out
    run their products one core each; without it, BLAS spreads every product over the cores
    (and keeps them busy a while after), so only the groups of depthwise-like layers, whose
    products BLAS runs on one core anyway, are shared."""
    try:
        with open(_MAPS, "rb") as maps:
            paths = {os.fsdecode(f[5].strip()) for f in (line.split(None, 5) for line in maps) if len(f) == 6}
        loaded = sorted(p for p in paths if "openblas" in os.path.basename(p).lower())
        numpy_dir = os.path.dirname(os.path.dirname(os.path.realpath(np.__file__)))
        own = [p for p in loaded if os.path.realpath(p).startswith(numpy_dir + os.sep + "numpy")]
        if len(own) != 1 and len(loaded) != 1:
            return None  # none, or several and none of them numpy's
        library = ctypes.CDLL((own or loaded)[0])
        for get_name, set_name in _THREAD_SYMBOLS:
            if hasattr(library, get_name) and hasattr(library, set_name):
                get, set_ = getattr(library, get_name), getattr(library, set_name)
                get.argtypes, get.restype = [], ctypes.c_int
                set_.argtypes, set_.restype = [ctypes.c_int], None
                return _BlasThreads(get, set_)
    except Exception:  # no /proc, an unreadable map, a library that will not load: no control
        return None
    return None


_executor: tuple[int, ThreadPoolExecutor] | None = None  # (workers, pool)


def _pool() -> ThreadPoolExecutor:
    """The pool of get_num_threads() - 1 workers (made again when that number changes)."""
    global _executor
    workers = max(_threads - 1, 1)
    if _executor is None or _executor[0] != workers:
        if _executor is not None:
            _executor[1].shutdown(wait=False)
        _executor = (workers, ThreadPoolExecutor(workers, thread_name_prefix="convtool"))
    return _executor[1]


def _forget_pool() -> None:
    global _executor
    _executor = None


if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's pool threads
    os.register_at_fork(after_in_child=_forget_pool)


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
    and how up to `threads` threads share the work (`_split`).

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
    estimates = tuple((name, _estimate(plan)) for name, plan in candidates.items())
    chosen = candidates[strategy or min(estimates, key=lambda e: e[1])[0]]
    split, parts = _split(chosen, dict(estimates)[chosen.strategy], threads)
    return replace(chosen, estimates=estimates, split=split, parts=parts)


def _split(plan: Plan, seconds: float, threads: int) -> tuple[str, int]:
    """How the threads share a plan (estimated to take `seconds`) out: ("", 1) when one thread
    is better.

    Only layers with enough work are shared. Grouped layers whose products BLAS runs on one
    core anyway (depthwise) share out their groups. Other layers only when numpy's BLAS can be
    kept to one thread meanwhile (`_blas_threads`): by images, else by bands of rows, else by
    output channels when the input-side work is cheap to repeat.
    """
    params, (n, _, _, _), cout = plan.params, plan.input_shape, plan.output_shape[1]
    if threads == 1 or seconds < _SPLIT_SECONDS:
        return "", 1
    if params.groups > 1:
        group_macs = shape.macs(params, n, plan.input_shape[2:], plan.output_shape[2:]) // params.groups  # type: ignore[operator]
        if group_macs < _BLAS_SERIAL_MACS * len(plan.tiles):
            return "groups", min(threads, params.groups)
    if _blas_threads() is None:
        return "", 1
    if n >= 2:
        return "images", min(threads, n)
    if len(plan.tiles) >= 2 and plan.strategy != "columns":
        return "tiles", min(threads, len(plan.tiles))
    light = plan.strategy == "scatter" or (params.transposed and plan.strategy == "columns") or (
        plan.strategy == "gather" and plan.direct
    )
    if params.groups == 1 and light and cout >= 2 * threads:
        return "channels", threads
    return "", 1


# == cost model ==============================================================================

# Seconds per unit on the benchmark machine (2 cores, AVX-512, OpenBLAS) for float32; float64
# moves twice the bytes. The GEMM runs on both cores, every other pass is one numpy loop on one.
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


def _estimate(plan: Plan) -> float:
    """Estimated seconds of a plan: its GEMMs plus its numpy passes, element by element."""
    params, itemsize, strategy = plan.params, plan.itemsize, plan.strategy
    n, cin, h, w = plan.input_shape
    cout, ho, wo = plan.output_shape[1:]
    g = params.groups
    cig, cog = cin // g, cout // g
    taps = prod(params.kernel_size)
    scale = itemsize / 4
    out_rows = n * cout * ho  # the output written row by row: one inner loop each
    if strategy == "gemm":
        bias = n * cout * ho * wo * _ELEMENT * scale if params.bias else 0.0
        if _product(params, (h, w)) == "pixels":
            return _gemm(cog, cig, n * h * w, itemsize, n * g, g) + bias
        return _gemm(cog * ho * wo, cig * h * w, n, itemsize, g, g) + bias
    if strategy == "columns":
        pixels = n * (h * w if params.transposed else ho * wo)
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
            transposes = (n * cin * h * w + 2 * n * cout * ho * wo) * _STRIDED
        else:
            transposes = n * cin * h * w * 2 * _STRIDED + (n > 1 or params.bias) * n * cout * ho * wo * _ELEMENT
        transposes += (out_rows + pixels * g) * _LOOP
        return gemm + (taps * per_tap + transposes) * scale + loops
    if strategy == "im2col":
        tiles = plan.tiles
        (pt, pb), (pl, pr) = params.padding_pairs
        fill = (n * cin * (h + pt + pb) * (w + pl + pr) * _ELEMENT + n * cin * h * _LOOP) if pt + pb + pl + pr else 0.0
        copies = taps * n * cin * ho * wo * (_STRIDED if max(params.stride) > 1 else _ELEMENT * 2)
        loops = taps * n * cin * ho * _LOOP + len(tiles) * taps * _CALL
        columns = sum((n1 - n0) * (q1 - q0) for n0, n1, q0, q1 in tiles) * wo
        gemm = _gemm(cog, cig * taps, columns, itemsize, g * sum(n1 - n0 for n0, n1, _, _ in tiles), g)
        return gemm + (fill + copies + (n * cout * ho * wo * _ELEMENT if plan.params.bias else 0)) * scale + loops
    flat, tiles = plan.flat, plan.tiles
    span = sum(_tile_span(flat, tile)[1] for tile in tiles)
    halo = flat.hi - flat.lo
    phases = len(plan.targets)
    fill = cin * flat.length * _ELEMENT + n * cin * h * w * _STRIDED + n * cin * h * _LOOP
    emit = n * cout * ho * wo * _STRIDED + out_rows * _LOOP + len(tiles) * phases * 4 * _CALL
    if strategy == "scatter":
        gemm = _gemm(cog * taps, cig, span + len(tiles) * halo, itemsize, g * len(tiles), g)
        adds = max(0, taps - phases) * cout * span * _ELEMENT * 3 + len(tiles) * taps * 2 * _CALL
        return gemm + (fill + adds + emit) * scale
    sources = len(plan.sources[0])
    copies = 0.0 if plan.direct else sources * cin * span * _ELEMENT * 2 + len(tiles) * sources * _CALL
    if params.transposed:  # the weight matrix is assembled tap by tap, with strided writes
        copies += cog * phases * cin * sources * _ELEMENT + cin * cog * taps * _STRIDED + taps * _CALL
    gemm = _gemm(cog * phases, cig * sources, span, itemsize, g * len(tiles), g)
    return gemm + (fill + copies + emit) * scale


# == strategy: columns =======================================================================


def _balanced(total: int, most: int) -> Iterator[tuple[int, int]]:
    """[start, end) ranges covering range(total), as few as allowed by `most`, equal in size."""
    parts = -(-total // max(most, 1))
    for i in range(parts):
        yield total * i // parts, total * (i + 1) // parts


def _min_columns(k: int) -> int:
    """The fewest GEMM columns per tile for an inner dimension k."""
    return min(_TILE_COLUMNS, max(512, 2 * k))


def _image_tiles(n: int, per_image_bytes: int, per_image_columns: int, k: int) -> Iterator[tuple[int, int]]:
    least = -(-_min_columns(k) // max(per_image_columns, 1))
    return _balanced(n, max(1, _TILE_BYTES // max(per_image_bytes, 1), least))


def _transpose_columns(plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array) -> None:
    """GEMM into channels-last columns (pixels x taps·C_out), then one scatter-add per tap."""
    n, cin, h, w = plan.input_shape
    cout, ho, wo = plan.output_shape[1:]
    g = plan.groups
    cig, cog = cin // g, cout // g
    kh, kw = plan.params.kernel_size
    by_tap = weight.reshape(g, cig, cog, kh * kw)
    taps_last = cin >= n * h * w  # else a copy of the weight buys contiguous scatter loops
    if not taps_last:
        by_tap = np.ascontiguousarray(by_tap.transpose(0, 1, 3, 2))
    wmat = by_tap.reshape(g, cig, cog * kh * kw)
    xl = x.reshape(n, g, cig, h * w).transpose(1, 0, 3, 2)
    slices = [_tap_slices(axis) for axis in plan.axes]
    for n0, n1, _, _ in plan.tiles:
        xs = np.ascontiguousarray(xl[:, n0:n1]).reshape(g, (n1 - n0) * h * w, cig)
        cols = np.matmul(xs, wmat)
        acc = np.zeros((n1 - n0, ho, wo, g, cog), x.dtype)  # per tile: still in cache to finish
        dst = acc.transpose(3, 0, 1, 2, 4)  # (g, n, ho, wo, cog)
        if taps_last:
            tap = cols.reshape(g, n1 - n0, h, w, cog, kh, kw).transpose(5, 6, 0, 1, 2, 3, 4)
        else:
            tap = cols.reshape(g, n1 - n0, h, w, kh, kw, cog).transpose(4, 5, 0, 1, 2, 3, 6)
        for th, (ih, oh) in slices[0]:
            for tw, (iw, ow) in slices[1]:
                dst[:, :, oh, ow] += tap[th, tw, :, :, ih, iw]
        _finish_channels_last(acc.reshape(n1 - n0, ho, wo, cout), bias, out[n0:n1])


def _tap_slices(axis: _Axis) -> list[tuple[int, tuple[slice, slice]]]:
    """Per kernel tap of a transposed axis: (tap, (input slice, output slice)) it connects."""
    result = []
    for r, phase in enumerate(axis.phases):
        for t, _, off in phase.taps:
            first, last = max(0, off), min(axis.size, phase.count + off)
            if first < last:
                start = r + axis.step * (first - off)
                result.append((t, (slice(first, last), slice(start, start + axis.step * (last - first - 1) + 1, axis.step))))
    return result


def _conv_columns(plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array) -> None:
    """Channels-last im2col (pixels x taps·C_in) per tile of images, then one GEMM per tile
    that leaves the output channels first."""
    n, cin, h, w = plan.input_shape
    cout, ho, wo = plan.output_shape[1:]
    g = plan.groups
    cig, cog = cin // g, cout // g
    kh, kw = plan.params.kernel_size
    (pt, pb), (pl, pr) = plan.params.padding_pairs
    sh, sw = plan.params.stride
    dh, dw = plan.params.dilation
    by_tap = weight.reshape(g, cog, cig, kh * kw)
    taps_last = cin >= n * ho * wo  # else a copy of the weight buys contiguous im2col loops
    if not taps_last:
        by_tap = np.ascontiguousarray(by_tap.transpose(0, 1, 3, 2))
    wmat = by_tap.reshape(g, cog, cig * kh * kw)
    # weights first: the product comes out channels first (for one image, the output itself),
    # and OpenBLAS runs it up to twice as fast as columns first when the pixels are few
    res = _view(out, g, cog, ho * wo) if n == 1 else np.empty((g, cog, n * ho * wo), x.dtype)
    for n0, n1, _, _ in plan.tiles:
        nb = n1 - n0
        xp = np.zeros((g, nb, h + pt + pb, w + pl + pr, cig), x.dtype)
        xp[:, :, pt:pt + h, pl:pl + w] = x[n0:n1].reshape(nb, g, cig, h, w).transpose(1, 0, 3, 4, 2)
        cols = np.empty((g, nb, ho, wo, cig * kh * kw), x.dtype)
        if taps_last:
            tap = cols.reshape(g, nb, ho, wo, cig, kh, kw).transpose(5, 6, 0, 1, 2, 3, 4)
        else:
            tap = cols.reshape(g, nb, ho, wo, kh, kw, cig).transpose(4, 5, 0, 1, 2, 3, 6)
        for th in range(kh):
            for tw in range(kw):
                tap[th, tw] = xp[:, :, _tap_window(th, dh, sh, 0, ho), _tap_window(tw, dw, sw, 0, wo)]
        np.matmul(wmat, cols.reshape(g, nb * ho * wo, cig * kh * kw).transpose(0, 2, 1), out=res[..., n0 * ho * wo:n1 * ho * wo])
    by_image = res.reshape(g, cog, n, ho * wo).transpose(2, 0, 1, 3).reshape(n, cout, ho * wo)
    if bias is not None:
        np.add(by_image, bias[:, None], out=_view(out, n, cout, ho * wo))
    elif n > 1:
        np.copyto(_view(out, n, cout, ho * wo), by_image)


def _tap_window(t: int, d: int, s: int, first: int, count: int) -> slice:
    """The padded input positions that kernel tap t (dilation d, stride s) reads for outputs
    first .. first + count - 1 of a convolution's axis.

    >>> _tap_window(2, 1, 2, 1, 3)  # outputs 1, 2, 3 read 4, 6, 8
    slice(4, 9, 2)
    """
    start = t * d + s * first
    return slice(start, start + s * (count - 1) + 1, s)


def _view(out: Array, *shape: int) -> Array:
    """`out` reshaped without a copy (a copy would lose what is written into it). The outputs
    the strategies get, slices of images or channels of a C-contiguous array, always reshape so.
    """
    view = out.view()
    view.shape = shape  # raises rather than copies
    return view


def _finish_channels_last(acc: Array, bias: Array | None, out: Array) -> None:
    """out (N, C, H, W) = acc (N, H, W, C) + bias."""
    src = acc.transpose(0, 3, 1, 2)
    if bias is None:
        np.copyto(out, src)
    else:
        np.add(src, bias[:, None, None], out=out)


# == strategy: im2col (convolutions) ========================================================


def _im2col_tiles(n: int, rows: int, row_bytes: int, k: int, width: int) -> Iterator[tuple[int, int, int, int]]:
    """Tiles of the im2col strategy: whole images, or bands of output rows of one image."""
    band = max(1, _TILE_BYTES // max(row_bytes, 1), -(-_min_columns(k) // max(width, 1)))
    if band >= rows:
        yield from ((n0, n1, 0, rows) for n0, n1 in _image_tiles(n, rows * row_bytes, rows * width, k))
        return
    for i in range(n):
        for q0, q1 in _balanced(rows, band):
            yield i, i + 1, q0, q1


def _conv_im2col(
    plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array, tiles: Tiles | None = None
) -> None:
    """The classic im2col: per tile, rows of C_in/g · taps shifted inputs with exactly the
    output's columns, then one GEMM per image straight into the output (no crop, no transpose)."""
    n, cin, h, w = plan.input_shape
    cout, ho, wo = plan.output_shape[1:]
    g = plan.groups
    cig, cog = cin // g, cout // g
    kh, kw = plan.params.kernel_size
    (pt, pb), (pl, pr) = plan.params.padding_pairs
    sh, sw = plan.params.stride
    dh, dw = plan.params.dilation
    if pt or pb or pl or pr:
        xp = np.zeros((n, cin, h + pt + pb, w + pl + pr), x.dtype)
        xp[:, :, pt:pt + h, pl:pl + w] = x
    else:
        xp = x
    xg = xp.reshape(n, g, cig, *xp.shape[2:])
    wmat = weight.reshape(g, cog, cig * kh * kw)
    tiles = plan.tiles if tiles is None else tiles
    widest = max((n1 - n0) * (q1 - q0) for n0, n1, q0, q1 in tiles)
    cols_buffer = np.empty(widest * g * cig * kh * kw * wo, x.dtype)
    for n0, n1, q0, q1 in tiles:
        nb, rows = n1 - n0, q1 - q0
        cols = cols_buffer[:nb * g * cig * kh * kw * rows * wo].reshape(nb, g, cig, kh, kw, rows, wo)
        for th in range(kh):
            for tw in range(kw):
                cols[:, :, :, th, tw] = xg[n0:n1, :, :, _tap_window(th, dh, sh, q0, rows), _tap_window(tw, dw, sw, 0, wo)]
        dst = _view(out[n0:n1, :, q0:q1], nb, g, cog, rows * wo)  # each row is contiguous
        np.matmul(wmat, cols.reshape(nb, g, cig * kh * kw, rows * wo), out=dst)
        if bias is not None:
            dst += bias.reshape(g, cog, 1)


# == strategy: gemm (layers that are one matrix product) ===================================


def _matrix_product(plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array) -> None:
    """One batched matrix product written straight into the output (see `_product`)."""
    n, cin, h, w = plan.input_shape
    cout, ho, wo = plan.output_shape[1:]
    g = plan.groups
    cig, cog = cin // g, cout // g
    if _product(plan.params, (h, w)) == "pixels":  # (C_out/g x C_in/g) @ (C_in/g x pixels), image by image
        by_group = weight.reshape(g, cig, cog).transpose(0, 2, 1) if plan.params.transposed else weight.reshape(g, cog, cig)
        np.matmul(by_group, x.reshape(n, g, cig, h * w), out=_view(out, n, g, cog, h * w))
    elif plan.params.transposed:  # per group (images x C_in/g) @ (C_in/g x C_out/g·kernel)
        np.matmul(x.reshape(n, g, cig).transpose(1, 0, 2), weight.reshape(g, cig, -1), out=_view(out, n, g, cog * ho * wo).transpose(1, 0, 2))
    else:  # per group (C_out/g x C_in/g·kernel) @ (C_in/g·kernel x images): OpenBLAS is twice as fast this way round
        np.copyto(_view(out, n, g, cog).transpose(1, 2, 0), np.matmul(weight.reshape(g, cog, -1), x.reshape(n, g, -1).transpose(1, 2, 0)))
    if bias is not None:
        flat = _view(out, n, cout, ho * wo)
        np.add(flat, bias[:, None], out=flat)


# == strategies on the flat layout: scatter and gather =======================================


@dataclass(frozen=True)
class _Flat:
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


def _flat_layout(axes: tuple[_Axis, _Axis], n: int) -> _Flat:
    ah, aw = axes
    offsets = [
        oh * aw.pitch + ow
        for ph_h in ah.phases for _, _, oh in ph_h.taps
        for ph_w in aw.phases for _, _, ow in ph_w.taps
    ] or [0]
    lead = ah.lead * aw.pitch + aw.lead
    length = lead + n * ah.pitch * aw.pitch + max(0, max(offsets))
    return _Flat(lead, aw.pitch, ah.pitch, ah.rows, length, min(offsets), max(offsets))


def _flat_input(plan: Plan, x: Array, flat: _Flat) -> Array:
    """x laid out flat: (groups, C_in/groups, planes, length), zeros around the data."""
    n, cin, h, w = plan.input_shape
    g = plan.groups
    ah, aw = plan.axes
    planes = ah.in_step * aw.in_step
    if n == 1 and planes == 1 and flat.lead == 0 and (flat.pitch, flat.image_rows) == (w, h) and flat.hi <= 0:
        return x.reshape(g, cin // g, 1, h * w)
    buf = np.zeros((g, cin // g, planes, flat.length), x.dtype)
    images = buf[..., flat.lead:flat.lead + n * flat.image_rows * flat.pitch]
    images = images.reshape(g, cin // g, planes, n, flat.image_rows, flat.pitch)
    xs = x.reshape(n, g, cin // g, h, w).transpose(1, 2, 0, 3, 4)
    for ph in range(ah.in_step):
        first_h, start_h, count_h = ah.plane_span(ph)
        for pw in range(aw.in_step):
            first_w, start_w, count_w = aw.plane_span(pw)
            images[:, :, ph * aw.in_step + pw, :, first_h:first_h + count_h, first_w:first_w + count_w] = xs[
                ..., start_h::ah.in_step, start_w::aw.in_step
            ][..., :count_h, :count_w]
    return buf


def _row_tiles(n: int, flat: _Flat, column_bytes: int, k: int) -> Iterator[tuple[int, int, int, int]]:
    """(first image, end image, first row, end row) tiles: whole images, or bands of one image."""
    band = max(1, _TILE_BYTES // max(column_bytes * flat.pitch, 1), -(-_min_columns(k) // flat.pitch))
    if band >= flat.image_rows:
        columns = flat.image_rows * flat.pitch
        for n0, n1 in _image_tiles(n, columns * column_bytes, columns, k):
            yield n0, n1, 0, flat.image_rows
        return
    band = max(band, 8 * (flat.hi - flat.lo) // flat.pitch + 1)  # keep the recomputed halo small
    for i in range(n):
        for q0, q1 in _balanced(flat.rows, band):
            yield i, i + 1, q0, q1


def _emit(
    plan: Plan, out: Array, tile: tuple[int, int, int, int], target: tuple[int, int, _Phase, _Phase],
    src: Array | None, bias: Array | None, pitch: int,
) -> None:
    """Write one output phase of one tile, adding the bias; `src` None: the bias alone.

    src (channels, images·rows·pitch) is on the flat grid; output phase (rh, rw) holds the
    positions (rh + step_h·q, rw + step_w·q').
    """
    n0, n1, q0, q1 = tile
    rh, rw, ph_h, ph_w = target
    ah, aw = plan.axes
    rows = min(q1, ph_h.count) - q0
    if rows <= 0:
        return
    start = rh + ah.step * q0
    dst = out[n0:n1, :, start:start + ah.step * (rows - 1) + 1:ah.step, rw::aw.step]
    if src is None:
        dst[...] = 0 if bias is None else bias[:, None, None]
        return
    view = src.reshape(src.shape[0], n1 - n0, q1 - q0, pitch)[:, :, :rows, :ph_w.count].transpose(1, 0, 2, 3)
    if bias is None:
        np.copyto(dst, view)
    else:
        np.add(view, bias[:, None, None], out=dst)


def _tile_span(flat: _Flat, tile: tuple[int, int, int, int]) -> tuple[int, int]:
    """(first flat output position, number of positions) of a tile."""
    n0, n1, q0, q1 = tile
    return (n0 * flat.image_rows + q0) * flat.pitch, ((n1 - n0 - 1) * flat.image_rows + q1 - q0) * flat.pitch


def _flat_scatter(
    plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array, tiles: Tiles | None = None
) -> None:
    """Transposed: per tile one GEMM gives every tap's columns on the flat grid; each output
    phase sums its taps' columns at their offsets (col2im without a pixel loop)."""
    n, cin, _, _ = plan.input_shape
    cout = plan.output_shape[1]
    g = plan.groups
    cig, cog = cin // g, cout // g
    kh, kw = plan.params.kernel_size
    flat, tiles = plan.flat, plan.tiles if tiles is None else tiles
    buf = _flat_input(plan, x, flat)[:, :, 0]
    wmat = weight.reshape(g, cig, cog * kh * kw).transpose(0, 2, 1)
    halo = flat.hi - flat.lo
    widest = max(_tile_span(flat, tile)[1] for tile in tiles)
    # one buffer each for all tiles: fresh pages for every tile would cost page faults
    cols_buffer = np.empty((g, cog * kh * kw, widest + halo), x.dtype)
    acc_buffer = np.empty((g, cog, widest), x.dtype)
    for tile in tiles:
        first, span = _tile_span(flat, tile)
        begin = flat.lead + first + flat.lo
        cols = np.matmul(wmat, buf[:, :, begin:begin + span + halo], out=cols_buffer[..., :span + halo])
        cols = cols.reshape(g, cog, kh * kw, span + halo)
        acc = acc_buffer[..., :span]
        for target in plan.targets:
            reads = [
                cols[:, :, th * kw + tw, o:o + span]
                for th, _, oh in target[2].taps
                for tw, _, ow in target[3].taps
                for o in (oh * flat.pitch + ow - flat.lo,)
            ]
            if not reads:
                _emit(plan, out, tile, target, None, bias, flat.pitch)
                continue
            total = reads[0]
            if len(reads) > 1:
                total = np.add(reads[0], reads[1], out=acc)
                for view in reads[2:]:
                    np.add(total, view, out=total)
            _emit(plan, out, tile, target, total.reshape(cout, span), bias, flat.pitch)


def _flat_gather(
    plan: Plan, x: Array, weight: Array, bias: Array | None, out: Array, tiles: Tiles | None = None
) -> None:
    """Stack the shifted inputs of every distinct (plane, offset) per tile (im2col on the flat
    grid), then one GEMM computes every output phase."""
    n, cin, _, _ = plan.input_shape
    cout = plan.output_shape[1]
    g = plan.groups
    cig, cog = cin // g, cout // g
    flat, targets, direct = plan.flat, plan.targets, plan.direct
    tiles = plan.tiles if tiles is None else tiles
    buf = _flat_input(plan, x, flat)
    sources, wmat = plan.sources[0], _gather_weights(plan, weight)
    u = len(sources)
    widest = max(_tile_span(flat, tile)[1] for tile in tiles)
    stack_buffer = np.empty((g, cig, 0 if direct else u, widest), x.dtype)
    res_buffer = np.empty((g, cog * len(targets), widest), x.dtype)
    for tile in tiles:
        first, span = _tile_span(flat, tile)
        begin = flat.lead + first
        if direct:
            stack = buf[..., begin:begin + span]
        else:
            stack = stack_buffer[..., :span]
            for i, (plane, off) in enumerate(sources):
                stack[:, :, i] = buf[:, :, plane, begin + off:begin + off + span]
        res = np.matmul(wmat, stack.reshape(g, cig * u, span), out=res_buffer[..., :span])
        res = res.reshape(g, cog, len(targets), span)
        for r, target in enumerate(targets):
            _emit(plan, out, tile, target, res[:, :, r].reshape(cout, span), bias, flat.pitch)


def _gather_weights(plan: Plan, weight: Array) -> Array:
    """The weight matrix (groups, C_out/g · phases, C_in/g · sources) that maps the stacked
    sources to every output phase at once."""
    g = plan.groups
    sources, entries = plan.sources
    if not plan.params.transposed:  # a convolution's sources are its taps, in kernel order
        cout, cig = weight.shape[:2]
        return weight.reshape(g, cout // g, cig * len(sources))
    cin, cog = weight.shape[:2]
    phases = len(plan.targets)
    w4 = weight.reshape(g, cin // g, cog, -1)
    wmat = np.zeros((g, cog, phases, cin // g, len(sources)), weight.dtype)
    for r, t, u in entries:
        wmat[:, :, r, :, u] = w4[..., t].transpose(0, 2, 1)
    return wmat.reshape(g, cog * phases, -1)


_RUN = {
    ("columns", True): _transpose_columns,
    ("columns", False): _conv_columns,
    ("scatter", True): _flat_scatter,
    ("gather", True): _flat_gather,
    ("gather", False): _flat_gather,
    ("im2col", False): _conv_im2col,
    ("gemm", True): _matrix_product,
    ("gemm", False): _matrix_product,
}
