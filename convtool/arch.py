"""Architecture files (SPEC §5): load and validate with line numbers, propagate shapes, verify.

    load(path) -> Arch                       parse + validate, every error an ArchError with
                                             file, line, column, layer and key
    propagate(arch, input_shape, batch)      -> Propagation: one LayerResult per layer + totals,
                                             or StackMismatch (a MismatchError) with the
                                             partial table, the failing layer and the fixes
    verify(propagation, seed, max_memory)    -> Verification: the stack through the numeric
                                             engine, every layer's shape compared

YAML is read with `yaml.safe_load` semantics (the safe constructors only) by an event-level
composer that keeps the line and column of every key and value and refuses, before
building anything, documents that nest too deep or expand hugely through aliases.

>>> arch = loads("input: [1, 3, 8, 8]\\nlayers:\\n  - {type: Conv2d, out_channels: 4, kernel_size: 3, stride: 2}\\n")
>>> [(r.type, r.output, r.receptive_field) for r in propagate(arch).layers]
[('conv2d', (1, 4, 3, 3), (3, 3))]
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import Any

from .errors import ArchError, ConfigError, ConvtoolError, MismatchError
from .footprint import Footprint
from .layers import KINDS, closest_type, resolve_type
from .layers.base import Applied
from .layers.keys import OptionError, SkipMismatch, describe
from .params import Shape
from .shape import output_size_range
from .text import fmt_shape, fmt_spatial

Mark = tuple[int, int]  # (line, column), 1-based

MAX_NODES = 200_000  # YAML nodes after alias expansion (a 1,000-layer file has ~12,000)
MAX_FIELD_POSITIONS = 2**20  # per dim; beyond it the receptive field is not computed
MAX_DEPTH = 64
ACTIVATION_BYTES = 4  # float32
TOP_KEYS = ("name", "input", "layers", "encoder", "decoder")
SECTIONS = ("encoder", "decoder")


# == YAML with marks ========================================================================


class MarkedDict(dict):  # type: ignore[type-arg]
    """A mapping from the file, with the marks of its keys and values."""

    mark: Mark = (0, 0)
    key_marks: dict[Any, Mark]
    value_marks: dict[Any, Mark]


class MarkedList(list):  # type: ignore[type-arg]
    """A sequence from the file, with the mark of each item."""

    mark: Mark = (0, 0)
    marks: list[Mark]


def _mark(event_mark: Any) -> Mark:
    return (event_mark.line + 1, event_mark.column + 1)


def read_yaml(text: str, file: str = "<string>") -> Any:
    """Parse one YAML document into plain values (MarkedDict/MarkedList keep the marks).

    Only YAML's safe tags are constructed (as `yaml.safe_load`); nesting deeper than
    MAX_DEPTH or expanding to more than MAX_NODES nodes through aliases is refused first.

    >>> doc = read_yaml("a: [1, 2]\\nb: {c: x}\\n")
    >>> doc, doc.key_marks["b"], doc["a"].marks
    ({'a': [1, 2], 'b': {'c': 'x'}}, (2, 1), [(1, 5), (1, 8)])
    """
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    merge_tag = "tag:yaml.org,2002:merge"
    anchors: dict[str, tuple[Any, int]] = {}
    open_anchors: set[str] = set()
    # frame: [container, is_map, pending_key, pending_key_mark, anchor, size, merges]
    stack: list[list[Any]] = []
    result: list[Any] = []
    total = aliased = 0
    documents = 0

    def fail(message: str, mark: Mark, hint: str | None = None) -> ArchError:
        return ArchError(f"{file}:{mark[0]}:{mark[1]}: {message}", file=file, line=mark[0], column=mark[1], hint=hint)

    def add(value: Any, mark: Mark, size: int, is_merge_key: bool = False) -> None:
        if not stack:
            result.append(value)
            return
        frame = stack[-1]
        frame[5] += size
        container = frame[0]
        if not frame[1]:
            container.append(value)
            container.marks.append(mark)
            return
        if frame[2] is _NO_KEY:
            if isinstance(value, (dict, list)):
                raise fail("a mapping key must be a plain value, not a list or mapping", mark)
            frame[2], frame[3] = (_MERGE if is_merge_key else value), mark
            return
        key, key_mark = frame[2], frame[3]
        frame[2] = _NO_KEY
        if key is _MERGE:
            sources = value if isinstance(value, list) else [value]
            if not all(isinstance(s, MarkedDict) for s in sources):
                raise fail("a merge key '<<' needs a mapping or a list of mappings", mark)
            frame[6].extend(sources)
            return
        if key in container:
            first = container.key_marks[key]
            raise fail(f"duplicate key '{key}' (first written at line {first[0]})", key_mark)
        container[key] = value
        container.key_marks[key] = key_mark
        container.value_marks[key] = mark

    try:
        while loader.check_event():
            event = loader.get_event()
            kind = type(event).__name__
            if kind == "DocumentStartEvent":
                documents += 1
                if documents > 1:
                    raise fail(
                        "expected a single YAML document, but found another one (---)", _mark(event.start_mark)
                    )
                continue
            if kind in ("StreamStartEvent", "StreamEndEvent", "DocumentEndEvent"):
                continue
            mark = _mark(event.start_mark)
            if kind == "AliasEvent":
                if event.anchor in open_anchors:
                    raise fail(f"recursive alias *{event.anchor} (it refers to a node that contains it)", mark)
                if event.anchor not in anchors:
                    raise fail(f"found undefined alias *{event.anchor}", mark)
                value, size = anchors[event.anchor]
                total += size
                aliased += size
                if total > MAX_NODES:
                    raise _too_big(fail, mark, aliased)
                add(value, mark, size)
                continue
            total += 1
            if total > MAX_NODES:
                raise _too_big(fail, mark, aliased)
            if kind == "ScalarEvent":
                value, is_merge = _scalar(loader, event, merge_tag, fail, mark)
                if event.anchor:
                    anchors[event.anchor] = (value, 1)
                add(value, mark, 1, is_merge)
            elif kind in ("SequenceStartEvent", "MappingStartEvent"):
                if len(stack) >= MAX_DEPTH:
                    raise fail(f"the document nests deeper than {MAX_DEPTH} levels", mark)
                is_map = kind == "MappingStartEvent"
                standard = "tag:yaml.org,2002:map" if is_map else "tag:yaml.org,2002:seq"
                if event.tag not in (None, "!", standard):
                    raise fail(f"the tag {event.tag} is not allowed (files are read with yaml.safe_load semantics)", mark)
                container: Any = MarkedDict() if is_map else MarkedList()
                container.mark = mark
                if is_map:
                    container.key_marks, container.value_marks = {}, {}
                else:
                    container.marks = []
                if event.anchor:
                    open_anchors.add(event.anchor)
                stack.append([container, is_map, _NO_KEY, None, event.anchor, 1, []])
            elif kind in ("SequenceEndEvent", "MappingEndEvent"):
                container, is_map, _, _, anchor, size, merges = stack.pop()
                if is_map:
                    for source in merges:
                        for key, value in source.items():
                            if key not in container:
                                container[key] = value
                                container.key_marks[key] = source.key_marks[key]
                                container.value_marks[key] = source.value_marks[key]
                if anchor:
                    open_anchors.discard(anchor)
                    anchors[anchor] = (container, size)
                add(container, container.mark, size)
    except yaml.MarkedYAMLError as error:
        problem_mark = error.problem_mark or error.context_mark
        where = _mark(problem_mark) if problem_mark is not None else (1, 1)
        detail = error.problem or "invalid YAML"
        lines = text.splitlines()
        line = lines[where[0] - 1] if 0 < where[0] <= len(lines) else ""
        tabbed = "\t" in line[: len(line) - len(line.lstrip())] or "'\\t'" in detail
        hint = "YAML indents with spaces only: replace the tabs with spaces" if tabbed else None
        if error.context:
            detail += f" ({error.context}" + (
                f" at line {error.context_mark.line + 1}, column {error.context_mark.column + 1})"
                if error.context_mark is not None else ")"
            )
        raise fail(f"YAML syntax error: {detail}", where, hint) from None
    except yaml.YAMLError as error:
        raise ArchError(f"{file}: YAML error: {error}", file=file) from None
    finally:
        loader.dispose()
    return result[0] if result else None


class _Sentinel:
    pass


_NO_KEY: Any = _Sentinel()
_MERGE: Any = _Sentinel()


def _too_big(fail: Any, mark: Mark, aliased: int) -> ArchError:
    """The refusal of a document past MAX_NODES values; aliases are blamed only when they
    brought it there (`aliased`: the values they copied)."""
    if aliased * 2 > MAX_NODES:
        return fail(
            f"the document has more than {MAX_NODES:,} values once its aliases are expanded "
            f"({aliased:,} of them copied by aliases); refusing to read it",
            mark,
            hint="YAML aliases (*name) copy whole subtrees; nested ones grow exponentially",
        )
    return fail(
        f"the document has more than {MAX_NODES:,} values; convtool reads architecture files up to that "
        f"size (some {MAX_NODES // 12:,} layers)",
        mark,
    )


def _scalar(loader: Any, event: Any, merge_tag: str, fail: Any, mark: Mark) -> tuple[Any, bool]:
    import yaml

    node = yaml.ScalarNode(None, event.value, event.start_mark, event.end_mark, event.style)
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag == merge_tag:
        return None, True
    node.tag = tag
    constructor = loader.yaml_constructors.get(tag)
    if constructor is None:
        raise fail(
            f"could not determine a constructor for the tag {tag} "
            "(files are read with yaml.safe_load semantics)",
            mark,
        )
    try:
        return constructor(loader, node), False
    except (yaml.YAMLError, ValueError) as error:
        raise fail(f"invalid {tag.rsplit(':', 1)[-1]} value {event.value!r}: {error}", mark) from None


# == the architecture ========================================================================


@dataclass(frozen=True)
class LayerSpec:
    """One layer as written in the file, checked: `config` has every key, defaults filled.

    `options` are the keys as written (type, name and with excluded; an alias's implied
    defaults included), `marks` the (line, column) of each written key's value.
    """

    index: int
    name: str | None
    type: str
    section: str | None
    config: Mapping[str, Any]
    options: Mapping[str, Any]
    with_: tuple[str, ...] = ()
    line: int | None = None
    column: int | None = None
    marks: Mapping[str, Mark] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """`layer 3 'up1' (conv_transpose2d)`."""
        name = f" '{self.name}'" if self.name else ""
        return f"layer {self.index}{name} ({self.type})"

    def summary(self) -> str:
        """The compact config as far as it is known without an input."""
        return KINDS[self.type].summary(self.config, self.options)


@dataclass(frozen=True)
class Mirror:
    """`decoder: {mirror: encoder}` (SPEC §5.5), expanded by `expand_mirror`."""

    source: str
    line: int
    column: int


@dataclass(frozen=True)
class Arch:
    """A loaded architecture file."""

    name: str | None
    input: Shape | None
    layers: tuple[LayerSpec, ...]
    file: str = "<string>"
    sections: tuple[str, ...] = ()
    mirror: Mirror | None = None

    def by_name(self) -> dict[str, LayerSpec]:
        return {spec.name: spec for spec in self.layers if spec.name}

    @property
    def referenced(self) -> frozenset[str]:
        """Names that skip connections read."""
        return frozenset(n for spec in self.layers for n in spec.with_)


def load(path: str | Path) -> Arch:
    """Read and validate an architecture file (a regular UTF-8 file of at most 16 MiB)."""
    from .files import read_text

    return loads(read_text(path), str(path))


def loads(text: str, file: str = "<string>") -> Arch:
    """Validate an architecture given as YAML text.

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
                mirror = self.mirror(items, names, specs)
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
        return Arch(
            name=name,
            input=input_shape,
            layers=tuple(specs),
            file=self.file,
            sections=tuple(s for s, _, _ in sections if s is not None),
            mirror=mirror,
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

    def mirror(self, items: MarkedDict, names: Mapping[str, Any], specs: list[LayerSpec]) -> Mirror:
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
        options = {k: v for k, v in item.items() if k not in ("type", "name")}
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
        with_: tuple[str, ...] = ()
        if kind.skip:
            with_ = config["with"]
            for target in with_:
                if target == name:
                    raise self.error(
                        f"'{target}' is this layer itself; `with:` names an earlier layer", item.value_marks["with"],
                        layer=where, key="with",
                    )
                if target not in names:
                    near = difflib.get_close_matches(target, list(names), n=1)
                    raise self.error(
                        f"unknown skip target '{target}': no earlier layer has that name",
                        item.value_marks["with"], layer=where, key="with",
                        hint=(f"did you mean '{near[0]}'? " if near else "")
                        + ("named so far: " + ", ".join(names) if names else "no layer before this one has a name"),
                    )
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
        )


def expand_mirror(arch: Arch, input_shape: Shape) -> Arch:
    """Build the decoder of `decoder: {mirror: encoder}` from the encoder (SPEC §5.5), for
    this input: the encoder's layers, then the decoder's (see convtool.mirror)."""
    from .mirror import expand  # mirroring builds on propagation: imported late

    return expand(arch, input_shape)


# == propagation ==============================================================================


@dataclass(frozen=True)
class LayerResult:
    """One row of the `run` table: a layer applied to the tensor that reaches it."""

    index: int
    name: str | None
    type: str
    section: str | None
    config: str
    input: Shape
    output: Shape
    param_count: int
    macs: int
    receptive_field: tuple[int, ...] | None
    notes: tuple[str, ...]
    applied: Applied
    skips: tuple[int, ...] = ()  # concat/add: indices of the layers whose outputs join

    def to_dict(self) -> dict[str, Any]:
        """The layer as in `run --json` (SPEC §6)."""
        return {
            "index": self.index,
            "name": self.name,
            "type": self.type,
            "section": self.section,
            "config": self.config,
            "input": list(self.input),
            "output": list(self.output),
            "param_count": self.param_count,
            "macs": self.macs,
            "receptive_field": list(self.receptive_field) if self.receptive_field is not None else None,
            "warnings": list(self.notes),
        }


@dataclass(frozen=True)
class Totals:
    """Whole-stack sums. activation_bytes: every layer's output as float32 (input excluded),
    i.e. what a forward pass keeps for the backward pass."""

    param_count: int
    macs: int
    activation_bytes: int

    def to_dict(self) -> dict[str, int]:
        return {"param_count": self.param_count, "macs": self.macs, "activation_bytes": self.activation_bytes}


@dataclass(frozen=True)
class Propagation:
    """A stack that lines up: every layer's result, the input and output shapes, totals."""

    arch: Arch
    input: Shape
    output: Shape
    layers: tuple[LayerResult, ...]
    totals: Totals


@dataclass(frozen=True)
class FailedLayer:
    """The layer where a stack stops lining up."""

    index: int
    name: str | None
    type: str
    section: str | None
    config: str
    input: Shape
    reason: str
    skip_from: tuple[int, str | None, Shape] | None = None  # the other tensor of a concat/add

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "index": self.index, "name": self.name, "type": self.type, "section": self.section,
            "config": self.config, "input": list(self.input), "reason": self.reason,
        }
        if self.skip_from is not None:
            index, name, shape = self.skip_from
            doc["skip_from"] = {"index": index, "name": name, "shape": list(shape)}
        return doc


class StackMismatch(MismatchError):
    """The stack does not line up: the table so far, the failing layer, and the fixes."""

    def __init__(
        self,
        message: str,
        *,
        layers: tuple[LayerResult, ...],
        failed: FailedLayer,
        fixes: tuple[str, ...] = (),
        file: str | None = None,
        input_shape: Shape | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        hint = ["fix it, one of:", *(f"  - {fix}" for fix in fixes)] if fixes else None
        super().__init__(message, hint=hint)
        self.layers = layers
        self.failed = failed
        self.fixes = fixes
        self.file = file
        self.input_shape = input_shape
        self.line = line
        self.column = column

    def to_dict(self) -> dict[str, object]:
        doc = super().to_dict()
        doc.update(
            file=self.file,
            line=self.line,
            column=self.column,
            layer_index=self.failed.index,
            layer_name=self.failed.name,
            input=list(self.input_shape) if self.input_shape else None,
            failed=self.failed.to_dict(),
            fixes=list(self.fixes),
            layers=[layer.to_dict() for layer in self.layers],
        )
        return doc


def resolve_input(arch: Arch, input_shape: Sequence[int] | None = None, batch: int | None = None) -> Shape:
    """The input the stack runs on: the file's, or the override, with `batch` as N."""
    shape = tuple(input_shape) if input_shape is not None else arch.input
    if shape is None:
        raise ArchError(
            f"{arch.file}: no input shape: the file has no `input:` and no --input-shape was given",
            hint="add `input: [N, C, H, W]` to the file, or pass --input-shape 1,3,64,64",
            file=arch.file, key="input",
        )
    if len(shape) < 2 or any(v < 1 for v in shape):
        raise ConfigError(f"an input shape is N,C[,H,W] with every entry >= 1, but got {list(shape)}")
    if batch is not None:
        shape = (batch, *shape[1:])
    return shape


def propagate(
    arch: Arch,
    input_shape: Sequence[int] | None = None,
    batch: int | None = None,
    *,
    receptive_field: bool = True,
    diagnose: bool = True,
) -> Propagation:
    """Apply every layer to the tensor that reaches it; raise StackMismatch where one cannot.

    The receptive field is exact (SPEC §2.6): each layer maps, per dim and per output
    position, the first and last network-input index it depends on; work is linear in
    layers x positions x kernel taps.

    >>> arch = loads('''
    ... input: [1, 8, 4, 4]
    ... layers:
    ...   - {type: conv_transpose2d, out_channels: 8, kernel_size: 3, stride: 2}
    ...   - {type: conv_transpose2d, out_channels: 8, kernel_size: 3, stride: 2}
    ... ''')
    >>> [r.receptive_field for r in propagate(arch).layers]
    [(2, 2), (2, 2)]
    """
    x = resolve_input(arch, input_shape, batch)
    if arch.mirror is not None:
        arch = expand_mirror(arch, x)
    start = x
    keep = arch.referenced
    shapes: dict[str, tuple[int, Shape]] = {}
    prints: dict[str, Footprint] = {}
    # work is positions x taps: not for absurd sizes, the input's included
    receptive_field = receptive_field and all(n <= MAX_FIELD_POSITIONS for n in x[2:])
    fp = (Footprint.identity(x[2:]) if len(x) > 2 else Footprint.none()) if receptive_field else Footprint.none()
    results: list[LayerResult] = []
    for spec in arch.layers:
        kind = KINDS[spec.type]
        skips = tuple(shapes[n][1] for n in spec.with_)
        try:
            applied = kind.apply(spec.config, x, skips)
        except ConfigError as error:
            raise _mismatch(arch, start, spec, x, error, tuple(results), shapes, diagnose) from None
        if receptive_field and any(n > MAX_FIELD_POSITIONS for n in applied.output[2:]):
            receptive_field = False
        if receptive_field:
            fp = kind.footprint(applied, x, fp, tuple(prints[n] for n in spec.with_))
        results.append(
            LayerResult(
                index=spec.index,
                name=spec.name,
                type=spec.type,
                section=spec.section,
                config=applied.config,
                input=x,
                output=applied.output,
                param_count=applied.param_count,
                macs=applied.macs,
                receptive_field=fp.field() if receptive_field else None,
                notes=applied.notes,
                applied=applied,
                skips=tuple(shapes[n][0] for n in spec.with_),
            )
        )
        x = applied.output
        if spec.name in keep:
            shapes[spec.name] = (spec.index, x)
            if receptive_field:
                prints[spec.name] = fp
    totals = Totals(
        param_count=sum(r.param_count for r in results),
        macs=sum(r.macs for r in results),
        activation_bytes=ACTIVATION_BYTES * sum(prod(r.output) for r in results),
    )
    return Propagation(arch=arch, input=start, output=x, layers=tuple(results), totals=totals)


def footprints(prop: Propagation) -> list[Footprint]:
    """Every layer's output footprint: per dim and position, the (first, last) network-input
    index it depends on (`Footprint.dims`); what `receptive_field` is the widest of.

    >>> arch = loads("input: [1, 1, 4, 4]\\nlayers: [{type: upsample, scale_factor: 2}]")
    >>> footprints(propagate(arch))[0].dims[0]
    [(0, 0), (0, 0), (1, 1), (1, 1), (2, 2), (2, 2), (3, 3), (3, 3)]
    """
    x = prop.input
    fp = Footprint.identity(x[2:]) if len(x) > 2 else Footprint.none()
    result: list[Footprint] = []
    for layer in prop.layers:
        fp = KINDS[layer.type].footprint(layer.applied, layer.input, fp, tuple(result[i] for i in layer.skips))
        result.append(fp)
    return result


def lines_up(arch: Arch, input_shape: Sequence[int]) -> bool:
    """Whether every layer accepts the tensor for this input (shapes only).

    >>> arch = loads("input: [1, 1, 8, 8]\\nlayers: [{type: pixel_unshuffle, downscale_factor: 2}]")
    >>> lines_up(arch, (1, 1, 8, 8)), lines_up(arch, (1, 1, 7, 8))
    (True, False)
    """
    try:
        propagate(arch, input_shape, receptive_field=False, diagnose=False)
    except MismatchError:
        return False
    return True


def _nearest_valid(arch: Arch, input_shape: Shape) -> list[Shape]:
    """The valid inputs nearest to `input_shape`, from the exact set of SPEC §5.4 where it
    exists (square inputs stay square), else from a search nearby."""
    from .valid_sizes import valid_input_sizes  # it builds on propagation: imported late

    sizes = valid_input_sizes(arch, input_shape)
    if sizes.dims is None:
        return nearest_inputs(arch, input_shape)
    lead, spatial = tuple(input_shape[:2]), tuple(input_shape[2:])
    options = [d.nearest(n) for d, n in zip(sizes.dims, spatial)]
    if len(set(spatial)) == 1 and len(set(options)) == 1:
        return [(*lead, *([n] * len(spatial))) for n in options[0] if n is not None]
    shapes: list[Shape] = []
    for pick in (0, 1):  # every dim at its nearest valid size below, then above
        picked = tuple(below if pick == 0 and below is not None else above for below, above in options)
        if picked != spatial and (*lead, *picked) not in shapes:
            shapes.append((*lead, *picked))
    return [s for s in shapes if lines_up(arch, s)] or nearest_inputs(arch, input_shape)


def nearest_inputs(arch: Arch, input_shape: Shape, *, reach: int = 64, budget: float = 0.5) -> list[Shape]:
    """Input shapes near `input_shape` (spatial dims changed) for which the stack lines up:
    the nearest below and above, changing one dim at a time, or all together for a square.

    >>> arch = loads("input: [1, 1, 8, 8]\\nlayers: [{type: pixel_unshuffle, downscale_factor: 4}]")
    >>> nearest_inputs(arch, (1, 1, 10, 10))
    [(1, 1, 8, 8), (1, 1, 12, 12)]
    """
    if len(input_shape) < 3:
        return []
    deadline = time.monotonic() + budget
    lead, spatial = tuple(input_shape[:2]), tuple(input_shape[2:])

    def along(axis: int) -> Any:
        return lambda n: (*lead, *spatial[:axis], n, *spatial[axis + 1 :])

    plans: list[tuple[int, Any]] = []
    if len(set(spatial)) == 1:
        plans.append((spatial[0], lambda n: (*lead, *([n] * len(spatial)))))
    plans += [(spatial[axis], along(axis)) for axis in range(len(spatial))]
    for base, make in plans:
        found: list[Shape] = []
        for sign in (-1, 1):
            for delta in range(1, reach + 1):
                n = base + sign * delta
                if n < 1 or time.monotonic() > deadline:
                    break
                if lines_up(arch, make(n)):
                    found.append(make(n))
                    break
        if found:
            return found
    return []


# -- diagnosis ----------------------------------------------------------------------------------


def _layer_label(result: LayerResult | LayerSpec) -> str:
    name = f" '{result.name}'" if result.name else ""
    return f"layer {result.index}{name}"


def _mismatch(
    arch: Arch,
    start: Shape,
    spec: LayerSpec,
    x: Shape,
    error: ConfigError,
    results: tuple[LayerResult, ...],
    shapes: Mapping[str, tuple[int, Shape]],
    diagnose: bool,
) -> StackMismatch:
    fixes: list[str] = []
    skip_from = None
    where = f"{arch.file}:{spec.line}:{spec.column}: " if spec.line else ""
    if isinstance(error, SkipMismatch):
        target = spec.with_[error.skip]
        other_index, other = shapes[target]
        skip_from = (other_index, target, other)
        producer = results[-1] if results else None
        from_text = f" from {_layer_label(producer)}" if producer else " (the network input)"
        message = (
            f"{where}{spec.label} does not line up: the skip tensor from layer {other_index} '{target}' is "
            f"{fmt_spatial(other)} but the current tensor{from_text} is {fmt_spatial(x)} (shapes {fmt_shape(other)} and "
            f"{fmt_shape(x)}; PyTorch: {error.message})"
        )
        if diagnose:
            fixes += _skip_fixes(spec, x, other, results)
    else:
        message = f"{where}{spec.label} does not line up with its input {fmt_shape(x)}: {error.message}"
        if error.hint_lines:
            fixes.extend(error.hint_lines)
    if diagnose:
        near = _nearest_valid(arch, start)
        if near:
            fixes.append(
                "use an input that lines up: " + " or ".join(fmt_shape(s) for s in near)
                + f" instead of {fmt_shape(start)}"
            )
    reason = error.message
    if skip_from is not None:
        reason = f"skip '{skip_from[1]}' {fmt_shape(skip_from[2])} vs this tensor {fmt_shape(x)}"
    failed = FailedLayer(
        index=spec.index, name=spec.name, type=spec.type, section=spec.section, config=spec.summary(),
        input=x, reason=reason, skip_from=skip_from,
    )
    return StackMismatch(
        message, layers=results, failed=failed, fixes=tuple(fixes), file=arch.file, input_shape=start,
        line=spec.line, column=spec.column,
    )


def _skip_fixes(spec: LayerSpec, x: Shape, other: Shape, results: tuple[LayerResult, ...]) -> list[str]:
    fixes: list[str] = []
    if len(other) != len(x) or other[2:] == x[2:]:
        if len(other) == len(x) and spec.type == "add" and other[1] != x[1]:
            fixes.append(
                f"add needs equal channels ({x[1]} vs {other[1]}): project one side with a "
                f"{{type: conv2d, kernel_size: 1, out_channels: {x[1]}}}"
            )
        return fixes
    want = other[2:]
    # the transposed convolution that made the current tensor (through shape-preserving layers)
    for result in reversed(results):
        if result.type == "conv_transpose2d" and result.applied.conv is not None:
            p = result.applied.conv
            mins, _ = output_size_range(p, result.input[2:])
            ops = [w - m for w, m in zip(want, mins)]
            if all(0 <= op < max(s, d) for op, s, d in zip(ops, p.stride, p.dilation)):
                shown = ops[0] if len(set(ops)) == 1 else ops
                fixes.append(
                    f"set output_padding: {shown} on {_layer_label(result)} ({result.config}) so that it makes "
                    f"{'x'.join(map(str, want))}"
                )
            break
        if not KINDS[result.type].elementwise:
            break
    if spec.config.get("crop") != "center" and all(o >= c for o, c in zip(other[2:], x[2:])):
        fixes.append(
            f"add `crop: center` to {_layer_label(spec)} to center-crop the skip tensor to {fmt_spatial(x)} "
            "(as the original U-Net does)"
        )
    return fixes


# == numeric verification =====================================================================


class MemoryLimitError(ConvtoolError):
    """A numeric run would need more memory than allowed."""

    kind = "memory"


@dataclass(frozen=True)
class Verification:
    """The stack run through the numeric engine: per layer, the table's shape and the real one."""

    seed: int
    estimated_bytes: int
    shapes: tuple[tuple[int, Shape, Shape], ...]  # (index, table shape, numeric shape)

    @property
    def ok(self) -> bool:
        return all(table == real for _, table, real in self.shapes)

    @property
    def mismatches(self) -> tuple[int, ...]:
        return tuple(i for i, table, real in self.shapes if table != real)


def _amount(n: int) -> str:
    """`2,048 MiB`, or bytes below one MiB (integer arithmetic: limits may be any size)."""
    return f"{(n + 2**19) // 2**20:,} MiB" if n >= 2**20 else f"{n:,} bytes"


VERIFY_SLACK = 24 << 20  # what numpy and the interpreter allocate beside the arrays (measured: under 10 MiB)


def verify_bytes(prop: Propagation, baseline: int = 0) -> int:
    """Memory a numeric run needs at its peak, estimated before allocating anything.

    `baseline` is what the process already holds. Added to it: every weight (all drawn up
    front), and the largest moment of the walk: the outputs kept for later skips, the layer's
    input and output, and the layer's own workspace (`LayerKind.workspace`), all in float32.
    The random input is drawn in float32 itself, and so are the weights (no float64 copy).
    """
    kept = peak = 0
    needed = {i for r in prop.layers for i in r.skips}
    for r in prop.layers:
        work = KINDS[r.type].workspace(r.applied, r.input, r.output)
        peak = max(peak, kept + prod(r.input) + prod(r.output) + work)
        if r.index in needed:
            kept += prod(r.output)
    return baseline + VERIFY_SLACK + ACTIVATION_BYTES * (prop.totals.param_count + peak)


def resident_bytes() -> int:
    """The most memory this process has held so far (its peak resident set)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux


class NumericStack:
    """The propagated stack as numpy computations with seeded weights (PyTorch's init)."""

    def __init__(self, prop: Propagation, *, seed: int = 0, dtype: str = "float32") -> None:
        import numpy as np

        self.prop = prop
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.weights = [
            KINDS[r.type].init(r.applied, r.input, self.rng, self.dtype) for r in prop.layers
        ]

    def random_input(self) -> Any:
        return self.rng.standard_normal(self.prop.input, dtype=self.dtype)

    def run(self, x: Any, *, keep_all: bool = False) -> list[Any]:
        """Every layer's output (keep_all), or only their shapes, freeing what no skip needs."""
        keep: dict[int, Any] = {}
        needed = {i for r in self.prop.layers for i in r.skips}
        out: list[Any] = []
        for result, weights in zip(self.prop.layers, self.weights):
            kind = KINDS[result.type]
            x = kind.forward(result.applied, weights, x, [keep[i] for i in result.skips])
            if result.index in needed:
                keep[result.index] = x
            out.append(x if keep_all else tuple(x.shape))
        return out


def verify(prop: Propagation, *, seed: int = 0, max_memory: int = 2 * 2**30) -> Verification:
    """Run the stack through the numeric engine and compare every layer's shape.

    Refuses (MemoryLimitError) before allocating anything when the estimate of
    `verify_bytes` exceeds `max_memory`.
    """
    try:
        import numpy  # noqa: F401  (its own memory is part of the baseline)
        if any(r.applied.conv is not None for r in prop.layers):
            import convtool.numeric  # noqa: F401
    except ImportError as error:
        raise ConvtoolError(f"--verify needs numpy and the numeric engine, which could not be loaded: {error}") from None
    need = verify_bytes(prop, resident_bytes())
    if need > max_memory:
        raise MemoryLimitError(
            f"--verify would need about {_amount(need)}, more than the limit of {_amount(max_memory)}; "
            "nothing was run",
            hint="raise --max-memory, or verify a smaller --batch or --input-shape",
        )
    try:
        stack = NumericStack(prop, seed=seed)
        shapes = stack.run(stack.random_input())
    except MemoryError:
        raise MemoryLimitError(
            f"--verify ran out of memory (estimated {_amount(need)}): the system could not allocate it",
            hint="lower --max-memory to the memory this machine has free, or verify a smaller --batch",
        ) from None
    return Verification(
        seed=seed,
        estimated_bytes=need,
        shapes=tuple((r.index, r.output, s) for r, s in zip(prop.layers, shapes)),
    )
