"""Layer kinds in 1, 2 and 3 spatial dims: shape, params and MACs, or PyTorch's message, against
the golden table made with torch (tests/golden/make_golden_layers_nd.py), live against torch with
the numeric rule's values, and the exact receptive field against a brute force."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from support.generators import generator

from convtool.errors import ConfigError
from convtool.footprint import Footprint
from convtool.layers import KINDS, resolve_type

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = json.loads((GOLDEN / "layers_nd.json").read_text())["cases"]
IDS = [f"{c['type']}-{i}" for i, c in enumerate(CASES)]
WORKING = [c for c in CASES if "error" not in c]
WORKING_IDS = [i for i, c in zip(IDS, CASES) if "error" not in c]
FAMILIES = ("conv", "pool", "norm", "upsample", "pad")


def apply(case: dict[str, Any]) -> tuple[Any, Any]:
    kind, defaults = resolve_type(case["type"])  # type: ignore[misc]
    config = kind.parse({**defaults, **(yaml.safe_load(case["options"]) or {})})
    return kind, kind.apply(config, tuple(case["input"]))


def torch_words(message: str) -> str:
    """PyTorch's message as convtool words it: a size is a list, not `torch.Size([...])`."""
    return re.sub(r"torch\.Size\((\[[^\]]*\])\)", r"\1", message)


def test_every_spatial_kind_has_cases_in_1d_and_3d() -> None:
    unpools = json.loads((GOLDEN / "layers_nd.json").read_text())["unpool"]  # test_graph_nd.py
    covered = {c["type"] for c in CASES} | {f"max_unpool{c['dims']}d" for c in unpools}
    nd = {name for name in KINDS if re.search(r"[13]d$", name)}
    assert nd <= covered, sorted(nd - covered)
    assert {len(c["input"]) for c in WORKING if c["type"] == "upsample"} == {3, 4, 5}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_layer_nd_equals_torch_golden(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(ConfigError) as caught:
            apply(case)
        assert caught.value.message == torch_words(case["error"])
        return
    _, applied = apply(case)
    assert (list(applied.output), applied.param_count, applied.macs) == (
        case["output"], case["param_count"], case["macs"])


def _golden_script() -> Any:
    return generator("make_golden_layers_nd")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_layer_nd_live(case: dict[str, Any]) -> None:
    """torch gives the golden result today, and the numeric rule torch's values with the same weights."""
    script = _golden_script()
    import torch

    shape = tuple(case["input"])
    measured = script.measure(case["type"], case["options"], shape)
    assert measured == {k: v for k, v in case.items() if k not in ("type", "options", "input")}
    if "error" in case:
        return
    kind, applied = apply(case)
    dtype = torch.float32 if case["type"] == "upsample" else torch.float64
    module = script.make_module(case["type"], case["options"], torch.zeros(shape)).to(dtype).eval()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32 if dtype == torch.float32 else np.float64)
    weights = kind.init(applied, shape, rng, x.dtype)
    target = getattr(module, "module", module)
    for name, value in weights.items():
        value[...] = rng.uniform(0.5, 1.5, value.shape) if name == "running_var" else rng.standard_normal(value.shape)
        with torch.no_grad():
            getattr(target, name).copy_(torch.from_numpy(value))
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    got = kind.forward(applied, weights, x)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    tolerance = 1e-5 if dtype == torch.float32 else 1e-10
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)


# -- the exact receptive field against a brute force ------------------------------------------


def brute_footprint(kind: Any, applied: Any, shape: tuple[int, ...], axis: int) -> list[tuple[int, int] | None]:
    """Per output position along `axis`: the first and last input position whose slab, set to
    one in an input of zeros, changes it (non-negative weights, so nothing cancels)."""
    rng = np.random.default_rng(1)
    weights = {name: np.abs(w) + 0.1 if name != "bias" else np.zeros_like(w)
               for name, w in kind.init(applied, shape, rng, np.float64).items()}
    base = kind.forward(applied, weights, np.zeros(shape))
    found: list[list[int]] = [[] for _ in range(applied.output[2 + axis])]
    for i in range(shape[2 + axis]):
        x = np.zeros(shape)
        x[(slice(None),) * (2 + axis) + (i,)] = 1.0
        changed = np.moveaxis(kind.forward(applied, weights, x) != base, 2 + axis, 0)
        for o in np.flatnonzero(changed.reshape(changed.shape[0], -1).any(axis=1)):
            found[o].append(i)
    return [(min(f), max(f)) if f else None for f in found]


SPATIAL = [c for c in WORKING if "norm" not in c["type"]]


@pytest.mark.parametrize("case", SPATIAL, ids=[i for i, c in zip(IDS, CASES) if c in SPATIAL])
def test_receptive_field_nd_against_brute_force(case: dict[str, Any]) -> None:
    pytest.importorskip("convtool.numeric")
    kind, applied = apply(case)
    shape = tuple(case["input"])
    fp = kind.footprint(applied, shape, Footprint.identity(shape[2:]))
    assert fp.dims is not None
    for axis in range(len(shape) - 2):
        assert fp.dims[axis] == brute_footprint(kind, applied, shape, axis), axis
