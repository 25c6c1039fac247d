"""`convtool run` through click's CliRunner: tables, JSON, mismatches, --verify, options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from convtool.cli import ByteSize, main

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
GOOD = [p for p in CONFIGS if p.stem != "mismatch_unet"]


def run(*args: str) -> object:
    return CliRunner().invoke(main, ["run", *args])


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_run_every_config(path: Path) -> None:
    result = run(str(path))
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "total" in out and "MACs" in out and "receptive field" in out
    assert "FLOPs / 2" in out and "MiB (2^20 bytes)" in out  # the conventions footer (§4.5)
    assert result.stderr == ""


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_run_json_every_config(path: Path) -> None:
    result = run(str(path), "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) >= {"name", "input", "output", "layers", "totals", "valid_input_sizes", "verified"}
    assert doc["verified"] is False
    spatial = len(doc["input"]) > 2
    assert (doc["valid_input_sizes"] is not None) == spatial or "valid_input_sizes_note" in doc
    layer = doc["layers"][0]
    assert set(layer) >= {"index", "name", "type", "section", "input", "output", "param_count", "macs",
                          "receptive_field", "warnings"}
    outputs = [o["shape"] for o in doc["outputs"]] if "outputs" in doc else [doc["layers"][-1]["output"]]
    assert doc["output"] == outputs[0]  # several outputs (a detection neck): the first one's shape
    assert doc["totals"]["param_count"] == sum(x["param_count"] for x in doc["layers"])
    assert doc["totals"]["macs"] == sum(x["macs"] for x in doc["layers"])


def test_run_table_content() -> None:
    result = run(str(ROOT / "configs" / "autoencoder_28.yaml"))
    out = result.stdout
    assert "encoder" in out and "decoder" in out
    assert "k3 s2 p1 op1" in out and "(1, 8, 7, 7)" in out and "(1, 8, 14, 14)" in out
    # k3 s2 p1 on 28: the leftover position is end padding, every input row is read
    assert "checkerboard" in out and "never reads" not in out
    assert "3,217" in out and "451,584" in out


def test_run_json_dcgan_matches_spec_example() -> None:
    doc = json.loads(run(str(ROOT / "configs" / "dcgan_generator.yaml"), "--json").stdout)
    assert doc["name"] == "DCGAN generator" and doc["input"] == [1, 100, 1, 1] and doc["output"] == [1, 3, 64, 64]
    first = doc["layers"][0]
    assert first.pop("path") == "conv_transpose2d_0" and first.pop("inputs") == ["input"] and first.pop("block") is None
    assert first.pop("grid") == [{"scale": "1", "offset": "-3/2"}] * 2  # k4 s1 centres position 0 on input -3/2
    assert first == {
        "index": 0, "name": None, "type": "conv_transpose2d", "section": None, "config": "k4",
        "input": [1, 100, 1, 1], "output": [1, 512, 4, 4], "param_count": 819200, "macs": 819200,
        "receptive_field": [1, 1], "warnings": [],
    }


def test_batch_and_input_shape_override() -> None:
    path = str(ROOT / "configs" / "unet_padded.yaml")
    doc = json.loads(run(path, "--json", "--batch", "4", "--input-shape", "1,3,64,96").stdout)
    assert doc["input"] == [4, 3, 64, 96] and doc["output"] == [4, 1, 64, 96]
    one = json.loads(run(path, "--json", "--input-shape", "1,3,64,96").stdout)
    assert doc["totals"]["macs"] == 4 * one["totals"]["macs"]
    assert doc["totals"]["activation_bytes"] == 4 * one["totals"]["activation_bytes"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--input-shape", "3"], "expected a full shape"),
        (["--input-shape", "1,x"], "is not an int"),
        (["--batch", "0"], "0"),
        (["--max-memory", "lots"], "is not a memory size"),
    ],
    ids=["shape-int", "shape-syntax", "batch-zero", "memory-syntax"],
)
def test_usage_errors(args: list[str], message: str) -> None:
    result = run(str(ROOT / "configs" / "dcgan_generator.yaml"), *args)
    assert result.exit_code == 2 and message in result.stderr


# -- stacks that do not line up -----------------------------------------------------------------


def test_mismatch_shows_table_up_to_the_layer_and_the_fix() -> None:
    result = run(str(ROOT / "configs" / "mismatch_unet.yaml"))
    assert result.exit_code == 1
    out, err = result.stdout, result.stderr
    assert "does not line up" in out and "cat2" in out and "(1, 64, 36, 36)" in out  # the table, marked
    assert "(1, 1, " not in out  # nothing after the failing layer
    assert "Traceback" not in err
    assert err.startswith("Error: ")
    for words in (
        "layer 9 'cat2' (concat) does not line up",
        "layer 4 'enc2' is 37x37",
        "layer 8 'up2' is 36x36",
        "set output_padding: 1 on layer 8 'up2'",
        "crop: center",
        "(1, 3, 72, 72) or (1, 3, 76, 76)",
    ):
        assert words in err


def test_mismatch_json() -> None:
    result = run(str(ROOT / "configs" / "mismatch_unet.yaml"), "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "mismatch"
    assert (error["layer_index"], error["layer_name"]) == (9, "cat2")
    assert error["failed"]["skip_from"] == {"index": 4, "name": "enc2", "shape": [1, 64, 37, 37]}
    assert len(error["layers"]) == 9 and error["layers"][-1]["output"] == [1, 64, 36, 36]
    assert any("output_padding: 1" in fix for fix in error["fixes"])


def test_mismatch_fixed_by_the_suggestions(tmp_path: Path) -> None:
    text = (ROOT / "configs" / "mismatch_unet.yaml").read_text()
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(text.replace("{name: up2, type: conv_transpose2d,", "{name: up2, type: conv_transpose2d, output_padding: 1,"))
    assert run(str(fixed)).exit_code == 0
    assert run(str(ROOT / "configs" / "mismatch_unet.yaml"), "--input-shape", "1,3,76,76").exit_code == 0


def test_layer_that_cannot_take_its_input(tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text(
        "input: [1, 3, 16, 16]\nlayers:\n"
        + "  - {type: conv2d, out_channels: 4, kernel_size: 3, stride: 2}\n" * 4
    )
    result = run(str(path))
    assert result.exit_code == 1
    assert "layer 3 (conv2d) does not line up with its input (1, 4, 1, 1)" in result.stderr
    assert "Kernel size can't be greater than actual input size" in result.stderr
    assert "(1, 3, 31, 31) instead of (1, 3, 16, 16)" in result.stderr  # the smallest input that works
    assert "does not line up" in result.stdout


def test_written_channels_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "ch.yaml"
    path.write_text("input: [1, 3, 8, 8]\nlayers:\n  - {type: conv2d, in_channels: 4, out_channels: 4, kernel_size: 3}\n")
    result = run(str(path))
    assert result.exit_code == 1
    assert "expected input[1, 3, 8, 8] to have 4 channels, but got 3 channels instead" in result.stderr


def test_add_channel_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "add.yaml"
    path.write_text(
        "input: [1, 3, 8, 8]\nlayers:\n  - {name: a, type: relu}\n"
        "  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}\n  - {type: add, with: a}\n"
    )
    result = run(str(path))
    assert result.exit_code == 1
    assert "kernel_size: 1, out_channels: 4" in result.stderr


# -- --verify ------------------------------------------------------------------------------------


def test_verify_refuses_before_allocating() -> None:
    result = run(str(ROOT / "configs" / "unet_original.yaml"), "--verify", "--batch", "4")
    assert result.exit_code == 1
    assert "more than the limit of 2,048 MiB" in result.stderr and "nothing was run" in result.stderr
    assert "--max-memory" in result.stderr
    small = run(str(ROOT / "configs" / "autoencoder_28.yaml"), "--verify", "--max-memory", "100KiB", "--json")
    assert small.exit_code == 1 and json.loads(small.stdout)["error"]["kind"] == "memory"


@pytest.mark.parametrize("name", ["autoencoder_28", "dcgan_generator", "vae_decoder", "dcgan_discriminator"])
def test_verify(name: str) -> None:
    pytest.importorskip("convtool.numeric")
    result = run(str(ROOT / "configs" / f"{name}.yaml"), "--verify", "--seed", "3")
    assert result.exit_code == 0, result.stderr
    assert "verified" in result.stdout
    doc = json.loads(run(str(ROOT / "configs" / f"{name}.yaml"), "--verify", "--json").stdout)
    assert doc["verified"] is True and doc["verification"]["mismatches"] == []


def test_verify_without_convolutions(tmp_path: Path) -> None:
    path = tmp_path / "noconv.yaml"
    path.write_text(
        "input: [2, 4, 9, 10]\nlayers:\n  - {name: a, type: identity}\n"
        "  - {type: max_pool2d, kernel_size: 3, stride: 2, ceil_mode: true}\n"
        "  - {type: upsample, scale_factor: 2, mode: bilinear}\n  - {type: add, with: a, crop: center}\n"
        "  - {type: pixel_unshuffle, downscale_factor: 2}\n  - {type: group_norm, num_groups: 4}\n"
        "  - {type: gelu}\n  - {type: flatten}\n  - {type: linear, out_features: 12}\n"
        "  - {type: unflatten, shape: [3, 2, 2]}\n  - {type: adaptive_avg_pool2d, output_size: 1}\n"
    )
    result = run(str(path), "--verify", "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["verified"] is True and doc["output"] == [2, 3, 1, 1]


def test_verify_unet_smaller_input() -> None:
    pytest.importorskip("convtool.numeric")
    result = run(str(ROOT / "configs" / "unet_padded.yaml"), "--verify", "--input-shape", "1,3,32,48", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["verified"] is True


@pytest.mark.parametrize(
    "text, expected",
    [("2GiB", 2 * 2**30), ("512MiB", 512 * 2**20), ("1000", 1000), ("1.5GB", 1_500_000_000), ("64 kib", 65536)],
)
def test_byte_size(text: str, expected: int) -> None:
    assert ByteSize().convert(text, None, None) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("input: [1,3,8,8,8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3}\n", "Expected 3D"),
        ("input: [1,3,8]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3}\n", "needs an (N, C, H, W) input"),
        ("input: [1,3,8,8]\nlayers:\n  - {type: upsample, scale_factor: .inf}\n", "positive (finite) number"),
    ],
)
def test_odd_inputs_fail_cleanly(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(text)
    result = run(str(path))
    assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.output


def test_huge_input_skips_the_receptive_field(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("input: [1,3,1000000000000,1000000000000]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3}\n")
    doc = json.loads(run(str(path), "--json").stdout)
    assert doc["layers"][0]["receptive_field"] is None and doc["output"][2] == 999999999998


def test_mismatch_json_names_line_and_column() -> None:
    result = run(str(ROOT / "configs" / "mismatch_unet.yaml"), "--json")
    doc = json.loads(result.stdout)["error"]
    assert (doc["line"], doc["column"], doc["layer_index"]) == (18, 5, 9)
