"""R torch (mlverse/torch): `nn_conv_transpose{1,2,3}d(...)`, PyTorch's layer behind R's syntax.

Forward runs libtorch, so sizes and the libtorch checks are PyTorch's; R adds its own checks
at construction (padding_mode, divisibility) and its own `output_size` arithmetic, which leaves
out dilation.
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .base import REQUIRED, Given, Layer, Spatial, bind, is_int, literal, per_dim
from .torch import Torch

SIGNATURE = (
    ("in_channels", REQUIRED), ("out_channels", REQUIRED), ("kernel_size", REQUIRED), ("stride", 1),
    ("padding", 0), ("output_padding", 0), ("groups", 1), ("bias", True), ("dilation", 1),
    ("padding_mode", "zeros"),
)


def r_value(value: Any) -> str:
    """A value as R code: `3`, `c(3, 5)`, `TRUE`, `"zeros"`.

    >>> r_value((3, 5)), r_value((2, 2)), r_value(False)
    ('c(3, 5)', '2', 'FALSE')
    """
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (tuple, list)):
        if len(set(value)) == 1:
            return r_value(value[0])
        return "c(" + ", ".join(r_value(v) for v in value) + ")"
    return str(value)


class R(Torch):
    name = "r"
    title = "R torch"
    limits = ("R torch crops both ends by the same `padding`, and output_padding can only extend the end "
              "(by less than max(stride, dilation))")

    def from_call(self, func: str, ndim: int, args: list[Any], kwargs: dict[str, Any], given: Given) -> Layer:
        bound = bind(func, SIGNATURE, args, kwargs, r_style=True)
        values = {k: literal(k, v) for k, v in bound.items()}
        return self.build(ndim, values)

    def from_options(self, ndim: int, given: Given) -> Layer:
        values = dict(
            in_channels=given.in_channels, out_channels=given.out_channels, kernel_size=given.kernel_size,
            stride=given.stride or 1, padding=given.padding or 0, output_padding=given.output_padding or 0,
            groups=given.groups or 1, bias=given.bias if given.bias is not None else True,
            dilation=given.dilation or 1, padding_mode="zeros",
        )
        return self.build(ndim, values)

    def build(self, ndim: int, values: dict[str, Any]) -> Layer:
        """nn_conv_transpose_nd$initialize's checks, in its order, then libtorch's (PyTorch's words)."""
        if values["padding_mode"] != "zeros":
            raise self.refuse("value_error: Only `zeros` padding is supported.")
        groups = values["groups"]
        for label in ("in_channels", "out_channels"):
            channels = values[label]
            if is_int(channels) and is_int(groups) and groups > 0 and channels % groups:
                raise self.refuse(f"value_error: `{label}` must be divisible by groups")
        nd = ndim
        layer = Layer(
            framework=self.name, ndim=nd, kernel_size=per_dim("kernel_size", values["kernel_size"], nd),
            stride=per_dim("stride", values["stride"], nd), dilation=per_dim("dilation", values["dilation"], nd),
            padding=per_dim("padding", values["padding"], nd),
            output_padding=per_dim("output_padding", values["output_padding"], nd), groups=groups,
            in_channels=values["in_channels"], out_channels=values["out_channels"], bias=bool(values["bias"]),
        )
        if groups is None or not is_int(groups) or groups <= 0:
            raise ConfigError("groups must be a positive integer")
        return layer

    def output_padding_for(self, layer: Layer, spatial: Spatial, requested: Spatial) -> tuple[Spatial, list[str]]:
        """What R's `forward(input, output_size)` computes: its range leaves out dilation, so with
        dilation > 1 it accepts other sizes than PyTorch and returns a larger output than asked."""
        mins = [(i - 1) * s - 2 * p + k for i, s, p, k in zip(spatial, layer.stride, layer.padding, layer.kernel_size)]
        maxs = [m + s - 1 for m, s in zip(mins, layer.stride)]
        if any(r < lo or r > hi for r, lo, hi in zip(requested, mins, maxs)):
            raise self.refuse(
                f"value_error: requested an output of size {requested[0]}, but valid",
                hint=f"R torch accepts output_size {list(mins)} to {list(maxs)} here (its range leaves out dilation)",
            )
        padding = tuple(r - m for r, m in zip(requested, mins))
        warnings = []
        if any(d > 1 for d in layer.dilation):
            warnings.append(
                "R torch's output_size ignores dilation: it derived output_padding="
                f"{padding} from {list(requested)}, so the output is larger than requested "
                "(PyTorch would compute another output_padding or refuse)"
            )
        return padding, warnings

    def code(self, layer: Layer, spatial: Spatial | None = None) -> str:
        params = self.params(layer)
        args = [r_value(layer.in_channels if layer.in_channels is not None else "in_channels"),
                r_value(layer.out_channels if layer.out_channels is not None else "out_channels"),
                r_value(params.kernel_size)]
        if layer.in_channels is None:
            args[0] = "in_channels"
        if layer.out_channels is None:
            args[1] = "out_channels"
        for name, value in params._non_defaults()[1:]:
            args.append(f"{name} = {r_value(value)}")
        return f"nn_conv_transpose{layer.ndim}d({', '.join(args)})"

    def make(self, geometry: Any, padding: Spatial, output_padding: Spatial) -> Layer:
        return super().make(geometry, padding, output_padding).replace(framework=self.name)


FRAMEWORK = R()
