"""TensorFlow: `tf.nn.conv{1,2,3}d_transpose(input, filters, output_shape, strides, padding)`.

The output size is the caller's (`output_shape`); TensorFlow accepts it when the forward
convolution's size rule maps it back to the input's size, and crops the scatter at the start
by half the total padding (the odd element at the end, for SAME). Filters are
(k..., out, in) = PyTorch's weight permuted, no flip; the op has no bias and no groups.
TensorFlow on CPU (the default) refuses dilation > 1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..errors import ConfigError
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
    Window,
    bind,
    is_int,
    literal,
    per_dim,
)

SIGNATURE = (
    ("input", REQUIRED), ("filters", REQUIRED), ("output_shape", REQUIRED), ("strides", REQUIRED),
    ("padding", "SAME"), ("data_format", None), ("dilations", None), ("name", None),
)
DATA_FORMATS = {1: ("NWC",), 2: ("NHWC",), 3: ("NDHWC",)}


def trunc_div(a: int, b: int) -> int:
    """C++ integer division (towards zero), as TensorFlow's size rule computes.

    >>> trunc_div(-1, 2), trunc_div(7, 2)
    (0, 3)
    """
    return -((-a) // b) if a < 0 else a // b


def forward_size(out: int, k_eff: int, s: int, padding: Any) -> int:
    """The forward convolution's output length for an input of length `out` (TF's rule)."""
    if padding == "SAME":
        return trunc_div(out + s - 1, s)
    before, after = (0, 0) if padding == "VALID" else padding
    return trunc_div(out + before + after - k_eff + s, s)


class TensorFlow(Framework):
    name = "tf"
    title = "TensorFlow"
    limits = ("TensorFlow's output_shape must map back to the input under the forward size rule, and only "
              "conv2d_transpose takes explicit padding")
    dilates = False  # on CPU, its default device
    channels_last = True
    has_groups = False
    bias_in_layer = False

    def from_call(self, func: str, ndim: int, args: list[Any], kwargs: dict[str, Any], given: Given) -> Layer:
        bound = bind(func, SIGNATURE, args, kwargs)
        output_shape = bound["output_shape"]
        if isinstance(output_shape, (list, tuple)) and len(output_shape) == ndim + 2:
            # the batch entry does not shape the layer (`x.shape[0]` is fine there)
            output_shape = [0, *literal("output_shape", list(output_shape[1:]))]
        output_shape = literal("output_shape", output_shape)
        strides = literal("strides", bound["strides"])
        padding = literal("padding", bound["padding"])
        dilations = literal("dilations", bound["dilations"])
        data_format = literal("data_format", bound["data_format"])
        if data_format not in (None, *DATA_FORMATS[ndim]):
            raise PasteError(f"convtool reads {func} with channels last ({DATA_FORMATS[ndim][0]}) only, "
                             f"not data_format={data_format!r}")
        out_channels = given.out_channels
        if not isinstance(output_shape, (list, tuple)) or not all(is_int(v) for v in output_shape):
            raise PasteError(f"output_shape must be a list of ints, but got {output_shape!r}")
        if len(output_shape) == ndim + 2:
            out_channels = output_shape[-1] if out_channels is None else out_channels
            if output_shape[-1] != out_channels:
                raise ConfigError(f"output_shape has {output_shape[-1]} channels but --out-channels is {out_channels}")
            spatial_out = tuple(output_shape[1:-1])
        elif len(output_shape) == ndim:
            spatial_out = tuple(output_shape)
        else:
            raise PasteError(f"output_shape must have {ndim + 2} entries (N, spatial..., C), but got {list(output_shape)}")
        pairs_given = isinstance(padding, (list, tuple)) and all(
            isinstance(p, (list, tuple)) and len(p) == 2 and all(is_int(v) for v in p) for p in padding)
        if not isinstance(padding, str) and not pairs_given:
            raise PasteError(f"padding must be 'SAME', 'VALID' or [[0, 0], [top, bottom], [left, right], [0, 0]], "
                             f"but got {padding!r}")
        if isinstance(padding, (list, tuple)):
            if ndim != 2:
                raise self.refuse(f"Value for attr 'padding' of {padding!r} is not in the list of allowed values")
            pairs = [tuple(p) for p in padding]
            if len(pairs) != 4 or pairs[0] != (0, 0) or pairs[3] != (0, 0) or any(len(p) != 2 for p in pairs):
                raise PasteError(f"explicit padding must be [[0, 0], [top, bottom], [left, right], [0, 0]], got {padding!r}")
            padding = tuple(pairs[1:3])
        return self.build(ndim, given, strides, padding, dilations or 1, spatial_out, out_channels)

    def from_options(self, ndim: int, given: Given) -> Layer:
        if given.output_shape is None:
            raise PasteError("tf.nn.conv_transpose needs --output-shape (TensorFlow takes the output size explicitly)")
        out = per_dim("--output-shape", given.output_shape, ndim)
        padding = given.padding if given.padding is not None else "SAME"
        if isinstance(padding, str):
            padding = padding.upper() if padding.lower() in ("same", "valid") else padding
        else:
            padding = tuple((p, p) for p in per_dim("padding", padding, ndim))
        return self.build(ndim, given, given.stride or 1, padding, given.dilation or 1, out, given.out_channels)

    def build(self, ndim: int, given: Given, strides: Any, padding: Any, dilations: Any, out: Spatial,
              out_channels: int | None) -> Layer:
        if given.kernel_size is None:
            raise PasteError("tf.nn takes the filters as an array: give the kernel size with -k (and channels with "
                             "--in-channels/--out-channels)")
        if given.groups not in (None, 1):
            raise self.refuse("tf.nn.conv_transpose has no groups")
        stride = self._spatial("strides", strides, ndim)
        dilation = self._spatial("dilations", dilations, ndim)
        allowed = '"SAME", "VALID"' if ndim == 3 else '"SAME", "VALID", "EXPLICIT"'
        if isinstance(padding, str) and padding not in ("SAME", "VALID"):
            raise self.refuse(f'Value for attr \'padding\' of "{padding}" is not in the list of allowed values: {allowed}')
        if any(s <= 0 for s in stride):
            raise self.refuse("Row and column strides should be larger than 0.")
        return Layer(
            framework=self.name, ndim=ndim, kernel_size=per_dim("kernel_size", given.kernel_size, ndim), stride=stride,
            dilation=dilation, padding=padding, output_shape=tuple(out), in_channels=given.in_channels,
            out_channels=out_channels, bias=False,
        )

    @staticmethod
    def _spatial(name: str, value: Any, ndim: int) -> Spatial:
        """TF's strides/dilations: an int, or 1, ndim or ndim+2 entries (batch and channel 1)."""
        if isinstance(value, (list, tuple)) and len(value) == ndim + 2:
            value = value[1:-1]
        return per_dim(name, value, ndim)

    def apply(self, layer: Layer, spatial: Spatial) -> Result:
        op_name = "Conv3DBackpropInputOp" if layer.ndim == 3 else "Conv2DCustomBackpropInput"
        if any(d > 1 for d in layer.dilation):
            number = "implementation does" if layer.ndim == 3 else "implementations do"
            raise self.refuse(f"Current CPU {number} not yet support dilation rates larger than 1.",
                              hint="tf.nn.atrous_conv2d_transpose takes a dilation (rate) on CPU")
        out = layer.output_shape or ()
        windows = []
        for axis, (i, o, k, e, s, d) in enumerate(zip(spatial, out, layer.kernel_size, layer.kernel_extent,
                                                      layer.stride, layer.dilation)):
            pads = layer.padding if isinstance(layer.padding, str) else layer.padding[axis]
            computed = forward_size(o, e, s, pads)
            if computed < 0:
                raise self.refuse(f"Computed output size would be negative: {computed} [input_size: {o}, "
                                  f"effective_filter_size: {e}, stride: {s}]")
            if computed != i:
                dim = axis + 1 if layer.ndim > 1 else 2  # 1-D runs as 2-D with a unit height
                raise self.refuse(
                    f"{op_name}: Size of out_backprop doesn't match computed: actual = {i}, computed = {computed} "
                    f"spatial_dim: {dim} input: {o} filter: {k} output: {i} stride: {s} dilation: {d}",
                    hint=f"output_shape {o} does not map back to the input's {i} under the forward size rule",
                )
            full = (i - 1) * s + e
            if pads == "SAME":
                begin = max(0, full - o) // 2
            elif pads == "VALID":
                begin = 0
            else:
                begin = pads[0]
            windows.append(Window(begin, o))
        return Result(layer, spatial, tuple(windows), tuple(out))

    def code(self, layer: Layer, spatial: Spatial | None = None) -> str:
        cout = layer.out_channels if layer.out_channels is not None else "out_channels"
        shape = ", ".join(["x.shape[0]", *map(str, layer.output_shape or ()), str(cout)])
        strides = _shown(layer.stride)
        if isinstance(layer.padding, str):
            padding = repr(layer.padding)
        else:
            padding = str([[0, 0], *[list(p) for p in layer.padding], [0, 0]])
        extra = "" if all(d == 1 for d in layer.dilation) else f", dilations={_shown(layer.dilation)}"
        return f"tf.nn.conv{layer.ndim}d_transpose(x, w, ({shape}), strides={strides}, padding={padding}{extra})"

    def weight_shape(self, layer: Layer) -> tuple[int, ...] | None:
        if layer.in_channels is None or layer.out_channels is None:
            return None
        return (*layer.kernel_size, layer.out_channels, layer.in_channels)

    def weight_to_torch(self, layer: Layer) -> tuple[Step, ...]:
        n = layer.ndim
        return (Step("transpose", (n + 1, n, *range(n))),)

    def weight_from_torch(self, layer: Layer) -> tuple[Step, ...]:
        n = layer.ndim
        return (Step("transpose", (*range(2, n + 2), 1, 0)),)

    def candidates(self, geometry: Geometry) -> Iterator[Layer]:
        if geometry.groups != 1 or any(d > 1 for d in geometry.dilation):
            return
        out = tuple(w.length for w in geometry.windows)
        for padding in ("SAME", "VALID"):
            yield geometry.layer(self.name, padding, output_shape=out, bias=False)
        if geometry.ndim == 2:
            pairs = []
            for w, full in zip(geometry.windows, geometry.full):
                end = w.end_crop(full)
                pairs.append((max(w.begin, 0), max(end, 0)))
            yield geometry.layer(self.name, tuple(pairs), output_shape=out, bias=False)
        # nearest: the whole scatter, then the after-statement crops it
        yield geometry.layer(self.name, "VALID", output_shape=geometry.full, bias=False)


def _shown(values: Spatial) -> str:
    return str(values[0]) if len(set(values)) == 1 else str(tuple(values))


FRAMEWORK = TensorFlow()
