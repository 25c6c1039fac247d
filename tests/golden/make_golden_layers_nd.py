"""Golden results of layer kinds in 1, 2 and 3 spatial dims, from PyTorch itself: per case the
output shape, the parameter count and the MACs (FlopCounterMode FLOPs / 2), or the first line
of the message PyTorch raises.

    python tests/golden/make_golden_layers_nd.py     # rewrites tests/golden/layers_nd.json

Needs torch; tests/test_layers_nd.py reads the JSON (and, with torch installed, builds each
module here with `make_module` to compare values too). A case is (type, options as YAML, input
shape); a module is built from the type's PyTorch class (snake_case -> CamelCase), its channel
argument taken from the input, `output_size` passed to forward as PyTorch takes it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

HERE = Path(__file__).resolve().parent
OUT = HERE / "layers_nd.json"

CASES: list[tuple[str, str, tuple[int, ...]]] = [
    # convolutions
    ("conv1d", "{out_channels: 8, kernel_size: 5, stride: 2, padding: 2}", (2, 4, 31)),
    ("conv1d", "{out_channels: 6, kernel_size: 3, padding: same, dilation: 3, groups: 2, bias: false}", (1, 4, 20)),
    ("conv1d", "{out_channels: 4, kernel_size: 4, padding: valid, padding_mode: reflect}", (1, 3, 9)),
    ("conv1d", "{out_channels: 4, kernel_size: 3, padding: 2, padding_mode: circular}", (1, 3, 9)),
    ("conv1d", "{out_channels: 4, kernel_size: 2, padding: same}", (1, 3, 9)),
    ("conv3d", "{out_channels: 8, kernel_size: 3, stride: 2, padding: 1}", (1, 4, 9, 10, 11)),
    ("conv3d", "{out_channels: 6, kernel_size: [1, 3, 3], padding: [0, 1, 1], groups: 3}", (2, 3, 4, 6, 6)),
    ("conv3d", "{out_channels: 4, kernel_size: 3, padding: same, padding_mode: replicate}", (1, 2, 5, 6, 7)),
    ("conv_transpose1d", "{out_channels: 256, kernel_size: 16, stride: 8, padding: 4}", (1, 512, 12)),
    ("conv_transpose1d", "{out_channels: 4, kernel_size: 3, stride: 2, padding: 1, output_padding: 1, groups: 2}", (2, 6, 7)),
    ("conv_transpose1d", "{out_channels: 4, kernel_size: 3, stride: 1, dilation: 3, output_padding: 2}", (1, 2, 5)),
    ("conv_transpose1d", "{out_channels: 4, kernel_size: 4, stride: 3, padding: 1, output_size: [15]}", (1, 2, 5)),
    ("conv_transpose3d", "{out_channels: 4, kernel_size: 2, stride: 2}", (1, 8, 3, 4, 5)),
    ("conv_transpose3d", "{out_channels: 4, kernel_size: [3, 3, 1], stride: [2, 2, 1], padding: [1, 1, 0], "
                         "output_size: [1, 4, 6, 7, 5]}", (1, 2, 3, 4, 5)),
    ("conv_transpose3d", "{out_channels: 6, kernel_size: 3, stride: 2, groups: 3, bias: false}", (2, 3, 2, 3, 2)),
    # pooling
    ("max_pool1d", "{kernel_size: 3, stride: 2, padding: 1}", (2, 3, 10)),
    ("max_pool1d", "{kernel_size: 2, dilation: 2, ceil_mode: true}", (1, 2, 9)),
    ("max_pool1d", "{kernel_size: 4, stride: 3}", (1, 2, 12)),
    ("max_pool3d", "{kernel_size: 2}", (1, 2, 5, 6, 7)),
    ("max_pool3d", "{kernel_size: [1, 3, 3], stride: [1, 2, 2], padding: [0, 1, 1], ceil_mode: true}", (1, 2, 3, 8, 9)),
    ("max_pool3d", "{kernel_size: 3, stride: 1, dilation: 2}", (1, 1, 6, 7, 8)),
    ("avg_pool1d", "{kernel_size: 3, stride: 2, padding: 1, count_include_pad: false}", (1, 3, 10)),
    ("avg_pool1d", "{kernel_size: 4, ceil_mode: true}", (1, 2, 10)),
    ("avg_pool3d", "{kernel_size: 2}", (1, 2, 4, 5, 6)),
    ("avg_pool3d", "{kernel_size: 3, stride: 2, padding: 1, count_include_pad: false, ceil_mode: true}", (1, 2, 5, 6, 7)),
    ("avg_pool3d", "{kernel_size: [2, 3, 3], padding: [0, 1, 1], stride: 2, divisor_override: 5}", (1, 1, 4, 6, 6)),
    ("adaptive_avg_pool1d", "{output_size: 4}", (1, 3, 10)),
    ("adaptive_avg_pool3d", "{output_size: [2, null, 3]}", (1, 3, 5, 4, 7)),
    ("adaptive_avg_pool3d", "{output_size: 1}", (2, 3, 4, 5, 6)),
    ("adaptive_max_pool1d", "{output_size: 3}", (1, 2, 10)),
    ("adaptive_max_pool2d", "{output_size: [3, 4]}", (1, 2, 7, 10)),
    ("adaptive_max_pool2d", "{output_size: [null, 2]}", (1, 2, 5, 5)),
    ("adaptive_max_pool3d", "{output_size: [2, 3, 2]}", (1, 2, 5, 7, 4)),
    # normalisation
    ("batch_norm1d", "{}", (2, 4, 7)),
    ("batch_norm3d", "{}", (2, 3, 2, 3, 4)),
    ("batch_norm3d", "{affine: false, eps: 0.001}", (2, 3, 2, 3, 4)),
    ("instance_norm1d", "{}", (2, 4, 7)),
    ("instance_norm1d", "{affine: true}", (2, 4, 7)),
    ("instance_norm3d", "{}", (2, 3, 2, 3, 4)),
    ("instance_norm3d", "{affine: true, track_running_stats: true}", (2, 3, 2, 3, 4)),
    # resampling
    ("upsample", "{scale_factor: 2}", (1, 2, 5)),
    ("upsample", "{scale_factor: 2.5, mode: linear}", (1, 2, 5)),
    ("upsample", "{size: 9, mode: linear, align_corners: true}", (1, 2, 5)),
    ("upsample", "{scale_factor: 1.5, mode: nearest-exact}", (1, 2, 7)),
    ("upsample", "{size: 3, mode: area}", (1, 2, 10)),
    ("upsample", "{scale_factor: 2, mode: trilinear}", (1, 2, 3, 4, 5)),
    ("upsample", "{scale_factor: [1, 2, 3], mode: trilinear, align_corners: true}", (1, 1, 3, 4, 2)),
    ("upsample", "{size: [5, 7, 9], mode: nearest}", (1, 2, 3, 4, 5)),
    ("upsample", "{scale_factor: 0.5, mode: area}", (1, 2, 4, 6, 7)),
    ("upsample", "{scale_factor: 1.7, mode: nearest-exact}", (1, 1, 3, 4, 5)),
    ("upsample", "{scale_factor: 2, mode: bicubic}", (1, 2, 4, 5)),
    ("upsample", "{size: [7, 3], mode: bicubic, align_corners: true}", (1, 2, 4, 5)),
    ("upsample", "{scale_factor: 0.6, mode: bicubic}", (1, 1, 8, 9)),
    ("upsample", "{scale_factor: 1.5, mode: nearest-exact}", (1, 2, 5, 4)),
    ("upsample", "{size: [3, 4], mode: area}", (1, 2, 7, 10)),
    # padding
    ("reflection_pad1d", "{padding: [2, 3]}", (1, 2, 6)),
    ("reflection_pad2d", "{padding: 2}", (1, 2, 4, 5)),
    ("reflection_pad3d", "{padding: [1, 0, 2, 1, 0, 1]}", (1, 2, 3, 4, 5)),
    ("replication_pad1d", "{padding: 3}", (1, 2, 4)),
    ("replication_pad2d", "{padding: [1, 2, 3, 0]}", (1, 2, 4, 5)),
    ("replication_pad3d", "{padding: 2}", (1, 1, 2, 3, 4)),
    ("zero_pad1d", "{padding: [1, 4]}", (1, 2, 3)),
    ("zero_pad2d", "{padding: [1, -1, 2, 0]}", (1, 2, 4, 5)),
    ("zero_pad3d", "{padding: 1}", (1, 1, 2, 3, 4)),
    ("constant_pad1d", "{padding: 2, value: 1.5}", (1, 2, 3)),
    ("constant_pad2d", "{padding: [0, 1, 2, 3], value: -2}", (1, 2, 4, 5)),
    ("constant_pad3d", "{padding: [1, 1, 0, 0, 2, 2], value: 0.5}", (1, 1, 2, 3, 4)),
    ("circular_pad1d", "{padding: [2, 1]}", (1, 2, 4)),
    ("circular_pad2d", "{padding: 1}", (1, 2, 3, 4)),
    ("circular_pad3d", "{padding: [1, 0, 0, 1, 1, 1]}", (1, 1, 2, 3, 4)),
    # PyTorch's refusals
    ("max_pool1d", "{kernel_size: 7}", (1, 4, 5)),
    ("max_pool1d", "{kernel_size: 3, stride: 1}", (1, 4, 1)),
    ("max_pool1d", "{kernel_size: 3, padding: 2}", (1, 4, 5)),
    ("max_pool3d", "{kernel_size: 7}", (1, 4, 5, 5, 5)),
    ("max_pool3d", "{kernel_size: 3, padding: 2}", (1, 4, 5, 5, 5)),
    ("avg_pool1d", "{kernel_size: 7}", (1, 4, 5)),
    ("avg_pool1d", "{kernel_size: 3, padding: 2}", (1, 4, 5)),
    ("avg_pool3d", "{kernel_size: 7}", (1, 4, 5, 5, 5)),
    ("avg_pool3d", "{kernel_size: [3, 2, 2], padding: [1, 0, 0], stride: [3, 1, 1]}", (1, 4, 1, 3, 3)),
    ("avg_pool3d", "{kernel_size: 3, padding: 2}", (1, 4, 5, 5, 5)),
    ("conv1d", "{out_channels: 4, kernel_size: 3}", (1, 4, 5, 5, 5)),
    ("conv1d", "{out_channels: 4, kernel_size: 7}", (1, 4, 5)),
    ("conv3d", "{out_channels: 4, kernel_size: 7}", (1, 4, 5, 5, 5)),
    ("conv_transpose1d", "{out_channels: 4, kernel_size: 3}", (1, 4, 5, 5)),
    ("conv_transpose1d", "{out_channels: 4, kernel_size: 3, padding: 3}", (1, 2, 2)),
    ("conv_transpose3d", "{out_channels: 4, kernel_size: 3, padding: 3}", (1, 2, 2, 2, 2)),
    ("conv_transpose1d", "{out_channels: 4, kernel_size: 3, stride: 2, output_size: [14]}", (1, 2, 6)),
    ("conv_transpose3d", "{out_channels: 4, kernel_size: 3, stride: 2, output_size: [14, 13, 12]}", (1, 2, 6, 6, 6)),
    ("batch_norm3d", "{}", (1, 4, 5, 5)),
    ("batch_norm1d", "{}", (1, 4, 5, 5)),
    ("instance_norm1d", "{}", (1, 4, 5, 5)),
    ("instance_norm3d", "{}", (1, 4, 5, 5, 5, 5)),
    ("upsample", "{scale_factor: 2, mode: bilinear}", (1, 2, 5)),
    ("upsample", "{scale_factor: 2, mode: linear}", (1, 2, 5, 5)),
    ("upsample", "{scale_factor: 2, mode: trilinear}", (1, 2, 5, 5)),
    ("upsample", "{scale_factor: 2, mode: linear}", (1, 2, 5, 5, 5)),
    ("upsample", "{scale_factor: 2, mode: bilinear}", (1, 2, 5, 5, 5)),
    ("upsample", "{scale_factor: 2, mode: trilinear}", (1, 2, 5)),
    ("upsample", "{scale_factor: 2, mode: bicubic}", (1, 2, 5, 5, 5)),
    ("upsample", "{scale_factor: 2, mode: bicubic}", (1, 2, 5)),
    ("upsample", "{scale_factor: 2}", (1, 2, 5, 5, 5, 5)),
    ("upsample", "{size: [3, 4, 5]}", (1, 2, 5, 5)),
    ("upsample", "{scale_factor: [3, 4, 5]}", (1, 2, 5, 5)),
    ("upsample", "{scale_factor: 0.1}", (1, 2, 5)),
    ("upsample", "{scale_factor: 0.1, mode: trilinear}", (1, 2, 5, 5, 5)),
    ("reflection_pad1d", "{padding: 5}", (1, 2, 5)),
    ("reflection_pad3d", "{padding: 5}", (1, 2, 5, 5, 5)),
    ("circular_pad1d", "{padding: 5}", (1, 2, 4)),
]


# max_unpool reads the indices of a max pool: (dims, the pool's options, the unpool's options, input)
UNPOOL_CASES: list[tuple[int, str, str, tuple[int, ...]]] = [
    (1, "{kernel_size: 2}", "{kernel_size: 2}", (1, 2, 9)),
    (1, "{kernel_size: 3, stride: 2, padding: 1}", "{kernel_size: 3, stride: 2, padding: 1, output_size: [10]}", (2, 3, 10)),
    (1, "{kernel_size: 2}", "{kernel_size: 2, output_size: [11]}", (1, 1, 9)),
    (2, "{kernel_size: 2}", "{kernel_size: 2, output_size: [1, 2, 5, 7]}", (1, 2, 5, 7)),
    (2, "{kernel_size: [2, 3], stride: [2, 1]}", "{kernel_size: [2, 3], stride: [2, 1]}", (1, 1, 6, 6)),
    (3, "{kernel_size: 2}", "{kernel_size: 2}", (1, 2, 4, 6, 5)),
    (3, "{kernel_size: 2}", "{kernel_size: 2, output_size: [5, 6, 5]}", (1, 2, 5, 6, 5)),
    (3, "{kernel_size: [1, 2, 2], stride: [1, 2, 2]}", "{kernel_size: [1, 2, 2], output_size: [3, 7, 7]}", (1, 1, 3, 7, 7)),
]


def unpooled(dims: int, pool: str, unpool: str, x: torch.Tensor) -> torch.Tensor:
    """MaxUnpool{dims}d of MaxPool{dims}d(return_indices=True) of x."""
    spec = {k: tuple(v) if isinstance(v, list) else v for k, v in yaml.safe_load(unpool).items()}
    output_size = spec.pop("output_size", None)
    y, indices = getattr(nn, f"MaxPool{dims}d")(**yaml.safe_load(pool), return_indices=True)(x)
    return getattr(nn, f"MaxUnpool{dims}d")(**spec)(y, indices, output_size=output_size)


def camel(name: str) -> str:
    """`conv_transpose1d` -> `ConvTranspose1d`, `adaptive_avg_pool3d` -> `AdaptiveAvgPool3d`."""
    return "".join(word[:1].upper() + word[1:] for word in name.split("_"))


class CalledWith(nn.Module):
    """A module called with forward(x, output_size=...), as a transposed convolution takes it."""

    def __init__(self, module: nn.Module, output_size: tuple[int, ...]) -> None:
        super().__init__()
        self.module, self.output_size = module, output_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x, output_size=self.output_size)


def make_module(type_: str, options: str, x: torch.Tensor) -> nn.Module:
    """The PyTorch module of one case, for the tensor x that reaches it."""
    # lists as PyTorch's modules take them: a tuple, but an upsample's size as F.interpolate's list
    spec = {k: v if not isinstance(v, list) or (type_, k) == ("upsample", "size") else tuple(v)
            for k, v in (yaml.safe_load(options) or {}).items()}
    cls = getattr(nn, camel(type_))
    if type_.startswith("conv"):
        output_size = spec.pop("output_size", None)
        module = cls(x.shape[1], **spec)
        return CalledWith(module, output_size) if output_size is not None else module
    if "norm" in type_:
        return cls(x.shape[1], **spec)
    if type_.startswith("constant_pad"):
        return cls(spec["padding"], spec["value"])
    return cls(**spec)


def measure(type_: str, options: str, shape: tuple[int, ...]) -> dict[str, Any]:
    """torch's output shape, parameters and MACs for one case, or its message."""
    x = torch.zeros(shape)
    try:
        module = make_module(type_, options, x).eval()
        with torch.no_grad():
            module(x)  # without the counter: under it some checks are skipped (an empty nearest upsample)
    except Exception as error:  # the case is one PyTorch refuses
        return {"error": str(error).splitlines()[0]}
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        y = module(x)
    return {"output": list(y.shape), "param_count": sum(p.numel() for p in module.parameters()),
            "macs": counter.get_total_flops() // 2}


def main() -> None:
    rows = [{"type": t, "options": o, "input": list(s), **measure(t, o, s)} for t, o, s in CASES]
    unpools = []
    for dims, pool, unpool, shape in UNPOOL_CASES:
        try:
            result = {"output": list(unpooled(dims, pool, unpool, torch.zeros(shape)).shape)}
        except Exception as error:  # the case is one PyTorch refuses
            result = {"error": str(error).splitlines()[0]}
        unpools.append({"dims": dims, "pool": pool, "unpool": unpool, "input": list(shape), **result})
    OUT.write_text(json.dumps({"torch": torch.__version__, "cases": rows, "unpool": unpools}, indent=1) + "\n")
    print(f"wrote {OUT} ({len(rows)} cases)")


if __name__ == "__main__":
    main()
