"""Pooling in 1, 2 and 3 spatial dims: max and average pools, adaptive average and max pooling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import shape as engine
from ..errors import ConfigError
from ..footprint import Footprint, gather, map_dims, window_deps
from ..params import ConvParams, Shape
from ..text import compact_x
from .base import Applied, LayerKind, require_rank
from .conv import SHAPES, ignored_note, per_dim_arg, transpose_layer
from .keys import Key, OptionError, bool_key, int_key, size_key, spatial_key

if TYPE_CHECKING:
    import numpy as np


class Pool(LayerKind):
    """max_pool{1,2,3}d and avg_pool{1,2,3}d."""

    def __init__(self, kind: str, dims: int = 2) -> None:
        self.kind = kind
        self.dims = dims
        self.name = f"{kind}_pool{dims}d"
        self.torch_class = f"{'Max' if kind == 'max' else 'Avg'}Pool{dims}d"
        spatial = spatial_key(ndim=dims)
        keys = [
            Key("kernel_size", spatial, required=True),
            Key("stride", lambda k, v: None if v is None else spatial(k, v), None),
            Key("padding", spatial, 0),
        ]
        if kind == "max":
            keys.append(Key("dilation", spatial, 1))
        keys.append(Key("ceil_mode", bool_key, False))
        if kind == "avg":  # AvgPool1d takes no divisor_override
            keys += [Key("count_include_pad", bool_key, True)] + ([Key("divisor_override", int_key(1), None)] if dims > 1 else [])
        self.keys = tuple(keys)

    def dims_of(self, config: Mapping[str, Any]) -> tuple[Shape, Shape, Shape, Shape]:
        """Kernel, stride (the kernel when not given), padding and dilation, one entry per dim."""
        k = per_dim(config["kernel_size"], self.dims)
        s = per_dim(config["stride"], self.dims) if config["stride"] is not None else k
        return k, s, per_dim(config["padding"], self.dims), per_dim(config.get("dilation", 1), self.dims)

    def period(self, config: Mapping[str, Any]) -> tuple[int, ...]:
        return self.dims_of(config)[1]

    def validate(self, config: dict[str, Any]) -> None:
        k, s, p, d = self.dims_of(config)
        if self.dims == 1 and self.kind == "max":  # max_pool1d has its own checks and words
            for key, value, rule in (("kernel_size", k[0], "must be greater than zero"), ("stride", s[0], "must be greater than zero"),
                                     ("padding", p[0], "must be non-negative"), ("dilation", d[0], "must be greater than zero")):
                if value < (0 if key == "padding" else 1):
                    raise OptionError(f"max_pool1d() {key} {rule}, but got {value}", key=key)
            if p[0] > k[0] // 2:
                raise OptionError(f"max_pool1d() padding should be at most half of kernel size, but got "
                                  f"padding={p[0]} and kernel_size={k[0]}", key="padding")
            return
        if self.dims == 1:  # avg_pool1d runs as avg_pool2d with a unit height
            k, s, p, d = (1, *k), (1, *s), (0, *p), (1, *d)
        names = ("T", "H", "W") if len(k) == 3 else ("H", "W")
        if any(v <= 0 for v in k):
            shown = " ".join(f"k{n}: {v}" for n, v in zip(names, k))
            raise OptionError(f"kernel size should be greater than zero, but got {shown}", key="kernel_size")
        if any(v <= 0 for v in s):
            raise OptionError("stride should not be zero", key="stride")
        if any(v < 0 for v in p):
            raise OptionError("pad must be non-negative" + (f", but got pad: {min(p)}" if len(k) == 3 else ""), key="padding")
        if any(v <= 0 for v in d):
            shown = " ".join(f"dilation{n}: {v}" for n, v in zip(names, d))
            raise OptionError(f"dilation should be greater than zero, but got {shown}", key="dilation")
        for kk, pp, dd in zip(k, p, d):
            if pp > ((kk - 1) * dd + 1) // 2:
                raise OptionError(
                    f"pad should be at most half of effective kernel size, but got pad={pp}, "
                    f"kernel_size={kk} and dilation={dd}",
                    key="padding",
                )
        if len(k) == 2 and any(pp > kk // 2 for kk, pp in zip(k, p)):  # then the kernel itself, dilation aside
            raise OptionError(
                "pad should be smaller than or equal to half of kernel size, but got "
                f"padW = {p[1]}, padH = {p[0]}, kW = {k[1]}, kH = {k[0]}",
                key="padding",
            )

    def inverse(self, applied: Applied, x: Shape, y: Shape) -> list[dict[str, Any]]:
        """A transposed convolution C -> C (groups 1: a learned upsampling) of the pool's kernel,
        stride, padding and dilation, with the output_padding the sizes need; ceil_mode's extra
        window is undone with more padding."""
        k, s, p, d = self.window(applied)
        return [transpose_layer(ConvParams.conv(k, s, p, d, in_channels=x[1], out_channels=x[1], ndim=self.dims), y, x)]

    def window(self, applied: Applied) -> tuple[Shape, Shape, Shape, Shape]:
        """Kernel, stride, padding and dilation per dim, from the applied arguments."""
        a = applied.args
        return tuple(per_dim(a.get(key, 1), self.dims) for key in ("kernel_size", "stride", "padding", "dilation"))  # type: ignore[return-value]

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        require_rank(self.name, x, (self.dims + 2,), f"a {self.dims + 2}D {SHAPES[self.dims]}")
        k, s, p, d = self.dims_of(config)
        ceil = config["ceil_mode"]
        out = tuple(engine.pool_length(i, kk, ss, pp, dd, ceil) for i, kk, ss, pp, dd in zip(x[2:], k, s, p, d))
        self._check_output(x, k, out)
        parts = [f"k{compact_x(k)}"]
        if s != k:
            parts.append(f"s{compact_x(s)}")
        if any(p):
            parts.append(f"p{compact_x(p)}")
        if any(v != 1 for v in d):
            parts.append(f"d{compact_x(d)}")
        if ceil:
            parts.append("ceil")
        notes = [] if ceil else ignored_note(
            [engine.unread(i, kk, ss, pp, pp, dd) for i, kk, ss, pp, dd in zip(x[2:], k, s, p, d)]
        )
        args: dict[str, Any] = {"kernel_size": per_dim_arg(k), "stride": per_dim_arg(s), "padding": per_dim_arg(p)}
        if self.kind == "max":
            args["dilation"] = per_dim_arg(d)
        args["ceil_mode"] = ceil
        if self.kind == "avg":
            args["count_include_pad"] = config["count_include_pad"]
            if self.dims > 1:
                args["divisor_override"] = config["divisor_override"]
        return Applied(output=(x[0], x[1], *out), config=" ".join(parts), notes=tuple(notes), args=args)

    def _check_output(self, x: Shape, k: Shape, out: Shape) -> None:
        """PyTorch's refusal of an empty output, in the words of each rank's kernel."""
        if self.kind == "avg" and self.dims == 3 and any(i < kk for i, kk in zip(x[2:], k)):
            sizes = " ".join(f"{n}: {v}" for n, v in zip("THW", x[2:]))
            kernel = " ".join(f"k{n}: {v}" for n, v in zip("THW", k))
            raise ConfigError(f"input image ({sizes}) smaller than kernel size ({kernel})",
                              hint="use a larger input, or a smaller kernel")
        if all(o >= 1 for o in out):
            return
        if self.kind == "max" and self.dims == 1:
            raise ConfigError(f"max_pool1d() Invalid computed output size: {out[0]}",
                              hint="use a larger input, or a smaller kernel or stride")
        lead = (1,) if self.dims == 1 else ()  # avg_pool1d runs as a 2-D pool of unit height
        given = "x".join(map(str, (x[1], *lead, *x[2:])))
        calculated = "x".join(map(str, (x[1], *lead, *out)))
        raise ConfigError(
            f"Given input size: ({given}). Calculated output size: ({calculated}). Output size is too small",
            hint="use a larger input, or a smaller kernel or stride",
        )

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        k, s, p, d = self.window(applied)
        out = applied.output[2:]
        return map_dims(fp, lambda ax, dim: gather(dim, window_deps(x[2 + ax], out[ax], k[ax], s[ax], p[ax], d[ax])))

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np
        from numpy.lib.stride_tricks import sliding_window_view

        k, s, p, d = self.window(applied)
        out = applied.output[2:]
        n = self.dims
        axes = tuple(range(2, 2 + n))
        extent = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
        # pad the end far enough for every (ceil_mode) window; clipped windows are handled below
        right = [max(0, (o - 1) * ss + e - pp - i) for o, ss, e, pp, i in zip(out, s, extent, p, x.shape[2:])]
        pads = ((0, 0), (0, 0), *zip(p, right))
        strided = (slice(None), slice(None), *(slice(None, None, ss) for ss in s))
        first = (slice(None), slice(None), *(slice(o) for o in out))
        taps = tuple(range(2 + n, 2 + 2 * n))
        if self.kind == "max":
            fill = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
            xp = np.pad(x, pads, constant_values=fill)
            win = sliding_window_view(xp, extent, axis=axes)[strided + tuple(slice(None, None, dd) for dd in d)]
            return win[first].max(axis=taps)
        xp = np.pad(x, pads)
        win = sliding_window_view(xp, extent, axis=axes)[strided]
        total = win[first].sum(axis=taps)
        a = applied.args
        if a.get("divisor_override"):
            return (total / a["divisor_override"]).astype(x.dtype)
        divisor = np.ones((1,) * n)
        for axis in range(n):
            starts = np.arange(out[axis]) * s[axis] - p[axis]
            ends = np.minimum(starts + k[axis], x.shape[2 + axis] + p[axis])
            if a["count_include_pad"]:
                count = ends - starts
            else:
                count = np.minimum(ends, x.shape[2 + axis]) - np.maximum(starts, 0)
            divisor = divisor * count.reshape([-1 if i == axis else 1 for i in range(n)])
        return (total / divisor).astype(x.dtype)


def per_dim(value: Any, dims: int) -> tuple[Any, ...]:
    """An int (or float) for every one of `dims` dims, or the per-dim values as a tuple.

    >>> per_dim(2, 3), per_dim([1, 2], 2)
    ((2, 2, 2), (1, 2))
    """
    return (value,) * dims if isinstance(value, (int, float)) else tuple(value)


def pair(value: Any) -> tuple[Any, ...]:
    return per_dim(value, 2)


class AdaptivePool(LayerKind):
    """adaptive_avg_pool{1,2,3}d and adaptive_max_pool{1,2,3}d: PyTorch's window per output."""

    def __init__(self, kind: str, dims: int = 2) -> None:
        self.kind = kind
        self.dims = dims
        self.name = f"adaptive_{kind}_pool{dims}d"
        self.torch_class = f"Adaptive{'Max' if kind == 'max' else 'Avg'}Pool{dims}d"
        self.keys = (Key("output_size", size_key(nullable_entries=True, ndim=dims), required=True),)

    def inverse(self, applied: Applied, x: Shape, y: Shape) -> list[dict[str, Any]]:
        return [{"type": "upsample", "size": list(x[2:]), "mode": "nearest"}]

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        require_rank(self.name, x, (self.dims + 2,), f"a {self.dims + 2}D {SHAPES[self.dims]}")
        out = tuple(o if o is not None else i for o, i in zip(config["output_size"], x[2:]))
        return Applied(
            output=(x[0], x[1], *out),
            config=f"out {'x'.join(map(str, out))}",
            args={"output_size": per_dim_arg(config["output_size"])},
        )

    @staticmethod
    def bounds(i: int, o: int) -> list[tuple[int, int]]:
        """[start, end) of each output's window, as PyTorch's adaptive pooling."""
        return [((j * i) // o, -(-((j + 1) * i) // o)) for j in range(o)]

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        out = applied.output[2:]
        return map_dims(
            fp, lambda ax, dim: gather(dim, (range(a, b) for a, b in self.bounds(x[2 + ax], out[ax])))
        )

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        return adaptive(x, applied.output[2:], self.kind)


def adaptive(x: np.ndarray, out: Sequence[int], kind: str) -> np.ndarray:
    """Adaptive average or max pooling of every spatial dim to `out`, one dim after another
    (a window's mean or max over a box is the mean or max of its per-dim reductions)."""
    import numpy as np

    reduce = np.mean if kind == "avg" else np.max
    for axis, o in enumerate(out, start=2):
        bounds = AdaptivePool.bounds(x.shape[axis], o)
        x = np.stack([reduce(np.take(x, range(a, b), axis=axis), axis=axis) for a, b in bounds], axis=axis)
    return x


KINDS: tuple[LayerKind, ...] = (
    *(Pool(kind, dims) for kind in ("max", "avg") for dims in (1, 2, 3)),
    *(AdaptivePool(kind, dims) for kind in ("avg", "max") for dims in (1, 2, 3)),
)
