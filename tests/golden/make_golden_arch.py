"""Golden per-layer results of every file in configs/, from PyTorch's own forward pass.

Builds the torch model straight from the YAML (its own reading of the file, independent of
convtool's loader: channels come from running the real tensor), runs forward with hooks,
and records per layer the output shape, the parameter count and the MACs
(torch.utils.flop_counter.FlopCounterMode FLOPs / 2). A stack that does not line up is
recorded up to the layer where torch raises, with torch's message.

    python tests/golden/make_golden_arch.py          # rewrites tests/golden/arch_*.json

Needs torch; the tests read the JSON files and run without it (and compare live when it
is installed, importing `golden_for` from this file).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
GOLDEN = Path(__file__).resolve().parent

SNAKE = {
    "conv2d": "Conv2d", "conv_transpose2d": "ConvTranspose2d", "max_pool2d": "MaxPool2d",
    "avg_pool2d": "AvgPool2d", "adaptive_avg_pool2d": "AdaptiveAvgPool2d", "upsample": "Upsample",
    "pixel_shuffle": "PixelShuffle", "pixel_unshuffle": "PixelUnshuffle", "linear": "Linear",
    "flatten": "Flatten", "unflatten": "Unflatten", "batch_norm2d": "BatchNorm2d",
    "batch_norm1d": "BatchNorm1d", "instance_norm2d": "InstanceNorm2d", "group_norm": "GroupNorm",
    "dropout": "Dropout", "relu": "ReLU", "leaky_relu": "LeakyReLU", "gelu": "GELU", "silu": "SiLU",
    "sigmoid": "Sigmoid", "tanh": "Tanh", "identity": "Identity",
}


class Join(nn.Module):
    """concat (current first, then the skips, center-cropped on request) or add."""

    def __init__(self, op: str, names: list[str], crop: str | None) -> None:
        super().__init__()
        self.op, self.names, self.crop = op, names, crop

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        parts = []
        for s in skips:
            if self.crop == "center":
                h, w = x.shape[-2:]
                top, left = (s.shape[-2] - h) // 2, (s.shape[-1] - w) // 2
                s = s[..., top : top + h, left : left + w]
            parts.append(s)
        if self.op == "concat":
            return torch.cat([x, *parts], dim=1)
        for s in parts:
            x = x + s
        return x


class Reshape(nn.Module):
    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)


class TransposeTo(nn.Module):
    """ConvTranspose2d called with forward(x, output_size=...)."""

    def __init__(self, conv: nn.ConvTranspose2d, output_size: list[int]) -> None:
        super().__init__()
        self.conv, self.output_size = conv, output_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x, output_size=self.output_size)


def make_layer(spec: dict[str, Any], x: torch.Tensor) -> nn.Module:
    """One torch module for one YAML layer, given the tensor that reaches it."""
    spec = {k: tuple(v) if isinstance(v, list) and k != "with" else v for k, v in spec.items()}
    type_ = spec.pop("type")
    spec.pop("name", None)
    cls = SNAKE.get(type_, type_)
    if cls in ("concat", "cat", "add"):
        names = list(spec["with"]) if isinstance(spec["with"], list) else [spec["with"]]
        return Join("add" if cls == "add" else "concat", names, spec.get("crop"))
    if cls == "reshape":
        return Reshape(spec["shape"])
    c = x.shape[1]
    if cls in ("Conv2d", "ConvTranspose2d"):
        spec.pop("in_channels", None)
        output_size = spec.pop("output_size", None)
        module = getattr(nn, cls)(c, **spec)
        return TransposeTo(module, output_size) if output_size is not None else module
    if cls in ("BatchNorm2d", "BatchNorm1d", "InstanceNorm2d"):
        spec.pop("num_features", None)
        return getattr(nn, cls)(c, **spec)
    if cls == "GroupNorm":
        spec.pop("num_channels", None)
        return nn.GroupNorm(spec.pop("num_groups"), c, **spec)
    if cls == "Linear":
        spec.pop("in_features", None)
        return nn.Linear(x.shape[-1], **spec)
    if cls == "Unflatten":
        return nn.Unflatten(spec.get("dim", 1), spec["shape"])
    return getattr(nn, cls)(**spec)


class Stack(nn.Module):
    """The layers in order; Join layers read the outputs of earlier named layers."""

    def __init__(self, layers: list[nn.Module], names: list[str | None]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.names = names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        saved: dict[str, torch.Tensor] = {}
        for layer, name in zip(self.layers, self.names):
            if isinstance(layer, Join):
                x = layer(x, [saved[n] for n in layer.names])
            else:
                x = layer(x)
            if name:
                saved[name] = x
        return x


def read(path: Path) -> tuple[list[int], list[dict[str, Any]]]:
    doc = yaml.safe_load(path.read_text())
    decoder = doc.get("decoder", [])
    if isinstance(decoder, dict):  # {mirror: encoder}: built by mirror() once the encoder ran
        decoder = [{"type": "mirror"}]
    layers = doc.get("layers") or [*doc.get("encoder", []), *decoder]
    return doc["input"], layers


COPIED = {"batch_norm2d", "BatchNorm2d", "relu", "ReLU", "leaky_relu", "LeakyReLU", "dropout", "Dropout",
          "sigmoid", "tanh", "identity", "group_norm", "instance_norm2d", "gelu", "silu"}


def mirror(specs: list[dict[str, Any]], built: list[nn.Module], inputs: list[torch.Size]) -> list[tuple[dict[str, Any], Any]]:
    """The decoder of `decoder: {mirror: encoder}`, independently of convtool:
    every conv2d/pool becomes a ConvTranspose2d called with forward(x, output_size=the
    encoder layer's input size), so that torch itself picks the output_padding; runs of
    shape-preserving layers go to their mirror position in their own order (convtool.graph.mirror).
    Returns (spec, maker) pairs: maker(x) builds the module for the tensor x."""
    heads = [i for i, spec in enumerate(specs) if spec["type"] not in COPIED]
    bounds = [-1, *heads, len(specs)]
    runs = {start: list(range(start + 1, stop)) for start, stop in zip(bounds, bounds[1:])}
    plan: list[tuple[dict[str, Any], Any]] = []
    for head in [*reversed(heads), -1]:
        for i in runs[head]:
            plan.append((specs[i], lambda x, spec=specs[i]: make_layer(spec, x)))
        if head < 0:
            continue
        m, size = built[head], list(inputs[head][-2:])
        if isinstance(m, nn.Conv2d):
            up = nn.ConvTranspose2d(m.out_channels, m.in_channels, m.kernel_size, m.stride, m.padding,
                                    groups=m.groups, bias=m.bias is not None, dilation=m.dilation)
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            c = inputs[head][1]
            up = nn.ConvTranspose2d(c, c, m.kernel_size, m.stride, m.padding, dilation=getattr(m, "dilation", 1))
        else:
            raise NotImplementedError(f"mirroring {type(m).__name__} in the golden script")
        plan.append(({"type": "mirrored"}, lambda x, up=up, size=size: TransposeTo(up, size)))
    return plan


def build(path: Path, device: str = "cpu") -> tuple[Stack, torch.Tensor, dict[str, Any] | None]:
    """The model, its input, and where torch failed (None when the stack runs)."""
    shape, specs = read(path)
    torch.manual_seed(0)
    x = torch.zeros(shape, device=device)
    layers: list[nn.Module] = []
    names: list[str | None] = []
    saved: dict[str, torch.Tensor] = {}
    failure = None
    inputs: list[torch.Size] = []
    with torch.no_grad():
        plan: list[tuple[dict[str, Any], Any]] = [(spec, lambda x, spec=spec: make_layer(spec, x)) for spec in specs]
        index = 0
        while index < len(plan):
            spec, maker = plan[index]
            if spec["type"] == "mirror":
                plan[index:] = mirror(specs[:index], layers, inputs)
                continue
            try:
                layer = maker(x).to(device).eval()
                y = layer(x, [saved[n] for n in layer.names]) if isinstance(layer, Join) else layer(x)
            except Exception as error:  # the stack does not line up here
                failure = {"index": index, "message": str(error).splitlines()[0]}
                break
            layers.append(layer)
            inputs.append(x.shape)
            names.append(spec.get("name"))
            x = y
            if spec.get("name"):
                saved[spec["name"]] = x
            index += 1
    return Stack(layers, names).eval(), torch.zeros(shape, device=device), failure


def golden_for(path: Path, device: str = "cpu") -> dict[str, Any]:
    """Per-layer output shape, params and MACs from torch's forward pass."""
    model, x, failure = build(path, device)
    shapes: dict[int, list[int]] = {}
    for i, layer in enumerate(model.layers):
        layer.register_forward_hook(lambda m, a, out, i=i: shapes.__setitem__(i, list(out.shape)))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    flops = counter.get_flop_counts()
    layers = []
    for i, layer in enumerate(model.layers):
        per_op = flops.get(f"Stack.layers.{i}", {})
        total = sum(per_op.values())
        layers.append(
            {
                "index": i,
                "output": shapes[i],
                "param_count": sum(p.numel() for p in layer.parameters()),
                "macs": total // 2,
            }
        )
    return {
        "config": path.name,
        "torch": torch.__version__,
        "input": list(x.shape),
        "layers": layers,
        "failure": failure,
    }


def main() -> None:
    written = {p.stem for p in (GOLDEN / "networks").glob("*.json")}  # make_golden_networks.py's
    for path in sorted(p for p in CONFIGS.glob("*.yaml") if p.stem not in written):
        doc = golden_for(path)
        out = GOLDEN / f"arch_{path.stem}.json"
        out.write_text(json.dumps(doc, indent=1) + "\n")
        status = f"fails at layer {doc['failure']['index']}" if doc["failure"] else "ok"
        print(f"{out.relative_to(ROOT)}: {len(doc['layers'])} layers, {status}", file=sys.stderr)


if __name__ == "__main__":
    main()
