"""An architecture as loaded from a file: its layers as written (checked, defaults filled)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..layers import KINDS
from ..params import Shape
from .yaml import Mark

TOP_KEYS = ("name", "input", "inputs", "blocks", "layers", "encoder", "decoder", "outputs", "restores")
INPUT = "input"  # the name of the network's input
PREVIOUS = "."  # in `inputs:`, the output of the layer written before
SECTIONS = ("encoder", "decoder")


@dataclass(frozen=True)
class LayerSpec:
    """One layer as written in the file, checked: `config` has every key, defaults filled.

    `options` are the keys as written (type, name and with excluded; an alias's implied
    defaults included), `marks` the (line, column) of each written key's value. `source` is
    the tensor the layer reads (`from:`, or the first of a merge's `inputs:`; None: the layer
    before it in `Arch.layers`), `with_` the further tensors a merge reads, in order; both by
    their tensor keys: a network input's name, or a layer's `path`. `path` names the layer in
    reports, unique in the network: its scope's path (the block uses it is inside), then its
    name, or its kind numbered when the kind occurs unnamed more than once in its scope, then
    its copy number when repeated. `block` is the path of the block use it is part of.
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
    block: str | None = None

    @property
    def reads(self) -> tuple[str, ...]:
        """Every tensor name the layer reads, its first input included (. = the layer before)."""
        return (self.source or PREVIOUS, *self.with_)

    @property
    def label(self) -> str:
        """`layer 3 'up1' (conv_transpose2d)`; inside a block, its path: `layer 7 'a.1.conv1d' (conv1d)`."""
        shown = self.path if self.block is not None else self.name
        name = f" '{shown}'" if shown else ""
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
class NetworkInput:
    """One of several network inputs (`inputs:`): its name, shape, and for class indices the
    number of classes (`integers: N`: values in [0, N), as an embedding reads)."""

    name: str
    shape: Shape
    integers: int | None = None


@dataclass(frozen=True)
class BlockUse:
    """One use of a block (all its copies when repeated): its leaves are `Arch.layers[first:stop]`."""

    path: str
    block: str  # the block's name
    repeat: int | None  # None: no `repeat:` written
    first: int
    stop: int
    depth: int  # 1: written in the file's own layers; 2: inside a block used there; ...
    parent: str | None  # the use it is written in
    output: str  # the tensor key of its (first) output
    line: int | None = None
    column: int | None = None
    input_names: tuple[str, ...] = ()  # the block's inputs and outputs, as it names them
    output_names: tuple[str, ...] = ()
    reads: tuple[tuple[str, ...], ...] = ()  # per copy: the tensor keys fed to its inputs
    gives: tuple[tuple[str, ...], ...] = ()  # per copy: the tensor keys of its outputs


@dataclass(frozen=True)
class Arch:
    """A loaded architecture file."""

    name: str | None
    input: Shape | None
    layers: tuple[LayerSpec, ...]
    file: str = "<string>"
    sections: tuple[str, ...] = ()
    mirrored_from: Mirror | None = None  # `decoder: {mirror: encoder}`, expanded by bind()
    outputs: tuple[str, ...] = ()  # `outputs:` as tensor keys; none written: the last layer
    uses: tuple[BlockUse, ...] = ()  # every block use, in file order (an outer use before its inner ones)
    inputs: tuple[NetworkInput, ...] = ()  # `inputs:` (several); `input` is then the first one's shape
    restores: bool | None = None  # `restores:` the input's size (True) or not (False); None: not written

    @property
    def input_names(self) -> tuple[str, ...]:
        """The names layers read the network's inputs by (`input` for a network with one)."""
        return tuple(i.name for i in self.inputs) or (INPUT,)

    @property
    def referenced(self) -> frozenset[str]:
        """Names that some layer, or the outputs, read."""
        read = {n for spec in self.layers for n in spec.with_} | {s.source for s in self.layers if s.source}
        return frozenset(read | set(self.outputs))
