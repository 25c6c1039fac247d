"""An architecture as loaded from a file: its layers as written (checked, defaults filled)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..layers import KINDS
from ..params import Shape
from .yaml import Mark

TOP_KEYS = ("name", "input", "layers", "encoder", "decoder", "outputs")
INPUT = "input"  # the name of the network's input
PREVIOUS = "."  # in `inputs:`, the output of the layer written before
SECTIONS = ("encoder", "decoder")


@dataclass(frozen=True)
class LayerSpec:
    """One layer as written in the file, checked: `config` has every key, defaults filled.

    `options` are the keys as written (type, name and with excluded; an alias's implied
    defaults included), `marks` the (line, column) of each written key's value. `source` is
    the tensor the layer reads (`from:`, or the first of a merge's `inputs:`; None: the layer
    written before), `with_` the further tensors a merge reads, in order. `path` names the
    layer in reports: its name, or its kind numbered when the kind occurs unnamed more than once.
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
    source: str | None = None
    path: str = ""

    @property
    def reads(self) -> tuple[str, ...]:
        """Every tensor name the layer reads, its first input included (. = the layer before)."""
        return (self.source or PREVIOUS, *self.with_)

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
    """Where a file says `decoder: {mirror: encoder}` (bind() writes the decoder out)."""

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
    mirrored_from: Mirror | None = None  # `decoder: {mirror: encoder}`, expanded by bind()
    outputs: tuple[str, ...] = ()  # `outputs:`; none written: the last layer

    def by_name(self) -> dict[str, LayerSpec]:
        return {spec.name: spec for spec in self.layers if spec.name}

    @property
    def referenced(self) -> frozenset[str]:
        """Names that some layer, or the outputs, read."""
        read = {n for spec in self.layers for n in spec.with_} | {s.source for s in self.layers if s.source}
        return frozenset(read | set(self.outputs))
