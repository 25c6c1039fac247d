"""The functional API: `torch.nn.functional`'s conv{1,2,3}d and conv_transpose{1,2,3}d on numpy
arrays, the transposed convolution with an explicit crop, and `run` (a forced strategy).

Every call is checked by the shape engine in PyTorch's order and words, then planned (the cost
model picks a strategy) and executed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .. import shape
from ..errors import ConfigError
from ..params import ConvParams, IntOrSeq, per_dim
from . import kernels
from .plan import STRATEGIES, make_plan
from .threads import get_num_threads

Array = npt.NDArray[np.floating]
_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def conv1d(
    x: npt.ArrayLike, weight: npt.ArrayLike, bias: npt.ArrayLike | None = None, stride: IntOrSeq = 1,
    padding: IntOrSeq | str = 0, dilation: IntOrSeq = 1, groups: int = 1,
) -> Array:
    """`torch.nn.functional.conv1d`: x (N, C_in, L) or (C_in, L), weight (C_out, C_in/groups, k).

    >>> conv1d(np.arange(6.0).reshape(1, 1, 6), np.ones((1, 1, 2)), stride=2)
    array([[[1., 5., 9.]]])
    """
    return _conv(1, x, weight, bias, stride, padding, dilation, groups)


def conv2d(
    x: npt.ArrayLike, weight: npt.ArrayLike, bias: npt.ArrayLike | None = None, stride: IntOrSeq = 1,
    padding: IntOrSeq | str = 0, dilation: IntOrSeq = 1, groups: int = 1,
) -> Array:
    """`torch.nn.functional.conv2d` on numpy arrays: x (N, C_in, H, W) or (C_in, H, W), weight
    (C_out, C_in/groups, kH, kW), bias (C_out,); padding may be 'same' or 'valid'.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv2d(x, np.ones((1, 1, 2, 2)), stride=2)
    array([[[[10., 18.],
             [42., 50.]]]])
    """
    return _conv(2, x, weight, bias, stride, padding, dilation, groups)


def conv3d(
    x: npt.ArrayLike, weight: npt.ArrayLike, bias: npt.ArrayLike | None = None, stride: IntOrSeq = 1,
    padding: IntOrSeq | str = 0, dilation: IntOrSeq = 1, groups: int = 1,
) -> Array:
    """`torch.nn.functional.conv3d`: x (N, C_in, D, H, W) or (C_in, D, H, W).

    >>> conv3d(np.ones((1, 1, 3, 3, 3)), np.ones((1, 1, 2, 2, 2))).shape
    (1, 1, 2, 2, 2)
    """
    return _conv(3, x, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(
    x: npt.ArrayLike, weight: npt.ArrayLike, bias: npt.ArrayLike | None = None, stride: IntOrSeq = 1,
    padding: IntOrSeq = 0, output_padding: IntOrSeq = 0, groups: int = 1, dilation: IntOrSeq = 1,
) -> Array:
    """`torch.nn.functional.conv_transpose1d`: x (N, C_in, L) or (C_in, L), weight
    (C_in, C_out/groups, k).

    >>> conv_transpose1d(np.ones((1, 1, 3)), np.ones((1, 1, 3)), stride=2)
    array([[[1., 1., 2., 1., 2., 1., 1.]]])
    """
    return _conv_transpose(1, x, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(
    x: npt.ArrayLike, weight: npt.ArrayLike, bias: npt.ArrayLike | None = None, stride: IntOrSeq = 1,
    padding: IntOrSeq = 0, output_padding: IntOrSeq = 0, groups: int = 1, dilation: IntOrSeq = 1,
) -> Array:
    """`torch.nn.functional.conv_transpose2d` on numpy arrays: x (N, C_in, H, W) or
    (C_in, H, W), weight (C_in, C_out/groups, kH, kW), bias (C_out,).

    >>> conv_transpose2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)), stride=2)[0, 0]
    array([[1., 1., 2., 1., 1.],
           [1., 1., 2., 1., 1.],
           [2., 2., 4., 2., 2.],
           [1., 1., 2., 1., 1.],
           [1., 1., 2., 1., 1.]])
    """
    return _conv_transpose(2, x, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose3d(
    x: npt.ArrayLike, weight: npt.ArrayLike, bias: npt.ArrayLike | None = None, stride: IntOrSeq = 1,
    padding: IntOrSeq = 0, output_padding: IntOrSeq = 0, groups: int = 1, dilation: IntOrSeq = 1,
) -> Array:
    """`torch.nn.functional.conv_transpose3d`: x (N, C_in, D, H, W) or (C_in, D, H, W).

    >>> conv_transpose3d(np.ones((1, 2, 4, 4, 4)), np.ones((2, 3, 2, 2, 2)), stride=2).shape
    (1, 3, 8, 8, 8)
    """
    return _conv_transpose(3, x, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose(
    x: npt.ArrayLike,
    weight: npt.ArrayLike,
    bias: npt.ArrayLike | None = None,
    stride: IntOrSeq = 1,
    crop_begin: IntOrSeq = 0,
    out_len: IntOrSeq | None = None,
    dilation: IntOrSeq = 1,
    groups: int = 1,
) -> Array:
    """The transposed convolution with an explicit crop, per spatial dim (as many as the weight
    has): out[o] = bias + the sum of x[i]·w[t] over every i, t with o = i·stride − crop_begin +
    t·dilation, for 0 ≤ o < out_len. Every framework's layer is one (crop_begin, out_len): a
    negative crop_begin adds zeros at the start, an out_len beyond the full length adds them at
    the end (only the bias there). PyTorch's layer is crop_begin = padding, out_len = full −
    2·padding + output_padding, with full = (in − 1)·stride + dilation·(kernel − 1) + 1; out_len
    defaults to the full length less crop_begin.

    >>> conv_transpose(np.ones((1, 1, 3)), np.ones((1, 1, 3)), stride=2, crop_begin=-1, out_len=8)
    array([[[0., 1., 1., 2., 1., 2., 1., 1.]]])
    """
    xa, wa, ba = _arrays(x, weight, bias)
    if wa.ndim < 3:
        raise ConfigError("weight should have at least three dimensions")
    nd = wa.ndim - 2
    params = shape.functional_params(
        True, xa.shape, wa.shape, None if ba is None else ba.shape,
        stride=stride, dilation=dilation, groups=groups, ndim=nd,
    )
    full_shape = shape.output_shape(params, xa.shape)  # padding 0: the full length
    fulls = full_shape[-nd:]
    begin = per_dim("crop_begin", crop_begin, nd)
    length = tuple(f - b for f, b in zip(fulls, begin)) if out_len is None else per_dim("out_len", out_len, nd)
    if any(o < 1 for o in length):
        raise ConfigError(
            f"out_len must be at least 1 in every dim, but got out_len={list(length)}",
            hint=f"the full length is {list(fulls)}; crop_begin={list(begin)}",
        )
    _check_dtypes(params, xa, wa, ba)
    # The full output's window [crop_begin, crop_begin + out_len): the part of it inside the
    # full output is computed as a crop; what lies outside (zeros added) gets only the bias.
    first = tuple(max(b, 0) for b in begin)
    end = tuple(min(b + o, f) for b, o, f in zip(begin, length, fulls))
    lead = full_shape[:-nd]
    out_shape = (*lead, *length)
    if all(a < e for a, e in zip(first, end)):
        inner = _run_plan(params, xa, wa, ba, (*lead, *(e - a for a, e in zip(first, end))), begin=first)
        if first == begin and all(e - b == o for e, b, o in zip(end, begin, length)):
            return inner
    else:
        inner = None
    out = np.zeros(out_shape, xa.dtype)
    if ba is not None:
        out += ba.astype(xa.dtype, copy=False).reshape(-1, *(1,) * nd)
    if inner is not None:
        out[(..., *(slice(a - b, e - b) for a, e, b in zip(first, end, begin)))] = inner
    return out


def run(
    params: ConvParams,
    x: npt.ArrayLike,
    weight: npt.ArrayLike,
    bias: npt.ArrayLike | None = None,
    *,
    strategy: str | None = None,
) -> Array:
    """The functional call for the layer `params` (zero padding), with the given strategy (one
    of STRATEGIES[params.op]) or the one the cost model picks; tests and benchmarks use it.

    >>> p = ConvParams.conv_transpose(2, 2)
    >>> run(p, np.ones((1, 1, 1, 2)), np.ones((1, 1, 2, 2)), strategy="scatter")
    array([[[[1., 1., 1., 1.],
             [1., 1., 1., 1.]]]])
    """
    xa, wa, ba = _arrays(x, weight, bias)
    if strategy is not None and strategy not in STRATEGIES[params.op]:
        raise ConfigError(
            f"unknown strategy {strategy!r} for {params.op}; one of {', '.join(STRATEGIES[params.op])}"
        )
    extra = {"output_padding": params.output_padding} if params.transposed else {}
    checked = shape.functional_params(
        params.transposed, xa.shape, wa.shape, None if ba is None else ba.shape,
        stride=params.stride, padding=params.padding_string or params.padding,
        dilation=params.dilation, groups=params.groups, ndim=params.ndim, **extra,  # type: ignore[arg-type]
    )
    return _forward(checked, xa, wa, ba, strategy)


# == entry: arrays, checks, batching =========================================================


def _conv(nd: int, x: npt.ArrayLike, weight: npt.ArrayLike, bias: npt.ArrayLike | None, stride: IntOrSeq,
          padding: IntOrSeq | str, dilation: IntOrSeq, groups: int) -> Array:
    xa, wa, ba = _arrays(x, weight, bias)
    params = shape.functional_params(
        False, xa.shape, wa.shape, None if ba is None else ba.shape,
        stride=stride, padding=padding, dilation=dilation, groups=groups, ndim=nd,
    )
    return _forward(params, xa, wa, ba)


def _conv_transpose(nd: int, x: npt.ArrayLike, weight: npt.ArrayLike, bias: npt.ArrayLike | None,
                    stride: IntOrSeq, padding: IntOrSeq, output_padding: IntOrSeq, groups: int,
                    dilation: IntOrSeq) -> Array:
    xa, wa, ba = _arrays(x, weight, bias)
    params = shape.functional_params(
        True, xa.shape, wa.shape, None if ba is None else ba.shape,
        stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups, ndim=nd,
    )
    return _forward(params, xa, wa, ba)


def _arrays(
    x: npt.ArrayLike, weight: npt.ArrayLike, bias: npt.ArrayLike | None
) -> tuple[Array, Array, Array | None]:
    return np.asarray(x), np.asarray(weight), None if bias is None else np.asarray(bias)


def _dtype_name(dtype: np.dtype) -> str:
    return {"float32": "Float", "float64": "Double"}.get(dtype.name, dtype.name)


def _check_dtypes(params: ConvParams, x: Array, weight: Array, bias: Array | None) -> None:
    """PyTorch's dtype checks, after its shape checks; convtool computes in float32/float64."""
    if x.dtype not in _DTYPES:
        raise ConfigError(
            f"{params.op} computes in float32 or float64, but got input of dtype {x.dtype}",
            hint="convert with x.astype(np.float32)",
        )
    if weight.dtype != x.dtype:
        raise ConfigError(
            f"expected scalar type {_dtype_name(x.dtype)} but found {_dtype_name(weight.dtype)}"
        )
    if bias is not None and bias.dtype != x.dtype and not params.transposed:
        raise ConfigError(
            f"Input type ({_dtype_name(x.dtype).lower()}) and bias type "
            f"({_dtype_name(bias.dtype).lower()}) should be the same"
        )


def _forward(
    params: ConvParams, x: Array, weight: Array, bias: Array | None, strategy: str | None = None
) -> Array:
    out_shape = shape.output_shape(params, x.shape)
    _check_dtypes(params, x, weight, bias)
    return _run_plan(params, x, weight, bias, out_shape, strategy)


def _run_plan(
    params: ConvParams, x: Array, weight: Array, bias: Array | None, out_shape: tuple[int, ...],
    strategy: str | None = None, begin: tuple[int, ...] | None = None,
) -> Array:
    """The checked layer computed: batched or not, its plan made (cached) and executed."""
    batched = x.ndim == params.ndim + 2
    xb = np.ascontiguousarray(x if batched else x[None])
    out_b = out_shape if batched else (1, *out_shape)
    plan = make_plan(params, xb.shape, out_b, x.dtype.itemsize, strategy, get_num_threads(), begin)
    b = None if bias is None else bias.astype(x.dtype, copy=False)
    out = kernels.execute(plan, xb, np.ascontiguousarray(weight), b)
    return out if batched else out[0]
