"""Which positions of each layer's output depend on which positions of one tensor, per spatial
dim, measured with PyTorch's forward-mode derivatives (torch.func.jvp, one tangent per source
row, batched with vmap) through a one-channel copy of the network made of torch's own ops.

Channels do not move positions: every convolution becomes one of equal positive weights
averaging its input channels (values stay near 1, where no activation saturates), in 1, 2 or 3
dims. A max pool counts its whole window (a window sum over the same padded windows, its output
size checked against torch's own max pool), and a max unpool puts each value in every place of
its window (its size checked against torch's own unpool given the pool's indices). Attention is
softmax(q·kᵀ)·v over the positions. The rest are the functional ops themselves (pads of every
mode, interpolate, pixel shuffle, norms, activations at a positive input, so that none of their
derivatives is zero). Derivatives are measured with respect to the network input or to the
output of any layer (a tangent added to it), so the same measure serves receptive fields, grids
and projective fields. Needs torch; `make_golden_grids.py` stores the results for the suite,
and the tests call `measure` live where it is fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from convtool.graph import Propagation

Matrix = np.ndarray  # bool, (output positions, source positions) along one dim


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    return (v,) * n if isinstance(v, int) else tuple(v)


def _dims_of(kind: str) -> int:
    """The spatial dims of a kind named like conv3d or max_unpool1d."""
    return int(kind[-2])


def _sides(flat: tuple[int, ...], dims: int) -> list[tuple[int, int]]:
    pairs = [(flat[2 * i], flat[2 * i + 1]) for i in range(len(flat) // 2)][::-1]
    return [(0, 0)] * (dims - len(pairs)) + pairs


def _flat(pairs: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    """(before, after) per dim, first dim first, as F.pad wants them: the last dim first."""
    return tuple(v for pair in reversed(pairs) for v in pair)


def _ones(shape: tuple[int, ...], value: float, dtype: torch.dtype) -> torch.Tensor:
    return torch.full(shape, value, dtype=dtype)


def _window_sum(x: torch.Tensor, k: tuple[int, ...], s: tuple[int, ...], p: tuple[int, ...],
                d: tuple[int, ...], out: tuple[int, ...]) -> torch.Tensor:
    """Every window of a max pool summed (zeros beyond the input): the whole window counts."""
    right = [max(0, (o - 1) * ss + dd * (kk - 1) + 1 - pp - n)
             for o, ss, dd, kk, pp, n in zip(out, s, d, k, p, x.shape[2:])]
    xp = F.pad(x, _flat(list(zip(p, right))))
    ones = _ones((x.shape[1], 1, *k), 1 / prod(k), x.dtype)
    y = _conv(len(k))(xp, ones, stride=s, dilation=d, groups=x.shape[1])
    return y[(slice(None), slice(None), *(slice(0, o) for o in out))]


def _conv(dims: int, transposed: bool = False) -> Any:
    return getattr(F, f"conv_transpose{dims}d" if transposed else f"conv{dims}d")


def _spread(x: torch.Tensor, k: tuple[int, ...], s: tuple[int, ...], p: tuple[int, ...],
            out: tuple[int, ...]) -> torch.Tensor:
    """What a max unpool may put where: each input position into every place of its window."""
    base = [(i - 1) * ss - 2 * pp + kk for i, ss, pp, kk in zip(x.shape[2:], s, p, k)]
    extra = [max(0, o - b) for o, b in zip(out, base)]
    ones = _ones((x.shape[1], 1, *k), 1.0, x.dtype)
    y = _conv(len(k), True)(x, ones, stride=s, padding=p, output_padding=extra, groups=x.shape[1])
    return y[(slice(None), slice(None), *(slice(0, o) for o in out))]


class Mode:
    """How the one-channel network runs.

    plain: max pools (and unpools) as torch computes them, for the check of every size.
    positions: norms act per position (their statistics, which mix every position, do not
        count): the dependence that places positions, for the grids.
    """

    def __init__(self, plain: bool = False, positions: bool = False) -> None:
        self.plain, self.positions = plain, positions


POINTWISE = {"relu": F.relu, "silu": F.silu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "elu": F.elu,
             "mish": F.mish, "hardswish": F.hardswish, "softplus": F.softplus}


def _layer(layer: Any, x: torch.Tensor, skips: list[torch.Tensor], mode: Mode,
           indices: dict[int, torch.Tensor]) -> torch.Tensor:
    """One layer of the one-channel network."""
    kind, a = layer.type, layer.applied.args
    dims = x.dim() - 2
    if kind.startswith(("conv1d", "conv2d", "conv3d", "conv_transpose")):
        p = layer.applied.conv
        k = tuple(p.kernel_size)
        if p.transposed:
            overlap = prod(k) / prod(p.stride)  # taps per output position
            ones = _ones((x.shape[1], 1, *k), 1 / (x.shape[1] * overlap), x.dtype)
            return _conv(dims, True)(x, ones, stride=p.stride, padding=p.padding, output_padding=p.output_padding,
                                     dilation=p.dilation)
        xp = F.pad(x, _flat(p.padding_pairs), mode={"zeros": "constant"}.get(p.padding_mode, p.padding_mode))
        ones = _ones((1, x.shape[1], *k), 1 / (x.shape[1] * prod(k)), x.dtype)
        return _conv(dims)(xp, ones, stride=p.stride, dilation=p.dilation)
    if kind.startswith("max_pool"):
        k, s, p, d = (_tuple(a[key], dims) for key in ("kernel_size", "stride", "padding", "dilation"))
        if mode.plain:
            y, indices[layer.index] = getattr(F, f"max_pool{dims}d")(x, k, s, p, d, ceil_mode=a["ceil_mode"],
                                                                   return_indices=True)
            return y
        return _window_sum(x, k, s, p, d, layer.output[2:])
    if kind.startswith("max_unpool"):
        k, s, p = (_tuple(a[key], dims) for key in ("kernel_size", "stride", "padding"))
        pool = layer.skips[0]
        if mode.plain and pool in indices and indices[pool].shape == x.shape:
            return getattr(F, f"max_unpool{dims}d")(x, indices[pool], k, s, p, output_size=layer.output[2:])
        return _spread(x, k, s, p, layer.output[2:])
    if kind.startswith("avg_pool"):
        rest = (a["kernel_size"], a["stride"], a["padding"], a["ceil_mode"], a["count_include_pad"])
        if dims > 1:
            rest += (a["divisor_override"],)
        return getattr(F, f"avg_pool{dims}d")(x, *rest)
    if kind.startswith("adaptive_"):  # a max counts its whole window, as an average does
        return getattr(F, f"adaptive_{'max' if mode.plain and 'max' in kind else 'avg'}_pool{dims}d")(
            x, layer.output[2:])
    if kind == "upsample":
        return F.interpolate(x, size=a.get("size"), scale_factor=a.get("scale_factor"), mode=a["mode"],
                             align_corners=a.get("align_corners"),
                             recompute_scale_factor=a.get("recompute_scale_factor"))
    if kind == "pixel_shuffle":
        r2 = a["upscale_factor"] ** 2
        if x.shape[1] % r2:
            x = x.sum(1, keepdim=True).repeat(1, r2, 1, 1)
        return F.pixel_shuffle(x, a["upscale_factor"])
    if kind == "pixel_unshuffle":
        return F.pixel_unshuffle(x, a["downscale_factor"])
    if kind == "pad" or "_pad" in kind:  # pad and the padding classes
        return F.pad(x, a["padding"], mode=a["mode"], value=a["value"] if a["mode"] == "constant" else None)
    if kind == "crop":
        sides = _sides(a["cropping"], dims)
        return x[(slice(None), slice(None), *(slice(b, n - e) for (b, e), n in zip(sides, x.shape[2:])))]
    if kind in ("concat", "add", "mul"):
        parts = [x]
        for skip, offsets in zip(skips, layer.applied.crops):
            spread = kind != "concat" and all(a == b or 1 in (a, b) for a, b in zip(skip.shape[2:], x.shape[2:]))
            if skip.shape[2:] != x.shape[2:] and not spread:  # crop: center
                skip = skip[(slice(None), slice(None), *(slice(o, o + m) for o, m in zip(offsets, x.shape[2:])))]
            parts.append(skip)
        if kind == "concat":
            return torch.cat(parts, dim=1)
        means = [part.mean(1, keepdim=True) for part in parts]  # values stay near 1 (a tanh at the end saturates)
        total = means[0]
        for part in means[1:]:
            total = total + part if kind == "add" else total * part
        return total / len(means) if kind == "add" else total
    if kind == "attention":  # softmax(q·kᵀ)·v over the positions, one channel each
        q, k, v = (t.sum(1, keepdim=True) for t in (x, *skips))
        scale = 1.0 if a["scale"] is None else a["scale"]  # 1/sqrt(channels), of one channel
        weights = torch.softmax(q.flatten(2).transpose(1, 2) @ k.flatten(2) * scale, dim=-1)
        return (weights @ v.flatten(2).transpose(1, 2)).transpose(1, 2).reshape(q.shape)
    if kind.startswith(("batch_norm", "instance_norm", "group_norm")):
        mixes = kind == "group_norm" or (kind.startswith("instance") and not a["track_running_stats"])
        if mixes and mode.positions:
            return x
        if not mixes:  # running statistics: an affine map per channel
            zero, one = torch.zeros(x.shape[1], dtype=x.dtype), torch.ones(x.shape[1], dtype=x.dtype)
            return F.batch_norm(x, zero, one, training=False)
        return F.group_norm(x, 1) if kind == "group_norm" else F.instance_norm(x)
    if kind in POINTWISE or kind in ("leaky_relu", "prelu", "gelu"):
        if kind in POINTWISE:
            return POINTWISE[kind](x)
        if kind == "gelu":
            return F.gelu(x, approximate=a["approximate"])
        return F.leaky_relu(x, a.get("negative_slope", 0.25))
    if kind in ("dropout", "identity"):
        return x
    if kind in ("scale", "shift"):  # a constant factor or offset (nonzero): the dependence is x's
        return x * 0.5 if kind == "scale" else x + 1.0
    if kind == "flatten":
        return x.flatten(1) if layer.output[2:] != layer.input[2:] or len(layer.output) < 3 else x
    if kind == "linear":
        return x @ torch.full((x.shape[-1], layer.output[-1]), 1 / x.shape[-1], dtype=x.dtype)
    if kind in ("unflatten", "reshape"):  # no position correspondence: every new position reads all
        spatial = layer.output[2:]
        return x.flatten(1).mean(1).reshape(1, 1, *([1] * len(spatial))).expand(1, 1, *spatial)
    raise NotImplementedError(kind)


def _walk(prop: Propagation, x: torch.Tensor, step: Any) -> dict[int, torch.Tensor]:
    """Every layer's output, by index (-1: the input): step(layer, its input, its skips, outs)."""
    outs: dict[int, torch.Tensor] = {-1: x}
    previous = x
    for layer in prop.layers:
        current = previous if layer.source is None else outs[layer.source]
        skips = [] if layer.type in ("pad", "crop") else [outs[i] for i in layer.skips]
        outs[layer.index] = previous = step(layer, current, skips, outs)
    return outs


def run(prop: Propagation, source: int, delta: torch.Tensor, primal: torch.Tensor, mode: Mode | None = None
        ) -> list[torch.Tensor]:
    """Every layer's output of the one-channel network; `delta` is added to tensor `source`
    (a layer index, -1: the network input)."""
    mode = mode or Mode()
    indices: dict[int, torch.Tensor] = {}

    def step(layer: Any, x: torch.Tensor, skips: list[torch.Tensor], outs: Any) -> torch.Tensor:
        y = _layer(layer, x, skips, mode, indices)
        return y + delta if layer.index == source else y

    outs = _walk(prop, primal + delta if source == -1 else primal, step)
    return [outs[layer.index] for layer in prop.layers]


# -- which positions read padding ------------------------------------------------------------


def _outside(shape: Sequence[int], axis: int, before: int, n: int) -> torch.Tensor:
    """1 where the index along spatial dim `axis` is outside [before, before + n), else 0."""
    along = torch.ones(shape[2 + axis], dtype=torch.float64)
    along[before: before + n] = 0
    view = [1] * len(shape)
    view[2 + axis] = shape[2 + axis]
    return along.reshape(view).expand(*shape)


def _pad_marked(x: torch.Tensor, pairs: Sequence[tuple[int, int]], axis: int) -> torch.Tensor:
    """x padded with zeros, the padding along `axis` marked 1 (a crop, a negative padding, cuts)."""
    y = F.pad(x, _flat(pairs))
    before, after = pairs[axis]
    if before <= 0 and after <= 0:
        return y
    return y + _outside(y.shape, axis, max(before, 0), x.shape[2 + axis] + min(before, 0) + min(after, 0))


def _missing(x: torch.Tensor, k: tuple[int, ...], s: tuple[int, ...], p: tuple[int, ...],
             op: tuple[int, ...], d: tuple[int, ...], axis: int, out: tuple[int, ...]) -> torch.Tensor:
    """Per output position of a transposed window op: how many of its taps fall beyond the
    input along `axis` (the transposed convolution's equivalent of padding)."""
    margin = -(-d[axis] * (k[axis] - 1) // s[axis]) + 1
    shape = list(x.shape[:1]) + [1] + list(x.shape[2:])
    shape[2 + axis] += 2 * margin
    marks = _outside(shape, axis, margin, x.shape[2 + axis]).contiguous()
    pad = tuple(0 if i == axis else v for i, v in enumerate(p))
    extra = tuple(0 if i == axis else v for i, v in enumerate(op))
    y = _conv(len(k), True)(marks, _ones((1, 1, *k), 1.0, marks.dtype), stride=s, padding=pad, output_padding=extra,
                            dilation=d)
    begin = p[axis] + margin * s[axis]
    return y.narrow(2 + axis, begin, out[axis])


def _edges(n: int, width: int, shape: Sequence[int], axis: int) -> torch.Tensor:
    """1 on the first and last `width` positions along `axis`."""
    return _outside(shape, axis, width, max(0, n - 2 * width))


def _border_step(layer: Any, x: torch.Tensor, skips: list[torch.Tensor], axis: int) -> torch.Tensor:
    """One layer of the padding run: x marks (> 0) the positions that read padding along `axis`;
    the output marks those whose reads include a marked position, a padded one, or a tap
    beyond the input (a transposed window's, or an interpolation's clamped at the edge)."""
    kind, a = layer.type, layer.applied.args
    dims = x.dim() - 2
    x = x.sum(1, keepdim=True)
    out = tuple(layer.output[2:])
    if kind.startswith(("conv1d", "conv2d", "conv3d", "conv_transpose")):
        p = layer.applied.conv
        k = tuple(p.kernel_size)
        ones = _ones((1, 1, *k), 1.0, x.dtype)
        if p.transposed:
            y = _conv(dims, True)(x, ones, stride=p.stride, padding=p.padding, output_padding=p.output_padding,
                                  dilation=p.dilation)
            return y + _missing(x, k, p.stride, p.padding, p.output_padding, p.dilation, axis, out)
        return _conv(dims)(_pad_marked(x, p.padding_pairs, axis), ones, stride=p.stride, dilation=p.dilation)
    if kind.startswith(("max_pool", "avg_pool")):
        k, s, p = (_tuple(a[key], dims) for key in ("kernel_size", "stride", "padding"))
        d = _tuple(a.get("dilation", 1), dims)
        right = [max(0, (o - 1) * ss + dd * (kk - 1) + 1 - pp - n)
                 for o, ss, dd, kk, pp, n in zip(out, s, d, k, p, x.shape[2:])]
        xp = _pad_marked(x, list(zip(p, right)), axis)
        y = _conv(dims)(xp, _ones((1, 1, *k), 1.0, x.dtype), stride=s, dilation=d)
        return y[(slice(None), slice(None), *(slice(0, o) for o in out))]
    if kind.startswith("max_unpool"):
        k, s, p = (_tuple(a[key], dims) for key in ("kernel_size", "stride", "padding"))
        zero = (0,) * dims
        return _spread(x, k, s, p, out) + _missing(x, k, s, p, zero, (1,) * dims, axis, out)
    if kind.startswith("adaptive_"):
        return getattr(F, f"adaptive_avg_pool{dims}d")(x, out)
    if kind == "upsample":
        def interpolate(t: torch.Tensor) -> torch.Tensor:
            return F.interpolate(t, size=a.get("size"), scale_factor=a.get("scale_factor"), mode=a["mode"],
                                 align_corners=a.get("align_corners"),
                                 recompute_scale_factor=a.get("recompute_scale_factor")).abs()

        clamps = {"linear": 1, "bilinear": 1, "trilinear": 1, "bicubic": 2}.get(a["mode"], 0)
        if clamps and not (a.get("align_corners") and a["mode"] != "bicubic"):
            return interpolate(x) + interpolate(_edges(x.shape[2 + axis], clamps, x.shape, axis).contiguous())
        return interpolate(x)
    if kind == "pixel_shuffle":
        r = a["upscale_factor"]
        return F.pixel_shuffle(x.repeat(1, r * r, 1, 1), r)
    if kind == "pixel_unshuffle":
        return F.pixel_unshuffle(x, a["downscale_factor"])
    if kind == "pad" or "_pad" in kind:
        return _pad_marked(x, _sides(a["padding"], dims), axis)
    if kind == "crop":
        sides = _sides(a["cropping"], dims)
        return x[(slice(None), slice(None), *(slice(b, n - e) for (b, e), n in zip(sides, x.shape[2:])))]
    if kind in ("concat", "add", "mul"):
        total = x
        for skip, offsets in zip(skips, layer.applied.crops):
            skip = skip.sum(1, keepdim=True)
            spread = kind != "concat" and all(m == n or 1 in (m, n) for m, n in zip(skip.shape[2:], x.shape[2:]))
            if skip.shape[2:] != x.shape[2:] and not spread:
                skip = skip[(slice(None), slice(None), *(slice(o, o + m) for o, m in zip(offsets, x.shape[2:])))]
            total = total + skip
        return total
    if kind == "attention":  # each position reads q's own and every one of k and v
        return x + sum(skip.sum() for skip in skips)
    if kind in ("flatten", "linear", "unflatten", "reshape"):
        return x.sum().reshape(1, 1, *([1] * len(out))).expand(1, 1, *out) if out else x.flatten(1)
    return x  # pointwise, and norms (whose statistics the grids do not count)


def borders(prop: Propagation) -> dict[int, list[list[int]] | None]:
    """Per layer index and spatial dim, per output position: 1 where it reads padding along that
    dim anywhere on its way from the input (its receptive field is cut there), else 0."""
    found: dict[int, list[list[int]] | None] = {
        layer.index: None if len(layer.output) != len(prop.input) or len(prop.input) < 3 else []
        for layer in prop.layers}
    if len(prop.input) < 3:
        return found
    for axis in range(len(prop.input) - 2):
        def step(layer: Any, x: torch.Tensor, skips: list[torch.Tensor], outs: Any, axis: int = axis) -> torch.Tensor:
            return (_border_step(layer, x, skips, axis) > 0).to(torch.float64)

        with torch.no_grad():
            outs = _walk(prop, torch.zeros((1, 1, *prop.input[2:]), dtype=torch.float64), step)
        for layer in prop.layers:
            if found[layer.index] is not None:
                y = outs[layer.index]
                found[layer.index].append(  # type: ignore[union-attr]
                    y[0].movedim(1 + axis, 0).reshape(y.shape[2 + axis], -1).amax(dim=1).int().tolist())
    return found


def _start(prop: Propagation) -> torch.Tensor:
    """A positive network input (one channel), fixed by a seed."""
    shape = (1, 1, *prop.input[2:]) if len(prop.input) > 2 else (1, prop.input[-1])
    return torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float32) + 0.5


def measure(prop: Propagation, source: int = -1, chunk: int = 8, axes: Sequence[int] | None = None,
            positions: bool = False) -> dict[int, list[Matrix] | None]:
    """Per layer index: per spatial dim, which output rows depend on which rows of `source`
    (None for a layer whose output is not spatial, or has another rank than the source); only
    the dims `axes` (default all) are measured, the others are left None. `positions`: norms
    act per position (see Mode)."""
    primal = _start(prop)
    with torch.no_grad():
        plain = run(prop, -1, torch.zeros(()), primal, Mode(plain=True))
        for layer, y in zip(prop.layers, plain):
            assert tuple(y.shape[2:]) == tuple(layer.output[2:]), (layer.index, layer.type, tuple(y.shape))
    shape = tuple(primal.shape) if source == -1 else tuple(plain[source].shape)
    found: dict[int, list[Matrix] | None] = {
        layer.index: [] if len(layer.output) == len(shape) > 2 else None for layer in prop.layers
    }
    if len(shape) < 3:
        return found

    def outputs(delta: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(run(prop, source, delta, primal, Mode(positions=positions)))

    zero = torch.zeros(shape, dtype=torch.float32)
    for axis in range(len(shape) - 2):
        if axes is not None and axis not in axes:
            for m in found.values():
                if m is not None:
                    m.append(None)
            continue
        n = shape[2 + axis]
        per_layer: dict[int, list[np.ndarray]] = {i: [] for i, m in found.items() if m is not None}
        for begin in range(0, n, chunk):
            rows = range(begin, min(begin + chunk, n))
            tangents = torch.zeros((len(rows), *shape), dtype=torch.float32)
            for b, r in enumerate(rows):
                index = [b, slice(None), slice(None)] + [slice(None)] * (len(shape) - 2)
                index[3 + axis] = r
                tangents[tuple(index)] = 1.0
            _, moved = torch.func.vmap(lambda t: torch.func.jvp(outputs, (zero,), (t,)))(tangents)
            for i in per_layer:
                t = moved[i].abs()
                t = t.movedim(3 + axis, 1).reshape(len(rows), t.shape[3 + axis], -1)
                per_layer[i].append((t > 0).any(dim=2).numpy())
        for i, blocks in per_layer.items():
            found[i].append(np.concatenate(blocks, axis=0).T)  # type: ignore[union-attr]
    return found


def spans(matrix: Matrix) -> list[tuple[int, int] | None]:
    """Per output row: the first and last source row it depends on."""
    result: list[tuple[int, int] | None] = []
    for row in matrix:
        hit = np.flatnonzero(row)
        result.append((int(hit[0]), int(hit[-1])) if hit.size else None)
    return result


def projective(matrix: Matrix) -> int:
    """The most output rows (last − first + 1) that one source row reaches."""
    widest = 0
    for column in matrix.T:
        hit = np.flatnonzero(column)
        if hit.size:
            widest = max(widest, int(hit[-1] - hit[0] + 1))
    return widest
