"""Naive references for the numeric engine, written straight from the definitions, in any
number of spatial dims.

No shape engine, no layout tricks: one loop over groups and kernel taps, numpy only to
vectorise over the batch, the channels and the positions a tap connects.
"""

from __future__ import annotations

import itertools

import numpy as np


def per_dim(value, nd: int) -> tuple[int, ...]:
    return (int(value),) * nd if isinstance(value, (int, np.integer)) else tuple(int(v) for v in value)


def conv_transpose_crop(x, weight, bias=None, stride=1, crop_begin=0, out_len=None, dilation=1, groups=1):
    """The scatter definition (any number of dims, x batched):

    out[n, g*Cout_g + co, o] += x[n, g*Cin_g + ci, i] * W[g*Cin_g + ci, co, t]
    for every o = i*s - crop_begin + t*d (per dim) inside [0, out_len), then out += bias.
    """
    nd = x.ndim - 2
    s, pb, d = per_dim(stride, nd), per_dim(crop_begin, nd), per_dim(dilation, nd)
    n, _, *size = x.shape
    cig, cog, kernel = weight.shape[0] // groups, weight.shape[1], weight.shape[2:]
    full = [(i - 1) * si + di * (ki - 1) + 1 for i, si, di, ki in zip(size, s, d, kernel)]
    length = [f - b for f, b in zip(full, pb)] if out_len is None else per_dim(out_len, nd)
    out = np.zeros((n, cog * groups, *length), x.dtype)
    for g in range(groups):
        xg = x[:, g * cig:(g + 1) * cig]
        target = out[:, g * cog:(g + 1) * cog]
        for taps in itertools.product(*(range(k) for k in kernel)):
            positions = [np.arange(i) * si - b + t * di for i, si, b, t, di in zip(size, s, pb, taps, d)]
            keep = [(o >= 0) & (o < L) for o, L in zip(positions, length)]
            if not all(k.any() for k in keep):
                continue
            contribution = np.tensordot(weight[(slice(g * cig, (g + 1) * cig), slice(None), *taps)], xg, axes=([0], [1]))
            contribution = np.moveaxis(contribution, 0, 1)  # (n, cog, *size)
            kept = contribution[(slice(None), slice(None), *np.ix_(*keep))]
            target[(slice(None), slice(None), *np.ix_(*[o[k] for o, k in zip(positions, keep)]))] += kept
    if bias is not None:
        out += bias.reshape(-1, *(1,) * nd)
    return out


def conv_transpose(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """PyTorch's transposed convolution: the scatter definition cropped by padding at the start
    and padding - output_padding at the end (PYTORCH.md §0)."""
    nd = x.ndim - 2
    s, p, op, d = per_dim(stride, nd), per_dim(padding, nd), per_dim(output_padding, nd), per_dim(dilation, nd)
    length = [(i - 1) * si - 2 * pi + di * (k - 1) + o + 1
              for i, si, pi, di, k, o in zip(x.shape[2:], s, p, d, weight.shape[2:], op)]
    return conv_transpose_crop(x, weight, bias, s, p, length, d, groups)


def conv(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The gather definition: out[n, g*Cout_g + co, o] = bias + sum over ci, t of
    x_padded[n, g*Cin_g + ci, o*s + t*d] * W[g*Cout_g + co, ci, t] (per dim); padding is an
    int, one int per dim (both sides) or one (before, after) pair per dim."""
    nd = x.ndim - 2
    s, d = per_dim(stride, nd), per_dim(dilation, nd)
    if isinstance(padding, (tuple, list)) and padding and isinstance(padding[0], (tuple, list)):
        pairs = [tuple(p) for p in padding]
    else:
        pairs = [(p, p) for p in per_dim(padding, nd)]
    n, cin, *size = x.shape
    cout, cig, *kernel = weight.shape
    cog = cout // groups
    xp = np.zeros((n, cin, *(i + a + b for i, (a, b) in zip(size, pairs))), x.dtype)
    xp[(slice(None), slice(None), *(slice(a, a + i) for i, (a, _) in zip(size, pairs)))] = x
    length = [(i + a + b - di * (k - 1) - 1) // si + 1 for i, (a, b), di, k, si in zip(size, pairs, d, kernel, s)]
    out = np.zeros((n, cout, *length), x.dtype)
    for g in range(groups):
        for taps in itertools.product(*(range(k) for k in kernel)):
            window = xp[(slice(None), slice(g * cig, (g + 1) * cig),
                         *(slice(t * di, t * di + si * (L - 1) + 1, si) for t, di, si, L in zip(taps, d, s, length)))]
            w = weight[(slice(g * cog, (g + 1) * cog), slice(None), *taps)]  # (cog, cig)
            out[:, g * cog:(g + 1) * cog] += np.moveaxis(np.tensordot(w, window, axes=([1], [1])), 0, 1)
    if bias is not None:
        out += bias.reshape(-1, *(1,) * nd)
    return out
