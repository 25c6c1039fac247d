"""MegEngine: `megengine.module.ConvTranspose2d` / `ConvTranspose3d`.

Its argument order puts dilation before groups; its weight is PyTorch's (in, out, k...) but
5-D (groups, in/g, out/g, k...) for groups > 1; its bias is (1, out, 1, 1). Its 2-D forward
uses output_padding only when the height's is non-zero, and then computes the output size
from the weight's shape, which for groups > 1 is the wrong axes: what it really returns is
modelled here, with a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import (
    REQUIRED,
    Framework,
    Geometry,
    Given,
    Layer,
    Result,
    Spatial,
    Step,
    Window,
    bind,
    is_int,
    literal,
    per_dim,
)
from .torch import _tuple

SIGNATURE = (
    ("in_channels", REQUIRED), ("out_channels", REQUIRED), ("kernel_size", REQUIRED), ("stride", 1),
    ("padding", 0), ("output_padding", 0), ("dilation", 1), ("groups", 1), ("bias", True),
    ("conv_mode", "cross_correlation"), ("compute_mode", "default"),
)


class MegEngine(Framework):
    name = "megengine"
    title = "MegEngine"
    limits = ("MegEngine crops both ends by the same `padding`, and output_padding only extends the end, "
              "by less than the stride")
    dims = (2, 3)

    def from_call(self, func: str, ndim: int, args: list[Any], kwargs: dict[str, Any], given: Given) -> Layer:
        bound = bind(func.rsplit(".", 1)[-1], SIGNATURE, args, kwargs, open_kwargs=True)
        values = {k: _tuple(literal(k, bound[k])) for k, _ in SIGNATURE}
        return self.build(ndim, values)

    def from_options(self, ndim: int, given: Given) -> Layer:
        return self.build(ndim, dict(
            in_channels=given.in_channels, out_channels=given.out_channels, kernel_size=given.kernel_size,
            stride=given.stride or 1, padding=given.padding or 0, output_padding=given.output_padding or 0,
            dilation=given.dilation or 1, groups=given.groups or 1,
            bias=given.bias if given.bias is not None else True,
            conv_mode="cross_correlation", compute_mode="default",
        ))

    def build(self, ndim: int, values: dict[str, Any]) -> Layer:
        """The module's constructor checks (get_ndtuple's asserts, then _ConvNd's divisibility)."""
        if ndim not in self.dims:
            raise self.refuse(f"MegEngine has no ConvTranspose{ndim}d (only ConvTranspose2d and ConvTranspose3d)")
        tuples = {}
        for name, nonzero in (("kernel_size", True), ("stride", True), ("padding", False),
                              ("dilation", True), ("output_padding", False)):
            value = per_dim(name, values[name], ndim)
            if any(v <= 0 if nonzero else v < 0 for v in value):
                raise self.refuse(f"AssertionError: invalid value: {value}")
            tuples[name] = value
        groups = values["groups"]
        if not is_int(groups) or groups <= 0:
            raise self.refuse(f"groups must be a positive integer, but got {groups!r}")
        for label in ("in_channels", "out_channels"):
            channels = values[label]
            if channels is not None and (not is_int(channels) or channels <= 0):
                raise self.refuse(f"{label} must be a positive integer, but got {channels!r}")
            if channels is not None and channels % groups:
                raise self.refuse(f"ValueError: {label} must be divisible by groups")
        if ndim == 3 and groups != 1:
            # convtool's words: MegEngine's 3-D op has no grouped form
            raise self.refuse("ConvTranspose3d supports groups=1 only")
        if values["conv_mode"] not in ("cross_correlation", "CROSS_CORRELATION"):
            raise self.refuse("AttributeError: 'str' object has no attribute 'name'")
        return Layer(
            framework=self.name, ndim=ndim, kernel_size=tuples["kernel_size"], stride=tuples["stride"],
            dilation=tuples["dilation"], padding=tuples["padding"], output_padding=tuples["output_padding"],
            groups=groups, in_channels=values["in_channels"], out_channels=values["out_channels"],
            bias=bool(values["bias"]),
        )

    def apply(self, layer: Layer, spatial: Spatial) -> Result:
        if layer.ndim == 3 and layer.groups != 1:
            raise self.refuse("ConvTranspose3d supports groups=1 only")
        op = layer.output_padding or (0,) * layer.ndim
        used = any(op) if layer.ndim == 3 else op[0] != 0  # 2-D tests the height twice (sic)
        warnings: list[str] = []
        if used:
            for axis, (o, s) in enumerate(zip(op, layer.stride)):
                if o >= s:
                    raise self.refuse(f"AssertionError: output_padding[{axis}] shoule be less than stride[{axis}]")
        elif any(op):
            warnings.append(
                f"MegEngine ignores output_padding={op} because its height entry is 0 (its forward tests the "
                "height twice): the output is as without output_padding, PyTorch's would be larger"
            )
        full = layer.full(spatial)
        if any(f <= 2 * p for f, p in zip(full, layer.padding)):
            raise self.refuse("RuntimeError: assertion `i > pad * 2' failed",
                              hint="the output would be empty: use a smaller padding")
        if not used:
            out = tuple(f - 2 * p for f, p in zip(full, layer.padding))
        elif layer.groups == 1 or layer.ndim == 3:
            out = tuple(f - 2 * p + o for f, p, o in zip(full, layer.padding, op))
        else:
            out = self._grouped_size(layer, spatial, op)
            warnings.append(
                "MegEngine computes a grouped layer's output size from the 5-D weight's axes (out/groups as "
                "the kernel height, the kernel height as its width): this is what it returns, not PyTorch's size"
            )
        windows = tuple(Window(p, o) for p, o in zip(layer.padding, out))
        return Result(layer, spatial, windows, out, tuple(warnings))

    def _grouped_size(self, layer: Layer, spatial: Spatial, op: Spatial) -> Spatial:
        """conv_transpose2d's explicit size for groups > 1: weight.shape[1:4] is (in/g, out/g, kh)."""
        g = layer.groups
        cin = layer.in_channels if layer.in_channels is not None else g
        cout = layer.out_channels if layer.out_channels is not None else g
        if cin // g != cout:
            raise self.refuse(
                f"group conv channel mismatch : input channel got {cin // g}, and filter channel got {cout}",
                hint="MegEngine's grouped output_padding works only when in_channels/groups equals out_channels",
            )
        kernel = (cout // g, layer.kernel_size[0])
        return tuple(
            (i - 1) * s - 2 * p + d * (k - 1) + o + 1
            for i, s, p, d, k, o in zip(spatial, layer.stride, layer.padding, layer.dilation, kernel, op)
        )

    def code(self, layer: Layer, spatial: Spatial | None = None) -> str:
        args = [str(layer.in_channels if layer.in_channels is not None else "in_channels"),
                str(layer.out_channels if layer.out_channels is not None else "out_channels"),
                _shown(layer.kernel_size)]
        optional = (("stride", layer.stride, 1), ("padding", layer.padding, 0),
                    ("output_padding", layer.output_padding or (0,) * layer.ndim, 0),
                    ("dilation", layer.dilation, 1))
        for name, value, default in optional:
            if any(v != default for v in value):
                args.append(f"{name}={_shown(value)}")
        if layer.groups != 1:
            args.append(f"groups={layer.groups}")
        if not layer.bias:
            args.append("bias=False")
        return f"megengine.module.ConvTranspose{layer.ndim}d({', '.join(args)})"

    def weight_shape(self, layer: Layer) -> tuple[int, ...] | None:
        if layer.in_channels is None or layer.out_channels is None:
            return None
        g = layer.groups
        if g == 1:
            return (layer.in_channels, layer.out_channels, *layer.kernel_size)
        return (g, layer.in_channels // g, layer.out_channels // g, *layer.kernel_size)

    def bias_shape(self, layer: Layer) -> tuple[int, ...] | None:
        if not layer.bias or layer.out_channels is None:
            return None
        return (1, layer.out_channels, *(1,) * layer.ndim)

    def weight_to_torch(self, layer: Layer) -> tuple[Step, ...]:
        if layer.groups == 1:
            return ()
        return (Step("reshape", (-1, *self.weight_shape(layer)[2:])),)  # type: ignore[index]

    def weight_from_torch(self, layer: Layer) -> tuple[Step, ...]:
        shape = self.weight_shape(layer)
        if layer.groups == 1 or shape is None:
            return ()
        return (Step("reshape", shape),)

    def bias_to_torch(self, layer: Layer) -> tuple[Step, ...]:
        return (Step("reshape", (-1,)),)

    def bias_from_torch(self, layer: Layer) -> tuple[Step, ...]:
        return (Step("reshape", (1, -1, *(1,) * layer.ndim)),)

    def candidates(self, geometry: Geometry) -> Iterator[Layer]:
        exact_p = tuple(w.begin for w in geometry.windows)
        exact_op = tuple(w.begin - w.end_crop(f) for w, f in zip(geometry.windows, geometry.full))
        if all(p >= 0 for p in exact_p) and all(0 <= o < s for o, s in zip(exact_op, geometry.stride)):
            yield self.make(geometry, exact_p, exact_op)
        near = tuple(max(0, min(w.begin, w.end_crop(f))) for w, f in zip(geometry.windows, geometry.full))
        yield self.make(geometry, near, (0,) * geometry.ndim)

    def make(self, geometry: Geometry, padding: Spatial, output_padding: Spatial) -> Layer:
        return geometry.layer(self.name, tuple(padding), output_padding=tuple(output_padding))


def _shown(values: Spatial) -> str:
    return str(values[0]) if len(set(values)) == 1 else str(tuple(values))


FRAMEWORK = MegEngine()
