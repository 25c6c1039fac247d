"""`convtool shape` through click's CliRunner: answers, JSON, and every error path."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from convtool.cli import main


def run(*args: str):
    return CliRunner().invoke(main, ["shape", *args])


@pytest.mark.parametrize(
    "args, expected",
    [
        # the examples of PyTorch's ConvTranspose2d documentation
        ("--input-shape 20,16,50,100 --out-channels 33 -k 3 -s 2", "(20, 33, 101, 201)"),
        ("--input-shape 20,16,50,100 --out-channels 33 -k 3,5 -s 2,1 -p 4,2", "(20, 33, 93, 100)"),
        ("--input-shape 1,16,6,6 --out-channels 16 -k 3 -s 2 -p 1 --output-size 12x12", "(1, 16, 12, 12)"),
        ("--input-shape 1,16,4,4 --out-channels 16 -k 7 -s 2 -p 1 --output-size 12x12", "(1, 16, 12, 12)"),
        ("50x100 -k 3x5 -s 2x1 -p 4x2", "93x100"),
        ("64 -k 3 -s 2 -p 1 --op conv2d", "32x32"),
        ("9 -k 4 -p same --op conv2d", "9x9"),
        ("5x5x5 -k 3 -s 2", "11x11x11"),
        ("7 -k 3 -s 2 --output-padding 1", "16x16"),
    ],
)
def test_shape_answers(args, expected):
    result = run(*args.split())
    assert result.exit_code == 0, result.output
    assert expected in result.output


def test_output_size_reports_output_padding():
    result = run(*"--input-shape 1,16,6,6 --out-channels 16 -k 3 -s 2 -p 1 --output-size 12x12 --json".split())
    doc = json.loads(result.output)
    assert doc["params"]["output_padding"] == [1, 1]
    assert doc["output"]["shape"] == [1, 16, 12, 12]


def test_json_matches_spec_example():
    result = run(*"--input-shape 20,16,50,100 --out-channels 33 -k 3 -s 2 --json".split())
    assert result.exit_code == 0
    doc = json.loads(result.output)
    expected = {
        "op": "conv_transpose2d",
        "input": {"spatial": [50, 100], "shape": [20, 16, 50, 100]},
        "params": {"kernel_size": [3, 3], "stride": [2, 2], "padding": [0, 0], "output_padding": [0, 0],
                   "dilation": [1, 1], "groups": 1, "in_channels": 16, "out_channels": 33, "bias": True},
        "output": {"spatial": [101, 201], "shape": [20, 33, 101, 201]},
        "output_size_range": {"min": [101, 201], "max": [102, 202]},
        "weight_shape": [16, 33, 3, 3], "bias_shape": [33], "param_count": 4785, "macs": 475200000,
    }
    assert {k: doc[k] for k in expected} == expected
    assert [(o["pattern"], o["even"]) for o in doc["overlap"]] == [([2, 1], False), ([2, 1], False)]
    assert any("checkerboard" in w for w in doc["warnings"])


def test_json_without_channels_has_nulls():
    doc = json.loads(run("50x100", "-k", "3", "--json").output)
    assert doc["input"]["shape"] is None and doc["output"]["shape"] is None
    assert doc["param_count"] is None and doc["macs"] is None and doc["weight_shape"] is None


def test_human_output_shows_every_part():
    out = run(*"--input-shape 1,16,6,6 --out-channels 16 -k 3 -s 2 -p 1".split()).output
    for part in (
        "nn.ConvTranspose2d(16, 16, kernel_size=3, stride=2, padding=1)",
        "(6 - 1)*2 - 2*1 + 1*(3 - 1) + 0 + 1 = 11",
        "11 (0), 12 (1)",
        "weight (16, 16, 3, 3)",
        "params 2,320",
        "1,2 (uneven",
        "inverts nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1)",
        "checkerboard",
    ):
        assert part in out, part


@pytest.mark.parametrize(
    "args, option",
    [
        ("16 -k 3,", "--kernel-size"),
        ("16x -k 3", "SIZE"),
        ("16 -k 3 -s 0", "--stride"),
        ("16 -k 0", "--kernel-size"),
        ("16 -k 3 -p -1", "--padding"),
        ("16 -k 3 -g 0", "--groups"),
        ("16 -k 3 --op conv4d", "--op"),
        ("16x16 -k 3 --op conv3d", "--op conv3d is 3-D but SIZE 16x16 is 2-D"),
        ("-k 3", "SIZE"),
        ("16 -k 3 --input-shape 1,2,3,3", "--input-shape"),
        ("--input-shape 1 -k 3", "--input-shape"),
        ("16 -k 3 --op conv2d --output-size 5", "--output-size"),
        ("16 -k 3 --output-size 5 --output-padding 1", "--output-padding"),
        ("16", "--kernel-size"),
    ],
)
def test_usage_errors_exit_2_naming_the_option(args, option):
    result = run(*args.split())
    assert result.exit_code == 2, result.output
    assert option in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        ("4 -k 3 -s 2 --output-size 12", "requested an output size of (12, 12), but valid sizes range from [9, 9] to [10, 10]"),
        ("4 -k 3 -s 2 --output-padding 2", "output padding must be smaller than either stride or dilation"),
        ("4 -k 3 -p 5", "Output size is too small"),
        ("16 -k 3 -p same", "transposed convolutions take no string padding"),
        ("2 -k 3 --op conv2d", "Kernel size can't be greater than actual input size"),
        ("16 -k 3 -s 2 -p same --op conv2d", "padding='same' is not supported for strided convolutions"),
        ("16 -k 3 --in-channels 3 -g 2", "in_channels must be divisible by groups"),
    ],
)
def test_impossible_layers_exit_1_with_one_sentence(args, message):
    result = run(*args.split())
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: ")


def test_error_with_json_prints_error_document():
    result = run(*"4 -k 3 -s 2 --output-size 12 --json".split())
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["error"]["kind"] == "output_size"
    assert doc["error"]["message"].startswith("requested an output size of (12, 12)")


def test_version():
    assert CliRunner().invoke(main, ["--version"]).output.startswith("convtool, version")


@pytest.mark.parametrize("extra", [[], ["--json"], ["--op", "conv2d"]])
def test_shape_never_imports_numpy(extra):
    code = (
        "import sys\n"
        "from convtool.cli import main\n"
        f"try:\n    main(['shape', '50x100', '-k', '3', '-s', '2', *{extra!r}])\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "sys.stderr.write(str('numpy' in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stderr.strip().endswith("False")


def test_python_dash_m():
    result = subprocess.run([sys.executable, "-m", "convtool", "shape", "4", "-k", "4", "-s", "2", "-p", "1"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "8x8" in result.stdout


@pytest.mark.parametrize(
    "args, option",
    [
        ("5 -k 3 --input-shape 1,1,5,5 --json", "--input-shape replaces SIZE"),
        ("5 -k 0 --json", "--kernel-size"),
        ("50x100 -k 3,5,7 --json", "--kernel-size"),
        ("--input-shape 1,2,3,4,5,6 -k 3 --json", "with 1, 2 or 3 spatial dims"),
        ("5 -k 3 -s 1000 --json", "up to 256"),
    ],
)
def test_usage_errors_with_json_print_an_error_document(args, option):
    result = run(*args.split())
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["error"]["kind"] == "usage" and option in doc["error"]["message"]


def test_unknown_out_channels_leave_the_output_shape_open():
    doc = json.loads(run("5", "-k", "3", "--in-channels", "16", "--json").output)
    assert doc["output"]["shape"] is None and doc["output"]["spatial"] == [7, 7]


def test_huge_kernel_is_worked_out_in_closed_form():
    doc = json.loads(run("5", "-k", "100000000", "--json").output)
    assert doc["overlap"][0]["pattern"] == [100000000]


def test_layer_that_inverts_no_conv_says_so():
    out = run(*"1 -k 1 -d 5 -p 1 --output-padding 3".split()).output
    assert "inverts no Conv2d" in out


# -- dims: SIZE, --dims, --op and --input-shape -------------------------------------------------


@pytest.mark.parametrize(
    "args, op, spatial_in, spatial_out",
    [
        ("7 -k 3 --dims 1", "conv_transpose1d", [7], [9]),
        ("7 -k 3", "conv_transpose2d", [7, 7], [9, 9]),
        ("7 -k 3 --dims 3", "conv_transpose3d", [7, 7, 7], [9, 9, 9]),
        ("7 -k 3 --op conv_transpose1d", "conv_transpose1d", [7], [9]),
        ("7 -k 3 --op conv3d", "conv3d", [7, 7, 7], [5, 5, 5]),
        ("7 -k 3 --op conv", "conv2d", [7, 7], [5, 5]),
        ("7x9 -k 3 --op conv", "conv2d", [7, 9], [5, 7]),
        ("7 -k 3,3,3", "conv_transpose3d", [7, 7, 7], [9, 9, 9]),
        ("7x7x7 -k 3 --op conv_transpose --dims 3", "conv_transpose3d", [7, 7, 7], [9, 9, 9]),
        ("100 --dims 1 -k 16 -s 8 -p 4", "conv_transpose1d", [100], [800]),
    ],
)
def test_dims_come_from_size_dims_op_and_options(args, op, spatial_in, spatial_out):
    doc = json.loads(run(*args.split(), "--json").output)
    assert doc["op"] == op
    assert doc["input"]["spatial"] == spatial_in and doc["output"]["spatial"] == spatial_out


@pytest.mark.parametrize(
    "args, shape_in, shape_out",
    [
        ("--input-shape 1,16,6,6 -k 3", [1, 16, 6, 6], [1, 4, 8, 8]),  # 4 numbers: N,C,H,W
        ("--input-shape 1,16,6,6 -k 3 --dims 3", [1, 16, 6, 6], [4, 18, 8, 8]),  # C,D,H,W
        ("--input-shape 16,6,6 -k 3 --dims 2", [16, 6, 6], [4, 8, 8]),  # unbatched C,H,W
        ("--input-shape 16,6,6 -k 3 --dims 1", [16, 6, 6], [16, 4, 8]),  # N,C,L
        ("--input-shape 16,6,6 -k 3,3", [16, 6, 6], [4, 8, 8]),  # the kernel says 2-D
        ("--input-shape 16,6,6 -k 3 --op conv_transpose1d", [16, 6, 6], [16, 4, 8]),
        ("--input-shape 16,6 -k 3", [16, 6], [4, 8]),  # only C,L reads
        ("--input-shape 2,16,5,6,6 -k 3", [2, 16, 5, 6, 6], [2, 4, 7, 8, 8]),
    ],
)
def test_input_shape_reads_as_its_dims_say(args, shape_in, shape_out):
    doc = json.loads(run(*args.split(), "--out-channels", "4", "--json").output)
    assert doc["input"]["shape"] == shape_in and doc["output"]["shape"] == shape_out


@pytest.mark.parametrize(
    "args, message",
    [
        ("--input-shape 16,6,6 -k 3",
         "--input-shape 16,6,6 could be N,C,L (1-D) or C,H,W (unbatched 2-D): add --dims 1 or --dims 2 to say which"),
        ("--input-shape 16,6,6 -k 3 --op conv_transpose",
         "--input-shape 16,6,6 could be N,C,L (1-D) or C,H,W (unbatched 2-D): add --dims 1 or --dims 2 to say which"),
        ("--input-shape 16,6,6 -k 3 --dims 3", "16,6,6 has 3 numbers, but a 3-D input is N,C,D,H,W or C,D,H,W"),
        ("--input-shape 1,16,6,6 -k 3 --dims 1", "1,16,6,6 has 4 numbers, but a 1-D input is N,C,L or C,L"),
        ("--input-shape 1,16,6,6,6,6 -k 3", "expected N,C,*spatial or C,*spatial with 1, 2 or 3 spatial dims"),
        ("7 -k 3 --op conv_transpose2d --dims 1", "--dims 1 is 1-D but --op conv_transpose2d is 2-D: make them agree"),
        ("7x7x7 -k 3 --op conv2d", "--op conv2d is 2-D but SIZE 7x7x7 is 3-D: make them agree"),
        ("7 -k 3,3 --dims 3", "--dims 3 is 3-D but --kernel-size 3x3 is 2-D: make them agree"),
        ("7 -k 3 --op conv1d --output-size 9", "--output-padding and --output-size apply to --op conv_transpose only"),
        ("7 -k 3 --dims 4", "Invalid value for '--dims'"),
    ],
)
def test_ambiguous_or_disagreeing_dims_are_refused_naming_both(args, message):
    result = run(*args.split())
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_unbatched_input_matches_torch():
    torch = pytest.importorskip("torch")
    doc = json.loads(run(*"--input-shape 16,6,6 --dims 2 --out-channels 4 -k 3 -s 2 -p 1 --json".split()).output)
    layer = torch.nn.ConvTranspose2d(16, 4, 3, stride=2, padding=1)
    assert list(layer(torch.ones(16, 6, 6)).shape) == doc["output"]["shape"] == [4, 11, 11]
    doc = json.loads(run(*"--input-shape 16,6,6 --dims 1 --out-channels 4 -k 3 -s 2 --json".split()).output)
    assert list(torch.nn.ConvTranspose1d(6, 4, 3, stride=2)(torch.ones(16, 6, 6)).shape) == doc["output"]["shape"]


def test_help_shows_1d_and_3d_examples():
    out = CliRunner().invoke(main, ["shape", "--help"]).output
    assert "convtool shape 100 --dims 1 -k 16" in out and "convtool shape 8x16x16" in out


HUGE = "9" * 400


@pytest.mark.parametrize(
    "args, code, message",
    [
        (f"{'9' * 5000} -k 3", 2, "has too many digits"),
        (f"--input-shape {'9' * 5000},3,4 -k 3 --dims 1", 2, "has too many digits"),
    ],
    ids=["unreadable-size", "unreadable-input-shape"],
)
def test_huge_numbers_give_one_sentence(args, code, message):
    result = run(*args.split())
    assert result.exit_code == code
    assert message in result.output and "Traceback" not in result.output


def test_huge_channels_are_exact_in_json():
    doc = json.loads(run("7", "-k", "3", "--in-channels", HUGE, "--out-channels", "3", "--json").output)
    assert doc["param_count"] == int(HUGE) * 3 * 9 + 3


@pytest.mark.parametrize(
    "output_size, expected",
    [("16,12,12", [1, 1]), ("12x12", [1, 1]),
     ("1,16,12,12", "ConvTranspose2D: for 3D input, output_size must have 2 or 3 elements (got 4)")],
)
def test_output_size_of_an_unbatched_input_reads_as_pytorch_reads_it(output_size, expected):
    result = run(*"--input-shape 16,6,6 --dims 2 -k 3 -s 2 -p 1 --json --output-size".split(), output_size)
    doc = json.loads(result.stdout)
    if isinstance(expected, str):
        assert result.exit_code == 1 and doc["error"]["message"] == expected
    else:
        assert doc["params"]["output_padding"] == expected and doc["output"]["spatial"] == [12, 12]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=6), st.one_of(st.none(), st.integers(1, 3)))
def test_input_shape_is_read_only_one_way(numbers, dims):
    text = ",".join(map(str, numbers))
    args = ["--input-shape", text, "-k", "1", "--out-channels", "2", "--json"] + (["--dims", str(dims)] if dims else [])
    result = run(*args)
    readings = [(nd, lead) for nd, lead in ((len(numbers) - 2, 2), (len(numbers) - 1, 1)) if 1 <= nd <= 3]
    if dims is not None:
        readings = [r for r in readings if r[0] == dims]
    elif len(readings) == 2 and readings[0] != (2, 2):  # 3 numbers: N,C,L or C,H,W
        assert result.exit_code == 2 and "could be N,C,L (1-D) or C,H,W (unbatched 2-D)" in result.output
        return
    if not readings:
        assert result.exit_code == 2 and "--input-shape" in result.output
        return
    nd, lead = readings[0]
    doc = json.loads(result.stdout)
    assert result.exit_code == 0 and doc["op"] == f"conv_transpose{nd}d"
    assert doc["input"]["shape"] == numbers  # a 1-wide kernel keeps every length
    assert doc["output"]["shape"] == numbers[: lead - 1] + [2] + numbers[lead:]
