"""ONNX: the `ConvTranspose` node, as onnxruntime computes it.

`pads` crop the scatter at each end ([begins..., ends...]); `output_padding` adds rows at the
end; `auto_pad` SAME_UPPER/SAME_LOWER aim at I*s, putting an odd crop at the end (UPPER) or the
start (LOWER); an explicit `output_shape` splits the crop the same way (the start gets the odd
one unless SAME_UPPER). onnxruntime clamps the total crop at 0 and then checks the size with the
forward rule, which in effect keeps output_padding below the stride. Weight (C, M/group, k...)
and bias (M) are PyTorch's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import (
    Framework,
    Geometry,
    Given,
    Layer,
    PasteError,
    Result,
    Spatial,
    Step,
    Window,
    is_int,
    literal,
    per_dim,
)
from .tf import trunc_div

ATTRIBUTES = ("kernel_shape", "strides", "pads", "dilations", "group", "output_padding", "output_shape", "auto_pad")
AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


class Onnx(Framework):
    name = "onnx"
    title = "ONNX"
    limits = ("onnxruntime's pads cannot be negative (no zeros before the first row) and output_padding "
              "stays below the stride")

    def from_call(self, func: str, ndim: int, args: list[Any], kwargs: dict[str, Any], given: Given) -> Layer:
        op_type = args[0] if args else kwargs.get("op_type")
        if op_type != "ConvTranspose":
            raise PasteError(f"convtool reads ONNX 'ConvTranspose' nodes, not {op_type!r}")
        inputs = literal("inputs", args[1] if len(args) > 1 else kwargs.get("inputs"))
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise PasteError("a ConvTranspose node takes inputs [X, W] or [X, W, B]")
        attrs = {k: literal(k, v) for k, v in kwargs.items() if k in ATTRIBUTES}
        unknown = set(kwargs) - set(ATTRIBUTES) - {"op_type", "inputs", "outputs", "name", "doc_string", "domain"}
        if unknown:
            raise PasteError(f"ConvTranspose has no attribute {sorted(unknown)[0]!r}")
        if isinstance(attrs.get("auto_pad"), bytes):
            attrs["auto_pad"] = attrs["auto_pad"].decode()
        return self.build(attrs, given, bias=len(inputs) == 3)

    def from_options(self, ndim: int, given: Given) -> Layer:
        attrs: dict[str, Any] = {"kernel_shape": list(per_dim("kernel_size", given.kernel_size, ndim))}
        if given.stride is not None:
            attrs["strides"] = list(per_dim("strides", given.stride, ndim))
        if given.dilation is not None:
            attrs["dilations"] = list(per_dim("dilations", given.dilation, ndim))
        if given.pads is not None:
            attrs["pads"] = list(given.pads) if isinstance(given.pads, tuple) else [given.pads] * (2 * ndim)
        elif given.padding is not None and not isinstance(given.padding, str):
            attrs["pads"] = list(per_dim("padding", given.padding, ndim)) * 2
        if given.auto_pad is not None:
            attrs["auto_pad"] = given.auto_pad
        if given.output_padding is not None:
            attrs["output_padding"] = list(per_dim("output_padding", given.output_padding, ndim))
        if given.output_shape is not None:
            attrs["output_shape"] = list(per_dim("output_shape", given.output_shape, ndim))
        if given.groups is not None:
            attrs["group"] = given.groups
        return self.build(attrs, given, bias=given.bias if given.bias is not None else True)

    def build(self, attrs: dict[str, Any], given: Given, bias: bool) -> Layer:
        kernel = attrs.get("kernel_shape")
        if kernel is None:
            if given.kernel_size is None:
                raise PasteError("give kernel_shape (or -k): convtool has no W tensor to infer it from")
            kernel = given.kernel_size
        lists = [v for k, v in attrs.items() if k not in ("group", "auto_pad", "pads") and isinstance(v, (list, tuple))]
        ndim = len(kernel) if isinstance(kernel, (list, tuple)) else (len(lists[0]) if lists else 2)
        kernel_t = per_dim("kernel_shape", kernel, ndim)
        stride = per_dim("strides", attrs.get("strides", 1), ndim)
        dilation = per_dim("dilations", attrs.get("dilations", 1), ndim)
        output_padding = per_dim("output_padding", attrs.get("output_padding", 0), ndim)
        group = attrs.get("group", 1)
        auto_pad = attrs.get("auto_pad", "NOTSET")
        pads = attrs.get("pads")
        # the schema's checks, in onnx shape inference's words
        if not is_int(group) or group <= 0:
            raise self.refuse(f"Attribute group must be > 0 for ConvTranspose. group={group}")
        if any(d <= 0 for d in dilation):
            raise self.refuse("Attribute dilations must only contain positive values")
        if any(s <= 0 for s in stride):
            raise self.refuse("Attribute strides must only contain positive values")
        if auto_pad not in AUTO_PADS:
            raise self.refuse(f"auto_pad must be either NOTSET, SAME_UPPER, SAME_LOWER or VALID, but got {auto_pad!r}")
        if pads is not None and auto_pad != "NOTSET":
            raise self.refuse("The pads attribute cannot be used simultaneously with auto_pad attribute")
        pairs = ((0, 0),) * ndim
        if pads is not None:
            if not isinstance(pads, (list, tuple)) or len(pads) != 2 * ndim or not all(is_int(p) for p in pads):
                raise PasteError(f"pads must hold {2 * ndim} ints (all begins, then all ends), but got {pads!r}")
            if any(p < 0 for p in pads):
                raise self.refuse("Attribute pads must not contain negative values")
            pairs = tuple((pads[i], pads[ndim + i]) for i in range(ndim))
        if any(o < 0 for o in output_padding):
            raise self.refuse("Attribute output_padding must not contain negative values")
        cin = given.in_channels
        if cin is not None and cin % group:
            raise self.refuse(f"Input channels C must be divisible by group for ConvTranspose. C={cin}, group={group}")
        out_shape = attrs.get("output_shape")
        return Layer(
            framework=self.name, ndim=ndim, kernel_size=kernel_t, stride=stride, dilation=dilation, padding=pairs,
            output_padding=output_padding, output_shape=None if out_shape is None else per_dim("output_shape", out_shape, ndim),
            groups=group, in_channels=cin, out_channels=given.out_channels, bias=bias, options={"auto_pad": auto_pad},
        )

    def apply(self, layer: Layer, spatial: Spatial) -> Result:
        auto_pad = layer.options.get("auto_pad", "NOTSET")
        op = layer.output_padding or (0,) * layer.ndim
        for axis, (o, s, d) in enumerate(zip(op, layer.stride, layer.dilation)):
            if o >= max(s, d):
                raise self.refuse(f"output_padding[{axis}] ({o}) must be less than max(stride, dilation) "
                                  f"({max(s, d)}) for spatial dimension {axis}.")
        windows = []
        for axis, (i, k, e, s, d, o, full) in enumerate(zip(
                spatial, layer.kernel_size, layer.kernel_extent, layer.stride, layer.dilation, op, layer.full(spatial))):
            if layer.output_shape is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
                length = layer.output_shape[axis] if layer.output_shape is not None else i * s
                total = max(0, full + o - length)
                begin = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
                if layer.output_shape is None:
                    length = full + o - total
            else:
                begin, end = (0, 0) if auto_pad == "VALID" else layer.padding[axis]
                total = begin + end
                length = full + o - total
            if length <= 0:
                shown = ",".join(map(str, spatial))
                raise self.refuse(f"Computed output dimension is <= 0 for dim {axis}. Input shape: {{{shown}}}")
            expected = trunc_div(length + total - e, s) + 1
            if expected != i:
                if layer.output_shape is not None:
                    raise self.refuse(
                        "Explicit output_shape is inconsistent with input spatial dimensions and convolution "
                        f"parameters. Expected input size {expected} but got {i} (output_size={length}, kernel={k}, "
                        f"stride={s}, dilation={d}, output_padding={o})."
                    )
                raise self.refuse(
                    "Computed output shape is inconsistent with input spatial dimensions. output_padding "
                    f"({o}) may be too large for stride ({s}). Expected input size {expected} but got {i}.",
                    hint="onnxruntime keeps output_padding below the stride",
                )
            windows.append(Window(begin, length))
        out = tuple(w.length for w in windows)
        return Result(layer, spatial, tuple(windows), out, tuple(self._inference_warning(layer, spatial, out)))

    def inferred(self, layer: Layer, spatial: Spatial) -> Spatial | None:
        """What ONNX shape inference predicts for SAME_UPPER/SAME_LOWER without output_shape: it
        leaves output_padding out of the total padding (None for the other modes)."""
        if layer.output_shape is not None or layer.options.get("auto_pad") not in ("SAME_UPPER", "SAME_LOWER"):
            return None
        op = layer.output_padding or (0,) * layer.ndim
        return tuple(s * (i - 1) + o + e - max(e - s, 0)
                     for i, s, o, e in zip(spatial, layer.stride, op, layer.kernel_extent))

    def _inference_warning(self, layer: Layer, spatial: Spatial, out: Spatial) -> list[str]:
        inferred = self.inferred(layer, spatial)
        if inferred is None or inferred == out:
            return []
        return [f"ONNX shape inference predicts {list(inferred)} for this node, but onnxruntime returns {list(out)}"]

    def code(self, layer: Layer, spatial: Spatial | None = None) -> str:
        inputs = ["X", "W", "B"] if layer.bias else ["X", "W"]
        attrs = [f"kernel_shape={list(layer.kernel_size)}"]
        if any(s != 1 for s in layer.stride):
            attrs.append(f"strides={list(layer.stride)}")
        if any(d != 1 for d in layer.dilation):
            attrs.append(f"dilations={list(layer.dilation)}")
        if layer.groups != 1:
            attrs.append(f"group={layer.groups}")
        auto_pad = layer.options.get("auto_pad", "NOTSET")
        if auto_pad != "NOTSET":
            attrs.append(f"auto_pad={auto_pad!r}")
        elif any(p for pair in layer.padding for p in pair) and layer.output_shape is None:
            attrs.append(f"pads={[b for b, _ in layer.padding] + [e for _, e in layer.padding]}")
        if layer.output_padding is not None and any(layer.output_padding):
            attrs.append(f"output_padding={list(layer.output_padding)}")
        if layer.output_shape is not None:
            attrs.append(f"output_shape={list(layer.output_shape)}")
        return f"helper.make_node('ConvTranspose', {inputs!r}, ['Y'], {', '.join(attrs)})"

    def weight_shape(self, layer: Layer) -> tuple[int, ...] | None:
        if layer.in_channels is None or layer.out_channels is None:
            return None
        return (layer.in_channels, layer.out_channels // layer.groups, *layer.kernel_size)

    def weight_to_torch(self, layer: Layer) -> tuple[Step, ...]:
        return ()

    def weight_from_torch(self, layer: Layer) -> tuple[Step, ...]:
        return ()

    def candidates(self, geometry: Geometry) -> Iterator[Layer]:
        begins, ends, extra = [], [], []
        for w, full in zip(geometry.windows, geometry.full):
            end = w.end_crop(full)
            begin = min(max(w.begin, 0), full - 1)  # keep at least one row: the rest is the after-statement's
            begins.append(begin)
            ends.append(max(0, min(end, full - begin - 1)))
            extra.append(max(-end, 0))
        pads = tuple(zip(begins, ends))
        if any(extra):
            yield geometry.layer(self.name, pads, output_padding=tuple(extra), options={"auto_pad": "NOTSET"})
        yield geometry.layer(self.name, pads, output_padding=(0,) * geometry.ndim, options={"auto_pad": "NOTSET"})


FRAMEWORK = Onnx()
