"""Naive references for the numeric engine, written straight from the definitions.

No shape engine, no layout tricks: one loop over groups and kernel taps, numpy only to
vectorise over the batch, the channels and the positions a tap connects.
"""

from __future__ import annotations

import numpy as np


def pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """The scatter definition (PYTORCH.md §0):

    out[n, g*Cout_g + co, i*s - p + kh*d, j*s - p + kw*d] += x[n, g*Cin_g + ci, i, j] * W[g*Cin_g + ci, co, kh, kw]
    for every output position inside [0, O), then out += bias.
    """
    s, p, op, d = pair(stride), pair(padding), pair(output_padding), pair(dilation)
    n, cin, h, w = x.shape
    cig, cog, kh, kw = weight.shape[0] // groups, weight.shape[1], weight.shape[2], weight.shape[3]
    ho = (h - 1) * s[0] - 2 * p[0] + d[0] * (kh - 1) + op[0] + 1
    wo = (w - 1) * s[1] - 2 * p[1] + d[1] * (kw - 1) + op[1] + 1
    out = np.zeros((n, cog * groups, ho, wo), x.dtype)
    rows, cols = np.arange(h), np.arange(w)
    for g in range(groups):
        xg = x[:, g * cig:(g + 1) * cig]
        for a in range(kh):
            oh = rows * s[0] - p[0] + a * d[0]
            keep_h = (oh >= 0) & (oh < ho)
            for b in range(kw):
                ow = cols * s[1] - p[1] + b * d[1]
                keep_w = (ow >= 0) & (ow < wo)
                contribution = np.einsum("nchw,cd->ndhw", xg, weight[g * cig:(g + 1) * cig, :, a, b])
                target = out[:, g * cog:(g + 1) * cog]
                np.add.at(target, (slice(None), slice(None), oh[keep_h][:, None], ow[keep_w][None, :]),
                          contribution[:, :, keep_h][:, :, :, keep_w])
    if bias is not None:
        out += bias[:, None, None]
    return out


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The gather definition: out[n, g*Cout_g + co, oh, ow] = bias + sum over ci, kh, kw of
    x_padded[n, g*Cin_g + ci, oh*s + kh*d, ow*s + kw*d] * W[g*Cout_g + co, ci, kh, kw];
    padding is an int/pair (both sides) or ((top, bottom), (left, right))."""
    s, d = pair(stride), pair(dilation)
    if isinstance(padding, tuple) and isinstance(padding[0], tuple):
        (pt, pb), (pl, pr) = padding
    else:
        (pt, pl) = pair(padding)
        pb, pr = pt, pl
    n, cin, h, w = x.shape
    cout, cig, kh, kw = weight.shape
    cog = cout // groups
    xp = np.zeros((n, cin, h + pt + pb, w + pl + pr), x.dtype)
    xp[:, :, pt:pt + h, pl:pl + w] = x
    ho = (h + pt + pb - d[0] * (kh - 1) - 1) // s[0] + 1
    wo = (w + pl + pr - d[1] * (kw - 1) - 1) // s[1] + 1
    out = np.zeros((n, cout, ho, wo), x.dtype)
    for g in range(groups):
        for a in range(kh):
            for b in range(kw):
                window = xp[:, g * cig:(g + 1) * cig,
                            a * d[0]:a * d[0] + s[0] * (ho - 1) + 1:s[0],
                            b * d[1]:b * d[1] + s[1] * (wo - 1) + 1:s[1]]
                out[:, g * cog:(g + 1) * cog] += np.einsum("nchw,dc->ndhw", window, weight[g * cog:(g + 1) * cog, :, a, b])
    if bias is not None:
        out += bias[:, None, None]
    return out
