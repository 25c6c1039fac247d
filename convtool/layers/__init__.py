"""Every layer kind of an architecture file (the file format): keys, shape rule, cost,
footprint (exact receptive field) and numeric rule.

Shapes, params and MACs are pure Python; convolutions go through the shape engine
(`convtool.shape`), never a formula of their own. numpy is imported inside the numeric
rules only, so loading and propagating a stack never imports it.

A kind is applied to the incoming tensor shape (and, for concat/add, the skip tensors'
shapes) and returns an `Applied`: output shape, params, MACs, the compact config for
the table, notes, and the explicit PyTorch constructor arguments (channels inferred).

>>> applied = KINDS["conv_transpose2d"].apply(
...     KINDS["conv_transpose2d"].parse({"out_channels": 8, "kernel_size": 3, "stride": 2}),
...     (1, 16, 5, 5))
>>> applied.output, applied.param_count, applied.macs, applied.config
((1, 8, 11, 11), 1160, 28800, 'k3 s2')
"""

from __future__ import annotations

import difflib
from typing import Any

from . import conv, merge, norm, pad, pointwise, pool, resample, reshape, sequence, slicing
from .base import LayerKind


def _registry() -> dict[str, LayerKind]:
    """Every kind, family by family; a new kind is added to its family's KINDS."""
    kinds = [*conv.KINDS, *pool.KINDS, *resample.KINDS, *reshape.KINDS, *norm.KINDS, *pointwise.KINDS, *merge.KINDS, *pad.KINDS,
             *slicing.KINDS, *sequence.KINDS]
    names = [kind.name for kind in kinds]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise RuntimeError(f"layer kinds registered twice: {sorted(duplicates)}")
    return {kind.name: kind for kind in kinds}


KINDS: dict[str, LayerKind] = _registry()

# PyTorch class names (and a few common spellings) -> (kind, defaults that the class implies)
ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    **{kind.torch_class: (name, {}) for name, kind in KINDS.items() if kind.torch_class},
    "Dropout2d": ("dropout", {}),
    "dropout2d": ("dropout", {}),
    "UpsamplingNearest2d": ("upsample", {"mode": "nearest"}),
    "UpsamplingBilinear2d": ("upsample", {"mode": "bilinear", "align_corners": True}),
    "interpolate": ("upsample", {}),
    "cat": ("concat", {}),
}


def resolve_type(name: str) -> tuple[LayerKind, dict[str, Any]] | None:
    """The kind a `type:` names (snake_case or a PyTorch class name) and the defaults it implies.

    >>> kind, defaults = resolve_type("ConvTranspose2d")
    >>> kind.name, defaults
    ('conv_transpose2d', {})
    """
    if name in KINDS:
        return KINDS[name], {}
    if name in ALIASES:
        kind, defaults = ALIASES[name]
        return KINDS[kind], dict(defaults)
    return None


def closest_type(name: str) -> str | None:
    """The valid type closest to a misspelt one.

    >>> closest_type("conv_tranpose2d"), closest_type("Convtranspose2D")
    ('conv_transpose2d', 'conv_transpose2d')
    """
    candidates = list(KINDS) + list(ALIASES)
    folded = {c.lower().replace("_", ""): c for c in candidates}
    key = name.lower().replace("_", "")
    if key in folded:
        found = folded[key]
        return ALIASES[found][0] if found in ALIASES else found
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not close:
        close = [folded[c] for c in difflib.get_close_matches(key, list(folded), n=1, cutoff=0.6)]
    return close[0] if close else None
