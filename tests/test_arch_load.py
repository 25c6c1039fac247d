"""Loading architecture files: YAML with marks, validation, and every damaged-file error."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from convtool.cli import main
from convtool.errors import ArchError
from convtool.graph import MAX_NODES, load, loads, read_yaml

CONFIGS = sorted(Path(__file__).resolve().parents[1].joinpath("configs").glob("*.yaml"))
HEAD = "input: [1, 3, 8, 8]\nlayers:\n"

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi")
)

# id, file text, (line, column) of the error, the key named, words the message must contain
DAMAGED = [
    ("empty", "", None, None, ["the file is empty"]),
    ("only-comment", "# nothing here\n", None, None, ["the file is empty"]),
    ("syntax", HEAD + "  - {type: relu\n", (4, 1), None, ["YAML syntax error", "did not find expected"]),
    ("tab-indent", HEAD + "\t- {type: relu}\n", (3, 1), None, ["YAML syntax error"]),
    ("two-documents", HEAD + "  - {type: relu}\n---\nname: x\n", (4, 1), None, ["single YAML document"]),
    ("not-a-mapping", "- a\n- b\n", (1, 1), None, ["expected a mapping"]),
    ("unknown-top-key", "inpt: [1, 3, 8, 8]\nlayers: [{type: relu}]\n", (1, 1), "inpt", ["did you mean 'input'"]),
    ("bad-input", "input: [1, 3, 0, 8]\nlayers: [{type: relu}]\n", (1, 8), "input", ["expects a shape"]),
    ("input-bool", "input: [1, true, 8, 8]\nlayers: [{type: relu}]\n", (1, 8), "input", ["expects a shape"]),
    ("no-layers", "input: [1, 3, 8, 8]\n", (1, 1), None, ["no layers"]),
    ("empty-layers", "input: [1, 3, 8, 8]\nlayers: []\n", (2, 9), "layers", ["is empty"]),
    ("layers-mapping", "input: [1, 3, 8, 8]\nlayers: {type: relu}\n", (2, 9), "layers", ["expects a list of layers"]),
    ("layers-and-encoder", HEAD + "  - {type: relu}\nencoder: [{type: relu}]\n", (2, 1), "layers", ["not both"]),
    ("decoder-alone", "input: [1, 3, 8, 8]\ndecoder: [{type: relu}]\n", (2, 1), "decoder", ["needs an `encoder:`"]),
    ("layer-not-mapping", HEAD + "  - relu\n", (3, 5), None, ["layer 0", "must be a mapping"]),
    ("missing-type", HEAD + "  - {out_channels: 4}\n", (3, 5), "type", ["missing key 'type'"]),
    ("type-not-string", HEAD + "  - {type: 3}\n", (3, 12), "type", ["expects a layer type"]),
    ("unknown-type", HEAD + "  - {type: conv_tranpose2d, out_channels: 4, kernel_size: 3}\n", (3, 12), "type",
     ["unknown layer type 'conv_tranpose2d'", "did you mean 'conv_transpose2d'"]),
    ("unknown-type-case", HEAD + "  - {type: convtranspose2d, out_channels: 4, kernel_size: 3}\n", (3, 12), "type",
     ["did you mean 'conv_transpose2d'"]),
    ("unknown-key", HEAD + "  - {type: conv2d, out_channels: 4, kernel_size: 3, strides: 2}\n", (3, 53), "strides",
     ["unknown key 'strides' for conv2d", "did you mean 'stride'"]),
    ("missing-key", HEAD + "  - {name: c1, type: conv2d, kernel_size: 3}\n", (3, 5), "out_channels",
     ["layer 0 'c1' (conv2d)", "missing key 'out_channels'"]),
    ("bool-is-not-int", HEAD + "  - type: conv2d\n    out_channels: 4\n    kernel_size: true\n", (5, 18),
     "kernel_size", ["expects an int", "true (a boolean)"]),
    ("quoted-int", HEAD + "  - {type: conv2d, out_channels: '4', kernel_size: 3}\n", (3, 34), "out_channels",
     ["'4' (a string)", "without quotes"]),
    ("float-int", HEAD + "  - {type: conv2d, out_channels: 4.0, kernel_size: 3}\n", (3, 34), "out_channels",
     ["4.0 (a float)", "write 4"]),
    ("three-values", HEAD + "  - {type: conv2d, out_channels: 4, kernel_size: [3, 3, 3]}\n", (3, 50),
     "kernel_size", ["2 values (H, W)"]),
    ("bad-choice", HEAD + "  - {type: upsample, scale_factor: 2, mode: bilinar}\n", (3, 45), "mode",
     ["must be one of", "did you mean 'bilinear'"]),
    ("bad-bool", HEAD + "  - {type: conv2d, out_channels: 4, kernel_size: 3, bias: 'no'}\n", (3, 59), "bias",
     ["expects true or false"]),
    ("stride-zero", HEAD + "  - {type: conv2d, out_channels: 4, kernel_size: 3, stride: 0}\n", (3, 61), "stride",
     ["non-positive stride is not supported"]),
    ("op-too-big", HEAD + "  - {type: conv_transpose2d, out_channels: 4, kernel_size: 3, stride: 2, output_padding: 2}\n",
     (3, 90), "output_padding", ["output padding must be smaller than either stride or dilation"]),
    ("pool-pad", HEAD + "  - {type: max_pool2d, kernel_size: 3, padding: 2}\n", (3, 49), "padding",
     ["pad should be at most half of effective kernel size"]),
    ("dropout-p", HEAD + "  - {type: dropout, p: 1.5}\n", (3, 24), "p", ["has to be between 0 and 1"]),
    ("upsample-both", HEAD + "  - {type: upsample, scale_factor: 2, size: 16}\n", (3, 36), "scale_factor",
     ["only one of size or scale_factor"]),
    ("upsample-neither", HEAD + "  - {type: upsample}\n", (3, 5), None, ["either size or scale_factor"]),
    ("group-norm", HEAD + "  - {type: group_norm, num_groups: 3, num_channels: 4}\n", (3, 36), "num_groups",
     ["must be divisible by num_groups"]),
    ("duplicate-name", HEAD + "  - {name: a, type: relu}\n  - {name: a, type: relu}\n", (4, 12), "name",
     ["duplicate layer name 'a'", "line 3"]),
    ("name-not-string", HEAD + "  - {name: 1, type: relu}\n", (3, 12), "name", ["expects a string"]),
    ("duplicate-key", HEAD + "  - {type: relu, type: tanh}\n", (3, 18), None, ["duplicate key 'type'"]),
    ("unknown-skip", HEAD + "  - {name: enc1, type: relu}\n  - {type: concat, with: enc2}\n", (4, 26), "with",
     ["unknown skip target 'enc2'", "did you mean 'enc1'"]),
    ("skip-forward", HEAD + "  - {type: add, with: later}\n  - {name: later, type: relu}\n", (3, 23), "with",
     ["unknown skip target 'later'"]),
    ("skip-self", HEAD + "  - {name: me, type: add, with: me}\n", (3, 33), "with", ["this layer itself"]),
    ("skip-type", HEAD + "  - {type: concat, with: [1, 2]}\n", (3, 26), "with", ["layer name"]),
    ("bad-crop", HEAD + "  - {name: a, type: relu}\n  - {type: concat, with: a, crop: left}\n", (4, 35), "crop",
     ["must be 'center'"]),
    ("python-tag", "input: !!python/object/apply:os.system ['echo hi']\nlayers: [{type: relu}]\n", (1, 8), None,
     ["not allowed", "safe_load"]),
    ("python-scalar-tag", "name: !!python/name:os.system x\nlayers: [{type: relu}]\n", (1, 7), None,
     ["could not determine a constructor"]),
    ("billion-laughs", BOMB, None, None, [f"more than {MAX_NODES:,} values once its aliases are expanded"]),
    ("recursive-alias", "input: &a [1, *a]\nlayers: [{type: relu}]\n", (1, 15), None, ["recursive alias"]),
    ("undefined-alias", "input: *nothing\nlayers: [{type: relu}]\n", (1, 8), None, ["undefined alias"]),
    ("deep-nesting", "x: " + "[" * 100 + "]" * 100 + "\n", (1, 67), None, ["nests deeper than 64"]),
    ("mirror-skip", "input: [1, 3, 8, 8]\nencoder: [{name: a, type: relu}, {type: add, with: a}]\n"
     "decoder: {mirror: encoder}\n", (2, 34), "type", ["layer 1 (add) cannot be mirrored", "skip connection"]),
    ("mirror-bad", "input: [1, 3, 8, 8]\nencoder: [{type: relu}]\ndecoder: {mirror: decoder}\n", (3, 19),
     "mirror", ["must be 'encoder'"]),
    ("no-input", "layers: [{type: relu}]\n", None, "input", ["no input shape"]),
]


@pytest.mark.parametrize("text, where, key, words", [c[1:] for c in DAMAGED], ids=[c[0] for c in DAMAGED])
def test_damaged_file_is_one_clear_error(tmp_path: Path, text: str, where: tuple[int, int] | None,
                                         key: str | None, words: list[str]) -> None:
    path = tmp_path / "arch.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert result.stdout == ""
    message = result.stderr
    assert message.startswith(f"Error: {path}")
    if where is not None:
        assert f"{path}:{where[0]}:{where[1]}:" in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("text, where, key, words", [c[1:] for c in DAMAGED], ids=[c[0] for c in DAMAGED])
def test_damaged_file_error_carries_context(text: str, where: tuple[int, int] | None, key: str | None,
                                            words: list[str]) -> None:
    from convtool.graph import propagate

    with pytest.raises(ArchError) as caught:
        propagate(loads(text, "f.yaml"))
    error = caught.value
    assert error.file == "f.yaml"
    if where is not None:
        assert (error.line, error.column) == where
    assert error.key == key
    doc = error.to_dict()
    assert doc["kind"] == "architecture"


def test_damaged_file_json_error(tmp_path: Path) -> None:
    import json

    path = tmp_path / "arch.yaml"
    path.write_text(HEAD + "  - {name: c1, type: conv2d, out_channels: 4, kernel_size: 3, strides: 2}\n")
    result = CliRunner().invoke(main, ["run", str(path), "--json"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "architecture"
    assert (error["line"], error["column"], error["layer_index"], error["layer_name"], error["key"]) == (
        3, 63, 0, "c1", "strides",
    )
    assert "did you mean 'stride'" in error["hint"]


def test_layer_error_names_index_and_name() -> None:
    text = HEAD + "  - {type: relu}\n  - {name: up, type: ConvTranspose2d, out_channels: 4, kernel_size: 3, pading: 1}\n"
    with pytest.raises(ArchError) as caught:
        loads(text, "f.yaml")
    error = caught.value
    assert (error.layer_index, error.layer_name, error.key) == (1, "up", "pading")
    assert "layer 1 'up' (conv_transpose2d)" in error.message and "did you mean 'padding'" in (error.hint or "")


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "arch.yaml"
    path.write_bytes(b"a: \x80\x81junk")
    result = CliRunner().invoke(main, ["run", str(path)])
    assert result.exit_code == 1 and "not UTF-8" in result.stderr


# -- YAML semantics ---------------------------------------------------------------------------


def test_read_yaml_marks() -> None:
    doc = read_yaml("a: 1\nlayers:\n  - {type: relu, p: 0.5}\n  - type: tanh\n")
    layers = doc["layers"]
    assert layers.marks == [(3, 5), (4, 5)]
    assert layers[0].key_marks["p"] == (3, 18) and layers[0].value_marks["p"] == (3, 21)
    assert layers[1].value_marks["type"] == (4, 11)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("x: 0x10", 16), ("x: yes", True), ("x: ~", None), ("x: 1.5", 1.5), ("x: '3'", "3"),
        ("x: 1e-5", "1e-5"),  # YAML 1.1, as yaml.safe_load: a string (float keys accept it)
        ("x: 1.0e-5", 1e-5),
    ],
    ids=["hex", "yes", "null", "float", "quoted", "1e-5", "1.0e-5"],
)
def test_read_yaml_scalars_as_safe_load(text: str, expected: object) -> None:
    import yaml

    assert read_yaml(text)["x"] == expected == yaml.safe_load(text)["x"]


def test_merge_keys_and_aliases_as_safe_load() -> None:
    import yaml

    text = "base: &b {type: conv2d, kernel_size: 3}\nl: [{<<: *b, out_channels: 4}, *b]\n"
    assert read_yaml(text) == yaml.safe_load(text)


def test_aliases_share_layer_definitions() -> None:
    text = (
        "input: [1, 3, 8, 8]\nlayers:\n  - &c {type: conv2d, out_channels: 3, kernel_size: 3, padding: 1}\n"
        "  - *c\n  - {<<: *c, stride: 2}\n"
    )
    arch = loads(text)
    assert [spec.config["stride"] for spec in arch.layers] == [1, 1, 2]


def test_float_keys_accept_yaml11_exponents() -> None:
    arch = loads(HEAD + "  - {type: batch_norm2d, eps: 1e-3}\n")
    assert arch.layers[0].config["eps"] == 1e-3


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_config_loads(path: Path) -> None:
    arch = load(path)
    assert arch.input is not None and arch.layers
    assert path.read_text().startswith("#"), "every config names its source in a comment"


def test_pytorch_class_names_and_aliases() -> None:
    arch = loads(
        HEAD
        + "  - {type: Conv2d, out_channels: 4, kernel_size: 3}\n  - {type: BatchNorm2d}\n  - {type: LeakyReLU}\n"
        "  - {type: UpsamplingBilinear2d, scale_factor: 2}\n  - {type: Dropout2d}\n"
    )
    assert [s.type for s in arch.layers] == ["conv2d", "batch_norm2d", "leaky_relu", "upsample", "dropout"]
    assert arch.layers[3].config["align_corners"] is True


def test_sections() -> None:
    arch = loads("input: [1, 3, 8, 8]\nencoder: [{type: relu, name: e}]\ndecoder: [{type: add, with: e}]\n")
    assert arch.sections == ("encoder", "decoder")
    assert [(s.index, s.section) for s in arch.layers] == [(0, "encoder"), (1, "decoder")]


def test_loading_and_propagating_never_import_numpy() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom convtool.graph import load, propagate\n"
        f"for path in {[str(p) for p in CONFIGS if p.stem != 'mismatch_unet']!r}:\n"
        "    propagate(load(path))\n"
        "assert 'numpy' not in sys.modules, 'numpy was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
