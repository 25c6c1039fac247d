"""Port one transposed convolution between frameworks: the target's layer with the same size and
values, or the nearest one plus an explicit crop/pad (`after`), the weight and bias conversion
as code, and a sentence saying why. Every answer is run through the numeric reference (numpy)
on both sides before it is returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, ConvtoolError
from . import get
from .base import Framework, Geometry, Layer, PortError, Result, Spatial, Step, Window, render_steps, simplify

CHECK_LIMIT = 50_000_000  # array elements the numeric check may allocate (float64: 400 MB)



@dataclass(frozen=True)
class After:
    """What follows the target layer: keep rows [start, stop) per dim, add zero rows, add the bias."""

    slices: tuple[tuple[int, int], ...]
    pads: tuple[tuple[int, int], ...]
    bias: bool
    channels_last: bool
    lengths: Spatial  # the target layer's own output size

    @property
    def crops(self) -> bool:
        return any((a, b) != (0, n) for (a, b), n in zip(self.slices, self.lengths))

    def render(self) -> str | None:
        """One Python statement on the target's output `y` (numpy for zero rows)."""
        if not self.crops and not any(a or b for a, b in self.pads) and not self.bias:
            return None
        text = "y"
        if self.crops:
            dims = ", ".join(f"{a}:{b}" for a, b in self.slices)
            text = f"y[:, {dims}, :]" if self.channels_last else f"y[..., {dims}]"
        if any(a or b for a, b in self.pads):
            widths = [f"({a}, {b})" for a, b in self.pads]
            widths = ["(0, 0)", *widths, "(0, 0)"] if self.channels_last else ["(0, 0)", "(0, 0)", *widths]
            text = f"np.pad({text}, ({', '.join(widths)}))"
        if self.bias:
            ones = ", ".join(["-1"] + ["1"] * len(self.slices))
            text += " + b_target" if self.channels_last else f" + b_target.reshape({ones})"
        return f"y = {text}"

    def apply(self, y: Any, b: Any) -> Any:
        """The same statement on numpy arrays (y in the target's layout, b the target's bias)."""
        import numpy as np

        index = tuple(slice(a, c) for a, c in self.slices)
        where = (slice(None), *index, slice(None)) if self.channels_last else (slice(None), slice(None), *index)
        y = y[where]
        widths = [(0, 0), *self.pads, (0, 0)] if self.channels_last else [(0, 0), (0, 0), *self.pads]
        y = np.pad(y, widths)
        if self.bias:
            y = y + (b if self.channels_last else b.reshape(-1, *[1] * len(self.slices)))
        return y


@dataclass(frozen=True)
class Ported:
    """A port's answer: both layers applied to the input, the after-statement, the conversions."""

    source: Result
    target: Result
    after: After | None
    weight: tuple[Step, ...]
    bias: tuple[Step, ...] | None
    note: str
    max_error: float

    @property
    def exact_without_after(self) -> bool:
        return self.after is None

    def to_dict(self) -> dict[str, Any]:
        """The `port --json` document."""
        src, tgt = get(self.source.layer.framework), get(self.target.layer.framework)
        return {
            "source": side(src, self.source),
            "target": {
                **side(tgt, self.target),
                "after": self.after.render() if self.after else None,
                "exact_without_after": self.exact_without_after,
                "weight": f"w_target = {render_steps(self.weight, 'w_source')}",
                "bias": None if self.bias is None else f"b_target = {render_steps(self.bias, 'b_source')}",
            },
            "note": self.note,
            "checked": {"max_abs_difference": self.max_error},
        }


def side(framework: Framework, result: Result) -> dict[str, Any]:
    """One side of a port document: framework, code, input, output, crop, layouts."""
    layer = result.layer
    crop = None
    if result.windows is not None:
        full = layer.full(result.spatial)
        crop = {"begin": [w.begin for w in result.windows], "end": [w.end_crop(f) for w, f in zip(result.windows, full)]}
    return {
        "framework": framework.name,
        "code": framework.code(layer, result.spatial),
        "input": list(result.spatial),
        "output": list(result.output),
        "crop": crop,
        "weight_shape": _list(framework.weight_shape(layer)),
        "bias_shape": _list(framework.bias_shape(layer)),
        "data_layout": framework.data_layout(layer.ndim),
    }


def _list(values: Any) -> list[int] | None:
    return None if values is None else list(values)


def port(layer: Layer, spatial: Spatial, to: str, *, in_channels: int | None = None,
         out_channels: int | None = None, check: bool = True) -> Ported:
    """The target framework's layer that computes what `layer` computes on inputs of size `spatial`.

    >>> from convtool.frameworks.paste import read
    >>> answer = port(read("layers.Conv2DTranspose(6, 3, strides=2, padding='same')"), (5, 5), "torch",
    ...               in_channels=4)
    >>> answer.to_dict()["target"]["code"], answer.after.render()
    ('nn.ConvTranspose2d(4, 6, kernel_size=3, stride=2)', 'y = y[..., 0:10, 0:10]')
    """
    source = get(layer.framework)
    target = get(to)
    cin = layer.in_channels if layer.in_channels is not None else in_channels
    cout = layer.out_channels if layer.out_channels is not None else out_channels
    if cin is None or cout is None:
        raise PortError("the conversion code needs both channel counts: give --in-channels and --out-channels")
    layer = layer.replace(in_channels=cin, out_channels=cout)
    result = source.apply(layer, spatial)
    if result.windows is None:
        raise PortError(f"{source.title}'s layer is not a crop of the transposed convolution's scatter "
                        f"({' '.join(result.warnings)}), so no framework's layer computes it")
    if any(w.length == 0 for w in result.windows):
        raise PortError(f"{source.title}'s layer returns an empty output for this input: nothing to port")
    geometry = Geometry(spatial, layer.kernel_size, layer.stride, layer.dilation, layer.groups, cin, cout,
                        layer.bias, result.windows)
    if geometry.ndim not in target.dims:
        raise PortError(f"{target.title} has no {geometry.ndim}-D transposed convolution")
    if geometry.groups != 1 and not target.has_groups:
        raise PortError(f"{target.title} has no grouped transposed convolution (groups={geometry.groups}); "
                        "a grouped layer would be one layer per group and a concatenation")
    chosen, exact, refusal = _choose(target, geometry, spatial)
    if chosen is None:
        raise PortError(_impossible(target, geometry, refusal))
    after = None if exact else _after(geometry, chosen, target)
    if after is not None and (after.pads != ((0, 0),) * geometry.ndim) and geometry.bias:
        chosen = get(to).apply(chosen.layer.replace(bias=False), spatial)
        after = _after(geometry, chosen, target, bias=True)
    if geometry.bias and not target.bias_in_layer:
        after = _after(geometry, chosen, target, bias=True)
    weight = simplify((*source.weight_to_torch(layer), *target.weight_from_torch(chosen.layer)))
    bias = None
    if geometry.bias:
        target_bias = target.bias_from_torch(chosen.layer) if target.bias_in_layer and chosen.layer.bias else ()
        bias = simplify((*source.bias_to_torch(layer), *target_bias))
    note = _note(source, target, result, chosen, after)
    answer = Ported(result, chosen, after, weight, bias, note, 0.0)
    if check:
        # the same port with at most 2 input and 3 output channels per group: the windows and the
        # axis steps do not depend on the channel counts, and the check stays cheap
        g = geometry.groups
        small = (g * min(cin // g, 2), g * min(cout // g, 3))
        rehearsal = answer if small == (cin, cout) else port(
            layer.replace(in_channels=small[0], out_channels=small[1]), spatial, to, check=False)
        answer = Ported(result, chosen, after, weight, bias, note, verify(rehearsal))
    return answer


def _choose(target: Framework, geometry: Geometry, spatial: Spatial) -> tuple[Result | None, bool, str | None]:
    """The first candidate with the same windows, else the first whose windows keep every computed
    row; with the last refusal's words, for when there is neither."""
    covering, refusal = None, None
    for candidate in target.candidates(geometry):
        try:
            result = target.apply(candidate, spatial)
        except ConfigError as error:
            refusal = error.message
            continue
        if result.windows == geometry.windows:
            return result, True, None
        if covering is None and result.windows is not None and _covers(geometry, result.windows):
            covering = result
    return covering, False, refusal


def _covers(geometry: Geometry, windows: tuple[Window, ...]) -> bool:
    """The target's windows hold every row of the source's window that the scatter computes."""
    for w, t, full in zip(geometry.windows, windows, geometry.full):
        first, last = max(w.begin, 0), min(w.begin + w.length, full)
        if first < last and (t.begin > first or t.begin + t.length < last):
            return False
    return True


def _after(geometry: Geometry, chosen: Result, target: Framework, bias: bool = False) -> After:
    slices, pads = [], []
    for w, t in zip(geometry.windows, chosen.windows or ()):
        start = w.begin - t.begin
        first, stop = max(start, 0), min(start + w.length, t.length)
        stop = max(stop, first)
        before = min(first - start, w.length)
        slices.append((first, stop))
        pads.append((before, w.length - before - (stop - first)))
    return After(tuple(slices), tuple(pads), bias, target.channels_last, chosen.output)


def _impossible(target: Framework, geometry: Geometry, refusal: str | None) -> str:
    if any(d > 1 for d in geometry.dilation) and not target.dilates:
        return (f"{target.title} on CPU (its default) refuses dilation > 1 in a transposed convolution, "
                "so no layer of it computes this one")
    if refusal is not None:
        return f"no layer of {target.title} computes this one: {refusal}"
    return f"no layer of {target.title} keeps every row this layer computes ({target.limits})"


def _note(source: Framework, target: Framework, src: Result, tgt: Result, after: After | None) -> str:
    full = src.layer.full(src.spatial)
    ends = [w.end_crop(f) for w, f in zip(src.windows or (), full)]
    crops = ", ".join(f"{w.begin}/{e}" for w, e in zip(src.windows or (), ends))
    said = f"{source.title}'s layer crops {crops} rows (start/end) of the full scatter"
    if any(e < 0 for e in ends) or any(w.begin < 0 for w in src.windows or ()):
        said += " (negative: rows that only the bias reaches)"
    padding = src.layer.padding
    if isinstance(padding, str) and padding.lower() == "same" and any(
            e > w.begin for w, e in zip(src.windows or (), ends)):
        said += f"; {source.title} 'same' puts the odd crop at the end"
    if after is None:
        return f"{said}; {target.title}'s layer keeps the same rows: same size and values."
    if after.crops or any(a or b for a, b in after.pads):
        return (f"{said}; {target.limits}, so the nearest layer is followed by `after`, which "
                "makes it exact.")
    return f"{said}; {target.title}'s op takes no bias, so `after` adds it."


# -- the numeric check ------------------------------------------------------------------------


def verify(answer: Ported, seed: int = 0) -> float:
    """Run the source and the target (converted weights, then `after`) on one random input;
    the largest difference, or a ConvtoolError when they differ."""
    from math import prod

    import numpy as np

    from .base import Given, apply_steps
    from .paste import read

    src = answer.source.layer
    elements = 2 * (src.out_channels or 1) * prod(src.full(answer.source.spatial)) + prod(src.kernel_size) * (
        src.in_channels or 1) * (src.out_channels or 1)
    if elements > CHECK_LIMIT:
        raise PortError(f"this layer is too large to check numerically ({elements:,} array elements, convtool's "
                        f"limit is {CHECK_LIMIT:,}), and convtool prints no answer it has not checked: port it "
                        "for a smaller input of the same kind")
    rng = np.random.default_rng(seed)
    src_layer, tgt_layer = answer.source.layer, answer.target.layer
    source, target = get(src_layer.framework), get(tgt_layer.framework)
    # the target as its printed code builds it, so that the code is what is checked
    printed = read(target.code(tgt_layer, answer.target.spatial), target.name, Given(
        kernel_size=tgt_layer.kernel_size, in_channels=tgt_layer.in_channels, out_channels=tgt_layer.out_channels))
    windows = target.apply(printed, answer.target.spatial).windows
    if (printed.bias, windows) != (tgt_layer.bias, answer.target.windows):
        raise ConvtoolError(f"port check failed: the printed {target.title} code is not the layer checked")
    x = rng.standard_normal((2, src_layer.in_channels or 1, *answer.source.spatial))
    w_source = rng.standard_normal(source.weight_shape(src_layer) or ())
    bias_shape = source.bias_shape(src_layer) or ((src_layer.out_channels or 1,) if src_layer.bias else None)
    b_source = rng.standard_normal(bias_shape) if bias_shape is not None else None
    b_torch = None if b_source is None else apply_steps(source.bias_to_torch(src_layer), b_source)
    y_source = scatter_window(x, apply_steps(source.weight_to_torch(src_layer), w_source), b_torch,
                              src_layer.stride, src_layer.dilation, src_layer.groups, answer.source.windows or ())
    w_target = apply_steps(answer.weight, w_source)
    b_target = None if b_source is None or answer.bias is None else apply_steps(answer.bias, b_source)
    b_layer = None
    if tgt_layer.bias and target.bias_in_layer and b_target is not None:
        b_layer = apply_steps(target.bias_to_torch(tgt_layer), b_target)
    y = scatter_window(x, apply_steps(target.weight_to_torch(tgt_layer), w_target), b_layer, tgt_layer.stride,
                       tgt_layer.dilation, tgt_layer.groups, answer.target.windows or ())
    if target.channels_last:
        y = np.moveaxis(y, 1, -1)
    if answer.after is not None:
        y = answer.after.apply(y, b_target)
    if target.channels_last:
        y = np.moveaxis(y, -1, 1)
    if y.shape != y_source.shape:
        raise ConvtoolError(f"port check failed: shapes {y.shape} and {y_source.shape} differ")
    error = float(np.max(np.abs(y - y_source))) if y.size else 0.0
    if error > 1e-9 * max(1.0, float(np.max(np.abs(y_source))) if y.size else 1.0):
        raise ConvtoolError(f"port check failed: the two layers differ by {error:g}")
    return error


def scatter_window(x: Any, w: Any, bias: Any, stride: Spatial, dilation: Spatial, groups: int,
                   windows: tuple[Window, ...]) -> Any:
    """The scatter definition with an explicit window: the full transposed convolution (padding 0),
    then rows [begin, begin + length) per dim, zeros where they leave it, then the bias.

    x (N, C_in, *I), w in PyTorch's layout (C_in, C_out/groups, *k), bias (C_out,) or None.
    """
    import numpy as np

    nd = x.ndim - 2
    full = full_scatter(x, w, stride, dilation, groups)
    out = np.zeros(full.shape[:2] + tuple(win.length for win in windows), dtype=full.dtype)
    src, dst = [], []
    for win, size in zip(windows, full.shape[2:]):
        lo, hi = max(win.begin, 0), min(win.begin + win.length, size)
        hi = max(hi, lo)
        src.append(slice(lo, hi))
        dst.append(slice(lo - win.begin, hi - win.begin))
    into, out_of = (slice(None), slice(None), *dst), (slice(None), slice(None), *src)
    out[into] = full[out_of]
    if bias is not None:
        out += np.asarray(bias).reshape(1, -1, *[1] * nd)
    return out


def full_scatter(x: Any, w: Any, stride: Spatial, dilation: Spatial, groups: int) -> Any:
    """The uncropped transposed convolution: the numeric engine for 1-D (as 2-D) and 2-D, a tap
    loop over the kernel for 3-D."""
    import numpy as np

    nd = x.ndim - 2
    if nd <= 2:
        from ..numeric import conv_transpose2d

        if nd == 1:
            y = conv_transpose2d(x[:, :, None, :], w[:, :, None, :], None, (1, stride[0]), 0, 0, groups,
                                 (1, dilation[0]))
            return np.asarray(y)[:, :, 0, :]
        return np.asarray(conv_transpose2d(x, w, None, tuple(stride), 0, 0, groups, tuple(dilation)))
    n, cin = x.shape[:2]
    cin_g, cout_g = cin // groups, w.shape[1]
    spatial = x.shape[2:]
    full = [(i - 1) * s + d * (k - 1) + 1 for i, k, s, d in zip(spatial, w.shape[2:], stride, dilation)]
    out = np.zeros((n, cout_g * groups, *full), dtype=np.result_type(x, w))
    for tap in np.ndindex(*w.shape[2:]):
        index = tuple(slice(t * d, t * d + (i - 1) * s + 1, s) for t, i, s, d in zip(tap, spatial, stride, dilation))
        for g in range(groups):
            xs = x[:, g * cin_g:(g + 1) * cin_g]
            taps = (slice(g * cin_g, (g + 1) * cin_g), slice(None), *tap)
            where = (slice(None), slice(g * cout_g, (g + 1) * cout_g), *index)
            out[where] += np.einsum("nc...,co->no...", xs, w[taps])
    return out
