"""`run --relative-to NAME`: receptive fields in the positions of tensor NAME, and projective
fields (how many output positions one position of NAME reaches), against PyTorch: forward-mode
derivatives of every layer's output with respect to NAME's tensor (tests/golden/dependence.py),
from golden files for the files in configs/ and live for generated graphs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_grids import CONFIGS, GOLDEN, golden, golden_config, graph_text, measure_live, unet_text

from convtool.cli import main
from convtool.errors import ConvtoolError
from convtool.graph import Propagation, loads, propagate
from convtool.graph.relative import UnknownTensor, find_tensor, relative_to

ROOT = Path(__file__).resolve().parents[1]


def widest(dims: list[tuple[list[int], list[int]]] | None) -> tuple[int, ...] | None:
    """The receptive field per dim from measured spans; None when nothing depends on the start."""
    if dims is None or all(f < 0 for first, _ in dims for f in first):
        return None
    return tuple(max((b - a + 1 for a, b in zip(first, last) if a >= 0), default=0) for first, last in dims)


def expected(prop: Propagation, measured: dict[Any, Any]) -> tuple[list[Any], list[Any]]:
    fields, reach = [], []
    for layer in prop.layers:
        dims = measured[layer.index]
        field = widest(None if dims is None else [(d[0], d[1]) for d in dims])
        fields.append(field)
        reach.append(None if field is None else measured[layer.index, "projective"])
    return fields, reach


@pytest.mark.parametrize("name", CONFIGS)
def test_config_fields_match_torch(name: str) -> None:
    doc = golden(name)
    prop = golden_config(name)
    measured: dict[Any, Any] = {}
    for i, layer in enumerate(doc["layers"]):
        dims = layer["relative"]
        measured[i] = None if dims is None else [(d["first"], d["last"]) for d in dims]
        measured[i, "projective"] = None if dims is None else tuple(d["projective"] for d in dims)
    found = relative_to(prop, doc["relative_to"])
    fields, reach = expected(prop, measured)
    assert list(found.receptive) == fields
    assert list(found.projective) == reach
    assert any(f is not None for f in fields)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.one_of(graph_text(), unet_text()), st.data())
def test_generated_fields_match_torch(text: str, data: st.DataObject) -> None:
    pytest.importorskip("torch")
    try:
        prop = propagate(loads(text))
    except ConvtoolError:
        assume(False)
        raise
    start = data.draw(st.integers(-1, len(prop.layers) - 1))
    name = "input" if start < 0 else prop.layers[start].path
    found = relative_to(prop, name)
    fields, reach = expected(prop, measure_live(prop, start))
    assert list(found.receptive) == fields
    assert list(found.projective) == reach


def test_from_the_input_is_the_receptive_field() -> None:
    prop = propagate(loads(
        "input: [1, 1, 20, 20]\nlayers:\n  - {type: conv_transpose2d, out_channels: 1, kernel_size: 3, stride: 2}\n"
        "  - {type: conv2d, out_channels: 1, kernel_size: 3, dilation: 2}\n"))
    assert list(relative_to(prop, "input").receptive) == [r.receptive_field for r in prop.layers]


def test_a_decoder_from_its_latent() -> None:
    """Two k4 s2 p1 transposed layers: one latent position reaches 4 then 10 positions, and an
    output position depends on 2 then 3 latent positions per dim."""
    prop = propagate(loads(
        "input: [1, 4, 8, 8]\nlayers:\n  - {name: z, type: conv2d, out_channels: 4, kernel_size: 1}\n"
        + "  - {type: conv_transpose2d, out_channels: 4, kernel_size: 4, stride: 2, padding: 1}\n" * 2))
    found = relative_to(prop, "z")
    assert found.receptive == ((1, 1), (2, 2), (3, 3))
    assert found.projective == ((1, 1), (4, 4), (10, 10))


def test_layers_before_the_tensor_have_none() -> None:
    prop = propagate(loads(
        "input: [1, 1, 8, 8]\nlayers:\n  - {name: a, type: relu}\n  - {name: b, type: conv2d, out_channels: 1, "
        "kernel_size: 3, padding: 1}\n  - {type: add, inputs: [a, b]}\n"))
    found = relative_to(prop, "b")
    assert found.receptive == (None, (1, 1), (1, 1))
    assert found.layer_dict(0) is None
    assert found.layer_dict(2) == {"receptive_field": [1, 1], "projective_field": [1, 1]}


@pytest.mark.parametrize("name, index", [("input", -1), ("enc4", 18), ("conv2d_3", 7), ("up4", 25)])
def test_names_and_paths(name: str, index: int) -> None:
    prop = propagate(loads((ROOT / "configs" / "unet_original.yaml").read_text()))
    assert find_tensor(prop, name) == index


def test_unknown_name_names_the_closest() -> None:
    prop = propagate(loads((ROOT / "configs" / "unet_original.yaml").read_text()))
    with pytest.raises(UnknownTensor, match="no tensor named 'enc9' in <string>; the closest is 'enc4'"):
        find_tensor(prop, "enc9")


def test_cli_unknown_name_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["run", str(ROOT / "configs" / "unet_original.yaml"), "--relative-to", "enc9"])
    assert result.exit_code == 2
    assert "Invalid value for --relative-to: no tensor named 'enc9' in " in result.output
    assert "the closest is 'enc4'" in result.output
    assert "Traceback" not in result.output


def test_cli_json() -> None:
    result = CliRunner().invoke(main, ["run", str(ROOT / "configs" / "vae_decoder.yaml"), "--relative-to", "unflatten",
                                       "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["relative_to"] == "unflatten"
    assert doc["layers"][0]["relative"] is None
    assert doc["layers"][-1]["relative"] == {"receptive_field": [1, 1], "projective_field": [64, 64]}


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_cli_table_shows_both_fields_at_80_columns(fmt: str) -> None:
    result = CliRunner().invoke(main, ["run", str(ROOT / "configs" / "unet_original.yaml"), "--relative-to", "enc4",
                                       "--format", fmt], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    if fmt == "table":
        assert all(len(line) <= 80 for line in lines)
        header = next(line for line in lines if "RF" in line)
        assert "PF" in header
        assert "projective field: how many positions of a layer's output one position of enc4 reaches" in " ".join(
            line.strip() for line in lines)
    elif fmt == "csv":
        assert lines[0].endswith(",RF,PF,notes")
        assert lines[19].split(",")[-3:] == ["1x1", "1x1", ""]  # enc4 itself
    else:
        assert "| RF | PF | notes |" in result.output


BLOCKS = """
input: [1, 8, 32, 32]
blocks:
  res:
    params: {channels: null}
    layers:
      - {type: leaky_relu, negative_slope: 0.1}
      - {type: conv2d, out_channels: $channels, kernel_size: 3, padding: same}
      - {type: add, inputs: [input, .]}
layers:
  - {name: up, type: conv_transpose2d, out_channels: 8, kernel_size: 4, stride: 2, padding: 1}
  - {name: a, type: res, channels: 8, repeat: 2}
  - {type: add, inputs: [a, up]}
"""


@pytest.mark.parametrize("name, index", [("a", 6), ("a.0.add", 3), ("up", 0)])
def test_block_uses_mean_their_output(name: str, index: int) -> None:
    prop = propagate(loads(BLOCKS))
    assert find_tensor(prop, name) == index
    assert relative_to(prop, name).receptive[index] == (1, 1)


def test_collapsed_use_shows_its_outputs_fields() -> None:
    """`run --depth 1 --relative-to up`: the use's row gives the fields of the use's output."""
    from convtool.graph import uses
    from convtool.report import _measured_from, _output_index, _use_cells

    prop = propagate(loads(BLOCKS))

    use = uses(prop)[0]
    cells = _measured_from(_use_cells(use), relative_to(prop, "up"), _output_index(use, prop.layers))
    assert [text for text, _ in cells[-3:-1]] == ["5x5", "5x5"]



def test_golden_files_cover_every_config() -> None:
    every = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))
    assert CONFIGS == every, sorted(GOLDEN.glob("grids_*.json.gz"))
