"""Mirrored decoders: `decoder: {mirror: encoder}` and `convtool invert ARCH.yaml`.

Tables of single-layer inverses, the order of copied layers, hypothesis-generated encoders
(strided, padded, dilated, grouped convolutions and pools, ceil_mode, odd sizes) whose
decoder must give back the input shape, live torch runs of a few, and the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from convtool.cli import main
from convtool.errors import ArchError
from convtool.graph import StackMismatch, bind, load, loads, mirror, propagate, walk

ROOT = Path(__file__).resolve().parents[1]
MIRROR_CONFIG = ROOT / "configs" / "autoencoder_mirror.yaml"


def mirror_file(encoder: list[dict[str, Any]], shape: list[int]) -> str:
    """An architecture file (JSON is YAML) with `decoder: {mirror: encoder}`."""
    return json.dumps({"input": shape, "encoder": encoder, "decoder": {"mirror": "encoder"}})


def decoder(encoder: list[dict[str, Any]], shape: list[int]) -> list[dict[str, Any]]:
    m = mirror(loads(json.dumps({"input": shape, "layers": encoder})))
    assert m.restores == tuple(shape)
    return list(m.layers)


def picked(layer: dict[str, Any], *keys: str) -> tuple[Any, ...]:
    return tuple(layer.get(k) for k in ("type", *keys))


# -- one layer and its inverse ----------------------------------------------------------------

CONV_T = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding", "dilation", "groups")

SINGLE = [
    ("conv-even-size", [1, 3, 28, 28], {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1},
     CONV_T, [("conv_transpose2d", 8, 3, 3, 2, 1, 1, 1, 1)]),
    ("conv-odd-size", [1, 3, 27, 27], {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1},
     CONV_T, [("conv_transpose2d", 8, 3, 3, 2, 1, 0, 1, 1)]),
    ("conv-per-dim", [1, 4, 28, 27], {"type": "conv2d", "out_channels": 6, "kernel_size": [3, 5], "stride": [2, 3],
                                      "padding": [1, 2], "dilation": [1, 2], "groups": 2},
     CONV_T, [("conv_transpose2d", 6, 4, [3, 5], [2, 3], [1, 2], 1, [1, 2], 2)]),
    ("conv-same-odd", [1, 2, 9, 9], {"type": "conv2d", "out_channels": 2, "kernel_size": 5, "padding": "same"},
     CONV_T, [("conv_transpose2d", 2, 2, 5, 1, 2, 0, 1, 1)]),
    ("conv-same-even-dilated", [1, 2, 9, 9], {"type": "conv2d", "out_channels": 2, "kernel_size": 4, "dilation": 3,
                                              "padding": "same"},
     CONV_T, [("conv_transpose2d", 2, 2, 4, 1, 5, 1, 3, 1)]),
    ("conv-reflect", [1, 2, 9, 9], {"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1,
                                    "padding_mode": "reflect", "bias": False},
     ("padding", "bias"), [("conv_transpose2d", 1, False)]),
    ("max-pool-drops-a-row", [1, 5, 7, 7], {"type": "max_pool2d", "kernel_size": 2},
     CONV_T, [("conv_transpose2d", 5, 5, 2, 2, 0, 1, 1, 1)]),
    ("max-pool-ceil", [1, 5, 7, 7], {"type": "max_pool2d", "kernel_size": 2, "ceil_mode": True},
     CONV_T, [("conv_transpose2d", 5, 5, 2, 2, 1, 1, 1, 1)]),
    ("avg-pool-padded", [1, 5, 10, 11], {"type": "avg_pool2d", "kernel_size": 3, "stride": 2, "padding": 1},
     CONV_T, [("conv_transpose2d", 5, 5, 3, 2, 1, [1, 0], 1, 1)]),
    ("max-pool-dilated", [1, 1, 13, 13], {"type": "max_pool2d", "kernel_size": 2, "stride": 3, "dilation": 2},
     CONV_T, [("conv_transpose2d", 1, 1, 2, 3, 0, 1, 2, 1)]),
    ("conv-transpose", [1, 8, 7, 7], {"type": "conv_transpose2d", "out_channels": 4, "kernel_size": 4, "stride": 2,
                                      "padding": 1},
     ("in_channels", "out_channels", "kernel_size", "stride", "padding"), [("conv2d", 4, 8, 4, 2, 1)]),
    ("pixel-unshuffle", [1, 3, 8, 8], {"type": "pixel_unshuffle", "downscale_factor": 2},
     ("upscale_factor",), [("pixel_shuffle", 2)]),
    ("pixel-shuffle", [1, 12, 4, 4], {"type": "pixel_shuffle", "upscale_factor": 2},
     ("downscale_factor",), [("pixel_unshuffle", 2)]),
    ("adaptive-pool", [1, 3, 9, 7], {"type": "adaptive_avg_pool2d", "output_size": 1},
     ("size", "mode"), [("upsample", [9, 7], "nearest")]),
    ("upsample", [1, 3, 5, 5], {"type": "upsample", "scale_factor": 2.5},
     ("output_size",), [("adaptive_avg_pool2d", [5, 5])]),
    ("flatten", [2, 3, 4, 5], {"type": "flatten"}, ("dim", "shape"), [("unflatten", 1, [3, 4, 5])]),
    ("unflatten", [2, 60], {"type": "unflatten", "dim": -1, "shape": [3, 4, 5]},
     ("start_dim", "end_dim"), [("flatten", 1, 3)]),
    ("reshape", [2, 3, 4, 5], {"type": "reshape", "shape": [12, -1]}, ("shape",), [("reshape", [3, 4, 5])]),
    ("linear", [2, 10], {"type": "linear", "out_features": 4, "bias": False},
     ("in_features", "out_features", "bias"), [("linear", 4, 10, False)]),
]


@pytest.mark.parametrize("shape, layer, keys, expected", [c[1:] for c in SINGLE], ids=[c[0] for c in SINGLE])
def test_single_layer_inverse(shape: list[int], layer: dict[str, Any], keys: tuple[str, ...],
                              expected: list[tuple[Any, ...]]) -> None:
    assert [picked(d, *keys) for d in decoder([layer], shape)] == expected


def test_conv_keeps_bias_and_the_decoder_layers_are_explicit() -> None:
    (layer,) = decoder([{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "bias": False}], [1, 2, 6, 6])
    assert layer == {"type": "conv_transpose2d", "in_channels": 4, "out_channels": 2, "kernel_size": 3, "stride": 1,
                     "padding": 0, "output_padding": 0, "dilation": 1, "groups": 1, "bias": False}


CANNOT = [
    ("skip", [{"name": "a", "type": "relu"}, {"type": "concat", "with": "a"}], "layer 1 (concat) cannot be mirrored",
     "skip connection"),
    ("same-even-kernel", [{"type": "conv2d", "out_channels": 2, "kernel_size": 4, "padding": "same"}],
     "layer 0 (conv2d) cannot be mirrored", "no ConvTranspose2d with its kernel 4x4, stride 1x1 and dilation 1x1"),
    ("transpose-op-over-stride", [{"name": "up", "type": "conv_transpose2d", "out_channels": 2, "kernel_size": 3,
                                   "dilation": 2, "output_padding": 1}],
     "layer 0 'up' (conv_transpose2d) cannot be mirrored", "output_padding 1x1 is not below its stride 1x1"),
]


@pytest.mark.parametrize("encoder, where, why", [c[1:] for c in CANNOT], ids=[c[0] for c in CANNOT])
def test_layers_that_cannot_be_mirrored_are_named(encoder: list[dict[str, Any]], where: str, why: str) -> None:
    with pytest.raises(ArchError) as caught:
        propagate(loads(mirror_file(encoder, [1, 2, 9, 9]), "enc.yaml"))
    assert caught.value.message.startswith("enc.yaml:1:")
    assert where in caught.value.message and why in caught.value.message
    assert caught.value.key == "type" and caught.value.layer_index is not None


# -- the order of copied layers ---------------------------------------------------------------


def test_copied_layers_keep_their_order_at_their_mirror_position() -> None:
    encoder = [
        {"type": "dropout", "p": 0.1},
        {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "group_norm", "num_groups": 4},
        {"type": "leaky_relu", "negative_slope": 0.2},
        {"type": "conv2d", "out_channels": 16, "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "batch_norm2d", "eps": 1e-3},
        {"type": "relu"},
    ]
    layers = decoder(encoder, [1, 3, 32, 32])
    assert [(d["type"], d.get("in_channels"), d.get("out_channels")) for d in layers] == [
        ("batch_norm2d", None, None), ("relu", None, None),     # the encoder's last run, on the code
        ("conv_transpose2d", 16, 8),
        ("group_norm", None, None), ("leaky_relu", None, None),  # conv -> gn -> act becomes convT -> gn -> act
        ("conv_transpose2d", 8, 3),
        ("dropout", None, None),                                 # what ran before the first conv comes last
    ]
    assert layers[0] == {"type": "batch_norm2d", "eps": 0.001, "num_features": 16}
    assert layers[3] == {"type": "group_norm", "num_groups": 4, "num_channels": 8}
    assert layers[4] == {"type": "leaky_relu", "negative_slope": 0.2}


def test_every_copied_layer_sees_the_shape_its_twin_saw() -> None:
    m = mirror(load(MIRROR_CONFIG))
    for source, result in zip(m.sources, m.decoder.layers):
        twin = m.encoder.layers[source]
        if result.type == twin.type:
            assert result.input == twin.input
        else:
            assert (result.input, result.output) == (twin.output, twin.input)


# -- every input size the encoder accepts -----------------------------------------------------


@st.composite
def encoders(draw: Any) -> tuple[list[dict[str, Any]], list[int]]:
    """A random encoder of convolutions, pools and copied layers, and an input for it."""
    channels = draw(st.integers(1, 4))
    shape = [draw(st.integers(1, 2)), channels, draw(st.integers(1, 40)), draw(st.integers(1, 40))]
    layers: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["conv2d", "conv2d", "max_pool2d", "avg_pool2d"]))
        k = [draw(st.integers(1, 5)), draw(st.integers(1, 5))]
        s = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
        if kind == "conv2d":
            d = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
            groups = draw(st.sampled_from([g for g in (1, 2, 3, 4) if channels % g == 0]))
            out = groups * draw(st.integers(1, 2))
            layer: dict[str, Any] = {"type": "conv2d", "out_channels": out, "kernel_size": k, "stride": s,
                                     "dilation": d, "groups": groups, "bias": draw(st.booleans())}
            if s == [1, 1] and all(dd * (kk - 1) % 2 == 0 or dd >= 3 for kk, dd in zip(k, d)) and draw(st.booleans()):
                layer["padding"] = "same"
            else:
                layer["padding"] = [draw(st.integers(0, 3)), draw(st.integers(0, 3))]
            channels = out
        else:
            layer = {"type": kind, "kernel_size": k, "stride": s, "ceil_mode": draw(st.booleans()),
                     "padding": [draw(st.integers(0, kk // 2)) for kk in k]}
            if kind == "max_pool2d":
                layer["dilation"] = [draw(st.integers(1, 2)), draw(st.integers(1, 2))]
        layers.append(layer)
        for extra in draw(st.lists(st.sampled_from(["relu", "batch_norm2d", "group_norm", "tanh"]), max_size=2)):
            layers.append({"type": extra, "num_groups": channels} if extra == "group_norm" else {"type": extra})
    return layers, shape


def expanded(encoder: list[dict[str, Any]], shape: list[int]) -> Any:
    """The propagation of the encoder and its mirrored decoder; skipped when the encoder
    itself does not line up for this input."""
    try:
        arch, x = loads(mirror_file(encoder, shape)), tuple(shape)
        return walk(bind(arch, x), x, receptive_field=False)  # no diagnosis: its fixes are not needed here
    except StackMismatch as error:
        assert error.failed.section == "encoder"  # a decoder always lines up
        assume(False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(encoders())
def test_mirrored_decoder_restores_the_input_shape(case: tuple[list[dict[str, Any]], list[int]]) -> None:
    encoder, shape = case
    prop = expanded(encoder, shape)
    assert prop.output == tuple(shape)
    sections = [r.section for r in prop.layers]
    assert sections.count("decoder") >= len(encoder) - sum(e["type"] in ("relu", "tanh") for e in encoder)
    # channels come back in reverse: the decoder's rows mirror the encoder's shapes
    encoder_inputs = {r.input for r in prop.layers if r.section == "encoder"}
    assert {r.output for r in prop.layers if r.section == "decoder"} <= encoder_inputs | {prop.input}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(encoders())
def test_mirrored_decoder_restores_the_input_shape_under_torch(case: tuple[list[dict[str, Any]], list[int]]) -> None:
    torch = pytest.importorskip("torch")
    from convtool.export import class_name, export

    encoder, shape = case
    prop = expanded(encoder, shape)
    namespace: dict[str, Any] = {"__name__": "exported"}
    exec(compile(export(prop), "exported.py", "exec"), namespace)
    model = namespace[class_name(prop.arch.name, prop.arch.file)]().eval()
    with torch.no_grad():
        assert tuple(model(torch.randn(shape)).shape) == tuple(shape)


def test_output_padding_follows_the_input_size() -> None:
    """One file, two inputs: the mirror is worked out for the input actually given."""
    arch = load(MIRROR_CONFIG)
    ops = {}
    for size in (28, 29, 30, 31):
        prop = propagate(arch, (1, 1, size, size))
        assert prop.output == (1, 1, size, size)
        ops[size] = [r.applied.conv.output_padding[0] for r in prop.layers
                     if r.section == "decoder" and r.applied.conv is not None and r.applied.conv.stride[0] == 2]
    assert ops == {28: [1, 0, 0], 29: [1, 0, 1], 30: [1, 1, 0], 31: [1, 1, 1]}


def test_encoder_that_does_not_line_up_fails_in_the_encoder() -> None:
    with pytest.raises(StackMismatch) as caught:
        propagate(load(MIRROR_CONFIG), (1, 1, 4, 4))
    assert caught.value.failed.section == "encoder" and caught.value.failed.index == 11
    assert "use an input that lines up" in (caught.value.hint or "")


# -- the files: `run` on a mirrored file ---------------------------------------------------------


def test_run_mirrored_config() -> None:
    result = CliRunner().invoke(main, ["run", str(MIRROR_CONFIG), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["input"] == doc["output"] == [1, 1, 28, 28]
    decoder_rows = [row for row in doc["layers"] if row["section"] == "decoder"]
    assert len(decoder_rows) == 13 and decoder_rows[1]["config"] == "k2 s2 op1"
    assert [row["index"] for row in doc["layers"]] == list(range(26))


def test_run_mirrored_config_table() -> None:
    result = CliRunner().invoke(main, ["run", str(MIRROR_CONFIG), "--input-shape", "2,1,31,31"])
    assert result.exit_code == 0, result.output
    assert "(2, 1, 31, 31) -> (2, 1, 31, 31)" in result.stdout and "decoder" in result.stdout


# -- convtool invert ARCH.yaml ------------------------------------------------------------------


def invert(*args: str) -> Any:
    return CliRunner().invoke(main, ["invert", *args])


def test_invert_arch_prints_a_runnable_yaml_file(tmp_path: Path) -> None:
    result = invert(str(MIRROR_CONFIG))
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(result.stdout)
    assert doc["input"] == [1, 16, 3, 3]
    assert doc["layers"][1] == {"type": "conv_transpose2d", "in_channels": 64, "out_channels": 64, "kernel_size": 2,
                                "stride": 2, "padding": 0, "output_padding": 1, "dilation": 1, "groups": 1,
                                "bias": True}
    assert "# mirrors layer 11 (max_pool2d): 3x3 -> 7x7" in result.stdout
    assert "# copies layer 9 (batch_norm2d)" in result.stdout
    path = tmp_path / "decoder.yaml"
    path.write_text(result.stdout)
    assert propagate(load(path)).output == (1, 1, 28, 28)


def test_invert_arch_json_is_exactly_the_spec_document() -> None:
    result = invert(str(MIRROR_CONFIG), "--input-shape", "1,1,29,30", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert list(doc) == ["input", "decoder", "restores"]
    assert doc["input"] == doc["restores"] == [1, 1, 29, 30]
    assert all({"type", "out_channels", "output_padding"} <= set(d) for d in doc["decoder"] if d["type"].startswith("conv"))
    assert [d["output_padding"] for d in doc["decoder"] if d.get("stride") == 2] == [1, [0, 1], [1, 0]]
    text = json.dumps({"input": [1, 16, 3, 3], "layers": doc["decoder"]})
    assert propagate(loads(text)).output == (1, 1, 29, 30)


def test_invert_arch_torch_code() -> None:
    result = invert(str(MIRROR_CONFIG), "--format", "torch")
    assert result.exit_code == 0, result.output
    code = result.stdout
    assert "decoder = nn.Sequential(" in code
    assert "nn.ConvTranspose2d(in_channels=64, out_channels=64, kernel_size=2, stride=2, padding=0, output_padding=1" in code
    compile(code, "decoder.py", "exec")
    torch = pytest.importorskip("torch")
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    with torch.no_grad():
        assert tuple(namespace["decoder"].eval()(torch.randn(1, 16, 3, 3)).shape) == (1, 1, 28, 28)


@pytest.mark.parametrize(
    "config, restores",
    [("dcgan_discriminator", (1, 3, 64, 64)), ("unet_original", (1, 1, 572, 572)), ("unet_padded", (1, 3, 256, 256)),
     ("autoencoder_28", (1, 1, 28, 28))],
)
def test_invert_arch_mirrors_the_encoder_or_the_layers(config: str, restores: tuple[int, ...]) -> None:
    """`layers:` files mirror every layer; encoder/decoder files mirror the encoder only."""
    m = mirror(load(ROOT / "configs" / f"{config}.yaml"))
    assert m.restores == restores
    assert all(r.section in (None, "encoder") for r in m.encoder.layers)


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["configs/nothing.yaml"], 2, ["'configs/nothing.yaml' does not exist"]),
        ([str(MIRROR_CONFIG), "-k", "3"], 2, ["--kernel-size do not apply to an architecture file"]),
        ([str(MIRROR_CONFIG), "--to", "56"], 2, ["--to do not apply to an architecture file"]),
        ([str(MIRROR_CONFIG), "--format", "pdf"], 2, ["Invalid value for '--format'"]),
        ([str(MIRROR_CONFIG), "--format", "torch", "--json"], 2, ["give --json or --format, not both"]),
        ([str(MIRROR_CONFIG), "--input-shape", "28"], 2, ["expected a full shape"]),
        (["28", "-k", "3", "--format", "torch"], 2, ["apply to `convtool invert ARCH.yaml` only"]),
        (["28", "-k", "3", "--input-shape", "1,1,28,28"], 2, ["apply to `convtool invert ARCH.yaml` only"]),
        ([str(MIRROR_CONFIG), "--input-shape", "1,1,4,4"], 1, ["layer 11 (max_pool2d) does not line up",
                                                                "Output size is too small"]),
        (["configs/mismatch_unet.yaml"], 0, []),  # its encoder lines up: the decoder is mirrored anew
    ],
    ids=["missing", "kernel", "to", "bad-format", "json-and-format", "bad-shape", "format-with-size",
         "shape-with-size", "encoder-mismatch", "broken-decoder-ignored"],
)
def test_invert_arch_errors(args: list[str], code: int, words: list[str]) -> None:
    result = CliRunner().invoke(main, ["invert", *args], catch_exceptions=False)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.stderr


def test_invert_arch_that_cannot_be_mirrored(tmp_path: Path) -> None:
    path = tmp_path / "res.yaml"
    path.write_text("input: [1, 4, 8, 8]\nlayers:\n  - {name: a, type: relu}\n  - {name: res, type: add, with: a}\n")
    result = invert(str(path))
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith(f"Error: {path}:4:5: layer 1 'res' (add) cannot be mirrored")
    result = invert(str(path), "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "architecture" and error["layer_name"] == "res" and error["line"] == 4
