"""Which files in configs/ `convtool invert` mirrors, and in what words it refuses the others."""

from __future__ import annotations

from pathlib import Path

from convtool.graph import load


def refusal(path: Path) -> str | None:
    """The words of invert's refusal for the file, or None when it mirrors it: only a chain (the
    encoder section, when the file has one) whose layers read no other tensor (a residual add, an
    unpool's indices have no inverse)."""
    specs = load(path).layers
    specs = [spec for spec in specs if spec.section == "encoder"] or specs
    if any(spec.source is not None for spec in specs):
        return "only a chain can be mirrored"
    if any(spec.with_ for spec in specs):
        return "cannot be mirrored"
    return None
