"""Convolutions and transposed convolutions: every rule through the shape engine."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from math import prod
from typing import TYPE_CHECKING, Any

from .. import design
from .. import shape as engine
from ..errors import ConfigError, NoInverse
from ..footprint import Footprint, gather, map_dims, transpose_deps, window_deps
from ..params import ConvParams, Shape, axis_names
from ..text import compact_x, fmt_size
from .base import CONV_TILE_ELEMENTS, Applied, LayerKind, as_option_error, plural, uniform_weights
from .keys import (
    Key,
    Like,
    OptionError,
    bool_key,
    choice_key,
    in_channels_key,
    int_key,
    like_key,
    size_key,
    spatial_key,
)

if TYPE_CHECKING:
    import numpy as np


SHAPES = {1: "(N, C, L)", 2: "(N, C, H, W)", 3: "(N, C, D, H, W)"}  # a batched input of each rank
UNITS = {1: ("position",), 2: ("row", "col"), 3: ("plane", "row", "col")}  # what one step of each dim is


class Conv(LayerKind):
    """conv{1,2,3}d and conv_transpose{1,2,3}d: all of PyTorch's arguments; output_size for the latter."""

    def __init__(self, transposed: bool, dims: int = 2) -> None:
        self.transposed = transposed
        self.dims = dims
        self.name = f"conv_transpose{dims}d" if transposed else f"conv{dims}d"
        self.torch_class = f"ConvTranspose{dims}d" if transposed else f"Conv{dims}d"
        spatial = spatial_key(ndim=dims)
        keys = [
            Key("in_channels", in_channels_key),
            Key("out_channels", int_key(1), required=True),
            Key("kernel_size", spatial, required=True),
            Key("stride", spatial, 1),
            Key("padding", spatial_key(strings=() if transposed else ("same", "valid"), ndim=dims), 0),
        ]
        if transposed:
            keys += [Key("output_padding", spatial, 0),
                     Key("output_size", like_key(size_key(full_shape=True, ndim=dims)))]
        keys += [
            Key("dilation", spatial, 1),
            Key("groups", int_key(1), 1),
            Key("bias", bool_key, True),
            Key("padding_mode", choice_key("zeros", "reflect", "replicate", "circular"), "zeros"),
        ]
        self.keys = tuple(keys)

    def references(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        size = config.get("output_size")
        return (size.name,) if isinstance(size, Like) else ()

    def compares_sizes(self, config: Mapping[str, Any]) -> bool:
        return isinstance(config.get("output_size"), Like)

    def reference_rate(self, config: Mapping[str, Any], position: int) -> tuple[int, ...]:
        """The output lines up with the tensor it is sized like while that grows `stride` times as
        fast as the input (output_size reaches only stride - 1 above the smallest output)."""
        return self.params(config).stride

    def helpers(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        return (CONV_TRANSPOSE_LIKE.format(dims=self.dims),) if self.compares_sizes(config) else ()

    def torch_code(self, applied: Applied, config: Mapping[str, Any]) -> str:
        code = super().torch_code(applied, config)
        return code.replace(f"nn.{self.torch_class}(", f"{self.torch_class}Like(", 1) if self.compares_sizes(config) else code

    def inverse(self, applied: Applied, x: Shape, y: Shape) -> list[dict[str, Any]]:
        """conv -> conv_transpose with the same k, s, p, d, g and the output_padding the sizes
        need; conv_transpose -> conv (exact while output_padding < stride)."""
        p = applied.conv
        assert p is not None
        if not self.transposed:
            return [transpose_layer(p, y, x)]
        conv = ConvParams.conv(
            p.kernel_size, p.stride, p.padding, p.dilation, p.groups, p.bias,
            in_channels=p.out_channels, out_channels=p.in_channels, ndim=p.ndim,
        )
        if engine.spatial_output(conv, y[2:]) != x[2:]:
            raise NoInverse(
                f"its output_padding {fmt_size(p.output_padding)} is not below its stride "
                f"{fmt_size(p.stride)}, so the {conv.class_name} with the same parameters maps {fmt_size(y[2:])} to "
                f"{fmt_size(engine.spatial_output(conv, y[2:]))}, not {fmt_size(x[2:])}"
            )
        return [file_layer(conv)]

    def resize_fix(self, applied: Applied, x: Shape, want: Sequence[int]) -> str | None:
        """A transposed layer reaches every size up to max(stride, dilation) - 1 above its
        smallest through output_padding (bias-only rows, said in the fix's own words)."""
        p = applied.conv
        if not self.transposed or p is None:
            return None
        mins, _ = engine.output_size_range(p, x[2:])
        ops = [w - m for w, m in zip(want, mins)]
        if not all(0 <= op < max(s, d) for op, s, d in zip(ops, p.stride, p.dilation)):
            return None
        return f"set output_padding: {ops[0] if len(set(ops)) == 1 else ops}"

    def summary(self, config: Mapping[str, Any], options: Mapping[str, Any]) -> str:
        try:
            return self.params(config).compact()
        except ConfigError:
            return super().summary(config, options)

    def params(self, config: Mapping[str, Any], in_channels: int | None = None) -> ConvParams:
        common = dict(
            in_channels=in_channels if in_channels is not None else config["in_channels"],
            out_channels=config["out_channels"],
            ndim=self.dims,
        )
        if self.transposed:
            return ConvParams.conv_transpose(
                config["kernel_size"], config["stride"], config["padding"], config["output_padding"],
                config["groups"], config["bias"], config["dilation"], config["padding_mode"], **common,
            )
        return ConvParams.conv(
            config["kernel_size"], config["stride"], config["padding"], config["dilation"],
            config["groups"], config["bias"], config["padding_mode"], **common,
        )

    def period(self, config: Mapping[str, Any]) -> tuple[int, ...]:
        return (1,) * self.dims if self.transposed else self.params(config).stride

    def validate(self, config: dict[str, Any]) -> None:
        if self.transposed and config["output_size"] is not None and config["output_padding"] not in (0, (0,) * self.dims):
            raise OptionError(
                "give output_padding or output_size, not both (PyTorch ignores output_padding "
                "when output_size is given)",
                key="output_size",
            )
        try:
            # a Conv2d checks its numbers in forward; a file is better told at load time
            self.params(config).check_numbers()
        except ConfigError as error:
            raise as_option_error(error) from None

    def apply(self, config: Mapping[str, Any], x: Shape, skips: tuple[Shape, ...] = ()) -> Applied:
        wanted = SHAPES[self.dims]
        if len(x) == self.dims + 1:  # PyTorch would take it as unbatched; files keep the batch dim
            raise ConfigError(
                f"{self.name} in an architecture file needs an {wanted} input, but got input of size: {list(x)}",
                hint=f"give the input as [{wanted[1:-1]}]",
            )
        if len(x) != self.dims + 2:
            raise ConfigError(
                f"Expected {self.dims + 1}D (unbatched) or {self.dims + 2}D (batched) input to {self.name}, "
                f"but got input of size: {list(x)}",
                hint=rank_hint(self.name, self.dims, len(x)),
            )
        written = self.params(config)
        if written.in_channels is not None and written.in_channels != x[1]:
            engine.output_shape(written, x)  # raises PyTorch's message
        params = self.params(config, in_channels=x[1])
        notes: list[str] = []
        if self.transposed and config["output_size"] is not None:
            size = config["output_size"]
            if isinstance(size, Like):
                size = skips[0][2:]
                if len(size) != self.dims:
                    raise ConfigError(
                        f"output_size like {config['output_size'].name} has {len(size)} spatial dims, but "
                        f"{self.name} has {self.dims}: it takes the size of a {SHAPES[self.dims]} tensor"
                    )
            op = engine.output_padding_for(params, x, size)
            params = params.replace(output_padding=op)
            written_size = f"like {config['output_size'].name} " if isinstance(config["output_size"], Like) else ""
            notes.append(f"output_size {written_size}{fmt_size(size[-self.dims:])} -> output_padding {compact_x(op)}")
        out = engine.output_shape(params, x)
        notes += self._notes(params, x[2:])
        config_text = params.compact()
        if params.padding_mode != "zeros":
            config_text += f" {params.padding_mode}"
        return Applied(
            output=out,
            param_count=engine.param_count(params) or 0,
            macs=engine.macs(params, x[0], x[2:], out[2:]) or 0,
            config=config_text,
            notes=tuple(notes),
            args=_conv_args(params),
            conv=params,
        )

    def _notes(self, params: ConvParams, spatial: Shape) -> list[str]:
        if self.transposed:
            notes = []
            pattern = engine.overlap(params)
            if any(o.gaps for o in pattern):
                notes.append("gaps: some outputs get no kernel tap")
            elif not all(o.even for o in pattern):
                shown = " x ".join(",".join(map(str, o.pattern)) for o in pattern)
                notes.append(f"checkerboard: uneven overlap {shown}")
            if any(op >= s for op, s in zip(params.output_padding, params.stride)):
                notes.append("output_padding >= stride (legal through dilation)")
            return notes
        ignored = [
            engine.unread(i, k, s, a, b, d)
            for i, k, s, (a, b), d in zip(
                spatial, params.kernel_size, params.stride, params.padding_pairs, params.dilation
            )
        ]
        return ignored_note(ignored)

    def footprint(self, applied: Applied, x: Shape, fp: Footprint, skips: tuple[Footprint, ...] = ()) -> Footprint:
        p = applied.conv
        assert p is not None
        out = applied.output[2:]

        def per_dim(axis: int, dim: list[tuple[int, int] | None]) -> list[tuple[int, int] | None]:
            k, s, d = p.kernel_size[axis], p.stride[axis], p.dilation[axis]
            if p.transposed:
                return gather(dim, transpose_deps(x[2 + axis], out[axis], k, s, p.padding[axis], d))
            before = p.padding_pairs[axis][0]
            return gather(dim, window_deps(x[2 + axis], out[axis], k, s, before, d, p.padding_mode))

        return map_dims(fp, per_dim)

    def workspace(self, applied: Applied, x: Shape, out: Shape) -> int:
        """Copies of the input and output (padding, layouts) plus each thread's tile of columns:
        a tile holds at most every tap's copy of the input and output, and never more than
        CONV_TILE_ELEMENTS (the sweep in the tests measures the numeric engine against this)."""
        from ..numeric import get_num_threads

        moved = prod(x) + prod(out)
        taps = prod(applied.conv.kernel_size) if applied.conv is not None else 1
        return 2 * moved + get_num_threads() * min(taps * moved, CONV_TILE_ELEMENTS)

    def init(self, applied: Applied, x: Shape, rng: Any, dtype: Any) -> dict[str, np.ndarray]:
        p = applied.conv
        assert p is not None
        w_shape = engine.weight_shape(p)
        assert w_shape is not None
        bound = 1 / math.sqrt(prod(w_shape[1:])) if prod(w_shape[1:]) else 0.0
        weights = {"weight": uniform_weights(rng, bound, w_shape, dtype)}
        if p.bias:
            weights["bias"] = uniform_weights(rng, bound, (p.out_channels or 0,), dtype)
        return weights

    def forward(self, applied: Applied, weights: Mapping[str, np.ndarray], x: np.ndarray, skips: Sequence[np.ndarray] = ()) -> np.ndarray:
        from .. import numeric

        p = applied.conv
        assert p is not None
        bias = weights.get("bias")
        if p.transposed:
            transpose = getattr(numeric, f"conv_transpose{p.ndim}d")
            return transpose(x, weights["weight"], bias, p.stride, p.padding, p.output_padding, p.groups, p.dilation)
        conv = getattr(numeric, f"conv{p.ndim}d")
        pairs = p.padding_pairs
        if p.padding_mode == "zeros" and all(a == b for a, b in pairs):
            return conv(x, weights["weight"], bias, p.stride, tuple(a for a, _ in pairs), p.dilation, p.groups)
        padded = numeric.pad(x, pairs, p.padding_mode)
        return conv(padded, weights["weight"], bias, p.stride, 0, p.dilation, p.groups)


# What export defines for `output_size: {like: NAME}`: the module called with NAME's spatial size.
CONV_TRANSPOSE_LIKE = '''
class ConvTranspose{dims}dLike(nn.ConvTranspose{dims}d):
    """ConvTranspose{dims}d whose output has the spatial size of `like` (forward's output_size)."""

    def forward(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, output_size=list(like.shape[2:]))
'''


def ignored_note(ignored: Sequence[int]) -> list[str]:
    """`never reads the last 1 row and 2 cols`, from the count per spatial dim.

    >>> ignored_note([1]), ignored_note([0, 1, 2])
    (['never reads the last 1 position'], ['never reads the last 1 row and 2 cols'])
    """
    parts = [plural(n, unit) for n, unit in zip(ignored, UNITS[len(ignored)]) if n]
    return [f"never reads the last {' and '.join(parts)}"] if parts else []


def rank_hint(name: str, dims: int, rank: int) -> str:
    """What fits a tensor of `rank` instead of a `dims`-d kind: the kind of the same family in its dims."""
    fits = name.replace(f"{dims}d", f"{rank - 2}d") if 3 <= rank <= 5 else None
    return f"a {name} needs an {SHAPES[dims]} tensor" + (f"; this {rank}D tensor takes {fits}" if fits else "")


def per_dim_arg(values: Sequence[Any]) -> Any:
    """PyTorch-style argument: an int when every dim agrees, else a tuple."""
    return values[0] if len(set(values)) == 1 else tuple(values)


def _conv_args(p: ConvParams) -> dict[str, Any]:
    args: dict[str, Any] = {
        "in_channels": p.in_channels,
        "out_channels": p.out_channels,
        "kernel_size": per_dim_arg(p.kernel_size),
        "stride": per_dim_arg(p.stride),
        "padding": p.padding_string or per_dim_arg(p.padding),
    }
    if p.transposed:
        args["output_padding"] = per_dim_arg(p.output_padding)
    args.update(dilation=per_dim_arg(p.dilation), groups=p.groups, bias=p.bias)
    if not p.transposed:
        args["padding_mode"] = p.padding_mode
    return args


# -- pooling --------------------------------------------------------------------------------


def file_layer(p: ConvParams) -> dict[str, Any]:
    """A convolution as a layer of an architecture file, every argument explicit.

    >>> file_layer(ConvParams.conv_transpose(4, 2, 1, in_channels=8, out_channels=4))["output_padding"]
    0
    """
    layer: dict[str, Any] = {
        "type": p.op,
        "in_channels": p.in_channels,
        "out_channels": p.out_channels,
        "kernel_size": _file_value(p.kernel_size),
        "stride": _file_value(p.stride),
        "padding": _file_value(p.padding),
    }
    if p.transposed:
        layer["output_padding"] = _file_value(p.output_padding)
    layer.update(dilation=_file_value(p.dilation), groups=p.groups, bias=p.bias)
    return layer


def _file_value(values: Sequence[int]) -> int | list[int]:
    """An int when every dim agrees (as a file writes it), else a list."""
    return values[0] if len(set(values)) == 1 else list(values)


def transpose_layer(conv: ConvParams, small: Shape, big: Shape) -> dict[str, Any]:
    """The ConvTranspose (conv's k, s, d, g, bias; channels reversed) that maps `small` to `big`.

    design.invert gives it whenever `conv` itself maps `big` to `small` (the exact inverse);
    otherwise (a pool's ceil_mode window, 'same' padding of an even kernel) the padding and
    output_padding are searched, per dim, nearest the layer's own padding first.
    """
    try:
        inverse = design.invert(conv, big[2:])
    except ConfigError:
        inverse = None
    if inverse is not None and inverse.conv_output == small[2:]:
        return file_layer(inverse.transpose)
    pads = tuple(before for before, _ in conv.padding_pairs)
    found = [
        _dim_padding(n, target, k, s, d, p)
        for n, target, k, s, d, p in zip(small[2:], big[2:], conv.kernel_size, conv.stride, conv.dilation, pads)
    ]
    if any(f is None for f in found):
        axes = [name for name, f in zip(axis_names(conv.ndim)[-conv.ndim:], found) if f is None]
        raise NoInverse(
            f"no ConvTranspose{conv.ndim}d with its kernel {fmt_size(conv.kernel_size)}, stride {fmt_size(conv.stride)} "
            f"and dilation {fmt_size(conv.dilation)} maps {fmt_size(small[2:])} back to {fmt_size(big[2:])} "
            f"(in {' and '.join(axes)}: no padding and output_padding reach it)",
            hint="an even kernel with padding='same' pads one side more; use an odd kernel or explicit padding",
        )
    transpose = ConvParams.conv_transpose(
        conv.kernel_size, conv.stride, tuple(f[0] for f in found), tuple(f[1] for f in found),  # type: ignore[index]
        conv.groups, conv.bias, conv.dilation,
        in_channels=conv.out_channels, out_channels=conv.in_channels, ndim=conv.ndim,
    )
    if engine.spatial_output(transpose, small[2:]) != big[2:]:
        raise AssertionError(f"{transpose.compact()} does not map {small} to {big}")
    return file_layer(transpose)


def _dim_padding(n: int, target: int, k: int, s: int, d: int, prefer: int) -> tuple[int, int] | None:
    """(padding, output_padding) of a 1-D ConvTranspose(k, s, d) taking n to target, the
    padding nearest `prefer`; None when there is none.

    >>> _dim_padding(4, 7, 2, 2, 1, 0)  # undo a ceil_mode pool k2 (7 -> 4): padding 1, op 1
    (1, 1)
    >>> _dim_padding(5, 5, 2, 1, 1, 0)  # k2 'same' at stride 1: no symmetric padding exists
    """
    top = engine.transpose_length(n, k, s, 0, d)  # each unit of padding takes 2 off
    for p in sorted(range((max(top - target, 0) + 1) // 2 + 1), key=lambda p: (abs(p - prefer), p)):
        op = target - engine.transpose_length(n, k, s, p, d)
        if 0 <= op < max(s, d):
            return p, op
    return None


KINDS: tuple[LayerKind, ...] = tuple(Conv(transposed, dims) for transposed in (False, True) for dims in (1, 2, 3))
