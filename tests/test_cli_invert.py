"""`convtool invert` through click's CliRunner: both forms, JSON, and every error path."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from convtool.cli import main
from convtool.params import ConvParams
from convtool.shape import spatial_output


def run(*args: str):
    return CliRunner().invoke(main, ["invert", *args])


def run_json(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# -- the first form -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, expected",
    [
        ("28 -k 3 -s 2 -p 1", "nn.ConvTranspose2d(out_channels, in_channels, kernel_size=3, stride=2, padding=1, output_padding=1)"),
        ("28 -k 3 -s 2 -p 1", "up(x, output_size=(28, 28))"),
        ("28 -k 3 -s 2 -p 1", "27x28"),
        ("50x100 -k 3 -s 2 --in-channels 16 --out-channels 32", "nn.Conv2d(16, 32, kernel_size=3, stride=2)"),
        ("50x100 -k 3 -s 2 --in-channels 16 --out-channels 32", "nn.ConvTranspose2d(32, 16, kernel_size=3, stride=2, output_padding=1)"),
        ("28 -k 3 -p 1", "this inverse is unique"),
        ("13 -k 5 -p same", "padding=2"),
        ("9x9x9 -k 3 -s 2", "nn.ConvTranspose3d"),
    ],
)
def test_inverse_answers(args, expected):
    result = run(*args.split())
    assert result.exit_code == 0, result.output
    assert expected in result.stdout


def test_inverse_json_has_the_spec_fields():
    doc = run_json("28x27", "-k", "3", "-s", "2", "-p", "1", "--in-channels", "3", "--out-channels", "8")
    assert doc["conv"]["input"] == [28, 27] and doc["conv"]["output"] == [14, 14]
    assert doc["conv"]["in_channels"] == 3 and doc["conv"]["kernel_size"] == [3, 3]
    assert doc["transpose"]["output_padding"] == [1, 0]
    assert doc["transpose"]["in_channels"] == 8 and doc["transpose"]["out_channels"] == 3
    assert doc["restores"] == [28, 27]
    assert doc["alternatives"] == [
        {"size": [27, 27], "output_padding": [0, 0], "output_size_reachable": True},
        {"size": [27, 28], "output_padding": [0, 1], "output_size_reachable": True},
        {"size": [28, 28], "output_padding": [1, 1], "output_size_reachable": True},
    ]


# -- the search -----------------------------------------------------------------------------


def test_search_prints_ranked_pytorch_code():
    result = run("28", "--to", "56", "--top", "2")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1] == "1. nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)"
    assert lines[3] == "2. nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2, padding=1)"
    assert "6,561 ConvTranspose2d layers map 28x28 -> 56x56" in lines[0]  # 81 per dim


def test_search_json_has_the_spec_fields():
    doc = run_json("50x100", "--to", "100x200", "--top", "3", "--in-channels", "8", "--out-channels", "4")
    assert doc["size"] == [50, 100] and doc["target"] == [100, 200] and doc["total"] > 3
    assert len(doc["solutions"]) == 3 and doc["nearest"] == []
    first = doc["solutions"][0]
    assert {k: first[k] for k in ("kernel_size", "stride", "padding", "output_padding", "dilation", "even")} == {
        "kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0], "output_padding": [0, 0],
        "dilation": [1, 1], "even": True,
    }
    assert first["overlap"] == [{"pattern": [1, 1], "even": True, "ratio": 1.0}] * 2
    assert first["code"] == "nn.ConvTranspose2d(8, 4, kernel_size=2, stride=2)"


@pytest.mark.parametrize(
    "args, expected",
    [
        ("28 --to 56 -k 4 --max-dilation 1", ["k4 s2 p1"]),
        ("28 --to 56 -k 4,2 --max-dilation 1", ["k4x2 s2 p1x0"]),
        ("28 --to 57 -s 2 --output-padding 0 --max-kernel 3 --max-dilation 1", ["k3 s2"]),
        # a fixed value applies even beyond --max-kernel; the wider stride range makes 7 -> 200 possible
        ("7 --to 200 --max-stride 32 -k 32 -p 0 -d 1 --top 3", ["k32 s28", "k32 s27 op6", "k32 s28x27 op0x6"]),
    ],
)
def test_search_constraints(args, expected):
    doc = run_json(*args.split())
    got = [
        ConvParams.conv_transpose(s["kernel_size"], s["stride"], s["padding"], s["output_padding"],
                                  dilation=s["dilation"]).compact()
        for s in doc["solutions"]
    ]
    assert got == expected


def test_search_without_solution_names_the_nearest_targets_and_exits_0():
    result = run("28", "--to", "1000")
    assert result.exit_code == 0
    assert "No ConvTranspose2d maps 28x28 -> 1000x1000" in result.stdout
    assert "Nearest reachable targets: 269x269" in result.stdout
    doc = run_json("28", "--to", "1000")
    assert doc["solutions"] == [] and doc["total"] == 0 and doc["nearest"] == [[269, 269]]


def test_search_with_an_empty_space_says_so():
    result = run("4", "--to", "9", "--output-padding", "9")
    assert result.exit_code == 0
    assert "no valid layer" in result.stdout


def test_help_documents_the_ranking_and_examples():
    result = CliRunner().invoke(main, ["invert", "--help"])
    assert result.exit_code == 0
    for text in ("Ranking", "no output_padding", "smaller kernel", "dilation 1", "smaller padding",
                 "worst dim", "convtool invert 28 --to 56", "convtool invert 28 -k 3 -s 2 -p 1"):
        assert text in result.output


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, code, message",
    [
        # usage errors: exit 2, the option named
        ("abc -k 3", 2, "Invalid value for 'SIZE': 'abc'"),
        ("0 -k 3", 2, "every value must be at least 1"),
        ("28", 2, "give -k/--kernel-size (undo a Conv), --to TARGET or --factor F"),
        ("28 -k 0", 2, "Invalid value for '-k' / '--kernel-size'"),
        ("28 -k 3 --top 3", 2, "--top apply to the search only"),
        ("28 -k 3 --max-kernel 4 --output-padding 1", 2, "--output-padding, --max-kernel apply to the search only"),
        ("28 --to 56 --top 0", 2, "Invalid value for '--top'"),
        ("28 --to 56 --max-stride 0", 2, "Invalid value for '--max-stride'"),
        ("28 --to x", 2, "Invalid value for '--to'"),
        ("28 --to 56 -p same", 2, "the search takes int paddings only"),
        ("28x28x28 --to 56x56", 2, "Invalid value for '--to': 2 values, but 'SIZE' has 3"),
        ("28 -k 3,3,3 -s 2,2", 2, "Invalid value for '-s' / '--stride': 2 values, but '-k' / '--kernel-size' has 3"),
        ("configs/unet.yaml", 2, "'configs/unet.yaml' does not exist"),
        # impossible requests: exit 1, one sentence and a hint
        ("4 -k 7", 1, "Kernel size can't be greater than actual input size"),
        ("28 -k 3 -s 2 -p same", 1, "padding='same' is not supported for strided convolutions"),
        ("9 -k 4 -p same", 1, "asymmetric"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_errors(args, code, message):
    result = run(*args.split())
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_impossible_request_has_a_hint_and_a_json_error():
    result = run("4", "-k", "7")
    assert result.stderr.startswith("Error: Calculated padded input size per channel: (4 x 4)")
    assert "Hint:" in result.stderr
    result = run("4", "-k", "7", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["kind"] == "config"


# -- dims, --factor and --stages --------------------------------------------------------------


def test_factor_lists_exactly_the_brute_force_of_its_space():
    from test_design import factor_brute_force

    doc = run_json("80", "--factor", "8", "--dims", "1", "--top", "1000")
    got = {(s["kernel_size"][0], s["stride"][0], s["padding"][0], s["output_padding"][0], s["dilation"][0])
           for s in doc["solutions"]}
    assert len(doc["solutions"]) == doc["total"] == len(got)
    assert got == factor_brute_force(8, 32)
    assert doc["factor"] == [8] and doc["target"] == [640] and doc["nearest"] == []
    assert doc["space"] == ["kernel 1-32, stride 8, dilation 1-3, padding 0..d(k-1), every legal output_padding"]


@pytest.mark.parametrize(
    "args, expected",
    [
        ("80 --factor 8 --dims 1", ["Factor 8: out = 8 * in for every input length", "1. nn.ConvTranspose1d(in_channels, "
                                     "out_channels, kernel_size=8, stride=8)", "kernel_size=16, stride=8, padding=4"]),
        ("16 --factor 2", ["nn.ConvTranspose2d(in_channels, out_channels, kernel_size=2, stride=2)"]),
        ("16 --factor 2 --dims 3", ["nn.ConvTranspose3d(in_channels, out_channels, kernel_size=2, stride=2)"]),
        ("16x40 --factor 1,4", ["kernel_size=(1, 4), stride=(1, 4)"]),
        ("80 --factor 300 --stages 2 --dims 1", ["6 ways to split x300 over 2 stages (80 -> 24000",
                                                 "1. x15 then x20   80 -> 1200 -> 24000"]),
        ("1 --to 64 --stages 5", ["1x1 -> 2x2 -> 4x4 -> 8x8 -> 16x16 -> 64x64"]),
        ("7 --to 64 --stages 3", ["split 7x7 -> 64x64 over 3 stages (the first stage a plain search",
                                  "1. to 16x16 then x2 then x2   7x7 -> 16x16 -> 32x32 -> 64x64",
                                  "nn.ConvTranspose2d(in_channels, out_channels, kernel_size=4, stride=2)"]),
        ("80 --factor 300 --stages 2 --dims 1 --max-stride 64",
         ["Not searched, their space is too big (over 3,000,000 layers per dim): x50, x60", "6 ways to split"]),
        ("9 --to 18 --dims 1", ["nn.ConvTranspose1d"]),
        ("9 -k 3 -s 2 --dims 3", ["nn.ConvTranspose3d", "nn.Conv3d"]),
        ("9 -k 3 -s 2 --dims 1", ["nn.ConvTranspose1d"]),
    ],
)
def test_dims_factor_and_stages_answers(args, expected):
    result = run(*args.split())
    assert result.exit_code == 0, result.output
    for text in expected:
        assert text in result.stdout, text


def test_stages_json_has_every_chain_checked():
    doc = run_json("80", "--factor", "300", "--stages", "3", "--dims", "1", "--top", "1000")
    assert doc["factor"] == [300] and doc["stages"] == 3 and doc["target"] == [24000]
    assert doc["total"] == len(doc["chains"]) == doc["splits"]
    assert doc["chains"][0]["factors"] == [[5], [6], [10]]
    for chain in doc["chains"]:
        n = doc["size"]
        for stage, size in zip(chain["stages"], chain["sizes"][1:]):
            assert stage["input"] == n
            best = stage["solutions"][0]
            layer = ConvParams.conv_transpose(best["kernel_size"], best["stride"], best["padding"],
                                              best["output_padding"], dilation=best["dilation"])
            n = list(spatial_output(layer, tuple(n)))
            assert n == size == stage["output"]
        assert n == [24000]


def test_help_shows_1d_and_3d_examples_and_the_factor_space():
    out = CliRunner().invoke(main, ["invert", "--help"]).output
    for text in ("convtool invert 80 --factor 8 --dims 1", "convtool invert 9x9x9 -k 3 -s 2", "max(16, 4F)",
                 "--stages", "worst stage", "3,000,000"):
        assert text in out, text


HUGE = "9" * 400


@pytest.mark.parametrize(
    "args, code, message",
    [
        ("28 --to 56 --factor 2", 2, "give --to TARGET or --factor F, not both"),
        ("configs/autoencoder_mirror.yaml --dims 2 --factor 2", 2,
         "--factor, --dims do not apply to an architecture file (configs/autoencoder_mirror.yaml)"),
        ("28 -k 3 --dims 2 --format torch", 2, "--format apply to `convtool invert ARCH.yaml` only"),
        ("28 --stages 2", 2, "--stages apply to the search only: add --to TARGET or --factor F"),
        ("28 --factor 2 -s 2", 2, "--stride does not apply: the factor of each layer is its stride"),
        ("28 --factor 2 --max-stride 4", 2, "--max-stride applies to --stages only"),
        ("28 --factor 4 --stages 2 --in-channels 3", 2, "--in-channels do not apply to --stages"),
        ("28 --factor 2 --stages 13", 2, "Invalid value for '--stages'"),
        ("28 --factor 2,2,2,2", 2, "4 spatial dims"),
        ("28x28 --factor 2 --dims 1", 2, "--dims 1 is 1-D but SIZE 28x28 is 2-D"),
        ("28 --factor 2x2 --dims 3", 2, "--dims 3 is 3-D but --factor 2x2 is 2-D"),
        ("7 --to 28 --top 99999999999999999999", 2, "is not in the range 1<=x<=1000"),
        ("7 --to 28 --max-kernel " + HUGE, 2, "Invalid value for '--max-kernel'"),
        ("9" * 5000 + " --to 28", 2, "has too many digits"),
        ("7 --to 28 -k " + HUGE, 1, "layers per dim, more than the 3,000,000 searched at once"),
        ("7 --factor " + HUGE, 1, "layers per dim, more than the 3,000,000 searched at once"),
        ("7 --factor " + HUGE + " --stages 2", 1, "the factor of about 10^399 has a prime factor above 32"),
        ("7 --factor 1" + "0" * 400 + " --stages 2", 1, "160,801 ways to split the factor over 2 stages"),
        ("80 --factor 300 --dims 1", 1, "1,296,000,000 layers per dim"),
        ("7 --factor 37 --stages 2", 1, "the factor 37 has a prime factor above 32"),
    ],
    ids=lambda v: v[:60] if isinstance(v, str) else None,
)
def test_factor_stage_and_bound_errors(args, code, message):
    result = run(*args.split())
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_errors_are_one_sentence_with_a_hint():
    result = run("80", "--factor", "300", "--dims", "1")
    assert result.stderr.splitlines() == [
        "Error: the search space holds 1,296,000,000 layers per dim, more than the 3,000,000 searched at once",
        "Hint: fix -k or -d, lower --max-kernel, or split the factor with --stages",
    ]


def test_huge_size_is_searched_exactly():
    result = run(HUGE, "--to", "28")
    assert result.exit_code == 0 and "No ConvTranspose2d maps" in result.stdout
    doc = run_json(HUGE, "--factor", "2", "--dims", "1", "--top", "1")
    assert doc["solutions"][0]["code"] == "nn.ConvTranspose1d(in_channels, out_channels, kernel_size=2, stride=2)"


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 12), st.integers(1, 300), st.integers(1, 3))
def test_every_factor_layer_multiplies_every_length(factor, size, dims):
    doc = run_json(str(size), "--factor", str(factor), "--dims", str(dims), "--top", "50")
    assert doc["total"] >= 1 and doc["target"] == [factor * size] * dims
    for s in doc["solutions"]:
        layer = ConvParams.conv_transpose(s["kernel_size"], s["stride"], s["padding"], s["output_padding"],
                                          dilation=s["dilation"])
        for n in (1, size, 10**20):
            assert spatial_output(layer, (n,) * dims) == (factor * n,) * dims


def test_stages_to_a_target_no_multiple_of_size_in_json():
    doc = run_json("3", "--to", "100", "--stages", "2", "--dims", "1")
    assert doc["factor"] is None and doc["target"] == [100]
    first = doc["chains"][0]
    assert first["factors"] == [None, [5]] and first["sizes"] == [[3], [20], [100]]
    assert first["stages"][0]["factor"] is None and first["stages"][0]["output"] == [20]
