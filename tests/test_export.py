"""`convtool export`: the generated PyTorch file against convtool's own table.

Without torch the files are only compiled; with torch (pytest.importorskip) every exported
module is built and run, and each row of the table is compared with `layers[i]` through
forward hooks: output shape and parameter count, and the totals.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support.exported import check_against_torch

from convtool.cli import main
from convtool.export import class_name, export
from convtool.graph import Propagation, load, loads, propagate

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.yaml") if p.stem != "mismatch_unet")

# every kind without an nn class, names that are no Python identifiers, several skips at once
ODD = """
name: odd stack
input: [2, 4, 9, 9]
layers:
  - {name: '1', type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: enc-1, type: relu}
  - {name: class, type: conv2d, out_channels: 4, kernel_size: 3}
  - {type: add, with: '1', crop: center}
  - {type: concat, with: [enc-1, class], crop: center}
  - {type: upsample, scale_factor: 2, mode: bilinear}
  - {type: group_norm, num_groups: 3}
  - {type: reshape, shape: [12, 14, -1]}
  - {type: flatten}
  - {type: linear, out_features: 5}
  - {type: unflatten, dim: 1, shape: [5, 1, 1]}
  - {type: conv_transpose2d, out_channels: 2, kernel_size: 3, stride: 2, output_size: [4, 4]}
"""


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_export_compiles(path: Path) -> None:
    prop = propagate(load(path))
    source = export(prop)
    compile(source, f"{path.stem}.py", "exec")
    assert f"class {class_name(prop.arch.name, prop.arch.file)}(nn.Module):" in source
    # a file with blocks is exported as one class per block, its rows listed in ROWS
    assert ("ROWS = (" if prop.arch.uses else "self.layers = nn.ModuleList([") in source
    assert 'if __name__ == "__main__":' in source
    assert "import convtool" not in source


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_export_matches_the_table_under_torch(path: Path) -> None:
    check_against_torch(propagate(load(path)))


def test_mirrored_decoder_is_exported_expanded() -> None:
    prop = propagate(load(ROOT / "configs" / "autoencoder_mirror.yaml"), (1, 1, 30, 30))
    source = export(prop)
    assert "# -- decoder --" in source and source.count("nn.ConvTranspose2d(") == 7
    assert "INPUT_SHAPE = (1, 1, 30, 30)" in source
    check_against_torch(prop)


def test_odd_stack_matches_the_table_under_torch() -> None:
    prop = propagate(loads(ODD, "odd.yaml"))
    source = export(prop)
    for part in ("out_1 = x", "enc_1 = x", "class_ = x", "layers[3](x, out_1)", "layers[4](x, enc_1, class_)",
                 "Reshape(shape=(12, 14, 14))", "Add(crop=True)", "Concat(crop=True)", "output_padding=1"):
        assert part in source
    check_against_torch(prop, device="cpu")


def test_skip_without_crop_gets_no_crop_helper_call() -> None:
    prop = propagate(loads("input: [1, 2, 4, 4]\nlayers:\n  - {name: a, type: relu}\n  - {type: add, with: a}\n"))
    assert "Add(crop=False)" in export(prop)
    check_against_torch(prop, device="cpu")


@pytest.mark.parametrize("config, shape", [("autoencoder_mirror", "(1, 1, 28, 28)"), ("dcgan_generator", "(1, 3, 64, 64)")])
def test_exported_file_runs_as_a_script(tmp_path: Path, config: str, shape: str) -> None:
    pytest.importorskip("torch")
    target = tmp_path / f"{config}.py"
    result = CliRunner().invoke(main, ["export", str(ROOT / "configs" / f"{config}.yaml"), "-o", str(target)])
    assert result.exit_code == 0, result.output
    run = subprocess.run([sys.executable, str(target)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"output shape: {shape}"


# -- the command ------------------------------------------------------------------------------


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, ["export", *args])


def test_export_prints_the_file() -> None:
    result = invoke(str(ROOT / "configs" / "dcgan_generator.yaml"))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith('"""DCGAN generator: exported by convtool')
    assert "class DCGANGenerator(nn.Module):" in result.stdout
    assert result.stderr == ""


def test_export_writes_the_file(tmp_path: Path) -> None:
    target = tmp_path / "gen.py"
    result = invoke(str(ROOT / "configs" / "dcgan_generator.yaml"), "-o", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert f"wrote {target}: class DCGANGenerator, 14 layers, 3,576,704 parameters" in result.stderr
    assert target.read_text() == export(propagate(load(ROOT / "configs" / "dcgan_generator.yaml")))


def test_export_input_shape_override() -> None:
    result = invoke(str(ROOT / "configs" / "autoencoder_mirror.yaml"), "--input-shape", "1,1,30,30")
    assert result.exit_code == 0, result.output
    assert "INPUT_SHAPE = (1, 1, 30, 30)" in result.stdout


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["configs/mismatch_unet.yaml"], 1, ["does not line up", "skip tensor from layer 4 'enc2' is 37x37",
                                             "output_padding: 1"]),
        (["configs/nothing.yaml"], 2, ["does not exist"]),
        (["configs/dcgan_generator.yaml", "--input-shape", "7"], 2, ["expected a full shape"]),
        (["configs/dcgan_discriminator.yaml", "--input-shape", "1,3,16,16"], 1, [
            "layer 11 (conv2d) does not line up", "Kernel size can't be greater than actual input size"]),
        (["configs/dcgan_generator.yaml", "-o", "/nonexistent/dir/gen.py"], 1, ["cannot write '/nonexistent/dir/gen.py'"]),
    ],
    ids=["mismatch", "missing-file", "bad-shape", "too-small", "unwritable"],
)
def test_export_errors(args: list[str], code: int, words: list[str]) -> None:
    result = CliRunner().invoke(main, ["export", *args], catch_exceptions=False, env={"COLUMNS": "200"})
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    said = " ".join(result.stderr.split())  # the message as one line (it wraps at COLUMNS)
    for word in words:
        assert word in said


HOSTILE_NAMES = [
    'a\n            print("PWNED") or nn.Identity(),  #',
    'quote"""inside', "single'''quotes", "back\\slash\\", "ends with backslash\\",
    "tab\tand\rcarriage", "esc\x1b]0;pwned\x07\x1b[2J", "bidi\u202eevil", "line\u2028sep", "nul\x00byte",
    "ünïcödé ²³ 名前", "class", "x", "layers",
]


def hostile_prop(tmp_path: Path) -> Propagation:
    """A stack whose every name, its title and its file name are hostile strings; the layers
    read each other's outputs by those names, so they also become variables in forward."""
    import yaml

    layers: list[dict[str, Any]] = []
    for i, name in enumerate(HOSTILE_NAMES):
        layers.append({"name": name, "type": "conv2d", "out_channels": 2, "kernel_size": 1} if i % 3 == 0
                      else {"name": name, "type": "relu"})
    layers.append({"type": "add", "with": HOSTILE_NAMES[-2]})
    layers.append({"type": "concat", "with": HOSTILE_NAMES[:4]})
    doc = {"name": 'title """ \n print("PWNED") \\ \x1b[2J', "input": [1, 2, 5, 5], "layers": layers}
    path = tmp_path / 'file """ \\ \'.yaml'
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return propagate(load(path))


def test_hostile_names_stay_inert(tmp_path: Path) -> None:
    import ast

    prop = hostile_prop(tmp_path)
    source = export(prop)
    tree = ast.parse(source)
    calls = [node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]
    assert calls.count("print") == 1  # the __main__ block's own
    names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert "PWNED" not in names
    assert all(ch.isprintable() or ch == "\n" for ch in source), "a raw control character"


def test_hostile_names_build_the_same_module(tmp_path: Path) -> None:
    check_against_torch(hostile_prop(tmp_path))


def test_hostile_names_run_as_a_script(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    prop = hostile_prop(tmp_path)
    script = tmp_path / "model.py"
    script.write_text(export(prop), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"output shape: {prop.output}\n"
