"""The shape engine against PyTorch's own verdicts: golden vectors, and live when torch is here."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from golden_shapes import replay

GOLDEN = json.loads((Path(__file__).parent / "golden" / "shapes.json").read_text())

# A Conv with a kernel size of 0 is rejected by every backend, but in words that depend on
# which backend PyTorch picks for the input; for these only the rejection is compared.
BACKEND_DEPENDENT = ("kernel size should be greater than zero",)


def agrees(case: dict, ours: dict) -> bool:
    if "error" in case:
        if "error" not in ours:
            return False
        if not case["transposed"] and case["error"].startswith(BACKEND_DEPENDENT):
            return ours["error"].startswith(BACKEND_DEPENDENT)
        return ours["error"] == case["error"]
    return ours == {k: case[k] for k in ours if k in case} and "error" not in ours


def describe(case: dict, ours: dict) -> str:
    return f"case {case}\n  convtool: {ours}"


def test_golden_file_is_large_and_varied():
    cases = GOLDEN["cases"]
    assert len(cases) >= 2000
    rejected = sum("error" in c for c in cases)
    assert 300 < rejected < len(cases) - 1000
    assert {c["ndim"] for c in cases} == {1, 2, 3}
    assert {c["transposed"] for c in cases} == {True, False}


@pytest.mark.parametrize("chunk", range(8))
def test_golden_cases(chunk):
    cases = GOLDEN["cases"][chunk::8]
    failures = [describe(c, r) for c in cases if not agrees(c, r := replay(c))]
    assert not failures, "\n".join(failures[:5])


def test_live_against_torch():
    pytest.importorskip("torch")
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "golden"))
    import make_golden

    seed = GOLDEN["seed"] + 1  # fresh cases, reproducible
    rng = random.Random(seed)
    failures = []
    for _ in range(400):
        case = make_golden.draw(rng)
        case.update(make_golden.run(case))
        ours = replay(case)
        if not agrees(case, ours):
            failures.append(describe(case, ours))
    assert not failures, f"seed {seed}\n" + "\n".join(failures[:5])
