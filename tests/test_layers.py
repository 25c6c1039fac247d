"""Every layer kind: shape, params and MACs (a table made with torch, and
live against torch), numeric rules against torch, PyTorch's messages for invalid inputs."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from support.generators import generator

from convtool.errors import ConfigError
from convtool.layers import KINDS, resolve_type
from convtool.shape import pool_length

GOLDEN = Path(__file__).resolve().parent / "golden"

# type, options, input shape, output shape, params, MACs (values from torch 2.13 with FlopCounterMode)
CASES = [
    ("conv2d", "{out_channels: 8, kernel_size: 3, stride: 2, padding: 1}", (2, 4, 9, 10), (2, 8, 5, 5), 296, 14400),
    ("conv2d", "{out_channels: 8, kernel_size: [3, 5], padding: same, groups: 2, bias: false}", (1, 4, 7, 9), (1, 8, 7, 9), 240, 15120),
    ("conv2d", "{out_channels: 6, kernel_size: 3, padding: valid, dilation: 2, padding_mode: reflect}", (1, 3, 11, 12), (1, 6, 7, 8), 168, 9072),
    ("conv_transpose2d", "{out_channels: 6, kernel_size: 3, stride: 2, padding: 1, output_padding: 1, groups: 3}", (2, 3, 5, 7), (2, 6, 10, 14), 60, 3780),
    ("conv_transpose2d", "{out_channels: 4, kernel_size: 3, stride: 2, dilation: 3, output_padding: 2}", (1, 4, 5, 5), (1, 4, 17, 17), 148, 3600),
    ("conv_transpose2d", "{out_channels: 4, kernel_size: 3, stride: 2, padding: 1, output_size: [12, 11]}", (1, 2, 6, 6), (1, 4, 12, 11), 76, 2592),
    ("conv_transpose2d", "{out_channels: 4, kernel_size: 3, stride: 2, padding: 1, output_size: [1, 4, 12, 11]}", (1, 2, 6, 6), (1, 4, 12, 11), 76, 2592),
    ("max_pool2d", "{kernel_size: 3, stride: 2, padding: 1, ceil_mode: true}", (1, 2, 10, 11), (1, 2, 6, 6), 0, 0),
    ("max_pool2d", "{kernel_size: [2, 3], stride: [1, 2], dilation: 2}", (2, 3, 9, 9), (2, 3, 7, 3), 0, 0),
    ("avg_pool2d", "{kernel_size: 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: false}", (1, 2, 10, 11), (1, 2, 6, 6), 0, 0),
    ("avg_pool2d", "{kernel_size: 2}", (1, 2, 7, 9), (1, 2, 3, 4), 0, 0),
    ("avg_pool2d", "{kernel_size: 3, padding: 1, stride: 2, divisor_override: 4}", (1, 1, 6, 6), (1, 1, 3, 3), 0, 0),
    ("adaptive_avg_pool2d", "{output_size: [3, 4]}", (1, 2, 7, 10), (1, 2, 3, 4), 0, 0),
    ("adaptive_avg_pool2d", "{output_size: [null, 2]}", (1, 2, 5, 5), (1, 2, 5, 2), 0, 0),
    ("upsample", "{scale_factor: 2}", (1, 2, 3, 4), (1, 2, 6, 8), 0, 0),
    ("upsample", "{scale_factor: 2, mode: bilinear}", (1, 2, 3, 4), (1, 2, 6, 8), 0, 0),
    ("upsample", "{size: [7, 10], mode: bilinear}", (1, 2, 3, 4), (1, 2, 7, 10), 0, 0),
    ("upsample", "{size: [7, 10]}", (1, 2, 3, 4), (1, 2, 7, 10), 0, 0),
    ("upsample", "{scale_factor: [1.5, 2.5], mode: bilinear, align_corners: true}", (1, 1, 4, 3), (1, 1, 6, 7), 0, 0),
    ("upsample", "{scale_factor: 1.7}", (1, 1, 5, 6), (1, 1, 8, 10), 0, 0),
    ("pixel_shuffle", "{upscale_factor: 2}", (1, 8, 3, 4), (1, 2, 6, 8), 0, 0),
    ("pixel_unshuffle", "{downscale_factor: 2}", (1, 3, 4, 6), (1, 12, 2, 3), 0, 0),
    ("linear", "{out_features: 5}", (3, 12), (3, 5), 65, 180),
    ("linear", "{out_features: 5, bias: false}", (2, 3, 4, 6), (2, 3, 4, 5), 30, 720),
    ("flatten", "{}", (2, 3, 4, 5), (2, 60), 0, 0),
    ("flatten", "{start_dim: 2}", (2, 3, 4, 5), (2, 3, 20), 0, 0),
    ("unflatten", "{dim: 1, shape: [4, -1, 2]}", (2, 24), (2, 4, 3, 2), 0, 0),
    ("reshape", "{shape: [3, 4, 2]}", (2, 24), (2, 3, 4, 2), 0, 0),
    ("batch_norm2d", "{}", (2, 3, 4, 5), (2, 3, 4, 5), 6, 0),
    ("batch_norm2d", "{affine: false}", (2, 3, 4, 5), (2, 3, 4, 5), 0, 0),
    ("batch_norm1d", "{}", (4, 6), (4, 6), 12, 0),
    ("instance_norm2d", "{}", (2, 3, 4, 5), (2, 3, 4, 5), 0, 0),
    ("instance_norm2d", "{affine: true}", (2, 3, 4, 5), (2, 3, 4, 5), 6, 0),
    ("group_norm", "{num_groups: 2}", (2, 4, 3, 5), (2, 4, 3, 5), 8, 0),
    ("dropout", "{p: 0.3}", (2, 3, 4, 5), (2, 3, 4, 5), 0, 0),
    ("relu", "{}", (2, 3, 4, 5), (2, 3, 4, 5), 0, 0),
    ("leaky_relu", "{negative_slope: 0.2}", (2, 3, 4, 5), (2, 3, 4, 5), 0, 0),
    ("gelu", "{}", (2, 3, 4, 5), (2, 3, 4, 5), 0, 0),
    ("gelu", "{approximate: tanh}", (2, 3, 4, 5), (2, 3, 4, 5), 0, 0),
    ("silu", "{}", (2, 3, 4, 5), (2, 3, 4, 5), 0, 0),
    ("sigmoid", "{}", (2, 3, 4, 5), (2, 3, 4, 5), 0, 0),
    ("tanh", "{}", (2, 3, 4, 5), (2, 3, 4, 5), 0, 0),
    ("identity", "{}", (2, 3, 4, 5), (2, 3, 4, 5), 0, 0),
]
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


def apply(type_: str, options: str, shape: tuple[int, ...], skips: tuple[tuple[int, ...], ...] = ()) -> Any:
    kind, defaults = resolve_type(type_)  # type: ignore[misc]
    config = kind.parse({**defaults, **(yaml.safe_load(options) or {})})
    return kind, kind.apply(config, shape, skips)


@pytest.mark.parametrize("type_, options, shape, output, params, macs", CASES, ids=IDS)
def test_layer_shape_params_macs(type_: str, options: str, shape: tuple[int, ...], output: tuple[int, ...],
                                 params: int, macs: int) -> None:
    _, applied = apply(type_, options, shape)
    assert (applied.output, applied.param_count, applied.macs) == (output, params, macs)


def test_every_kind_is_covered() -> None:
    golden = json.loads((GOLDEN / "layers_nd.json").read_text())  # test_layers_nd.py, test_graph_nd.py
    nd = {case["type"] for case in golden["cases"]} | {f"max_unpool{case['dims']}d" for case in golden["unpool"]}
    covered = {c[0] for c in CASES} | nd | {"concat", "add", "mul", "pad", "crop"}  # the multi-input ones: test_graph.py
    newer = {resolve_type(c["type"])[0].name for c in json.loads((GOLDEN / "kinds.json").read_text())["cases"]}  # type: ignore[index]
    assert covered | newer == set(KINDS)  # the newer kinds: test_kinds.py


def _torch_builder() -> Any:
    return generator("make_golden_arch").make_layer


@pytest.mark.parametrize("type_, options, shape, output, params, macs", CASES, ids=IDS)
def test_layer_against_torch(type_: str, options: str, shape: tuple[int, ...], output: tuple[int, ...],
                             params: int, macs: int) -> None:
    """Shape, params and MACs live, and the numeric rule's values with the same weights."""
    make_layer = _torch_builder()
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    kind, applied = apply(type_, options, shape)
    spec = {"type": type_, **(yaml.safe_load(options) or {})}
    dtype = torch.float32 if type_ == "upsample" else torch.float64
    module = make_layer(spec, torch.zeros(shape, dtype=dtype)).to(dtype).eval()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32 if dtype == torch.float32 else np.float64)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        expected = module(torch.from_numpy(x))
    assert applied.output == tuple(expected.shape)
    assert applied.param_count == sum(p.numel() for p in module.parameters())
    assert applied.macs == counter.get_total_flops() // 2
    if "conv" in type_:
        pytest.importorskip("convtool.numeric")
    weights = kind.init(applied, shape, rng, x.dtype)
    for name, value in weights.items():
        value[...] = rng.uniform(0.5, 1.5, value.shape) if name == "running_var" else rng.standard_normal(value.shape)
        target = module.conv if hasattr(module, "conv") else module
        with torch.no_grad():
            getattr(target, name).copy_(torch.from_numpy(value))
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    got = kind.forward(applied, weights, x)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    tolerance = 1e-5 if dtype == torch.float32 else 1e-10
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("op", ["concat", "add"])
@pytest.mark.parametrize("crop", [False, True])
def test_skip_numeric(op: str, crop: bool) -> None:
    kind = KINDS[op]
    config = kind.parse({"with": ["a"], "crop": "center" if crop else None})
    x = np.arange(2 * 3 * 4 * 4, dtype=float).reshape(2, 3, 4, 4)
    other = np.arange(2 * 3 * 7 * 6, dtype=float).reshape(2, 3, 7, 6) if crop else x * 2
    applied = kind.apply(config, x.shape, (other.shape,))
    got = kind.forward(applied, {}, x, [other])
    part = other[:, :, 1:5, 1:5] if crop else other  # (7-4)//2 = 1, (6-4)//2 = 1
    expected = np.concatenate([x, part], axis=1) if op == "concat" else x + part
    np.testing.assert_array_equal(got, expected)
    assert applied.output == expected.shape
    assert applied.crops == (((1, 1) if crop else (0, 0)),)


# -- pooling output length, exhaustively against torch ----------------------------------------


def test_pool_length_matches_torch() -> None:
    """Every small max/avg pooling configuration: the same output size, or the same error."""
    pytest.importorskip("torch")
    import torch
    import torch.nn.functional as F

    assert pool_length(5, 2, 2, 0, 1, True) == 3
    for i, k, s, d, ceil, op in itertools.product(
        range(1, 10), range(1, 5), range(1, 4), (1, 2), (False, True), ("max", "avg")
    ):
        if op == "avg" and d > 1:
            continue
        for p in range(0, ((k - 1) * d + 1) // 2 + 1):
            options = {"kernel_size": k, "stride": s, "padding": p, "ceil_mode": ceil}
            if op == "max":
                options["dilation"] = d
            x = torch.zeros(1, 1, i, i)
            try:
                pool = F.max_pool2d(x, k, s, p, d, ceil_mode=ceil) if op == "max" else F.avg_pool2d(
                    x, k, s, p, ceil_mode=ceil)
                expected = str(tuple(pool.shape))
            except RuntimeError as error:
                expected = str(error).splitlines()[0]
            kind = KINDS[f"{op}_pool2d"]
            try:
                got = str(kind.apply(kind.parse(options), (1, 1, i, i)).output)
            except ConfigError as error:
                got = error.message
            assert got == expected, (op, i, k, s, p, d, ceil)


# -- PyTorch's messages for inputs a layer cannot take -------------------------------------------

ERRORS = [
    ("max_pool2d", "{kernel_size: 7}", (1, 4, 5, 5),
     "Given input size: (4x5x5). Calculated output size: (4x0x0). Output size is too small"),
    ("pixel_shuffle", "{upscale_factor: 2}", (1, 3, 2, 2),
     "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of upscale_factor, "
     "but input.size(-3)=3 is not divisible by 4"),
    ("pixel_unshuffle", "{downscale_factor: 2}", (1, 3, 4, 5),
     "pixel_unshuffle expects width to be divisible by downscale_factor, but input.size(-1)=5 is not divisible by 2"),
    ("linear", "{in_features: 10, out_features: 3}", (1, 12),
     "mat1 and mat2 shapes cannot be multiplied (1x12 and 10x3)"),
    ("unflatten", "{shape: [3, 5]}", (1, 12),
     "unflatten: Provided sizes [3, 5] don't multiply up to the size of dim 1 (12) in the input tensor"),
    ("reshape", "{shape: [3, 5]}", (1, 100), "shape '[1, 3, 5]' is invalid for input of size 100"),
    ("batch_norm2d", "{num_features: 3}", (1, 4, 2, 2), "running_mean should contain 4 elements not 3"),
    ("batch_norm2d", "{}", (1, 4), "expected 4D input (got 2D input)"),
    ("batch_norm1d", "{}", (1, 4, 5, 5), "expected 2D or 3D input (got 4D input)"),
    ("group_norm", "{num_groups: 3}", (1, 4, 2, 2), "num_channels (4) must be divisible by num_groups (3)"),
    ("group_norm", "{num_groups: 1}", (1, 1, 1, 1),
     "Expected more than 1 value per channel when training, got input size [1, 1, 1, 1]"),
    ("instance_norm2d", "{}", (2, 3, 1, 1), "Expected more than 1 spatial element when training, got input size [2, 3, 1, 1]"),
    ("upsample", "{size: [0, 3]}", (1, 4, 5, 5), None),  # rejected at parse time: size >= 1
    ("upsample", "{scale_factor: 0.1}", (1, 4, 5, 5),
     "Input and output sizes should be greater than 0, but got input (H: 5, W: 5) output (H: 0, W: 0)"),
    ("flatten", "{start_dim: 3, end_dim: 1}", (1, 4, 5, 5),
     "flatten() has invalid args: start_dim cannot come after end_dim"),
    ("flatten", "{start_dim: 7}", (1, 4, 5, 5), "Dimension out of range (expected to be in range of [-4, 3], but got 7)"),
    ("conv2d", "{in_channels: 3, out_channels: 4, kernel_size: 3}", (1, 4, 5, 5),
     "Given groups=1, weight of size [4, 3, 3, 3], expected input[1, 4, 5, 5] to have 3 channels, but got 4 "
     "channels instead"),
    ("conv2d", "{out_channels: 4, kernel_size: 3, groups: 2}", (1, 3, 5, 5), "in_channels must be divisible by groups"),
    ("conv2d", "{out_channels: 4, kernel_size: 7}", (1, 3, 5, 5),
     "Calculated padded input size per channel: (5 x 5). Kernel size: (7 x 7). Kernel size can't be greater "
     "than actual input size"),
    ("conv2d", "{out_channels: 4, kernel_size: 3}", (1, 48),
     "Expected 3D (unbatched) or 4D (batched) input to conv2d, but got input of size: [1, 48]"),
    ("conv_transpose2d", "{out_channels: 4, kernel_size: 3, padding: 3}", (1, 2, 2, 2),
     "Given input size per channel: (2 x 2). Calculated output size per channel: (-2 x -2). Output size is too small"),
    ("conv_transpose2d", "{out_channels: 4, kernel_size: 3, stride: 2, output_size: [14, 12]}", (1, 2, 6, 6),
     "requested an output size of (14, 12), but valid sizes range from [13, 13] to [14, 14] (for an input of [6, 6])"),
    ("conv_transpose2d", "{out_channels: 4, kernel_size: 3, stride: 2, output_size: [1, 4, 14, 12]}", (1, 2, 6, 6),
     "requested an output size of (14, 12), but valid sizes range from [13, 13] to [14, 14] (for an input of [6, 6])"),
    ("concat", "{with: a}", (1, 4, 5, 5),
     "Sizes of tensors must match except in dimension 1. Expected size 5 but got size 4 for tensor number 1 in the list."),
    ("add", "{with: a}", (1, 4, 5, 5),
     "The size of tensor a (5) must match the size of tensor b (4) at non-singleton dimension 3"),
]


@pytest.mark.parametrize("type_, options, shape, message", ERRORS, ids=[f"{e[0]}-{i}" for i, e in enumerate(ERRORS)])
def test_layer_error_messages(type_: str, options: str, shape: tuple[int, ...], message: str | None) -> None:
    kind, defaults = resolve_type(type_)  # type: ignore[misc]
    with pytest.raises(ConfigError) as caught:
        config = kind.parse({**defaults, **yaml.safe_load(options)})
        kind.apply(config, shape, ((1, 4, 4, 4),) if kind.skip else ())
    if message is not None:
        assert caught.value.message == message


def test_receptive_field_of_a_wide_map() -> None:
    """A 4096-wide map through twenty k3 convs: the exact field (its speed is benchmarks/bench_run.py's)."""
    from convtool.graph import loads, propagate

    arch = loads("input: [1, 1, 4096, 4096]\nlayers:\n" + "  - {type: conv2d, out_channels: 1, kernel_size: 3, padding: 1}\n" * 20)
    prop = propagate(arch)
    assert prop.layers[-1].receptive_field == (41, 41)
