"""`convtool shape LAYER SIZE`, `shape --framework`, and `convtool port` through click's CliRunner:
answers, JSON documents, and every error path (one sentence, exit 1 or 2)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from convtool.cli import main


def run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["shape", "nn_conv_transpose2d(16, 33, c(3, 5), stride = c(2, 1), padding = c(4, 2))", "50x100",
                      "--batch", "20"], ["(20, 16, 50, 100)", "(20, 33, 93, 100)", "(16, 33, 3, 5)",
                                         "nn.ConvTranspose2d(16, 33, kernel_size=(3, 5), stride=(2, 1), padding=(4, 2))"],
                     id="r-seed"),
        pytest.param(["shape", "megengine.module.ConvTranspose2d(16, 33, (3, 5), stride=(2, 3), padding=(4, 2), "
                      "output_padding=(1, 2))", "50x100", "--batch", "20"],
                     ["(20, 33, 94, 300)", "bias (1, 33, 1, 1)"], id="megengine-seed"),
        pytest.param(["shape", "ConvTranspose2d(4, 6, 3, groups=2)", "5", "--framework", "megengine"],
                     ["(2, 2, 3, 3, 3)", "(1, 6, 1, 1)"], id="megengine-groups-weight"),
        pytest.param(["shape", "nn.ConvTranspose2d(16, 33, 3, stride=2)", "50x100", "--batch", "20"],
                     ["(20, 33, 101, 201)"], id="torch-seed"),
        pytest.param(["shape", "nn.ConvTranspose1d(80, 512, 16, stride=8, padding=4)", "100"], ["(1, 512, 800)"],
                     id="torch-1d"),
        pytest.param(["shape", "layers.Conv2DTranspose(64, 3, strides=2, padding='same')", "32", "--in-channels", "8"],
                     ["(1, 64, 64, 64)", "(3, 3, 64, 8)", "y = y[..., 0:64, 0:64]"], id="keras"),
        pytest.param(["shape", "nn.ConvTranspose(6, (3, 3), strides=(2, 2), padding='CIRCULAR')", "5"],
                     ["10x10", "no equivalent", "wraps"], id="flax-circular"),
        pytest.param(["shape", "32", "--framework", "onnx", "-k", "3", "-s", "2", "--pads", "0,0,1,1"],
                     ["64x64", "kernel_size=3, stride=2", "y[..., 0:64, 0:64]"], id="onnx-options"),
        pytest.param(["shape", "5", "--framework", "tf", "-k", "3", "-s", "2", "--output-shape", "10", "-p", "SAME"],
                     ["10x10", "0 at the start, 1 at the end"], id="tf-options"),
        pytest.param(["shape", "6", "--framework", "r", "-k", "3", "-s", "2", "-p", "1", "-d", "2", "--output-size", "12"],
                     ["14x14", "ignores dilation"], id="r-output-size"),
        pytest.param(["shape", "ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=(0, 1))", "5",
                      "--framework", "megengine"], ["(1, 6, 9, 9)", "ignores output_padding"], id="megengine-width-ignored"),
    ],
)
def test_shape_other_frameworks(args: list[str], expected: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 0, result.output
    for text in expected:
        assert text in result.output


def test_shape_json_framework_keys() -> None:
    result = run("shape", "layers.Conv2DTranspose(6, 3, strides=2, padding='same')", "5", "--in-channels", "4",
                 "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["framework"] == "keras"
    assert doc["code"] == "layers.Conv2DTranspose(6, 3, strides=2, padding='same')"
    assert doc["output"] == {"spatial": [10, 10], "shape": [1, 10, 10, 6]}
    assert doc["weight_shape"] == [3, 3, 6, 4] and doc["bias_shape"] == [6]
    assert doc["crop"] == {"begin": [0, 0], "end": [1, 1]}
    assert doc["params"]["padding"] == "same" and doc["params"]["out_channels"] == 6
    assert doc["param_count"] == 3 * 3 * 6 * 4 + 6
    assert doc["torch"] == {"code": "nn.ConvTranspose2d(4, 6, kernel_size=3, stride=2)", "after": "y = y[..., 0:10, 0:10]"}


def test_port_human_and_json() -> None:
    args = ["port", "layers.Conv2DTranspose(6, 3, strides=2, padding='same')", "--input", "5", "--to", "torch",
            "--in-channels", "4"]
    human = run(*args)
    assert human.exit_code == 0, human.output
    assert "nn.ConvTranspose2d(4, 6, kernel_size=3, stride=2)" in human.output
    assert "y = y[..., 0:10, 0:10]" in human.output
    doc = json.loads(run(*args, "--json").output)
    assert doc["source"]["data_layout"] == "NHWC" and doc["target"]["data_layout"] == "NCHW"
    assert doc["target"]["weight"] == "w_target = w_source.transpose(3, 2, 0, 1)"
    assert doc["target"]["bias"] == "b_target = b_source"
    assert doc["target"]["exact_without_after"] is False
    assert "odd crop at the end" in doc["note"]


def test_port_from_names_the_source() -> None:
    doc = json.loads(run("port", "M.ConvTranspose2d(4, 6, 3, 1, 0, 0, 2)", "--from", "megengine", "--input", "8",
                         "--to", "onnx", "--json").output)
    assert doc["source"]["framework"] == "megengine"
    assert "dilations=[2, 2]" in doc["target"]["code"]


def test_port_without_bias_has_no_bias_statement() -> None:
    doc = json.loads(run("port", "nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, bias=False)", "--input", "5",
                         "--to", "keras", "--json").output)
    assert doc["target"]["bias"] is None
    assert "use_bias=False" in doc["target"]["code"]
    assert doc["target"]["after"] is None


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        pytest.param(["shape", "nn.ConvTranspose2d(4, 6, k)", "8"], 2, "not a literal", id="non-literal"),
        pytest.param(["shape", "nn.ConvTranspose2d(4, 6, 3", "8"], 2, "cannot read", id="syntax"),
        pytest.param(["shape", "nn.Upsample(scale_factor=2)", "8"], 2, "does not know the call", id="unknown-call"),
        pytest.param(["shape", "nn.ConvTranspose2d(4, 6, 3)"], 2, "give the input SIZE", id="no-size"),
        pytest.param(["shape", "nn.ConvTranspose2d(4, 6, 3)", "8x8x8"], 2, "3 sizes for a 2-D layer", id="size-dims"),
        pytest.param(["shape", "nn.ConvTranspose2d(4, 6, 3)", "8", "-s", "2"], 2, "cannot change a pasted layer",
                     id="option-with-layer"),
        pytest.param(["shape", "nn.ConvTranspose2d(4, 6, 3)", "8", "--op", "conv2d"], 2, "--op", id="op-with-layer"),
        pytest.param(["shape", "8", "8", "-k", "3"], 2, "a second SIZE follows a pasted LAYER only", id="two-sizes"),
        pytest.param(["shape", "8"], 2, "Missing option '-k'", id="no-kernel"),
        pytest.param(["shape", "8", "--framework", "keras"], 2, "Missing option '-k'", id="framework-no-kernel"),
        pytest.param(["shape", "8", "-k", "3", "--pads", "1,1,1,1"], 2, "add --framework", id="pads-without-framework"),
        pytest.param(["shape", "8", "--framework", "tf", "-k", "3"], 2, "--output-shape", id="tf-no-output-shape"),
        pytest.param(["shape", "8", "--framework", "keras", "-k", "3", "-p", "1"], 2, "'same' or 'valid'",
                     id="keras-int-padding"),
        pytest.param(["shape", "8", "--framework", "cntk", "-k", "3"], 2, "Invalid value for '--framework'",
                     id="unknown-framework"),
        pytest.param(["shape", "layers.Conv2DTranspose(6, 3, strides=2, output_padding=2)", "5"], 1,
                     "Keras refuses this layer: ValueError: `output_padding` must be strictly less than `strides`",
                     id="keras-refuses"),
        pytest.param(["shape", "layers.Conv2DTranspose(6, 2, strides=2, padding='same', output_padding=0)", "5"], 1,
                     "Size of out_backprop doesn't match computed", id="keras-same-even-kernel"),
        pytest.param(["shape", "tf.nn.conv2d_transpose(x, w, [1, 11, 11, 6], 2, 'SAME')", "5", "-k", "3"], 1,
                     "actual = 5, computed = 6", id="tf-refuses"),
        pytest.param(["shape", "tf.nn.conv2d_transpose(x, w, [1, 10, 10, 6], 2, 'same')", "5", "-k", "3"], 1,
                     "is not in the list of allowed values", id="tf-lower-case"),
        pytest.param(["shape", "jax.lax.conv_transpose(x, w, (2, 2), 'same')", "5", "-k", "3"], 1,
                     "String padding is not implemented", id="jax-lower-case"),
        pytest.param(["shape", "helper.make_node('ConvTranspose', ['X', 'W'], ['Y'], kernel_shape=[3, 3], "
                      "strides=[2, 2], output_padding=[2, 2])", "5"], 1, "must be less than max(stride, dilation)",
                     id="onnx-refuses"),
        pytest.param(["shape", "megengine.module.ConvTranspose2d(4, 6, 3, output_padding=1, dilation=2)", "5"], 1,
                     "shoule be less than stride[0]", id="megengine-refuses"),
        pytest.param(["shape", 'nn_conv_transpose2d(4, 6, 3, padding_mode = "reflect")', "5"], 1,
                     "Only `zeros` padding is supported.", id="r-refuses"),
        pytest.param(["port", "nn.ConvTranspose2d(4, 6, 3)", "--to", "keras"], 2, "Missing option '--input'",
                     id="port-no-input"),
        pytest.param(["port", "nn.ConvTranspose2d(4, 6, 3)", "--input", "5", "--to", "caffe"], 2,
                     "Invalid value for '--to'", id="port-unknown-target"),
        pytest.param(["port", "nn.ConvTranspose2d(4, 6, 3)", "--input", "5x5x5", "--to", "keras"], 2,
                     "3 sizes for a 2-D layer", id="port-size-dims"),
        pytest.param(["port", "nn.ConvTranspose2d(4, 6, s)", "--input", "5", "--to", "keras"], 2, "not a literal",
                     id="port-non-literal"),
        pytest.param(["port", "nn.ConvTranspose2d(4, 6, 3, groups=2)", "--input", "5", "--to", "keras"], 1,
                     "no grouped transposed convolution", id="port-groups"),
        pytest.param(["port", "nn.ConvTranspose2d(4, 6, 3, dilation=2)", "--input", "5", "--to", "tf"], 1,
                     "refuses dilation > 1", id="port-tf-dilation"),
        pytest.param(["port", "nn.ConvTranspose1d(4, 6, 3)", "--input", "5", "--to", "megengine"], 1,
                     "MegEngine has no 1-D", id="port-megengine-1d"),
        pytest.param(["port", "layers.Conv2DTranspose(6, 3)", "--input", "5", "--to", "torch"], 1, "--in-channels",
                     id="port-channels"),
        pytest.param(["port", "nn.ConvTranspose(6, (3, 3), padding='CIRCULAR')", "--input", "5", "--to", "torch",
                      "--in-channels", "2"], 1, "not a crop", id="port-circular"),
        pytest.param(["port", "nn.Conv2d(4, 6, 3)", "--input", "5", "--to", "keras"], 1, "transposed",
                     id="port-ordinary-conv"),
        pytest.param(["port", "nn.ConvTranspose2d(4, 6, 100000000000)", "--input", "5", "--to", "keras"], 1,
                     "too large to check numerically", id="port-huge"),
        pytest.param(["port", "layers.Conv2DTranspose(6, 3, strides=2, output_padding=2)", "--input", "5", "--to",
                      "torch", "--in-channels", "4"], 1, "strictly less than", id="port-source-refused"),
    ],
)
def test_errors(args: list[str], code: int, words: str) -> None:
    result = run(*args)
    assert result.exit_code == code, result.output
    assert words in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "code", "kind"),
    [
        pytest.param(["shape", "nn.ConvTranspose2d(4, 6, k)", "8", "--json"], 2, "usage", id="usage"),
        pytest.param(["shape", "layers.Conv2DTranspose(6, 3, strides=2, output_padding=2)", "5", "--json"], 1,
                     "framework", id="refused"),
        pytest.param(["port", "nn.ConvTranspose2d(4, 6, 3, groups=2)", "--input", "5", "--to", "keras", "--json"],
                     1, "port", id="impossible"),
    ],
)
def test_errors_as_json(args: list[str], code: int, kind: str) -> None:
    result = run(*args)
    assert result.exit_code == code
    doc = json.loads(result.stdout)
    assert doc["error"]["kind"] == kind and doc["error"]["message"]


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["layers.Conv2DTranspose(64, 3, strides=2, padding='same')", "32", "--json"], id="keras"),
        pytest.param(["nn_conv_transpose2d(16, 33, c(3, 5), stride = c(2, 1))", "50x100"], id="r"),
        pytest.param(["32", "--framework", "onnx", "-k", "3", "-s", "2", "--pads", "0,0,1,1"], id="onnx-options"),
    ],
)
def test_shape_of_other_frameworks_never_imports_numpy(args: list[str]) -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from convtool.cli import main\n"
        f"try:\n    main(['shape', *{args!r}])\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "sys.stderr.write(str('numpy' in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stderr.strip().endswith("False")


@pytest.mark.parametrize("command", ["shape", "port"])
def test_random_layers_through_the_cli_never_crash(command: str) -> None:
    """Random calls of every known name through the command line: exit 0, 1 or 2, never a traceback."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from test_frameworks import ARGUMENTS, CALL_NAMES, KEYWORDS

    @settings(max_examples=60, deadline=None)
    @given(name=st.sampled_from(CALL_NAMES), args=ARGUMENTS, keywords=KEYWORDS, size=st.integers(1, 6),
           target=st.sampled_from(["torch", "keras", "onnx", "jax", "megengine", "tf", "flax", "r"]))
    def check(name, args, keywords, size, target):
        text = f"{name}({', '.join([*args, *(f'{k}={v}' for k, v in keywords)])})"
        extra = ["-k", "3", "--in-channels", "2", "--out-channels", "2"]
        argv = ["shape", text, str(size), *extra] if command == "shape" else \
            ["port", text, "--input", str(size), "--to", target, *extra]
        result = run(*argv)
        assert result.exit_code in (0, 1, 2), (argv, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), (argv, result.exception)

    check()
