"""Every `console` example in README.md is run and must print exactly what the README shows.

Regenerate the README's outputs after a deliberate change with `python tests/test_readme.py`.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from convtool.cli import main

README = Path(__file__).parent.parent / "README.md"
BLOCK = re.compile(r"```console\n\$ (?P<command>[^\n]+)\n(?P<output>.*?)```", re.S)


def run(command: str) -> str:
    """The command's output (stdout and stderr) as a 100-column terminal would show it."""
    args = shlex.split(command)
    assert args[0] == "convtool", command
    result = CliRunner().invoke(main, args[1:], env={"COLUMNS": "100"}, catch_exceptions=False)
    return "\n".join(line.rstrip() for line in result.output.splitlines()) + "\n"


def examples() -> list[tuple[str, str]]:
    return [(m["command"], m["output"]) for m in BLOCK.finditer(README.read_text())]


def test_readme_has_examples():
    assert len(examples()) >= 5


@pytest.mark.parametrize("command, output", examples(), ids=[c for c, _ in examples()])
def test_readme_example(command, output, monkeypatch):
    monkeypatch.chdir(README.parent)
    assert run(command) == output


def test_readme_python_examples_run(capsys):
    for code in re.findall(r"```python\n(.*?)```", README.read_text(), re.S):
        exec(compile(code, "README.md", "exec"), {})
        printed = capsys.readouterr().out
        for line in code.splitlines():
            if "print(" in line and "# " in line:  # the comment shows what it prints
                assert line.split("# ", 1)[1] in printed


def update() -> None:
    """Rewrite every example's output in README.md with what the command prints now."""
    text = README.read_text()

    def fill(match: re.Match[str]) -> str:
        return f"```console\n$ {match['command']}\n{run(match['command'])}```"

    README.write_text(BLOCK.sub(fill, text))


if __name__ == "__main__":
    sys.exit(update())
