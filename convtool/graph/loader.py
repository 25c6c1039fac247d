"""Loading an architecture file: every error an ArchError with file, line, column, layer and key."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ArchError
from ..layers import KINDS, closest_type, resolve_type
from ..layers.keys import OptionError, describe
from ..params import Shape
from .model import INPUT, PREVIOUS, SECTIONS, TOP_KEYS, Arch, LayerSpec, Mirror
from .yaml import Mark, MarkedDict, MarkedList, read_yaml


def load(path: str | Path) -> Arch:
    """Read and validate an architecture file (a regular UTF-8 file of at most 16 MiB)."""
    from ..files import read_text

    return loads(read_text(path), str(path))


def loads(text: str, file: str = "<string>") -> Arch:
    """Validate an architecture given as YAML text.

    >>> from convtool.graph import loads
    >>> loads("input: [1, 3, 8, 8]\\nlayers: [{type: relu}]").layers[0].type
    'relu'
    """
    doc = read_yaml(text, file)
    return _Loader(file).architecture(doc)


class _Loader:
    def __init__(self, file: str) -> None:
        self.file = file

    def error(
        self,
        message: str,
        mark: Mark | None,
        *,
        layer: tuple[int, str | None, str | None] | None = None,
        key: str | None = None,
        hint: str | Sequence[str] | None = None,
    ) -> ArchError:
        where = f"{self.file}:{mark[0]}:{mark[1]}: " if mark else f"{self.file}: "
        index = name = None
        if layer is not None:
            index, name, type_ = layer
            label = f"layer {index}" + (f" '{name}'" if name else "") + (f" ({type_})" if type_ else "")
            where += f"{label}: "
        return ArchError(
            where + message,
            hint=hint,
            file=self.file,
            line=mark[0] if mark else None,
            column=mark[1] if mark else None,
            layer_index=index,
            layer_name=name,
            key=key,
        )

    def architecture(self, doc: Any) -> Arch:
        if doc is None:
            raise self.error(
                "the file is empty",
                None,
                hint="an architecture file is a mapping: `input: [N, C, H, W]` and `layers: [...]` (see configs/)",
            )
        if not isinstance(doc, MarkedDict):
            raise self.error(
                f"expected a mapping with `input:` and `layers:` at the top, but got {describe(doc)}",
                getattr(doc, "mark", (1, 1)),
            )
        for key in doc:
            if key not in TOP_KEYS:
                close = difflib.get_close_matches(str(key), TOP_KEYS, n=1)
                raise self.error(
                    f"unknown top-level key '{key}'",
                    doc.key_marks[key],
                    key=str(key),
                    hint=(f"did you mean '{close[0]}'? " if close else "") + "top-level keys: " + ", ".join(TOP_KEYS),
                )
        name = doc.get("name")
        if name is not None and not isinstance(name, str):
            raise self.error(f"key 'name' expects a string, but got {describe(name)}", doc.value_marks["name"], key="name")
        input_shape = self.input_shape(doc)
        if "layers" in doc and ("encoder" in doc or "decoder" in doc):
            raise self.error(
                "give either `layers:` or `encoder:`/`decoder:` sections, not both", doc.key_marks["layers"], key="layers"
            )
        if "decoder" in doc and "encoder" not in doc:
            raise self.error("a `decoder:` section needs an `encoder:` section before it", doc.key_marks["decoder"], key="decoder")
        sections: list[tuple[str | None, Any, Mark]] = []
        if "layers" in doc:
            sections.append((None, doc["layers"], doc.value_marks["layers"]))
        else:
            for title in SECTIONS:
                if title in doc:
                    sections.append((title, doc[title], doc.value_marks[title]))
        if not sections:
            raise self.error(
                "no layers: add a `layers:` list (or `encoder:` and `decoder:` sections)", doc.mark,
                hint=["e.g. layers:", "  - {type: conv2d, out_channels: 16, kernel_size: 3}"],
            )
        specs: list[LayerSpec] = []
        names: dict[str, tuple[int, Mark]] = {}
        mirror = None
        for section, items, mark in sections:
            if isinstance(items, MarkedDict) and section == "decoder" and "mirror" in items:
                mirror = self.mirror_clause(items, names, specs)
                continue
            if not isinstance(items, MarkedList):
                raise self.error(
                    f"`{section or 'layers'}:` expects a list of layers, but got {describe(items)}",
                    mark, key=section or "layers",
                    hint="decoder: {mirror: encoder} is the one mapping form" if section == "decoder" else None,
                )
            if not items:
                raise self.error(f"`{section or 'layers'}:` is empty", mark, key=section or "layers")
            for item, item_mark in zip(items, items.marks):
                specs.append(self.layer(item, item_mark, len(specs), section, names))
        specs = _with_paths(specs)
        return Arch(
            name=name,
            input=input_shape,
            layers=tuple(specs),
            file=self.file,
            sections=tuple(s for s, _, _ in sections if s is not None),
            mirrored_from=mirror,
            outputs=self.outputs(doc, names),
        )

    def input_shape(self, doc: MarkedDict) -> Shape | None:
        if "input" not in doc:
            return None
        value = doc["input"]
        mark = doc.value_marks["input"]
        if (
            not isinstance(value, list)
            or not 2 <= len(value) <= 5
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
        ):
            raise self.error(
                f"key 'input' expects a shape [N, C, H, W] (2 to 5 ints >= 1), but got {describe(value)}",
                mark, key="input", hint="e.g. input: [1, 3, 64, 64]; a latent vector is [N, features]",
            )
        return tuple(value)

    def outputs(self, doc: MarkedDict, names: Mapping[str, Any]) -> tuple[str, ...]:
        """`outputs: [NAME, ...]`: the tensors the network gives (default: the last layer)."""
        if "outputs" not in doc:
            return ()
        value, mark = doc["outputs"], doc.value_marks["outputs"]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise self.error(f"key 'outputs' expects a list of layer names, but got {describe(value)}", mark,
                             key="outputs")
        for target in value:
            if target != PREVIOUS and target not in names and target != INPUT:
                raise self.unknown(target, names, mark, None, "outputs")
        return tuple(value)

    def unknown(self, target: str, names: Mapping[str, Any], mark: Mark, where: Any, key: str) -> ArchError:
        """A name that no earlier layer has (nor the input)."""
        near = difflib.get_close_matches(target, [INPUT, *names], n=1)
        what = "skip target" if key == "with" else "tensor"
        return self.error(
            f"unknown {what} '{target}': no earlier layer has that name",
            mark, layer=where, key=key,
            hint=(f"did you mean '{near[0]}'? " if near else "")
            + ("named so far: " + ", ".join(names) if names else "no layer before this one has a name"),
        )

    def mirror_clause(self, items: MarkedDict, names: Mapping[str, Any], specs: list[LayerSpec]) -> Mirror:
        extra = [k for k in items if k != "mirror"]
        if extra:
            raise self.error(f"unknown key '{extra[0]}' in `decoder: {{mirror: ...}}`", items.key_marks[extra[0]], key=str(extra[0]))
        source = items["mirror"]
        mark = items.value_marks["mirror"]
        if source != "encoder":
            raise self.error(
                f"`mirror:` names the section to mirror and must be 'encoder', but got {describe(source)}", mark,
                key="mirror",
            )
        return Mirror(str(source), mark[0], mark[1])

    def layer(
        self, item: Any, mark: Mark, index: int, section: str | None, names: dict[str, tuple[int, Mark]]
    ) -> LayerSpec:
        if not isinstance(item, MarkedDict):
            raise self.error(
                f"a layer must be a mapping like {{type: relu}}, but got {describe(item)}",
                mark, layer=(index, None, None),
            )
        name = item.get("name")
        if "name" in item and (not isinstance(name, str) or not name):
            raise self.error(
                f"key 'name' expects a string, but got {describe(name)}", item.value_marks["name"],
                layer=(index, None, None), key="name", hint="quote names that YAML reads as numbers: name: '1'",
            )
        if "type" not in item:
            raise self.error(
                "missing key 'type'", mark, layer=(index, name, None), key="type",
                hint="every layer names its type, e.g. {type: conv2d, ...}",
            )
        type_name = item["type"]
        if not isinstance(type_name, str):
            raise self.error(
                f"key 'type' expects a layer type, but got {describe(type_name)}", item.value_marks["type"],
                layer=(index, name, None), key="type",
            )
        resolved = resolve_type(type_name)
        if resolved is None:
            close = closest_type(type_name)
            raise self.error(
                f"unknown layer type '{type_name}'", item.value_marks["type"], layer=(index, name, None), key="type",
                hint=(f"did you mean '{close}'? " if close else "") + "types: " + ", ".join(KINDS),
            )
        kind, defaults = resolved
        where = (index, name, kind.name)
        if name is not None and name in names:
            first_index, first_mark = names[name]
            raise self.error(
                f"duplicate layer name '{name}' (layer {first_index} at line {first_mark[0]} has it)",
                item.value_marks["name"], layer=where, key="name", hint="names are unique: skip connections refer to them",
            )
        if name in (INPUT, PREVIOUS):
            raise self.error(f"'{name}' names the network's input; give the layer another name",
                             item.value_marks["name"], layer=where, key="name")
        options = {k: v for k, v in item.items() if k not in ("type", "name", "from", "inputs")}
        source = self.source(item, kind, names, where)
        if kind.skip and "inputs" in item:
            if "with" in item:
                raise self.error("give `inputs:` or `with:`, not both", item.key_marks["inputs"], layer=where,
                                 key="inputs")
            options["with"] = list(item["inputs"][1:])
        merged = {**defaults, **options}
        try:
            config = kind.parse(merged)
        except OptionError as error:
            key = error.key
            if error.where == "key" and key in item.key_marks:
                at = item.key_marks[key]
            elif error.where == "value" and key in item.value_marks:
                at = item.value_marks[key]
            else:
                at = mark
            raise self.error(error.message, at, layer=where, key=key, hint=error.hint_lines) from None
        with_ = kind.references(config)
        # the key that names them, for the error marks: a merge's, or a size taken from another tensor
        key = next((k for k in ("inputs", "with", "to", "output_size", "size", "indices") if k in item), "to")
        for target in with_:
            if target == name:
                raise self.error(
                    f"'{target}' is this layer itself; `{key}:` names earlier layers", item.value_marks[key],
                    layer=where, key=key,
                )
            if target != PREVIOUS and target not in names and target != INPUT:
                raise self.unknown(target, names, item.value_marks.get(key, mark), where, key)
        if name is not None:
            names[name] = (index, item.value_marks["name"])
        return LayerSpec(
            index=index,
            name=name,
            type=kind.name,
            section=section,
            config=config,
            options={k: v for k, v in merged.items() if k != "with"},
            with_=with_,
            line=mark[0],
            column=mark[1],
            marks={k: m for k, m in item.value_marks.items()},
            source=source,
        )

    def source(self, item: MarkedDict, kind: Any, names: Mapping[str, Any], where: Any) -> str | None:
        """The tensor a layer reads first: `from: NAME`, or a merge's first `inputs:` (None: the
        layer written before)."""
        if "inputs" in item:
            value, mark = item["inputs"], item.value_marks["inputs"]
            if not kind.skip:
                raise self.error("only merging layers take `inputs:`; this layer reads one tensor: use `from:`",
                                 item.key_marks["inputs"], layer=where, key="inputs")
            if "from" in item:
                raise self.error("give `inputs:` or `from:`, not both", item.key_marks["from"], layer=where, key="from")
            if not isinstance(value, list) or len(value) < 2 or not all(isinstance(v, str) and v for v in value):
                raise self.error(f"key 'inputs' expects a list of two or more tensor names, but got {describe(value)}",
                                 mark, layer=where, key="inputs", hint="e.g. inputs: [skip1, .]  (. = the layer before)")
            target = value[0]
        elif "from" in item:
            target, mark = item["from"], item.value_marks["from"]
            if not isinstance(target, str) or not target:
                raise self.error(f"key 'from' expects a layer name, but got {describe(target)}", mark, layer=where,
                                 key="from")
        else:
            return None
        if target == PREVIOUS:
            return None
        if target not in names and target != INPUT:
            raise self.unknown(target, names, mark, where, "inputs" if "inputs" in item else "from")
        return target


def _with_paths(specs: list[LayerSpec]) -> list[LayerSpec]:
    """Each layer's path: its name, or its kind, numbered (conv2d_0, conv2d_1, ...) when the
    kind occurs unnamed more than once."""
    from dataclasses import replace

    unnamed: dict[str, int] = {}
    for spec in specs:
        if spec.name is None:
            unnamed[spec.type] = unnamed.get(spec.type, 0) + 1
    seen: dict[str, int] = {}
    paths = []
    for spec in specs:
        if spec.name is not None:
            paths.append(replace(spec, path=spec.name))
            continue
        number = seen.get(spec.type, 0)
        seen[spec.type] = number + 1
        paths.append(replace(spec, path=spec.type if unnamed[spec.type] == 1 else f"{spec.type}_{number}"))
    return paths
