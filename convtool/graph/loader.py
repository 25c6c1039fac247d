"""Loading an architecture file: every error an ArchError with file, line, column, layer and key."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import ArchError
from ..layers import KINDS, closest_type, resolve_type
from ..layers.keys import OptionError, describe
from ..params import Shape
from .expr import ExprError, substitute
from .model import INPUT, PREVIOUS, SECTIONS, TOP_KEYS, Arch, BlockUse, LayerSpec, Mirror, NetworkInput
from .yaml import Mark, MarkedDict, MarkedList, read_yaml

MAX_LAYERS = 20_000  # leaf layers after blocks and repeats are written out
MAX_NESTING = 64  # blocks within blocks; deeper is a mistake in the file (and each level is a call)
BLOCK_KEYS = ("inputs", "params", "layers", "outputs")
USE_KEYS = ("type", "name", "from", "inputs", "repeat")  # the keys of a block use besides its parameters


@dataclass(frozen=True)
class _Block:
    """A block as defined under `blocks:` (its layers are expanded at each use)."""

    name: str
    inputs: tuple[str, ...]
    params: MarkedDict
    layers: MarkedList
    outputs: tuple[str, ...]
    mark: Mark
    outputs_mark: Mark | None


@dataclass
class _Scope:
    """The names one list of layers sees: the file's own layers, or one copy of a block use."""

    prefix: str  # "" for the file; "a.0." inside copy 0 of use `a`
    names: dict[str, str]  # a name as written -> its tensor key (an input's name, or a layer's path)
    inputs: tuple[str, ...]  # the names that are inputs (of the network, or of the block)
    previous: str  # the tensor key `.` means now
    env: Mapping[str, Any] = field(default_factory=dict)  # the block's parameters
    block: str | None = None  # the path of the use
    chain: tuple[str, ...] = ()  # the blocks being expanded, outermost first
    written: dict[str, tuple[int, Mark]] = field(default_factory=dict)  # each written name: (layer index, mark)


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
        inputs = self.network_inputs(doc)
        if inputs:
            input_shape = inputs[0].shape
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
        self.blocks = self.block_definitions(doc)
        self.specs: list[LayerSpec] = []
        self.paths: set[str] = set()
        self.uses: list[BlockUse] = []
        mirror = None
        items: list[tuple[str | None, Any, Mark]] = []
        for section, section_items, mark in sections:
            if isinstance(section_items, MarkedDict) and section == "decoder" and "mirror" in section_items:
                mirror = self.mirror_clause(section_items)
                continue
            if not isinstance(section_items, MarkedList):
                raise self.error(
                    f"`{section or 'layers'}:` expects a list of layers, but got {describe(section_items)}",
                    mark, key=section or "layers",
                    hint="decoder: {mirror: encoder} is the one mapping form" if section == "decoder" else None,
                )
            if not section_items:
                raise self.error(f"`{section or 'layers'}:` is empty", mark, key=section or "layers")
            items += [(section, item, item_mark) for item, item_mark in zip(section_items, section_items.marks)]
        names = tuple(i.name for i in inputs) or (INPUT,)
        self.first_input = names[0]
        top = _Scope(prefix="", names={n: n for n in names}, inputs=names, previous=names[0])
        self.expand(items, top)
        return Arch(
            name=name,
            input=input_shape,
            layers=tuple(self.specs),
            file=self.file,
            sections=tuple(s for s, _, _ in sections if s is not None),
            mirrored_from=mirror,
            outputs=self.outputs(doc, top),
            uses=tuple(self.uses),
            inputs=inputs,
            restores=self.restores(doc, names[0]),
        )

    def restores(self, doc: MarkedDict, first: str) -> bool | None:
        """`restores: input` (the output is meant to give the input's spatial size back) or
        `restores: false` (it is not); not written: None, as the output's rank and channels say."""
        if "restores" not in doc:
            return None
        value, mark = doc["restores"], doc.value_marks["restores"]
        if value is False:
            return False
        if value != first:
            raise self.error(f"key 'restores' expects the name of the network input, '{first}', or false, but got "
                             f"{describe(value)}", mark, key="restores",
                             hint=f"restores: {first}  (the output gives the input's size back); restores: false  "
                                  "(it is not meant to)")
        return True

    def network_inputs(self, doc: MarkedDict) -> tuple[NetworkInput, ...]:
        """`inputs: {z: [16, 120], y: {shape: [16], integers: 1000}}`: several named inputs."""
        if "inputs" not in doc:
            return ()
        value, mark = doc["inputs"], doc.value_marks["inputs"]
        example = "e.g. inputs: {z: [16, 120], y: {shape: [16], integers: 1000}}"
        if "input" in doc:
            raise self.error("give `input:` (one input) or `inputs:` (several), not both", doc.key_marks["inputs"],
                             key="inputs")
        if not isinstance(value, MarkedDict) or not value:
            raise self.error(f"key 'inputs' expects a mapping of input names to shapes, but got {describe(value)}",
                             mark, key="inputs", hint=example)
        found = []
        for name, spec in value.items():
            at = value.value_marks[name]
            if not isinstance(name, str) or not name or "." in name or name in (INPUT, PREVIOUS):
                raise self.error(f"an input's name is a word without '.' (and not 'input'), but got {describe(name)}",
                                 value.key_marks[name], key="inputs")
            integers = None
            if isinstance(spec, MarkedDict):
                extra = [k for k in spec if k not in ("shape", "integers")]
                if extra or "shape" not in spec:
                    raise self.error(f"input '{name}' takes `shape:` and, for class indices, `integers:`",
                                     at, key="inputs", hint=example)
                integers = spec.get("integers")
                if integers is not None and (not isinstance(integers, int) or isinstance(integers, bool) or integers < 1):
                    raise self.error(f"`integers:` of input '{name}' expects a number of classes >= 1, but got "
                                     f"{describe(integers)}", spec.value_marks["integers"], key="inputs")
                shape, at = spec["shape"], spec.value_marks["shape"]
            else:
                shape = spec
            if (not isinstance(shape, list) or not 1 <= len(shape) <= 5
                    or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape)):
                raise self.error(f"input '{name}' expects a shape (1 to 5 ints >= 1, batch first), but got "
                                 f"{describe(shape)}", at, key="inputs", hint=example)
            found.append(NetworkInput(name, tuple(shape), integers))
        if len(found[0].shape) < 2:
            raise self.error(f"the first input, '{found[0].name}', is what the network's sizes are measured on: it "
                             "needs a batch and a channel or feature dim", mark, key="inputs")
        return tuple(found)

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

    def outputs(self, doc: MarkedDict, scope: _Scope) -> tuple[str, ...]:
        """`outputs: [NAME, ...]`: the tensors the network gives (default: the last layer), as keys."""
        if "outputs" not in doc:
            # a last block use whose output is not its last layer gives that output, as a next layer would read
            return (scope.previous,) if self.specs and scope.previous != self.specs[-1].path else ()
        value, mark = doc["outputs"], doc.value_marks["outputs"]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise self.error(f"key 'outputs' expects a list of layer names, but got {describe(value)}", mark,
                             key="outputs")
        return tuple(self.key(target, scope, mark, None, "outputs") for target in value)

    def key(self, target: str, scope: _Scope, mark: Mark, where: Any, key: str) -> str:
        """The tensor key of a name as written in `scope` (`.`: the tensor before)."""
        if target == PREVIOUS:
            return scope.previous
        if target not in scope.names:
            raise self.unknown(target, scope, mark, where, key)
        return scope.names[target]

    def unknown(self, target: str, scope: _Scope, mark: Mark, where: Any, key: str) -> ArchError:
        """A name that no earlier layer of the scope has (nor an input)."""
        named = [n for n in scope.names if n not in scope.inputs]
        near = difflib.get_close_matches(target, [*scope.inputs, *named], n=1)
        what = "skip target" if key == "with" else "tensor"
        where_named = "no earlier layer" + (" of this block" if scope.block is not None else "")
        hint = [(f"did you mean '{near[0]}'? " if near else "")
                + ("named so far: " + ", ".join(named) if named else "no layer before this one has a name")]
        if "." in target and target.split(".")[0] in scope.names:
            hint.append(f"'{target.split('.')[0]}' is not a block use with an output '{target.split('.', 1)[1]}'")
        if scope.block is not None:
            hint.append("a block sees only its inputs (" + ", ".join(scope.inputs) + ") and its own layers")
        return self.error(
            f"unknown {what} '{target}': {where_named} has that name", mark, layer=where, key=key, hint=hint,
        )

    def mirror_clause(self, items: MarkedDict) -> Mirror:
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

    # -- blocks ----------------------------------------------------------------------------

    def block_definitions(self, doc: MarkedDict) -> dict[str, _Block]:
        """`blocks:` checked as written; their layers are checked at each use, parameters bound."""
        if "blocks" not in doc:
            return {}
        value, mark = doc["blocks"], doc.value_marks["blocks"]
        if not isinstance(value, MarkedDict):
            raise self.error(f"`blocks:` expects a mapping of block names to blocks, but got {describe(value)}", mark,
                             key="blocks", hint="e.g. blocks: {res: {params: {channels: null}, layers: [...]}}")
        blocks = {}
        for name, body in value.items():
            at = value.key_marks[name]
            if not isinstance(name, str) or not name or "." in name or name in (INPUT, PREVIOUS):
                raise self.error(f"a block's name is a word without '.', but got {describe(name)}", at, key="blocks")
            if resolve_type(name) is not None:
                raise self.error(f"block name '{name}' is a layer type's name; give the block another name", at,
                                 key="blocks")
            if not isinstance(body, MarkedDict):
                raise self.error(f"block '{name}' expects a mapping with `layers:`, but got {describe(body)}",
                                 value.value_marks[name], key="blocks")
            for key in body:
                if key not in BLOCK_KEYS:
                    close = difflib.get_close_matches(str(key), BLOCK_KEYS, n=1)
                    raise self.error(f"unknown key '{key}' in block '{name}'", body.key_marks[key], key=str(key),
                                     hint=(f"did you mean '{close[0]}'? " if close else "")
                                     + "a block takes: " + ", ".join(BLOCK_KEYS))
            inputs = self.word_list(body, "inputs", name) or (INPUT,)
            outputs = self.word_list(body, "outputs", name)
            params = body.get("params", MarkedDict())
            if not isinstance(params, MarkedDict) or not all(isinstance(p, str) and p.isascii() and p.isidentifier() for p in params):
                raise self.error(f"`params:` of block '{name}' expects a mapping of parameter names to defaults "
                                 f"(null: required), but got {describe(params)}", body.value_marks.get("params", at),
                                 key="params", hint="e.g. params: {channels: null, kernel_size: 3}")
            clash = next((p for p in params if p in USE_KEYS), None)
            if clash is not None:  # a use's `type:`, `name:`, ... would also set it
                raise self.error(f"parameter '{clash}' of block '{name}' has the name of a key every block use takes; "
                                 "give it another name", params.key_marks[clash], key="params",
                                 hint="a block use takes: " + ", ".join(USE_KEYS))
            layers = body.get("layers")
            if not isinstance(layers, MarkedList) or not layers:
                raise self.error(f"block '{name}' needs a non-empty `layers:` list", body.value_marks.get("layers", at),
                                 key="layers")
            blocks[name] = _Block(name, inputs, params, layers, outputs, at, body.value_marks.get("outputs"))
        return blocks

    def word_list(self, body: MarkedDict, key: str, block: str) -> tuple[str, ...]:
        """A block's `inputs:` or `outputs:`: distinct names without '.'."""
        if key not in body:
            return ()
        value = body[key]
        value = [value] if isinstance(value, str) else value
        if (not isinstance(value, list) or not value  # names checked before set() sees them: a mapping is unhashable
                or not all(isinstance(v, str) and v and "." not in v and v != PREVIOUS for v in value)
                or len(set(value)) != len(value)):
            raise self.error(f"`{key}:` of block '{block}' expects a list of distinct names, but got "
                             f"{describe(body[key])}", body.value_marks[key], key=key)
        return tuple(value)

    # -- expansion: every layer written out, with its path and the keys of what it reads -----

    def expand(self, items: Sequence[tuple[str | None, Any, Mark]], scope: _Scope) -> None:
        """Append the leaves of `items` (layers or block uses, in one scope) to self.specs."""
        written = []
        for section, item, mark in items:
            if not isinstance(item, MarkedDict):
                raise self.error(f"a layer must be a mapping like {{type: relu}}, but got {describe(item)}",
                                 mark, layer=(len(self.specs), None, None))
            try:
                item = substitute(item, scope.env)
            except ExprError as error:
                where = f" (in block '{scope.chain[-1]}')" if scope.chain else ""
                raise self.error(error.message + where, error.mark or mark, layer=(len(self.specs), None, None),
                                 hint=None if scope.chain else "parameters ($name) exist inside blocks only") from None
            written.append((section, item, mark, self.type_of(item, mark, scope)))
        # the path segment of each item: its name, or its type numbered when unnamed more than once
        unnamed: dict[str, int] = {}
        for _, item, _, type_name in written:
            if item.get("name") is None:
                unnamed[type_name] = unnamed.get(type_name, 0) + 1
        seen: dict[str, int] = {}
        segments = []
        for _, item, _, type_name in written:
            if item.get("name") is not None:
                segments.append(None)
                continue
            number = seen.get(type_name, 0)
            seen[type_name] = number + 1
            segments.append(type_name if unnamed[type_name] == 1 else f"{type_name}_{number}")
        generated = {s for s in segments if s is not None}
        for (section, item, mark, type_name), segment in zip(written, segments):
            name = item.get("name")
            if name is not None and name in generated:
                raise self.error(f"name '{name}' is also the path of an unnamed layer of this "
                                 f"{'block' if scope.block else 'file'}; give it another name",
                                 item.value_marks["name"], layer=(len(self.specs), name, type_name), key="name")
            if type_name in self.blocks:
                self.use(item, mark, scope, section, segment or name, self.blocks[type_name])
            else:
                self.leaves(item, mark, scope, section, segment or name)

    def type_of(self, item: MarkedDict, mark: Mark, scope: _Scope) -> str:
        """The kind (snake_case) or block an item names; its name checked."""
        index = len(self.specs)
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
        resolved = (None, {}) if type_name in self.blocks else resolve_type(type_name)
        if resolved is None:
            close = closest_type(type_name)
            if close is None:
                close = next(iter(difflib.get_close_matches(type_name, list(self.blocks), n=1)), None)
            blocks = "; blocks: " + ", ".join(self.blocks) if self.blocks else ""
            raise self.error(
                f"unknown layer type '{type_name}'", item.value_marks["type"], layer=(index, name, None), key="type",
                hint=(f"did you mean '{close}'? " if close else "") + "types: " + ", ".join(KINDS) + blocks,
            )
        kind = type_name if resolved[0] is None else resolved[0].name
        where = (index, name, kind)
        if name is not None and name in scope.written:
            first_index, first_mark = scope.written[name]
            raise self.error(
                f"duplicate layer name '{name}' (layer {first_index} at line {first_mark[0]} has it)",
                item.value_marks["name"], layer=where, key="name", hint="names are unique: skip connections refer to them",
            )
        if name is not None and (name in scope.inputs or name == PREVIOUS):
            whose = "the network's" if scope.block is None else "a block"
            raise self.error(f"'{name}' names {whose} input; give the layer another name",
                             item.value_marks["name"], layer=where, key="name")
        if name is not None and "." in name and self.blocks:  # files without blocks keep their names
            raise self.error(f"in a file with blocks, a name cannot contain '.', but got '{name}'",
                             item.value_marks["name"], layer=where, key="name",
                             hint="'.' separates the parts of a path (a.0.conv1d) and a use's outputs (down1.skip)")
        if name is not None:
            scope.written[name] = (index, item.value_marks["name"])
        return kind

    def repeat(self, item: MarkedDict, where: Any) -> int | None:
        if "repeat" not in item:
            return None
        value = item["repeat"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise self.error(f"key 'repeat' expects a count >= 1, but got {describe(value)}", item.value_marks["repeat"],
                             layer=where, key="repeat")
        return value

    def add(self, spec: LayerSpec, first: str, mark: Mark) -> None:
        """Append a leaf; its source is None when it reads the leaf before it."""
        before = self.specs[-1].path if self.specs else self.first_input
        if spec.path in self.paths:  # a name with '.' (kept in files without blocks) equal to a repeat's copy
            raise self.error(f"two layers have the path '{spec.path}'", mark, layer=(len(self.specs), spec.name, spec.type),
                             hint="'.' separates the parts of a path: r.1 is copy 1 of a repeated layer r; "
                             "rename the layer")
        self.paths.add(spec.path)
        self.specs.append(replace(spec, source=None if first == before else first))
        if len(self.specs) > MAX_LAYERS:
            raise self.error(f"the network has more than {MAX_LAYERS:,} layers once its blocks and repeats are "
                             "written out", mark, hint="a smaller `repeat:` or fewer nested blocks")

    def leaves(self, item: MarkedDict, mark: Mark, scope: _Scope, section: str | None, segment: str) -> None:
        """One layer as written (`repeat: N`: N copies in a chain)."""
        name = item.get("name")
        where = (len(self.specs), name, None)
        count = self.repeat(item, where)
        plain = _without(item, "repeat")
        first_key = None
        for copy in range(count or 1):
            spec = self.layer(plain, mark, len(self.specs), section, scope)
            first = self.key(spec.source, scope, mark, None, "from") if spec.source else scope.previous
            if copy:
                first = first_key
            with_ = tuple(self.key(n, scope, mark, None, "inputs") for n in spec.with_)
            path = scope.prefix + segment + (f".{copy}" if count else "")
            self.add(replace(spec, path=path, with_=with_, block=scope.block), first, mark)
            first_key = path
        scope.previous = first_key
        if name is not None:
            scope.names[name] = first_key

    def use(self, item: MarkedDict, mark: Mark, scope: _Scope, section: str | None, segment: str, block: _Block) -> None:
        """A use of a block: its layers written out once per copy, its parameters bound."""
        name = item.get("name")
        where = (len(self.specs), name, block.name)
        if block.name in scope.chain:
            cycle = " -> ".join((*scope.chain[scope.chain.index(block.name):], block.name))
            raise self.error(f"block '{block.name}' uses itself ({cycle})", item.value_marks["type"], layer=where,
                             key="type", hint="a block cannot contain itself, directly or through another block")
        if len(scope.chain) >= MAX_NESTING:
            raise self.error(f"blocks nest more than {MAX_NESTING} deep here ({scope.chain[0]} -> ... -> {block.name})",
                             item.value_marks["type"], layer=where, key="type")
        count = self.repeat(item, where)
        reads = self.use_reads(item, mark, scope, block, where)
        env = self.bind(item, mark, block, where)
        path = scope.prefix + segment
        first_index = len(self.specs)
        at = len(self.uses)
        outputs: tuple[str, ...] = ()
        copies_read, copies_give = [], []
        for copy in range(count or 1):
            copy_path = path + (f".{copy}" if count else "")
            if copy:
                reads = (outputs[0], *reads[1:])
            copies_read.append(reads)
            inner = _Scope(
                prefix=copy_path + ".", names=dict(zip(block.inputs, reads)), inputs=block.inputs, previous=reads[0],
                env=env, block=path, chain=(*scope.chain, block.name),
            )
            self.expand([(section, layer, layer_mark) for layer, layer_mark in zip(block.layers, block.layers.marks)],
                        inner)
            outputs = tuple(self.key(o, inner, block.outputs_mark or block.mark, None, "outputs")
                            for o in block.outputs) or (inner.previous,)
            copies_give.append(outputs)
        self.uses.insert(at, BlockUse(
            path=path, block=block.name, repeat=count, first=first_index, stop=len(self.specs),
            depth=len(scope.chain) + 1, parent=scope.block, output=outputs[0], line=mark[0], column=mark[1],
            input_names=block.inputs, output_names=block.outputs, reads=tuple(copies_read), gives=tuple(copies_give),
        ))
        scope.previous = outputs[0]
        if name is not None:
            scope.names[name] = outputs[0]
            for output_name, key in zip(block.outputs, outputs):
                scope.names[f"{name}.{output_name}"] = key

    def use_reads(self, item: MarkedDict, mark: Mark, scope: _Scope, block: _Block, where: Any) -> tuple[str, ...]:
        """The tensor keys a block use feeds its inputs, in the block's order."""
        if len(block.inputs) == 1:
            if "inputs" in item:
                raise self.error(f"block '{block.name}' has one input: use `from:`, not `inputs:`",
                                 item.key_marks["inputs"], layer=where, key="inputs")
            if "from" not in item:
                return (scope.previous,)
            target = item["from"]
            if not isinstance(target, str) or not target:
                raise self.error(f"key 'from' expects a layer name, but got {describe(target)}", item.value_marks["from"],
                                 layer=where, key="from")
            return (self.key(target, scope, item.value_marks["from"], where, "from"),)
        if "from" in item:
            raise self.error(f"block '{block.name}' has {len(block.inputs)} inputs ({', '.join(block.inputs)}): give "
                             "them as `inputs:`", item.key_marks["from"], layer=where, key="from")
        value = item.get("inputs")
        if not isinstance(value, list) or len(value) != len(block.inputs) or not all(isinstance(v, str) and v for v in value):
            raise self.error(f"block '{block.name}' takes `inputs:` with {len(block.inputs)} tensor names "
                             f"({', '.join(block.inputs)}), but got {describe(value)}",
                             item.value_marks.get("inputs", mark), layer=where, key="inputs")
        return tuple(self.key(v, scope, item.value_marks["inputs"], where, "inputs") for v in value)

    def bind(self, item: MarkedDict, mark: Mark, block: _Block, where: Any) -> dict[str, Any]:
        """The block's parameters for this use: the values written, else the defaults."""
        for key in item:
            if key not in USE_KEYS and key not in block.params:
                close = difflib.get_close_matches(str(key), list(block.params), n=1)
                raise self.error(
                    f"block '{block.name}' has no parameter '{key}'", item.key_marks[key], layer=where, key=str(key),
                    hint=(f"did you mean '{close[0]}'? " if close else "")
                    + ("its parameters: " + ", ".join(block.params) if block.params else "it takes no parameters"),
                )
        env: dict[str, Any] = {}
        for param, default in block.params.items():
            if param in item:
                env[param] = item[param]
            elif default is None:
                raise self.error(f"block '{block.name}' needs parameter '{param}'", mark, layer=where, key=param,
                                 hint="required: " + ", ".join(p for p, d in block.params.items() if d is None))
            else:
                try:
                    env[param] = substitute(default, env)
                except ExprError as error:
                    raise self.error(f"the default of parameter '{param}' of block '{block.name}': {error.message}",
                                     block.params.value_marks[param], key=param) from None
        return env

    # -- one layer ---------------------------------------------------------------------------

    def layer(self, item: MarkedDict, mark: Mark, index: int, section: str | None, scope: _Scope) -> LayerSpec:
        """One leaf layer as written in `scope`, checked; `source`/`with_` are the names it reads
        as written (`.` for the tensor before), for the caller to turn into keys."""
        name = item.get("name")
        kind, defaults = resolve_type(item["type"]) or (None, {})
        assert kind is not None  # type_of() checked it
        where = (index, name, kind.name)
        options = {k: v for k, v in item.items() if k not in ("type", "name", "from", "inputs")}
        source = self.source(item, kind, scope, where)
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
            if target != PREVIOUS and target not in scope.names:
                raise self.unknown(target, scope, item.value_marks.get(key, mark), where, key)
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

    def source(self, item: MarkedDict, kind: Any, scope: _Scope, where: Any) -> str | None:
        """The name of the tensor a layer reads first: `from: NAME`, or a merge's first `inputs:`
        (None: the tensor before)."""
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
        if target not in scope.names:
            raise self.unknown(target, scope, mark, where, "inputs" if "inputs" in item else "from")
        return target


def _without(item: MarkedDict, key: str) -> MarkedDict:
    """A copy of a mapping from the file without one key (marks kept)."""
    out = MarkedDict((k, v) for k, v in item.items() if k != key)
    out.mark, out.key_marks, out.value_marks = item.mark, item.key_marks, item.value_marks
    return out
