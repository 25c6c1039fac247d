"""Architecture files: a network loaded, bound, propagated and analysed, in that order.

    load / loads                      the file, checked, every error located (loader.py)
    bind(arch, x)                     made concrete for input x: a mirrored decoder written out
    walk(bound, x)                    every layer applied once: shapes, params, MACs, fields
    propagate(arch, input, batch)     bind + walk; a mismatch comes with its fixes (diagnose.py)
    mirror(arch, input, batch)        the decoder that restores an encoder's input
    valid_input_sizes(arch, input)    every input size for which the network lines up
    verify(propagation, ...)          the network through the numeric engine

>>> arch = loads("input: [1, 3, 8, 8]\\nlayers:\\n  - {type: Conv2d, out_channels: 4, kernel_size: 3, stride: 2}\\n")
>>> [(r.type, r.output, r.receptive_field) for r in propagate(arch).layers]
[('conv2d', (1, 4, 3, 3), (3, 3))]
"""

from __future__ import annotations

from collections.abc import Sequence

from .bind import bind, lines_up
from .diagnose import explain, nearest_inputs
from .loader import load, loads
from .mirror import Mirrored, decoder_for, encoder_of
from .model import Arch, LayerSpec
from .propagate import (
    FailedLayer,
    LayerResult,
    Propagation,
    StackMismatch,
    Totals,
    UseResult,
    footprints,
    resolve_input,
    uses,
    walk,
)
from .valid_sizes import InputSizes, ValidSizes, valid_input_sizes
from .verify import NumericStack, Verification, verify
from .yaml import MAX_NODES, read_yaml

__all__ = [
    "MAX_NODES", "Arch", "FailedLayer", "InputSizes", "LayerResult", "LayerSpec", "Mirrored", "NumericStack",
    "Propagation", "StackMismatch", "Totals", "UseResult", "ValidSizes", "Verification", "bind", "footprints", "lines_up",
    "load", "loads", "mirror", "nearest_inputs", "propagate", "read_yaml", "resolve_input", "uses", "valid_input_sizes",
    "verify", "walk",
]


def propagate(
    arch: Arch, input_shape: Sequence[int] | None = None, batch: int | None = None, *, receptive_field: bool = True
) -> Propagation:
    """`arch` bound to its input (the file's, or `input_shape`, with `batch` as N) and walked;
    where it does not line up, StackMismatch with the table so far and every fix."""
    x = resolve_input(arch, input_shape, batch)
    try:
        return walk(bind(arch, x), x, receptive_field=receptive_field)
    except StackMismatch as error:
        raise explain(error, arch) from None


def mirror(arch: Arch, input_shape: Sequence[int] | None = None, batch: int | None = None) -> Mirrored:
    """The decoder that restores the input of `arch`'s encoder (its `layers:` when it has no
    `encoder:` section) exactly, for the file's input or `input_shape`.

    >>> m = mirror(loads("input: [1, 3, 10, 10]\\nlayers: [{type: max_pool2d, kernel_size: 3}]"))
    >>> m.layers[0]["kernel_size"], m.layers[0]["stride"], m.layers[0]["output_padding"], m.restores
    (3, 3, 1, (1, 3, 10, 10))
    """
    x = resolve_input(arch, input_shape, batch)
    try:
        return decoder_for(arch, x)
    except StackMismatch as error:
        raise explain(error, encoder_of(arch)) from None
