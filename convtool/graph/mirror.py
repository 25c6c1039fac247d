"""Mirroring: the decoder that restores an encoder's input shape exactly.

One function, `decoder_for`, serves both `decoder: {mirror: encoder}` (through `bind`, which
calls `expand`) and `convtool invert ARCH.yaml`.

The encoder is propagated on the actual input first: output_padding depends on the sizes
that flow through, so a decoder is mirrored for one input shape. Then it is walked
backwards, every layer that changes the shape replaced by its inverse:

    conv2d              -> conv_transpose2d, same k, s, p, d, g and bias, channels reversed,
                           output_padding of §2.4 (design.invert); 'same' padding that is
                           asymmetric (even kernel) gets the padding and output_padding
                           that restore the size, when a transposed convolution has one
    conv_transpose2d    -> conv2d with the same k, s, p, d, g (exact while output_padding < stride)
    max/avg_pool2d      -> conv_transpose2d C -> C (groups 1: a learned upsampling) of the
                           pool's kernel, stride, padding and dilation, with the output_padding
                           the sizes need; ceil_mode's extra window is undone with more padding
    adaptive_avg_pool2d -> upsample (nearest) to the input size
    upsample            -> adaptive_avg_pool2d to the input size
    pixel_shuffle       <-> pixel_unshuffle, same factor
    linear              -> linear, features reversed (bias kept)
    flatten             <-> unflatten; reshape -> reshape to the input shape
    concat, add         -> cannot be mirrored (ArchError naming the layer)

Shape-preserving layers (norms, dropout, activations, identity) are copied to their mirror
position, and a run of them keeps its order: the run that follows an encoder layer comes
right after the inverse of the *next* encoder layer, so that every copied layer sees
exactly the tensor shape its encoder twin saw (a group_norm's groups always divide its
channels; a batch norm keeps its width). Encoder blocks conv -> bn -> relu become decoder
blocks convT -> bn -> relu (not relu -> bn -> convT); the decoder opens with the encoder's
last run (if the encoder ends with one) and ends with the inverse of the first layer, a
linear output, as autoencoders end (a layer run before the first shape change comes last).

>>> from convtool.graph import loads, mirror
>>> arch = loads('''
... input: [1, 1, 28, 28]
... encoder:
...   - {type: conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
...   - {type: relu}
...   - {type: max_pool2d, kernel_size: 2}
... ''')
>>> m = mirror(arch)
>>> m.latent, m.restores
((1, 16, 7, 7), (1, 1, 28, 28))
>>> [(layer["type"], layer.get("output_padding")) for layer in m.layers]
[('conv_transpose2d', 0), ('relu', None), ('conv_transpose2d', 1)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ArchError, MismatchError, NoInverse
from ..layers import KINDS
from ..params import Shape
from ..text import escape_controls, fmt_shape, fmt_spatial, yaml_value
from .model import Arch, LayerSpec
from .propagate import LayerResult, Propagation, walk
from .yaml import plain_value

Layer = dict[str, Any]  # one layer as an architecture file writes it: {"type": ..., options}


@dataclass(frozen=True)
class Mirrored:
    """An encoder on one input and the decoder that restores that input exactly.

    `layers` are the decoder's layers in the file schema (explicit channels and
    output_padding), `sources` the index of the encoder layer each one mirrors or copies,
    `decoder` their propagation from the encoder's output.
    """

    arch: Arch
    encoder: Propagation
    layers: tuple[Layer, ...]
    sources: tuple[int, ...]
    decoder: Propagation

    @property
    def input(self) -> Shape:
        return self.encoder.input

    @property
    def latent(self) -> Shape:
        """The encoder's output: the decoder's input."""
        return self.encoder.output

    @property
    def restores(self) -> Shape:
        return self.decoder.output

    def to_dict(self) -> dict[str, Any]:
        """`invert ARCH.yaml --json` (docs/json.md)."""
        return {"input": list(self.input), "decoder": [dict(layer) for layer in self.layers],
                "restores": list(self.restores)}

    def to_yaml(self) -> str:
        """The decoder as an architecture file that runs on its own (input: the encoder's
        output); its `layers:` list pastes under `decoder:` after the encoder.

        >>> from convtool.graph import loads, mirror
        >>> arch = loads("input: [1, 3, 9, 9]\\nlayers: [{type: conv2d, out_channels: 4, kernel_size: 3, stride: 2}]")
        >>> print(mirror(arch).to_yaml())  # doctest: +ELLIPSIS
        # Decoder mirrored from the encoder of <string> by `convtool invert`:
        ...
        input: [1, 4, 4, 4]
        layers:
          - {type: conv_transpose2d, in_channels: 4, out_channels: 3, kernel_size: 3, stride: 2, padding: 0, output_padding: 0, dilation: 1, groups: 1, bias: true}  # mirrors layer 0 (conv2d): 4x4 -> 9x9
        """
        lines = [
            f"# Decoder mirrored from the encoder of {escape_controls(self.arch.file)} by `convtool invert`:",
            f"# it takes the encoder's output {fmt_shape(self.latent)} back to its input {fmt_shape(self.restores)}.",
            "# The output_paddings are worked out for that input; another input size may need others",
            "# (mirror again with --input-shape). Run this file as it is, or paste its layers under",
            "# `decoder:` after the encoder.",
        ]
        if self.arch.name:
            lines.append(f"name: {yaml_value(self.arch.name + ' (mirrored decoder)')}")
        lines += [f"input: {yaml_value(list(self.latent))}", "layers:"]
        for layer, source, result in zip(self.layers, self.sources, self.decoder.layers):
            twin = self.encoder.layers[source]
            verb = "copies" if KINDS[layer["type"]].copy_in_mirror else "mirrors"
            name = f" '{escape_controls(twin.name)}'" if twin.name else ""
            lines.append(
                f"  - {yaml_value(layer)}  # {verb} layer {twin.index}{name} ({twin.type}): "
                f"{fmt_spatial(result.input)} -> {fmt_spatial(result.output)}"
            )
        return "\n".join(lines)


def encoder_of(arch: Arch) -> Arch:
    """The part of `arch` that is mirrored: its `encoder:` section, or its `layers:`."""
    specs = tuple(s for s in arch.layers if s.section == "encoder") if "encoder" in arch.sections else arch.layers
    return Arch(arch.name, arch.input, specs, arch.file, ("encoder",) if arch.sections else (), uses=arch.uses,
                inputs=arch.inputs)


def decoder_for(arch: Arch, x: Shape) -> Mirrored:
    """The decoder that restores input `x` of `arch`'s encoder exactly (StackMismatch when
    the encoder itself does not line up for `x`).

    >>> from convtool.graph import loads
    >>> m = decoder_for(loads("input: [1, 3, 10, 10]\\nlayers: [{type: max_pool2d, kernel_size: 3}]"), (1, 3, 10, 10))
    >>> m.layers[0]["kernel_size"], m.layers[0]["stride"], m.layers[0]["output_padding"], m.restores
    (3, 3, 1, (1, 3, 10, 10))
    """
    encoder_arch = encoder_of(arch)
    specs = encoder_arch.layers
    for spec in specs:
        if spec.source is not None:
            raise _cannot(arch, spec, f"it reads '{spec.source}', not the layer before it: only a chain can be mirrored")
    encoder = walk(encoder_arch, x, receptive_field=False)
    layers: list[Layer] = []
    sources: list[int] = []
    heads = [i for i, r in enumerate(encoder.layers) if not KINDS[r.type].copy_in_mirror]
    # the run of copied layers after head h (or before the first head: start -1)
    bounds = [-1, *heads, len(encoder.layers)]
    runs = {start: list(range(start + 1, stop)) for start, stop in zip(bounds, bounds[1:])}
    for head in [*reversed(heads), -1]:
        for i in runs[head]:
            layers.append(_copy(specs[i], encoder.layers[i]))
            sources.append(i)
        if head >= 0:
            for layer in _inverse(arch, specs[head], encoder.layers[head]):
                layers.append(layer)
                sources.append(head)
    decoder = walk(Arch(arch.name, encoder.output, _specs(layers, 0, None, arch), arch.file), encoder.output,
                   receptive_field=False)
    if decoder.output != x:  # every inverse is checked by the shape engine: a bug, never a user error
        raise AssertionError(f"the mirrored decoder gives {decoder.output}, not {x}")
    return Mirrored(arch, encoder, tuple(layers), tuple(sources), decoder)


def expand(arch: Arch, input_shape: Shape) -> Arch:
    """`decoder: {mirror: encoder}` written out for this input: the encoder's layers, then
    the mirrored decoder's (section 'decoder', pointing at the `mirror:` line).

    An encoder that does not line up for this input has no decoder: its layers alone come
    back, so that propagating them stops, and is diagnosed, at the failing layer.
    """
    encoder = tuple(s for s in arch.layers if s.section == "encoder")
    try:
        m = decoder_for(arch, input_shape)
    except MismatchError:
        return Arch(arch.name, arch.input, encoder, arch.file, ("encoder",), uses=arch.uses, inputs=arch.inputs)
    decoder = _specs(m.layers, len(encoder), "decoder", arch)
    return Arch(arch.name, arch.input, encoder + decoder, arch.file, ("encoder", "decoder"), uses=arch.uses,
                inputs=arch.inputs)


# -- the inverse of one layer ---------------------------------------------------------------


def _inverse(arch: Arch, spec: LayerSpec, result: LayerResult) -> list[Layer]:
    """The layer kind's own inverse, or the reason it has none, located in the file."""
    try:
        return KINDS[spec.type].inverse(result.applied, result.input, result.output)
    except NoInverse as error:
        raise _cannot(arch, spec, error.message, error.hint) from None


def _copy(spec: LayerSpec, result: LayerResult) -> Layer:
    """A shape-preserving layer as written (parsed values), its channel count explicit."""
    layer: Layer = {"type": spec.type}
    channel_key = KINDS[spec.type].channel_key
    for key in spec.options:
        if key != channel_key:
            layer[key] = plain_value(spec.config[key])
    if channel_key is not None:
        layer[channel_key] = result.input[1]
    return layer


def _specs(layers: Sequence[Layer], start: int, section: str | None, arch: Arch) -> tuple[LayerSpec, ...]:
    where = arch.mirrored_from
    line, column = (where.line, where.column) if where is not None else (None, None)
    specs = []
    for offset, layer in enumerate(layers):
        options = {k: v for k, v in layer.items() if k != "type"}
        kind = KINDS[layer["type"]]
        specs.append(LayerSpec(
            index=start + offset, name=None, type=kind.name, section=section, config=kind.parse(options),
            options=options, line=line, column=column,
        ))
    return tuple(specs)


def _cannot(arch: Arch, spec: LayerSpec, reason: str, hint: str | None = None) -> ArchError:
    where = f"{arch.file}:{spec.line}:{spec.column}: " if spec.line else f"{arch.file}: "
    return ArchError(
        f"{where}{spec.label} cannot be mirrored: {reason}",
        hint=hint or "write the decoder's layers out instead of `decoder: {mirror: encoder}`",
        file=arch.file, line=spec.line, column=spec.column, layer_index=spec.index, layer_name=spec.name,
        key="type",
    )


