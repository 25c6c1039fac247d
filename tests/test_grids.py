"""Grids (where each position of a tensor sits in the network input) and merges whose inputs sit
at different places, against PyTorch.

The check of the algebra: for interior positions (whose receptive field reaches no edge of the
input, and that read no padding of any kind along the dim on their way: marked by a run that
propagates "reads padding" through the same ops), the receptive field measured in torch
(tests/golden/dependence.py: forward-mode derivatives, max pools by their whole window) starts
and ends, per phase of the grid's period, where the grid says, so its centre averaged over one
period is scale·i + offset averaged over the same positions. Files in configs/ are read from
golden files (make_golden_grids.py); generated chains and graphs are measured live.
"""

from __future__ import annotations

import gzip
import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support.generators import generator

from convtool.errors import ConvtoolError
from convtool.footprint import Axis, misalignments
from convtool.graph import Propagation, load, loads, propagate

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
CONFIGS = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml") if (GOLDEN / f"grids_{p.stem}.json.gz").exists())


def chain(size: int | str, *layers: str) -> Propagation:
    shape = f"[1, 1, {size}, {size}]" if isinstance(size, int) else size
    return propagate(loads(f"input: {shape}\nlayers:\n" + "".join(f"  - {layer}\n" for layer in layers)))


def grid_of(prop: Propagation, index: int = -1) -> list[dict[str, str] | None] | None:
    return prop.layers[index].to_dict()["grid"]


# -- the rules, layer by layer ---------------------------------------------------------------

CONV_S2 = "{type: conv2d, out_channels: 1, kernel_size: 3, stride: 2, padding: 1}"

GRIDS = {
    "input-kept-by-relu": ((12, "{type: relu}"), ("1", "0")),
    "conv-k3-s2-p1": ((12, CONV_S2), ("2", "0")),
    "conv-k4-s2-p1": ((12, "{type: conv2d, out_channels: 1, kernel_size: 4, stride: 2, padding: 1}"), ("2", "1/2")),
    "conv-dilated": ((12, "{type: conv2d, out_channels: 1, kernel_size: 3, dilation: 2}"), ("1", "2")),
    "conv-same-even": ((12, "{type: conv2d, out_channels: 1, kernel_size: 4, padding: same}"), ("1", "1/2")),
    "then-transposed-k3-op1": ((12, CONV_S2, "{type: conv_transpose2d, out_channels: 1, kernel_size: 3, stride: 2, "
                                "padding: 1, output_padding: 1}"), ("1", "0")),
    "then-transposed-k4-half-off": ((12, CONV_S2, "{type: conv_transpose2d, out_channels: 1, kernel_size: 4, "
                                     "stride: 2, padding: 1}"), ("1", "-1/2")),
    "pool-then-transposed-k2": ((12, "{type: max_pool2d, kernel_size: 2}",
                                 "{type: conv_transpose2d, out_channels: 1, kernel_size: 2, stride: 2}"), ("1", "0")),
    "transposed-k4-s2-p1": ((6, "{type: conv_transpose2d, out_channels: 1, kernel_size: 4, stride: 2, padding: 1}"),
                            ("1/2", "-1/4")),
    "avg-pool-k3-s2-p1": ((12, "{type: avg_pool2d, kernel_size: 3, stride: 2, padding: 1}"), ("2", "0")),
    "nearest-x2": ((6, "{type: upsample, scale_factor: 2}"), ("1/2", "-1/4")),
    "bilinear-x2": ((6, "{type: upsample, scale_factor: 2, mode: bilinear}"), ("1/2", "-1/4")),
    "bilinear-x4": ((6, "{type: upsample, scale_factor: 4, mode: bilinear}"), ("1/4", "-3/8")),
    "bilinear-half": ((8, "{type: upsample, scale_factor: 0.5, mode: bilinear}"), ("2", "1/2")),
    "nearest-half-takes-the-first": ((8, "{type: upsample, scale_factor: 0.5}"), ("2", "0")),
    "nearest-6-to-17": ((6, "{type: upsample, size: [17, 17]}"), ("6/17", "-8/17")),  # floor(6o/17)
    "align-corners-pins-the-ends": ((5, "{type: upsample, size: [9, 9], mode: bilinear, align_corners: true}"),
                                    ("1/2", "0")),
    "nearest-x2-then-every-other": ((8, "{type: upsample, scale_factor: 2}",
                                     "{type: conv2d, out_channels: 1, kernel_size: 1, stride: 2}"), ("1", "0")),
    "nearest-x2-then-k3-s2": ((8, "{type: upsample, scale_factor: 2}", CONV_S2), ("1", "-1/2")),
    "pixel-shuffle": (("[1, 4, 6, 6]", "{type: pixel_shuffle, upscale_factor: 2}"), ("1/2", "-1/4")),
    "pixel-unshuffle": ((6, "{type: pixel_unshuffle, downscale_factor: 2}"), ("2", "1/2")),
    "pad-shifts": ((6, "{type: pad, padding: [2, 0, 1, 0]}"), [("1", "-1"), ("1", "-2")]),  # F.pad: W first
    "crop-shifts": ((6, "{type: crop, cropping: [0, 0, 2, 1]}"), [("1", "2"), ("1", "0")]),
    "norm-keeps": ((6, "{type: group_norm, num_groups: 1}"), ("1", "0")),
    "adaptive-dividing": ((8, "{type: adaptive_avg_pool2d, output_size: 4}"), ("2", "1/2")),
    "slice-along-h": ((16, "{type: slice, dim: 2, start: 2, step: 2}"), [("2", "2"), ("1", "0")]),
    "slice-of-channels": (("[1, 4, 6, 6]", "{type: slice, end: 2}"), ("1", "0")),
    "softmax-keeps": ((6, "{type: softmax, dim: 3}"), ("1", "0")),
    "lstm-keeps-time": (("[1, 4, 10]", "{type: lstm, hidden_size: 3}"), [("1", "0")]),
    "attention-takes-q": ((6, "{name: q, type: conv2d, out_channels: 1, kernel_size: 3, stride: 2, padding: 1}",
                           "{type: attention, inputs: [q, input, input]}"), ("2", "0")),
}


@pytest.mark.parametrize("layers, expected", list(GRIDS.values()), ids=list(GRIDS))
def test_grid(layers: tuple[Any, ...], expected: tuple[str, str] | list[tuple[str, str]]) -> None:
    per_dim = expected if isinstance(expected, list) else [expected] * 2
    assert grid_of(chain(*layers)) == [{"scale": scale, "offset": offset} for scale, offset in per_dim]


NO_GRID = {
    "adaptive-not-dividing": (7, "{type: adaptive_avg_pool2d, output_size: 3}"),
    "flatten": (4, "{type: flatten}"),
    "linear-after-flatten": (4, "{type: flatten}", "{type: linear, out_features: 3}"),
    "unflatten": ("[1, 16]", "{type: unflatten, shape: [1, 4, 4]}"),
    "scale-1.1": (10, "{type: upsample, scale_factor: 1.1}"),  # 1 / float(1.1): a pattern too long to repeat
}


@pytest.mark.parametrize("layers", list(NO_GRID.values()), ids=list(NO_GRID))
def test_no_grid(layers: tuple[Any, ...]) -> None:
    grid = grid_of(chain(*layers))
    assert grid is None or grid == [None, None]


def test_grid_per_dim() -> None:
    prop = chain(8, "{type: conv2d, out_channels: 1, kernel_size: [3, 2], stride: [2, 1]}")
    assert grid_of(prop) == [{"scale": "2", "offset": "1"}, {"scale": "1", "offset": "1/2"}]


# -- merges ---------------------------------------------------------------------------------


def misaligned(grids: Any, labels: list[str]) -> list[str]:
    return [m.sentence() for m in misalignments(grids, labels)]


def test_merge_wording() -> None:
    half = (Axis(Fraction(1), (Fraction(1, 2),), (Fraction(1, 2),)),) * 2
    same = (Axis.identity(),) * 2
    assert misaligned([same, half], ["up3", "enc3"]) == [
        "enc3 is offset by +1/2 input pixel against up3: the merge mixes features from different places"]
    other = (Axis.identity(), Axis(Fraction(1), (Fraction(-3, 2),), (Fraction(-3, 2),)))
    assert misaligned([same, other], ["a", "b"]) == [
        "b is offset by -3/2 input pixels in W against a: the merge mixes features from different places"]
    coarse = (Axis(Fraction(2), (Fraction(0),), (Fraction(0),)),) * 2
    assert "steps a different number of input pixels per position (2 against 1 in H, 2 against 1 in W)" in \
        misaligned([same, coarse], ["a", "b"])[0]
    assert misaligned([same, same], ["a", "b"]) == []


UNET = """
input: [1, 1, 32, 32]
layers:
  - {name: enc, type: conv2d, out_channels: 2, kernel_size: 3, padding: 1}
  - {type: DOWN}
  - {name: up, type: UP}
  - {type: concat, inputs: [up, enc]}
"""
MERGES = {
    "conv-k3-s2-p1-transposed-k3-op1": (CONV_S2.replace("{type: ", "").rstrip("}"),
                                        "conv_transpose2d, out_channels: 1, kernel_size: 3, stride: 2, padding: 1, "
                                        "output_padding: 1", None),
    "pool-k2-transposed-k2": ("max_pool2d, kernel_size: 2", "conv_transpose2d, out_channels: 1, kernel_size: 2, "
                              "stride: 2", None),
    "conv-k3-s2-p1-transposed-k4": (CONV_S2.replace("{type: ", "").rstrip("}"),
                                    "conv_transpose2d, out_channels: 1, kernel_size: 4, stride: 2, padding: 1",
                                    "enc is offset by +1/2 input pixel against up"),
}


@pytest.mark.parametrize("down, up, note", list(MERGES.values()), ids=list(MERGES))
def test_merge_notes(down: str, up: str, note: str | None) -> None:
    prop = propagate(loads(UNET.replace("DOWN", down).replace("UP", up)))
    notes = [n for n in prop.layers[-1].notes if "merge mixes" in n]
    assert notes == ([f"{note}: the merge mixes features from different places"] if note else [])


def test_a_broadcast_gate_places_nothing() -> None:
    """A squeeze-and-excitation gate (1x1, broadcast) neither moves the gated tensor's grid nor is
    compared with it."""
    prop = propagate(loads(
        "input: [1, 4, 16, 16]\nlayers:\n  - {name: a, type: conv2d, out_channels: 4, kernel_size: 4, padding: 1}\n"
        "  - {type: adaptive_avg_pool2d, output_size: 1}\n  - {type: sigmoid}\n  - {type: mul, inputs: [a, .]}\n"))
    assert grid_of(prop) == grid_of(prop, 0) == [{"scale": "1", "offset": "1/2"}] * 2
    assert prop.layers[-1].notes == ()


def test_center_crop_lines_up_the_original_unet() -> None:
    prop = propagate(load(ROOT / "configs" / "unet_original.yaml"))
    merges = [r for r in prop.layers if r.type == "concat"]
    assert merges and not any("merge mixes" in n for r in merges for n in r.notes)
    assert [g["scale"] for g in grid_of(prop, merges[0].index)] == ["8", "8"]


def test_json_grid_key() -> None:
    from click.testing import CliRunner

    from convtool.cli import main

    result = CliRunner().invoke(main, ["run", str(ROOT / "configs" / "autoencoder_28.yaml"), "--json"])
    layers = json.loads(result.output)["layers"]
    assert layers[0]["grid"] == [{"scale": "2", "offset": "0"}] * 2
    assert layers[-1]["grid"] == [{"scale": "1", "offset": "0"}] * 2


# -- the check against torch -----------------------------------------------------------------


Dim = tuple[list[int], list[int], list[int]]  # per position: first, last (-1: none), border


def interior_centres(dim: Dim, axis: Axis, size: int) -> dict[int, set[Fraction]] | None:
    """Per phase of the grid's period: the centres of the measured receptive fields of its
    interior positions, less scale·o; None when some phase has no interior position."""
    first, last, border = dim
    period = axis.period
    found: dict[int, set[Fraction]] = {}
    for o, (a, b) in enumerate(zip(first, last)):
        if a <= 0 or b >= size - 1 or border[o]:
            continue
        found.setdefault(o % period, set()).add(Fraction(a + b, 2) - axis.scale * o)
    return found if len(found) == period else None


def check_axis(dim: Dim, axis: Axis, size: int) -> bool:
    """The grid against one measured dim: True when it agrees on at least one whole period of
    interior positions, False when there is none; an assertion fails where it disagrees."""
    measured = interior_centres(dim, axis, size)
    if measured is None:
        return False
    expected = {r: (a + b) / 2 for r, (a, b) in enumerate(zip(axis.first, axis.last)) if a is not None and b is not None}
    assert {r: set(v) for r, v in measured.items()} == {r: {c} for r, c in expected.items()}
    mean = sum(expected.values(), Fraction(0)) / len(expected)
    assert mean == axis.offset
    return True


def check_grids(prop: Propagation, measured: dict[int, Any]) -> int:
    """Every layer's grid against the measured receptive fields; how many dims were checked.
    A layer without a grid in a dim must be one that no affine map describes."""
    checked = 0
    for layer in prop.layers:
        dims = measured[layer.index]
        if dims is None or layer.grid is None:
            assert layer.grid is None or len(prop.input) < 3 or dims is not None
            continue
        for ax, dim in enumerate(dims):
            axis = layer.grid[ax]
            if axis is None:
                continue
            checked += check_axis(dim, axis, prop.input[2 + ax])
    return checked


def check_merges(prop: Propagation, measured: dict[int, Any]) -> int:
    """Each merge is flagged exactly where the measured centres of its inputs, lined up, differ
    on average over a period; how many merges had interior positions to check."""
    checked = 0
    for layer in prop.layers:
        if layer.type not in ("concat", "add", "mul"):
            continue
        sources = [layer.index - 1 if layer.source is None else layer.source, *layer.skips]
        offsets = [(0,) * (len(layer.output) - 2), *layer.applied.crops]
        shifts: set[Fraction] = set()
        for ax in range(len(layer.output) - 2):
            size, n = prop.input[2 + ax], layer.output[2 + ax]
            means = []
            for source, off in zip(sources, offsets):
                if source < 0:
                    axis: Axis | None = Axis.identity()
                    dim: Dim = (list(range(size)), list(range(size)), [0] * size)
                else:
                    grid, dims = prop.layers[source].grid, measured[source]
                    axis = grid[ax] if grid is not None else None
                    if dims is None:
                        break
                    dim = dims[ax]
                shifted = axis.shifted(-off[ax]) if axis is not None else None
                window = slice(off[ax], off[ax] + n)
                centres = None if shifted is None else interior_centres(
                    (dim[0][window], dim[1][window], dim[2][window]), shifted, size)
                if centres is None or any(len(v) != 1 for v in centres.values()):
                    break
                means.append(sum(next(iter(v)) for v in centres.values()) / len(centres))
            if len(means) < len(sources):
                break
            shifts |= {m - means[0] for m in means}
        else:
            flagged = any("merge mixes" in note for note in layer.notes)
            assert flagged == (shifts != {0}), (layer.path, shifts, layer.notes)
            checked += 1
    return checked


def golden(name: str) -> dict[str, Any]:
    return json.loads(gzip.decompress((GOLDEN / f"grids_{name}.json.gz").read_bytes()))


def golden_config(name: str) -> Propagation:
    """The file's network at the input its golden file was measured on (a file that does not
    line up at its own input was measured at one that does)."""
    arch = load(ROOT / "configs" / f"{name}.yaml")
    shape = tuple(golden(name)["input"])
    return propagate(arch) if arch.input == shape else propagate(arch, shape)


def _measured(doc: dict[str, Any], key: str) -> dict[int, Any]:
    return {i: None if layer[key] is None else [(d["first"], d["last"], d["border"]) for d in layer[key]]
            for i, layer in enumerate(doc["layers"])}


@pytest.mark.parametrize("name", CONFIGS)
def test_config_grids_match_torch(name: str) -> None:
    doc = golden(name)
    prop = golden_config(name)
    assert [r.path for r in prop.layers] == [layer["path"] for layer in doc["layers"]]
    measured = _measured(doc, "input")
    checked = check_grids(prop, measured)
    merges = check_merges(prop, measured)
    if len(prop.input) > 2 and min(prop.input[2:]) > 1:  # a latent of 1x1 or a vector has no interior
        assert checked >= 2  # (deep layers whose receptive field is the whole image have none either)
    assert merges >= MERGES_CHECKED.get(name, 0)


# merges with interior positions in every input (in pix2pix every decoder tensor reads the whole
# image; most of the LDM decoder's merges follow its attention, which reads every position)
MERGES_CHECKED = {"unet_original": 4, "unet_milesial": 4, "mismatch_unet": 2, "unet_padded": 4, "unet3d_cicek": 3,
                  "cyclegan_resnet_generator": 7, "deeplabv3plus_resnet50": 8, "edsr_baseline_x2": 10,
                  "fasterrcnn_resnet50_fpn_backbone": 10, "hifigan_generator_v1": 40, "melgan_generator": 12,
                  "vqvae2_decoder": 2, "yolov5s": 6, "ldm_kl_f4_decoder": 1}


# -- generated chains and graphs, live ----------------------------------------------------------

WINDOW = st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(1, 2))  # k, s, d


@st.composite
def layer_text(draw: Any) -> str:
    kind = draw(st.sampled_from(["conv", "transposed", "max", "avg", "up", "pad", "crop", "relu"]))
    k, s, d = draw(WINDOW)
    if kind == "conv":
        p = draw(st.integers(0, (d * (k - 1)) // 2 + 1))
        return f"{{type: conv2d, out_channels: 1, kernel_size: {k}, stride: {s}, padding: {p}, dilation: {d}}}"
    if kind == "transposed":
        p = draw(st.integers(0, d * (k - 1)))
        op = draw(st.integers(0, max(s, d) - 1))
        return (f"{{type: conv_transpose2d, out_channels: 1, kernel_size: {k}, stride: {s}, padding: {p}, "
                f"output_padding: {op}, dilation: {d}}}")
    if kind in ("max", "avg"):
        k = max(k, 2)
        p = draw(st.integers(0, k // 2))
        ceil = draw(st.booleans())
        return f"{{type: {kind}_pool2d, kernel_size: {k}, stride: {s}, padding: {p}, ceil_mode: {str(ceil).lower()}}}"
    if kind == "up":
        mode = draw(st.sampled_from(["nearest", "bilinear"]))
        factor = draw(st.sampled_from([2, 4, 0.5] if mode == "bilinear" else [2, 3, 0.5]))
        return f"{{type: upsample, scale_factor: {factor}, mode: {mode}}}"
    if kind in ("pad", "crop"):
        amounts = draw(st.lists(st.integers(0, 3), min_size=4, max_size=4))
        return f"{{type: {kind}, {'padding' if kind == 'pad' else 'cropping'}: {amounts}}}"
    return "{type: relu}"


@st.composite
def graph_text(draw: Any) -> str:
    """A chain, or a U-Net-like graph: a chain, then a merge of its end with an earlier tensor of
    the same size (center-cropped when larger)."""
    size = draw(st.integers(24, 40))
    layers = [f"{{name: t{i}, {text[1:]}" for i, text in enumerate(draw(st.lists(layer_text(), min_size=1, max_size=5)))]
    merge = draw(st.sampled_from([None, "concat", "add"]))
    body = "".join(f"  - {layer}\n" for layer in layers)
    if merge:
        other = draw(st.integers(-1, len(layers) - 2)) if len(layers) > 1 else -1
        name = "input" if other < 0 else f"t{other}"
        body += f"  - {{type: {merge}, inputs: [., {name}], crop: center}}\n"
    return f"input: [1, 1, {size}, {size}]\nlayers:\n{body}"


@st.composite
def unet_text(draw: Any) -> str:
    """A U-Net level: a stride-1 layer, a way down by 2, maybe a stride-1 layer, a way up by 2, and
    a merge of the way up with the tensor before the way down (the larger one center-cropped)."""
    size = draw(st.integers(28, 44))
    k = draw(st.integers(1, 5))
    enc = f"{{name: enc, type: conv2d, out_channels: 1, kernel_size: {k}, padding: {draw(st.integers(0, k // 2))}}}"
    kd = draw(st.integers(2, 4))
    down = draw(st.sampled_from([
        f"{{type: conv2d, out_channels: 1, kernel_size: {kd}, stride: 2, padding: {kd // 2 - 1 + (kd % 2)}}}",
        "{type: max_pool2d, kernel_size: 2}",
        f"{{type: avg_pool2d, kernel_size: 3, stride: 2, padding: {draw(st.integers(0, 1))}}}",
    ]))
    middle = draw(st.sampled_from(["", "{type: conv2d, out_channels: 1, kernel_size: 3, padding: 1}",
                                   "{type: conv2d, out_channels: 1, kernel_size: 3}"]))
    ku = draw(st.integers(2, 4))
    up = draw(st.sampled_from([
        f"{{type: conv_transpose2d, out_channels: 1, kernel_size: {ku}, stride: 2, padding: {draw(st.integers(0, 1))}, "
        f"output_padding: {draw(st.integers(0, 1))}}}",
        "{type: upsample, scale_factor: 2}",
        "{type: upsample, scale_factor: 2, mode: bilinear}",
    ]))
    order = draw(st.sampled_from(["[., enc]", "[enc, .]"]))
    merge = draw(st.sampled_from(["concat", "add"]))
    layers = [enc, down, middle, up, f"{{type: {merge}, inputs: {order}, crop: center}}"]
    return f"input: [1, 1, {size}, {size}]\nlayers:\n" + "".join(f"  - {layer}\n" for layer in layers if layer)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.one_of(graph_text(), unet_text()))
def test_generated_grids_match_torch(text: str) -> None:
    pytest.importorskip("torch")
    try:
        prop = propagate(loads(text))
    except ConvtoolError:  # does not line up, or a layer does not fit
        assume(False)
        raise
    measured = measure_live(prop, positions=True)
    checked = check_grids(prop, measured) + check_merges(prop, measured)
    assume(checked > 0)  # an example whose tensors have no interior positions checks nothing


def measure_live(prop: Propagation, source: int = -1, positions: bool = False) -> dict[int, Any]:
    """The measure of tests/golden/dependence.py, in the golden files' form (plus `projective`);
    `positions`: norms act per position, as the grids take them."""
    oracle = generator("dependence")
    spans, projective = oracle.spans, oracle.projective
    found = oracle.measure(prop, source, positions=positions)
    marks = oracle.borders(prop)
    result: dict[int, Any] = {}
    for index, mats in found.items():
        if mats is None:
            result[index] = None
            continue
        dims = []
        for m, border in zip(mats, marks[index] or []):
            pairs = spans(m)
            dims.append(([-1 if p is None else p[0] for p in pairs], [-1 if p is None else p[1] for p in pairs], border))
        result[index] = dims
        result[index, "projective"] = tuple(projective(m) for m in mats)
    return result


@pytest.mark.parametrize("name", ["segnet", "ldm_kl_f4_decoder", "vqvae2_decoder", "mismatch_unet"])
def test_golden_files_are_what_the_generator_makes(name: str) -> None:
    """The stored measurements are the generator's output today (the small files, live)."""
    assert generator("make_golden_grids").golden(name) == golden(name)
