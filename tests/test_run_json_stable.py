"""`run --json` of every config written for the first file format is byte-identical to what
convtool printed before architecture files became graphs (tests/golden/run_json, made then),
once the keys graphs added are set aside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from convtool.cli import main
from convtool.layers.fix import CHANGES_VALUES as VALUES

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "run_json"
ADDED = {"path", "inputs", "outputs", "blocks", "restores", "grid", "block", "fix_edits"}  # keys added since


def without_added(doc: object) -> object:
    if isinstance(doc, dict):
        return {k: without_added(v) for k, v in doc.items() if k not in ADDED}
    if isinstance(doc, list):
        return [without_added(v) for v in doc]
    return doc


def added_fixes_set_aside(now: dict, then: dict) -> None:
    """A file that does not line up may now be offered more fixes (pad ... to:), and a fix that
    changes values now says so at its end: the old ones must all still be there, in their order,
    as they were or with that clause; the rest of the error is compared as it is."""
    error, old = now.get("error"), then.get("error")
    if not (error and old and "fixes" in error):
        return
    kept = iter(error["fixes"])
    assert all(any(new == fix or new.startswith(fix + VALUES) for new in kept) for fix in old["fixes"]), (
        old["fixes"], error["fixes"])
    error["fixes"], error["hint"] = old["fixes"], old["hint"]


@pytest.mark.parametrize("golden", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_old_files_keep_their_json(golden: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["run", f"configs/{golden.stem}.yaml", "--json"])
    now = without_added(json.loads(result.stdout))
    added_fixes_set_aside(now, json.loads(golden.read_text()))  # type: ignore[arg-type]
    assert json.dumps(now, indent=2) + "\n" == golden.read_text()
