"""Architecture files in 1-D and 3-D: valid input sizes against brute force, receptive fields
against brute force, the mirrored decoder, export under torch (shapes, parameters and values
with the numeric engine's weights), and the rank of the tensor deciding whether a kind fits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.exported import check_against_torch, exported
from test_arch_receptive_field import brute_fields
from test_mirror import expanded
from test_valid_sizes import assert_exact

from convtool.errors import ConvtoolError
from convtool.export import class_name
from convtool.graph import NumericStack, loads, propagate, valid_input_sizes

ARCHS = {
    "vocoder_1d": """
input: [1, 8, 40]
layers:
  - {type: conv1d, out_channels: 16, kernel_size: 7, padding: 3, padding_mode: reflect}
  - {name: up1, type: conv_transpose1d, out_channels: 8, kernel_size: 8, stride: 4, padding: 2}
  - {type: leaky_relu, negative_slope: 0.1}
  - {type: reflection_pad1d, padding: 3}
  - {type: conv1d, out_channels: 8, kernel_size: 7, dilation: 1}
  - {type: add, inputs: [up1, .]}
  - {type: batch_norm1d}
  - {type: upsample, scale_factor: 2, mode: linear}
  - {type: conv1d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
  - {type: max_pool1d, kernel_size: 3, stride: 2, padding: 1}
  - {type: avg_pool1d, kernel_size: 2}
  - {type: instance_norm1d, affine: true}
  - {type: replication_pad1d, padding: [1, 2]}
  - {type: conv1d, out_channels: 1, kernel_size: 4}
  - {type: tanh}
""",
    "unet_3d": """
input: [1, 2, 12, 16, 16]
layers:
  - {name: e1, type: conv3d, out_channels: 4, kernel_size: 3, padding: 1}
  - {type: batch_norm3d}
  - {type: max_pool3d, kernel_size: 2}
  - {name: e2, type: conv3d, out_channels: 8, kernel_size: 3, padding: 1}
  - {type: avg_pool3d, kernel_size: [1, 2, 2]}
  - {type: conv3d, out_channels: 8, kernel_size: 3, padding: 1, padding_mode: replicate}
  - {type: conv_transpose3d, out_channels: 8, kernel_size: [1, 2, 2], stride: [1, 2, 2]}
  - {type: concat, inputs: [e2, .]}
  - {type: instance_norm3d}
  - {type: upsample, scale_factor: 2, mode: trilinear}
  - {type: zero_pad3d, padding: [1, 1, 0, 0, 0, 0]}
  - {type: conv3d, out_channels: 4, kernel_size: [1, 1, 3]}
  - {type: concat, inputs: [e1, .]}
  - {type: constant_pad3d, padding: 1, value: 0.5}
  - {type: conv3d, out_channels: 1, kernel_size: 3}
""",
    "pools_3d": """
input: [1, 1, 9, 10, 11]
layers:
  - {type: max_pool3d, kernel_size: 3, stride: 2, padding: 1, ceil_mode: true}
  - {type: conv_transpose3d, out_channels: 2, kernel_size: 3, stride: [1, 2, 3], dilation: 2}
  - {type: avg_pool3d, kernel_size: 2, count_include_pad: false, padding: 1}
  - {type: upsample, size: [5, 6, 7], mode: nearest-exact}
  - {type: reflection_pad3d, padding: 1}
""",
    "like_1d": """
input: [1, 2, 38]
layers:
  - {name: e1, type: conv1d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
  - {name: e2, type: conv1d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
  - {type: conv_transpose1d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1, output_size: {like: e1}}
  - {type: add, inputs: [e1, .]}
  - {type: ConvTranspose1d, out_channels: 2, kernel_size: 3, stride: 2, padding: 1, output_size: {like: input}}
  - {type: concat, inputs: [input, .]}
  - {type: upsample, size: {like: e2}, mode: linear}
""",
    "like_2d": """
input: [1, 3, 21, 30]
layers:
  - {name: skip, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {type: max_pool2d, kernel_size: 2}
  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {type: upsample, size: {like: skip}, mode: bilinear}
  - {type: concat, inputs: [skip, .]}
  - {type: max_pool2d, kernel_size: 3, stride: 3}
  - {type: conv_transpose2d, out_channels: 4, kernel_size: 3, stride: 3, output_size: {like: skip}}
  - {type: add, inputs: [skip, .]}
""",
    "like_3d": """
input: [1, 1, 9, 12, 11]
layers:
  - {name: e1, type: conv3d, out_channels: 4, kernel_size: 3, padding: 1}
  - {type: max_pool3d, kernel_size: 2}
  - {type: conv3d, out_channels: 8, kernel_size: 3, padding: 1}
  - {type: conv_transpose3d, out_channels: 4, kernel_size: 2, stride: 2, output_size: {like: e1}}
  - {type: concat, inputs: [e1, .]}
  - {type: avg_pool3d, kernel_size: [1, 2, 2], ceil_mode: true}
  - {type: upsample, size: {like: e1}, mode: trilinear}
  - {type: concat, inputs: [e1, .]}
""",
    "segnet_1d": """
input: [1, 2, 30]
layers:
  - {name: e1, type: conv1d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: p1, type: max_pool1d, kernel_size: 2}
  - {type: conv1d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: p2, type: max_pool1d, kernel_size: 3, stride: 2, padding: 1}
  - {type: relu}
  - {type: max_unpool1d, kernel_size: 3, stride: 2, padding: 1, indices: p2, output_size: {like: p1}}
  - {type: max_unpool1d, kernel_size: 2, indices: p1, output_size: {like: e1}}
  - {type: conv1d, out_channels: 1, kernel_size: 3, padding: 1}
""",
    "segnet_3d": """
input: [1, 2, 6, 8, 10]
layers:
  - {name: p1, type: max_pool3d, kernel_size: 2, from: input}
  - {type: conv3d, out_channels: 2, kernel_size: 3, padding: 1}
  - {type: max_unpool3d, kernel_size: 2, indices: p1}
  - {type: MaxPool3d, name: p2, kernel_size: [1, 2, 2]}
  - {type: MaxUnpool3d, kernel_size: [1, 2, 2], indices: p2}
""",
}


def prop_of(name: str, shape: tuple[int, ...] | None = None) -> Any:
    return propagate(loads(ARCHS[name]), shape)


@pytest.mark.parametrize("name", ARCHS)
def test_valid_sizes_agree_with_brute_force(name: str) -> None:
    sizes = valid_input_sizes(loads(ARCHS[name]))
    assert sizes.dims is not None, sizes.reason
    assert_exact(loads(ARCHS[name]), name)


def test_valid_sizes_of_the_1d_stack() -> None:
    """conv s2, max pool s2 and avg pool k2 after a x4 then x2 upsampling line up for every L; the
    reflect padding of the first conv (3 each side) needs L >= 4."""
    dims = valid_input_sizes(loads(ARCHS["vocoder_1d"])).dims
    assert dims is not None and [(d.period, d.smallest) for d in dims] == [(1, (4,))]


@pytest.mark.parametrize("name", ARCHS)
def test_receptive_fields_agree_with_brute_force(name: str) -> None:
    prop = prop_of(name)
    assert [r.receptive_field for r in prop.layers] == brute_fields(prop)


@pytest.mark.parametrize("name", ARCHS)
def test_export_builds_the_same_module(name: str) -> None:
    check_against_torch(prop_of(name))


@pytest.mark.parametrize("name", ARCHS)
def test_export_computes_what_the_numeric_engine_computes(name: str) -> None:
    """The exported module, given the numeric stack's weights, gives the numeric stack's output."""
    torch = pytest.importorskip("torch")
    prop = prop_of(name)
    stack = NumericStack(prop, seed=3, dtype="float64")
    for weights in stack.weights:
        if "running_var" in weights:
            weights["running_var"][...] = np.linspace(0.5, 1.5, weights["running_var"].size)
            weights["running_mean"][...] = np.linspace(-1, 1, weights["running_mean"].size)
    namespace = exported(prop)
    model = namespace[class_name(prop.arch.name, prop.arch.file)]().double().eval()
    for layer, weights in zip(model.layers, stack.weights):
        for key, value in weights.items():
            with torch.no_grad():
                getattr(layer, key).copy_(torch.from_numpy(value))
    x = stack.random_input()
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    # upsampling computes its source positions in float32, as PyTorch's float kernels do
    np.testing.assert_allclose(stack.run(x, keep_all=True)[-1], expected, rtol=1e-5, atol=1e-5)


def test_like_takes_the_named_tensors_size() -> None:
    rows = prop_of("like_1d").layers
    assert [r.output for r in rows] == [(1, 4, 19), (1, 8, 10), (1, 4, 19), (1, 4, 19), (1, 2, 38), (1, 4, 38), (1, 4, 10)]
    assert "output_size like e1 19 -> output_padding 0" in rows[2].notes
    assert "output_size like input 38 -> output_padding 1" in rows[4].notes


def test_like_sizes_are_valid_where_output_padding_alone_is_not() -> None:
    """Without like: fixed output_paddings line the skips up for a quarter of the input sizes only
    (L even, L/2 odd)."""
    fixed = ARCHS["like_1d"].replace("output_size: {like: e1}", "output_padding: 0").replace(
        "output_size: {like: input}", "output_padding: 1")
    assert [(d.period, d.smallest) for d in valid_input_sizes(loads(ARCHS["like_1d"])).dims] == [(1, (1,))]
    assert [(d.period, d.smallest) for d in valid_input_sizes(loads(fixed)).dims] == [(4, (2,))]
    assert_exact(loads(fixed))


LIKE_ERRORS = [
    ("input: [1, 2, 8]\nlayers:\n  - {name: a, type: conv1d, out_channels: 2, kernel_size: 3}\n"
     "  - {type: conv_transpose1d, out_channels: 2, kernel_size: 2, stride: 2, output_size: {like: a}}\n",
     "requested an output size of (6,), but valid sizes range from [12] to [13] (for an input of [6])"),
    ("input: [1, 2, 8]\nlayers:\n  - {type: conv_transpose1d, out_channels: 2, kernel_size: 2, stride: 2, "
     "output_size: {like: b}}\n", "unknown"),
    ("input: [1, 2, 8, 8]\nlayers:\n  - {name: a, type: flatten}\n  - {type: upsample, size: {like: a}, from: input}\n",
     "size like a has 0 spatial dims"),
    ("input: [1, 2, 8]\nlayers:\n  - {type: upsample, size: {like: 3}}\n", "expects the name of an earlier tensor"),
]


@pytest.mark.parametrize("text, words", LIKE_ERRORS, ids=["out-of-range", "unknown", "rank", "not-a-name"])
def test_like_errors(text: str, words: str) -> None:
    with pytest.raises(ConvtoolError) as caught:
        propagate(loads(text))
    assert words in str(caught.value)


UNPOOLS = json.loads((Path(__file__).parent / "golden" / "layers_nd.json").read_text())["unpool"]


@pytest.mark.parametrize("case", UNPOOLS, ids=[f"max_unpool{c['dims']}d-{i}" for i, c in enumerate(UNPOOLS)])
def test_max_unpool_equals_torch_golden(case: dict[str, Any]) -> None:
    n = case["dims"]
    text = (f"input: {case['input']}\nlayers:\n  - {{name: p, type: max_pool{n}d, {case['pool'][1:-1]}}}\n"
            f"  - {{type: max_unpool{n}d, indices: p, {case['unpool'][1:-1]}}}\n")
    if "error" in case:
        with pytest.raises(ConvtoolError) as caught:
            propagate(loads(text))
        assert case["error"] in str(caught.value)
    else:
        assert list(propagate(loads(text)).output) == case["output"]


UNPOOL_ERRORS = [
    ("input: [1, 2, 8]\nlayers:\n  - {name: p, type: avg_pool1d, kernel_size: 2}\n"
     "  - {type: max_unpool1d, kernel_size: 2, indices: p}\n",
     "indices: p must name a max_pool1d layer, whose indices max_unpool1d reads, but it is p (avg_pool1d)"),
    ("input: [1, 2, 8]\nlayers:\n  - {type: max_unpool1d, kernel_size: 2, indices: input}\n",
     "but it is the network's input"),
    ("input: [1, 2, 8]\nlayers:\n  - {name: p, type: max_pool1d, kernel_size: 2}\n  - {type: max_pool1d, kernel_size: 2}\n"
     "  - {type: max_unpool1d, kernel_size: 2, indices: p}\n",
     "Expected shape of indices to be same as that of the input tensor ([1, 2, 2]) but got indices tensor with shape: "
     "[1, 2, 4]"),
    ("input: [1, 2, 8]\nlayers:\n  - {type: max_unpool1d, kernel_size: 2}\n", "missing key 'indices'"),
]


@pytest.mark.parametrize("text, words", UNPOOL_ERRORS, ids=["not-max", "input", "shape", "missing"])
def test_max_unpool_errors(text: str, words: str) -> None:
    with pytest.raises(ConvtoolError) as caught:
        propagate(loads(text))
    assert words in str(caught.value)


def test_max_unpool_says_when_indices_can_point_past_its_output() -> None:
    odd = propagate(loads(ARCHS["segnet_3d"].replace("[1, 2, 6, 8, 10]", "[1, 2, 6, 8, 9]")))
    assert odd.layers[2].output == (1, 2, 6, 8, 8)
    assert "indices of p1 reach 430, past this 6x8x8 output" in odd.layers[2].notes[0]
    assert not prop_of("segnet_3d").layers[2].notes


def test_export_of_max_unpool_keeps_the_pools_indices() -> None:
    from convtool.export import export

    text = export(prop_of("segnet_1d"))
    assert "nn.MaxPool1d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False, return_indices=True)" in text
    assert "x, p1_indices = layers[1](x)" in text
    assert "x = layers[6](x, p1_indices, e1)" in text


# -- the rank decides whether a kind fits ------------------------------------------------------

RANK_ERRORS = [
    ("conv2d", "[1, 3, 8]", "conv2d in an architecture file needs an (N, C, H, W) input"),
    ("conv1d", "[1, 3, 8, 8]", "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: [1, 3, 8, 8]"),
    ("conv3d", "[1, 3, 8, 8]", "conv3d in an architecture file needs an (N, C, D, H, W) input"),
    ("max_pool1d", "[1, 3, 8, 8]", "max_pool1d expects a 3D (N, C, L) input, but got input of size: [1, 3, 8, 8]"),
    ("avg_pool3d", "[1, 3, 8]", "avg_pool3d expects a 5D (N, C, D, H, W) input, but got input of size: [1, 3, 8]"),
    ("adaptive_max_pool2d", "[1, 3, 8, 8, 8]", "adaptive_max_pool2d expects a 4D (N, C, H, W) input"),
    ("reflection_pad2d", "[1, 3, 8]", "reflection_pad2d expects a 4D (N, C, H, W) input"),
    ("zero_pad1d", "[1, 3, 8, 8, 8]", "zero_pad1d expects a 3D (N, C, L) input"),
    ("batch_norm3d", "[1, 3, 8, 8]", "expected 5D input (got 4D input)"),
    ("instance_norm1d", "[1, 3]", "instance_norm1d in an architecture file needs a batched 3D input"),
]
OPTIONS = {"conv": "out_channels: 2, kernel_size: 1", "adaptive": "output_size: 1", "pool": "kernel_size: 2",
           "pad": "padding: 1", "norm": ""}


@pytest.mark.parametrize("kind, shape, words", RANK_ERRORS, ids=[e[0] for e in RANK_ERRORS])
def test_the_rank_decides_whether_a_kind_fits(kind: str, shape: str, words: str) -> None:
    options = next(v for k, v in OPTIONS.items() if k in kind)
    with pytest.raises(ConvtoolError) as caught:
        propagate(loads(f"input: {shape}\nlayers:\n  - {{type: {kind}, {options}}}\n"))
    assert words in str(caught.value)


def test_a_2d_tensor_is_told_which_kind_fits() -> None:
    with pytest.raises(ConvtoolError) as caught:
        propagate(loads("input: [1, 3, 8, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 2, kernel_size: 1}\n"))
    assert "this 5D tensor takes conv3d" in str(caught.value.to_dict())


# -- mirroring in 1-D and 3-D ------------------------------------------------------------------


@st.composite
def encoders_nd(draw: Any) -> tuple[list[dict[str, Any]], list[int]]:
    """A random 1-D or 3-D encoder of convolutions and pools, and an input for it."""
    dims = draw(st.sampled_from([1, 3]))
    top = 40 if dims == 1 else 10
    channels = draw(st.integers(1, 3))
    shape = [1, channels, *(draw(st.integers(1, top)) for _ in range(dims))]
    per_dim = lambda low, high: [draw(st.integers(low, high)) for _ in range(dims)]  # noqa: E731
    layers: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["conv", "conv", "max_pool", "avg_pool"]))
        k, s = per_dim(1, 4), per_dim(1, 3)
        if kind == "conv":
            out = draw(st.integers(1, 3))
            layers.append({"type": f"conv{dims}d", "out_channels": out, "kernel_size": k, "stride": s,
                           "padding": per_dim(0, 2), "dilation": per_dim(1, 2)})
            channels = out
        else:
            layers.append({"type": f"{kind}{dims}d", "kernel_size": k, "stride": s, "ceil_mode": draw(st.booleans()),
                           "padding": [draw(st.integers(0, kk // 2)) for kk in k]})
        if draw(st.booleans()):
            layers.append({"type": f"batch_norm{dims}d"})
    return layers, shape


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(encoders_nd())
def test_mirrored_decoder_restores_the_input_shape_nd(case: tuple[list[dict[str, Any]], list[int]]) -> None:
    encoder, shape = case
    prop = expanded(encoder, shape)
    assert prop.output == tuple(shape)
    dims = len(shape) - 2
    assert all(r.type in (f"conv_transpose{dims}d", f"batch_norm{dims}d") for r in prop.layers if r.section == "decoder")


def test_mirrored_3d_decoder_under_torch() -> None:
    layers = [{"type": "conv3d", "out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1},
              {"type": "max_pool3d", "kernel_size": [1, 2, 2]}]
    prop = expanded(layers, [1, 2, 7, 9, 10])
    assert prop.output == (1, 2, 7, 9, 10)
    check_against_torch(prop)
