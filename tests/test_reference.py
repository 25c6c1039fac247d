"""The users' reference under docs/: generated files are current, the JSON Schema agrees with the
loader, every example in every --help runs, and nothing a user reads cites the project's spec.

After a deliberate change of the registry, a --help or the template, `python -m convtool.reference`
writes docs/format.md, docs/cli.md and docs/convtool.schema.json again.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from convtool.cli import main
from convtool.errors import ConvtoolError
from convtool.graph import loads
from convtool.graph.model import TOP_KEYS
from convtool.layers import KINDS
from convtool.reference import REGENERATE, TEMPLATE, cli_md, format_md, outputs
from convtool.reference.schema import GRAPH_KEYS, accepts, architecture_schema, key_schema

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


# -- generated files are current -----------------------------------------------------------


@pytest.mark.parametrize("name", list(outputs()), ids=list(outputs()))
def test_generated_file_is_current(name):
    committed = (DOCS / name).read_text(encoding="utf-8")
    assert committed == outputs()[name](), f"docs/{name} is stale: run `{REGENERATE}` and commit it"


def test_template_has_prose_for_every_top_level_key():
    template = TEMPLATE.read_text(encoding="utf-8")
    missing = [key for key in TOP_KEYS if f"### `{key}:`" not in template]
    assert not missing, f"convtool/reference/format.md has no section for top-level keys {missing}"


def test_every_placeholder_is_filled():
    assert "{{" not in format_md()


@pytest.mark.parametrize("kind", list(KINDS))
def test_format_documents_every_kind_and_key(kind):
    text = format_md()
    section = text.split(f"\n### `{kind}`\n", 1)[1].split("\n### ", 1)[0]
    for key in KINDS[kind].keys:
        assert f"| `{key.name}` |" in section, (kind, key.name)


def test_generating_the_reference_imports_no_numpy():
    code = ("import sys, convtool.reference as r; r.format_md(); r.schema_json(); r.cli_md(); "
            "print('numpy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert done.stdout.strip() == "False"


# -- the JSON Schema -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator():
    schema = architecture_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_config_validates(path, validator):
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert not errors


BAD = {
    "unknown type": "layers: [{type: conv_tranpose2d, out_channels: 8, kernel_size: 3}]",
    "unknown key": "layers: [{type: conv2d, out_channels: 8, kernel_size: 3, strides: 2}]",
    "string for an int": "layers: [{type: conv2d, out_channels: 8, kernel_size: 3, stride: '2'}]",
    "float for an int": "layers: [{type: conv2d, out_channels: 8.5, kernel_size: 3}]",
    "three values for two dims": "layers: [{type: conv2d, out_channels: 8, kernel_size: [3, 3, 3]}]",
    "int for a bool": "layers: [{type: conv2d, out_channels: 8, kernel_size: 3, bias: 1}]",
    "not a choice": "layers: [{type: conv2d, out_channels: 8, kernel_size: 3, padding_mode: zero}]",
    "same padding on a transposed conv": "layers: [{type: conv_transpose2d, out_channels: 8, kernel_size: 3, padding: same}]",
    "missing required key": "layers: [{type: conv2d, out_channels: 8}]",
    "missing type": "layers: [{out_channels: 8, kernel_size: 3}]",
    "key of an alias's kind misspelt": "layers: [{type: ReLU, in_place: true}]",
    "unknown top-level key": "input: [1, 3, 8, 8]\nlayer: [{type: relu}]",
    "no layers": "input: [1, 3, 8, 8]",
    "layers and sections": "layers: [{type: relu}]\nencoder: [{type: relu}]",
    "decoder without encoder": "decoder: [{type: relu}]",
    "mirror of something else": "encoder: [{type: relu}]\ndecoder: {mirror: decoder}",
    "input of one int": "input: [8]\nlayers: [{type: relu}]",
    "crop other than center": "layers: [{name: a, type: relu}, {type: concat, with: a, crop: left}]",
    "empty name": "layers: [{name: '', type: relu}]",
    "restores true": "input: [1, 3, 8, 8]\nrestores: true\nlayers: [{type: relu}]",
}


@pytest.mark.parametrize("text", BAD.values(), ids=list(BAD))
def test_known_bad_files_fail_the_schema_and_the_loader(text, validator):
    assert not validator.is_valid(yaml.safe_load(text))
    with pytest.raises(ConvtoolError):
        loads(text)


# Values each key's schema and checker must agree on; not the probes the schema was built from.
# Integral floats (3.0) are left out: JSON Schema counts them as integers, YAML and convtool do not.
SAMPLES = [
    None, True, False, -7, -1, 0, 1, 3, 10**12, 0.25, 2.5, -2.5, "1.5e-3", "3", "same", "valid", "center",
    "zeros", "reflect", "bilinear", "tanh", "enc1", "", [], [3], [2, 3], [0, 5], [-1, 4], [4, -1], [-1, -1],
    [1, 2, 3], [1, 3, 8, 8], [1, 2, 3, 4, 5, 6], [None, 7], [None, None], [0.5, 2.0], ["a", "b"], ["a", 1],
    [True, 2], {"like": "a"},
]


@pytest.mark.parametrize("kind, key", [(k, key) for k in KINDS for key in KINDS[k].keys],
                         ids=[f"{k}.{key.name}" for k in KINDS for key in KINDS[k].keys])
def test_schema_of_each_key_agrees_with_its_checker(kind, key):
    check = jsonschema.Draft202012Validator(key_schema(key))
    differ = [value for value in SAMPLES if check.is_valid(value) != accepts(key, value)]
    assert not differ, f"{kind}.{key.name}: schema and checker disagree on {differ}"


# -- nothing a user reads cites the spec ---------------------------------------------------


def user_texts() -> dict[str, str]:
    texts = {"README.md": (ROOT / "README.md").read_text(encoding="utf-8"), "--help": cli_md()}
    for path in [*DOCS.rglob("*"), *(ROOT / "configs").rglob("*"), TEMPLATE]:
        if path.is_file() and path.suffix in (".md", ".json", ".yaml", ".svg", ".html", ".txt"):
            texts[str(path.relative_to(ROOT))] = path.read_text(encoding="utf-8")
    return texts


def test_no_user_facing_text_cites_the_spec():
    citing = [name for name, text in user_texts().items() if "SPEC" in text]
    assert not citing, f"these cite SPEC, which users do not have: {citing}"


# -- every example in every --help runs ----------------------------------------------------


def help_texts() -> dict[str, str]:
    ctx = click.Context(main, info_name="convtool")
    texts = {"convtool": main.get_help(ctx)}
    for name, command in main.commands.items():
        texts[f"convtool {name}"] = command.get_help(click.Context(command, info_name=name, parent=ctx))
    return texts


def examples() -> list[str]:
    """`convtool ...` lines of each Examples: block (the group's help is all examples)."""
    found = []
    for name, text in help_texts().items():
        block = name == "convtool"
        for line in text.splitlines():
            stripped = line.strip()
            if stripped == "Examples:":
                block = True
            elif not stripped and name != "convtool":
                block = False
            elif block and stripped.startswith("convtool "):
                found.append(stripped)
    return found


EXPECTS = re.compile(r"\s#\s*exits (\d+)")
COMMENT = re.compile(r"\s{2,}(#.*|\(.*\))$")


def test_help_has_examples():
    assert len(examples()) >= 30


@pytest.mark.parametrize("line", examples())
def test_help_example_runs(line, tmp_path, monkeypatch):
    expected = int(EXPECTS.search(line)[1]) if EXPECTS.search(line) else 0
    command = COMMENT.sub("", line)
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    if re.search(r"&&|[|<>;]", command):
        code = _shell(command, tmp_path)
    else:
        monkeypatch.chdir(tmp_path)
        result = CliRunner().invoke(main, shlex.split(command)[1:], env={"COLUMNS": "100"})
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        code = result.exit_code
    assert code == expected, line


def _shell(command: str, cwd: Path) -> int:
    """Run a shell line with `convtool` and `python` meaning this checkout and this Python."""
    if "python " in command:
        pytest.importorskip("torch")
    bin_dir = cwd / "bin"
    bin_dir.mkdir()
    (bin_dir / "convtool").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m convtool "$@"\n')
    (bin_dir / "convtool").chmod(0o755)
    (bin_dir / "python").symlink_to(sys.executable)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    return subprocess.run(["sh", "-c", command], cwd=cwd, env=env, capture_output=True, timeout=300).returncode


def test_format_examples_validate_and_run(validator, tmp_path):
    files = [block for block in re.findall(r"```yaml\n(.*?)```", format_md(), re.S) if "layers:" in block]
    assert files
    for number, text in enumerate(files):
        assert validator.is_valid(yaml.safe_load(text)), text
        path = tmp_path / f"example{number}.yaml"
        path.write_text(text)
        result = CliRunner().invoke(main, ["run", str(path)])
        assert result.exit_code == 0, result.output


def test_the_command_writes_every_generated_file(tmp_path):
    subprocess.run([sys.executable, "-m", "convtool.reference", str(tmp_path)], check=True, capture_output=True,
                   cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(outputs())
    for name, make in outputs().items():
        assert (tmp_path / name).read_text(encoding="utf-8") == make()


def test_a_new_top_level_key_brings_its_prose_and_schema(monkeypatch):
    """The template and the schema may describe a key before the loader takes it: it shows once it does."""
    import convtool.reference as reference
    import convtool.reference.schema as schema

    assert "### `outputs:`" not in format_md() or "outputs" in TOP_KEYS
    monkeypatch.setattr(reference, "TOP_KEYS", (*TOP_KEYS, "outputs"))
    monkeypatch.setattr(schema, "TOP_KEYS", (*TOP_KEYS, "outputs"))
    assert "### `outputs:`" in format_md() and "- [`outputs:`](#outputs)" in format_md()
    assert "outputs" in architecture_schema()["properties"]


@pytest.mark.parametrize("key", list(GRAPH_KEYS))
def test_the_schema_takes_a_graph_key_when_the_loader_does(key, validator):
    text = "input: [1, 1, 4, 4]\n" + GRAPH_KEYS[key][2]
    try:
        loads(text)
        taken = True
    except ConvtoolError:
        taken = False
    assert validator.is_valid(yaml.safe_load(text)) == taken
