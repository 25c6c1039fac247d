"""The shape engine against PyTorch's own verdicts: golden vectors (mostly 2-D, and 2,000 per op of
conv_transpose1d/3d and conv1d/3d), and live when torch is here."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest
from golden_shapes import replay

GOLDEN = json.loads((Path(__file__).parent / "golden" / "shapes.json").read_text())
GOLDEN_ND = json.loads(gzip.decompress((Path(__file__).parent / "golden" / "shapes_nd.json.gz").read_bytes()))
ND_OPS = [(True, 1), (True, 3), (False, 1), (False, 3)]

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


def op_name(case: dict) -> str:
    return f"{'conv_transpose' if case['transposed'] else 'conv'}{case['ndim']}d"


@pytest.mark.parametrize(("transposed", "ndim"), ND_OPS, ids=lambda v: str(v))
def test_nd_golden_file_has_2000_cases_per_op(transposed: bool, ndim: int) -> None:
    cases = [c for c in GOLDEN_ND["cases"] if (c["transposed"], c["ndim"]) == (transposed, ndim)]
    assert len(cases) >= 2000
    rejected = [c for c in cases if "error" in c]
    assert 300 < len(rejected) < len(cases) - 600
    assert len({c["error"] for c in rejected}) >= 20  # many rules, not one
    if transposed:
        assert sum(any(len(a) > 1 for a in c["output_size_accepted"]) for c in cases if "error" not in c) > 300


@pytest.mark.parametrize("chunk", range(8))
def test_nd_golden_cases(chunk: int) -> None:
    cases = GOLDEN_ND["cases"][chunk::8]
    failures = [describe(c, r) for c in cases if not agrees(c, r := replay(c))]
    assert not failures, "\n".join(failures[:5])


def test_nd_live_against_torch() -> None:
    pytest.importorskip("torch")
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "golden"))
    import make_golden

    seed = GOLDEN_ND["seed"] + 1  # fresh cases, reproducible
    rng = random.Random(seed)
    failures = []
    for transposed, ndim in ND_OPS:
        for _ in range(100):
            case = make_golden.draw(rng, ndim, transposed)
            case.update(make_golden.run(case))
            ours = replay(case)
            if not agrees(case, ours):
                failures.append(f"{op_name(case)}: {describe(case, ours)}")
    assert not failures, f"seed {seed}\n" + "\n".join(failures[:5])


@pytest.mark.parametrize(
    ("mode", "spatial", "message"),
    [
        ("replicate", (1, 2, 1), "input (D: 1 H: 2, W: 1) is too small. Calculated output D: -1 H: 0 W: -1"),
        ("replicate", (2, 1), "input (H: 2, W: 1 ) is too small. Calculated output H: 0 W: -1"),
        ("reflect", (2, 1), "input (H: 2, W: 1) is too small. Calculated output H: 0 W: -1"),
        ("reflect", (1,), "input (W: 1) is too small. Calculated output W: -1"),
        ("circular", (1, 3), "Negative padding value is resulting in an empty dimension"),
    ],
    ids=str,
)
def test_negative_padding_crops_as_f_pad(mode: str, spatial: tuple[int, ...], message: str) -> None:
    """A negative padding in a non-zero padding mode is F.pad's crop, refused in its words when
    nothing is left (PyTorch 2.13, executed)."""
    from convtool.errors import ConfigError
    from convtool.params import ConvParams
    from convtool.shape import output_shape

    params = ConvParams.conv(1, 1, -1, padding_mode=mode, in_channels=2, out_channels=2, ndim=len(spatial))
    with pytest.raises(ConfigError) as error:
        output_shape(params, (1, 2, *spatial))
    assert error.value.message == message
