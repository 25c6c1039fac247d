"""Random layers and inputs for the numeric engine's tests, in 1, 2 or 3 spatial dims, with the
naive reference's answer and the tolerance check the project holds to (float64 1e-10 absolute, float32
1e-4 relative)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from convtool.params import ConvParams

from . import naive

# per-axis choices; axis a of an N-d layer draws from entry a % 2 (2-D layers as before)
_T_KERNEL = ([1, 1, 2, 3, 4, 5, 7], [1, 2, 3, 4, 5, 6])
_T_STRIDE = ([1, 1, 2, 2, 3, 4], [1, 2, 2, 3, 5])
_T_DILATION = ([1, 1, 1, 2, 3], [1, 1, 2, 4])
_T_SIZE = (7, 8)
_C_KERNEL = ([1, 2, 3, 4, 5, 7], [1, 2, 3, 4, 6])
_C_DILATION = ([1, 1, 2, 3], [1, 1, 2])
_C_STRIDE = ([1, 1, 2, 3], [1, 2, 2, 4])


def transposed_case(rng: random.Random, nd: int = 2) -> dict[str, Any]:
    """A legal ConvTranspose{nd}d and input, biased to the edges: groups, dilation,
    output_padding up to max(stride, dilation) - 1, padding beyond the kernel extent, 1-wide
    and large kernels."""
    while True:
        g = rng.choice([1, 1, 1, 2, 3, 4])
        k = tuple(rng.choice(_T_KERNEL[a % 2]) for a in range(nd))
        s = tuple(rng.choice(_T_STRIDE[a % 2]) for a in range(nd))
        d = tuple(rng.choice(_T_DILATION[a % 2]) for a in range(nd))
        p = tuple(rng.randint(0, di * (ki - 1) + 2) for ki, di in zip(k, d))
        op = tuple(rng.randint(0, max(si, di) - 1) for si, di in zip(s, d))
        size = tuple(rng.randint(1, _T_SIZE[a % 2]) for a in range(nd))
        out = [(i - 1) * si - 2 * pi + di * (ki - 1) + opi + 1 for i, si, pi, di, ki, opi in zip(size, s, p, d, k, op)]
        if min(out) >= 1:
            return dict(nd=nd, groups=g, cig=rng.randint(1, 3), cog=rng.randint(1, 3), kernel=k, stride=s,
                        dilation=d, padding=p, output_padding=op, size=size, batch=rng.choice([1, 1, 2, 3]),
                        bias=rng.random() < 0.7, unbatched=rng.random() < 0.2)


def conv_case(rng: random.Random, nd: int = 2) -> dict[str, Any]:
    """A legal Conv{nd}d and input: asymmetric 'same' padding, dilation, groups, large kernels."""
    while True:
        g = rng.choice([1, 1, 2, 3])
        k = tuple(rng.choice(_C_KERNEL[a % 2]) for a in range(nd))
        d = tuple(rng.choice(_C_DILATION[a % 2]) for a in range(nd))
        same = rng.random() < 0.15
        s = (1,) * nd if same else tuple(rng.choice(_C_STRIDE[a % 2]) for a in range(nd))
        drawn = tuple(rng.randint(0, k[a] + 1) for a in range(nd))
        pads = tuple(
            (di * (ki - 1) // 2, di * (ki - 1) - di * (ki - 1) // 2) if same else (pi, pi)
            for ki, di, pi in zip(k, d, drawn)
        )
        size = tuple(rng.randint(1, 9) for _ in range(nd))
        if all(i + a + b >= di * (ki - 1) + 1 for i, (a, b), di, ki in zip(size, pads, d, k)):
            return dict(nd=nd, groups=g, cig=rng.randint(1, 3), cog=rng.randint(1, 3), kernel=k, stride=s,
                        dilation=d, padding="same" if same else tuple(a for a, _ in pads), pads=pads,
                        size=size, batch=rng.choice([1, 1, 2, 3]), bias=rng.random() < 0.7,
                        unbatched=rng.random() < 0.2)


def arrays(case: dict[str, Any], transposed: bool, dtype: type, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    g, cig, cog = case["groups"], case["cig"], case["cog"]
    x = rng.standard_normal((case["batch"], g * cig, *case["size"])).astype(dtype)
    w_shape = (g * cig, cog, *case["kernel"]) if transposed else (g * cog, cig, *case["kernel"])
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(g * cog).astype(dtype) if case["bias"] else None
    return x, w, b


def close(out: np.ndarray, ref: np.ndarray, dtype: type) -> bool:
    if out.shape != ref.shape or out.dtype != np.dtype(dtype):
        return False
    if dtype is np.float64:
        return bool(np.abs(out - ref).max(initial=0) <= 1e-10)
    return bool(np.abs(out - ref).max(initial=0) <= 1e-4 * max(1.0, np.abs(ref).max(initial=0)))


def public_agrees(fn: Any, x: np.ndarray, ref: np.ndarray, case: dict[str, Any], *args: Any, **kwargs: Any) -> bool:
    """The public function agrees with the reference, on the first image alone if unbatched."""
    if case["unbatched"]:
        return close(fn(x[0], *args, **kwargs), ref[0], x.dtype.type)
    return close(fn(x, *args, **kwargs), ref, x.dtype.type)


def reference(case: dict[str, Any], transposed: bool, x: np.ndarray, w: np.ndarray,
              b: np.ndarray | None) -> tuple[np.ndarray, ConvParams]:
    """The naive reference's output (in float64) for a random case, and the case's layer."""
    x64, w64, b64 = x.astype(np.float64), w.astype(np.float64), None if b is None else b.astype(np.float64)
    nd = case.get("nd", 2)
    if transposed:
        ref = naive.conv_transpose(x64, w64, b64, stride=case["stride"], padding=case["padding"],
                                   output_padding=case["output_padding"], groups=case["groups"],
                                   dilation=case["dilation"])
        return ref, ConvParams.conv_transpose(case["kernel"], case["stride"], case["padding"], case["output_padding"],
                                              case["groups"], b is not None, case["dilation"], ndim=nd)
    ref = naive.conv(x64, w64, b64, stride=case["stride"], padding=case["pads"], dilation=case["dilation"],
                     groups=case["groups"])
    return ref, ConvParams.conv(case["kernel"], case["stride"], case["padding"], case["dilation"], case["groups"],
                                b is not None, ndim=nd)
