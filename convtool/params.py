"""One normalised, validated parameter type for convolutions and transposed convolutions.

Ints become per-dim tuples; every check PyTorch makes at construction (and the input-free
checks it makes in forward) runs here, in PyTorch's order and with its wording.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

from .errors import ConfigError
from .text import compact_x

Spatial = tuple[int, ...]  # one int per spatial dim
Shape = tuple[int, ...]  # a full tensor shape (N, C, *spatial)
IntOrSeq = Union[int, Sequence[int]]  # noqa: UP007 (a runtime alias: `|` needs 3.10 types)

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
PADDING_STRINGS = ("same", "valid")


def axis_names(ndim: int) -> tuple[str, ...]:
    """PyTorch's axis names in kernel messages (1-D runs as 2-D with a unit height axis).

    >>> axis_names(3)
    ('depth', 'height', 'width')
    """
    return {1: ("height", "width"), 2: ("height", "width"), 3: ("depth", "height", "width")}.get(
        ndim, tuple(f"dim{i}" for i in range(ndim))
    )


def kernel_values(values: Spatial, unit: int) -> Spatial:
    """The values as PyTorch's kernels print them: a 1-D layer gains a leading unit axis."""
    return (unit, *values) if len(values) == 1 else values


def named_values(label: str, values: Spatial, unit: int, sep: str = " ") -> str:
    """`stride_height: 2 stride_width: 2`, as the kernels' messages list per-axis values."""
    shown = kernel_values(values, unit)
    return sep.join(f"{label}_{axis}: {v}" for axis, v in zip(axis_names(len(shown)), shown))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def per_dim(name: str, value: object, ndim: int) -> Spatial:
    """Normalise an int or a sequence to one int per spatial dim.

    >>> per_dim("stride", 2, 2)
    (2, 2)
    >>> per_dim("kernel_size", [3, 5], 2)
    (3, 5)
    """
    if _is_int(value):
        return (int(value),) * ndim  # type: ignore[call-overload]
    if isinstance(value, (list, tuple)) and all(_is_int(v) for v in value):
        if len(value) == ndim:
            return tuple(int(v) for v in value)
        raise ConfigError(
            f"expected {name} to be a single integer value or a list of {ndim} values to match "
            f"the convolution dimensions, but got {name}={list(value)}", key=name,
        )
    raise ConfigError(f"{name} must be an int or a tuple of {ndim} ints, but got {value!r}", key=name)


def infer_ndim(*values: object, default: int = 2) -> int:
    """The number of spatial dims implied by the first sequence among the values."""
    for value in values:
        if isinstance(value, (list, tuple)) and not isinstance(value, str):
            return len(value)
    return default


@dataclass(frozen=True)
class ConvParams:
    """A Conv{n}d or ConvTranspose{n}d layer's parameters, normalised and validated.

    >>> p = ConvParams.conv_transpose(3, stride=2, in_channels=16, out_channels=33)
    >>> p.kernel_size, p.stride, p.output_padding, p.op
    ((3, 3), (2, 2), (0, 0), 'conv_transpose2d')
    """

    kernel_size: Spatial
    stride: Spatial
    padding: Spatial
    dilation: Spatial
    output_padding: Spatial
    groups: int = 1
    in_channels: int | None = None
    out_channels: int | None = None
    bias: bool = True
    transposed: bool = True
    padding_mode: str = "zeros"
    padding_string: str | None = None  # 'same' or 'valid' when written so (conv only)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def conv_transpose(
        cls,
        kernel_size: IntOrSeq,
        stride: IntOrSeq = 1,
        padding: IntOrSeq | str = 0,
        output_padding: IntOrSeq = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: IntOrSeq = 1,
        padding_mode: str = "zeros",
        *,
        in_channels: int | None = None,
        out_channels: int | None = None,
        ndim: int | None = None,
    ) -> ConvParams:
        """ConvTranspose{n}d's parameters, in its argument order, checked as PyTorch does."""
        name = f"ConvTranspose{ndim or infer_ndim(kernel_size, stride, padding, output_padding, dilation)}d"
        if padding_mode != "zeros":
            raise ConfigError(f'Only "zeros" padding mode is supported for {name}', key="padding_mode")
        if isinstance(padding, str):
            raise ConfigError(
                f"transposed convolutions take no string padding, but got padding={padding!r}",
                hint="give padding as an int or a tuple; for 'same'-like sizes use "
                "`convtool invert SIZE --to TARGET`", key="padding",
            )
        nd = ndim or infer_ndim(kernel_size, stride, padding, output_padding, dilation)
        _check_groups(groups, in_channels, out_channels)
        params = cls(
            kernel_size=per_dim("kernel_size", kernel_size, nd),
            stride=per_dim("stride", stride, nd),
            padding=per_dim("padding", padding, nd),
            dilation=per_dim("dilation", dilation, nd),
            output_padding=per_dim("output_padding", output_padding, nd),
            groups=groups,
            in_channels=in_channels,
            out_channels=out_channels,
            bias=bool(bias),
            transposed=True,
        )
        params.check_numbers()
        return params

    @classmethod
    def conv(
        cls,
        kernel_size: IntOrSeq,
        stride: IntOrSeq = 1,
        padding: IntOrSeq | str = 0,
        dilation: IntOrSeq = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        *,
        in_channels: int | None = None,
        out_channels: int | None = None,
        ndim: int | None = None,
    ) -> ConvParams:
        """Conv{n}d's parameters, in its argument order, checked as PyTorch does."""
        nd = ndim or infer_ndim(kernel_size, stride, padding, dilation)
        _check_groups(groups, in_channels, out_channels)
        padding_string = None
        if isinstance(padding, str):
            if padding not in PADDING_STRINGS:
                raise ConfigError(
                    f"Invalid padding string {padding!r}, should be one of {{'same', 'valid'}}", key="padding"
                )
            padding_string = padding
            stride_t = per_dim("stride", stride, nd)
            if padding == "same" and any(s != 1 for s in stride_t):
                raise ConfigError(
                    "padding='same' is not supported for strided convolutions",
                    hint="use stride 1, or an explicit padding", key="padding",
                )
        if padding_mode not in PADDING_MODES:
            raise ConfigError(
                "padding_mode must be one of {'circular', 'replicate', 'reflect', 'zeros'}, "
                f"but got padding_mode={padding_mode!r}", key="padding_mode"
            )
        kernel_t = per_dim("kernel_size", kernel_size, nd)
        dilation_t = per_dim("dilation", dilation, nd)
        if padding_string is None:
            padding_t = per_dim("padding", padding, nd)
        else:
            padding_t = (0,) * nd  # resolved below, once kernel and dilation are known
        params = cls(
            kernel_size=kernel_t,
            stride=per_dim("stride", stride, nd),
            padding=padding_t,
            dilation=dilation_t,
            output_padding=(0,) * nd,
            groups=groups,
            in_channels=in_channels,
            out_channels=out_channels,
            bias=bool(bias),
            transposed=False,
            padding_mode=padding_mode,
            padding_string=padding_string,
        )
        return params

    def check_numbers(self) -> None:
        """The checks PyTorch's kernels make on the numbers alone, in PyTorch's order.

        A ConvTranspose runs them at construction; a Conv, as PyTorch does, only in forward
        (shape.spatial_output), after the padding of its padding_mode.
        """
        if any(p < 0 for p in self.padding) and self.padding_mode == "zeros":
            raise ConfigError("negative padding is not supported", key="padding")
        if any(op < 0 for op in self.output_padding):
            raise ConfigError("negative output_padding is not supported", key="output_padding")
        if any(s <= 0 for s in self.stride):
            raise ConfigError("non-positive stride is not supported", key="stride")
        if any(d < 0 for d in self.dilation):
            raise ConfigError("dilation should be greater than zero", key="dilation")
        if not self.transposed:
            return
        if self.ndim == 3:  # the 3-D kernel's order and words differ from the 2-D kernel's
            self._check_dilation_nonzero()
            self._check_output_padding()
            if any(k <= 0 for k in self.kernel_size):
                g = self.groups
                cin = (self.in_channels or g) // g
                cout = (self.out_channels or g) // g
                raise ConfigError(
                    "non-empty 5D (n_output_plane x n_input_plane x kernel_depth x kernel_height x "
                    f"kernel_width) tensor expected for weight, but got: {[cin, cout, *self.kernel_size]}",
                    key="kernel_size",
                )
            return
        if any(k <= 0 for k in self.kernel_size):
            raise ConfigError(
                "kernel size should be greater than zero, but got "
                + named_values("kernel", self.kernel_size, 1), key="kernel_size"
            )
        self._check_dilation_nonzero()
        self._check_output_padding()

    def _check_dilation_nonzero(self) -> None:
        if any(d == 0 for d in self.dilation):
            detail = named_values("dilation", self.dilation, 1, sep=", ")
            raise ConfigError(f"dilation should be greater than zero, but got {detail}", key="dilation")

    def _check_output_padding(self) -> None:
        if any(op > most for op, most in zip(self.output_padding, self.max_output_padding)):
            raise ConfigError(
                "output padding must be smaller than either stride or dilation, but got "
                + " ".join(
                    (
                        named_values("output_padding", self.output_padding, 0),
                        named_values("stride", self.stride, 1),
                        named_values("dilation", self.dilation, 1),
                    )
                ),
                hint="output_padding may be at most max(stride, dilation) - 1 in each dim", key="output_padding",
            )

    def replace(self, **changes: object) -> ConvParams:
        """A copy with some fields changed, validated again."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields.update(changes)
        transposed = fields.pop("transposed")
        padding_string = fields.pop("padding_string")
        fields.pop("output_padding" if not transposed else "padding_mode")
        if padding_string is not None and "padding" not in changes:
            fields["padding"] = padding_string
        ctor = ConvParams.conv_transpose if transposed else ConvParams.conv
        return ctor(ndim=self.ndim, **fields)  # type: ignore[arg-type]

    # -- derived ------------------------------------------------------------------------

    @property
    def ndim(self) -> int:
        return len(self.kernel_size)

    @property
    def op(self) -> str:
        """The functional name: conv_transpose2d, conv2d, conv1d, ..."""
        return f"conv_transpose{self.ndim}d" if self.transposed else f"conv{self.ndim}d"

    @property
    def class_name(self) -> str:
        return f"ConvTranspose{self.ndim}d" if self.transposed else f"Conv{self.ndim}d"

    @property
    def max_output_padding(self) -> Spatial:
        """The largest output_padding PyTorch allows per dim: max(stride, dilation) - 1."""
        return tuple(max(s, d) - 1 for s, d in zip(self.stride, self.dilation))

    @property
    def padding_pairs(self) -> tuple[tuple[int, int], ...]:
        """(before, after) padding per dim; 'same' puts the odd element after, as PyTorch does."""
        if self.padding_string == "same":
            pairs = []
            for k, d in zip(self.kernel_size, self.dilation):
                total = d * (k - 1)
                pairs.append((total // 2, total - total // 2))
            return tuple(pairs)
        return tuple((p, p) for p in self.padding)

    def to_dict(self) -> dict[str, object]:
        """The parameters as JSON (docs/json.md): per-dim lists, channels, bias."""
        padding: object = self.padding_string or list(self.padding)
        doc: dict[str, object] = {
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": padding,
        }
        if self.transposed:
            doc["output_padding"] = list(self.output_padding)
        doc["dilation"] = list(self.dilation)
        doc["groups"] = self.groups
        doc["in_channels"] = self.in_channels
        doc["out_channels"] = self.out_channels
        doc["bias"] = self.bias
        if not self.transposed:
            doc["padding_mode"] = self.padding_mode
        return doc

    def torch_code(self, in_channels: int | str | None = None, out_channels: int | str | None = None) -> str:
        """The layer as PyTorch code, with only the arguments that differ from the defaults.

        >>> ConvParams.conv_transpose(4, 2, 1, in_channels=64, out_channels=3).torch_code()
        'nn.ConvTranspose2d(64, 3, kernel_size=4, stride=2, padding=1)'
        """
        cin = in_channels if in_channels is not None else self.in_channels
        cout = out_channels if out_channels is not None else self.out_channels
        args = [str(cin if cin is not None else "in_channels"), str(cout if cout is not None else "out_channels")]
        for name, value in self._non_defaults():
            shown = _compact(value) if isinstance(value, tuple) else repr(value)
            args.append(f"{name}={shown}")
        return f"nn.{self.class_name}({', '.join(args)})"

    def compact(self) -> str:
        """The short form used in tables: `k3 s2 p1 op1`, `k3x5 s2x1`.

        >>> ConvParams.conv_transpose(3, 2, 1, 1).compact()
        'k3 s2 p1 op1'
        """
        parts = []
        for name, value in self._non_defaults():
            if name in _ABBREVIATIONS:
                shown = compact_x(value) if isinstance(value, tuple) else f"={value}" if isinstance(value, str) else value
                parts.append(f"{_ABBREVIATIONS[name]}{shown}")
        return " ".join(parts)

    def _non_defaults(self) -> list[tuple[str, object]]:
        """kernel_size and every argument that differs from PyTorch's default, in its order."""
        changed: list[tuple[str, object]] = [("kernel_size", self.kernel_size)]
        if any(s != 1 for s in self.stride):
            changed.append(("stride", self.stride))
        if self.padding_string is not None:
            changed.append(("padding", self.padding_string))
        elif any(self.padding):
            changed.append(("padding", self.padding))
        if any(self.output_padding):
            changed.append(("output_padding", self.output_padding))
        if any(d != 1 for d in self.dilation):
            changed.append(("dilation", self.dilation))
        if self.groups != 1:
            changed.append(("groups", self.groups))
        if not self.bias:
            changed.append(("bias", False))
        if self.padding_mode != "zeros":
            changed.append(("padding_mode", self.padding_mode))
        return changed


_ABBREVIATIONS = {"kernel_size": "k", "stride": "s", "padding": "p", "output_padding": "op", "dilation": "d", "groups": "g"}


def _compact(values: Spatial) -> str:
    return str(values[0]) if len(set(values)) == 1 else str(tuple(values))


def _check_groups(groups: object, in_channels: int | None, out_channels: int | None) -> None:
    if not _is_int(groups) or groups <= 0:  # type: ignore[operator]
        raise ConfigError("groups must be a positive integer", key="groups")
    for label, channels in (("in_channels", in_channels), ("out_channels", out_channels)):
        if channels is None:
            continue
        if not _is_int(channels) or channels <= 0:
            raise ConfigError(f"{label} must be a positive integer, but got {channels!r}", key=label)
        if channels % groups:  # type: ignore[operator]
            raise ConfigError(
                f"{label} must be divisible by groups",
                hint=f"{label}={channels} is not a multiple of groups={groups}", key=label,
            )
