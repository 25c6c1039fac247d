"""Start-up and set-up: what the shape path imports (read from `python -X importtime`, never
timed here: benchmarks/bench_startup.py reports the times), shell completion through click, and
the README's set-up commands (a virtual environment; the test command is the one .ci/run runs)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from support.process import ROOT, run

from convtool.cli import main
from convtool.frameworks import NAMES

SHAPE = ["shape", "16x16", "-k", "4", "-s", "2", "-p", "1"]


def imported(args: list[str]) -> tuple[set[str], str]:
    """The modules `python -m convtool ARGS` imports (as -X importtime lists them) and its stdout."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "convtool", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    names = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "convtool.cli" in names, "-X importtime listed no module: the check below would pass vacuously"
    return names, done.stdout


def packages(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def test_shape_json_imports_neither_rich_nor_numpy():
    names, out = imported([*SHAPE, "--json"])
    assert json.loads(out)["output"]["spatial"] == [32, 32]
    assert not packages(names) & {"rich", "numpy", "yaml"}, sorted(n for n in names if n.split(".")[0] in
                                                                 {"rich", "numpy", "yaml"})


def test_shape_table_imports_rich_but_not_numpy():
    """rich where it renders, and this is where: the same check sees it (so the one above can fail)."""
    names, out = imported(SHAPE)
    assert "input  16x16   ->   output 32x32" in out
    assert "rich" in packages(names)
    assert not packages(names) & {"numpy", "yaml"}


@pytest.mark.parametrize("args", [SHAPE, [*SHAPE, "--json"]], ids=["table", "json"])
def test_shape_loads_neither_the_searches_nor_the_frameworks(args):
    """The design searches, the frameworks' layer readers and the network half are other commands'."""
    names, _ = imported(args)
    loaded = {n for n in names if n.startswith(("convtool.design", "convtool.frameworks.", "convtool.graph",
                                                "convtool.layers", "convtool.numeric", "convtool.draw"))}
    assert not loaded, sorted(loaded)


def test_tables_print_colon_words_as_written(tmp_path):
    """rich's emoji codes are off: a name like `:smile:` is printed, not turned into a picture."""
    arch = tmp_path / "net.yaml"
    arch.write_text("name: ':smile: net :thumbs_up:'\ninput: [1, 1, 8, 8]\nlayers:\n"
                    "  - {type: conv2d, out_channels: 2, kernel_size: 3, padding: 1}\n")
    result = CliRunner().invoke(main, ["run", str(arch)], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert ":smile: net :thumbs_up:" in result.output


# -- shell completion (click's: `_CONVTOOL_COMPLETE=bash_source convtool`) ----------------------


@pytest.mark.parametrize("shell, marker", [
    ("bash", "complete -o nosort -F _convtool_completion convtool"),
    ("zsh", "compdef _convtool_completion convtool"),
    ("fish", "complete --no-files --command convtool"),
], ids=["bash", "zsh", "fish"])
def test_completion_script(shell, marker):
    done = run([], env={"_CONVTOOL_COMPLETE": f"{shell}_source"})
    assert done.returncode == 0, done.stderr
    assert marker in done.stdout


def complete(words: str, cword: int) -> list[str]:
    """What bash completion offers for the command line `words` at word `cword` (type,value lines)."""
    done = run([], env={"_CONVTOOL_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_completion_offers_every_command():
    assert complete("convtool ", 1) == [f"plain,{name}" for name in sorted(main.commands)]
    assert {"plain,shape", "plain,invert", "plain,run", "plain,draw", "plain,export", "plain,port"} <= set(
        complete("convtool ", 1))


@pytest.mark.parametrize("words, cword, expected", [
    ("convtool in", 1, ["plain,invert"]),
    ("convtool shape --fra", 2, ["plain,--framework"]),
    ("convtool shape 16 --framework ", 4, [f"plain,{name}" for name in NAMES]),
    ("convtool run conf", 2, ["file,conf"]),
    ("convtool invert conf", 2, ["file,conf"]),
], ids=["command prefix", "option", "option choices", "run ARCH.yaml is a file", "invert SIZE|ARCH.yaml"])
def test_completion_completes(words, cword, expected):
    assert complete(words, cword) == expected


def test_completion_is_documented():
    readme = (ROOT / "README.md").read_text()
    for shell in ("bash", "zsh", "fish"):
        assert f"_CONVTOOL_COMPLETE={shell}_source convtool" in readme


# -- set-up ---------------------------------------------------------------------------------------


def setup_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, re.S)


def test_readme_setup_makes_a_virtual_environment():
    commands = setup_commands()
    assert len(commands) == 2, commands
    for command in commands:
        assert command.startswith("python -m venv .venv && . .venv/bin/activate && python -m pip install -e ")
    assert commands[0].endswith("&& convtool run configs/autoencoder_28.yaml")
    assert commands[1].endswith("python -m pip install -e '.[test]' && python -m pytest")


def test_ci_runs_the_readme_test_command():
    assert setup_commands()[1] in (ROOT / ".ci" / "run").read_text().splitlines()


def test_pytest_prints_its_summary_line_with_the_project_settings(tmp_path):
    """The project's pytest settings plus one more -q (as often typed) still print 'N passed'."""
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(ROOT / "pyproject.toml"),
         "--rootdir", str(tmp_path), str(tmp_path / "test_one.py")],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^1 passed in ", done.stdout, re.M), done.stdout

