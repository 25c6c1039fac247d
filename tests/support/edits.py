"""Applying a fix's edits (`run --json`'s `error.fix_edits`) to the YAML text of an architecture
file, as a user's script would: the file read with yaml.safe_load, each layer found by its path
(as `run --json` gives it), the changed document written back.

A path leads through block uses into the block's definition (`a.1.conv1d`: the layer `conv1d`
of the block that use `a` uses, copy 1): an edit there changes the definition, so it must carry
`"block": NAME`, and diagnosis offers it only when the network uses that definition once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from convtool.layers import resolve_type


def apply_edits(text: str, edits: Sequence[Mapping[str, Any]]) -> str:
    """The file's text with `edits` made (every path as the file had it before any of them)."""
    doc = yaml.safe_load(text)
    located = []
    for edit in edits:
        if "input" in edit:
            located.append((edit, None))
            continue
        path = edit["layer"] if "layer" in edit else edit["insert_before"]
        items, item, block = find(doc, path)
        assert block == edit.get("block"), (path, block, edit)
        located.append((edit, (items, item)))
    for edit, where in located:
        if where is None:
            if "name" in edit:  # one of several inputs: a shape, or a mapping with its shape
                written = doc["inputs"][edit["name"]]
                if isinstance(written, dict):
                    written["shape"] = list(edit["input"])
                else:
                    doc["inputs"][edit["name"]] = list(edit["input"])
            else:
                doc["input"] = list(edit["input"])
            continue
        items, item = where
        if "set" in edit:
            for key, value in edit["set"].items():
                if value is None:
                    item.pop(key, None)
                else:
                    item[key] = value
        else:
            at = next(i for i, other in enumerate(items) if other is item)
            items.insert(at, dict(edit["insert"]))
    return yaml.safe_dump(doc, sort_keys=False)


def find(doc: dict[str, Any], path: str) -> tuple[list[Any], dict[str, Any], str | None]:
    """The list that holds the layer at `path`, the layer, and the block whose definition it is in."""
    blocks = doc.get("blocks") or {}
    scope: list[tuple[list[Any], dict[str, Any]]] = [
        (items, item) for key in ("layers", "encoder", "decoder") if isinstance(doc.get(key), list)
        for items in [doc[key]] for item in items
    ]
    block = None
    segments = path.split(".")
    while True:
        named = dict(zip(_segments([item for _, item in scope], blocks), scope))
        # a name of a file without blocks may hold dots: the longest match first
        for size in range(len(segments), 0, -1):
            head = ".".join(segments[:size])
            if head in named:
                break
        else:
            raise AssertionError(f"no layer at {path!r} (segments here: {sorted(named)})")
        items, item = named[head]
        segments = segments[size:]
        if "repeat" in item:
            assert segments and segments[0].isdigit(), path
            segments = segments[1:]
        if not segments:
            return items, item, block
        block = item["type"]
        layers = blocks[block]["layers"]
        scope = [(layers, layer) for layer in layers]


def _segments(items: Sequence[dict[str, Any]], blocks: Mapping[str, Any]) -> list[str]:
    """Each item's path segment in its scope: its name, or its kind numbered when unnamed more than once."""
    kinds = [item["type"] if item["type"] in blocks else resolve_type(item["type"])[0].name  # type: ignore[index]
             for item in items]
    unnamed = [kind for item, kind in zip(items, kinds) if item.get("name") is None]
    seen: dict[str, int] = {}
    found = []
    for item, kind in zip(items, kinds):
        if item.get("name") is not None:
            found.append(str(item["name"]))
            continue
        number = seen.get(kind, 0)
        seen[kind] = number + 1
        found.append(kind if unnamed.count(kind) == 1 else f"{kind}_{number}")
    return found
