"""Why a network does not line up and how to fix it: the exact fixes for a merge, and the
nearest input sizes that line up (from the valid sizes where they are known)."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import replace
from typing import Any

from ..errors import ConfigError
from ..layers import KINDS
from ..layers.fix import (
    Edit,
    Fix,
    changes_values,
    edges,
    in_block,
    insert_before,
    pairs,
    set_keys,
)
from ..params import Shape
from ..text import fmt_shape, fmt_size, yaml_value
from .bind import lines_up
from .model import PREVIOUS, Arch, LayerSpec
from .propagate import LayerResult, StackMismatch, layer_label, network_inputs, walk
from .valid_sizes import valid_input_sizes


def _nearest_valid(arch: Arch, input_shape: Shape) -> list[Shape]:
    """The valid inputs nearest to `input_shape`, from the exact set of valid input sizes where it
    exists (square inputs stay square), else from a search nearby."""
    sizes = valid_input_sizes(arch, input_shape)
    if sizes.dims is None:
        return nearest_inputs(arch, input_shape)
    lead, spatial = tuple(input_shape[:2]), tuple(input_shape[2:])
    options = [d.nearest(n) for d, n in zip(sizes.dims, spatial)]
    shapes: list[Shape] = []
    if len(set(spatial)) == 1 and len(set(options)) == 1:
        shapes = [(*lead, *([n] * len(spatial))) for n in options[0] if n is not None]
        # each walked: a fix is offered only once it is seen to line up
        return [s for s in shapes if s != tuple(input_shape) and lines_up(arch, s)] or nearest_inputs(arch, input_shape)
    for pick in (0, 1):  # every dim at its nearest valid size below, then above
        picked = tuple(below if pick == 0 and below is not None else above for below, above in options)
        if picked != spatial and (*lead, *picked) not in shapes:
            shapes.append((*lead, *picked))
    return [s for s in shapes if lines_up(arch, s)] or nearest_inputs(arch, input_shape)


def nearest_inputs(arch: Arch, input_shape: Shape, *, reach: int = 64, budget: float = 0.5) -> list[Shape]:
    """Input shapes near `input_shape` (spatial dims changed) for which the stack lines up:
    the nearest below and above, changing one dim at a time, or all together for a square.

    >>> from convtool.graph import loads
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


def explain(error: StackMismatch, arch: Arch) -> StackMismatch:
    """The mismatch with every fix that keeps the rest of the network as written: for a merge,
    the output_padding, pad, crop or projection that makes the tensors agree; for any layer, the
    nearest inputs that line up. Each fix comes with the edits of the file that make it."""
    fixes: list[Fix] = []
    if error.other is not None and error.spec is not None and arch.mirrored_from is None:
        fixes += _Merge(arch, error).fixes()
    if error.input_shape is not None:
        near = _nearest_valid(arch, error.input_shape)
        if near:
            # a file with several inputs sizes the first: the edit names it
            named = {"name": arch.inputs[0].name} if arch.inputs else {}
            fixes.append(Fix(
                "use an input that lines up: " + " or ".join(fmt_shape(s) for s in near)
                + f" instead of {fmt_shape(error.input_shape)}",
                tuple(({"input": list(s), **named},) for s in near),
            ))
    return error.with_fixes(fixes)


class _Merge:
    """A merge that does not line up, as the file writes it: what it reads (tensor keys, and the
    names its scope writes them by), and the fixes."""

    def __init__(self, arch: Arch, error: StackMismatch) -> None:
        assert error.spec is not None and error.other is not None
        self.arch, self.spec, self.results = arch, error.spec, error.layers
        spec = self.spec
        first = spec.source if spec.source is not None else (
            arch.layers[spec.index - 1].path if spec.index else arch.input_names[0])
        self.keys = (first, *spec.with_)
        self.start = error.input_shape
        inputs = network_inputs(arch, self.start) if self.start is not None else []
        self.shapes: dict[str, Shape | None] = {**dict(inputs), **{r.path: r.output for r in self.results}}
        self.names, self.dot = _scope(arch, spec)
        written_first = "from" in spec.marks or "inputs" in spec.marks
        w0 = self.names.get(first, PREVIOUS if first == self.dot else None) if written_first else PREVIOUS
        self.written: tuple[str | None, ...] = (w0, *spec.config["with"])
        skip = error.failed.skip_from
        self.j = 1 + spec.with_.index(skip[1]) if skip is not None and skip[1] in spec.with_ else None
        self.block = _block_of(arch, spec)
        self.label = layer_label(spec)

    def fixes(self) -> list[Fix]:
        """Every fix of the merge that, made, lines it up: resize either input's producer, pad the
        smaller, crop the larger, project the channels."""
        spec, j = self.spec, self.j
        kind = KINDS[spec.type]
        x = self.shapes[self.keys[0]]
        if j is None or x is None:
            return []
        other = self.shapes[self.keys[j]]
        assert other is not None
        if len(other) != len(x) or other[0] != x[0]:
            return []
        skips = [s for s in (self.shapes[k] for k in self.keys[1:]) if s is not None]
        editable = self.expanded_once(spec)
        # a concat along a spatial dim (`dim`) takes any size there: compare the other dims only
        dim = spec.config.get("dim", 1) % len(x)

        def sizes(shape: Shape, rest: Shape) -> tuple[int, ...]:
            return tuple(r if axis == dim else n for axis, (n, r) in enumerate(zip(shape, rest)) if axis >= 2)

        if sizes(other, x) == x[2:]:
            return self.projection(x, other) if editable else []
        fixes = [f for position, want, like in ((0, sizes(other, x), j), (j, sizes(x, other), 0))
                 for f in self.resize(position, want, like)]
        if not editable:
            return [checked for fix in fixes if (checked := self.checked(fix)) is not None]
        small, big = (0, j) if all(c <= o for c, o in zip(x[2:], other[2:])) else (j, 0)
        whole = dim < 2  # pad ... to: and crop ... to: take every dim to the other's size
        if whole and all(a <= b for a, b in zip(self.shapes[self.keys[small]][2:], self.shapes[self.keys[big]][2:])):  # type: ignore[index]
            fixes += self.pad(small, big)
        fixes += kind.merge_fixes(spec.config, x, skips, spec.path, self.label, self.block)
        if whole and big == 0 and all(a >= b for a, b in zip(x[2:], other[2:])):  # the first is the larger: crop it
            fixes += self.crop(big, small)
        return [checked for fix in fixes if (checked := self.checked(fix)) is not None]

    def checked(self, fix: Fix) -> Fix | None:
        """The fix if, made, it lines the merge up (saying so when a later layer then does not);
        None if it does not."""
        later = None
        for way in fix.ways:
            try:
                failed = self.made(way)
            except (ConfigError, KeyError, StopIteration):
                return None
            if failed is not None:
                index = failed.failed.index - _inserted(way)  # the layer as the file has it now
                if index <= self.spec.index:
                    return None
                later = later or self.arch.layers[index]
        if later is None:
            return fix
        return Fix(f"{fix.text} (after it, {later.label} does not line up: that needs a fix of its own)", fix.ways)

    def made(self, way: tuple[Edit, ...]) -> StackMismatch | None:
        """Walk the network with the edits made (the effect of each on the layers as loaded):
        where it then stops lining up, or None."""
        layers = list(self.arch.layers)
        keys = {name: key for key, name in self.names.items()}
        now = dict(enumerate(self.keys))  # what the merge reads, by position, as the edits change it
        for edit in way:
            at = next(i for i, s in enumerate(layers) if s.path == edit.get("layer", edit.get("insert_before")))
            spec = layers[at]
            if "insert" in edit:
                layer = dict(edit["insert"])
                kind = KINDS[layer.pop("type")]
                name = layer.pop("name", None)
                source = layer.pop("from", PREVIOUS)
                config = kind.parse(layer)
                read = [self.dot if n == PREVIOUS else keys[n] for n in (source, *kind.references(config))]
                path = spec.path.rsplit(".", 1)[0] + "." if "." in spec.path and spec.block else ""
                path += name or f"{kind.name}.fix"
                layers.insert(at, LayerSpec(index=at, name=name, type=kind.name, section=spec.section, config=config,
                                            options=layer, with_=tuple(read[1:]), source=read[0], path=path,
                                            block=spec.block))
                if name is None:  # it reads `.` and becomes the merge's `.`
                    now.update({i: path for i, w in enumerate(self.written) if w == PREVIOUS})
                else:
                    keys[name] = path
                continue
            values = {k: v for k, v in edit["set"].items()}
            if "name" in values:
                keys[values.pop("name")] = spec.path
            if "inputs" in values:
                now = {i: self.dot if n == PREVIOUS else keys[n] for i, n in enumerate(values.pop("inputs"))}
                values.pop("with", None)
                values.pop("from", None)
            kind = KINDS[spec.type]
            options = {**spec.options, **({"with": list(spec.config["with"])} if kind.skip else {}), **values}
            config = kind.parse({k: v for k, v in options.items() if v is not None})
            further = tuple(self.dot if n == PREVIOUS else keys.get(n, n) for n in kind.references(config))
            layers[at] = replace(spec, config=config, with_=further)
        merge = next(i for i, s in enumerate(layers) if s.path == self.spec.path)
        layers[merge] = replace(layers[merge], source=now[0], with_=tuple(now[i] for i in range(1, len(now))))
        layers = [replace(s, index=i) for i, s in enumerate(layers)]
        try:
            walk(replace(self.arch, layers=tuple(layers)), self.start or (), receptive_field=False)
        except StackMismatch as error:
            return error
        return None

    # -- what a fix may change --------------------------------------------------------------

    def expanded_once(self, spec: LayerSpec) -> bool:
        """Whether the item written for `spec` becomes one layer (no repeat, its block used once):
        only then does editing it change nothing else."""
        return sum(1 for s in self.arch.layers if (s.line, s.column) == (spec.line, spec.column)) == 1

    def readers(self, key: str) -> int:
        """How many layers (and outputs) read the tensor `key`."""
        count = sum(1 for s in self.arch.layers for k in (s.source, *s.with_) if k == key)
        count += sum(1 for s in self.arch.layers if s.source is None and s.index and self.arch.layers[s.index - 1].path == key)
        return count + sum(1 for k in self.arch.outputs if k == key)

    def shown(self, position: int) -> str:
        """A tensor the merge reads, as the file names it."""
        key = self.keys[position]
        name = self.written[position]
        if name == PREVIOUS or name is None:
            name = self.names.get(key)
        if name is not None:
            return f"'{name}'"
        producer = self.producer_of(key)
        return "the current tensor" if producer is None else f"the output of {layer_label(producer)} ({producer.type})"

    def producer_of(self, key: str) -> LayerResult | None:
        return next((r for r in self.results if r.path == key), None)

    # -- the fixes ----------------------------------------------------------------------------

    def resize(self, position: int, want: tuple[int, ...], like: int) -> list[Fix]:
        """The layer that made the tensor at `position` (through layers that keep its size, at
        this size and at `want`), if its own keys can make it `want`: as written for this input,
        and, where the layer takes `output_size: {like: NAME}` and sees the tensor at `like`
        (then `want` whole), for every input size."""
        key = self.keys[position]
        result = self.producer_of(key)
        while result is not None and self.readers(result.path) == 1:
            spec = self.arch.layers[result.index]
            change = KINDS[result.type].resize_fix(spec.config, result.applied, result.input, want)
            if change is not None:
                if not self.expanded_once(spec):
                    return []
                block = _block_of(self.arch, spec)
                label = f"{layer_label(result)} ({result.config})"
                changes = [(change.values, f"so that it makes {fmt_size(want)}")]
                target, made_by = self.written[like], self.producer_of(self.keys[like])
                if ("output_size" in KINDS[result.type].key_names() and target not in (None, PREVIOUS)
                        and spec.block == self.spec.block and made_by is not None and made_by.index < result.index
                        and self.shapes[self.keys[like]][2:] == want):  # type: ignore[index]
                    changes.append(({"output_size": {"like": target}, "output_padding": None},
                                    f"so that it makes the size of '{target}' at every input size"))
                return [Fix(f"set {pairs(values)} on {label} {why}{in_block(block)}{changes_values(change.note)}",
                            ((set_keys(result.path, values, block),),)) for values, why in changes]
            if result.skips or result.output[2:] != result.input[2:] or not _keeps(spec, result, want):
                return []
            source = result.source if result.source is not None else result.index - 1
            result = self.results[source] if source >= 0 else None
        return []

    def pad(self, small: int, big: int) -> list[Fix]:
        """`pad ... to:` the larger tensor, on the smaller one."""
        found = self.to_size("pad", small, big, "padded", adds=True)
        if found is None:
            return []
        edits, how, sides = found
        text = (f"pad {self.shown(small)} to the size of {self.shown(big)}: {how}{in_block(self.block)}"
                f"{changes_values(f'zeros fill {sides} of the padded tensor')} (as F.pad in the common U-Net)")
        return [Fix(text, (edits,))]

    def crop(self, big: int, small: int) -> list[Fix]:
        """`crop ... to:` the smaller tensor, on the larger one (the first input)."""
        found = self.to_size("crop", big, small, "cropped", adds=False)
        if found is None:
            return []
        edits, how, sides = found
        text = (f"crop {self.shown(big)} to the size of {self.shown(small)}: {how}{in_block(self.block)}"
                f"{changes_values(f'it drops {sides} of {self.shown(big)}')}")
        return [Fix(text, (edits,))]

    def to_size(self, kind: str, at: int, like: int, suffix: str, adds: bool
                ) -> tuple[tuple[Edit, ...], str, str] | None:
        """A `{type: KIND, to: NAME}` layer (named after the tensor and `suffix`) on the tensor at
        `at`, NAME the one at `like`: its edits, how a sentence says them, and the sides it adds
        (`adds`) or drops; None when the file's names cannot say it."""
        a, b = self.shapes[self.keys[at]], self.shapes[self.keys[like]]
        assert a is not None and b is not None
        target = self.written[like]
        if target is None:
            return None
        placed = self.place(at, {"type": kind, "to": target}, suffix)
        if placed is None:
            return None
        diff = [n - m if adds else m - n for m, n in zip(a[2:], b[2:])]
        return (*placed, edges([d // 2 for d in diff], [d - d // 2 for d in diff]))

    def projection(self, x: Shape, other: Shape) -> list[Fix]:
        """A merge that needs equal channels (add, mul; sizes agree): a 1x1 convolution on one input
        to the other's channels."""
        kind = f"conv{len(x) - 2}d"
        assert self.j is not None
        if kind not in KINDS:
            return []
        fixes = []
        for position, channels in ((self.j, x[1]), (0, other[1])):
            layer = {"type": kind, "kernel_size": 1, "out_channels": channels}
            placed = self.place(position, layer, "projected")
            if placed is not None:
                edits, how = placed
                text = (f"{self.spec.type} needs equal channels ({x[1]} vs {other[1]}): project {self.shown(position)} "
                        f"with a 1x1 convolution: {how}{in_block(self.block)}"
                        f"{changes_values('a new layer with learned weights')}")
                fixes.append(Fix(text, (edits,)))
        return fixes

    def place(self, position: int, layer: dict[str, Any], suffix: str) -> tuple[tuple[Edit, ...], str] | None:
        """The edits that put `layer` between the tensor at `position` and the merge, and how a
        sentence says it; None when the file's names cannot say it."""
        at = self.spec.path
        written = self.written
        if written[position] == PREVIOUS:  # the layer reads `.`, and becomes the merge's `.`
            return (insert_before(at, layer, self.block),), f"add {yaml_value(layer)} before {self.label}"
        source = written[position]
        if source is None:
            return None
        taken = {n for n in self.names.values()} | {segment for s in self.arch.layers for segment in s.path.split(".")}
        edits: list[Edit] = []
        said: list[str] = []
        dot = self.names.get(self.dot)
        if PREVIOUS in written and dot is None:  # the merge's `.` needs a name once a layer comes between
            before = self.producer_of(self.dot)
            if before is None or before.block != self.spec.block or not self.expanded_once(self.arch.layers[before.index]):
                return None
            dot = _fresh(f"{before.type}_out", taken)
            edits.append(set_keys(before.path, {"name": dot}, self.block))
            said.append(f"name {layer_label(before)} `{dot}`")
        name = _fresh(source.replace(".", "_") + "_" + suffix, {*taken, dot})
        inputs = [name if i == position else dot if w == PREVIOUS else w for i, w in enumerate(written)]
        new = {"name": name, "type": layer["type"], "from": source, **{k: v for k, v in layer.items() if k != "type"}}
        edits += [insert_before(at, new, self.block), set_keys(at, {"inputs": inputs, "with": None, "from": None}, self.block)]
        said += [f"add {yaml_value(new)} before {self.label}", f"give {self.label} `inputs: {yaml_value(inputs)}`"]
        return tuple(edits), ", ".join(said[:-1]) + ", and " + said[-1]


def _fresh(base: str, taken: Collection[str | None]) -> str:
    """`base`, or `base_1`, `base_2`, ...: the first that no name or path segment has."""
    return next(n for n in (base, *(f"{base}_{i}" for i in range(1, len(taken) + 2))) if n not in taken)


def _inserted(way: tuple[Edit, ...]) -> int:
    """How many layers a way of edits writes in."""
    return sum(1 for edit in way if "insert" in edit)


def _keeps(spec: LayerSpec, result: LayerResult, want: tuple[int, ...]) -> bool:
    """Whether a layer that keeps its input's size here keeps it at size `want` too."""
    try:
        out = KINDS[spec.type].apply(spec.config, (*result.input[:2], *want))
    except ConfigError:
        return False
    return out.output[2:] == want


def _block_of(arch: Arch, spec: LayerSpec) -> str | None:
    """The block whose definition holds the layer (None: the file's own layers)."""
    return next((u.block for u in arch.uses if u.path == spec.block), None) if spec.block is not None else None


def _scope(arch: Arch, spec: LayerSpec) -> tuple[dict[str, str], str]:
    """The names the layer's scope writes tensors by (tensor key -> name), and the key of `.`
    there (the tensor written just before the layer)."""
    if spec.block is None:
        prefix, names, dot = "", {n: n for n in arch.input_names}, arch.input_names[0]
    else:
        use = next(u for u in arch.uses if u.path == spec.block)
        copy = int(spec.path[len(use.path) + 1:].split(".")[0]) if use.repeat is not None else 0
        prefix = use.path + "." + (f"{copy}." if use.repeat is not None else "")
        names = dict(zip(use.reads[copy], use.input_names))
        dot = use.reads[copy][0]
    last = -1
    for s in arch.layers[:spec.index]:
        if s.block == spec.block and s.path.startswith(prefix):
            if s.name is not None:
                names[s.path] = s.name
            last, dot = s.index, s.path
    for u in arch.uses:
        segment = u.path[len(prefix):]
        if u.parent != spec.block or not u.path.startswith(prefix) or u.stop > spec.index or "." in segment:
            continue
        if segment != u.block and not (segment.startswith(u.block + "_") and segment[len(u.block) + 1:].isdigit()):
            names.update({k: segment if i == 0 else f"{segment}.{n}" for i, (k, n) in
                          enumerate(zip(u.gives[-1], ("", *u.output_names[1:])))})
        if u.stop - 1 > last:
            last, dot = u.stop - 1, u.gives[-1][0]
    return names, dot
