"""Real networks transcribed in configs/ from their public sources, each compared with the PyTorch
module it describes (tests/golden/make_golden_networks.py, written from the same source): every
named stage's output shape, parameter count and MACs, the whole network's, and, with torch installed,
the module itself; the export of each file builds the same module."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from support.exported import check_against_torch

from convtool.graph import load, propagate

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "networks"
NETWORKS = sorted(p.stem for p in GOLDEN.glob("*.json"))


def stages(name: str) -> dict[str, dict[str, object]]:
    """The file's rows grouped by the named stage (a layer, or a block use) each ends: output
    shape, parameters and MACs."""
    golden = json.loads((GOLDEN / f"{name}.json").read_text())
    prop = propagate(load(ROOT / "configs" / f"{name}.yaml"))
    found: dict[str, dict[str, object]] = {}
    params = macs = 0
    tops = [row.path.split(".")[0] for row in prop.layers]  # a leaf's name, or its block use's
    for i, row in enumerate(prop.layers):
        params += row.param_count
        macs += row.macs
        if tops[i] in golden["stages"] and tops[i + 1:i + 2] != [tops[i]]:  # the stage's last row
            found[tops[i]] = {"output": list(row.output), "param_count": params, "macs": macs}
            params = macs = 0
    found["network"] = {"output": list(prop.output), "param_count": prop.totals.param_count, "macs": prop.totals.macs}
    return found


def expected(golden: dict) -> dict[str, dict[str, object]]:
    network = {"output": golden["output"], "param_count": golden["param_count"], "macs": golden["macs"]}
    return {**golden["stages"], "network": network}


@pytest.mark.parametrize("name", NETWORKS)
def test_network_equals_its_golden(name: str) -> None:
    golden = json.loads((GOLDEN / f"{name}.json").read_text())
    assert stages(name) == expected(golden)


@pytest.mark.parametrize("name", NETWORKS)
def test_network_equals_the_module_live(name: str) -> None:
    pytest.importorskip("torch")
    sys.path.insert(0, str(ROOT / "tests" / "golden"))
    try:
        from make_golden_networks import measure
    finally:
        sys.path.pop(0)
    assert stages(name) == expected(measure(name))


@pytest.mark.parametrize("name", NETWORKS)
def test_network_export_builds_the_same_module(name: str) -> None:
    check_against_torch(propagate(load(ROOT / "configs" / f"{name}.yaml")))
