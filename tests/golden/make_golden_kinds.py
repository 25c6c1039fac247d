"""Golden results of the newer layer kinds (pointwise, concat `dim`, slice, attention,
embedding, lstm), from PyTorch's own modules and functions.

Each case is a layer as written in a file, the shape reaching it and, for merges, the other
tensors' shapes. PyTorch builds the layer from its own reading of the options (channels from
the tensor), runs it, and records the output shape, the parameter count and the MACs
(torch.utils.flop_counter.FlopCounterMode FLOPs / 2), or the message it raises.

    python tests/golden/make_golden_kinds.py          # rewrites tests/golden/kinds.json

Needs torch; the tests read the JSON file and run without it (and compare live when torch is
installed, importing `make_module` and `run` from this file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

GOLDEN = Path(__file__).resolve().parent

# id, type, options (YAML), input shape, other inputs' shapes (merges)
CASES: list[tuple[str, str, str, list[int], list[list[int]]]] = [
    ("prelu-one", "prelu", "{}", [2, 3, 7], []),
    ("prelu-channels-2d", "prelu", "{num_parameters: 4, init: 0.1}", [2, 4, 3, 5], []),
    ("prelu-channels-3d", "PReLU", "{num_parameters: 3}", [1, 3, 2, 3, 4], []),
    ("prelu-wrong-count", "prelu", "{num_parameters: 3}", [2, 4, 5], []),
    ("elu-1d", "elu", "{}", [2, 3, 9], []),
    ("elu-alpha-2d", "ELU", "{alpha: 0.5}", [2, 3, 4, 5], []),
    ("mish-2d", "mish", "{}", [2, 3, 4, 5], []),
    ("mish-3d", "Mish", "{}", [1, 2, 3, 4, 5], []),
    ("hardswish-1d", "hardswish", "{}", [2, 3, 11], []),
    ("hardswish-2d", "Hardswish", "{}", [2, 3, 4, 5], []),
    ("softplus-1d", "softplus", "{}", [2, 3, 9], []),
    ("softplus-beta-2d", "Softplus", "{beta: 2, threshold: 1}", [2, 3, 4, 5], []),
    ("softmax-channels", "softmax", "{dim: 1}", [2, 5, 4, 3], []),
    ("softmax-last-1d", "softmax", "{dim: -1}", [2, 3, 8], []),
    ("softmax-spatial-3d", "Softmax", "{dim: 3}", [1, 2, 3, 4, 5], []),
    ("softmax-implicit", "softmax", "{}", [2, 3, 4, 5], []),
    ("softmax-out-of-range", "softmax", "{dim: 4}", [2, 3, 5], []),
    ("scale-constant", "scale", "{factor: 0.5}", [2, 3, 4, 5], []),
    ("scale-scalar-1d", "scale", "{factor: 2, learnable: scalar}", [2, 3, 9], []),
    ("scale-channels-3d", "scale", "{factor: 1.5, learnable: channels}", [1, 4, 2, 3, 2], []),
    ("shift-constant-1d", "shift", "{value: -1}", [2, 3, 9], []),
    ("shift-scalar", "shift", "{value: 0.25, learnable: scalar}", [2, 3, 4, 5], []),
    ("shift-channels", "shift", "{value: 3, learnable: channels}", [2, 6, 4, 5], []),
    ("concat-channels", "concat", "{dim: 1}", [2, 3, 4, 5], [[2, 5, 4, 5]]),
    ("concat-height", "concat", "{dim: 2}", [2, 3, 4, 5], [[2, 3, 7, 5], [2, 3, 1, 5]]),
    ("concat-last-1d", "concat", "{dim: -1}", [2, 3, 4], [[2, 3, 6]]),
    ("concat-batch-3d", "cat", "{dim: 0}", [2, 3, 2, 3, 4], [[1, 3, 2, 3, 4]]),
    ("concat-mismatch", "concat", "{dim: 2}", [2, 3, 4, 5], [[2, 4, 4, 5]]),
    ("concat-mismatch-width", "concat", "{dim: 2}", [2, 3, 4, 5], [[2, 3, 4, 6]]),
    ("concat-rank", "concat", "{dim: 1}", [2, 3, 4, 5], [[2, 3, 4]]),
    ("concat-dim-range", "concat", "{dim: 4}", [2, 3, 4, 5], [[2, 3, 4, 5]]),
    ("slice-channels", "slice", "{start: 1, end: 3}", [2, 5, 4, 4], []),
    ("slice-negative", "slice", "{dim: -1, start: -3}", [2, 3, 4, 8], []),
    ("slice-step-1d", "slice", "{dim: 2, start: 1, step: 3}", [2, 3, 10], []),
    ("slice-end-negative-3d", "slice", "{dim: 3, end: -1, step: 2}", [1, 2, 3, 7, 4], []),
    ("slice-clamped", "slice", "{dim: 2, start: -20, end: 20}", [1, 2, 6, 6], []),
    ("slice-batch", "slice", "{dim: 0, end: 1}", [3, 2, 6], []),
    ("slice-dim-range", "slice", "{dim: 3}", [2, 3, 4], []),
    ("attention-self-2d", "attention", "{}", [2, 8, 4, 5], [[2, 8, 4, 5], [2, 8, 4, 5]]),
    ("attention-cross-1d", "attention", "{scale: 1}", [2, 6, 7], [[2, 6, 9], [2, 3, 9]]),
    ("attention-mixed", "attention", "{scale: 0.2}", [1, 4, 3, 5], [[1, 4, 6], [1, 5, 2, 3]]),
    ("attention-3d", "attention", "{}", [1, 3, 2, 2, 3], [[1, 3, 2, 2, 3], [1, 2, 2, 2, 3]]),
    ("attention-qk-channels", "attention", "{}", [2, 4, 5], [[2, 3, 7], [2, 6, 7]]),
    ("attention-kv-positions", "attention", "{}", [2, 4, 5], [[2, 4, 7], [2, 6, 8]]),
    ("attention-batch", "attention", "{}", [2, 4, 5], [[3, 4, 7], [3, 6, 7]]),
    ("embedding-tokens", "embedding", "{num_embeddings: 10, embedding_dim: 4}", [2, 7], []),
    ("embedding-classes", "Embedding", "{num_embeddings: 5, embedding_dim: 3, padding_idx: 0}", [3], []),
    ("embedding-grid", "embedding", "{num_embeddings: 6, embedding_dim: 2, padding_idx: -1}", [2, 3, 4], []),
    ("lstm-one", "lstm", "{hidden_size: 8}", [2, 5, 7], []),
    ("lstm-stack", "LSTM", "{hidden_size: 6, num_layers: 2, bias: false}", [2, 4, 5], []),
    ("lstm-bidirectional", "lstm", "{hidden_size: 5, bidirectional: true}", [3, 4, 6], []),
    ("lstm-proj", "lstm", "{hidden_size: 8, proj_size: 3, num_layers: 2, bidirectional: true}", [2, 4, 5], []),
    ("lstm-input-size", "lstm", "{input_size: 4, hidden_size: 8}", [2, 5, 7], []),
    ("lstm-rank", "lstm", "{hidden_size: 8}", [2, 5, 7, 7], []),
]

SNAKE = {"prelu": "PReLU", "elu": "ELU", "mish": "Mish", "hardswish": "Hardswish", "softplus": "Softplus",
         "softmax": "Softmax", "embedding": "Embedding", "lstm": "LSTM", "cat": "concat"}


class Constant(nn.Module):
    """x * factor or x + value: a constant, or a learnt scalar or per-channel parameter."""

    def __init__(self, op: str, amount: float, learnable: str | None, channels: int) -> None:
        super().__init__()
        self.op, self.amount, self.learnable = op, amount, learnable
        name = "weight" if op == "scale" else "bias"
        if learnable is not None:
            shape = (channels,) if learnable == "channels" else ()
            self.register_parameter(name, nn.Parameter(torch.full(shape, float(amount))))
        self.name = name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        amount: Any = self.amount
        if self.learnable is not None:
            amount = getattr(self, self.name)
            if self.learnable == "channels":
                amount = amount.reshape(-1, *[1] * (x.dim() - 2))
        return x * amount if self.op == "scale" else x + amount


class Merge(nn.Module):
    """concat along dim, or attention over flattened positions (q = the first input)."""

    def __init__(self, op: str, options: dict[str, Any]) -> None:
        super().__init__()
        self.op, self.options = op, options

    def forward(self, x: torch.Tensor, *others: torch.Tensor) -> torch.Tensor:
        if self.op == "concat":
            return torch.cat([x, *others], dim=self.options.get("dim", 1))
        k, v = others
        seq = [t.flatten(2).transpose(1, 2) for t in (x, k, v)]
        y = F.scaled_dot_product_attention(*seq, scale=self.options.get("scale"))
        return y.transpose(1, 2).reshape(x.shape[0], v.shape[1], *x.shape[2:])


class Part(nn.Module):
    """x[..., start:end:step] along dim."""

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__()
        self.dim = options.get("dim", 1)
        self.window = slice(options.get("start", 0), options.get("end"), options.get("step", 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x.size(self.dim)  # PyTorch's own check of the dim
        index: list[Any] = [slice(None)] * x.dim()
        index[self.dim] = self.window
        return x[tuple(index)]


class Recurrent(nn.Module):
    """nn.LSTM over (N, C, L): time along L."""

    def __init__(self, channels: int, options: dict[str, Any]) -> None:
        super().__init__()
        self.lstm = nn.LSTM(options.pop("input_size", channels), batch_first=True, **options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x.transpose(1, 2))[0].transpose(1, 2)


def make_module(type_: str, options: dict[str, Any], x: torch.Tensor) -> nn.Module:
    """The PyTorch module of one layer as written, given the tensor that reaches it."""
    options = dict(options)
    name = SNAKE.get(type_, type_)
    if name in ("scale", "shift"):
        amount = options["factor" if name == "scale" else "value"]
        return Constant(name, amount, options.get("learnable"), x.shape[1])
    if name in ("concat", "attention"):
        return Merge(name, options)
    if name == "slice":
        return Part(options)
    if name == "LSTM":
        return Recurrent(x.shape[1], options)
    return getattr(nn, name)(*[options.pop(k) for k in ("num_embeddings", "embedding_dim") if k in options], **options)


def example(type_: str, shape: list[int], generator: torch.Generator) -> torch.Tensor:
    """A float64 input, or indices for an embedding."""
    if type_.lower() == "embedding":
        return torch.randint(0, 3, shape, generator=generator)
    return torch.randn(shape, generator=generator, dtype=torch.float64)


def run(type_: str, options: str, shape: list[int], others: list[list[int]]) -> dict[str, Any]:
    """What PyTorch makes of one case: output shape, params and MACs, or its message."""
    generator = torch.Generator().manual_seed(0)
    x = example(type_, shape, generator)
    rest = [torch.randn(s, generator=generator, dtype=torch.float64) for s in others]
    try:
        module = make_module(type_, yaml.safe_load(options) or {}, x).double().eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            y = module(x, *rest)
    except (RuntimeError, ValueError, IndexError, AssertionError) as error:
        return {"error": str(error).splitlines()[0]}
    return {"output": list(y.shape), "params": sum(p.numel() for p in module.parameters()),
            "macs": counter.get_total_flops() // 2}


def main() -> None:
    cases = []
    for id_, type_, options, shape, others in CASES:
        cases.append({"id": id_, "type": type_, "options": options, "input": shape, "others": others,
                      **run(type_, options, shape, others)})
    doc = {"torch": torch.__version__.split("+")[0], "cases": cases}
    (GOLDEN / "kinds.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(cases)} cases ({sum('error' in c for c in cases)} of them errors)")


if __name__ == "__main__":
    main()
