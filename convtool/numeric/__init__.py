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

The package: `plan` (what a layer's strategy needs, computed once per layer and shape),
`cost` (the estimate that picks the strategy), `kernels` (the strategies themselves),
`threads` (sharing a layer out, and numpy's BLAS threads) and `padding` (the padding modes).
"""

from __future__ import annotations

from math import prod, sqrt

import numpy as np
import numpy.typing as npt

from .. import shape
from ..errors import ConfigError
from ..params import ConvParams, IntOrSeq
from . import kernels
from .padding import pad
from .plan import STRATEGIES, Plan, make_plan, strategies
from .threads import get_num_threads, set_num_threads

__all__ = [
    "STRATEGIES", "Conv2d", "ConvTranspose2d", "Plan", "conv2d", "conv_transpose2d", "get_num_threads",
    "init_weights", "make_plan", "run", "set_num_threads", "strategies", "uniform",
]

Array = npt.NDArray[np.floating]
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

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
            xa = pad(xa, p.padding_pairs, p.padding_mode)
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
    plan = make_plan(params, xb.shape, out_b, x.dtype.itemsize, strategy, get_num_threads())  # type: ignore[arg-type]
    b = None if bias is None else bias.astype(x.dtype, copy=False)
    out = kernels.execute(plan, xb, np.ascontiguousarray(weight), b)
    return out if batched else out[0]


