"""An architecture as loaded from a file: its layers as written (checked, defaults filled)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..layers import KINDS
from ..params import Shape
from .yaml import Mark

TOP_KEYS = ("name", "input", "layers", "encoder", "decoder")
SECTIONS = ("encoder", "decoder")


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

    def by_name(self) -> dict[str, LayerSpec]:
        return {spec.name: spec for spec in self.layers if spec.name}

    @property
    def referenced(self) -> frozenset[str]:
        """Names that skip connections read."""
        return frozenset(n for spec in self.layers for n in spec.with_)
