"""`convtool draw` and `run --html` through click's CliRunner: what they write, and every
error path (exit status and one sentence)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from convtool.cli import main

ROOT = Path(__file__).resolve().parents[1]
UNET = str(ROOT / "configs" / "unet_original.yaml")
MISMATCH = str(ROOT / "configs" / "mismatch_unet.yaml")


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_draw_layer_writes_svg(tmp_path: Path) -> None:
    target = tmp_path / "up.svg"
    result = run("draw", "4x4", "-k", "3", "-s", "2", "-p", "1", "--output-padding", "1", "-o", str(target))
    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert text.startswith("<svg") and "nn.ConvTranspose2d(in_channels, out_channels, kernel_size=3" in text
    assert result.stdout == "" and result.stderr.startswith(f"wrote {target}")
    assert [p.name for p in tmp_path.iterdir()] == ["up.svg"]  # no temporary file left behind


@pytest.mark.parametrize(
    "args, expect",
    [
        (["7", "-k", "3", "-s", "2", "--op", "conv2d"], "nn.Conv2d("),
        (["9", "-k", "4", "-s", "2", "-p", "1", "--op", "conv_transpose1d"], "nn.ConvTranspose1d("),
        (["--input-shape", "1,16,9", "--op", "conv_transpose1d", "-k", "4", "-s", "2", "--out-channels", "8"],
         "nn.ConvTranspose1d(16, 8,"),
        (["--input-shape", "1,16,4,4", "-k", "3", "-s", "2", "--out-channels", "8"], "nn.ConvTranspose2d(16, 8,"),
        (["6", "-k", "3", "-p", "same", "--op", "conv2d"], "padding=&#x27;same&#x27;"),
        (["4x4", "-k", "3", "-s", "2", "--animate"], "<animateTransform"),
    ],
    ids=["conv2d", "conv_transpose1d", "input-shape-1d", "input-shape-2d", "same", "animate"],
)
def test_draw_layer_to_stdout(args: list[str], expect: str) -> None:
    result = run("draw", *args, "-o", "-")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<svg") and expect in result.stdout
    assert result.stderr == ""


def test_draw_network(tmp_path: Path) -> None:
    target = tmp_path / "unet.svg"
    result = run("draw", UNET, "-o", str(target))
    assert result.exit_code == 0, result.output
    assert "388x388" in target.read_text(encoding="utf-8")


def test_draw_network_input_shape_and_batch() -> None:
    result = run("draw", UNET, "--input-shape", "2,1,188,188", "-o", "-")
    assert result.exit_code == 0, result.output
    assert "4x4" in result.stdout and "(N = 2)" in result.stdout
    assert "(N = 5)" in run("draw", UNET, "--batch", "5", "-o", "-").stdout


def test_draw_png_when_cairosvg_is_there(tmp_path: Path) -> None:
    pytest.importorskip("cairosvg")
    target = tmp_path / "up.png"
    assert run("draw", "4", "-k", "3", "-s", "2", "-o", str(target)).exit_code == 0
    assert target.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_draw_png_without_cairosvg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cairosvg", None)  # import fails as when it is not installed
    target = tmp_path / "up.png"
    result = run("draw", "4", "-k", "3", "-s", "2", "-o", str(target))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: writing PNG needs cairosvg (pip install cairosvg")
    assert not target.exists()


def test_mismatch_is_drawn_and_exits_1(tmp_path: Path) -> None:
    target = tmp_path / "mm.svg"
    result = run("draw", MISMATCH, "-o", str(target))
    assert result.exit_code == 1
    assert "does not line up" in target.read_text(encoding="utf-8")
    assert f"wrote {target}" in result.stderr and "Error: " in result.stderr and "Traceback" not in result.output


def test_existing_file_needs_force(tmp_path: Path) -> None:
    target = tmp_path / "up.svg"
    target.write_text("old")
    result = run("draw", "4", "-k", "3", "-o", str(target))
    assert result.exit_code == 1
    assert result.stderr == f"Error: {str(target)!r} already exists: add --force to replace it\n"
    assert target.read_text() == "old"
    assert run("draw", "4", "-k", "3", "-o", str(target), "--force").exit_code == 0
    assert target.read_text(encoding="utf-8").startswith("<svg")


def test_force_keeps_the_file_mode(tmp_path: Path) -> None:
    target = tmp_path / "up.svg"
    target.write_text("old")
    target.chmod(0o640)
    assert run("draw", "4", "-k", "3", "-o", str(target), "--force").exit_code == 0
    assert target.stat().st_mode & 0o777 == 0o640


def test_new_file_has_the_umask_mode(tmp_path: Path) -> None:
    target = tmp_path / "up.svg"
    mask = os.umask(0o022)
    try:
        assert run("draw", "4", "-k", "3", "-o", str(target)).exit_code == 0
    finally:
        os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o644


def test_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "up.svg"
    target.write_text("old")

    def refuse(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    result = run("draw", "4", "-k", "3", "-o", str(target), "--force")
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot write {str(target)!r}: No space left on device; nothing was changed\n"
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["up.svg"]


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["4", "-o", "-"], 2, "give -k/--kernel-size"),
        (["4", "-k", "3"], 2, "Missing option '-o'"),
        (["4", "-k", "3", "--op", "conv2d", "--output-padding", "1", "-o", "-"], 2,
         "--output-padding applies to transposed layers"),
        (["4", "-k", "3", "--batch", "2", "-o", "-"], 2, "--batch applies to an architecture file"),
        ([UNET, "-k", "3", "-o", "-"], 2, "--kernel-size apply to a layer (SIZE)"),
        ([UNET, "--animate", "-o", "-"], 2, "--animate apply to a layer (SIZE)"),
        (["missing/arch.yaml", "-o", "-"], 2, "does not exist"),
        ([UNET, "--input-shape", "5", "-o", "-"], 2, "expected a full shape"),
        (["4x4", "-k", "3,3,3", "-o", "-"], 2, "3 values, but 'SIZE|ARCH.yaml' has 2"),
        (["4x4", "-k", "3", "--op", "conv_transpose1d", "-o", "-"], 2, "is 1-D but SIZE 4x4 is 2-D"),
        (["--input-shape", "1,1,4,4,4", "-k", "3", "-o", "-"], 1, "convtool draws 1-D and 2-D layers"),
        (["40", "-k", "3", "-s", "2", "-o", "-"], 1, "a picture holds at most 64 cells per dim, but this one needs"),
        (["4", "-k", "3", "-p", "5", "-o", "-"], 1, "Output size is too small"),
        (["2", "-k", "3", "--op", "conv2d", "-o", "-"], 1, "Kernel size can't be greater than actual input size"),
        (["4", "-k", "3", "-s", "2", "--output-padding", "2", "-o", "-"], 1,
         "output padding must be smaller than either stride or dilation"),
    ],
    ids=["no-kernel", "no-output", "op-conv", "batch-layer", "layer-option-arch", "animate-arch", "missing-file",
         "input-shape-int", "ndim-mismatch", "1d-two-values", "3d", "too-big", "too-small", "conv-too-small",
         "output-padding"],
)
def test_draw_errors(args: list[str], code: int, message: str) -> None:
    result = run("draw", *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    if code == 1:
        assert result.stderr.startswith("Error: ") and result.stdout == ""


def test_target_is_a_directory(tmp_path: Path) -> None:
    result = run("draw", "4", "-k", "3", "-o", str(tmp_path))
    assert result.exit_code == 1 and "is a directory" in result.stderr


def test_target_folder_missing(tmp_path: Path) -> None:
    target = tmp_path / "nowhere" / "up.svg"
    result = run("draw", "4", "-k", "3", "-o", str(target))
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot write {str(target)!r}: No such file or directory\n"


def test_target_is_a_special_file() -> None:
    result = run("draw", "4", "-k", "3", "-o", "/dev/null", "--force")
    assert result.exit_code == 1 and "it is a character device" in result.stderr


def test_never_writes_over_its_input(tmp_path: Path) -> None:
    arch = tmp_path / "net.yaml"
    arch.write_text(Path(UNET).read_text())
    result = run("draw", str(arch), "-o", str(arch), "--force")
    assert result.exit_code == 1 and "is the file being read" in result.stderr
    assert arch.read_text() == Path(UNET).read_text()
    result = run("run", str(arch), "--html", str(arch), "--force")
    assert result.exit_code == 1 and "is the file being read" in result.stderr


def test_run_html_errors(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_text("old")
    result = run("run", UNET, "--html", str(page))
    assert result.exit_code == 1 and result.stderr == f"Error: {str(page)!r} already exists: add --force to replace it\n"
    result = run("run", UNET, "--html", "-")
    assert result.exit_code == 2 and "the page goes to a file" in result.stderr
    result = run("run", UNET, "--html", str(page), "--force", "--json")
    assert result.exit_code == 0 and result.stdout.startswith("{")  # --json still prints only JSON
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_draw_layer_never_imports_numpy(tmp_path: Path) -> None:
    target = tmp_path / "up.svg"
    code = (
        "import sys\n"
        "from convtool.cli import main\n"
        f"try:\n    main(['draw', '4x4', '-k', '3', '-s', '2', '--animate', '-o', {str(target)!r}])\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "sys.stderr.write(str('numpy' in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stderr.strip().endswith("False") and target.exists()


@pytest.mark.parametrize(
    "args, grid",
    [
        ("6 -k 3 -s 2 -p 1", ["1  2  1  2", "2  4  2  4", "1  2  1  2", "2  4  2  4"]),
        ("6 -k 1 -s 2", ["1  0  1  0", "0  0  0  0", "1  0  1  0", "0  0  0  0"]),
        ("--input-shape 1,1,6 --dims 1 -k 3 -s 2", ["2  1  2  1"]),
        ("6 -k 3,4 -s 2,1", ["8  8", "4  4", "8  8", "4  4"]),
    ],
    ids=["checkerboard", "gaps", "1d", "per-dim"],
)
def test_shape_shows_the_overlap_grid(args: str, grid: list[str]) -> None:
    """`convtool shape` prints the overlap as a small grid: two periods per dim from position 0,
    each cell the product of its row's and column's taps."""
    lines = [line.strip() for line in run("shape", *args.split()).stdout.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("overlap")) + 1
    assert lines[start:start + len(grid)] == grid
    assert not lines[start + len(grid)][:1].isdigit()


def test_shape_has_no_grid_for_3d() -> None:
    out = run("shape", "--input-shape", "1,1,4,4,4", "-k", "3", "-s", "2").stdout.splitlines()
    after = out[next(i for i, line in enumerate(out) if line.startswith("overlap")) + 1]
    assert not after.strip()[:1].isdigit()


def test_file_names_are_shown_escaped(tmp_path: Path) -> None:
    target = tmp_path / "a\x1b[2Jb.svg"
    result = run("draw", "4", "-k", "3", "-o", str(target))
    assert result.exit_code == 0 and target.exists()
    assert "\x1b" not in result.stderr and "a\\x1b[2Jb.svg" in result.stderr
    again = run("draw", "4", "-k", "3", "-o", str(target))
    assert again.exit_code == 1 and "\x1b" not in again.stderr and "already exists" in again.stderr
