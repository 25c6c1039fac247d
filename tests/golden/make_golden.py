"""Regenerate tests/golden/shapes.json: PyTorch's verdict on random layer configurations.

Needs torch (`pip install torch==2.13.0`). Run from the repository root:

    python tests/golden/make_golden.py          # shapes.json: mostly 2-D, some 1-D and 3-D
    python tests/golden/make_golden.py --nd     # shapes_nd.json.gz: 1-D and 3-D, 2,000 cases per op

Each case records the layer, the input shape and what PyTorch 2.13 did with it in float64
(the reference kernels): the output shape, or the exception's message; for transposed
layers also every `output_size` that `forward(x, output_size=...)` accepts near the range.
"""

from __future__ import annotations

import gzip
import json
import random
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

OUT = Path(__file__).with_name("shapes.json")
CASES = 2400
SEED = 20261121
ND_OUT = Path(__file__).with_name("shapes_nd.json.gz")  # 2.6 MB as JSON
ND_CASES = 2000  # per op
ND_SEED = 20261201
ND_OPS = ((True, 1), (True, 3), (False, 1), (False, 3))  # (transposed, ndim)


def draw(rng: random.Random, ndim: int | None = None, transposed: bool | None = None) -> dict:
    """One random configuration, biased towards the edges where rules bite; the op and its
    dims are drawn too unless given."""
    drawn_ndim = rng.choices([1, 2, 3], weights=[1, 8, 1])[0]
    drawn_transposed = rng.random() < 0.6
    ndim = drawn_ndim if ndim is None else ndim
    transposed = drawn_transposed if transposed is None else transposed

    def per_dim(lo: int, hi: int) -> list[int]:
        if rng.random() < 0.6:
            return [rng.randint(lo, hi)] * ndim
        return [rng.randint(lo, hi) for _ in range(ndim)]

    groups = rng.choice([1, 1, 1, 2, 3, 4])
    case = {
        "transposed": transposed,
        "ndim": ndim,
        "kernel_size": per_dim(0 if rng.random() < 0.03 else 1, 7),
        "stride": per_dim(0 if rng.random() < 0.03 else 1, 4),
        "padding": per_dim(-1 if rng.random() < 0.03 else 0, 4),
        "dilation": per_dim(1, 3) if rng.random() < 0.97 else per_dim(-1, 0),
        "groups": groups,
        "in_channels": groups * rng.randint(1, 3) + (1 if rng.random() < 0.05 else 0),
        "out_channels": groups * rng.randint(1, 3) + (1 if rng.random() < 0.05 else 0),
        "bias": rng.random() < 0.8,
        "batch": rng.choice([None, 1, 2]),
        "spatial": [rng.randint(1, 12) for _ in range(ndim)],
    }
    if transposed:
        case["output_padding"] = per_dim(0, 3)
    else:
        roll = rng.random()
        if roll < 0.1:
            case["padding"] = rng.choice(["same", "valid"])
        case["padding_mode"] = rng.choice(["zeros"] * 5 + ["reflect", "replicate", "circular"])
    return case


def layer(case: dict) -> nn.Module:
    nd = case["ndim"]
    common = dict(
        kernel_size=case["kernel_size"], stride=case["stride"], padding=case["padding"],
        dilation=case["dilation"], groups=case["groups"], bias=case["bias"], dtype=torch.float64,
    )
    if case["transposed"]:
        cls = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[nd]
        return cls(case["in_channels"], case["out_channels"], output_padding=case["output_padding"], **common)
    cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[nd]
    return cls(case["in_channels"], case["out_channels"], padding_mode=case["padding_mode"], **common)


def run(case: dict) -> dict:
    """What PyTorch does with the case: output shape and accepted output sizes, or the error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _run(case)


def _run(case: dict) -> dict:
    shape = ([case["batch"]] if case["batch"] else []) + [case["in_channels"], *case["spatial"]]
    try:
        module = layer(case)
        out = module(torch.zeros(shape, dtype=torch.float64))
    except (RuntimeError, ValueError, TypeError) as error:
        return {"input_shape": shape, "error": str(error).split("\n")[0]}
    result = {"input_shape": shape, "output_shape": list(out.shape)}
    if case["transposed"]:
        module.output_padding = (0,) * case["ndim"]
        base = list(out.shape[-case["ndim"]:])
        accepted = []
        # Probe each dim around its default size; other dims are held at the default.
        for axis in range(case["ndim"]):
            ok = []
            for size in range(base[axis] - 4, base[axis] + 5):
                request = list(base)
                request[axis] = size
                try:
                    got = module(torch.zeros(shape, dtype=torch.float64), output_size=request)
                    assert list(got.shape[-case["ndim"]:]) == request
                    ok.append(size)
                except (RuntimeError, ValueError):
                    pass
            accepted.append(ok)
        result["output_size_accepted"] = accepted
    return result


def main() -> None:
    torch.manual_seed(0)
    nd = "--nd" in sys.argv[1:]
    seed, out = (ND_SEED, ND_OUT) if nd else (SEED, OUT)
    rng = random.Random(seed)
    cases = []
    for transposed, ndim in ND_OPS if nd else [(None, None)]:
        for _ in range(ND_CASES if nd else CASES):
            case = draw(rng, ndim, transposed)
            case.update(run(case))
            cases.append(case)
    doc = {"torch": torch.__version__, "seed": seed, "cases": cases}
    text = json.dumps(doc, separators=(",", ":")) + "\n"
    if out.suffix == ".gz":
        out.write_bytes(gzip.compress(text.encode(), mtime=0))
    else:
        out.write_text(text)
    errors = sum("error" in c for c in cases)
    print(f"wrote {len(cases)} cases ({errors} rejected) to {out}")


if __name__ == "__main__":
    main()
