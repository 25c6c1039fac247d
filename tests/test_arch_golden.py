"""Every file in configs/ against PyTorch: per-layer shapes, params and MACs.

The golden files come from tests/golden/make_golden_arch.py (torch's own forward pass with
hooks and FlopCounterMode); the live test rebuilds them with torch when it is installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.generators import generator

from convtool.graph import LayerResult, StackMismatch, load, propagate

ROOT = Path(__file__).resolve().parents[1]
# configs whose PyTorch module is written from its source in tests/golden/make_golden_networks.py
# (graphs that make_golden_arch.py, which builds a module from a chain, cannot read): test_networks.py
WRITTEN = {p.stem for p in (ROOT / "tests" / "golden" / "networks").glob("*.json")}
CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.yaml") if p.stem not in WRITTEN)
GOLDEN = ROOT / "tests" / "golden"


def ours(path: Path) -> tuple[tuple[LayerResult, ...], int | None]:
    """convtool's layers, and the index of the layer that does not line up (None: all do)."""
    try:
        return propagate(load(path)).layers, None
    except StackMismatch as error:
        return error.layers, error.failed.index


def rows(layers: Any) -> list[tuple[list[int], int, int]]:
    return [(list(r.output), r.param_count, r.macs) for r in layers]


def golden_rows(doc: dict[str, Any]) -> list[tuple[list[int], int, int]]:
    return [(g["output"], g["param_count"], g["macs"]) for g in doc["layers"]]


def test_every_config_has_a_golden_file() -> None:
    assert {f"arch_{p.stem}.json" for p in CONFIGS} == {p.name for p in GOLDEN.glob("arch_*.json")}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_matches_torch_golden(path: Path) -> None:
    golden = json.loads((GOLDEN / f"arch_{path.stem}.json").read_text())
    layers, failed = ours(path)
    assert rows(layers) == golden_rows(golden)
    assert failed == (golden["failure"] or {}).get("index")
    assert list(layers[0].input) == golden["input"]


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_matches_torch_live(path: Path) -> None:
    live = generator("make_golden_arch").golden_for(path, device="meta")
    layers, failed = ours(path)
    assert rows(layers) == golden_rows(live)
    assert failed == (live["failure"] or {}).get("index")


def test_mismatch_config_fails_where_torch_fails() -> None:
    layers, failed = ours(ROOT / "configs" / "mismatch_unet.yaml")
    assert failed == 9 and len(layers) == 9


def test_known_totals() -> None:
    """Published figures: DCGAN generator 3.58M params; original U-Net 31.03M, 572 -> 388."""
    gen = propagate(load(ROOT / "configs" / "dcgan_generator.yaml"))
    assert gen.totals.param_count == 3_576_704 and gen.output == (1, 3, 64, 64)
    unet = propagate(load(ROOT / "configs" / "unet_original.yaml"))
    assert unet.totals.param_count == 31_030_658 and unet.output == (1, 2, 388, 388)
    pix = propagate(load(ROOT / "configs" / "pix2pix_unet.yaml"))
    assert pix.totals.param_count == 54_413_955
