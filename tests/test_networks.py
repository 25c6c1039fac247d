"""Real networks transcribed in configs/ from their public sources, each compared with the PyTorch
module it describes (tests/golden/make_golden_networks.py, written from the same source): layer by
layer every layer that holds parameters (output shape, parameters, MACs), the output shape of every
named stage, the outputs and the totals; with torch installed, the module itself; the export of
each file builds the same module, and the numeric engine runs each file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from support.exported import check_against_torch

from convtool.graph import LayerResult, Propagation, load, propagate, verify

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "networks"
NETWORKS = sorted(p.stem for p in GOLDEN.glob("*.json"))


def network(name: str) -> Propagation:
    return propagate(load(ROOT / "configs" / f"{name}.yaml"))


def stage(rows: tuple[LayerResult, ...], name: str) -> LayerResult:
    """The row whose output a stage name means: the layer at that path (a layer's name at the
    top), or the last leaf of the block use there (`body.3` = the fourth copy of `body`)."""
    found = [r for r in rows if r.path == name or r.path.startswith(f"{name}.")]
    assert found, f"no layer or block use {name!r}"
    return found[-1]


def ours(name: str, stages: list[str]) -> dict[str, Any]:
    """The file's propagation in the golden file's terms."""
    prop = network(name)
    return {
        "input": list(prop.input),
        "outputs": [list(shape) for _, _, shape in prop.outputs],
        "param_count": prop.totals.param_count,
        "macs": prop.totals.macs,
        "stages": {s: list(stage(prop.layers, s).output) for s in stages},
        "layers": [
            {"output": list(r.output), "param_count": r.param_count, "macs": r.macs}
            for r in prop.layers if r.param_count
        ],
    }


def comparable(golden: dict[str, Any]) -> dict[str, Any]:
    """The golden document without the torch module paths, which only help a reader."""
    return {**golden, "layers": [{k: v for k, v in layer.items() if k != "module"} for layer in golden["layers"]]}


def test_every_golden_network_has_a_config() -> None:
    assert NETWORKS and all((ROOT / "configs" / f"{name}.yaml").exists() for name in NETWORKS)


@pytest.mark.parametrize("name", NETWORKS)
def test_network_equals_its_golden(name: str) -> None:
    golden = json.loads((GOLDEN / f"{name}.json").read_text())
    assert ours(name, list(golden["stages"])) == comparable(golden)


@pytest.mark.parametrize("name", NETWORKS)
def test_network_equals_the_module_live(name: str) -> None:
    pytest.importorskip("torch")
    sys.path.insert(0, str(ROOT / "tests" / "golden"))
    try:
        from make_golden_networks import measure
    finally:
        sys.path.pop(0)
    live = measure(name)
    assert ours(name, list(live["stages"])) == comparable(live)


@pytest.mark.parametrize("name", NETWORKS)
def test_network_export_builds_the_same_module(name: str) -> None:
    check_against_torch(network(name))


# the file's input needs more memory than --verify allows (about 2.8 GiB): its smallest valid input
VERIFIED_SMALLER = {"unet3d_cicek": (1, 3, 92, 92, 92)}


@pytest.mark.parametrize("name", NETWORKS)
def test_network_verifies(name: str) -> None:
    assert verify(propagate(load(ROOT / "configs" / f"{name}.yaml"), VERIFIED_SMALLER.get(name))).ok
