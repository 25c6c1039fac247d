"""The modules: `torch.nn.Conv{1,2,3}d` and `ConvTranspose{1,2,3}d` with numpy weights, in
PyTorch's layout, initialisation and padding modes; and PyTorch's weight initialisation.
"""

from __future__ import annotations

from math import prod, sqrt
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from .. import shape
from ..errors import ConfigError
from ..params import ConvParams, IntOrSeq
from .functional import Array, _arrays, _conv, _conv_transpose
from .padding import pad


class _Conv:
    """A convolution module of `ndim` spatial dims (the subclasses name it)."""

    ndim: ClassVar[int]

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
            in_channels=in_channels, out_channels=out_channels, ndim=self.ndim,
        )
        self.weight, self.bias = init_weights(self.params, rng, dtype)

    def __call__(self, x: npt.ArrayLike) -> Array:
        return self.forward(x)

    def forward(self, x: npt.ArrayLike) -> Array:
        """The layer applied to x (N, C_in, *spatial) or (C_in, *spatial)."""
        p = self.params
        xa, wa, ba = _arrays(x, self.weight, self.bias)
        shape.output_shape(p, xa.shape)  # PyTorch's checks, F.pad's included, before padding
        if p.padding_mode == "zeros":
            padding: IntOrSeq | str = p.padding_string or p.padding
        else:
            xa = pad(xa, p.padding_pairs, p.padding_mode)
            padding = 0
        return _conv(self.ndim, xa, wa, ba, p.stride, padding, p.dilation, p.groups)

    def __repr__(self) -> str:
        return self.params.torch_code().removeprefix("nn.")


class _ConvTranspose:
    """A transposed convolution module of `ndim` spatial dims (the subclasses name it)."""

    ndim: ClassVar[int]

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
            in_channels=in_channels, out_channels=out_channels, ndim=self.ndim,
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
        return _conv_transpose(self.ndim, xa, wa, ba, p.stride, p.padding, output_padding, p.groups, p.dilation)

    def __repr__(self) -> str:
        return self.params.torch_code().removeprefix("nn.")


class Conv1d(_Conv):
    """`torch.nn.Conv1d` with numpy weights.

    >>> Conv1d(80, 256, 7, padding=3, padding_mode="reflect", rng=0)(np.zeros((80, 100), np.float32)).shape
    (256, 100)
    """

    ndim = 1


class Conv2d(_Conv):
    """`torch.nn.Conv2d` with numpy weights: PyTorch's layout, initialisation and padding modes.

    >>> layer = Conv2d(3, 8, 3, padding=1, padding_mode="reflect", rng=0)
    >>> layer.weight.shape, layer(np.zeros((2, 3, 5, 5), np.float32)).shape
    ((8, 3, 3, 3), (2, 8, 5, 5))
    """

    ndim = 2


class Conv3d(_Conv):
    """`torch.nn.Conv3d` with numpy weights.

    >>> Conv3d(4, 8, 3, padding=1, rng=0)(np.zeros((1, 4, 6, 6, 6), np.float32)).shape
    (1, 8, 6, 6, 6)
    """

    ndim = 3


class ConvTranspose1d(_ConvTranspose):
    """`torch.nn.ConvTranspose1d` with numpy weights (a vocoder's upsampler, say).

    >>> ConvTranspose1d(512, 256, 16, stride=8, padding=4, rng=0)(np.zeros((1, 512, 50), np.float32)).shape
    (1, 256, 400)
    """

    ndim = 1


class ConvTranspose2d(_ConvTranspose):
    """`torch.nn.ConvTranspose2d` with numpy weights; `forward(x, output_size=...)` as PyTorch.

    >>> layer = ConvTranspose2d(16, 8, 3, stride=2, padding=1, rng=0)
    >>> layer(np.zeros((16, 6, 6), np.float32), output_size=(12, 12)).shape
    (8, 12, 12)
    """

    ndim = 2


class ConvTranspose3d(_ConvTranspose):
    """`torch.nn.ConvTranspose3d` with numpy weights.

    >>> ConvTranspose3d(8, 4, 2, stride=2, rng=0)(np.zeros((8, 5, 6, 7), np.float32)).shape
    (4, 10, 12, 14)
    """

    ndim = 3


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
