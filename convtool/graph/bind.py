"""Binding: an architecture as loaded, made concrete for one input: a mirrored decoder
(`decoder: {mirror: encoder}`) is written out for the sizes that flow through the encoder."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import MismatchError
from ..params import Shape
from .mirror import expand
from .model import Arch
from .propagate import resolve_input, walk


def bind(arch: Arch, x: Shape) -> Arch:
    """`arch` for input `x`, every layer concrete (the mirrored decoder expanded).

    An encoder that does not line up for this input has no decoder: its layers alone come
    back, so that walking them stops, and is diagnosed, at the failing layer.
    """
    return arch if arch.mirrored_from is None else expand(arch, x)


def lines_up(arch: Arch, input_shape: Sequence[int]) -> bool:
    """Whether every layer accepts the tensor for this input (shapes only).

    >>> from convtool.graph import loads
    >>> arch = loads("input: [1, 1, 8, 8]\\nlayers: [{type: pixel_unshuffle, downscale_factor: 2}]")
    >>> lines_up(arch, (1, 1, 8, 8)), lines_up(arch, (1, 1, 7, 8))
    (True, False)
    """
    x = resolve_input(arch, input_shape)
    try:
        walk(bind(arch, x), x, receptive_field=False)
    except MismatchError:
        return False
    return True
