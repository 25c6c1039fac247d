"""The pictures the README shows are what its commands draw today.

Each `convtool draw ... -o docs/...` command of the README's "Pictures" section is run into a
temporary file and compared with the committed picture. After a deliberate change of the
drawing, `python tests/test_draw_docs.py` draws them again.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from convtool.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
COMMAND = re.compile(r"```sh\n(convtool draw [^\n]*-o (docs/\S+))\n```")


def commands() -> list[tuple[str, str]]:
    section = README.read_text(encoding="utf-8").split("\n## Pictures\n", 1)
    assert len(section) == 2, "README.md has no Pictures section"
    return [(m[1], m[2]) for m in COMMAND.finditer(section[1])]


def draw(command: str, target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = shlex.split(command)
    args[args.index("-o") + 1] = str(target)
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, args[1:], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_readme_shows_a_layer_and_a_network() -> None:
    found = commands()
    assert [Path(path).name for _, path in found] == ["layer.svg", "network.svg"]
    text = README.read_text(encoding="utf-8")
    for _, path in found:
        assert f"]({path})" in text, f"README.md does not show {path}"


@pytest.mark.parametrize("command, path", commands(), ids=[Path(p).name for _, p in commands()])
def test_picture_is_current(command: str, path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fresh = tmp_path / Path(path).name
    draw(command, fresh, monkeypatch)
    committed = ROOT / path
    assert committed.exists(), f"{path} is missing: run `python tests/test_draw_docs.py`"
    assert fresh.read_text(encoding="utf-8") == committed.read_text(encoding="utf-8"), (
        f"{path} is stale: run `python tests/test_draw_docs.py`"
    )


def update() -> None:
    """Draw every README picture again, in place."""
    os.chdir(ROOT)
    for command, path in commands():
        args = shlex.split(command)
        args[args.index("-o") + 1] = str(ROOT / path)
        CliRunner().invoke(main, [*args[1:], "--force"], catch_exceptions=False)
        print(f"drew {path}")


if __name__ == "__main__":
    sys.exit(update())
