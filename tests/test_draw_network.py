"""The network diagram: every tensor's shape is written on it, it renders, and it marks what
matters (checkerboard layers, misaligned merges, the tensors that do not line up)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from draw_pixels import SVG, ink, render

from convtool.draw.network import level_step, network
from convtool.graph import StackMismatch, load, loads, propagate
from convtool.text import fmt_size

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def tensors(svg: str) -> list[dict[str, list[str]]]:
    """Per tensor box: its texts by class (channels, spatial, name, op, mark)."""
    found = []
    for group in ET.fromstring(svg).iter(f"{SVG}g"):
        if "tensor" not in (group.get("class") or "").split():
            continue
        texts: dict[str, list[str]] = {"class": (group.get("class") or "").split()}
        for text in group.iter(f"{SVG}text"):
            texts.setdefault(text.get("class") or "", []).append("".join(text.itertext()))
        found.append(texts)
    return found


def _layers(path: Path):
    try:
        return propagate(load(path)).layers, None
    except StackMismatch as error:
        return error.layers, error


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_shape_is_labelled(path: Path) -> None:
    """Every layer's output has a box whose labels are its channels and its spatial size."""
    picture = network(load(path))
    layers, error = _layers(path)
    assert (picture.mismatch is None) == (error is None)
    boxes = tensors(picture.svg)
    labels = {(b["channels"][0], (b.get("spatial") or [""])[0]) for b in boxes if "failed" not in b["class"]}
    for layer in layers:
        shape = layer.output
        want = (str(shape[1]), fmt_size(shape[2:]) if len(shape) > 2 else "")
        assert want in labels, f"layer {layer.index} {layer.type}: {want} not among {sorted(labels)}"
    first = (str(layers[0].input[1]), fmt_size(layers[0].input[2:]) if len(layers[0].input) > 2 else "")
    assert first in labels
    # it renders: some ink, and every box shows its fill where the source puts it
    image = render(picture.svg)
    assert ink(image) > 0.01
    for rect in ET.fromstring(picture.svg).iter(f"{SVG}rect"):
        if rect.get("class") == "box":
            x, y, w, h = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
            fill = "#" + "".join(f"{v:02x}" for v in image.getpixel((int(x + w / 2), int(y + h / 2))))
            assert fill == rect.get("fill"), (x, y)


def test_mismatch_drawn_in_red_with_the_fix() -> None:
    picture = network(load(ROOT / "configs" / "mismatch_unet.yaml"))
    assert picture.mismatch is not None
    boxes = tensors(picture.svg)
    culprits = [b for b in boxes if "culprit" in b["class"]]
    assert sorted(b["spatial"][0] for b in culprits) == ["36x36", "37x37"]  # the two tensors
    assert [b["op"] for b in boxes if "failed" in b["class"]] == [["concat", "with enc2"]]
    text = " ".join("".join(t.itertext()) for t in ET.fromstring(picture.svg).iter(f"{SVG}text"))
    assert "set output_padding: 1 on layer 8 'up2'" in text
    assert "does not line up" in text


@pytest.mark.parametrize(
    "name, marked",
    [("autoencoder_28", True), ("dcgan_generator", False), ("unet_original", False)],
)
def test_checkerboard_marks(name: str, marked: bool) -> None:
    svg = network(load(ROOT / "configs" / f"{name}.yaml")).svg
    marks = [" ".join(b.get("mark", [])) for b in tensors(svg)]
    assert any(m.startswith("checkerboard taps ") for m in marks) == marked


ALIGNMENT = """
input: [1, 4, 32, 32]
layers:
  - {name: x0, type: identity}
  - %s
  - %s
  - {type: add, with: x0, crop: center}
"""


@pytest.mark.parametrize(
    "down, up, offset",
    [
        ("{type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}",
         "{type: conv_transpose2d, out_channels: 4, kernel_size: 4, stride: 2, padding: 1}", "+1/2"),
        ("{type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}",
         "{type: conv_transpose2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1, output_padding: 1}", None),
        ("{type: max_pool2d, kernel_size: 2}", "{type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2}",
         None),
        ("{type: conv2d, out_channels: 4, kernel_size: 2, stride: 2}",
         "{type: upsample, scale_factor: 2}", None),
        ("{type: conv2d, out_channels: 4, kernel_size: [3, 4], stride: 2, padding: 1}",
         "{type: conv_transpose2d, out_channels: 4, kernel_size: [4, 3], stride: 2, padding: 1, output_padding: [0, 1]}",
         "+1/2 H x -1/2 W"),
        ("{type: conv2d, out_channels: 4, kernel_size: 4, stride: 2, padding: 1}",
         "{type: conv_transpose2d, out_channels: 4, kernel_size: [4, 3], stride: 2, padding: 1, output_padding: [0, 1]}",
         "-1/2 W"),
        ("{type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}", "{type: identity}", "steps"),
    ],
    ids=["k3s2p1-then-k4s2p1-half-pixel", "k3s2p1-then-k3s2p1op1", "pool-then-k2s2", "k2s2-then-nearest",
         "per-dim", "one-dim", "steps-differ"],
)
def test_misaligned_merges(down: str, up: str, offset: str | None) -> None:
    """The examples of grids and alignment: a half-pixel shift is marked, per dim where the dims
    differ, and so is a skip cropped from a tensor whose positions step otherwise; aligned merges
    are not."""
    svg = network(loads(ALIGNMENT % (down, up))).svg
    marks = [" ".join(b["mark"]) for b in tensors(svg) if b.get("mark", [""])[0].startswith("misaligned")]
    if offset == "steps":
        assert marks == ["misaligned: steps differ"]
    else:
        assert marks == ([f"misaligned: skip offset {offset} px"] if offset else [])


def test_level_step() -> None:
    assert level_step((1, 3, 64, 64), (1, 3, 32, 32)) == 1
    assert level_step((1, 3, 1, 1), (1, 3, 4, 4)) == -2
    assert level_step((1, 10), (1, 256)) == 0


def test_names_are_escaped() -> None:
    arch = loads('name: "<script>alert(1)</script> \\x1b[31m & co"\ninput: [1, 3, 8, 8]\n'
                 'layers:\n  - {name: "a<b>", type: conv2d, out_channels: 4, kernel_size: 3}\n')
    svg = network(arch).svg
    assert "<script" not in svg and "\x1b" not in svg and "&lt;script&gt;" in svg
    ET.fromstring(svg)  # well-formed
    assert "a&lt;b&gt;" in svg
