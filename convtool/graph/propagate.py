"""Propagation: every layer applied to the tensor that reaches it, once, in file order: shapes,
params, MACs and the exact receptive field together. A bound architecture only (see bind.py):
a mismatch is raised with the table so far; its fixes are diagnose.py's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from math import prod
from typing import Any

from ..errors import ArchError, ConfigError, MismatchError
from ..footprint import Footprint, Grid, Misalignment, grid_json, identity_grid, misalignments
from ..layers import KINDS
from ..layers.base import Applied, LayerKind
from ..layers.fix import Fix
from ..layers.keys import SkipMismatch
from ..params import Shape
from ..text import fmt_shape, fmt_spatial
from .model import PREVIOUS, Arch, BlockUse, LayerSpec

MAX_FIELD_POSITIONS = 2**20  # per dim; beyond it the receptive field is not computed
ACTIVATION_BYTES = 4  # float32


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
    skips: tuple[int, ...] = ()  # a merge: the indices of the further layers whose outputs join (-1: the input)
    source: int | None = None  # the index of the layer whose output it reads (-1: the input); None: the one before
    path: str = ""
    inputs: tuple[str, ...] = ()  # the paths of the tensors it reads, in order
    grid: Grid = None  # where its output's positions sit in the network input, per dim
    block: str | None = None  # the path of the block use it is part of
    misaligned: tuple[Misalignment, ...] = ()  # a merge: its inputs that sit elsewhere than its first

    @property
    def shown_name(self) -> str | None:
        """What the table's name column shows: the name, or inside a block the path."""
        return self.path if self.block is not None else self.name

    def to_dict(self) -> dict[str, Any]:
        """The layer as in `run --json` (docs/json.md)."""
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
            "path": self.path,
            "inputs": list(self.inputs),
            "grid": grid_json(self.grid),
            "block": self.block,
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
    outputs: tuple[tuple[int, str, Shape], ...] = ()  # (layer index (-1: the input), path, shape) of each output
    inputs: tuple[tuple[str, Shape], ...] = ()  # several network inputs: each one's name and shape

    @property
    def input_ids(self) -> dict[str, int]:
        """Each network input's id where layers name what they read: -1 the first, -2 the second, ..."""
        return {name: -1 - k for k, name in enumerate(self.arch.input_names)}

    @property
    def read_later(self) -> frozenset[int]:
        """The layers (-1: the input) whose outputs some layer reads other than as the output
        of the layer just before it: what a walk over arrays must keep."""
        return frozenset(i for r in self.layers for i in (*r.skips, *(() if r.source is None else (r.source,))))


@dataclass(frozen=True)
class UseResult:
    """One block use in a propagated network: its leaves' totals, what it reads and gives."""

    use: BlockUse
    layers: tuple[LayerResult, ...]  # its leaves, in order
    input: Shape  # the tensor its first leaf reads
    output: Shape  # its (first) output
    receptive_field: tuple[int, ...] | None  # its output's

    @property
    def param_count(self) -> int:
        return sum(r.param_count for r in self.layers)

    @property
    def macs(self) -> int:
        return sum(r.macs for r in self.layers)

    def to_dict(self) -> dict[str, Any]:
        """The use as in `run --json`'s `blocks`."""
        return {
            "path": self.use.path, "type": self.use.block, "repeat": self.use.repeat, "depth": self.use.depth,
            "parent": self.use.parent, "first": self.use.first, "last": self.use.stop - 1,
            "input": list(self.input), "output": list(self.output), "param_count": self.param_count,
            "macs": self.macs,
            "receptive_field": list(self.receptive_field) if self.receptive_field is not None else None,
        }


def uses(prop: Propagation) -> list[UseResult]:
    """Every block use of the network (outer uses before their inner ones), with its totals."""
    by_path = {r.path: r for r in prop.layers}
    found = []
    for use in prop.arch.uses:
        leaves = prop.layers[use.first:use.stop]
        out = by_path[use.output] if use.output in by_path else None
        found.append(UseResult(
            use=use, layers=leaves, input=leaves[0].input, output=out.output if out else prop.input,
            receptive_field=out.receptive_field if out else None,
        ))
    return found


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
        fix_edits: tuple[list[list[dict[str, Any]]] | None, ...] = (),
        file: str | None = None,
        input_shape: Shape | None = None,
        line: int | None = None,
        column: int | None = None,
        spec: LayerSpec | None = None,
        other: Shape | None = None,
    ) -> None:
        hint = ["fix it, one of:", *(f"  - {fix}" for fix in fixes)] if fixes else None
        super().__init__(message, hint=hint)
        self.layers = layers
        self.failed = failed
        self.fixes = fixes
        self.fix_edits = fix_edits + (None,) * (len(fixes) - len(fix_edits))  # per fix: its ways of edits, or None
        self.file = file
        self.input_shape = input_shape
        self.line = line
        self.column = column
        self.spec = spec  # the failing layer as written, and for a merge the other tensor: for diagnosis
        self.other = other

    def with_fixes(self, fixes: Sequence[Fix]) -> StackMismatch:
        """The same mismatch with more fixes (what diagnosis found), each with its edits."""
        return StackMismatch(
            self.message, layers=self.layers, failed=self.failed, fixes=(*self.fixes, *(f.text for f in fixes)),
            fix_edits=(*self.fix_edits, *(f.to_list() for f in fixes)), file=self.file,
            input_shape=self.input_shape, line=self.line, column=self.column, spec=self.spec, other=self.other,
        )

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
            fix_edits=list(self.fix_edits),
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


def network_inputs(arch: Arch, x: Shape) -> list[tuple[str, Shape]]:
    """Every network input's name and shape for a first input `x`: the others as written, with
    the first one's batch size (the batch is shared).

    >>> from convtool.graph import loads
    >>> arch = loads("inputs: {z: [2, 8, 4, 4], y: [2, 3]}\\nlayers: [{type: relu}]")
    >>> network_inputs(arch, (5, 8, 4, 4))
    [('z', (5, 8, 4, 4)), ('y', (5, 3))]
    """
    names = arch.input_names
    others = [(i.name, (x[0], *i.shape[1:])) for i in arch.inputs[1:]]
    return [(names[0], x), *others]


def _check_indices_source(spec: LayerSpec, source: int, results: Sequence[LayerResult]) -> None:
    """A max_unpool's `indices:` must name a max pool of its dims (the pool carries its indices)."""
    wanted = spec.type.replace("max_unpool", "max_pool")
    found = "the network's input" if source < 0 else f"{results[source].path} ({results[source].type})"
    if source < 0 or results[source].type != wanted:
        raise ConfigError(f"indices: {spec.config['indices']} must name a {wanted} layer, whose indices "
                          f"{spec.type} reads, but it is {found}")


def _past_the_output(applied: Applied, pool: LayerResult) -> Applied:
    """A max_unpool whose output is smaller than its pool's input: the indices of the last windows
    may point past it (PyTorch then fails with `Found an invalid max index`, as the data decide)."""
    k, s, p, d = KINDS[pool.type].window(pool.applied)  # type: ignore[attr-defined]
    spatial, out = pool.input[2:], applied.output[2:]
    last = [min((o - 1) * ss + (kk - 1) * dd - pp, i - 1) for o, kk, ss, pp, dd, i in zip(pool.output[2:], k, s, p, d, spatial)]
    largest = sum(c * prod(spatial[a + 1:]) for a, c in enumerate(last))
    if largest < prod(out):
        return applied
    note = (f"indices of {pool.path} reach {largest}, past this {'x'.join(map(str, out))} output "
            f"(PyTorch fails with 'Found an invalid max index' when a maximum sits there)")
    return replace(applied, notes=(*applied.notes, note))


def walk(arch: Arch, x: Shape, *, receptive_field: bool = True) -> Propagation:
    """Apply every layer of a bound architecture to the tensor that reaches it, from input
    `x`; raise StackMismatch (the table so far, no fixes yet) where one cannot be applied.

    The receptive field is exact: each layer maps, per dim and per output position, the
    first and last network-input index it depends on; work is linear in layers x positions
    x kernel taps.

    >>> from convtool.graph import loads
    >>> arch = loads('''
    ... input: [1, 8, 4, 4]
    ... layers:
    ...   - {type: conv_transpose2d, out_channels: 8, kernel_size: 3, stride: 2}
    ...   - {type: conv_transpose2d, out_channels: 8, kernel_size: 3, stride: 2}
    ... ''')
    >>> [r.receptive_field for r in walk(arch, (1, 8, 4, 4)).layers]
    [(2, 2), (2, 2)]
    """
    if arch.mirrored_from is not None:  # a bug, never a user error
        raise AssertionError("walk() takes a bound architecture: bind() expands its mirrored decoder")
    start = x
    keep = arch.referenced
    receptive_field = receptive_field and all(n <= MAX_FIELD_POSITIONS for n in x[2:])
    fp = (Footprint.identity(x[2:]) if len(x) > 2 else Footprint.none()) if receptive_field else Footprint.none()
    # the tensors later layers read, by key: (producing layer index (inputs: -1, -2, ...), path, shape, footprint)
    given = network_inputs(arch, x)
    tensors: dict[str, tuple[int, str, Shape, Footprint]] = {
        name: (-1 - k, name, shape, fp if k == 0 else fp.unrelated(shape[2:]))
        for k, (name, shape) in enumerate(given)
    }
    previous = tensors[given[0][0]]
    results: list[LayerResult] = []
    grids: dict[tuple[int, str], Grid] = {}  # each layer's output grid by (index, path); an input's is the identity
    for spec in arch.layers:
        kind = KINDS[spec.type]
        read = [previous if n == PREVIOUS else tensors[n] for n in spec.reads]
        first, others = read[0], read[1:]
        x, fp = first[2], first[3]
        try:
            if kind.reads_indices:
                _check_indices_source(spec, others[0][0], results)
            applied = kind.apply(spec.config, x, tuple(t[2] for t in others))
            if kind.reads_indices:
                applied = _past_the_output(applied, results[others[0][0]])
        except ConfigError as error:
            raise _mismatch(arch, start, spec, x, error, tuple(results), {n: (t[0], t[2]) for n, t in tensors.items()},
                            previous[0]) from None
        if receptive_field and any(n > MAX_FIELD_POSITIONS for n in applied.output[2:]):
            receptive_field = False
        if receptive_field:
            fp = kind.footprint(applied, x, fp, tuple(t[3] for t in others))
        grid, off = _place(kind, applied, read, grids)
        grids[spec.index, spec.path] = grid
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
                notes=(*applied.notes, *(m.sentence() for m in off)),
                applied=applied,
                skips=tuple(t[0] for t in others),
                source=None if first is previous else first[0],
                path=spec.path,
                inputs=tuple(t[1] for t in read),
                grid=grid,
                block=spec.block,
                misaligned=off,
            )
        )
        x = applied.output
        previous = (spec.index, spec.path, x, fp if receptive_field else Footprint.none())
        if spec.path in keep:
            tensors[spec.path] = previous
    outputs = tuple(t[:3] for t in (tensors[n] if n != PREVIOUS else previous for n in arch.outputs)) or (previous[:3],)
    totals = Totals(
        param_count=sum(r.param_count for r in results),
        macs=sum(r.macs for r in results),
        activation_bytes=ACTIVATION_BYTES * sum(prod(r.output) for r in results),
    )
    return Propagation(arch=arch, input=start, output=outputs[0][2], layers=tuple(results), totals=totals,
                       outputs=outputs, inputs=tuple(given) if arch.inputs else ())


def footprints(prop: Propagation, at: int = -1, seed: Footprint | None = None) -> list[Footprint]:
    """Every layer's output footprint: per dim and position, the (first, last) network-input
    index it depends on (`Footprint.dims`); what `receptive_field` is the widest of.

    Started at layer `at`'s output instead (`seed`, default each of its positions itself), the
    indices are that tensor's positions, and what does not depend on it has None.

    >>> from convtool.graph import loads, propagate
    >>> arch = loads("input: [1, 1, 4, 4]\\nlayers: [{type: upsample, scale_factor: 2}]")
    >>> footprints(propagate(arch))[0].dims[0]
    [(0, 0), (0, 0), (1, 1), (1, 1), (2, 2), (2, 2), (3, 3), (3, 3)]
    """
    x = prop.input
    if at < 0:
        start = seed or (Footprint.identity(x[2:]) if len(x) > 2 else Footprint.none())
    else:
        start = Footprint.nothing(x[2:], len(prop.layers[at].output) - 2)
    result: list[Footprint] = []

    def of(index: int) -> Footprint:
        return start if index < 0 else result[index]

    for layer in prop.layers:
        fp = of(layer.index - 1 if layer.source is None else layer.source)
        fp = KINDS[layer.type].footprint(layer.applied, layer.input, fp, tuple(of(i) for i in layer.skips))
        if layer.index == at:
            fp = seed or Footprint.identity(layer.output[2:])
        result.append(fp)
    return result


def _place(
    kind: LayerKind, applied: Applied, read: Sequence[tuple[int, str, Shape, Footprint]],
    grids: Mapping[tuple[int, str], Grid],
) -> tuple[Grid, tuple[Misalignment, ...]]:
    """The layer's output grid, and the merged inputs that sit elsewhere than its first."""
    placed = [grids[t[:2]] if t[:2] in grids else identity_grid(t[2]) for t in read]
    x, first, others = read[0][2], placed[0], tuple(placed[1:])
    lined = kind.lined_up(applied, x, first, others)
    return kind.grid(applied, x, first, others), misalignments(lined, [t[1] for t in read]) if lined else ()


def layer_label(result: LayerResult | LayerSpec) -> str:
    """`layer 3 'up1'`; inside a block, its path: `layer 7 'a.1.conv1d'` (as the table shows it)."""
    shown = result.path if result.block is not None else result.name
    name = f" '{shown}'" if shown else ""
    return f"layer {result.index}{name}"


def _mismatch(
    arch: Arch,
    start: Shape,
    spec: LayerSpec,
    x: Shape,
    error: ConfigError,
    results: tuple[LayerResult, ...],
    shapes: Mapping[str, tuple[int, Shape]],
    previous: int = -1,
) -> StackMismatch:
    """The layer `spec` cannot take `x`: the message in PyTorch's words, and the fixes the
    layer's own error carries (diagnose.explain adds the others)."""
    fixes: list[str] = []
    skip_from = other = None
    where = f"{arch.file}:{spec.line}:{spec.column}: " if spec.line else ""
    if isinstance(error, SkipMismatch):
        target = spec.with_[error.skip]
        other_index, other = shapes[target] if target != PREVIOUS else (previous, results[-1].output if results else start)
        skip_from = (other_index, target, other)
        producer = results[-1] if results else None
        from_text = f" from {layer_label(producer)}" if producer else " (the network input)"
        message = (
            f"{where}{spec.label} does not line up: the skip tensor from layer {other_index} '{target}' is "
            f"{fmt_spatial(other)} but the current tensor{from_text} is {fmt_spatial(x)} (shapes {fmt_shape(other)} and "
            f"{fmt_shape(x)}; PyTorch: {error.message})"
        )
    else:
        message = f"{where}{spec.label} does not line up with its input {fmt_shape(x)}: {error.message}"
        fixes.extend(error.hint_lines)
    reason = error.message
    if skip_from is not None:
        reason = f"skip '{skip_from[1]}' {fmt_shape(skip_from[2])} vs this tensor {fmt_shape(x)}"
    failed = FailedLayer(
        index=spec.index, name=spec.name, type=spec.type, section=spec.section, config=spec.summary(),
        input=x, reason=reason, skip_from=skip_from,
    )
    return StackMismatch(
        message, layers=results, failed=failed, fixes=tuple(fixes), file=arch.file, input_shape=start,
        line=spec.line, column=spec.column, spec=spec, other=other,
    )
