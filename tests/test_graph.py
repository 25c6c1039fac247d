"""Architecture files as graphs: layers read any earlier tensor (`from:`), merges read several in
order (`inputs:`), networks give several outputs; checked against the table, the exported module
in torch, the numeric engine and brute force."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.brute import lines_up
from support.exported import check_against_torch

from convtool.cli import main
from convtool.errors import ArchError, ConvtoolError
from convtool.graph import load, loads, mirror, propagate, valid_input_sizes, verify
from convtool.graph.valid_sizes import InputSizes

HEADS = """
name: two heads
input: [1, 3, 16, 16]
layers:
  - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: down, type: conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
  - {name: up, type: conv_transpose2d, out_channels: 8, kernel_size: 4, stride: 2, padding: 1}
  - {name: short, type: conv2d, out_channels: 8, kernel_size: 1, from: stem}
  - {name: sum, type: add, inputs: [short, up]}
  - {name: cat, type: concat, inputs: [input, ., stem]}
  - {name: head, type: conv2d, out_channels: 2, kernel_size: 1}
  - {name: side, type: conv2d, out_channels: 2, kernel_size: 1, from: down}
  - {type: relu, from: head}
  - {type: relu, from: side}
outputs: [head, side, down]
"""


def test_data_flow() -> None:
    prop = propagate(loads(HEADS))
    rows = {r.path: r for r in prop.layers}
    assert rows["short"].input == (1, 8, 16, 16) and rows["short"].inputs == ("stem",)
    assert rows["sum"].inputs == ("short", "up") and rows["sum"].output == (1, 8, 16, 16)
    assert rows["cat"].inputs == ("input", "sum", "stem") and rows["cat"].output == (1, 19, 16, 16)
    assert rows["side"].input == (1, 16, 8, 8)
    assert [r.path for r in prop.layers][-2:] == ["relu_0", "relu_1"]  # unnamed kinds are numbered
    assert [(path, shape) for _, path, shape in prop.outputs] == [
        ("head", (1, 2, 16, 16)), ("side", (1, 2, 8, 8)), ("down", (1, 16, 8, 8))]
    assert prop.output == (1, 2, 16, 16)


def test_receptive_field_follows_the_data() -> None:
    prop = propagate(loads(HEADS))
    rows = {r.path: r for r in prop.layers}
    assert rows["short"].receptive_field == rows["stem"].receptive_field == (3, 3)  # read from stem, not from up
    assert rows["cat"].receptive_field == rows["sum"].receptive_field  # the union of input, sum and stem


def test_json_keys() -> None:
    doc = json.loads(CliRunner().invoke(main, ["run", _file(HEADS), "--json"]).stdout)
    assert [layer["path"] for layer in doc["layers"]][:3] == ["stem", "down", "up"]
    assert doc["layers"][5]["inputs"] == ["input", "sum", "stem"]
    assert doc["outputs"][2] == {"path": "down", "shape": [1, 16, 8, 8]}


def _file(text: str) -> str:
    import tempfile

    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    handle.write(text)
    handle.close()
    return handle.name


def test_export_builds_the_same_module() -> None:
    check_against_torch(propagate(loads(HEADS)))


def test_verify_runs_the_graph() -> None:
    pytest.importorskip("numpy")
    assert verify(propagate(loads(HEADS))).ok


@pytest.mark.parametrize(
    "layers, words, key",
    [
        ("[{type: relu}, {type: relu, from: nowhere}]", "unknown tensor 'nowhere'", "from"),
        ("[{name: a, type: relu}, {type: relu, from: b}]", "unknown tensor 'b'", "from"),
        ("[{type: relu, inputs: [input, input]}]", "only merging layers take `inputs:`", "inputs"),
        ("[{name: a, type: relu}, {type: add, inputs: [a]}]", "a list of two or more tensor names", "inputs"),
        ("[{name: a, type: relu}, {type: add, inputs: [a, .], with: a}]", "give `inputs:` or `with:`", "inputs"),
        ("[{name: input, type: relu}]", "'input' names the network's input", "name"),
        ("[{name: a, type: add, inputs: [input, a]}]", "'a' is this layer itself", "inputs"),
    ],
    ids=["unknown-from", "later-name", "inputs-on-relu", "one-input", "inputs-and-with", "named-input", "itself"],
)
def test_load_errors(layers: str, words: str, key: str) -> None:
    with pytest.raises(ArchError) as caught:
        loads(f"input: [1, 2, 4, 4]\nlayers: {layers}\n")
    assert words in caught.value.message and caught.value.key == key and caught.value.line == 2


def test_unknown_output() -> None:
    with pytest.raises(ArchError, match="unknown tensor 'head'"):
        loads("input: [1, 2, 4, 4]\nlayers: [{type: relu}]\noutputs: [head]\n")


def test_a_branching_encoder_is_not_mirrored() -> None:
    arch = loads("input: [1, 2, 8, 8]\nlayers: [{name: a, type: relu}, {type: relu}, {type: conv2d, "
                 "out_channels: 2, kernel_size: 3, from: a}]\n")
    with pytest.raises(ArchError, match="layer 2 \\(conv2d\\) cannot be mirrored: it reads 'a'"):
        mirror(arch)


# -- valid input sizes of generated graphs against brute force --------------------------------------


@st.composite
def graphs(draw: Any) -> str:
    """Small graphs: downsampling and upsampling layers, branches read with from:, merges of
    either order through inputs:."""
    layers: list[dict[str, Any]] = []
    names: list[str] = ["input"]
    for i in range(draw(st.integers(2, 6))):
        name = f"t{i}"
        choice = draw(st.sampled_from(["conv", "up", "pool", "merge", "branch"]))
        layer: dict[str, Any]
        if choice == "conv":
            layer = {"type": "conv2d", "out_channels": 4, "kernel_size": draw(st.integers(1, 3)),
                     "stride": draw(st.integers(1, 2)), "padding": draw(st.integers(0, 1))}
        elif choice == "up":
            layer = {"type": "conv_transpose2d", "out_channels": 4, "kernel_size": draw(st.integers(2, 4)),
                     "stride": 2, "padding": draw(st.integers(0, 1))}
        elif choice == "pool":
            layer = {"type": "max_pool2d", "kernel_size": 2}
        elif choice == "merge":
            other = draw(st.sampled_from(names))
            order = [other, "."] if draw(st.booleans()) else [".", other]
            layer = {"type": draw(st.sampled_from(["add", "concat"])), "inputs": order, "crop": "center"}
            if layer["type"] == "add":
                layer["crop"] = None
                del layer["crop"]
        else:
            layer = {"type": "conv2d", "out_channels": 4, "kernel_size": 1, "from": draw(st.sampled_from(names))}
        layer["name"] = name
        layers.append(layer)
        names.append(name)
    first = {"name": "first", "type": "conv2d", "out_channels": 4, "kernel_size": 1}
    return yaml.safe_dump({"input": [1, 4, 12, 12], "layers": [first, *layers]})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_valid_sizes_of_graphs_equal_brute_force(text: str) -> None:
    arch = loads(text)
    sizes: InputSizes = valid_input_sizes(arch, (1, 4, 12, 12))
    if sizes.dims is None:
        return
    for dim in sizes.dims:
        for n in range(1, 40):
            spatial = list(dim.held)
            spatial[dim.axis] = n  # the other dims at the size the set holds them at
            assert lines_up(arch, (1, 4, *spatial)) == dim.contains(n), (text, dim, n)


def test_every_config_loads_as_a_graph() -> None:
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml")):
        arch = load(path)
        assert all(spec.path for spec in arch.layers)


PADS = """
name: pad and crop
input: [1, 3, 37, 37]
layers:
  - {name: enc, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {type: max_pool2d, kernel_size: 2}
  - {name: up, type: conv_transpose2d, out_channels: 8, kernel_size: 2, stride: 2}
  - {type: pad, to: enc}
  - {type: concat, inputs: [enc, .]}
  - {type: crop, cropping: [1, 2, 0, 3]}
  - {type: pad, padding: [2, 2, 1, 1], mode: reflect}
  - {name: small, type: crop, to: up}
  - {name: gate, type: conv2d, out_channels: 1, kernel_size: 1, from: up}
  - {type: mul, inputs: [small, gate]}
  - {type: add, inputs: [., gate]}
"""


def test_pad_and_crop_shapes() -> None:
    rows = propagate(loads(PADS)).layers
    assert [r.output[2:] for r in rows] == [
        (37, 37), (18, 18), (36, 36), (37, 37), (37, 37), (34, 34), (36, 38), (36, 36), (36, 36), (36, 36), (36, 36)]
    assert rows[4].output[1] == 16 and rows[9].output[1] == 16  # concat of 8 + 8; mul broadcasts the 1-channel gate
    assert rows[3].receptive_field == rows[2].receptive_field  # pad to: reads enc's size, not its values


def test_pad_and_crop_verify_and_export() -> None:
    pytest.importorskip("numpy")
    prop = propagate(loads(PADS))
    assert verify(prop).ok
    check_against_torch(prop)


@pytest.mark.parametrize(
    "layer, words",
    [
        ("{type: pad}", "pad takes `padding:` or `to:`"),
        ("{type: pad, padding: [1, 2, 3]}", "a list of 2, 4 or 6 ints"),
        ("{type: pad, padding: 9, mode: reflect}", "Padding size should be less than the corresponding input dimension"),
        ("{type: pad, padding: -1, mode: replicate}", "negative padding crops only in constant mode"),
        ("{type: crop, cropping: [4, 4, 4, 4]}", "leaves an empty tensor"),
        ("{type: crop, to: big}", "crop to a tensor of spatial size [16, 16] from [8, 8]: it is larger"),
        ("{type: pad, to: small}", "pad to a tensor of spatial size [4, 4] from [8, 8]: it is smaller"),
    ],
    ids=["neither", "odd-list", "reflect-too-far", "negative-replicate", "empty", "crop-to-larger", "pad-to-smaller"],
)
def test_pad_and_crop_errors(layer: str, words: str) -> None:
    text = ("input: [1, 2, 8, 8]\nlayers:\n  - {name: small, type: max_pool2d, kernel_size: 2}\n"
            "  - {name: big, type: upsample, scale_factor: 4}\n  - {type: relu, from: input}\n  - " + layer + "\n")
    with pytest.raises((ArchError, ConvtoolError)) as caught:
        propagate(loads(text))
    assert words in caught.value.message


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [[1, 2], [2, 0, 1, 3], [0, 1, 2, 2], 1], ids=str)
def test_pad_values_equal_torch(mode: str, padding: Any) -> None:
    torch = pytest.importorskip("torch")
    import numpy as np

    from convtool.layers import KINDS

    kind = KINDS["pad"]
    config = kind.parse({"padding": padding, "mode": mode, "value": 0.5})
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 6))
    flat = [padding] * 4 if isinstance(padding, int) else padding
    try:
        want = torch.nn.functional.pad(torch.from_numpy(x), flat, mode=mode, value=0.5 if mode == "constant" else None)
    except NotImplementedError as error:  # torch refuses: so does convtool, in its words
        with pytest.raises(ConvtoolError) as caught:
            kind.apply(config, x.shape)
        assert caught.value.message == str(error).splitlines()[0]
        return
    applied = kind.apply(config, x.shape)
    got = kind.forward(applied, {}, x)
    assert got.shape == applied.output == tuple(want.shape)
    assert np.array_equal(got, want.numpy())


def test_negative_constant_padding_crops_as_torch() -> None:
    torch = pytest.importorskip("torch")
    import numpy as np

    from convtool.layers import KINDS

    kind = KINDS["pad"]
    x = np.random.default_rng(1).standard_normal((1, 2, 6, 7))
    applied = kind.apply(kind.parse({"padding": [-1, 2, 3, -2]}), x.shape)
    want = torch.nn.functional.pad(torch.from_numpy(x), [-1, 2, 3, -2])
    assert np.array_equal(kind.forward(applied, {}, x), want.numpy())


def test_crop_and_broadcasting_merges_equal_torch() -> None:
    torch = pytest.importorskip("torch")
    import numpy as np

    from convtool.layers import KINDS

    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 9, 8))
    crop = KINDS["crop"]
    applied = crop.apply(crop.parse({"cropping": [1, 2, 3, 0]}), x.shape)
    assert np.array_equal(crop.forward(applied, {}, x), torch.from_numpy(x)[:, :, 3:, 1:6].numpy())
    gate = rng.standard_normal((2, 1, 9, 8))
    for name, op in (("mul", torch.mul), ("add", torch.add)):
        kind = KINDS[name]
        merged = kind.apply(kind.parse({"with": ["g"]}), x.shape, (gate.shape,))
        want = op(torch.from_numpy(x), torch.from_numpy(gate)).numpy()
        assert merged.output == want.shape and np.array_equal(kind.forward(merged, {}, x, [gate]), want)


# -- several network inputs ----------------------------------------------------------------------

CONDITIONAL = """
name: conditional
inputs: {z: [4, 16, 4, 4], y: {shape: [4, 3, 4, 4]}, t: [4, 8]}
layers:
  - {name: a, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: b, type: conv2d, out_channels: 8, kernel_size: 1, from: y}
  - {type: concat, inputs: [a, b]}
  - {name: up, type: conv_transpose2d, out_channels: 3, kernel_size: 4, stride: 2, padding: 1}
  - {type: linear, out_features: 5, from: t}
outputs: [up, .]
"""


def test_several_inputs() -> None:
    prop = propagate(loads(CONDITIONAL))
    assert prop.inputs == (("z", (4, 16, 4, 4)), ("y", (4, 3, 4, 4)), ("t", (4, 8)))
    assert [r.inputs for r in prop.layers] == [("z",), ("y",), ("a", "b"), ("concat",), ("t",)]
    assert prop.layers[1].receptive_field == (0, 0)  # depends on nothing of the first input
    assert prop.layers[2].receptive_field == (3, 3)
    assert [shape for _, _, shape in prop.outputs] == [(4, 3, 8, 8), (4, 5)]
    assert propagate(loads(CONDITIONAL), batch=2).inputs[2] == ("t", (2, 8))  # the batch is shared
    assert verify(prop).ok
    check_against_torch(prop)


def test_several_inputs_in_json(tmp_path: Any) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONDITIONAL)
    doc = json.loads(CliRunner().invoke(main, ["run", str(path), "--json"]).stdout)
    assert doc["input"] == [4, 16, 4, 4] and doc["inputs"] == {"z": [4, 16, 4, 4], "y": [4, 3, 4, 4], "t": [4, 8]}


def test_class_indices_reach_the_numeric_run() -> None:
    arch = loads("inputs: {x: [2, 3, 4, 4], c: {shape: [2, 5], integers: 7}}\nlayers: [{type: relu}]")
    from convtool.graph import NumericStack

    stack = NumericStack(propagate(arch))
    values = stack.further_inputs()[-2]
    assert values.shape == (2, 5) and values.dtype.kind == "i" and values.min() >= 0 and values.max() < 7


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("input: [1, 3, 8, 8]\ninputs: {a: [1, 3]}", "not both"),
        ("inputs: [1, 3, 8, 8]", "mapping of input names to shapes"),
        ("inputs: {a: [1, 0]}", "expects a shape"),
        ("inputs: {a: {shape: [1, 3], integers: 0}}", "number of classes >= 1"),
        ("inputs: {a: {shap: [1, 3]}}", "takes `shape:`"),
        ("inputs: {input: [1, 3]}", "not 'input'"),
        ("inputs: {a: [4]}", "needs a batch and a channel"),
        ("inputs: {a: [1, 3], b: [1, 3]}\nlayers: [{type: relu, from: c}]", "unknown tensor 'c'"),
    ],
)
def test_several_inputs_errors(text: str, words: str) -> None:
    with pytest.raises(ArchError, match=None) as caught:
        loads(text if "layers" in text else text + "\nlayers: [{type: relu}]")
    assert words in caught.value.message


def test_several_inputs_draw_and_page(tmp_path: Any) -> None:
    path = tmp_path / "two.yaml"
    path.write_text("inputs: {a: [1, 2, 4, 4], b: [1, 2, 4, 4]}\nlayers:\n  - {type: concat, inputs: [a, b]}\n")
    drawn = CliRunner().invoke(main, ["draw", str(path), "-o", str(tmp_path / "two.svg")])
    page = CliRunner().invoke(main, ["run", str(path), "--html", str(tmp_path / "two.html")])
    assert drawn.exit_code == 0 and page.exit_code == 0, (drawn.output, page.output)
    assert "<svg" in (tmp_path / "two.svg").read_text()
