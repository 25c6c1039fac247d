"""The numeric engine against PyTorch's outputs stored in tests/golden/numeric.npz (no torch
needed): functional calls and modules in 1, 2 and 3 dims, groups, dilation, padding modes, output_size."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from support.golden_numeric import cases, load, run

from convtool import numeric

CASES, OUTPUTS = load()


def test_golden_file_matches_its_cases() -> None:
    """The stored cases are the ones tests/support/golden_numeric.py defines (regenerate when it changes)."""
    assert CASES == cases()
    assert {c["kind"] for c in CASES} == {f"{kind}{nd}d" for kind in ("conv_transpose", "conv", "ConvTranspose", "Conv") for nd in (1, 2, 3)}
    for kind in ("Conv1d", "Conv2d", "Conv3d"):
        assert {c["padding_mode"] for c in CASES if c["kind"] == kind} == {"zeros", "reflect", "replicate", "circular"}
    assert any(c["unbatched"] for c in CASES) and {c["dtype"] for c in CASES} == {"float32", "float64"}


@pytest.mark.parametrize("index", range(len(CASES)), ids=lambda i: f"{CASES[i]['kind']}-{i}")
def test_agrees_with_pytorch(index: int) -> None:
    case: dict[str, Any] = CASES[index]
    expected = OUTPUTS[index]
    out = run(case, numeric)
    assert out.shape == expected.shape and out.dtype == expected.dtype
    if case["dtype"] == "float64":
        assert np.abs(out - expected).max(initial=0) <= 1e-10
    else:
        assert np.abs(out - expected).max(initial=0) <= 1e-4 * max(1.0, np.abs(expected).max(initial=0))
