"""The numeric engine against live PyTorch (skipped without torch): random configurations,
PyTorch's own OpInfo samples, its messages for invalid calls, its modules and initialisation."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest
from support.golden_numeric import load
from support.golden_numeric import run as run_golden
from support.numeric_cases import arrays, close, conv_case, transposed_case

from convtool import numeric
from convtool.errors import ConfigError

torch = pytest.importorskip("torch")
F = torch.nn.functional
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")

RNG = random.Random(11)
TRANSPOSED = [transposed_case(RNG) for _ in range(120)]
CONVS = [conv_case(RNG) for _ in range(80)]


def tensors(*values: np.ndarray | None) -> list[Any]:
    return [None if v is None else torch.from_numpy(v) for v in values]


@pytest.mark.parametrize("index", range(len(TRANSPOSED)))
def test_conv_transpose2d_matches_torch(index: int) -> None:
    case = TRANSPOSED[index]
    dtype = np.float32 if index % 3 == 2 else np.float64
    x, w, b = arrays(case, True, dtype, 5000 + index)
    args = dict(stride=case["stride"], padding=case["padding"], output_padding=case["output_padding"],
                groups=case["groups"], dilation=case["dilation"])
    expected = F.conv_transpose2d(*tensors(x, w, b), **args).numpy()
    assert close(numeric.conv_transpose2d(x, w, b, **args), expected, dtype), case


@pytest.mark.parametrize("index", range(len(CONVS)))
def test_conv2d_matches_torch(index: int) -> None:
    case = CONVS[index]
    dtype = np.float32 if index % 3 == 2 else np.float64
    x, w, b = arrays(case, False, dtype, 6000 + index)
    args = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"], groups=case["groups"])
    expected = F.conv2d(*tensors(x, w, b), **args).numpy()
    assert close(numeric.conv2d(x, w, b, **args), expected, dtype), case


def test_golden_file_is_current_torch() -> None:
    """tests/golden/numeric.npz still holds what this torch computes."""
    for case, stored in zip(*load()):
        assert np.array_equal(run_golden(case, torch), stored) or close(run_golden(case, torch), stored, stored.dtype.type)


@pytest.mark.parametrize("name", ["nn.functional.conv_transpose2d", "nn.functional.conv2d"])
def test_opinfo_samples(name: str) -> None:
    """PyTorch's own sample inputs for the op (its OpInfo database, cpu, float64)."""
    try:
        from torch.testing._internal.common_methods_invocations import op_db
    except Exception as error:  # an internal API: absent pieces (e.g. expecttest) skip the test
        pytest.skip(f"PyTorch's OpInfo database is unavailable: {error}")
    ops = [op for op in op_db if op.name == name]
    if not ops:
        pytest.skip(f"no OpInfo entry named {name}")
    ours = getattr(numeric, name.rsplit(".", 1)[1])
    checked = 0
    for op in ops:
        for sample in op.sample_inputs("cpu", torch.float64):
            args = [a.numpy() if isinstance(a, torch.Tensor) else a for a in sample.args]
            expected = op(sample.input, *sample.args, **sample.kwargs).numpy()
            out = ours(sample.input.numpy(), *args, **sample.kwargs)
            assert close(out, expected, np.float64), (sample.input.shape, sample.args, sample.kwargs)
            checked += 1
    assert checked >= 10


INVALID = [
    ("conv_transpose2d", (5, 5), (4, 3, 3, 3), None, {}),
    ("conv2d", (1, 4, 5, 5), (6, 4, 3, 3), None, {"groups": 0}),
    ("conv_transpose2d", (1, 4, 5, 5), (4, 3, 3), None, {}),
    ("conv2d", (1, 4, 5, 5), (4, 3), None, {}),
    ("conv_transpose2d", (1, 4, 5, 5), (4, 3, 3, 3), None, {"padding": -1}),
    ("conv_transpose2d", (1, 4, 5, 5), (4, 3, 3, 3), None, {"output_padding": -1}),
    ("conv2d", (1, 4, 5, 5), (6, 4, 3, 3), None, {"stride": 0}),
    ("conv2d", (1, 4, 5, 5), (6, 4, 3, 3), None, {"dilation": 0}),
    ("conv_transpose2d", (1, 4, 5, 5), (4, 3, 3, 3), None, {"groups": 8}),
    ("conv_transpose2d", (1, 4, 5, 5), (4, 3, 3, 3), None, {"groups": 3}),
    ("conv2d", (1, 4, 5, 5), (6, 1, 3, 3), None, {"groups": 4}),
    ("conv_transpose2d", (1, 5, 5, 5), (4, 6, 3, 3), None, {}),
    ("conv2d", (1, 4, 5, 5), (6, 3, 3, 3), None, {}),
    ("conv2d", (4, 5, 5), (6, 3, 3, 3), None, {}),
    ("conv_transpose2d", (1, 4, 5, 5), (4, 3, 3, 3), (4,), {}),
    ("conv2d", (1, 4, 5, 5), (6, 4, 3, 3), (6, 1), {}),
    ("conv_transpose2d", (1, 4, 5, 5), (4, 3, 3, 3), None, {"stride": 2, "output_padding": 2}),
    ("conv_transpose2d", (1, 4, 5, 5), (4, 3, 3, 3), None, {"stride": (2, 1), "output_padding": (0, 1)}),
    ("conv_transpose2d", (1, 4, 4, 4), (4, 3, 3, 3), None, {"padding": 3}),
    ("conv_transpose2d", (1, 4, 4, 4), (4, 3, 3, 3), None, {"padding": 4}),
    ("conv_transpose2d", (1, 4, 0, 5), (4, 3, 3, 3), None, {}),
    ("conv2d", (1, 4, 5, 5), (6, 4, 6, 6), None, {}),
    ("conv2d", (1, 4, 5, 5), (6, 4, 3, 3), None, {"padding": "same", "stride": 2}),
    ("conv_transpose2d", (1, 4, 5, 5), (4, 0, 3, 3), None, {}),
]


@pytest.mark.parametrize(("op", "x", "w", "b", "kwargs"), INVALID, ids=[f"{c[0]}-{i}" for i, c in enumerate(INVALID)])
def test_messages_are_pytorchs(op: str, x: tuple, w: tuple, b: tuple | None, kwargs: dict) -> None:
    arrays_ = [np.zeros(x), np.zeros(w), None if b is None else np.zeros(b)]
    with pytest.raises(Exception) as theirs:
        getattr(F, op)(*tensors(*arrays_), **kwargs)
    with pytest.raises(ConfigError) as ours:
        getattr(numeric, op)(*arrays_, **kwargs)
    assert str(ours.value) == str(theirs.value).splitlines()[0]


@pytest.mark.parametrize(("op", "x", "w", "b", "kwargs"), [
    ("conv2d", (2, 0, 5, 5), (3, 0, 3, 3), (3,), {}),
    ("conv2d", (2, 0, 5, 5), (4, 0, 3, 3), None, {"padding": 1, "groups": 2}),
    ("conv2d", (0, 5, 5), (3, 0, 1, 1), None, {}),
    ("conv2d", (0, 0, 5, 5), (3, 0, 3, 3), None, {"stride": 2}),
    ("conv_transpose2d", (0, 4, 5, 5), (4, 3, 3, 3), (3,), {"stride": 2}),
], ids=str)
def test_empty_outputs_are_pytorchs(op: str, x: tuple, w: tuple, b: tuple | None, kwargs: dict) -> None:
    """Zero images or zero input channels: the shape PyTorch's empty-input path gives."""
    arrays_ = [np.zeros(x), np.zeros(w), None if b is None else np.zeros(b)]
    assert getattr(numeric, op)(*arrays_, **kwargs).shape == tuple(getattr(F, op)(*tensors(*arrays_), **kwargs).shape)


def test_dtype_messages_are_pytorchs() -> None:
    x, w, b = np.zeros((1, 4, 5, 5), np.float32), np.zeros((6, 4, 3, 3)), np.zeros(6)
    for args in [(x, w), (x, w.astype(np.float32), b), (x.astype(np.float64), w.astype(np.float32))]:
        with pytest.raises(RuntimeError) as theirs:
            F.conv2d(*tensors(*args))
        with pytest.raises(ConfigError) as ours:
            numeric.conv2d(*args)
        assert str(ours.value) == str(theirs.value).splitlines()[0]


def copy_into(layer: Any, module: Any) -> None:
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(layer.weight))
        if layer.bias is not None:
            module.bias.copy_(torch.from_numpy(layer.bias))


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, (2, 1), "same", "valid"], ids=str)
def test_conv2d_module_padding_modes(mode: str, padding: Any) -> None:
    layer = numeric.Conv2d(4, 6, (3, 4), padding=padding, padding_mode=mode, dilation=(1, 2), rng=0, dtype=np.float64)
    module = torch.nn.Conv2d(4, 6, (3, 4), padding=padding, padding_mode=mode, dilation=(1, 2), dtype=torch.float64)
    copy_into(layer, module)
    x = np.random.default_rng(1).standard_normal((2, 4, 7, 9))
    assert close(layer(x), module(torch.from_numpy(x)).detach().numpy(), np.float64)
    assert close(layer(x[0]), module(torch.from_numpy(x[0])).detach().numpy(), np.float64)


@pytest.mark.parametrize("output_size", [None, (11, 13), (12, 14), (1, 3, 12, 13), [11, 14]], ids=str)
def test_conv_transpose2d_module_output_size(output_size: Any) -> None:
    layer = numeric.ConvTranspose2d(3, 4, (3, 5), stride=2, padding=(1, 2), groups=1, rng=0, dtype=np.float64)
    module = torch.nn.ConvTranspose2d(3, 4, (3, 5), stride=2, padding=(1, 2), dtype=torch.float64)
    copy_into(layer, module)
    x = np.random.default_rng(2).standard_normal((1, 3, 6, 7))
    expected = module(torch.from_numpy(x), output_size=output_size).detach().numpy()
    assert close(layer(x, output_size=output_size), expected, np.float64)


def test_output_size_messages_are_pytorchs() -> None:
    layer = numeric.ConvTranspose2d(16, 8, 3, stride=2, padding=1, rng=0)
    module = torch.nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1)
    for output_size in [(13, 12), (10, 10), (12, 12, 12)]:
        x = np.zeros((1, 16, 6, 6), np.float32)
        with pytest.raises(ValueError) as theirs:
            module(torch.from_numpy(x), output_size=output_size)
        with pytest.raises(ConfigError) as ours:
            layer(x, output_size=output_size)
        assert str(ours.value) == str(theirs.value).replace("torch.Size(", "").replace("])", "]")


@pytest.mark.parametrize(
    "make",
    [
        lambda lib, **kw: lib.ConvTranspose2d(64, 32, 3, **kw),
        lambda lib, **kw: lib.ConvTranspose2d(64, 32, (3, 5), groups=4, **kw),
        lambda lib, **kw: lib.Conv2d(16, 32, (5, 3), groups=2, **kw),
    ],
    ids=["transpose", "transpose-groups", "conv-groups"],
)
def test_init_bounds_are_pytorchs(make: Any) -> None:
    module = make(torch.nn)
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(module.weight)
    bound = 1 / np.sqrt(fan_in)
    assert float(module.weight.detach().abs().max()) <= bound and float(module.bias.detach().abs().max()) <= bound
    layer = make(numeric, rng=0)
    assert layer.weight.shape == tuple(module.weight.shape) and layer.bias.shape == tuple(module.bias.shape)
    assert 0.95 * bound < np.abs(layer.weight).max() <= bound * 1.0001
    assert np.abs(layer.bias).max() <= bound * 1.0001


# -- 1-D and 3-D, and the explicit crop -----------------------------------------------------

RNG_ND = random.Random(17)
TRANSPOSED_ND = [transposed_case(RNG_ND, nd) for nd in (1, 3) for _ in range(50)]
CONVS_ND = [conv_case(RNG_ND, nd) for nd in (1, 3) for _ in range(40)]


@pytest.mark.parametrize("index", range(len(TRANSPOSED_ND)))
def test_conv_transpose_nd_matches_torch(index: int) -> None:
    case = TRANSPOSED_ND[index]
    nd = case["nd"]
    dtype = np.float32 if index % 3 == 2 else np.float64
    x, w, b = arrays(case, True, dtype, 15000 + index)
    if case["unbatched"]:
        x = x[0]
    args = (case["stride"], case["padding"], case["output_padding"], case["groups"], case["dilation"])
    expected = getattr(F, f"conv_transpose{nd}d")(*tensors(x, w, b), *args).numpy()
    assert close(getattr(numeric, f"conv_transpose{nd}d")(x, w, b, *args), expected, dtype), case
    # PyTorch's layer as the explicit crop: crop_begin = padding, out_len = full - 2p + op
    assert close(numeric.conv_transpose(x, w, b, case["stride"], case["padding"], expected.shape[-nd:],
                                        case["dilation"], case["groups"]), expected, dtype), case


@pytest.mark.parametrize("index", range(len(CONVS_ND)))
def test_conv_nd_matches_torch(index: int) -> None:
    case = CONVS_ND[index]
    nd = case["nd"]
    dtype = np.float32 if index % 3 == 2 else np.float64
    x, w, b = arrays(case, False, dtype, 16000 + index)
    if case["unbatched"]:
        x = x[0]
    args = (case["stride"], case["padding"], case["dilation"], case["groups"])
    expected = getattr(F, f"conv{nd}d")(*tensors(x, w, b), *args).numpy()
    assert close(getattr(numeric, f"conv{nd}d")(x, w, b, *args), expected, dtype), case


@pytest.mark.parametrize("name", [f"nn.functional.{op}{nd}d" for op in ("conv_transpose", "conv") for nd in (1, 3)])
def test_opinfo_samples_nd(name: str) -> None:
    """PyTorch's own sample inputs for the 1-D and 3-D ops (its OpInfo database, cpu, float64)."""
    test_opinfo_samples(name)


INVALID_ND = [
    ("conv1d", (5,), (1, 1, 3), None, {}),
    ("conv_transpose1d", (1, 4, 5), (4, 3, 3, 3), None, {}),
    ("conv1d", (4, 5), (6, 4, 3, 3), None, {"stride": 2}),
    ("conv1d", (1, 4, 5), (6, 4, 3, 3), None, {"stride": (2, 2)}),
    ("conv3d", (1, 4, 5, 5, 5), (6, 4, 3, 3), None, {}),
    ("conv_transpose1d", (1, 4, 5), (4, 3, 3), None, {"stride": 2, "output_padding": 2}),
    ("conv_transpose1d", (1, 4, 4), (4, 3, 3), None, {"padding": 3}),
    ("conv1d", (1, 4, 5), (6, 4, 6), None, {}),
    ("conv1d", (1, 4, 5), (6, 4, 3), None, {"padding": "same", "stride": 2}),
    ("conv_transpose3d", (2, 3, 3), (2, 1, 2, 2, 2), None, {}),
    ("conv_transpose3d", (1, 4, 5, 5, 5), (4, 3, 3, 3, 3), None, {"stride": 2, "output_padding": 2}),
    ("conv_transpose3d", (1, 4, 5, 5, 5), (4, 3, 3, 3, 3), None, {"stride": (2, 1, 2), "output_padding": (0, 1, 0)}),
    ("conv_transpose3d", (1, 4, 4, 4, 4), (4, 3, 3, 3, 3), None, {"padding": 3}),
    ("conv_transpose3d", (1, 5, 4, 4, 4), (4, 3, 3, 3, 3), None, {}),
    ("conv3d", (1, 4, 4, 4, 4), (3, 4, 5, 5, 5), None, {}),
    ("conv3d", (1, 4, 4, 4, 4), (6, 4, 3, 3, 3), (5,), {}),
    ("conv3d", (1, 4, 4, 4, 4), (6, 1, 3, 3, 3), None, {"groups": 3}),
]


@pytest.mark.parametrize(("op", "x", "w", "b", "kwargs"), INVALID_ND, ids=[f"{c[0]}-{i}" for i, c in enumerate(INVALID_ND)])
def test_nd_messages_are_pytorchs(op: str, x: tuple, w: tuple, b: tuple | None, kwargs: dict) -> None:
    test_messages_are_pytorchs(op, x, w, b, kwargs)


@pytest.mark.parametrize("nd", [1, 3])
@pytest.mark.parametrize("output_size", [None, "min", "max", "full"])
def test_conv_transpose_nd_module_output_size(nd: int, output_size: Any) -> None:
    layer = getattr(numeric, f"ConvTranspose{nd}d")(3, 4, 3, stride=2, padding=1, rng=0, dtype=np.float64)
    module = getattr(torch.nn, f"ConvTranspose{nd}d")(3, 4, 3, stride=2, padding=1, dtype=torch.float64)
    copy_into(layer, module)
    x = np.random.default_rng(nd).standard_normal((1, 3, *(6, 5, 4)[:nd]))
    low = [(i - 1) * 2 - 2 + 2 + 1 for i in x.shape[2:]]
    request = {None: None, "min": low, "max": [v + 1 for v in low], "full": [1, 4, *low]}[output_size]
    expected = module(torch.from_numpy(x), output_size=request).detach().numpy()
    assert close(layer(x, output_size=request), expected, np.float64)


@pytest.mark.parametrize(
    "make",
    [
        lambda lib, **kw: lib.ConvTranspose1d(512, 256, 16, stride=8, padding=4, **kw),
        lambda lib, **kw: lib.ConvTranspose3d(64, 32, 2, stride=2, groups=4, **kw),
        lambda lib, **kw: lib.Conv1d(80, 64, 7, **kw),
        lambda lib, **kw: lib.Conv3d(16, 32, (3, 1, 3), groups=2, **kw),
    ],
    ids=["transpose1d", "transpose3d-groups", "conv1d", "conv3d-groups"],
)
def test_init_bounds_are_pytorchs_nd(make: Any) -> None:
    test_init_bounds_are_pytorchs(make)
