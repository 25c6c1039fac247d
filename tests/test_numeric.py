"""The numeric engine against a naive reference written from the definitions, the adjoint
identity, PyTorch's initialisation and its messages (no torch needed; see test_numeric_torch.py)."""

from __future__ import annotations

import os
import random
import re
import time
import tracemalloc
from math import sqrt
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import naive
from support.numeric_cases import arrays, close, conv_case, public_agrees, reference, transposed_case

from convtool import numeric, shape
from convtool.errors import ConfigError, OutputSizeError
from convtool.params import ConvParams

# -- random configurations ------------------------------------------------------------------


RNG = random.Random(3)
TRANSPOSED = [transposed_case(RNG) for _ in range(360)]
CONVS = [conv_case(RNG) for _ in range(240)]


# -- the engine against the naive reference (600 configurations, every strategy) -------------


@pytest.mark.parametrize("index", range(len(TRANSPOSED)))
def test_conv_transpose2d_matches_naive(index: int, monkeypatch: pytest.MonkeyPatch, fresh_plans: None) -> None:
    case = TRANSPOSED[index]
    dtype = np.float32 if index % 4 == 3 else np.float64
    if index % 5 == 0:  # tiny tiles: bands of rows, recomputed halos
        monkeypatch.setattr(numeric.plan, "TILE_BYTES", 64)
        monkeypatch.setattr(numeric.plan, "TILE_COLUMNS", 1)
    x, w, b = arrays(case, True, dtype, index)
    ref, params = reference(case, True, x, w, b)
    args = dict(stride=case["stride"], padding=case["padding"], output_padding=case["output_padding"],
                groups=case["groups"], dilation=case["dilation"])
    for strategy in numeric.strategies(params, x.shape[-2:]):
        out = numeric.run(params, x, w, b, strategy=strategy)
        assert close(out, ref, dtype), f"{strategy}: {case}"
    assert public_agrees(numeric.conv_transpose2d, x, ref, case, w, b, **args)


@pytest.mark.parametrize("index", range(len(CONVS)))
def test_conv2d_matches_naive(index: int, monkeypatch: pytest.MonkeyPatch, fresh_plans: None) -> None:
    case = CONVS[index]
    dtype = np.float32 if index % 4 == 3 else np.float64
    if index % 5 == 0:
        monkeypatch.setattr(numeric.plan, "TILE_BYTES", 64)
        monkeypatch.setattr(numeric.plan, "TILE_COLUMNS", 1)
    x, w, b = arrays(case, False, dtype, 1000 + index)
    ref, params = reference(case, False, x, w, b)
    for strategy in numeric.strategies(params, x.shape[-2:]):
        assert close(numeric.run(params, x, w, b, strategy=strategy), ref, dtype), f"{strategy}: {case}"
    assert public_agrees(numeric.conv2d, x, ref, case, w, b, case["stride"], case["padding"], case["dilation"],
                         case["groups"])


def test_random_configurations_cover_the_edges() -> None:
    assert len(TRANSPOSED) + len(CONVS) >= 500
    assert any(c["groups"] > 1 for c in TRANSPOSED) and any(c["groups"] > 1 for c in CONVS)
    assert any(max(c["dilation"]) > 1 for c in TRANSPOSED) and any(max(c["dilation"]) > 1 for c in CONVS)
    assert any(op >= s for c in TRANSPOSED for op, s in zip(c["output_padding"], c["stride"]))
    assert any(p > d * (k - 1) for c in TRANSPOSED for p, d, k in zip(c["padding"], c["dilation"], c["kernel"]))
    assert any(c["kernel"] == (1, 1) for c in TRANSPOSED) and any(max(c["kernel"]) >= 6 for c in TRANSPOSED)
    assert any(c["batch"] > 1 for c in TRANSPOSED) and any(c["unbatched"] for c in TRANSPOSED)
    assert any(c["padding"] == "same" and max(c["kernel"]) % 2 == 0 for c in CONVS)


def test_a_large_kernel_over_its_stride_reads_its_input_in_place() -> None:
    """k8 s4: gather's stack would hold the input four times over; shifts is chosen, and every
    offset's product (some planes with zero weights, a bias, two groups) sums to the reference."""
    params = ConvParams.conv(8, 4, 2, in_channels=32, out_channels=64)
    assert numeric.make_plan(params, (16, 32, 128, 128), (16, 64, 32, 32), 4).strategy == "shifts"
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 6, 23, 21)), rng.standard_normal((4, 3, 8, 7)), rng.standard_normal(4)
    grouped = ConvParams.conv((8, 7), (4, 3), (2, 1), groups=2, bias=True, dilation=(1, 2))
    ref = naive.conv(x, w, b, stride=(4, 3), padding=(2, 1), dilation=(1, 2), groups=2)
    assert close(numeric.run(grouped, x, w, b, strategy="shifts"), ref, np.float64)


def test_every_strategy_is_chosen_somewhere() -> None:
    """The cost model's choices on the benchmark's kind of layers (not its exact verdicts)."""
    chosen = set()
    for cin, cout, k, s, p, size, g in [(512, 256, 4, 2, 1, 4, 1), (64, 3, 4, 2, 1, 32, 1),
                                        (256, 256, 4, 2, 1, 32, 256), (128, 64, 2, 2, 0, 136, 1),
                                        (100, 512, 4, 1, 0, 1, 1)]:
        params = ConvParams.conv_transpose(k, s, p, 0, g, in_channels=cin, out_channels=cout)
        out = shape.output_shape(params, (16, cin, size, size))
        chosen.add(numeric.make_plan(params, (16, cin, size, size), out, 4).strategy)
    assert chosen == set(numeric.STRATEGIES["conv_transpose2d"])


# -- properties -----------------------------------------------------------------------------

layer_dims = st.tuples(
    st.integers(1, 4),  # kernel
    st.integers(1, 3),  # stride
    st.integers(1, 3),  # dilation
    st.integers(1, 6),  # input length of the transposed layer
)


@settings(max_examples=150, deadline=None)
@given(h=layer_dims, w=layer_dims, data=st.data())
def test_adjoint_identity(h: tuple[int, ...], w: tuple[int, ...], data: st.DataObject) -> None:
    """<conv2d(x, W), y> = <x, conv_transpose2d(y, W)> for matching parameters; when
    output_padding >= stride (legal through dilation) conv2d sees op // stride more positions,
    which the identity crops."""
    groups = data.draw(st.sampled_from([1, 2, 3]))
    cin, cout = groups * data.draw(st.integers(1, 3)), groups * data.draw(st.integers(1, 3))
    dims = []
    for k, s, d, length in (h, w):
        p = data.draw(st.integers(0, d * (k - 1)))
        op = data.draw(st.integers(0, max(s, d) - 1))
        out = (length - 1) * s - 2 * p + d * (k - 1) + op + 1
        if out + 2 * p < d * (k - 1) + 1 or out < 1:
            return
        dims.append((k, s, d, p, op, length, out))
    (kh, sh, dh, ph, oph, lh, outh), (kw, sw, dw, pw, opw, lw, outw) = dims
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    weight = rng.standard_normal((cin, cout // groups, kh, kw))
    y = rng.standard_normal((2, cin, lh, lw))
    x = rng.standard_normal((2, cout, outh, outw))
    forward = numeric.conv2d(x, weight, None, (sh, sw), (ph, pw), (dh, dw), groups)
    assert forward.shape[2:] == (lh + oph // sh, lw + opw // sw)
    back = numeric.conv_transpose2d(y, weight, None, (sh, sw), (ph, pw), (oph, opw), groups, (dh, dw))
    lhs = float(np.sum(forward[:, :, :lh, :lw] * y))
    rhs = float(np.sum(x * back))
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(dims=st.tuples(layer_dims, layer_dims), transposed=st.booleans(), batch=st.sampled_from([None, 1, 2]))
def test_output_shape_is_the_shape_engines(dims: tuple[tuple[int, ...], ...], transposed: bool, batch: int | None) -> None:
    (kh, sh, dh, lh), (kw, sw, dw, lw) = dims
    if transposed:
        params = ConvParams.conv_transpose((kh, kw), (sh, sw), 0, 0, 1, True, (dh, dw), in_channels=2, out_channels=3)
    else:
        params = ConvParams.conv((kh, kw), (sh, sw), (kh // 2, kw // 2), (dh, dw), in_channels=2, out_channels=3)
    x_shape = (2, lh, lw) if batch is None else (batch, 2, lh, lw)
    layer = numeric.ConvTranspose2d if transposed else numeric.Conv2d
    module = layer(2, 3, (kh, kw), (sh, sw), **({} if transposed else {"padding": (kh // 2, kw // 2)}),
                   dilation=(dh, dw), rng=0)
    try:
        expected = shape.output_shape(params, x_shape)
    except ConfigError as error:
        with pytest.raises(ConfigError, match=re.escape(error.message)):
            module(np.zeros(x_shape, np.float32))
        return
    assert module(np.zeros(x_shape, np.float32)).shape == expected


@settings(max_examples=60, deadline=None)
@given(k=st.integers(1, 5), s=st.integers(1, 4), p=st.integers(0, 3), d=st.integers(1, 3), size=st.integers(1, 6))
def test_output_size_range_is_what_the_module_accepts(k: int, s: int, p: int, d: int, size: int) -> None:
    layer = numeric.ConvTranspose2d(1, 1, k, s, min(p, d * (k - 1)), dilation=d, rng=0)
    x = np.ones((1, 1, size, size), np.float32)
    (low, _), (high, _) = shape.output_size_range(layer.params, (size, size))
    for request in range(low - 2, high + 3):
        if low <= request <= high and request >= 1:
            assert layer(x, output_size=(request, request)).shape == (1, 1, request, request)
        else:
            with pytest.raises(ConfigError):
                layer(x, output_size=(request, request))


# -- modules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "bound"),
    [
        (numeric.ConvTranspose2d(64, 32, 3, rng=1), 0.058926),  # PyTorch: bound 0.058926
        (numeric.ConvTranspose2d(64, 32, (3, 5), groups=4, rng=2), 0.091287),  # weight (64, 8, 3, 5)
        (numeric.Conv2d(64, 32, 3, rng=3), 1 / sqrt(64 * 9)),
        (numeric.Conv2d(16, 32, 3, groups=4, rng=4), 1 / sqrt(4 * 9)),
    ],
    ids=["transpose", "transpose-groups", "conv", "conv-groups"],
)
def test_init_bounds_use_fan_in_of_weight_dim_1(layer: Any, bound: float) -> None:
    w, b = layer.weight, layer.bias
    assert w.shape == shape.weight_shape(layer.params) and b.shape == (layer.params.out_channels,)
    assert w.dtype == b.dtype == np.float32
    assert bound * 0.95 < np.abs(w).max() <= bound * 1.0001
    assert np.abs(b).max() <= bound * 1.0001
    assert abs(w.mean()) < bound / 10


def test_init_is_seeded_and_typed() -> None:
    a = numeric.ConvTranspose2d(4, 6, 3, rng=7, dtype=np.float64)
    b = numeric.ConvTranspose2d(4, 6, 3, rng=np.random.default_rng(7), dtype=np.float64)
    assert a.weight.dtype == np.float64 and np.array_equal(a.weight, b.weight)
    assert numeric.Conv2d(4, 6, 3, bias=False).bias is None
    assert repr(numeric.ConvTranspose2d(16, 33, 3, 2, 1, 1)) == (
        "ConvTranspose2d(16, 33, kernel_size=3, stride=2, padding=1, output_padding=1)"
    )


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes_pad_like_f_pad(mode: str) -> None:
    layer = numeric.Conv2d(2, 3, (3, 2), padding=(2, 1), padding_mode=mode, rng=0, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 6))
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (1, 1)), mode={"replicate": "edge", "circular": "wrap"}.get(mode, mode))
    assert close(layer(x), naive.conv(padded, layer.weight, layer.bias), np.float64)


def test_padding_mode_limits_are_f_pads() -> None:
    with pytest.raises(ConfigError, match="Padding size should be less than the corresponding input dimension"):
        numeric.Conv2d(1, 1, 3, padding=3, padding_mode="reflect")(np.zeros((1, 1, 3, 8)))
    with pytest.raises(ConfigError, match="wrapping around more than once"):
        numeric.Conv2d(1, 1, 3, padding=4, padding_mode="circular")(np.zeros((1, 1, 3, 8)))


def test_output_size_picks_output_padding() -> None:
    layer = numeric.ConvTranspose2d(3, 2, 3, stride=2, padding=1, rng=0, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((1, 3, 6, 6))
    full = layer(x, output_size=(12, 11))
    expected = numeric.conv_transpose2d(x, layer.weight, layer.bias, 2, 1, (1, 0))
    assert np.array_equal(full, expected)
    assert layer(x, output_size=[9, 2, 12, 11]).shape == (1, 2, 12, 11)  # leading entries ignored
    with pytest.raises(OutputSizeError, match=r"requested an output size of \(13, 12\), but valid sizes range from \[11, 11\] to \[12, 12\]"):
        layer(x, output_size=(13, 12))


# -- validation: PyTorch's checks, in its words ---------------------------------------------

X = np.zeros((1, 4, 5, 5))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: numeric.conv_transpose2d(np.zeros((5, 5)), np.zeros((4, 3, 3, 3))),
         "Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of size: [5, 5]"),
        (lambda: numeric.conv2d(X, np.zeros((6, 4, 3, 3)), groups=0), "non-positive groups is not supported"),
        (lambda: numeric.conv_transpose2d(X, np.zeros((4, 3, 3))),
         "expected stride to be a single integer value or a list of 1 values to match the convolution dimensions, but got stride=[1, 1]"),
        (lambda: numeric.conv2d(X, np.zeros((4, 3))), "weight should have at least three dimensions"),
        (lambda: numeric.conv_transpose2d(X, np.zeros((4, 3, 3, 3)), padding=-1), "negative padding is not supported"),
        (lambda: numeric.conv_transpose2d(X, np.zeros((4, 3, 3, 3)), stride=0), "non-positive stride is not supported"),
        (lambda: numeric.conv_transpose2d(X, np.zeros((4, 3, 3, 3)), groups=8),
         "Given groups=8, expected weight to be at least 8 at dimension 0, but got weight of size [4, 3, 3, 3] instead"),
        (lambda: numeric.conv_transpose2d(X, np.zeros((4, 3, 3, 3)), groups=3),
         "Given groups=3, expected weight to be divisible by 3 at dimension 0, but got weight of size [[4, 3, 3, 3]] instead"),
        (lambda: numeric.conv_transpose2d(np.zeros((1, 5, 5, 5)), np.zeros((4, 6, 3, 3))),
         "Given transposed=1, weight of size [4, 6, 3, 3], expected input[1, 5, 5, 5] to have 4 channels, but got 5 channels instead"),
        (lambda: numeric.conv2d(X, np.zeros((6, 3, 3, 3))),
         "Given groups=1, weight of size [6, 3, 3, 3], expected input[1, 4, 5, 5] to have 3 channels, but got 4 channels instead"),
        (lambda: numeric.conv_transpose2d(X, np.zeros((4, 3, 3, 3)), np.zeros(4)),
         "Given transposed=1, weight of size [4, 3, 3, 3], expected bias to be 1-dimensional with 3 elements, but got bias of size [4] instead"),
        (lambda: numeric.conv2d(X, np.zeros((6, 4, 3, 3)), np.zeros(5)),
         "Given weight of size [6, 4, 3, 3], expected bias to be 1-dimensional with 6 elements, but got bias of size [5] instead"),
        (lambda: numeric.conv_transpose2d(X, np.zeros((4, 3, 3, 3)), stride=2, output_padding=2),
         "output padding must be smaller than either stride or dilation, but got output_padding_height: 2 output_padding_width: 2 stride_height: 2 stride_width: 2 dilation_height: 1 dilation_width: 1"),
        (lambda: numeric.conv_transpose2d(np.zeros((1, 4, 4, 4)), np.zeros((4, 3, 3, 3)), padding=3),
         "Given input size per channel: (4 x 4). Calculated output size per channel: (0 x 0). Output size is too small"),
        (lambda: numeric.conv2d(X, np.zeros((6, 4, 6, 6))),
         "Calculated padded input size per channel: (5 x 5). Kernel size: (6 x 6). Kernel size can't be greater than actual input size"),
        (lambda: numeric.conv2d(X, np.zeros((6, 4, 3, 3)), padding="same", stride=2),
         "padding='same' is not supported for strided convolutions"),
        (lambda: numeric.conv_transpose2d(X, np.zeros((4, 3, 3, 3), np.float32)), "expected scalar type Double but found Float"),
        (lambda: numeric.conv2d(X.astype(np.float32), np.zeros((6, 4, 3, 3), np.float32), np.zeros(6)),
         "Input type (float) and bias type (double) should be the same"),
        (lambda: numeric.conv2d(X.astype(int), np.zeros((6, 4, 3, 3), int)),
         "conv2d computes in float32 or float64, but got input of dtype int64"),
        (lambda: numeric.ConvTranspose2d(4, 4, 3, padding_mode="reflect"),
         'Only "zeros" padding mode is supported for ConvTranspose2d'),
        (lambda: numeric.ConvTranspose2d(4, 6, 3, groups=4), "out_channels must be divisible by groups"),
    ],
    ids=lambda v: v[:48] if isinstance(v, str) else "call",
)
def test_pytorch_messages(call: Any, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        call()
    assert str(error.value) == message


def test_conv_transpose2d_takes_a_bias_of_another_dtype_like_pytorch() -> None:
    out = numeric.conv_transpose2d(np.ones((1, 1, 2, 2), np.float32), np.ones((1, 1, 1, 1), np.float32), np.ones(1))
    assert out.dtype == np.float32 and np.array_equal(out, np.full((1, 1, 2, 2), 2, np.float32))


@pytest.mark.parametrize("strategy", numeric.strategies(ConvParams.conv_transpose(1, 2), (3, 3)))
def test_outputs_no_tap_reaches_get_the_bias(strategy: str) -> None:
    x, w, b = np.ones((1, 1, 3, 3)), np.full((1, 2, 1, 1), 2.0), np.array([5.0, 7.0])
    gaps = numeric.run(ConvParams.conv_transpose(1, 2), x, w, b, strategy=strategy)  # k1 s2: odd rows/cols
    assert np.array_equal(gaps[0, 0], [[7, 5, 7, 5, 7], [5, 5, 5, 5, 5]] * 2 + [[7, 5, 7, 5, 7]])
    nothing = numeric.run(ConvParams.conv_transpose(1, 2, 1), x[..., :2, :2], w, b, strategy=strategy)
    assert np.array_equal(nothing, b.reshape(1, 2, 1, 1))  # k1 s2 p1 on 2x2: no tap reaches it


def test_zero_batch_gives_an_empty_output() -> None:
    assert numeric.conv_transpose2d(np.zeros((0, 4, 5, 5)), np.zeros((4, 6, 3, 3))).shape == (0, 6, 7, 7)
    assert numeric.conv2d(np.zeros((0, 4, 5, 5)), np.zeros((6, 4, 3, 3))).shape == (0, 6, 3, 3)


def test_zero_input_channels_give_zero_output_channels_as_pytorch() -> None:
    """PyTorch's empty-input path: (N, 0, H, W) in gives (N, 0, H', W') out, whatever the weight's
    output channels and the bias; a transposed weight with no input channels is refused."""
    x, w, b = np.zeros((2, 0, 5, 5)), np.zeros((4, 0, 3, 3)), np.ones(4)
    assert numeric.conv2d(x, w, b).shape == (2, 0, 3, 3)
    assert numeric.conv2d(x, w, b, padding=1, groups=2).shape == (2, 0, 5, 5)
    assert numeric.conv2d(x[0], w).shape == (0, 3, 3)
    with pytest.raises(ConfigError, match=re.escape("expected weight to be at least 1 at dimension 0")):
        numeric.conv_transpose2d(x, np.zeros((0, 4, 3, 3)))


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("transposed", [True, False])
def test_grouped_layers_run_their_groups_on_threads(
    threads: int, transposed: bool, monkeypatch: pytest.MonkeyPatch, fresh_plans: None
) -> None:
    """Five groups over 1-3 threads (an uneven share each), every strategy, against the reference."""
    monkeypatch.setattr(numeric.threads, "_threads", threads)
    monkeypatch.setattr(numeric.cost, "SPLIT_SECONDS", 0.0)
    rng = np.random.default_rng(threads)
    x = rng.standard_normal((2, 10, 7, 6))
    if transposed:
        w, b = rng.standard_normal((10, 1, 3, 3)), rng.standard_normal(5)
        params = ConvParams.conv_transpose(3, 2, 1, 1, 5)
        ref = naive.conv_transpose(x, w, b, stride=(2, 2), padding=(1, 1), output_padding=(1, 1), groups=5, dilation=(1, 1))
    else:
        w, b = rng.standard_normal((15, 2, 3, 3)), rng.standard_normal(15)
        params = ConvParams.conv(3, 2, 1, 1, 5)
        ref = naive.conv(x, w, b, stride=(2, 2), padding=((1, 1), (1, 1)), dilation=(1, 1), groups=5)
    for strategy in numeric.strategies(params, x.shape[-2:]):
        assert close(numeric.run(params, x, w, b, strategy=strategy), ref, np.float64), strategy
    plan = numeric.make_plan(shape.functional_params(transposed, x.shape, w.shape, b.shape, stride=2, padding=1,
                                                     groups=5, **({"output_padding": 1} if transposed else {})),
                             x.shape, ref.shape, 8, None, threads)
    assert plan.parts == threads


def fake_blas(threads: int = 4) -> tuple[numeric.threads.BlasThreads, dict[str, Any]]:
    """A stand-in for numpy's BLAS thread count, and the record of what convtool set."""
    state: dict[str, Any] = {"threads": threads, "set": []}

    def set_(count: int) -> None:
        state["set"].append(count)
        state["threads"] = count

    return numeric.threads.BlasThreads(lambda: state["threads"], set_), state


def test_how_threads_share_a_layer(monkeypatch: pytest.MonkeyPatch, fresh_plans: None) -> None:
    """Groups when the products are too small for BLAS to thread; else, when convtool can put
    each thread's BLAS on one core, images, bands of rows, or output channels."""
    monkeypatch.setattr(numeric.threads, "blas_threads", lambda: fake_blas()[0])
    dense = ConvParams.conv_transpose(4, 2, 1, in_channels=256, out_channels=128)
    depthwise = ConvParams.conv_transpose(4, 2, 1, groups=256, in_channels=256, out_channels=256)
    unet = ConvParams.conv(2, 2, in_channels=64, out_channels=128)
    cases = [
        (dense, (16, 256, 8, 8), "scatter", ("images", 2)),
        (dense.replace(groups=2), (16, 256, 8, 8), "scatter", ("images", 2)),
        (depthwise, (16, 256, 32, 32), "gather", ("groups", 2)),
        (dense, (1, 256, 64, 64), "scatter", ("tiles", 2)),
        (dense, (1, 256, 16, 16), "columns", ("channels", 2)),
        (unet, (1, 64, 272, 272), "im2col", ("tiles", 2)),
        (unet, (1, 64, 272, 272), "columns", ("", 1)),  # its im2col would be done twice
        (dense, (1, 256, 2, 2), "columns", ("", 1)),  # too little work
        (depthwise, (1, 256, 2, 2), "gather", ("", 1)),
    ]
    for params, in_shape, strategy, expected in cases:
        out_shape = shape.output_shape(params, in_shape)
        plan = numeric.make_plan(params, in_shape, out_shape, 4, strategy, 2)
        assert (plan.split, plan.parts) == expected, (params, in_shape, strategy)
    monkeypatch.setattr(numeric.threads, "blas_threads", lambda: None)  # BLAS threads its own products
    numeric.make_plan.cache_clear()
    plan = numeric.make_plan(dense, (16, 256, 8, 8), (16, 128, 16, 16), 4, "scatter", 2)
    assert (plan.split, plan.parts) == ("", 1)


@pytest.mark.parametrize("index", range(0, 60, 3))
def test_threads_sharing_any_layer_agree_with_the_reference(
    index: int, monkeypatch: pytest.MonkeyPatch, fresh_plans: None
) -> None:
    """Three threads share every layer out (no work is too little), with tiny tiles on some."""
    monkeypatch.setattr(numeric.threads, "blas_threads", lambda: fake_blas()[0])
    monkeypatch.setattr(numeric.cost, "SPLIT_SECONDS", 0.0)
    monkeypatch.setattr(numeric.threads, "_threads", 3)
    if index % 2:
        monkeypatch.setattr(numeric.plan, "TILE_BYTES", 64)
        monkeypatch.setattr(numeric.plan, "TILE_COLUMNS", 1)
    for transposed, case in ((True, TRANSPOSED[index]), (False, CONVS[index])):
        x, w, b = arrays(case, transposed, np.float64, 2000 + index)
        ref, params = reference(case, transposed, x, w, b)
        for strategy in numeric.strategies(params, x.shape[-2:]):
            assert close(numeric.run(params, x, w, b, strategy=strategy), ref, np.float64), (strategy, case)


@pytest.mark.parametrize("strategy", ["scatter", "columns"])
def test_output_channels_shared_out_agree_with_the_reference(
    strategy: str, monkeypatch: pytest.MonkeyPatch, fresh_plans: None
) -> None:
    blas, state = fake_blas(4)
    monkeypatch.setattr(numeric.threads, "blas_threads", lambda: blas)
    monkeypatch.setattr(numeric.cost, "SPLIT_SECONDS", 0.0)
    monkeypatch.setattr(numeric.threads, "_threads", 3)
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((1, 3, 5, 4)), rng.standard_normal((3, 8, 3, 3)), rng.standard_normal(8)
    params = ConvParams.conv_transpose(3, 2, 1, 1, in_channels=3, out_channels=8)
    plan = numeric.make_plan(params, x.shape, (1, 8, 10, 8), 8, strategy, 3)
    assert (plan.split, plan.parts) == ("channels", 3)
    ref = naive.conv_transpose(x, w, b, stride=(2, 2), padding=(1, 1), output_padding=(1, 1))
    assert close(numeric.run(params, x, w, b, strategy=strategy), ref, np.float64)
    assert state["set"] == [1, 4] and state["threads"] == 4


def test_numpys_blas_gets_its_thread_count_back() -> None:
    """With the real BLAS (an OpenBLAS convtool can identify), a shared layer leaves it as it was."""
    blas = numeric.threads.blas_threads()
    if blas is None:
        pytest.skip("numpy's BLAS is not an OpenBLAS convtool controls")
    before = blas.get()
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 32, 32, 32), dtype=np.float32), rng.standard_normal((32, 32, 3, 3), dtype=np.float32)
    params = ConvParams.conv(3, 1, 1, in_channels=32, out_channels=32)
    assert numeric.make_plan(params, x.shape, x.shape, 4, "im2col", 2).split == "images"
    for _ in range(3):
        numeric.run(params, x, w, strategy="im2col")
    assert blas.get() == before


def test_a_failing_share_is_reported_after_every_share_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(numeric.threads, "blas_threads", lambda: None)
    monkeypatch.setattr(numeric.threads, "_threads", 2)
    ended = []

    def fail() -> None:
        raise RuntimeError("share 1")

    def slow() -> None:
        time.sleep(0.05)
        ended.append(True)

    with pytest.raises(RuntimeError, match="share 1"):
        numeric.threads.side_by_side([fail, slow])
    assert ended == [True]


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU affinity is Linux's")
@pytest.mark.parametrize("cpus", [(0, 1), (0, 1, 2, 3)], ids=["as-many-cpus-as-shares", "more-cpus"])
def test_shares_are_kept_on_their_own_cpus_only_when_they_fill_them(
        monkeypatch: pytest.MonkeyPatch, cpus: tuple[int, ...]) -> None:
    """Two shares on a 2-CPU process: each on its own CPU while it runs, the thread free again
    afterwards; with more CPUs than shares, the scheduler places them."""
    pinned: list[set[int]] = []
    threads = numeric.threads
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(cpus))
    monkeypatch.setattr(threads.os, "sched_setaffinity", lambda pid, mask: pinned.append(set(mask)))
    threads.side_by_side([lambda: None, lambda: None])
    if len(cpus) == 2:
        assert sorted(map(sorted, pinned)) == [[0], [0, 1], [0, 1], [1]]  # each pinned, then let go
    else:
        assert pinned == []


def test_blas_control_is_none_when_the_map_cannot_tell(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    maps = tmp_path / "maps"
    maps.write_bytes(b"7f00-7f01 r--p 0 00:00 1 /data/\xff\xfe.bin\n"
                     b"7f01-7f02 r-xp 0 00:00 2 /nowhere/libopenblas.so\n")
    for content in (None, maps):
        monkeypatch.setattr(numeric.threads, "MAPS", str(content or tmp_path / "missing"))
        numeric.threads.blas_threads.cache_clear()
        try:
            assert numeric.threads.blas_threads() is None
        finally:
            numeric.threads.blas_threads.cache_clear()


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_set_num_threads_wants_a_positive_integer(bad: object) -> None:
    with pytest.raises(ConfigError, match="set_num_threads expects a positive integer"):
        numeric.set_num_threads(bad)  # type: ignore[arg-type]


def test_set_num_threads_takes_numpy_integers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(numeric.threads, "_threads", numeric.get_num_threads())
    numeric.set_num_threads(np.int64(3))
    assert numeric.get_num_threads() == 3 and type(numeric.get_num_threads()) is int


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown strategy 'scatter' for conv2d"):
        numeric.run(ConvParams.conv(3), X, np.zeros((6, 4, 3, 3)), strategy="scatter")
    with pytest.raises(ConfigError, match="'gemm' does not apply to this layer on a 5x5 input"):
        numeric.run(ConvParams.conv(3), X, np.zeros((6, 4, 3, 3)), strategy="gemm")
    # judged on the layer the arrays make (the weight's kernel), after PyTorch's own checks
    assert numeric.run(ConvParams.conv(3), X, np.ones((6, 4, 1, 1)), strategy="gemm").shape == (1, 6, 5, 5)
    with pytest.raises(ConfigError, match="'gemm' does not apply"):
        numeric.run(ConvParams.conv(1), X, np.zeros((6, 4, 3, 3)), strategy="gemm")
    with pytest.raises(ConfigError, match="Kernel size can't be greater than actual input size"):
        numeric.run(ConvParams.conv(3), X[..., :2, :2], np.zeros((6, 4, 3, 3)), strategy="gemm")
    with pytest.raises(ConfigError, match="'gemm' does not apply") as error:
        numeric.make_plan(ConvParams.conv(3), (2, 4, 5, 5), (2, 6, 3, 3), 8, "gemm")
    assert error.value.hint == "use one of columns, gather, shifts, im2col"


@pytest.mark.parametrize("strategy", ["columns", "scatter", "gather"])
def test_the_cost_model_counts_every_groups_product(strategy: str) -> None:
    """Four groups of 128 channels are four times the work of one layer of 128 (the products
    included: they were once counted for one group only)."""
    one = ConvParams.conv_transpose(4, 2, 1, in_channels=128, out_channels=128)
    four = ConvParams.conv_transpose(4, 2, 1, groups=4, in_channels=512, out_channels=512)
    single = numeric.cost.estimate(numeric.make_plan(one, (16, 128, 16, 16), (16, 128, 32, 32), 4, strategy))
    grouped = numeric.cost.estimate(numeric.make_plan(four, (16, 512, 16, 16), (16, 512, 32, 32), 4, strategy))
    assert 3.5 < grouped / single < 4.5


# (transposed, kernel, stride, dilation, groups, input size, is it one matrix product)
PRODUCTS = [
    (True, 1, 1, 1, 1, (5, 4), True),  # 1x1 kernel at stride 1
    (False, 1, 1, 3, 2, (5, 4), True),  # dilation does nothing to a 1x1 kernel
    (True, 1, 1, 2, 3, (4, 4), True),
    (True, 4, 1, 1, 1, (1, 1), True),  # a generator's first layer
    (True, (3, 2), 3, 1, 2, (1, 1), True),  # the stride does nothing on a 1x1 input
    (True, (3, 1), 1, (1, 3), 1, (1, 1), True),  # nor a dilation along a 1-wide kernel
    (False, (4, 3), 2, 1, 2, (4, 3), True),  # the kernel covers the input: 1x1 out
    (False, 1, 2, 1, 1, (5, 4), False),  # stride 2 skips pixels
    (True, 1, 2, 1, 1, (5, 4), False),  # stride 2 spreads them out
    (True, 4, 1, 2, 1, (1, 1), False),  # dilated taps leave gaps
    (False, 3, 1, 2, 1, (5, 5), False),  # dilated kernel covering the input
    (False, 3, 1, 1, 1, (4, 4), False),
]


@pytest.mark.parametrize("case", PRODUCTS)
def test_layers_that_are_one_matrix_product(case: tuple[Any, ...]) -> None:
    """The gemm strategy applies exactly to the layers that are one matrix product, and agrees
    with the naive reference there (batched, unbatched, groups, bias); padding rules it out."""
    transposed, kernel, stride, dilation, groups, size, product = case
    rng = np.random.default_rng(len(str(case)))
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    cin, cout = 2 * groups, 3 * groups
    x = rng.standard_normal((3, cin, *size))
    w = rng.standard_normal((cin, cout // groups, kh, kw) if transposed else (cout, cin // groups, kh, kw))
    b = rng.standard_normal(cout)
    dilation = (dilation, dilation) if isinstance(dilation, int) else dilation
    pairs = dict(stride=(stride, stride), dilation=dilation, groups=groups)
    if transposed:
        params = ConvParams.conv_transpose(kernel, stride, 0, 0, groups, True, dilation)
        ref = naive.conv_transpose(x, w, b, padding=(0, 0), output_padding=(0, 0), **pairs)
    else:
        params = ConvParams.conv(kernel, stride, 0, dilation, groups, True)
        ref = naive.conv(x, w, b, padding=((0, 0), (0, 0)), **pairs)
    assert ("gemm" in numeric.strategies(params, size)) == product
    assert ("gemm" in numeric.strategies(params.replace(padding=1), size)) is False
    if product:
        assert numeric.make_plan(params, x.shape, ref.shape, 8).strategy == "gemm"
        assert close(numeric.run(params, x, w, b, strategy="gemm"), ref, np.float64)
        assert close(numeric.run(params, x[0], w, None, strategy="gemm"), ref[0] - b[:, None, None], np.float64)


def test_tiles_keep_temporary_memory_small(monkeypatch: pytest.MonkeyPatch, fresh_plans: None) -> None:
    """A 136x136 U-Net layer: its columns (the size of the output here) are never all held."""
    monkeypatch.setattr(numeric.plan, "TILE_BYTES", 1 << 20)
    monkeypatch.setattr(numeric.plan, "TILE_COLUMNS", 256)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 16, 136, 136)).astype(np.float32)
    w = rng.standard_normal((16, 8, 2, 2)).astype(np.float32)
    tracemalloc.start()
    try:
        out = numeric.conv_transpose2d(x, w, None, 2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    extra = peak - out.nbytes - x.nbytes  # the flat copy of the input, and the tiles
    assert extra < 3 * numeric.plan.TILE_BYTES < out.nbytes
    params = ConvParams.conv_transpose(2, 2)
    assert close(out, numeric.run(params, x, w, strategy="columns"), np.float32)
