"""Other frameworks: the seeds' examples pasted as written, the pasted-layer reader, weight
layouts, and port between every pair of frameworks checked with the numpy engine (and torch)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convtool.errors import ConfigError
from convtool.frameworks import NAMES, get
from convtool.frameworks.base import (
    Geometry,
    Given,
    PasteError,
    PortError,
    Window,
    apply_steps,
    render_steps,
    simplify,
)
from convtool.frameworks.paste import parse_r, read
from convtool.frameworks.port import port, scatter_window
from convtool.shape import output_shape

# -- the seeds' examples, pasted as written ---------------------------------------------------


@pytest.mark.parametrize(
    ("code", "framework", "size", "expected"),
    [
        pytest.param("nn_conv_transpose2d(16, 33, c(3, 5), stride = c(2, 1), padding = c(4, 2))", None,
                     (50, 100), (93, 100), id="r"),
        pytest.param("ConvTranspose2d(16, 33, (3, 5), stride=(2, 3), padding=(4, 2), output_padding=(1, 2))",
                     "megengine", (50, 100), (94, 300), id="megengine"),
        pytest.param("megengine.module.ConvTranspose2d(16, 33, (3, 5), stride=(2, 3), padding=(4, 2), "
                     "output_padding=(1, 2))", None, (50, 100), (94, 300), id="megengine-dotted"),
        pytest.param("nn.ConvTranspose2d(16, 33, 3, stride=2)", None, (50, 100), (101, 201), id="torch"),
    ],
)
def test_seed_examples(code: str, framework: str | None, size: tuple, expected: tuple) -> None:
    layer = read(code, framework)
    assert get(layer.framework).apply(layer, size).output == expected
    assert (layer.in_channels, layer.out_channels) == (16, 33)


def test_seed_torch_example_full_shape() -> None:
    params = read("nn.ConvTranspose2d(16, 33, 3, stride=2)").options["params"]
    assert output_shape(params, (20, 16, 50, 100)) == (20, 33, 101, 201)


def test_megengine_weight_layout_for_groups() -> None:
    megengine = get("megengine")
    layer = read("megengine.module.ConvTranspose2d(4, 6, 3, groups=2)")
    assert megengine.weight_shape(layer) == (2, 2, 3, 3, 3)
    assert megengine.bias_shape(layer) == (1, 6, 1, 1)
    seed = read("megengine.module.ConvTranspose2d(16, 33, (3, 5), stride=(2, 3), padding=(4, 2), output_padding=(1, 2))")
    assert megengine.weight_shape(seed) == (16, 33, 3, 5)


def test_megengine_positional_dilation_before_groups() -> None:
    layer = read("M.ConvTranspose2d(4, 6, 3, 1, 0, 0, 2)", "megengine")
    assert (layer.dilation, layer.groups) == ((2, 2), 1)
    torch_layer = read("M.ConvTranspose2d(4, 6, 3, 1, 0, 0, 2)")  # a bare M. call is PyTorch's
    assert (torch_layer.dilation, torch_layer.groups) == ((1, 1), 2)


def test_keras_same_k5_s2_gets_an_exact_pytorch_answer_with_its_crop() -> None:
    answer = port(read("layers.Conv2DTranspose(8, 5, strides=2, padding='same')"), (32, 32), "torch", in_channels=3)
    doc = answer.to_dict()
    assert doc["source"]["output"] == [64, 64]
    assert doc["source"]["crop"] == {"begin": [1, 1], "end": [2, 2]}
    assert doc["target"]["code"] == "nn.ConvTranspose2d(3, 8, kernel_size=5, stride=2, padding=1)"
    assert doc["target"]["after"] == "y = y[..., 0:64, 0:64]"
    assert doc["target"]["exact_without_after"] is False
    assert doc["target"]["weight"] == "w_target = w_source.transpose(3, 2, 0, 1)"
    assert "odd crop at the end" in doc["note"] and "only extend the end" in doc["note"]
    assert answer.max_error < 1e-12


def test_keras_same_even_kernel_is_exact_in_torch() -> None:
    doc = port(read("layers.Conv2DTranspose(6, 4, strides=2, padding='same')"), (5, 5), "torch", in_channels=4).to_dict()
    assert doc["target"]["code"] == "nn.ConvTranspose2d(4, 6, kernel_size=4, stride=2, padding=1)"
    assert doc["target"]["after"] is None


# -- reading pasted code ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "framework", "expected"),
    [
        pytest.param("self.up = nn.ConvTranspose1d(80, 512, 16, stride=8, padding=4)", None,
                     ("torch", 1, (16,), (8,)), id="torch-1d-assigned"),
        pytest.param("torch.nn.ConvTranspose3d(4, 8, (3, 3, 1), stride=(2, 2, 1))", None,
                     ("torch", 3, (3, 3, 1), (2, 2, 1)), id="torch-3d"),
        pytest.param("nn_conv_transpose3d(4, 8, 3, stride = 2, bias = FALSE)", None, ("r", 3, (3, 3, 3), (2, 2, 2)),
                     id="r-3d"),
        pytest.param("torch::nn_conv_transpose1d(in_channels = 4, 8, 5)", None, ("r", 1, (5,), (1,)), id="r-named-first"),
        pytest.param("keras.layers.Conv1DTranspose(8, 4, strides=2, padding='same')", None,
                     ("keras", 1, (4,), (2,)), id="keras-1d"),
        pytest.param("tf.keras.layers.Conv3DTranspose(8, 3, 2)", None, ("keras", 3, (3, 3, 3), (2, 2, 2)), id="keras-3d"),
        pytest.param("tf.nn.conv2d_transpose(x, w, [1, 10, 10, 6], 2, 'SAME')", None, ("tf", 2, (3, 3), (2, 2)),
                     id="tf"),
        pytest.param("jax.lax.conv_transpose(x, w, (2,), 'VALID')", None, ("jax", 1, (3,), (2,)), id="jax-1d"),
        pytest.param("nn.ConvTranspose(6, (3, 3), strides=(2, 2))", None, ("flax", 2, (3, 3), (2, 2)), id="flax"),
        pytest.param("nn.ConvTranspose(6, 4)", None, ("flax", 1, (4,), (1,)), id="flax-int-kernel-is-1d"),
        pytest.param("helper.make_node('ConvTranspose', ['X', 'W'], ['Y'], kernel_shape=[3, 3, 3], strides=[2, 2, 2])",
                     None, ("onnx", 3, (3, 3, 3), (2, 2, 2)), id="onnx-3d"),
    ],
)
def test_read(code: str, framework: str | None, expected: tuple) -> None:
    layer = read(code, framework, Given(kernel_size=3, in_channels=4, out_channels=6))
    assert (layer.framework, layer.ndim, layer.kernel_size, layer.stride) == expected


@pytest.mark.parametrize(
    ("code", "framework", "words"),
    [
        pytest.param("nn.ConvTranspose2d(16, 33, k)", None, "not a literal", id="name"),
        pytest.param("nn.ConvTranspose2d(16, 33, 3, stride=2 * s)", None, "not a literal", id="expression"),
        pytest.param("nn.ConvTranspose2d(16, 33, 3, **opts)", None, "unpacks", id="kwargs"),
        pytest.param("nn.ConvTranspose2d(16, 33, 3", None, "cannot read", id="syntax"),
        pytest.param("nn.Upsample(scale_factor=2)", None, "does not know the call", id="unknown"),
        pytest.param("x = 3", None, "paste one layer", id="not-a-call"),
        pytest.param("nn.ConvTranspose2d(16, 33, 3, strid=2)", None, "unexpected keyword argument 'strid'",
                     id="python-keyword"),
        pytest.param("nn.ConvTranspose2d(16, 33)", None, "missing 1 required positional argument: 'kernel_size'",
                     id="python-missing"),
        pytest.param("nn_conv_transpose2d(16, 33, 3, strid = 2)", None, "unused argument (strid = 2)", id="r-unused"),
        pytest.param("nn_conv_transpose2d(16, 33)", None, 'argument "kernel_size" is missing', id="r-missing"),
        pytest.param("nn_conv_transpose2d(16, 33, 3 stride = 2)", None, "expected ','", id="r-syntax"),
        pytest.param("nn_conv_transpose2d(16, 33, k)", None, "not a literal", id="r-name"),
        pytest.param("nn.ConvTranspose2d(4, 6, 3)", "keras", "not keras", id="wrong-framework"),
        pytest.param("layers.Conv2DTranspose(6, 3)", "torch", "Keras code", id="keras-as-torch"),
        pytest.param("tf.nn.conv2d_transpose(x, w, [1, 10, 10, 6], 2)", None, "-k", id="tf-without-kernel"),
        pytest.param("helper.make_node('Conv', ['X', 'W'], ['Y'], kernel_shape=[3, 3])", None, "'ConvTranspose' nodes",
                     id="onnx-conv"),
        pytest.param("nn.ConvTranspose(1, [1, 10, 10, 6])", None, "4 spatial dims", id="flax-4d"),
    ],
)
def test_read_refuses(code: str, framework: str | None, words: str) -> None:
    with pytest.raises(PasteError, match=None) as caught:
        read(code, framework)
    assert words in caught.value.message


def test_r_parser_values() -> None:
    call = parse_r('nn_conv_transpose2d(16L, 33, c(3, 5), padding = -1, bias = F, padding_mode = "zeros", groups = NULL)')
    assert call.args == [16, 33, (3, 5)]
    assert call.kwargs == {"padding": -1, "bias": False, "padding_mode": "zeros", "groups": None}


@pytest.mark.parametrize(
    ("code", "framework", "words"),
    [
        pytest.param('nn_conv_transpose2d(4, 6, 3, padding_mode = "reflect")', None,
                     "value_error: Only `zeros` padding is supported.", id="r-padding-mode"),
        pytest.param("nn_conv_transpose2d(3, 6, 3, groups = 2)", None, "`in_channels` must be divisible by groups",
                     id="r-groups"),
        pytest.param("megengine.module.ConvTranspose2d(4, 6, 0)", None, "AssertionError: invalid value: (0, 0)",
                     id="megengine-kernel"),
        pytest.param("layers.Conv2DTranspose(6, 3, strides=2, output_padding=2)", None,
                     "`output_padding` must be strictly less than `strides`", id="keras-output-padding"),
        pytest.param("layers.Conv2DTranspose(6, 3, strides=2, dilation_rate=2)", None,
                     "`strides > 1` not supported in conjunction with `dilation_rate > 1`", id="keras-dilation"),
        pytest.param("layers.Conv2DTranspose(6, 3, groups=2)", None, "Unrecognized keyword arguments", id="keras-groups"),
        pytest.param("nn.ConvTranspose2d(4, 6, 3, stride=2, output_padding=2)", None,
                     "output padding must be smaller than either stride or dilation", id="torch"),
    ],
)
def test_construction_refused_in_the_frameworks_words(code: str, framework: str | None, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read(code, framework)
    assert words in caught.value.message


# -- weight layouts: the rendered code is the applied code, and the round trip is the identity --


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("ndim", [1, 2, 3])
@pytest.mark.parametrize("groups", [1, 2])
def test_weight_conversions(name: str, ndim: int, groups: int) -> None:
    framework = get(name)
    if ndim not in framework.dims or (groups > 1 and not framework.has_groups) or (name == "megengine" and ndim == 3
                                                                                   and groups > 1):
        pytest.skip("the framework has no such layer")
    geometry = Geometry((4,) * ndim, (3, 2, 4)[:ndim], (2,) * ndim, (1,) * ndim, groups, 2 * groups, 3 * groups,
                        True, ())
    layer = next(iter(framework.candidates(geometry.__class__(**{**geometry.__dict__, "windows": tuple(
        Window(0, 2 * 4) for _ in range(ndim))}))))
    rng = np.random.default_rng(0)
    w_torch = rng.standard_normal((2 * groups, 3, *(3, 2, 4)[:ndim]))
    to_framework = framework.weight_from_torch(layer)
    w = apply_steps(to_framework, w_torch)
    assert w.shape == framework.weight_shape(layer)
    rendered = render_steps(simplify(to_framework), "w_source")
    assert np.array_equal(eval(rendered, {"w_source": w_torch}), w)  # noqa: S307 - the test runs generated code
    assert np.array_equal(apply_steps(framework.weight_to_torch(layer), w), w_torch)
    b = rng.standard_normal(3 * groups)
    b_framework = apply_steps(framework.bias_from_torch(layer), b)
    assert np.array_equal(apply_steps(framework.bias_to_torch(layer), b_framework), b)


# -- port: every pair, random layers, checked with numpy (and torch when installed) -----------


@st.composite
def sources(draw: st.DrawFn, name: str) -> tuple:
    """A random layer of framework `name` (one of its own candidates for a random window)."""
    framework = get(name)
    ndim = draw(st.sampled_from([d for d in (1, 2, 2, 3) if d in framework.dims]))
    spatial = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(ndim))
    dilation = tuple(draw(st.sampled_from([1, 1, 1, 2])) for _ in range(ndim))
    groups = draw(st.sampled_from([1, 1, 2])) if framework.has_groups and not (name == "megengine" and ndim == 3) else 1
    windows = []
    for i, k, s, d in zip(spatial, kernel, stride, dilation):
        full = (i - 1) * s + d * (k - 1) + 1
        begin = draw(st.integers(-2, full - 1))
        windows.append(Window(begin, draw(st.integers(1, full + 2))))
    geometry = Geometry(spatial, kernel, stride, dilation, groups, groups * draw(st.integers(1, 2)),
                        groups * draw(st.integers(1, 3)), draw(st.booleans()), tuple(windows))
    layers = list(framework.candidates(geometry))
    if not layers:
        return None
    layer = draw(st.sampled_from(layers))
    try:
        framework.apply(layer, spatial)
    except ConfigError:
        return None
    return layer, spatial


def impossible(source_layer, result_windows, target: str) -> bool:
    framework = get(target)
    if source_layer.ndim not in framework.dims:
        return True
    if source_layer.groups > 1 and (not framework.has_groups or (target == "megengine" and source_layer.ndim == 3)):
        return True
    if target in ("tf", "keras") and any(d > 1 for d in source_layer.dilation):
        return True
    return any(w.length == 0 for w in result_windows)


@pytest.mark.parametrize("target", NAMES)
@pytest.mark.parametrize("source", NAMES)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_port_reproduces_the_source(source: str, target: str, data: st.DataObject) -> None:
    drawn = data.draw(sources(source))
    if drawn is None:
        return
    layer, spatial = drawn
    windows = get(source).apply(layer, spatial).windows
    if impossible(layer, windows, target):
        with pytest.raises(PortError):
            port(layer, spatial, target)
        return
    answer = port(layer, spatial, target)  # raises when the numeric check fails
    doc = answer.to_dict()
    # the target's code, pasted back, is the same layer
    t = answer.target.layer
    again = read(doc["target"]["code"], target, Given(kernel_size=t.kernel_size, in_channels=t.in_channels,
                                                      out_channels=t.out_channels))
    assert get(target).apply(again, spatial).windows == answer.target.windows
    assert again.bias == t.bias


def test_port_refusals() -> None:
    with pytest.raises(PortError, match="no grouped"):
        port(read("nn.ConvTranspose2d(4, 6, 3, groups=2)"), (5, 5), "keras")
    with pytest.raises(PortError, match="dilation > 1"):
        port(read("nn.ConvTranspose2d(4, 6, 3, dilation=2)"), (5, 5), "tf")
    with pytest.raises(PortError, match="not a crop"):
        port(read("nn.ConvTranspose(6, (4, 4), strides=(2, 2), padding='CIRCULAR')"), (5, 5), "torch", in_channels=3)
    with pytest.raises(PortError, match="--in-channels"):
        port(read("layers.Conv2DTranspose(6, 3)"), (5, 5), "torch")


@pytest.mark.parametrize("source", [n for n in NAMES if n != "torch"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_port_to_torch_runs_in_torch(source: str, data: st.DataObject) -> None:
    """The printed PyTorch code, weight statement and after-statement, run in torch itself."""
    torch = pytest.importorskip("torch")
    drawn = data.draw(sources(source))
    if drawn is None:
        return
    layer, spatial = drawn
    result = get(source).apply(layer, spatial)
    if any(w.length == 0 for w in result.windows):
        return
    answer = port(layer, spatial, "torch")
    doc = answer.to_dict()
    src = answer.source.layer
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, src.in_channels, *spatial))
    w_source = rng.standard_normal(get(source).weight_shape(src))
    bias_shape = get(source).bias_shape(src) or ((src.out_channels,) if src.bias else None)
    b_source = rng.standard_normal(bias_shape) if bias_shape else None
    b_torch = None if b_source is None else apply_steps(get(source).bias_to_torch(src), b_source)
    expected = scatter_window(x, apply_steps(get(source).weight_to_torch(src), w_source), b_torch, src.stride,
                              src.dilation, src.groups, result.windows)
    scope = {"w_source": w_source, "b_source": b_source, "np": np, "nn": torch.nn}
    exec(doc["target"]["weight"], scope)  # noqa: S102 - the test runs the printed code
    if doc["target"]["bias"]:
        exec(doc["target"]["bias"], scope)  # noqa: S102
    module = eval(doc["target"]["code"], scope).double()  # noqa: S307
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(scope["w_target"]))
        if module.bias is not None:
            module.bias.copy_(torch.from_numpy(scope["b_target"]))
        y = module(torch.from_numpy(x)).numpy()
    if doc["target"]["after"]:
        scope["y"] = y
        exec(doc["target"]["after"], scope)  # noqa: S102
        y = scope["y"]
    np.testing.assert_allclose(y, expected, atol=1e-10)


@pytest.mark.parametrize("target", [n for n in NAMES if n != "torch"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_port_from_torch_matches_torch_itself(target: str, data: st.DataObject) -> None:
    """PyTorch's layer run in torch equals the target's layer (converted weights, then after)."""
    torch = pytest.importorskip("torch")
    drawn = data.draw(sources("torch"))
    if drawn is None:
        return
    layer, spatial = drawn
    windows = get("torch").apply(layer, spatial).windows
    if impossible(layer, windows, target):
        return
    answer = port(layer, spatial, target)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, layer.in_channels, *spatial))
    module = eval(get("torch").code(layer), {"nn": torch.nn}).double()  # noqa: S307 - the printed code
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    w_source = module.weight.detach().numpy()
    b_source = None if module.bias is None else module.bias.detach().numpy()
    w_target = apply_steps(answer.weight, w_source)
    b_target = None if answer.bias is None else apply_steps(answer.bias, b_source)
    framework, t = get(target), answer.target.layer
    b_layer = apply_steps(framework.bias_to_torch(t), b_target) if t.bias and framework.bias_in_layer else None
    y = scatter_window(x, apply_steps(framework.weight_to_torch(t), w_target), b_layer, t.stride, t.dilation,
                       t.groups, answer.target.windows)
    if framework.channels_last:
        y = np.moveaxis(y, 1, -1)
    if answer.after is not None:
        y = answer.after.apply(y, b_target)
    if framework.channels_last:
        y = np.moveaxis(y, -1, 1)
    np.testing.assert_allclose(y, expected, atol=1e-10)


CALL_NAMES = ["nn.ConvTranspose2d", "nn_conv_transpose2d", "layers.Conv2DTranspose", "tf.nn.conv2d_transpose",
              "jax.lax.conv_transpose", "nn.ConvTranspose", "helper.make_node", "megengine.module.ConvTranspose2d"]
ARGUMENTS = st.lists(
    st.one_of(st.integers(-3, 5).map(str), st.sampled_from(["(3, 5)", "c(3, 5)", "'same'", "'SAME'", "TRUE", "None",
                                                          "x", "w", "[1, 10, 10, 6]", "((1, 2), (1, 2))", "-1",
                                                          "'ConvTranspose'", "['X', 'W']", "2.5", "'ü'"])),
    max_size=6,
)
KEYWORDS = st.lists(st.tuples(st.sampled_from(["stride", "strides", "padding", "groups", "dilation", "bias",
                                               "output_padding", "kernel_shape", "pads", "auto_pad", "use_bias",
                                               "padding_mode", "transpose_kernel"]),
                              st.sampled_from(["2", "0", "-1", "(1, 2)", "'same'", "'valid'", "[1, 1, 1, 1]",
                                               "'SAME_UPPER'", "True", "c(2, 1)", "k"])), max_size=4)


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(CALL_NAMES), args=ARGUMENTS, keywords=KEYWORDS, r_style=st.booleans(),
       size=st.integers(1, 6))
def test_any_pasted_call_is_a_layer_or_one_sentence(name, args, keywords, r_style, size) -> None:
    """Random calls of every known name: a layer with an answer, or a ConvtoolError (no other exception)."""
    from convtool.errors import ConvtoolError

    joiner = " = " if r_style else "="
    text = f"{name}({', '.join([*args, *(f'{k}{joiner}{v}' for k, v in keywords)])})"
    try:
        layer = read(text, None, Given(kernel_size=3, in_channels=2, out_channels=2))
        get(layer.framework).apply(layer, (size,) * layer.ndim)
    except ConvtoolError as error:
        assert error.message and "\n" not in error.message


@settings(max_examples=300, deadline=None)
@given(tail=st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
       head=st.sampled_from(["", "nn.ConvTranspose2d(", "nn_conv_transpose2d(", "layers.Conv2DTranspose(", "("]))
def test_any_text_is_a_layer_or_one_sentence(head: str, tail: str) -> None:
    from convtool.errors import ConvtoolError

    try:
        read(head + tail)
    except ConvtoolError as error:
        assert error.message


@pytest.mark.parametrize("text", ["nn.ConvTranspose2d(\x00)", "(" * 500 + ")" * 500, "nn_conv_transpose2d(c(" * 1500, "nn_conv_transpose2d(" + "c(" * 2000, "x" * 20000])
def test_hostile_text_is_one_sentence(text: str) -> None:
    with pytest.raises(PasteError):
        read(text)
