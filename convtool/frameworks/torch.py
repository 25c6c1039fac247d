"""PyTorch: `nn.ConvTranspose{1,2,3}d` (and `nn.Conv{1,2,3}d` for `shape`), the reference.

Its rules and words live in params.py and shape.py; this module only reads calls into them
and states PyTorch's place among the frameworks (window, code, weight layout).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..params import ConvParams
from ..shape import spatial_output
from .base import (
    REQUIRED,
    Framework,
    Geometry,
    Given,
    Layer,
    PortError,
    Result,
    Spatial,
    Step,
    Window,
    bind,
    literal,
)

TRANSPOSE_SIGNATURE = (
    ("in_channels", REQUIRED), ("out_channels", REQUIRED), ("kernel_size", REQUIRED), ("stride", 1),
    ("padding", 0), ("output_padding", 0), ("groups", 1), ("bias", True), ("dilation", 1),
    ("padding_mode", "zeros"), ("device", None), ("dtype", None),
)
CONV_SIGNATURE = (
    ("in_channels", REQUIRED), ("out_channels", REQUIRED), ("kernel_size", REQUIRED), ("stride", 1),
    ("padding", 0), ("dilation", 1), ("groups", 1), ("bias", True), ("padding_mode", "zeros"),
    ("device", None), ("dtype", None),
)
SHAPED = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding", "groups",
          "bias", "dilation", "padding_mode")


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class Torch(Framework):
    name = "torch"
    title = "PyTorch"
    limits = ("PyTorch crops both ends by the same `padding`, and output_padding can only extend the end "
              "(by less than max(stride, dilation))")

    def from_call(self, func: str, ndim: int, args: list[Any], kwargs: dict[str, Any], given: Given) -> Layer:
        transposed = "Transpose" in func
        signature = TRANSPOSE_SIGNATURE if transposed else CONV_SIGNATURE
        bound = bind(func.rsplit(".", 1)[-1], signature, args, kwargs)
        values = {k: _tuple(literal(k, v)) for k, v in bound.items() if k in SHAPED}
        if transposed:
            params = ConvParams.conv_transpose(
                values["kernel_size"], values["stride"], values["padding"], values["output_padding"],
                values["groups"], values["bias"], values["dilation"], values["padding_mode"],
                in_channels=values["in_channels"], out_channels=values["out_channels"], ndim=ndim,
            )
        else:
            params = ConvParams.conv(
                values["kernel_size"], values["stride"], values["padding"], values["dilation"], values["groups"],
                values["bias"], values["padding_mode"],
                in_channels=values["in_channels"], out_channels=values["out_channels"], ndim=ndim,
            )
        return self.layer(params)

    def from_options(self, ndim: int, given: Given) -> Layer:
        params = ConvParams.conv_transpose(
            given.kernel_size, given.stride or 1, given.padding or 0, given.output_padding or 0, given.groups or 1,
            given.bias if given.bias is not None else True, given.dilation or 1,
            in_channels=given.in_channels, out_channels=given.out_channels, ndim=ndim,
        )
        return self.layer(params)

    def layer(self, params: ConvParams) -> Layer:
        """A Layer that carries PyTorch's own validated parameters."""
        return Layer(
            framework=self.name, ndim=params.ndim, kernel_size=params.kernel_size, stride=params.stride,
            dilation=params.dilation, padding=params.padding, output_padding=params.output_padding,
            groups=params.groups, in_channels=params.in_channels, out_channels=params.out_channels,
            bias=params.bias, options={"params": params},
        )

    @staticmethod
    def params(layer: Layer) -> ConvParams:
        params = layer.options.get("params")
        fields = (layer.kernel_size, layer.stride, layer.padding, layer.output_padding, layer.dilation, layer.groups,
                  layer.in_channels, layer.out_channels, layer.bias)
        if params is None or fields != (params.kernel_size, params.stride, params.padding, params.output_padding,
                                        params.dilation, params.groups, params.in_channels, params.out_channels,
                                        params.bias):
            params = ConvParams.conv_transpose(
                layer.kernel_size, layer.stride, layer.padding, layer.output_padding or 0, layer.groups, layer.bias,
                layer.dilation, in_channels=layer.in_channels, out_channels=layer.out_channels, ndim=layer.ndim,
            )
        return params

    def apply(self, layer: Layer, spatial: Spatial) -> Result:
        params = self.params(layer)
        if not params.transposed:
            raise PortError(f"nn.{params.class_name} is an ordinary convolution: convtool ports transposed "
                            "convolutions (`convtool shape` works it out)")
        out = spatial_output(params, spatial)
        return Result(layer, spatial, tuple(Window(p, o) for p, o in zip(params.padding, out)), out)

    def code(self, layer: Layer, spatial: Spatial | None = None) -> str:
        return self.params(layer).torch_code()

    def weight_shape(self, layer: Layer) -> tuple[int, ...] | None:
        if layer.in_channels is None or layer.out_channels is None:
            return None
        return (layer.in_channels, layer.out_channels // layer.groups, *layer.kernel_size)

    def weight_to_torch(self, layer: Layer) -> tuple[Step, ...]:
        return ()

    def weight_from_torch(self, layer: Layer) -> tuple[Step, ...]:
        return ()

    def candidates(self, geometry: Geometry) -> Iterator[Layer]:
        yield from symmetric_candidates(self.name, geometry, lambda s, d: max(s, d) - 1)

    def make(self, geometry: Geometry, padding: Spatial, output_padding: Spatial) -> Layer:
        return self.layer(ConvParams.conv_transpose(
            geometry.kernel_size, geometry.stride, padding, output_padding, geometry.groups, geometry.bias,
            geometry.dilation, in_channels=geometry.in_channels, out_channels=geometry.out_channels,
            ndim=geometry.ndim,
        ))


def symmetric_candidates(framework: str, geometry: Geometry, max_op: Any) -> Iterator[Layer]:
    """Layers with one padding per dim (cropped at both ends) and an output_padding that extends
    the end: the exact one when the end crop is at most the start crop, then the nearest that
    keeps every computed row (the rest is the after-statement's crop)."""
    from . import get

    maker = get(framework)
    exact_p, exact_op, near_p, near_op = [], [], [], []
    for w, full, s, d in zip(geometry.windows, geometry.full, geometry.stride, geometry.dilation):
        end = w.end_crop(full)
        exact_p.append(w.begin)
        exact_op.append(w.begin - end)
        p = max(0, min(w.begin, end))
        near_p.append(p)
        near_op.append(min(max(0, w.begin + w.length - (full - p)), max_op(s, d)))
    ok = all(p >= 0 for p in exact_p) and all(0 <= op <= max_op(s, d) for op, s, d in
                                              zip(exact_op, geometry.stride, geometry.dilation))
    if ok:
        try:
            yield maker.make(geometry, tuple(exact_p), tuple(exact_op))  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - a framework check refuses it: try the nearest
            pass
    yield maker.make(geometry, tuple(near_p), tuple(near_op))  # type: ignore[attr-defined]


FRAMEWORK = Torch()
