"""Keras 3: `layers.Conv{1,2,3}DTranspose(filters, kernel_size, strides, padding, output_padding, ...)`.

Keras picks the output length itself ('valid': the whole scatter, at least I*s; 'same': I*s,
or (I-1)*s + k_eff % 2 + output_padding when output_padding is given) and asks TensorFlow for
it, which crops like SAME/VALID: the odd element at the end. TensorFlow on CPU (the default
backend and device) refuses dilation > 1 and, for 'same' with an even kernel and a small
output_padding, the size Keras asks for. Kernel (k..., out, in), bias (filters,).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import (
    REQUIRED,
    Framework,
    FrameworkError,
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
from .tf import FRAMEWORK as TF

SIGNATURE = (
    ("filters", REQUIRED), ("kernel_size", REQUIRED), ("strides", 1), ("padding", "valid"),
    ("output_padding", None), ("data_format", None), ("dilation_rate", 1), ("activation", None),
    ("use_bias", True), ("kernel_initializer", "glorot_uniform"), ("bias_initializer", "zeros"),
    ("kernel_regularizer", None), ("bias_regularizer", None), ("activity_regularizer", None),
    ("kernel_constraint", None), ("bias_constraint", None),
)
SHAPED = ("filters", "kernel_size", "strides", "padding", "output_padding", "data_format", "dilation_rate", "use_bias")


def keras_length(i: int, k_eff: int, s: int, padding: str, op: int | None) -> int:
    """The output length Keras asks for (its deconv_output_length).

    >>> keras_length(5, 3, 2, "same", None), keras_length(5, 3, 2, "valid", None), keras_length(5, 3, 2, "same", 0)
    (10, 11, 9)
    """
    if op is None:
        return i * s if padding == "same" else i * s + max(k_eff - s, 0)
    if padding == "same":
        return (i - 1) * s + k_eff % 2 + op
    return (i - 1) * s + k_eff + op


class Keras(Framework):
    name = "keras"
    title = "Keras"
    limits = ("Keras offers only 'same' (the odd crop at the end) and 'valid' (no crop), with output_padding "
              "below the stride")
    dilates = False  # with its default backend, TensorFlow, on CPU
    channels_last = True
    has_groups = False

    def from_call(self, func: str, ndim: int, args: list[Any], kwargs: dict[str, Any], given: Given) -> Layer:
        bound = bind(func.rsplit(".", 1)[-1], SIGNATURE, args, kwargs, open_kwargs=True)
        unknown = sorted(set(kwargs) - {name for name, _ in SIGNATURE} - {"name", "dtype", "trainable"})
        if unknown:
            shown = ", ".join(f"'{k}': {kwargs[k]!r}" for k in unknown)
            raise self.refuse(f"Unrecognized keyword arguments passed to {func.rsplit('.', 1)[-1]}: {{{shown}}}")
        values = {k: literal(k, bound[k]) for k in SHAPED}
        if values["data_format"] not in (None, "channels_last"):
            raise PasteError("convtool reads Keras layers with channels last only, not "
                             f"data_format={values['data_format']!r}")
        return self.build(ndim, values, given.in_channels)

    def from_options(self, ndim: int, given: Given) -> Layer:
        padding = given.padding if given.padding is not None else "valid"
        if not isinstance(padding, str):
            raise PasteError("Keras takes padding 'same' or 'valid' (--padding same|valid)")
        return self.build(ndim, dict(
            filters=given.out_channels, kernel_size=given.kernel_size, strides=given.stride or 1, padding=padding,
            output_padding=given.output_padding, dilation_rate=given.dilation or 1,
            use_bias=given.bias if given.bias is not None else True,
        ), given.in_channels)

    def build(self, ndim: int, values: dict[str, Any], in_channels: int | None) -> Layer:
        """BaseConvTranspose.__init__'s checks, in its order and words."""
        filters = values["filters"]
        if filters is not None and (not is_int(filters) or filters <= 0):
            raise self.refuse(f"ValueError: Invalid value for argument `filters`. Expected a strictly positive "
                              f"value. Received filters={filters}.")
        kernel = per_dim("kernel_size", values["kernel_size"], ndim)
        strides = per_dim("strides", values["strides"], ndim)
        dilation = per_dim("dilation_rate", values["dilation_rate"], ndim)
        padding = values["padding"]
        if not isinstance(padding, str) or padding.lower() not in ("same", "valid"):
            raise self.refuse(f"ValueError: The `padding` argument must be one of 'valid', 'same'. Received: {padding}")
        padding = padding.lower()
        op = None if values["output_padding"] is None else per_dim("output_padding", values["output_padding"], ndim)
        for name, value in (("kernel_size", kernel), ("strides", strides), ("dilation_rate", dilation)):
            if any(v <= 0 for v in value):
                raise self.refuse(f"ValueError: The `{name}` argument must be a tuple of {ndim} integers, all > 0. "
                                  f"Received {name}={values[name]}")
        if op is not None:
            for axis, (o, s) in enumerate(zip(op, strides)):
                if o >= s:
                    raise self.refuse(
                        f"ValueError: `output_padding` must be strictly less than `strides` for all dimensions. "
                        f"At dimension {axis}, `output_padding` is {o} but `strides` is {s}. "
                        f"Received: output_padding={op}, strides={strides}"
                    )
        if max(strides) > 1 and max(dilation) > 1:
            raise self.refuse(f"ValueError: `strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                              f"Received: strides={strides} and dilation_rate={dilation}")
        return Layer(
            framework=self.name, ndim=ndim, kernel_size=kernel, stride=strides, dilation=dilation, padding=padding,
            output_padding=op, in_channels=in_channels, out_channels=filters, bias=bool(values["use_bias"]),
        )

    def apply(self, layer: Layer, spatial: Spatial) -> Result:
        ops = layer.output_padding or (None,) * layer.ndim
        out = tuple(keras_length(i, e, s, layer.padding, o)
                    for i, e, s, o in zip(spatial, layer.kernel_extent, layer.stride, ops))
        # Keras hands the size to TensorFlow with 'SAME'/'VALID': TF's checks and crop decide
        try:
            asked = TF.apply(layer.replace(padding=layer.padding.upper(), output_shape=out), spatial)
        except FrameworkError as error:
            hint = "convtool answers for Keras on TensorFlow on CPU (the default); on the JAX or torch backend "
            if any(d > 1 for d in layer.dilation):
                hint += "Keras runs this dilated layer"
            else:
                hint += ("Keras runs this size: with 'same' and output_padding it asks for (I-1)*strides + "
                         "k_eff % 2 + output_padding rows, which TensorFlow's SAME rule refuses here")
            raise self.refuse(error.words, hint=hint) from None
        warnings = []
        if layer.padding == "same" and any(i * s != o for i, s, o in zip(spatial, layer.stride, out)):
            warnings.append("with padding='same' and output_padding the output is not input * strides")
        return Result(layer, spatial, asked.windows, out, tuple(warnings))

    def code(self, layer: Layer, spatial: Spatial | None = None) -> str:
        args = [str(layer.out_channels if layer.out_channels is not None else "filters"), _shown(layer.kernel_size)]
        if any(s != 1 for s in layer.stride):
            args.append(f"strides={_shown(layer.stride)}")
        args.append(f"padding={layer.padding!r}")
        if layer.output_padding is not None:
            args.append(f"output_padding={_shown(layer.output_padding)}")
        if any(d != 1 for d in layer.dilation):
            args.append(f"dilation_rate={_shown(layer.dilation)}")
        if not layer.bias:
            args.append("use_bias=False")
        return f"layers.Conv{layer.ndim}DTranspose({', '.join(args)})"

    def weight_shape(self, layer: Layer) -> tuple[int, ...] | None:
        return TF.weight_shape(layer)

    def weight_to_torch(self, layer: Layer) -> tuple[Step, ...]:
        return TF.weight_to_torch(layer)

    def weight_from_torch(self, layer: Layer) -> tuple[Step, ...]:
        return TF.weight_from_torch(layer)

    def candidates(self, geometry: Geometry) -> Iterator[Layer]:
        if geometry.groups != 1 or any(d > 1 for d in geometry.dilation):
            return
        dims = list(zip(geometry.spatial, geometry.kernel_size, geometry.stride, geometry.windows, geometry.full))
        for padding in ("same", "valid"):
            yield geometry.layer(self.name, padding)
            chosen = []
            for i, k, s, w, full in dims:
                for op in range(s):
                    length = keras_length(i, k, s, padding, op)
                    begin = max(0, full - length) // 2 if padding == "same" else 0
                    if (begin, length) == (w.begin, w.length):
                        chosen.append(op)
                        break
            if len(chosen) == len(dims):
                yield geometry.layer(self.name, padding, output_padding=tuple(chosen))
        yield geometry.layer(self.name, "valid")


def _shown(values: Spatial) -> str:
    return str(values[0]) if len(set(values)) == 1 else str(tuple(values))


FRAMEWORK = Keras()
