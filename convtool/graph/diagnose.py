"""Why a network does not line up and how to fix it: the exact fixes for a merge, and the
nearest input sizes that line up (from the valid sizes where they are known)."""

from __future__ import annotations

import time
from typing import Any

from ..layers import KINDS
from ..params import Shape
from ..text import fmt_shape, fmt_size
from .bind import lines_up
from .model import Arch, LayerSpec
from .propagate import LayerResult, StackMismatch, layer_label
from .valid_sizes import valid_input_sizes


def _nearest_valid(arch: Arch, input_shape: Shape) -> list[Shape]:
    """The valid inputs nearest to `input_shape`, from the exact set of valid input sizes where it
    exists (square inputs stay square), else from a search nearby."""
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
    the output_padding or crop that makes the tensors agree; for any layer, the nearest
    inputs that line up."""
    fixes: list[str] = []
    if error.other is not None and error.spec is not None:
        fixes += _skip_fixes(error.spec, error.failed.input, error.other, error.layers)
    if error.input_shape is not None:
        near = _nearest_valid(arch, error.input_shape)
        if near:
            fixes.append(
                "use an input that lines up: " + " or ".join(fmt_shape(s) for s in near)
                + f" instead of {fmt_shape(error.input_shape)}"
            )
    return error.with_fixes(fixes)


def _skip_fixes(spec: LayerSpec, x: Shape, other: Shape, results: tuple[LayerResult, ...]) -> list[str]:
    merge = KINDS[spec.type]
    if len(other) != len(x) or other[2:] == x[2:]:
        return merge.merge_fixes(spec.config, x, other, layer_label(spec)) if len(other) == len(x) else []
    fixes: list[str] = []
    want = other[2:]
    # the layer that made the current tensor (through shape-preserving layers), if its own
    # arguments can make it the skip's size
    for result in reversed(results):
        kind = KINDS[result.type]
        if not kind.elementwise:
            change = kind.resize_fix(result.applied, result.input, want)
            if change is not None:
                fixes.append(f"{change} on {layer_label(result)} ({result.config}) so that it makes {fmt_size(want)}")
            like = kind.like_fix(result.applied, result.input, want, spec.with_[0])
            if like is not None:
                fixes.append(f"{like} on {layer_label(result)} ({result.config}) so that it takes "
                             f"{spec.with_[0]}'s size, {fmt_size(want)} here")
            break
    if all(o >= c for o, c in zip(want, x[2:])) and results:
        fixes.append(
            f"pad the current tensor to the skip's size: add {{type: pad, to: {spec.with_[0]}}} before "
            f"{layer_label(spec)} (zeros around the upsampled tensor, as F.pad in the common U-Net)"
        )
    return fixes + merge.merge_fixes(spec.config, x, other, layer_label(spec))
