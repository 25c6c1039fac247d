"""Golden cases of the numeric engine: configurations, deterministic inputs, and how to run them.

Shared by tests/golden/make_golden_numeric.py (which runs the cases through torch and stores
the outputs in tests/golden/numeric.npz) and tests/test_numeric_golden.py (which runs them
through convtool). Inputs come from a formula, not from a random generator, so that the
golden file holds only the outputs.
"""

from __future__ import annotations

import json
import random
from math import prod
from pathlib import Path
from typing import Any

import numpy as np

GOLDEN = Path(__file__).parents[1] / "golden" / "numeric.npz"
SEED = 20261122


def values(shape: tuple[int, ...], seed: int, dtype: str = "float64") -> np.ndarray:
    """Deterministic values in [-1, 1] with no pattern a convolution would cancel."""
    i = np.arange(prod(shape), dtype=np.float64) + 1
    v = np.sin(i * 0.7548776662466927 + seed * 1.6180339887) * np.cos(i * 0.5698402909980532 + seed)
    return v.reshape(shape).astype(dtype)


_STRIDES = ([1, 1, 2, 2, 3], [1, 2, 2, 3, 4])  # axis a of an N-d layer draws from entry a % 2
_DILATIONS = ([1, 1, 1, 2, 3], [1, 1, 2])


def _draw(rng: random.Random, kind: str, index: int) -> dict[str, Any] | None:
    nd = int(kind[-2])
    g = rng.choice([1, 1, 1, 2, 3])
    cig, cog = rng.randint(1, 3), rng.randint(1, 3)
    k = tuple(rng.choice([1, 2, 3, 3, 4, 5]) for _ in range(nd))
    s = tuple(rng.choice(_STRIDES[a % 2]) for a in range(nd))
    d = tuple(rng.choice(_DILATIONS[a % 2]) for a in range(nd))
    size = tuple(rng.randint(1, 7 if nd < 3 else 4) for _ in range(nd))  # 3-D outputs stay small
    batch = rng.choice([1, 2, 3])
    case: dict[str, Any] = {
        "kind": kind, "seed": index, "bias": rng.random() < 0.7, "unbatched": rng.random() < 0.15,
        "dtype": "float32" if rng.random() < 0.2 else "float64",
    }
    if kind.lower().startswith("conv_transpose") or kind.startswith("ConvTranspose"):
        p = tuple(rng.randint(0, d[a] * (k[a] - 1) + 1) for a in range(nd))
        op = tuple(rng.randint(0, max(si, di) - 1) for si, di in zip(s, d))
        out = [(i - 1) * si - 2 * pi + di * (ki - 1) + opi + 1 for i, si, pi, di, ki, opi in zip(size, s, p, d, k, op)]
        if min(out) < 1:
            return None
        case.update(input=[batch, g * cig, *size], weight=[g * cig, cog, *k], out_channels=g * cog,
                    stride=list(s), padding=list(p), output_padding=list(op), dilation=list(d), groups=g)
        if kind.startswith("ConvTranspose"):
            mins = [o - opi for o, opi in zip(out, op)]
            case["output_padding"] = [0] * nd
            case["output_size"] = [m + rng.randint(0, si - 1) for m, si in zip(mins, s)]
            if min(case["output_size"]) < 1:
                return None
        return case
    mode = rng.choice(["zeros", "reflect", "replicate", "circular"]) if kind.startswith("Conv") else "zeros"
    if rng.random() < 0.15:
        padding: Any = "valid" if rng.random() < 0.3 else "same"
        if padding == "same":
            s = (1,) * nd
    else:
        padding = [rng.randint(0, k[a]) for a in range(nd)]
        if mode != "zeros":
            padding = [min(pi, i - 1) for pi, i in zip(padding, size)]
    pads = [0] * nd if padding == "valid" else (
        [di * (ki - 1) for di, ki in zip(d, k)] if padding == "same" else [2 * pi for pi in padding]
    )
    if mode == "reflect" and padding == "same" and any(
        di * (ki - 1) - di * (ki - 1) // 2 >= i for di, ki, i in zip(d, k, size)
    ):
        return None
    if mode == "circular" and padding == "same" and any(di * (ki - 1) - di * (ki - 1) // 2 > i for di, ki, i in zip(d, k, size)):
        return None
    if any(i + pi < di * (ki - 1) + 1 for i, pi, di, ki in zip(size, pads, d, k)):
        return None
    case.update(input=[batch, g * cig, *size], weight=[g * cog, cig, *k], out_channels=g * cog,
                stride=list(s), padding=padding, dilation=list(d), groups=g, padding_mode=mode)
    return case


def cases() -> list[dict[str, Any]]:
    """The golden configurations, the same every time."""
    rng = random.Random(SEED)
    result: list[dict[str, Any]] = []
    quotas = {"conv_transpose2d": 110, "conv2d": 70, "ConvTranspose2d": 25, "Conv2d": 40,
              "conv_transpose1d": 40, "conv1d": 30, "ConvTranspose1d": 10, "Conv1d": 15,
              "conv_transpose3d": 40, "conv3d": 30, "ConvTranspose3d": 10, "Conv3d": 15}
    for kind, quota in quotas.items():
        count = 0
        while count < quota:
            case = _draw(rng, kind, len(result))
            if case is not None:
                result.append(case)
                count += 1
    return result


def arrays(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The case's input, weight and bias (input without its batch dim when unbatched)."""
    dtype = case["dtype"]
    x = values(tuple(case["input"]), case["seed"], dtype)
    if case["unbatched"]:
        x = x[0]
    w = values(tuple(case["weight"]), case["seed"] + 1, dtype)
    b = values((case["out_channels"],), case["seed"] + 2, dtype) if case["bias"] else None
    return x, w, b


def run(case: dict[str, Any], lib: Any) -> np.ndarray:
    """Run a case through `lib`: the module convtool.numeric, or torch (converted back)."""
    x, w, b = arrays(case)
    kind = case["kind"]
    is_torch = getattr(lib, "__name__", "") == "torch"
    if is_torch:
        x, w = lib.from_numpy(x), lib.from_numpy(w)
        b = None if b is None else lib.from_numpy(b)
        functional = lib.nn.functional
        modules: Any = lib.nn
    else:
        functional = modules = lib
    common = dict(stride=tuple(case["stride"]), dilation=tuple(case["dilation"]), groups=case["groups"])
    padding = case["padding"] if isinstance(case["padding"], str) else tuple(case["padding"])
    if kind.startswith("conv_transpose"):
        out = getattr(functional, kind)(x, w, b, padding=padding, output_padding=tuple(case["output_padding"]), **common)
    elif kind.startswith("conv"):
        out = getattr(functional, kind)(x, w, b, padding=padding, **common)
    else:
        transposed = kind.startswith("ConvTranspose")
        cin, cout = case["input"][1], case["out_channels"]
        extra = {} if transposed else {"padding_mode": case["padding_mode"]}
        dtype = getattr(lib if is_torch else np, case["dtype"])
        layer = getattr(modules, kind)(cin, cout, tuple(case["weight"][2:]), padding=padding,
                                       bias=case["bias"], dtype=dtype, **common, **extra)
        if is_torch:
            with lib.no_grad():
                layer.weight.copy_(w)
                if b is not None:
                    layer.bias.copy_(b)
        else:
            layer.weight, layer.bias = w, b
        out = layer(x, output_size=tuple(case["output_size"])) if transposed else layer(x)
    return out.detach().numpy() if is_torch else out


def load() -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    """The stored cases and torch's outputs for them."""
    with np.load(GOLDEN) as data:
        stored = json.loads(str(data["cases"]))
        return stored, [data[f"out{i}"] for i in range(len(stored))]
