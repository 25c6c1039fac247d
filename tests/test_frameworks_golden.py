"""Every framework's goldens (tests/golden/frameworks_NAME.json, made by make_golden_frameworks.py
in each framework itself) reproduced from the pasted code: accepted or refused with the
framework's own words, output size and start crop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from convtool.errors import ConfigError
from convtool.frameworks import NAMES
from convtool.frameworks.base import FrameworkError, Given
from convtool.frameworks.paste import read

GOLDEN = Path(__file__).parent / "golden"
FILES = {name: GOLDEN / f"frameworks_{name}.json" for name in NAMES if name != "torch"}


def cases() -> list:
    params = []
    for name, path in FILES.items():
        for index, case in enumerate(json.loads(path.read_text())["cases"]):
            params.append(pytest.param(name, case, id=f"{name}-{index}"))
    return params


def outcome(name: str, case: dict) -> tuple:
    """(output, windows' begins) or the refusal's words, as convtool computes them."""
    from convtool.frameworks import get

    given = Given(kernel_size=tuple(case["kernel_size"]) if "kernel_size" in case else None,
                  in_channels=case.get("in_channels"), out_channels=case.get("out_channels"))
    framework = get(name)
    layer = read(case["code"], name if name == "megengine" else None, given)
    spatial = tuple(case["input"])
    if "output_size" in case:
        padding, _ = framework.output_padding_for(layer, spatial, tuple(case["output_size"]))  # type: ignore[attr-defined]
        layer = layer.replace(output_padding=padding)
    result = framework.apply(layer, spatial)
    begins = None if result.windows is None else [w.begin for w in result.windows]
    return list(result.output), begins, layer


@pytest.mark.parametrize(("name", "case"), cases())
def test_golden(name: str, case: dict) -> None:
    if case["ok"]:
        output, begins, layer = outcome(name, case)
        assert output == case["output"]
        if case.get("crop") is not None:
            assert begins == case["crop"]
        if "weight_shape" in case:
            from convtool.frameworks import get

            assert list(get(name).weight_shape(layer)) == case["weight_shape"]
            bias = get(name).bias_shape(layer)
            assert (list(bias) if bias else None) == case["bias_shape"]
    else:
        with pytest.raises(ConfigError) as caught:
            outcome(name, case)
        words = caught.value.words if isinstance(caught.value, FrameworkError) else caught.value.message
        assert words.split(": ", 1)[-1] in case["error"], (words, case["error"])


def test_every_framework_has_enough_goldens() -> None:
    for name, path in FILES.items():
        doc = json.loads(path.read_text())
        refused = sum(not c["ok"] for c in doc["cases"])
        assert len(doc["cases"]) >= 200 and 0 < refused < len(doc["cases"]), name


def onnx_same_cases() -> list:
    doc = json.loads(FILES["onnx"].read_text())
    return [pytest.param(case, id=f"onnx-{index}") for index, case in enumerate(doc["cases"])
            if case["ok"] and "SAME_" in case["code"] and "output_shape" not in case["code"] and case.get("inferred")]


@pytest.mark.parametrize("case", onnx_same_cases())
def test_onnx_shape_inference_disagreement(case: dict) -> None:
    """SAME_* without output_shape: what ONNX shape inference predicts, as onnx itself inferred it."""
    from convtool.frameworks import get

    onnx = get("onnx")
    layer = read(case["code"], None, Given(in_channels=case["in_channels"], out_channels=case["out_channels"]))
    spatial = tuple(case["input"])
    assert list(onnx.inferred(layer, spatial)) == case["inferred"]
    warned = any("shape inference" in w for w in onnx.apply(layer, spatial).warnings)
    assert warned == (case["inferred"] != case["output"])


def value_cases() -> list:
    params = []
    for name, path in FILES.items():
        for index, case in enumerate(json.loads(path.read_text())["cases"]):
            if "values" in case:
                params.append(pytest.param(name, case, id=f"{name}-{index}"))
    return params


@pytest.mark.parametrize(("name", "case"), value_cases())
def test_values_through_the_weight_layout(name: str, case: dict) -> None:
    """The framework's own output for its own weight and bias arrays equals the scatter reference fed
    with convtool's conversion of those arrays to PyTorch's layout: the layouts are right."""
    np = pytest.importorskip("numpy")
    from convtool.frameworks import get
    from convtool.frameworks.base import apply_steps
    from convtool.frameworks.port import scatter_window

    framework = get(name)
    _, _, layer = outcome(name, case)
    result = framework.apply(layer, tuple(case["input"]))
    if result.windows is None:
        pytest.skip("not a crop of the scatter (circular)")
    if 0 in case["output"]:
        pytest.skip("an empty output holds no values")
    arrays = case["values"]
    x, w, y = (np.array(arrays[key]) for key in ("x", "w", "y"))
    layer = layer.replace(in_channels=x.shape[1], out_channels=y.shape[1])
    assert w.shape == framework.weight_shape(layer)
    b = None if arrays["b"] is None else apply_steps(framework.bias_to_torch(layer), np.array(arrays["b"]))
    expected = scatter_window(x, apply_steps(framework.weight_to_torch(layer), w), b, layer.stride, layer.dilation,
                              layer.groups, result.windows)
    np.testing.assert_allclose(expected, y, rtol=1e-4, atol=1e-4)
