"""A fix for a network that does not line up: the sentence `run` prints and the edits of the
file that make the change, built together so that they always say the same thing.

An edit is one of (docs/json.md, `error.fix_edits`):

    {"layer": PATH, "set": {KEY: VALUE}}        set keys of the layer at PATH (null: remove the key)
    {"insert_before": PATH, "insert": LAYER}    write LAYER (file schema) just before the layer at PATH
    {"input": [N, C, H, W]}                     the file's `input:`

An edit of a layer inside a block edits the block's definition: it carries `"block": NAME`, and
its sentence says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..text import yaml_value

Edit = Mapping[str, Any]

CHANGES_VALUES = "; this changes values: "  # how a fix's sentence begins saying what it does to values
AXES = {1: ("position",), 2: ("row", "column"), 3: ("plane", "row", "column")}


@dataclass(frozen=True)
class Fix:
    """One fix: its sentence, and the ways to apply it (each a list of edits made together)."""

    text: str
    ways: tuple[tuple[Edit, ...], ...]

    def to_list(self) -> list[list[dict[str, Any]]]:
        """The ways as `run --json` gives them."""
        return [[dict(edit) for edit in way] for way in self.ways]


def pairs(values: Mapping[str, Any]) -> str:
    """`key: value, ...` of the keys that are set (None: a key removed, not written)."""
    return ", ".join(f"{key}: {yaml_value(value)}" for key, value in values.items() if value is not None)


def set_keys(path: str, values: Mapping[str, Any], block: str | None = None) -> Edit:
    """The edit that sets `values` on the layer at `path`."""
    edit: dict[str, Any] = {"layer": path, "set": dict(values)}
    if block is not None:
        edit["block"] = block
    return edit


def insert_before(path: str, layer: Mapping[str, Any], block: str | None = None) -> Edit:
    """The edit that writes `layer` just before the layer at `path`."""
    edit: dict[str, Any] = {"insert_before": path, "insert": dict(layer)}
    if block is not None:
        edit["block"] = block
    return edit


def in_block(block: str | None) -> str:
    """What a sentence adds when its edit changes a block's definition."""
    return f" (in the definition of block '{block}', which this network uses once)" if block else ""


def changes_values(note: str | None) -> str:
    """What a sentence adds when its fix changes values, not only shapes."""
    return f"{CHANGES_VALUES}{note}" if note else ""


def edges(before: Sequence[int], after: Sequence[int]) -> str:
    """The rows, columns (planes, positions) at the start and end of each spatial dim.

    >>> edges([0, 0], [1, 1])
    'the last row and the last column'
    >>> edges([1, 0], [2, 0])
    'the first row and the last 2 rows'
    """
    names = AXES.get(len(before), tuple(f"dim {axis + 2} position" for axis in range(len(before))))
    parts = []
    for name, first, last in zip(names, before, after):
        if first:
            parts.append(f"the first {name}" if first == 1 else f"the first {first} {name}s")
        if last:
            parts.append(f"the last {name}" if last == 1 else f"the last {last} {name}s")
    return " and ".join(parts)


@dataclass(frozen=True)
class Resize:
    """A change of a layer's own keys that makes its output a given size, and what it does to
    values (None: nothing but the size)."""

    values: Mapping[str, Any]
    note: str | None = None
