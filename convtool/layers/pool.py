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
from .keys import Key, Like, OptionError, bool_key, int_key, like_key, size_key, spatial_key
from .pad import name_key

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
            y = win[first].max(axis=taps)
            carry_indices(y, lambda: max_indices(win[first], x.shape[2:], s, p, d))
            return y
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


# A max pool's output carries its indices for a max_unpool that names it: computed on request
# (they cost a copy of every window), held while the output lives.
_INDICES: dict[int, Any] = {}


def carry_indices(y: np.ndarray, compute: Any) -> None:
    import weakref

    _INDICES[id(y)] = compute
    weakref.finalize(y, _INDICES.pop, id(y), None)


def indices_of(y: np.ndarray) -> np.ndarray:
    """The flat indices (per image and channel, into the pool's input) a max pool's output came from."""
    return _INDICES[id(y)]()


def max_indices(windows: np.ndarray, spatial: Sequence[int], s: Shape, p: Shape, d: Shape) -> np.ndarray:
    """Where each window's maximum sits, as PyTorch's return_indices: a flat index into the pool's
    input, the first maximum in the window's row-major order."""
    import numpy as np

    n = len(spatial)
    out = windows.shape[2:2 + n]
    flat = windows.reshape(*windows.shape[:2 + n], -1)
    tap = np.unravel_index(flat.argmax(axis=-1), windows.shape[2 + n:])
    coords = []
    for axis in range(n):
        start = np.arange(out[axis]) * s[axis] - p[axis]
        start = start.reshape([-1 if a == axis else 1 for a in range(n)])
        coords.append(start + tap[axis] * d[axis])
    return np.ravel_multi_index(tuple(np.broadcast_arrays(*coords)), tuple(spatial))


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


class MaxUnpool(LayerKind):
    """max_unpool{1,2,3}d: the values of a max pool's output put back where the pool took them from
    (`indices: NAME` names the pool), zeros elsewhere."""

    reads_indices = True

    def __init__(self, dims: int) -> None:
        self.dims = dims
        self.name = f"max_unpool{dims}d"
        self.torch_class = f"MaxUnpool{dims}d"
        spatial = spatial_key(ndim=dims)
        self.keys = (
            Key("kernel_size", spatial, required=True),
            Key("stride", lambda k, v: None if v is None else spatial(k, v), None),
            Key("padding", spatial, 0),
            Key("indices", name_key, required=True),
            Key("output_size", like_key(size_key(full_shape=True, ndim=dims))),
        )

    def references(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        like = config["output_size"]
        return (config["indices"], *((like.name,) if isinstance(like, Like) else ()))

    def compares_sizes(self, config: Mapping[str, Any]) -> bool:
        return True

    def reference_rate(self, config: Mapping[str, Any], position: int) -> tuple[int, ...]:
        return self.window(config)[1] if position else (1,)  # the indices have the input's size

    def window(self, config: Mapping[str, Any]) -> tuple[Shape, Shape, Shape]:
        k = per_dim(config["kernel_size"], self.dims)
        s = per_dim(config["stride"], self.dims) if config["stride"] is not None else k
        return k, s, per_dim(config["padding"], self.dims)

    def period(self, config: Mapping[str, Any]) -> tuple[int, ...]:
        return (1,) * self.dims

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        require_rank(self.name, x, (self.dims + 2,), f"a {self.dims + 2}D {SHAPES[self.dims]}")
        if skips[0] != x:
            raise ConfigError(f"Expected shape of indices to be same as that of the input tensor ({list(x)}) but "
                              f"got indices tensor with shape: {list(skips[0])}",
                              hint=f"indices: {config['indices']} must be the max pool whose output this layer reads")
        k, s, p = self.window(config)
        default = tuple((i - 1) * ss + kk - 2 * pp for i, kk, ss, pp in zip(x[2:], k, s, p))
        size, notes = config["output_size"], []
        if isinstance(size, Like):
            size = skips[1][2:]
            if len(size) != self.dims:
                raise ConfigError(f"output_size like {config['output_size'].name} has {len(size)} spatial dims, "
                                  f"but {self.name} has {self.dims}")
            notes.append(f"output_size like {config['output_size'].name}")
        out = default
        if size is not None:
            size = tuple(size[-self.dims:])
            for axis, (o, base, ss) in enumerate(zip(size, default, s)):
                if not base - ss < o < base + ss:
                    raise ConfigError(f'invalid output_size "{size}" (dim {axis} must be between {base - ss} '
                                      f'and {base + ss})')
            out = size
        if any(o < 1 for o in out):
            raise ConfigError(f"{self.name} gives an empty output {list(out)} from {list(x[2:])}")
        args = {"kernel_size": per_dim_arg(k), "stride": per_dim_arg(s), "padding": per_dim_arg(p)}
        parts = [f"k{compact_x(k)}"] + ([f"s{compact_x(s)}"] if s != k else []) + ([f"p{compact_x(p)}"] if any(p) else [])
        return Applied(output=(x[0], x[1], *out), config=" ".join(parts + [f"indices {config['indices']}"]),
                       notes=tuple(notes), args=args)

    def torch_code(self, applied: Applied, config: Mapping[str, Any]) -> str:
        return super().torch_code(applied, config).replace(f"nn.{self.torch_class}(", f"MaxUnpool{self.dims}dTo(", 1)

    def helpers(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        return (MAX_UNPOOL_TO.format(dims=self.dims),)

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        """An output position holds the value of an input whose window covers it (which one, the
        data decides): the union over the windows that cover it."""
        k, s, p = (per_dim(applied.args[key], self.dims) for key in ("kernel_size", "stride", "padding"))
        out = applied.output[2:]

        def per_dim_(axis: int, dim: list[tuple[int, int] | None]) -> list[tuple[int, int] | None]:
            deps: list[list[int]] = [[] for _ in range(out[axis])]
            for i in range(x[2 + axis]):
                for t in range(k[axis]):
                    o = i * s[axis] - p[axis] + t
                    if 0 <= o < out[axis]:
                        deps[o].append(i)
            return gather(dim, deps)

        return map_dims(fp, per_dim_)

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        import numpy as np

        indices = indices_of(skips[0]).reshape(*x.shape[:2], -1)
        out = applied.output[2:]
        size = int(np.prod(out))
        if indices.size and indices.max() >= size:
            raise ConfigError(f"Found an invalid max index: {int(indices.max())} (output volumes are of size "
                              f"{'x'.join(map(str, out))})")
        y = np.zeros((*x.shape[:2], size), dtype=x.dtype)
        np.put_along_axis(y, indices, x.reshape(*x.shape[:2], -1), axis=-1)
        return y.reshape(*x.shape[:2], *out)


# What export defines: MaxUnpool called with the pool's indices and the size it is to have.
MAX_UNPOOL_TO = '''
class MaxUnpool{dims}dTo(nn.MaxUnpool{dims}d):
    """MaxUnpool{dims}d given the indices of its max pool, and `like` (a tensor of the output's size) or none."""

    def forward(self, x: torch.Tensor, indices: torch.Tensor, like: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, indices, output_size=None if like is None else list(like.shape[2:]))
'''


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
    *(MaxUnpool(dims) for dims in (1, 2, 3)),
)
