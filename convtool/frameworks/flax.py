"""Flax: `flax.linen.ConvTranspose(features, kernel_size, strides, padding, kernel_dilation, use_bias,
..., transpose_kernel)`.

It calls lax.conv_transpose (without consistent padding), so an int or a pair is padding of the
stretched input, not PyTorch's padding; 'CIRCULAR' runs 'VALID' and wraps the result around to
I*s, which is no crop of the scatter. Kernel (k..., in, out) flipped, or (k..., out, in) with
`transpose_kernel=True`; bias (features,); channels last; no groups.
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
    PasteError,
    Result,
    Spatial,
    Step,
    bind,
    is_int,
    literal,
    per_dim,
)
from .jax import FRAMEWORK as JAX
from .jax import read_padding

SIGNATURE = (
    ("features", REQUIRED), ("kernel_size", REQUIRED), ("strides", None), ("padding", "SAME"),
    ("kernel_dilation", None), ("use_bias", True), ("mask", None), ("dtype", None), ("param_dtype", None),
    ("precision", None), ("kernel_init", None), ("bias_init", None), ("transpose_kernel", False),
)


class Flax(Framework):
    name = "flax"
    title = "Flax"
    limits = "explicit pairs reach any window"
    channels_last = True
    has_groups = False

    def from_call(self, func: str, ndim: int, args: list[Any], kwargs: dict[str, Any], given: Given) -> Layer:
        bound = bind("ConvTranspose", SIGNATURE, args, kwargs, open_kwargs=True)
        kernel = literal("kernel_size", bound["kernel_size"])
        if not is_int(kernel) and not (isinstance(kernel, (list, tuple)) and kernel and all(is_int(k) for k in kernel)):
            raise PasteError(f"kernel_size must be an int or a tuple of ints, but got {kernel!r}")
        nd = 1 if is_int(kernel) else len(kernel)  # Flax reads an int kernel_size as 1-D
        return self.build(nd, dict(
            features=literal("features", bound["features"]), kernel_size=kernel,
            strides=literal("strides", bound["strides"]), padding=literal("padding", bound["padding"]),
            kernel_dilation=literal("kernel_dilation", bound["kernel_dilation"]),
            use_bias=literal("use_bias", bound["use_bias"]),
            transpose_kernel=literal("transpose_kernel", bound["transpose_kernel"]),
        ), given.in_channels)

    def from_options(self, ndim: int, given: Given) -> Layer:
        return self.build(ndim, dict(
            features=given.out_channels, kernel_size=per_dim("kernel_size", given.kernel_size, ndim),
            strides=given.stride, padding=given.padding if given.padding is not None else "SAME",
            kernel_dilation=given.dilation, use_bias=given.bias if given.bias is not None else True,
            transpose_kernel=False,
        ), given.in_channels)

    def build(self, ndim: int, values: dict[str, Any], in_channels: int | None) -> Layer:
        kernel = per_dim("kernel_size", values["kernel_size"], ndim)
        stride = per_dim("strides", 1 if values["strides"] is None else values["strides"], ndim)
        dilation = per_dim("kernel_dilation", 1 if values["kernel_dilation"] is None else values["kernel_dilation"], ndim)
        padding = values["padding"]
        if not isinstance(padding, str):
            padding = read_padding("padding", padding, ndim)
        if values["features"] is not None and (not is_int(values["features"]) or values["features"] <= 0):
            raise PasteError(f"features must be a positive int, but got {values['features']!r}")
        return Layer(
            framework=self.name, ndim=ndim, kernel_size=kernel, stride=stride, dilation=dilation, padding=padding,
            in_channels=in_channels, out_channels=values["features"], bias=bool(values["use_bias"]),
            options={"transpose_kernel": bool(values["transpose_kernel"])},
        )

    def apply(self, layer: Layer, spatial: Spatial) -> Result:
        if layer.padding == "CIRCULAR":
            JAX.apply(self._as_jax(layer.replace(padding="VALID")), spatial)
            out = tuple(i * s for i, s in zip(spatial, layer.stride))
            return Result(layer, spatial, None, out, (
                "padding='CIRCULAR' wraps the scatter around to input * strides: no crop of the scatter "
                "gives these values, so no other framework's single layer computes them",
            ))
        try:
            result = JAX.apply(self._as_jax(layer), spatial)
        except Exception as error:  # noqa: BLE001 - lax's words are Flax's words
            words = getattr(error, "words", None)
            if words is None:
                raise
            raise self.refuse(words, hint=getattr(error, "hint", None)) from None
        return Result(layer, spatial, result.windows, result.output)

    def _as_jax(self, layer: Layer) -> Layer:
        return layer.replace(options={"transpose_kernel": layer.options.get("transpose_kernel", False),
                                      "use_consistent_padding": False})

    def code(self, layer: Layer, spatial: Spatial | None = None) -> str:
        args = [str(layer.out_channels if layer.out_channels is not None else "features"), str(tuple(layer.kernel_size))]
        if any(s != 1 for s in layer.stride):
            args.append(f"strides={tuple(layer.stride)}")
        padding = layer.padding if isinstance(layer.padding, str) else tuple(tuple(p) for p in layer.padding)
        if padding != "SAME":
            args.append(f"padding={padding!r}")
        if any(d != 1 for d in layer.dilation):
            args.append(f"kernel_dilation={tuple(layer.dilation)}")
        if not layer.bias:
            args.append("use_bias=False")
        if layer.options.get("transpose_kernel"):
            args.append("transpose_kernel=True")
        return f"nn.ConvTranspose({', '.join(args)})"

    def weight_shape(self, layer: Layer) -> tuple[int, ...] | None:
        return JAX.weight_shape(layer)

    def weight_to_torch(self, layer: Layer) -> tuple[Step, ...]:
        return JAX.weight_to_torch(layer)

    def weight_from_torch(self, layer: Layer) -> tuple[Step, ...]:
        return JAX.weight_from_torch(layer)

    def candidates(self, geometry: Geometry) -> Iterator[Layer]:
        for jax_layer in JAX.candidates(geometry):
            yield jax_layer.replace(framework=self.name, bias=geometry.bias, options={"transpose_kernel": False})


FRAMEWORK = Flax()
