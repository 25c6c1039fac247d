"""Receptive and projective fields measured in the positions of one tensor of the network (a
decoder analysed from its latent): the footprints started at that tensor instead of the input."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..footprint import Footprint
from .model import INPUT
from .propagate import MAX_FIELD_POSITIONS, Propagation, footprints

Fields = tuple[tuple[int, ...] | None, ...]  # per layer: per spatial dim, or None


class UnknownTensor(ConfigError):
    """A tensor name that the network does not have."""


@dataclass(frozen=True)
class Relative:
    """Per layer, measured in the positions of the tensor `path` (layer `index`; -1: the input):
    the receptive field (how many of its positions one output position depends on) and the
    projective field (how many output positions one of its positions reaches, the most over
    its positions); None where the layer does not depend on it, or is not spatial."""

    index: int
    path: str
    receptive: Fields
    projective: Fields

    def layer_dict(self, index: int) -> dict[str, Any] | None:
        """`layers[].relative` of `run --json` (docs/json.md)."""
        field, reach = self.receptive[index], self.projective[index]
        if field is None:
            return None
        return {"receptive_field": list(field), "projective_field": None if reach is None else list(reach)}


def find_tensor(prop: Propagation, name: str) -> int:
    """The layer whose output `name` is (a path, or a name as written; -1: the network input).

    >>> from convtool.graph import loads, propagate
    >>> prop = propagate(loads("input: [1, 1, 8]\\nlayers: [{name: a, type: relu}, {type: relu}]"))
    >>> find_tensor(prop, "a"), find_tensor(prop, "relu"), find_tensor(prop, "input")
    (0, 1, -1)
    """
    if name == INPUT:
        return -1
    by_path = {r.path: r.index for r in prop.layers if r.path}
    if name in by_path:
        return by_path[name]
    named = [r.index for r in prop.layers if r.name == name]
    if named:
        return named[-1]  # a repeated layer's name means its last copy
    for use in prop.arch.uses:  # a block use means its (first) output; USE.NAME each declared one
        outputs = {use.path: use.output, **{f"{use.path}.{n}": key for n, key in
                                            zip(use.output_names, use.gives[-1] if use.gives else ())}}
        if name in outputs:
            return by_path.get(outputs[name], -1)
    known = [INPUT, *(use.path for use in prop.arch.uses), *by_path]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    where = f" in {prop.arch.file}" if prop.arch.file else ""
    hint = f"; the closest is '{close[0]}'" if close else f"; its tensors are {', '.join(known[:8])}" + (
        ", ..." if len(known) > 8 else "")
    raise UnknownTensor(f"no tensor named '{name}'{where}{hint}")


def relative_to(prop: Propagation, name: str) -> Relative:
    """The fields of every layer in the positions of tensor `name` (see Relative)."""
    at = find_tensor(prop, name)
    path = INPUT if at < 0 else prop.layers[at].path
    shape = prop.input if at < 0 else prop.layers[at].output
    traced = len(shape) > 2 and all(n <= MAX_FIELD_POSITIONS for r in prop.layers for n in r.output[2:])
    if not traced:
        none: Fields = (None,) * len(prop.layers)
        return Relative(at, path, none, none)
    fps = footprints(prop, at)
    receptive = tuple(_field(fp) for fp in fps)
    return Relative(at, path, receptive, _projective(prop, at, shape[2:], receptive))


def _field(fp: Footprint) -> tuple[int, ...] | None:
    """The widest footprint per dim; None when no position depends on the start."""
    if fp.dims is None or all(iv is None for dim in fp.dims for iv in dim):
        return None
    return fp.field()


def _projective(prop: Propagation, at: int, spatial: Sequence[int], receptive: Fields) -> Fields:
    """Per layer and dim, the most output positions one start position reaches, exactly.

    A footprint started with only the positions j ≡ r (mod m) marked, m above every receptive
    field, lets each output position depend on one marked position at most: so the output
    positions that show j are exactly those that depend on j (gaps and all), and m passes
    cover every start position.
    """
    widest = max((w for field in receptive if field is not None for w in field), default=0)
    step = widest + 1
    reach: list[list[dict[int, tuple[int, int]]] | None] = [
        None if field is None else [{} for _ in field] for field in receptive
    ]
    cover = tuple((0, n - 1) for n in spatial)
    for r in range(min(step, max(spatial))):
        marked = tuple([(j, j) if j % step == r else None for j in range(n)] for n in spatial)
        for fp, seen in zip(footprints(prop, at, Footprint(marked, cover)), reach):
            if seen is None or fp.dims is None:
                continue
            for dim, found in zip(fp.dims, seen):
                for o, iv in enumerate(dim):
                    if iv is None:
                        continue
                    if iv[0] != iv[1]:  # two marked positions: the step was below a field
                        raise AssertionError(f"position {o} depends on {iv} at step {step}")
                    lo, hi = found.get(iv[0], (o, o))
                    found[iv[0]] = (min(lo, o), max(hi, o))
    return tuple(
        None if seen is None else tuple(max((hi - lo + 1 for lo, hi in found.values()), default=0) for found in seen)
        for seen in reach
    )
