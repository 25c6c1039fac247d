"""The exact receptive field against two brute-force computations.

1. An independent per-dim dependency computation written here from the definitions
   (transposed layers in their scatter form), for every file in configs/ at its real size.
2. Perturbation with the numeric engine: non-negative weights, zero bias, an input of
   zeros with one row (or column) set to 1; every output row that changes depends on it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from convtool.graph import NumericStack, Propagation, footprints, load, loads, propagate

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


# -- 1. dependency matrices from the definitions ----------------------------------------------


def _per_dim(v: Any, dims: int) -> tuple[int, ...]:
    return (v,) * dims if isinstance(v, (int, float)) else tuple(v)


PAD_CLASSES = ("reflection_pad", "replication_pad", "zero_pad", "constant_pad", "circular_pad")


def _family(kind: str) -> str:
    """The 2-D spelling of a kind in any dims (conv1d -> conv2d), pad classes as `pad`."""
    if kind.startswith(PAD_CLASSES):
        return "pad"
    return re.sub(r"[13]d$", "2d", kind)


def layer_matrix(layer: Any, axis: int, previous: np.ndarray, skips: list[np.ndarray]) -> np.ndarray:
    """Boolean (output positions x network-input positions) dependence after this layer."""
    kind, a = _family(layer.type), layer.applied.args
    size_in = layer.input[2 + axis] if len(layer.input) > 2 else None
    size_out = layer.output[2 + axis] if len(layer.output) > 2 else None
    width = previous.shape[1]
    out = np.zeros((size_out or 0, width), dtype=bool)
    if kind in ("conv2d", "max_pool2d", "avg_pool2d"):
        if kind == "conv2d":
            p = layer.applied.conv
            k, s, d, pad = p.kernel_size[axis], p.stride[axis], p.dilation[axis], p.padding_pairs[axis][0]
            mode = p.padding_mode
        else:
            dims = len(layer.input) - 2
            k, s, pad = (_per_dim(a[key], dims)[axis] for key in ("kernel_size", "stride", "padding"))
            d, mode = _per_dim(a.get("dilation", 1), dims)[axis], "zeros"
        for o in range(size_out):
            for t in range(k):
                i = o * s - pad + t * d
                if not 0 <= i < size_in and mode != "zeros":  # the padded edge reads the input again
                    i = (0 if i < 0 else size_in - 1) if mode == "replicate" else i % size_in if mode == "circular" \
                        else (abs(i) if i < 0 else 2 * (size_in - 1) - i)
                if 0 <= i < size_in:
                    out[o] |= previous[i]
        return out
    if kind == "max_unpool2d":  # each input's value lands somewhere in its window (the data decides where)
        dims = len(layer.input) - 2
        k, s, pad = (_per_dim(a[key], dims)[axis] for key in ("kernel_size", "stride", "padding"))
        for i in range(size_in):
            for t in range(k):
                if 0 <= i * s - pad + t < size_out:
                    out[i * s - pad + t] |= previous[i]
        return out
    if kind == "conv_transpose2d":
        p = layer.applied.conv
        k, s, d, pad = p.kernel_size[axis], p.stride[axis], p.dilation[axis], p.padding[axis]
        for i in range(size_in):  # scatter: input i writes o = i*s - p + t*d
            for t in range(k):
                o = i * s - pad + t * d
                if 0 <= o < size_out:
                    out[o] |= previous[i]
        return out
    if kind == "upsample":
        scale = size_out / size_in
        assert a["mode"] in ("nearest", "nearest-exact", "linear", "bilinear", "trilinear") and not a.get("align_corners")
        for o in range(size_out):
            if a["mode"] == "nearest":
                out[o] = previous[min(math.floor(o / scale), size_in - 1)]
            elif a["mode"] == "nearest-exact":
                out[o] = previous[min(math.floor((o + 0.5) / scale), size_in - 1)]
            else:
                src = max((o + 0.5) / scale - 0.5, 0.0)
                i0 = min(int(src), size_in - 1)
                out[o] = previous[i0]
                if src > i0 and i0 + 1 < size_in:
                    out[o] |= previous[i0 + 1]
        return out
    if kind == "adaptive_avg_pool2d":  # output o averages inputs floor(o * in / out) .. ceil((o + 1) * in / out) - 1
        for o in range(size_out):
            out[o] = previous[o * size_in // size_out : -(-(o + 1) * size_in // size_out)].any(axis=0)
        return out
    if kind == "attention":  # each query position reads every key and value position
        return previous | np.logical_or.reduce([other.any(axis=0) for other in skips])
    if kind == "pixel_shuffle":  # output o of each spatial dim comes from input o // r (in some channel)
        return previous[np.arange(size_out) // a["upscale_factor"]]
    if kind in ("pad", "crop"):  # a shift by the amount before (and, padding, edges reflected or repeated)
        flat = a["padding"] if kind == "pad" else a["cropping"]
        before = flat[2 * (len(layer.input) - 3 - axis)]
        mode = a.get("mode", "constant")
        for o in range(size_out):
            j = o - before if kind == "pad" else o + before
            if not 0 <= j < size_in:
                if mode in ("constant", "zeros"):
                    continue
                j = (0 if j < 0 else size_in - 1) if mode == "replicate" else j % size_in if mode == "circular" \
                    else (abs(j) if j < 0 else 2 * (size_in - 1) - j)
            out[o] = previous[j]
        return out
    if kind in ("concat", "add", "mul"):
        out = previous.copy()
        for other, offsets in zip(skips, layer.applied.crops):
            out |= other[offsets[axis] : offsets[axis] + size_out]
        return out
    # per-map statistics; an instance norm that tracks running stats uses those in eval mode instead
    if kind == "group_norm" or (kind == "instance_norm2d" and not layer.applied.args["track_running_stats"]):
        return np.repeat(previous.any(axis=0, keepdims=True), size_out, axis=0)
    assert layer.input == layer.output or kind in ("dropout",), kind  # elementwise
    return previous


def brute_fields(prop: Propagation) -> list[tuple[int, ...] | None]:
    if len(prop.input) < 3:
        return [None] * len(prop.layers)
    current = [np.eye(n, dtype=bool) for n in prop.input[2:]]
    saved: dict[int, list[np.ndarray]] = {-1: current}
    fields: list[tuple[int, ...] | None] = []
    for layer in prop.layers:
        reads = current if layer.source is None else saved[layer.source]
        # pad, crop, max_unpool and like: read other tensors' sizes (and indices) only
        skips = layer.skips if layer.type in ("concat", "add", "mul") else []
        current = [
            layer_matrix(layer, axis, reads[axis], [saved[i][axis] for i in skips])
            for axis in range(len(current))
        ]
        saved[layer.index] = current
        fields.append(tuple(_widest(m) for m in current))
    return fields


def _widest(matrix: np.ndarray) -> int:
    widths = [np.flatnonzero(row)[-1] - np.flatnonzero(row)[0] + 1 for row in matrix if row.any()]
    return int(max(widths, default=0))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_receptive_fields_match_brute_force(path: Path) -> None:
    arch = load(path)
    if path.stem == "mismatch_unet":
        arch = loads(path.read_text().replace("[1, 3, 74, 74]", "[1, 3, 76, 76]"))
    prop = propagate(arch)
    assert [r.receptive_field for r in prop.layers] == brute_fields(prop)


def test_unet_original_field() -> None:
    prop = propagate(load(ROOT / "configs" / "unet_original.yaml"))
    assert prop.layers[-1].receptive_field == (204, 204)


def test_vae_decoder_has_no_spatial_input() -> None:
    prop = propagate(load(ROOT / "configs" / "vae_decoder.yaml"))
    assert all(r.receptive_field is None for r in prop.layers)


# -- 2. perturbation with the numeric engine ----------------------------------------------------


def perturbation(prop: Propagation) -> list[list[list[tuple[int, int] | None]] | None]:
    """Per layer and dim, per output position: (first, last) input index that changes it
    (None for a layer whose output is not spatial)."""
    stack = NumericStack(prop, seed=1, dtype="float64")
    for weights in stack.weights:
        for name, w in weights.items():
            if name == "weight":
                w[...] = np.abs(w) + 0.1
            elif name in ("bias", "running_mean"):
                w[...] = 0
    base = stack.run(np.zeros(prop.input), keep_all=True)
    spatial = [len(r.output) == len(prop.input) for r in prop.layers]
    result: list[list[list[tuple[int, int] | None]] | None] = [[] if s else None for s in spatial]
    for axis in range(len(prop.input) - 2):
        spans = [[[] for _ in range(r.output[2 + axis])] if s else [] for r, s in zip(prop.layers, spatial)]
        for r in range(prop.input[2 + axis]):
            x = np.zeros(prop.input)
            index = [slice(None)] * len(prop.input)
            index[2 + axis] = r
            x[tuple(index)] = 1.0
            for layer, (out, ref) in enumerate(zip(stack.run(x, keep_all=True), base)):
                if not spatial[layer]:
                    continue
                changed = np.moveaxis(out != ref, 2 + axis, 0).reshape(out.shape[2 + axis], -1).any(axis=1)
                for o in np.flatnonzero(changed):
                    spans[layer][o].append(r)
        for layer, columns in enumerate(result):
            if columns is not None:
                columns.append([(min(s), max(s)) if s else None for s in spans[layer]])
    return result


STACKS = {
    "two-k3-s2-upsamplers": ("[1, 2, 5, 6]", [
        "{type: conv_transpose2d, out_channels: 2, kernel_size: 3, stride: 2}",
        "{type: conv_transpose2d, out_channels: 2, kernel_size: 3, stride: 2}",
    ]),
    "conv-then-transpose": ("[1, 2, 9, 8]", [
        "{type: conv2d, out_channels: 3, kernel_size: 3, stride: 2, padding: 1}",
        "{type: relu}",
        "{type: conv_transpose2d, out_channels: 2, kernel_size: 3, stride: 2, padding: 1, output_padding: 1}",
    ]),
    "dilated-gaps": ("[1, 1, 7, 7]", [
        "{type: conv_transpose2d, out_channels: 1, kernel_size: 2, stride: 3, dilation: 2}",
        "{type: conv2d, out_channels: 1, kernel_size: 2, dilation: 3, padding: 2}",
    ]),
    "padding-modes": ("[1, 1, 6, 5]", [
        "{type: conv2d, out_channels: 1, kernel_size: 3, padding: 1, padding_mode: reflect}",
        "{type: conv2d, out_channels: 1, kernel_size: 3, padding: 2, padding_mode: circular}",
        "{type: conv2d, out_channels: 1, kernel_size: 3, padding: [1, 2], padding_mode: replicate}",
        "{type: conv2d, out_channels: 1, kernel_size: 4, padding: same}",
    ]),
    "pools": ("[1, 2, 11, 10]", [
        "{type: max_pool2d, kernel_size: 3, stride: 2, padding: 1, ceil_mode: true}",
        "{type: avg_pool2d, kernel_size: 2, ceil_mode: true, count_include_pad: false}",
        "{type: max_pool2d, kernel_size: 2, stride: 1, dilation: 2}",
    ]),
    "upsampling": ("[1, 1, 5, 3]", [
        "{type: upsample, scale_factor: 2}",
        "{type: upsample, scale_factor: 2, mode: bilinear}",
        "{type: upsample, size: [27, 17], mode: bilinear}",
        "{type: upsample, size: [13, 7]}",
        "{type: upsample, scale_factor: 1.5, mode: bilinear, align_corners: true}",
    ]),
    "pixel-shuffle-adaptive": ("[1, 4, 6, 6]", [
        "{type: pixel_shuffle, upscale_factor: 2}",
        "{type: pixel_unshuffle, downscale_factor: 3}",
        "{type: adaptive_avg_pool2d, output_size: [3, 5]}",
    ]),
    "skips": ("[1, 1, 12, 12]", [
        "{name: a, type: conv2d, out_channels: 1, kernel_size: 3}",
        "{type: max_pool2d, kernel_size: 2}",
        "{type: conv_transpose2d, out_channels: 1, kernel_size: 2, stride: 2}",
        "{name: b, type: concat, with: a, crop: center}",
        "{type: conv2d, out_channels: 2, kernel_size: 3, padding: 1}",
        "{type: add, with: b}",
    ]),
    "norms": ("[1, 4, 6, 5]", [
        "{type: batch_norm2d}",
        "{type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}",
        "{type: leaky_relu, negative_slope: 0.2}",
        "{type: group_norm, num_groups: 2}",
        "{type: instance_norm2d}",
        "{type: tanh}",
    ]),
    "flatten-linear-unflatten": ("[1, 2, 4, 4]", [
        "{type: max_pool2d, kernel_size: 2}",
        "{type: flatten}",
        "{type: linear, out_features: 18}",
        "{type: unflatten, shape: [2, 3, 3]}",
        "{type: conv2d, out_channels: 1, kernel_size: 2}",
    ]),
}


def _needs_numeric(layers: list[str]) -> bool:
    return any("conv" in layer for layer in layers)


@pytest.mark.parametrize("shape, layers", list(STACKS.values()), ids=list(STACKS))
def test_footprints_match_perturbation(shape: str, layers: list[str]) -> None:
    if _needs_numeric(layers):
        pytest.importorskip("convtool.numeric")
    arch = loads(f"input: {shape}\nlayers:\n" + "".join(f"  - {layer}\n" for layer in layers))
    prop = propagate(arch)
    measured = perturbation(prop)
    for layer, fp, brute in zip(prop.layers, footprints(prop), measured):
        if brute is None:  # not spatial (flatten, linear): no receptive field
            assert fp.dims is None and layer.receptive_field is None
            continue
        assert fp.dims is not None and [list(d) for d in fp.dims] == brute, (layer.index, layer.type)
        widest = tuple(max((hi - lo + 1 for lo, hi in filter(None, d)), default=0) for d in brute)
        assert layer.receptive_field == widest


def test_two_k3_s2_upsamplers_give_a_field_of_two() -> None:
    """The textbook additive formula would say 3 after the second layer."""
    arch = loads(
        "input: [1, 1, 6, 6]\nlayers:\n"
        + "  - {type: conv_transpose2d, out_channels: 1, kernel_size: 3, stride: 2}\n" * 2
    )
    assert [r.receptive_field for r in propagate(arch).layers] == [(2, 2), (2, 2)]


def test_absurd_sizes_skip_the_receptive_field() -> None:
    """Footprints cost positions x taps; beyond 2^20 positions per dim they are not computed."""
    arch = loads(
        "input: [1, 1, 8, 8]\nlayers:\n  - {type: relu}\n  - {type: upsample, scale_factor: 300000}\n  - {type: relu}\n"
    )
    prop = propagate(arch)
    assert [r.receptive_field for r in prop.layers] == [(1, 1), None, None]
    assert prop.output == (1, 1, 2_400_000, 2_400_000)


@pytest.mark.parametrize("name", ["autoencoder_28", "dcgan_generator"])
def test_config_footprints_match_perturbation(name: str) -> None:
    pytest.importorskip("convtool.numeric")
    prop = propagate(load(ROOT / "configs" / f"{name}.yaml"))
    for layer, fp, brute in zip(prop.layers, footprints(prop), perturbation(prop)):
        assert fp.dims is not None and [list(d) for d in fp.dims] == brute, (layer.index, layer.type)


GRAPH = """
input: [1, 2, 21, 19]
layers:
  - {name: a, type: conv2d, out_channels: 3, kernel_size: 3, stride: 2}
  - {type: pad, padding: [2, 1, 3, 0], mode: MODE}
  - {name: b, type: conv_transpose2d, out_channels: 3, kernel_size: 3, stride: 2, padding: 1}
  - {type: crop, cropping: [1, 0, 2, 1]}
  - {name: c, type: conv2d, out_channels: 3, kernel_size: 1, from: a}
  - {type: pad, to: b}
  - {type: add, inputs: [b, .]}
  - {type: mul, inputs: [c, .], crop: center}
"""


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_graph_receptive_fields_match_brute_force(mode: str) -> None:
    prop = propagate(loads(GRAPH.replace("MODE", mode)))
    assert [r.receptive_field for r in prop.layers] == brute_fields(prop)
