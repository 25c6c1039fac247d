"""docs/json.md documents every key of every --json document, at every depth, and nothing else.

Each case runs a command with --json and names the section of docs/json.md that documents its
document; every key path the document holds (`a.b`, `a[].b`) must be listed in that section as
`` `a.b` ``, and every path a section lists must turn up in one of its cases.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from support.mirroring import refusal

from convtool.cli import main
from convtool.layers import resolve_type

ROOT = Path(__file__).resolve().parents[1]
JSON_MD = ROOT / "docs" / "json.md"
CONFIGS = sorted(p.name for p in (ROOT / "configs").glob("*.yaml"))
GRAPHS = {name for name in CONFIGS if refusal(ROOT / "configs" / name)}  # branches or merges: not mirrored
MISMATCH = "mismatch_unet.yaml"  # the one config that does not line up
# Files the cases read from a temporary directory, by name.
FILES = {
    # the add broadcasts a size 1 at H = 1: that size lines up apart from the periodic set
    "broadcast.yaml": "input: [1, 4, 12, 12]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, "
                      "padding: 1}\n  - {type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2}\n"
                      "  - {type: add, inputs: [., input]}\n",
    "blocks.yaml": "input: [1, 4, 8, 8]\nblocks:\n  res:\n    params: {c: null}\n    layers:\n"
                   "      - {type: conv2d, out_channels: $c, kernel_size: 3, padding: 1}\n"
                   "      - {type: add, inputs: [input, .]}\nlayers:\n  - {name: a, type: res, c: 4, repeat: 2}\n",
    "inputs.yaml": "inputs: {z: [1, 4, 8, 8], y: [1, 2, 8, 8]}\nlayers:\n  - {type: concat, inputs: [z, y]}\n",
    "graph.yaml": "input: [1, 3, 16, 16]\nlayers:\n  - {name: a, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}\n"
                        "  - {type: relu}\n  - {name: b, type: conv2d, out_channels: 4, kernel_size: 1, from: a}\n"
                        "  - {type: add, inputs: [b, a]}\noutputs: [a, .]\n",
    # a merge inside a block used once that does not line up: its fixes edit the definition
    "blockfix.yaml": "input: [1, 4, 11, 11]\nblocks:\n  level:\n    layers:\n"
                     "      - {name: enc, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}\n"
                     "      - {type: max_pool2d, kernel_size: 2}\n"
                     "      - {type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2}\n"
                     "      - {type: concat, with: enc}\nlayers:\n  - {type: level}\n",
    # several inputs: the input fix names the input it resizes
    "inputsfix.yaml": "inputs: {img: [1, 4, 11, 11], cond: [1, 4]}\nlayers:\n"
                      "  - {name: enc, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, from: img}\n"
                      "  - {type: max_pool2d, kernel_size: 2}\n"
                      "  - {type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2}\n"
                      "  - {type: concat, with: enc}\n",
         "bad.yaml": "input: [1, 3, 64, 64]\nlayers:\n  - {type: conv2d, out_channels: 8, kernel_size: 3, strides: 2}\n"}

CASES = [
    ("shape", "shape 50x100 -k 3 -s 2 --in-channels 16 --out-channels 33"),
    ("shape", "shape 50x100 -k 3 -s 2"),
    ("shape", "shape 64 -k 3 -s 2 -p 1 --op conv2d --in-channels 3 --out-channels 8"),
    ("shape", "shape 9 -k 4 -s 2 --op conv1d"),
    ("shape", "shape 'nn.ConvTranspose2d(4, 2, 3, stride=2)' 8"),
    ("shape with another framework's layer",
     "shape \"layers.Conv2DTranspose(64, 3, strides=2, padding='same')\" 32 --in-channels 128"),
    *[("shape with another framework's layer", f"shape 8 -k 3 -s 2 --framework {f} --in-channels 4 --out-channels 2")
      for f in ("r", "megengine", "keras", "onnx", "jax", "flax")],
    ("invert", "invert 28 -k 3 -s 2 -p 1"),
    ("invert", "invert 50x100 -k 3 -s 2 --in-channels 16 --out-channels 32"),
    ("invert --to and invert --factor", "invert 28 --to 56 --top 3"),
    ("invert --to and invert --factor", "invert 5 --to 3"),
    ("invert --to and invert --factor", "invert 80 --factor 8 --dims 1 --top 2"),
    ("invert --stages", "invert 7 --to 64 --stages 3 --top 2"),
    ("invert --stages", "invert 80 --factor 300 --stages 2 --dims 1 --top 2"),
    *[("invert ARCH.yaml", f"invert configs/{name}") for name in CONFIGS if name not in GRAPHS],
    *[("Errors", f"invert configs/{name}") for name in GRAPHS],  # only a chain without merges is mirrored
    *[("run", f"run configs/{name}") for name in CONFIGS if name != MISMATCH],
    ("run", "run configs/autoencoder_28.yaml --verify"),
    ("run", "run graph.yaml"),
    ("run", "run broadcast.yaml"),
    ("run", "run configs/vae_decoder.yaml --relative-to unflatten"),
    ("run", "run blocks.yaml"),
    ("run", "run inputs.yaml"),
    ("port", "port 'nn.ConvTranspose2d(16, 33, 3, stride=2, padding=1, output_padding=1)' --input 32 --to keras"),
    ("port", "port \"layers.Conv2DTranspose(6, 3, strides=2, padding='same')\" --input 5 --to torch --in-channels 4"),
    ("port", "port 'nn_conv_transpose1d(80, 512, 16, stride = 8, padding = 4)' --input 100 --to jax"),
    ("Errors", "shape 0 -k 3"),
    ("Errors", f"run configs/{MISMATCH}"),
    ("Errors", "run bad.yaml"),
    ("Errors", "run blockfix.yaml"),
    ("Errors", "run inputsfix.yaml"),
    ("Errors", "shape --input-shape 1,16,6,6 -k 3 -s 2 --output-size 20"),
    ("Errors", "shape \"layers.Conv2DTranspose(6, 3, strides=2, dilation_rate=2)\" 8"),
    ("Errors", "port 'nn.ConvTranspose2d(16, 33, 3, stride=2, dilation=2)' --input 32 --to tf"),
    ("Errors", "run configs/dcgan_generator.yaml --verify --max-memory 1k"),
]
# Lists whose entries are layers in the file format (documented in format.md, key by key per kind).
FILE_FORMAT_LAYERS = {"decoder[]"}
# Values in the file format that an error's fix edits hold (a layer, or some keys of one).
FILE_FORMAT_VALUES = {"error.fix_edits[][][].insert", "error.fix_edits[][][].set"}
# Entries documented as "each as `layers[]` of run".
AS_RUN_LAYERS = "error.layers[]"


def sections() -> dict[str, str]:
    """docs/json.md's `## ` sections by heading (backquotes dropped)."""
    parts = re.split(r"^## ", JSON_MD.read_text(encoding="utf-8"), flags=re.M)[1:]
    return {part.split("\n", 1)[0].replace("`", ""): part for part in parts}


def documented(section: str) -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", sections()[section], flags=re.M))


def paths(doc: object, prefix: str = "") -> list[tuple[str, object]]:
    """Every key path of a JSON document with its value: `a.b`, `a[].b`."""
    found: list[tuple[str, object]] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            path = f"{prefix}.{key}" if prefix else key
            found.append((path, value))
            if path not in FILE_FORMAT_LAYERS | FILE_FORMAT_VALUES and prefix + "[]" not in FILE_FORMAT_LAYERS:
                found += paths(value, path)
    elif isinstance(doc, list):
        for value in doc:
            if prefix + "[]" in FILE_FORMAT_LAYERS:
                found.append((prefix + "[]", value))
            else:
                found += paths(value, prefix + "[]")
    return found


def run(command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.chdir(ROOT)
    args = shlex.split(command)
    for name, text in FILES.items():
        if name in args:
            (tmp_path / name).write_text(text)
            args[args.index(name)] = str(tmp_path / name)
    result = CliRunner().invoke(main, [*args, "--json"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return json.loads(result.stdout)


def undocumented(section: str, doc: dict) -> list[str]:
    listed = documented(section)
    run_layers = documented("run")
    missing = []
    for path, value in paths(doc):
        if path in FILE_FORMAT_LAYERS:
            assert isinstance(value, dict)
            resolved = resolve_type(value["type"])
            assert resolved is not None, value
            keys = {key.name for key in resolved[0].keys}
            missing += [f"{path}.{k}" for k in value if k != "type" and k not in keys]
        elif path.startswith(AS_RUN_LAYERS + "."):
            if "layers[]" + path[len(AS_RUN_LAYERS):] not in run_layers:
                missing.append(path)
        elif path not in listed and ".".join([*path.split(".")[:-1], "*"]) not in listed:  # `a.*`: any key of a
            missing.append(path)
    return sorted(set(missing))


def test_every_case_names_a_section():
    assert {section for section, _ in CASES} == set(sections())


@pytest.mark.parametrize("section, command", CASES, ids=[c for _, c in CASES])
def test_every_key_is_documented(section, command, tmp_path, monkeypatch):
    doc = run(command, tmp_path, monkeypatch)
    assert ("error" in doc) == (section == "Errors"), doc
    missing = undocumented(section, doc)
    assert not missing, f"docs/json.md, section '{section}', does not document: {missing}"


def test_every_documented_key_occurs(tmp_path, monkeypatch):
    seen: dict[str, set[str]] = {}
    for section, command in CASES:
        found = {path for path, _ in paths(run(command, tmp_path, monkeypatch))}
        found |= {".".join([*path.split(".")[:-1], "*"]) for path in found}  # what `a.*` documents
        seen.setdefault(section, set()).update(found)
    stale = {section: sorted(documented(section) - seen[section]) for section in sections()}
    assert not any(stale.values()), f"documented in docs/json.md but in no case's document: {stale}"
