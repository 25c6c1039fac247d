"""Pooling: max and average pools, adaptive average pooling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import shape as engine
from ..errors import ConfigError
from ..footprint import Axis, Footprint, Grid, gather, map_dims, map_grid, window_deps
from ..params import ConvParams, Shape
from ..text import compact_x
from .base import Applied, LayerKind, require_rank
from .conv import ignored_note, per_dim_arg, transpose_layer
from .keys import Key, OptionError, bool_key, int_key, size_key, spatial_key

if TYPE_CHECKING:
    import numpy as np


class Pool(LayerKind):
    """max_pool2d and avg_pool2d."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = f"{kind}_pool2d"
        self.torch_class = "MaxPool2d" if kind == "max" else "AvgPool2d"
        keys = [
            Key("kernel_size", spatial_key(), required=True),
            Key("stride", lambda k, v: None if v is None else spatial_key()(k, v), None),
            Key("padding", spatial_key(), 0),
        ]
        if kind == "max":
            keys.append(Key("dilation", spatial_key(), 1))
        keys.append(Key("ceil_mode", bool_key, False))
        if kind == "avg":
            keys += [Key("count_include_pad", bool_key, True), Key("divisor_override", int_key(1), None)]
        self.keys = tuple(keys)

    def dims(self, config: Mapping[str, Any]) -> tuple[Shape, Shape, Shape, Shape]:
        def two(v: Any) -> Shape:
            return (v, v) if isinstance(v, int) else tuple(v)

        k = two(config["kernel_size"])
        s = two(config["stride"]) if config["stride"] is not None else k
        return k, s, two(config["padding"]), two(config.get("dilation", 1))

    def period(self, config: Mapping[str, Any]) -> tuple[int, ...]:
        return self.dims(config)[1]

    def validate(self, config: dict[str, Any]) -> None:
        k, s, p, d = self.dims(config)
        if any(v <= 0 for v in k):
            raise OptionError(f"kernel size should be greater than zero, but got kH: {k[0]} kW: {k[1]}", key="kernel_size")
        if any(v <= 0 for v in s):
            raise OptionError("stride should not be zero", key="stride")
        if any(v < 0 for v in p):
            raise OptionError("pad must be non-negative", key="padding")
        if any(v <= 0 for v in d):
            raise OptionError(
                f"dilation should be greater than zero, but got dilationH: {d[0]} dilationW: {d[1]}", key="dilation"
            )
        for kk, pp, dd in zip(k, p, d):
            if pp > ((kk - 1) * dd + 1) // 2:
                raise OptionError(
                    f"pad should be at most half of effective kernel size, but got pad={pp}, "
                    f"kernel_size={kk} and dilation={dd}",
                    key="padding",
                )
        if any(pp > kk // 2 for kk, pp in zip(k, p)):  # then the kernel itself, dilation aside
            raise OptionError(
                "pad should be smaller than or equal to half of kernel size, but got "
                f"padW = {p[1]}, padH = {p[0]}, kW = {k[1]}, kH = {k[0]}",
                key="padding",
            )

    def inverse(self, applied: Applied, x: Shape, y: Shape) -> list[dict[str, Any]]:
        """A transposed convolution C -> C (groups 1: a learned upsampling) of the pool's kernel,
        stride, padding and dilation, with the output_padding the sizes need; ceil_mode's extra
        window is undone with more padding."""
        a = applied.args
        k, s, p, d = (pair(a["kernel_size"]), pair(a["stride"]), pair(a["padding"]), pair(a.get("dilation", 1)))
        return [transpose_layer(ConvParams.conv(k, s, p, d, in_channels=x[1], out_channels=x[1], ndim=2), y, x)]

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        require_rank(self.name, x, (4,), "a 4D (N, C, H, W)")
        k, s, p, d = self.dims(config)
        ceil = config["ceil_mode"]
        out = tuple(engine.pool_length(i, kk, ss, pp, dd, ceil) for i, kk, ss, pp, dd in zip(x[2:], k, s, p, d))
        if any(o < 1 for o in out):
            raise ConfigError(
                f"Given input size: ({x[1]}x{x[2]}x{x[3]}). Calculated output size: "
                f"({x[1]}x{out[0]}x{out[1]}). Output size is too small",
                hint="use a larger input, or a smaller kernel or stride",
            )
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
            args["divisor_override"] = config["divisor_override"]
        return Applied(output=(x[0], x[1], *out), config=" ".join(parts), notes=tuple(notes), args=args)

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        a = applied.args
        k, s, p = pair(a["kernel_size"]), pair(a["stride"]), pair(a["padding"])
        d = pair(a.get("dilation", 1))
        out = applied.output[2:]
        return map_dims(fp, lambda ax, dim: gather(dim, window_deps(x[2 + ax], out[ax], k[ax], s[ax], p[ax], d[ax])))

    def grid(self, applied: Applied, x: Shape, grid: Grid, skips: tuple[Grid, ...] = ()) -> Grid:
        a = applied.args
        k, s, p, d = pair(a["kernel_size"]), pair(a["stride"]), pair(a["padding"]), pair(a.get("dilation", 1))
        return map_grid(grid, lambda ax, g: g.window(k[ax], s[ax], d[ax], p[ax]))

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np
        from numpy.lib.stride_tricks import sliding_window_view

        a = applied.args
        k, s, p = pair(a["kernel_size"]), pair(a["stride"]), pair(a["padding"])
        d = pair(a.get("dilation", 1))
        out = applied.output[2:]
        extent = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
        # pad right far enough for every (ceil_mode) window; clipped windows are handled below
        right = [max(0, (o - 1) * ss + e - pp - i) for o, ss, e, pp, i in zip(out, s, extent, p, x.shape[2:])]
        pads = ((0, 0), (0, 0), (p[0], right[0]), (p[1], right[1]))
        if self.kind == "max":
            fill = -np.inf if np.issubdtype(x.dtype, np.floating) else np.iinfo(x.dtype).min
            xp = np.pad(x, pads, constant_values=fill)
            win = sliding_window_view(xp, extent, axis=(2, 3))[:, :, :: s[0], :: s[1], :: d[0], :: d[1]]
            return win[:, :, : out[0], : out[1]].max(axis=(4, 5))
        xp = np.pad(x, pads)
        win = sliding_window_view(xp, extent, axis=(2, 3))[:, :, :: s[0], :: s[1]]
        total = win[:, :, : out[0], : out[1]].sum(axis=(4, 5))
        if a["divisor_override"]:
            return (total / a["divisor_override"]).astype(x.dtype)
        counts = []
        for axis in range(2):
            starts = np.arange(out[axis]) * s[axis] - p[axis]
            ends = np.minimum(starts + k[axis], x.shape[2 + axis] + p[axis])
            if a["count_include_pad"]:
                counts.append(ends - starts)
            else:
                counts.append(np.minimum(ends, x.shape[2 + axis]) - np.maximum(starts, 0))
        divisor = counts[0][:, None] * counts[1][None, :]
        return (total / divisor).astype(x.dtype)


def pair(value: Any) -> tuple[Any, ...]:
    return (value, value) if isinstance(value, (int, float)) else tuple(value)


class AdaptiveAvgPool(LayerKind):
    name = "adaptive_avg_pool2d"
    torch_class = "AdaptiveAvgPool2d"
    keys = (Key("output_size", size_key(nullable_entries=True), required=True),)

    def inverse(self, applied: Applied, x: Shape, y: Shape) -> list[dict[str, Any]]:
        return [{"type": "upsample", "size": list(x[2:]), "mode": "nearest"}]

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        require_rank(self.name, x, (4,), "a 4D (N, C, H, W)")
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

    def grid(self, applied: Applied, x: Shape, grid: Grid, skips: tuple[Grid, ...] = ()) -> Grid:
        """Where the output divides the input, every window is k = s = in / out wide (an avg pool);
        elsewhere the windows' widths and steps vary, so there is no affine grid."""

        def per_axis(ax: int, g: Axis) -> Axis | None:
            n, o = x[2 + ax], applied.output[2 + ax]
            return g.window(n // o, n // o, 1, 0) if n % o == 0 else None

        return map_grid(grid, per_axis)

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np

        out = applied.output[2:]
        rows = self.bounds(x.shape[2], out[0])
        cols = self.bounds(x.shape[3], out[1])
        result = np.empty((*x.shape[:2], *out), dtype=x.dtype)
        for r, (a, b) in enumerate(rows):
            band = x[:, :, a:b].mean(axis=2)
            for c, (e, f) in enumerate(cols):
                result[:, :, r, c] = band[:, :, e:f].mean(axis=2)
        return result


KINDS: tuple[LayerKind, ...] = (
    Pool("max"),
    Pool("avg"),
    AdaptiveAvgPool(),
)
