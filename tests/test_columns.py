"""Human output fits the screen: every command, for every file in configs/, at 80 and 200 columns
(COLUMNS, through click's runner) and in a real 80-column terminal (tmux).

What "fits" means here:
- no line is longer than the width, and no "…" appears anywhere (nothing is cut);
- every shape is whole once wrapped lines are joined back. In a table a cell goes on over the
  following lines of its row (the lines whose first cell is empty); joining a column's pieces
  with one space gives the cell back, and a shape that wrapped (only after a comma) reads
  `(1, 1024, 28, 28)` again. In text outside tables the same holds for the text with its line
  breaks and indentation turned into single spaces.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.mirroring import refusal

from convtool.cli import main
from convtool.graph import StackMismatch, load, propagate
from convtool.report import Column, Label, _grid
from convtool.text import fmt_shape, fmt_size

ROOT = Path(__file__).parent.parent
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
WIDTHS = (80, 200)
CUT = re.compile(r"…|\d\.\.\.|\.\.\.\d")  # an ellipsis anywhere, or three dots touching a digit


def screen(args: list[str], width: int, code: int = 0) -> tuple[str, str]:
    """stdout and stderr of one command at COLUMNS=width."""
    result = CliRunner().invoke(main, args, env={"COLUMNS": str(width)}, catch_exceptions=False)
    assert result.exit_code == code, (args, result.output)
    return result.stdout, result.stderr


def assert_fits(text: str, width: int) -> None:
    long = [line for line in text.splitlines() if len(line) > width]
    assert not long, f"{len(long)} lines over {width} columns, the first: {long[0]!r}"
    assert not CUT.search(text), CUT.search(text)


def joined(text: str) -> str:
    """The text with line breaks and indentation as single spaces."""
    return " ".join(text.split())


def tables(text: str) -> list[list[dict[str, str]]]:
    """Every hand-laid table in `text` as rows of {header: cell}, wrapped pieces joined back;
    a row's lines under it that are not cells (notes that did not fit a column) are its "below"."""
    found: list[list[dict[str, str]]] = []
    headers: list[str] = []
    row: dict[str, str] | None = None
    in_header = False
    for line in text.splitlines():
        if "┃" in line:
            parts = [part.strip() for part in line.split("┃")]
            if in_header:  # a header that wrapped
                headers = [" ".join(filter(None, pair)) for pair in zip(headers, parts)]
            else:
                headers, row, in_header = parts, None, True
                found.append([])
            continue
        in_header = False
        parts = [part.strip() for part in line.split("│")]
        if headers and len(parts) == len(headers):
            if parts[0]:
                row = dict(zip(headers, parts))
                found[-1].append(row)
            elif row is not None:
                for header, part in zip(headers, parts):
                    row[header] = " ".join(filter(None, (row[header], part)))
        elif row is not None and line.startswith("    ") and "│" not in line:
            row["below"] = " ".join(filter(None, (row.get("below", ""), line.strip())))
        elif "│" not in line and "╇" not in line:
            row = None  # a rule between sections (a row never goes on past one), or the table's end
    return found


def layers_of(config: Path) -> tuple[list, object]:
    """The layers that line up, and the one that does not (or None)."""
    try:
        return list(propagate(load(str(config))).layers), None
    except StackMismatch as error:
        return list(error.layers), error.failed


# -- convtool run ------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_run_fits_and_shows_every_shape(config: Path, width: int) -> None:
    layers, failed = layers_of(config)
    out, err = screen(["run", str(config.relative_to(ROOT))], width, code=1 if failed else 0)
    assert_fits(out, width)
    assert_fits(err, width)
    [table] = tables(out)
    rows = {row["#"]: row for row in table}
    for layer in layers:
        row = rows[str(layer.index)]
        assert (row["input"], row["output"]) == (fmt_shape(layer.input), fmt_shape(layer.output)), row
        for note in layer.notes:
            assert joined(note) in row.get("notes", "") + row.get("below", ""), (note, row)
    if failed is not None:
        row = rows[str(failed.index)]
        assert row["input"] == fmt_shape(failed.input) and "does not line up" in row["output"]
        assert joined(failed.reason) in row.get("notes", "") + row.get("below", "")
    left_out = re.findall(r"columns not shown at (\d+) columns: ([^;]+);", joined(out))
    if width == 200:
        assert not left_out  # every column fits at 200
    for at, headers in left_out:
        assert int(at) == width and not set(headers.split(", ")) & set(table[0])
    assert len(left_out) <= 1


LONG = "a_block_whose_name_says_everything_it_does." * 3  # 129 characters, no space


@pytest.mark.parametrize("args", [[], ["--depth", "1"], ["--relative-to", "input"]])
def test_words_longer_than_the_screen_are_split(tmp_path: Path, args: list[str]) -> None:
    """A name longer than the screen (here a block's type, and its use's name) is split over
    lines, after a '.' or '_' where it can be, and nothing else moves; so is a message's."""
    kind = LONG.replace(".", "")
    (tmp_path / "net.yaml").write_text(
        f"input: [1, 4, 16, 16]\nblocks:\n  {kind}:\n    layers:\n"
        "      - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}\n"
        f"layers:\n  - {{name: {kind}_used, type: {kind}}}\n"
        "  - {type: conv_transpose2d, out_channels: 4, kernel_size: 4, stride: 2, padding: 1}\n")
    out, _ = screen(["run", str(tmp_path / "net.yaml"), *args], 80)
    assert_fits(out, 80)
    [table] = tables(out)
    assert table[0]["output"] == "(1, 4, 16, 16)" and table[1]["output"].startswith("(1, 4, 32, 32)")
    if args[:1] == ["--depth"]:  # the use's row: its type is the block's name
        assert "".join(table[0]["type"].split()) == kind
    _, err = screen(["run", str(tmp_path / "missing" / LONG)], 80, code=2)
    assert_fits(err, 80)
    assert LONG in err.replace("\n", "").replace(" ", "")


def test_run_at_80_columns_keeps_the_shapes_and_says_what_it_left_out() -> None:
    out, _ = screen(["run", "configs/unet_original.yaml"], 80)
    [table] = tables(out)
    assert {"#", "type", "config", "input", "output"} <= set(table[0])
    assert "columns not shown at 80 columns: name, params, MACs, RF; widen the terminal or use --format markdown" \
        in joined(out)
    assert "RF: receptive field" in out and "MACs: multiply-accumulates" in out


@pytest.mark.parametrize("fmt", ["markdown", "csv"])
@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_run_files_have_every_column_on_one_line(config: Path, fmt: str) -> None:
    layers, failed = layers_of(config)
    out, _ = screen(["run", str(config.relative_to(ROOT)), "--format", fmt], 80, code=1 if failed else 0)
    assert not CUT.search(out)
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert list(rows[0]) == ["section", "#", "name", "type", "config", "input", "output", "params", "MACs",
                                 "RF", "notes"]
        for layer, row in zip(layers, rows):
            assert (row["#"], row["input"], row["output"]) == (str(layer.index), fmt_shape(layer.input),
                                                               fmt_shape(layer.output))
            assert (int(row["params"]), int(row["MACs"])) == (layer.param_count, layer.macs)
        assert len(rows) == len(layers) + (failed is not None)
        return
    lines = [line for line in out.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert {"#", "name", "type", "config", "input", "output", "params", "MACs", "RF", "notes"} <= set(header)
    body = [dict(zip(header, (cell.strip() for cell in line.strip("|").split(" | ")))) for line in lines[1:]]
    by_index = {row["#"]: row for row in body}
    for layer in layers:
        row = by_index[str(layer.index)]
        assert (row["input"], row["output"], row["params"]) == (
            fmt_shape(layer.input), fmt_shape(layer.output), f"{layer.param_count:,}")
    assert len(body) == len(layers) + (1 if failed is not None else 1)  # the failed row, or the totals


@pytest.mark.parametrize(
    "args, message",
    [(["--json", "--format", "csv"], "give --json or --format, not both"),
     (["--format", "html"], "'html' is not one of")],
    ids=["both", "unknown"],
)
def test_run_format_usage(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["run", "configs/dcgan_generator.yaml", *args])
    assert result.exit_code == 2 and message in result.output


@pytest.mark.parametrize("args", [["--json"], ["--format", "json"], ["--format=json"]], ids=["json", "format", "eq"])
def test_run_json_error_keeps_the_layers_that_lined_up(args: list[str]) -> None:
    import json

    result = CliRunner().invoke(main, ["run", "configs/mismatch_unet.yaml", *args])
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    layers, failed = layers_of(ROOT / "configs/mismatch_unet.yaml")
    assert error["kind"] and error["message"] and error["layer_index"] == failed.index
    assert error["layers"] == [layer.to_dict() for layer in layers] and len(layers) == failed.index
    assert error["failed"]["input"] == list(failed.input)


def test_run_json_equals_format_json() -> None:
    a, _ = screen(["run", "configs/unet_original.yaml", "--json"], 80)
    b, _ = screen(["run", "configs/unet_original.yaml", "--format", "json"], 200)
    assert a == b


# -- convtool shape and invert, on every convolution of every config ----------------------------


def convolutions() -> list[tuple[str, object, tuple]]:
    seen: dict[tuple, tuple[str, object, tuple]] = {}
    for config in CONFIGS:
        for layer in layers_of(config)[0]:
            p = layer.applied.conv
            if p is not None:
                seen.setdefault((p.torch_code(), layer.input[1:]), (config.stem, p, layer.input))
    return list(seen.values())


CONVOLUTIONS = convolutions()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("stem, params, shape", CONVOLUTIONS,
                         ids=[f"{s}-{p.compact().replace(' ', '')}-{fmt_size(x[2:])}" for s, p, x in CONVOLUTIONS])
def test_shape_fits(stem: str, params, shape: tuple, width: int) -> None:
    out, _ = screen(["shape", params.torch_code(), fmt_size(shape[2:])], width)
    assert_fits(out, width)
    text = joined(out)
    assert f"input {fmt_shape((1, *shape[1:]))}" in text and "-> output (1, " in text
    for table in tables(out):
        assert all(row["formula"].endswith(f"= {n}") for row, n in zip(table, out_spatial(params, shape)))


def out_spatial(params, shape: tuple) -> tuple[int, ...]:
    from convtool.shape import spatial_output

    return tuple(spatial_output(params, shape[2:]))


INVERTIBLE = [(s, p, x) for s, p, x in CONVOLUTIONS if not p.transposed and p.padding_string is None
              and p.padding_mode == "zeros" and all(a == b for a, b in p.padding_pairs)]
UPSAMPLERS = sorted({(x[2:], tuple(out_spatial(p, x))) for _, p, x in CONVOLUTIONS if p.transposed})


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("stem, params, shape", INVERTIBLE,
                         ids=[f"{s}-{p.compact().replace(' ', '')}-{fmt_size(x[2:])}" for s, p, x in INVERTIBLE])
def test_invert_conv_fits(stem: str, params, shape: tuple, width: int) -> None:
    per_dim = lambda values: ",".join(map(str, values))  # noqa: E731
    out, _ = screen(["invert", fmt_size(shape[2:]), "--dims", str(len(shape) - 2), "-k", per_dim(params.kernel_size),
                     "-s", per_dim(params.stride), "-p", per_dim(params.padding), "-d", per_dim(params.dilation)], width)
    assert_fits(out, width)
    assert f"# {fmt_size(shape[2:])} -> {fmt_size(out_spatial(params, shape))}" in joined(out)
    for table in tables(out):
        for row in table:
            assert row["or forward(x, output_size=...)"].startswith(("up(x, output_size=(", "no ("))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("size, target", UPSAMPLERS, ids=[f"{fmt_size(a)}-{fmt_size(b)}" for a, b in UPSAMPLERS])
def test_invert_search_fits(size: tuple, target: tuple, width: int) -> None:
    out, _ = screen(["invert", fmt_size(size), "--to", fmt_size(target), "--dims", str(len(size)), "--top", "5"], width)
    assert_fits(out, width)
    assert f"map {fmt_size(size)} -> {fmt_size(target)}" in joined(out)
    assert "overlap: how many kernel taps land on each output position" in joined(out)
    assert "cost: MACs (multiply-accumulates) per output pixel" in joined(out)


OTHER = [
    ["invert", "100", "--factor", "300", "--stages", "2", "--dims", "1"],
    ["invert", "16", "--factor", "4"],
    ["invert", "7", "--to", "28", "--stages", "2"],
    ["invert", "5", "--to", "1000"],
    ["invert", "50x100", "-k", "3", "-s", "2"],
    ["shape", "nn.ConvTranspose1d(80, 512, 16, stride=8, padding=4)", "100"],
    ["shape", "8x16x16", "-k", "3", "-s", "2", "--in-channels", "4", "--out-channels", "8", "--dims", "3"],
    ["shape", "50x100", "-k", "3", "-s", "2", "--in-channels", "16", "--out-channels", "33", "--batch", "20"],
    ["shape", "12", "-k", "16", "-s", "8", "-d", "3"],
    ["shape", "layers.Conv2DTranspose(64, 3, strides=2, padding=\"same\")", "32"],
    ["shape", "nn_conv_transpose2d(16, 33, c(3, 5), stride = c(2, 1))", "50x100"],
    ["port", "layers.Conv2DTranspose(64, 3, strides=2, padding=\"same\")", "--input", "5", "--to", "torch",
     "--in-channels", "4"],
]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("args", OTHER, ids=[" ".join(a) for a in OTHER])
def test_other_forms_fit(args: list[str], width: int) -> None:
    out, err = screen(args, width)
    assert_fits(out, width)
    assert_fits(err, width)


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_invert_arch_cuts_nothing(config: Path) -> None:
    """The mirrored decoder is a file (YAML), not laid out for a screen: it is checked whole."""
    words = refusal(config)
    if words:  # refused, in words that fit
        _, err = screen(["invert", str(config.relative_to(ROOT))], 80, code=1)
        assert words in " ".join(err.split())
        assert_fits(err, 80)
        return
    out, _ = screen(["invert", str(config.relative_to(ROOT))], 80)
    assert not CUT.search(out) and "layers:" in out


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_export_messages_fit(config: Path, width: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    failed = layers_of(config)[1]
    monkeypatch.chdir(tmp_path)
    out, err = screen(["export", str(config), "-o", f"{config.stem}.py"], width, code=1 if failed else 0)
    assert out == ""
    assert_fits(err, width)
    assert ("does not line up" if failed else f"wrote {config.stem}.py: class") in joined(err)


# -- the table layout itself -------------------------------------------------------------------


COLUMNS = (Column("#", "right"), Column("text", wrap=True, squeeze=8), Column("shape", wrap=True),
           Column("extra", drop=1), Column("more", wrap=True, drop=2, below=True))


@pytest.mark.parametrize(
    "width, shown, dropped",
    [(200, ["#", "text", "shape", "extra", "more"], []),
     (48, ["#", "text", "shape", "extra"], []),
     (36, ["#", "text", "shape"], ["extra"]),
     (20, ["#", "text", "shape"], ["extra"])],
    ids=["wide", "more-below", "drop", "narrow"],
)
def test_grid_drops_by_rank_and_wraps(width: int, shown: list[str], dropped: list[str]) -> None:
    rows = [Label("section", ""),
            [("0", ""), ("some words to wrap", ""), ("(1, 1024, 28, 28)", ""), ("x" * 10, ""), ("a long note", "")]]
    grid, left_out = _grid(rows, COLUMNS, width)
    text = grid.plain
    [table] = tables(text)
    assert list(table[0])[:len(shown)] == shown and left_out == dropped
    assert table[0]["shape"] == "(1, 1024, 28, 28)" and table[0]["text"] == "some words to wrap"
    assert "a long note" in table[0].get("more", "") + table[0].get("below", "")
    assert max(map(len, text.splitlines())) <= width


# -- a real terminal ---------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_real_80_column_terminal(tmp_path: Path) -> None:
    """`convtool run` in an 80-column tmux window: the terminal's width is read (no COLUMNS), and
    no line wraps in the terminal (capture-pane -J joins the lines the terminal wrapped)."""
    socket = str(tmp_path / "tmux")
    done = tmp_path / "done"
    python = sys.executable
    script = (f"cd {ROOT} && {python} -m convtool run configs/unet_original.yaml; "
              f"{python} -m convtool run configs/mismatch_unet.yaml; echo $? > {done}; sleep 60")
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    tmux = ["tmux", "-S", socket, "-f", os.devnull]
    subprocess.run([*tmux, "new-session", "-d", "-x", "80", "-y", "50", script], env=env, check=True)
    try:
        width = subprocess.run([*tmux, "display", "-p", "#{pane_width}"], capture_output=True, text=True).stdout
        assert width.strip() == "80"
        deadline = time.monotonic() + 60
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert done.read_text().strip() == "1"  # the second command: the stack does not line up
        screen_text = subprocess.run([*tmux, "capture-pane", "-p", "-J", "-S", "-", "-E", "-"],
                                     capture_output=True, text=True, check=True).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    lines = screen_text.rstrip("\n").splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80, [line for line in lines if len(line.rstrip()) > 80]
    assert "…" not in screen_text
    assert "columns not shown at 80 columns" in screen_text
    assert "(1, 1024, 28, 28)" in screen_text and "Error: configs/mismatch_unet.yaml:18:5:" in screen_text


# -- the terms on screen are explained under it --------------------------------------------------


@pytest.mark.parametrize(
    "args, terms, absent",
    [(["run", "configs/autoencoder_28.yaml"], ["RF: receptive field", "MACs: multiply-accumulates",
                                               "overlap: how many kernel taps land on each output position"], []),
     (["run", "configs/unet_original.yaml"], ["RF: receptive field", "MACs: multiply-accumulates"],
      ["overlap: how many"]),  # no note speaks of overlap
     (["shape", "50x100", "-k", "3", "-s", "2", "--in-channels", "16", "--out-channels", "33"],
      ["overlap (taps per output position", "MACs: multiply-accumulates"], []),
     (["shape", "50x100", "-k", "3", "-s", "2"], ["overlap (taps per output position"], ["MACs: multiply"]),
     (["invert", "7", "--to", "28"], ["overlap: how many kernel taps", "cost: MACs (multiply-accumulates) per output"],
      []),
     (["invert", "100", "--factor", "300", "--stages", "2", "--dims", "1"], ["cost: MACs (multiply-accumulates)"], [])],
    ids=["run-overlap", "run", "shape", "shape-no-channels", "search", "stages"],
)
def test_terms_are_explained(args: list[str], terms: list[str], absent: list[str]) -> None:
    out, _ = screen(args, 80)
    text = joined(out)
    assert all(term in text for term in terms), [term for term in terms if term not in text]
    assert not any(term in text for term in absent)
