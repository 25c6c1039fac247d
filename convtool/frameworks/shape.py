"""One framework's layer worked out for one input: its output, crop, code, weight and bias
shapes in its layout, and PyTorch's exact equivalent beside it."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConvtoolError
from . import get
from .base import Layer, Result, Spatial


@dataclass(frozen=True)
class FrameworkShape:
    """What `convtool shape` shows for a layer of another framework."""

    result: Result
    code: str
    weight_shape: tuple[int, ...] | None
    bias_shape: tuple[int, ...] | None
    batch: int | None
    torch_code: str | None
    torch_after: str | None
    torch_reason: str | None  # why there is no PyTorch equivalent
    warnings: tuple[str, ...]

    @property
    def framework(self) -> str:
        return self.result.layer.framework


def analyze(layer: Layer, spatial: Spatial, *, batch: int | None = None,
            output_size: Spatial | None = None) -> FrameworkShape:
    """Apply the layer with its framework's rule and checks, and find PyTorch's equivalent.

    >>> from convtool.frameworks.paste import read
    >>> s = analyze(read("layers.Conv2DTranspose(6, 4, strides=2, padding='same')"), (5, 5))
    >>> s.result.output, s.torch_code, s.torch_after
    ((10, 10), 'nn.ConvTranspose2d(in_channels, 6, kernel_size=4, stride=2, padding=1)', None)
    """
    from .port import port

    framework = get(layer.framework)
    warnings: list[str] = []
    if output_size is not None:
        chooser = getattr(framework, "output_padding_for", None)
        if chooser is None:
            raise ConvtoolError(f"--output-size applies to PyTorch and R torch layers; {framework.title} "
                                "takes its size from its own arguments (e.g. --output-shape for tf and onnx)")
        padding, said = chooser(layer, spatial, output_size)
        layer = layer.replace(output_padding=padding)
        warnings += said
    result = framework.apply(layer, spatial)
    warnings += result.warnings
    torch_code = torch_after = reason = None
    g = layer.groups
    try:
        answer = port(layer, spatial, "torch", in_channels=layer.in_channels or g, out_channels=layer.out_channels or g,
                      check=False)  # the shape path stays numpy-free; `port` and the tests check it
    except ConvtoolError as error:
        reason = error.message
    else:
        shown = answer.target.layer.replace(in_channels=layer.in_channels, out_channels=layer.out_channels, options={})
        torch_code = get("torch").code(shown)
        torch_after = answer.after.render() if answer.after else None
    return FrameworkShape(
        result=result, code=framework.code(layer, spatial), weight_shape=framework.weight_shape(layer),
        bias_shape=framework.bias_shape(layer), batch=batch, torch_code=torch_code, torch_after=torch_after,
        torch_reason=reason, warnings=tuple(warnings),
    )
