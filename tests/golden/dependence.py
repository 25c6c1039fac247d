"""Which positions of each layer's output depend on which positions of one tensor, per spatial
dim, measured with PyTorch's forward-mode derivatives (torch.func.jvp, one tangent per source
row, batched with vmap) through a one-channel copy of the network made of torch's own ops.

Channels do not move positions: every convolution becomes one of equal positive weights
averaging its input channels (values stay near 1, where no activation saturates); a max pool counts its whole window (a window sum over the same padded windows,
its output size checked against F.max_pool2d's); the rest are the functional ops themselves
(pads, interpolate, pixel shuffle, norms, activations at a positive input, so that none
of their derivatives is zero). Derivatives are measured with respect to the network input or to
the output of any layer (a tangent added to it), so the same measure serves receptive fields,
grids and projective fields. Needs torch; `make_golden_grids.py` stores the results for the
suite, and the tests call `measure` live where it is fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from convtool.graph import Propagation

Matrix = np.ndarray  # bool, (output positions, source positions) along one dim


def _pair(v: Any) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)  # type: ignore[return-value]


def _sides(flat: tuple[int, ...], dims: int) -> list[tuple[int, int]]:
    pairs = [(flat[2 * i], flat[2 * i + 1]) for i in range(len(flat) // 2)][::-1]
    return [(0, 0)] * (dims - len(pairs)) + pairs


def _window_sum(x: torch.Tensor, k: tuple[int, int], s: tuple[int, int], p: tuple[int, int],
                d: tuple[int, int], out: tuple[int, ...]) -> torch.Tensor:
    """Every window of a max pool summed (zeros beyond the input): the whole window counts."""
    right = [max(0, (o - 1) * ss + dd * (kk - 1) + 1 - pp - n)
             for o, ss, dd, kk, pp, n in zip(out, s, d, k, p, x.shape[2:])]
    xp = F.pad(x, (p[1], right[1], p[0], right[0]))
    ones = torch.full((x.shape[1], 1, *k), 1 / (k[0] * k[1]), dtype=x.dtype)
    return F.conv2d(xp, ones, stride=s, dilation=d, groups=x.shape[1])[..., : out[0], : out[1]]


def _layer(layer: Any, x: torch.Tensor, skips: list[torch.Tensor], plain: bool) -> torch.Tensor:
    """One layer of the one-channel network; `plain`: max pools as torch computes them (for sizes)."""
    kind, a = layer.type, layer.applied.args
    if kind in ("conv2d", "conv_transpose2d"):
        p = layer.applied.conv
        if p.transposed:
            overlap = p.kernel_size[0] * p.kernel_size[1] / (p.stride[0] * p.stride[1])  # taps per output
            ones = torch.full((x.shape[1], 1, *p.kernel_size), 1 / (x.shape[1] * overlap), dtype=x.dtype)
            return F.conv_transpose2d(x, ones, stride=p.stride, padding=p.padding,
                                      output_padding=p.output_padding, dilation=p.dilation)
        (top, bottom), (left, right) = p.padding_pairs
        mode = {"zeros": "constant"}.get(p.padding_mode, p.padding_mode)
        xp = F.pad(x, (left, right, top, bottom), mode=mode)
        ones = torch.full((1, x.shape[1], *p.kernel_size), 1 / (x.shape[1] * p.kernel_size[0] * p.kernel_size[1]),
                          dtype=x.dtype)
        return F.conv2d(xp, ones, stride=p.stride, dilation=p.dilation)
    if kind == "max_pool2d":
        k, s, p, d = (_pair(a[key]) for key in ("kernel_size", "stride", "padding", "dilation"))
        if plain:
            return F.max_pool2d(x, k, s, p, d, ceil_mode=a["ceil_mode"])
        return _window_sum(x, k, s, p, d, layer.output[2:])
    if kind == "avg_pool2d":
        return F.avg_pool2d(x, a["kernel_size"], a["stride"], a["padding"], a["ceil_mode"],
                            a["count_include_pad"], a["divisor_override"])
    if kind == "adaptive_avg_pool2d":
        return F.adaptive_avg_pool2d(x, layer.output[2:])
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
    if kind == "pad":
        mode = a["mode"]
        return F.pad(x, a["padding"], mode=mode, value=a["value"] if mode == "constant" else None)
    if kind == "crop":
        sides = _sides(a["cropping"], x.dim() - 2)
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
        total = parts[0].sum(1, keepdim=True)
        for part in parts[1:]:
            total = total + part.sum(1, keepdim=True) if kind == "add" else total * part.sum(1, keepdim=True)
        return total
    if kind == "batch_norm2d":
        zero, one = torch.zeros(x.shape[1], dtype=x.dtype), torch.ones(x.shape[1], dtype=x.dtype)
        return F.batch_norm(x, zero, one, training=False)
    if kind == "instance_norm2d":
        return F.instance_norm(x) if not a["track_running_stats"] else x
    if kind == "group_norm":
        return F.group_norm(x, 1)
    if kind in ("relu", "silu", "sigmoid", "tanh"):
        return getattr(torch, kind)(x) if kind in ("sigmoid", "tanh") else getattr(F, kind)(x)
    if kind == "leaky_relu":
        return F.leaky_relu(x, a["negative_slope"])
    if kind == "gelu":
        return F.gelu(x, approximate=a["approximate"])
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


def run(prop: Propagation, source: int, delta: torch.Tensor, primal: torch.Tensor, plain: bool = False
        ) -> list[torch.Tensor]:
    """Every layer's output of the one-channel network; `delta` is added to tensor `source`
    (a layer index, -1: the network input)."""
    x = primal + delta if source == -1 else primal
    outs: dict[int, torch.Tensor] = {-1: x}
    previous = x
    for layer in prop.layers:
        current = previous if layer.source is None else outs[layer.source]
        skips = [] if layer.type in ("pad", "crop") else [outs[i] for i in layer.skips]
        y = _layer(layer, current, skips, plain)
        if layer.index == source:
            y = y + delta
        outs[layer.index] = previous = y
    return [outs[layer.index] for layer in prop.layers]


def _start(prop: Propagation) -> torch.Tensor:
    """A positive network input (one channel), fixed by a seed."""
    shape = (1, 1, *prop.input[2:]) if len(prop.input) > 2 else (1, prop.input[-1])
    return torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float32) + 0.5


def levels(prop: Propagation) -> dict[int, list[list[float]] | None]:
    """Per layer index and spatial dim, per output row: its value with an input of ones (every
    weight averages, so a row that reads zero padding anywhere comes out below the others of
    its phase), the least over channels of the most over the other dims."""
    with torch.no_grad():
        outs = run(prop, -1, torch.zeros(()), torch.ones_like(_start(prop)))
    found: dict[int, list[list[float]] | None] = {}
    for layer, y in zip(prop.layers, outs):
        if y.dim() < 3:
            found[layer.index] = None
            continue
        found[layer.index] = [
            y[0].movedim(1 + axis, 1).reshape(y.shape[1], y.shape[2 + axis], -1).amax(dim=2).amin(dim=0).tolist()
            for axis in range(y.dim() - 2)
        ]
    return found


def measure(prop: Propagation, source: int = -1, chunk: int = 8, axes: Sequence[int] | None = None
            ) -> dict[int, list[Matrix] | None]:
    """Per layer index: per spatial dim, which output rows depend on which rows of `source`
    (None for a layer whose output is not spatial, or has another rank than the source); only
    the dims `axes` (default all) are measured, the others are left None."""
    primal = _start(prop)
    with torch.no_grad():
        plain = run(prop, -1, torch.zeros(()), primal, plain=True)
        for layer, y in zip(prop.layers, plain):
            assert tuple(y.shape[2:]) == tuple(layer.output[2:]), (layer.index, layer.type, tuple(y.shape))
    shape = tuple(primal.shape) if source == -1 else tuple(plain[source].shape)
    found: dict[int, list[Matrix] | None] = {
        layer.index: [] if len(layer.output) == len(shape) > 2 else None for layer in prop.layers
    }
    if len(shape) < 3:
        return found

    def outputs(delta: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(run(prop, source, delta, primal))

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
