"""The shape engine: every size formula and size check of convtool, in integer arithmetic.

Pure Python; never imports numpy (so `convtool shape` starts fast). The numeric engine,
the architecture loader and the solvers all call these functions: one source of truth.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from math import gcd, prod

from .errors import ConfigError, OutputSizeError
from .params import ConvParams, IntOrSeq, Spatial, kernel_values, per_dim

# -- per-dim formulas -----------------------------------------------------------------------


def transpose_length(i: int, k: int, s: int, p: int, d: int, op: int = 0) -> int:
    """ConvTranspose output length (may be < 1: callers check).

    >>> transpose_length(50, 3, 2, 0, 1)
    101
    """
    return (i - 1) * s - 2 * p + d * (k - 1) + op + 1


def conv_length(i: int, k: int, s: int, p_before: int, p_after: int, d: int) -> int:
    """Conv output length: floor((in + pads - d(k-1) - 1) / s) + 1 (may be < 1: callers check).

    >>> conv_length(7, 3, 2, 1, 1, 1)
    4
    """
    return (i + p_before + p_after - d * (k - 1) - 1) // s + 1


def pool_length(i: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooling output length, ceil_mode rule included: the last window must
    start inside the input or the left padding.

    >>> pool_length(5, 2, 2, 0, 1, False), pool_length(5, 2, 2, 0, 1, True)
    (2, 3)
    >>> pool_length(4, 2, 2, 1, 1, True)
    3
    """
    out = (i + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= i + p:
        out -= 1
    return out


def stretched(i: int, k: int, s: int, p: int, d: int, op: int = 0) -> tuple[int, int, int]:
    """A ConvTranspose as a stride-1 convolution over its input stretched by s - 1 zeros
    between pixels: (stretched length, padding before, padding after). Negative padding
    crops; output_padding only ever adds at the end.

    >>> stretched(4, 3, 2, 1, 1, 1)
    (7, 1, 2)
    >>> length, before, after = stretched(5, 4, 3, 2, 2, 1)
    >>> conv_length(length, 4, 1, before, after, 2) == transpose_length(5, 4, 3, 2, 2, 1)
    True
    """
    reach = d * (k - 1) - p
    return (i - 1) * s + 1, reach, reach + op


def conv_remainder(i: int, k: int, s: int, p_before: int, p_after: int, d: int) -> int:
    """How many trailing input positions a Conv never reads: (in + pads - d(k-1) - 1) mod s.

    It is also the output_padding that makes the matching ConvTranspose restore `i` (§2.4).

    >>> conv_remainder(7, 3, 2, 1, 1, 1)
    0
    >>> conv_remainder(8, 3, 2, 1, 1, 1)
    1
    """
    return (i + p_before + p_after - d * (k - 1) - 1) % s


def unread(i: int, k: int, s: int, p_before: int, p_after: int, d: int) -> int:
    """How many trailing input rows no kernel tap of a Conv reads.

    The leftover of conv_remainder may fall in the end padding (then every row is read), and
    with dilation the last window's taps may step over the last rows.

    >>> unread(64, 3, 2, 1, 1, 1), unread(64, 3, 2, 0, 0, 1), unread(12, 4, 3, 3, 3, 2)
    (0, 1, 1)
    """
    last = p_before + i - 1  # the last input row, in padded coordinates
    out = conv_length(i, k, s, p_before, p_after, d)
    reach = d * (k - 1)
    inside = (last - reach) // s  # windows up to this one end at or before `last`
    best = min(inside, out - 1) * s + reach if inside >= 0 else -1
    # windows that overhang `last` but start at or before it: the top d see every residue
    top = min(out - 1, last // s)
    for w in range(top, max(inside, top - d, -1), -1):
        best = max(best, w * s + (last - w * s) // d * d)
    return min(i, last - best)


def conv_preimage(h: int, k: int, s: int, p_before: int, p_after: int, d: int) -> range:
    """Every input length that a Conv maps to output length `h`, in increasing order.

    >>> list(conv_preimage(4, 3, 2, 1, 1, 1))
    [7, 8]
    """
    low = (h - 1) * s - p_before - p_after + d * (k - 1) + 1
    return range(max(low, 1), low + s)


def tap_count(o: int, length: int, k: int, s: int, p: int, d: int) -> int:
    """How many (input, kernel) pairs write output position `o` of a ConvTranspose.

    >>> [tap_count(o, 4, 3, 2, 0, 1) for o in range(9)]
    [1, 1, 2, 1, 2, 1, 2, 1, 1]
    """
    full = o + p
    return sum(1 for t in range(k) if (full - t * d) % s == 0 and 0 <= (full - t * d) // s < length)


def taps_grid(rows: Sequence[int], cols: Sequence[int]) -> list[list[int]]:
    """Taps per position of a 2-D layer from its dims' counts: a row's taps pair with every
    column's (the kernel is a product of its dims).

    >>> taps_grid([1, 2], [2, 1])
    [[2, 1], [4, 2]]
    """
    return [[a * b for b in cols] for a in rows]


# -- whole-layer shapes ---------------------------------------------------------------------


def _sizes(values: Sequence[int]) -> str:
    return " x ".join(str(v) for v in values)


def split_input(params: ConvParams, input_shape: Sequence[int]) -> tuple[tuple[int, ...], Spatial]:
    """Split an input shape into its non-spatial part (N, C) or (C,) and its spatial part.

    >>> split_input(ConvParams.conv_transpose(3), (20, 16, 50, 100))
    ((20, 16), (50, 100))
    """
    nd = params.ndim
    if len(input_shape) not in (nd + 1, nd + 2):
        raise ConfigError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {params.op}, "
            f"but got input of size: {list(input_shape)}"
        )
    lead = len(input_shape) - nd
    return tuple(input_shape[:lead]), tuple(input_shape[lead:])


def _check_channels(params: ConvParams, input_shape: Sequence[int], channels: int) -> None:
    if params.in_channels is None or channels == params.in_channels:
        return
    batched = list(input_shape) if len(input_shape) == params.ndim + 2 else [1, *input_shape]
    weight = weight_shape(params)
    label = "transposed=1" if params.transposed else f"groups={params.groups}"
    raise ConfigError(
        f"Given {label}, weight of size {list(weight or [])}, expected input{batched} to have "
        f"{params.in_channels} channels, but got {channels} channels instead",
        hint=f"the layer's in_channels is {params.in_channels}",
    )


def spatial_output(params: ConvParams, spatial: Spatial, input_shape: Sequence[int] | None = None) -> Spatial:
    """The output's spatial size, after every check PyTorch makes for this input.

    >>> spatial_output(ConvParams.conv_transpose((3, 5), (2, 1), (4, 2)), (50, 100))
    (93, 100)
    >>> spatial_output(ConvParams.conv(3, 2, 1), (7, 8))
    (4, 4)
    """
    shape = list(input_shape) if input_shape is not None else [1, params.in_channels or 1, *spatial]
    if params.transposed and any(i < 1 for i in spatial):
        raise ConfigError(
            f"Only zero batch or zero channel inputs are supported, but got input shape: {shape}"
        )
    if params.transposed:
        out = tuple(
            transpose_length(i, k, s, p, d, op)
            for i, k, s, p, d, op in zip(
                spatial, params.kernel_size, params.stride, params.padding, params.dilation,
                params.output_padding,
            )
        )
        if any(o < 1 for o in out):
            raise ConfigError(
                f"Given input size per channel: ({_sizes(kernel_values(spatial, 1))}). Calculated "
                f"output size per channel: ({_sizes(kernel_values(out, 1))}). Output size is too small",
                hint="use a smaller padding or a larger kernel, stride or input",
            )
        return out
    pairs = params.padding_pairs
    _check_padding_mode(params, spatial, shape)
    params.check_numbers()
    padded = tuple(i + a + b for i, (a, b) in zip(spatial, pairs))
    extent = tuple(d * (k - 1) + 1 for k, d in zip(params.kernel_size, params.dilation))
    if any(e > n for e, n in zip(extent, padded)):
        raise ConfigError(
            f"Calculated padded input size per channel: ({_sizes(padded)}). Kernel size: "
            f"({_sizes(extent)}). Kernel size can't be greater than actual input size",
            hint="use a larger input or padding, or a smaller kernel or dilation",
        )
    if any(k <= 0 for k in params.kernel_size):
        raise ConfigError(
            f"kernel size should be greater than zero, but got {list(kernel_values(params.kernel_size, 1))}"
        )
    if any(d == 0 for d in params.dilation):
        raise ConfigError(
            f"dilation should be greater than zero, but got {list(kernel_values(params.dilation, 1))}"
        )
    return tuple(
        conv_length(i, k, s, a, b, d)
        for i, k, s, (a, b), d in zip(spatial, params.kernel_size, params.stride, pairs, params.dilation)
    )


def _check_padding_mode(params: ConvParams, spatial: Spatial, shape: list[int]) -> None:
    """F.pad's limits for the non-zero padding modes (checked from the last dim back)."""
    nd = params.ndim
    for axis in reversed(range(nd)):
        before, after = params.padding_pairs[axis]
        size = spatial[axis]
        if params.padding_mode == "reflect" and (before >= size or after >= size):
            raise ConfigError(
                f"Argument #{4 + 2 * (nd - 1 - axis)}: Padding size should be less than the "
                f"corresponding input dimension, but got: padding ({before}, {after}) at dimension "
                f"{len(shape) - nd + axis} of input {shape}"
            )
        if params.padding_mode == "circular" and (before > size or after > size):
            raise ConfigError("Padding value causes wrapping around more than once.")
    if params.padding_mode == "zeros":
        return
    # negative padding crops: F.pad refuses a circular crop below nothing, and a reflect or
    # replicate crop that leaves no dim of at least 1 (one that does is left to the kernel)
    padded = [i + a + b for i, (a, b) in zip(spatial, params.padding_pairs)]
    if params.padding_mode == "circular":
        if any(p < 0 for p in padded):
            raise ConfigError("Negative padding value is resulting in an empty dimension")
        return
    if any(p >= 1 for p in padded):
        return
    # in F.pad's own spacing (2-D replicate ends in " )")
    names = ("D", "H", "W")[3 - nd:]
    sizes = [f"{n}: {i}" for n, i in zip(names, spatial)]
    given = sizes[0] if nd == 1 else " ".join(sizes[:-2] + [f"{sizes[-2]}, {sizes[-1]}"])
    if nd == 2 and params.padding_mode == "replicate":
        given += " "
    raise ConfigError(
        f"input ({given}) is too small. Calculated output {' '.join(f'{n}: {p}' for n, p in zip(names, padded))}"
    )


def output_shape(params: ConvParams, input_shape: Sequence[int]) -> tuple[int, ...]:
    """The full output shape for a full input shape (N, C, *spatial) or (C, *spatial).

    >>> p = ConvParams.conv_transpose(3, 2, in_channels=16, out_channels=33)
    >>> output_shape(p, (20, 16, 50, 100))
    (20, 33, 101, 201)
    """
    lead, spatial = split_input(params, input_shape)
    _check_channels(params, input_shape, lead[-1])
    out = spatial_output(params, spatial, input_shape)
    channels = params.out_channels if params.out_channels is not None else lead[-1]
    if lead[-1] == 0 and not params.transposed:
        channels = 0  # PyTorch's empty-input path: no input channels give no output channels
    return (*lead[:-1], channels, *out)


def functional_params(
    transposed: bool,
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    bias_shape: Sequence[int] | None = None,
    *,
    stride: IntOrSeq = 1,
    padding: IntOrSeq | str = 0,
    output_padding: IntOrSeq = 0,
    dilation: IntOrSeq = 1,
    groups: int = 1,
    ndim: int = 2,
) -> ConvParams:
    """The layer a functional call (`F.conv2d`, `F.conv_transpose2d`, ...) describes, checked
    against its weight and bias in PyTorch's order and words; `output_shape` checks the input.

    >>> p = functional_params(True, (1, 4, 5, 5), (4, 3, 3, 3), (6,), stride=2, groups=2)
    >>> p.in_channels, p.out_channels, p.stride, output_shape(p, (1, 4, 5, 5))
    (4, 6, (2, 2), (1, 6, 11, 11))
    """
    op = f"conv_transpose{ndim}d" if transposed else f"conv{ndim}d"
    if len(input_shape) not in (ndim + 1, ndim + 2):
        raise ConfigError(
            f"Expected {ndim + 1}D (unbatched) or {ndim + 2}D (batched) input to {op}, "
            f"but got input of size: {list(input_shape)}"
        )
    if not isinstance(groups, int) or isinstance(groups, bool) or groups <= 0:
        raise ConfigError("non-positive groups is not supported")
    if len(weight_shape) < 3:
        raise ConfigError("weight should have at least three dimensions")
    # PyTorch expands a stride of one value to the weight's dims (a 1-D call's int stride is one
    # value), so a 1-D call with a 2-D or 3-D weight fails on the input's rank instead
    strides = len(stride) if isinstance(stride, (list, tuple)) else 1
    if ndim == 1 and len(weight_shape) != 3 and strides in (1, len(weight_shape) - 2):
        raise ConfigError(
            f"Expected {len(weight_shape)}-dimensional input for {len(weight_shape)}-dimensional weight "
            f"{list(weight_shape)}, but got 3-dimensional input of size "
            f"{list(input_shape) if len(input_shape) == 3 else [1, *input_shape]} instead"
        )
    per_dim("stride", per_dim("stride", stride, ndim), len(weight_shape) - 2)
    kernel = tuple(weight_shape[2:])
    if transposed:
        params = ConvParams.conv_transpose(
            kernel, stride, padding, output_padding, groups, bias_shape is not None, dilation, ndim=ndim
        )
    else:
        params = ConvParams.conv(kernel, stride, padding, dilation, groups, bias_shape is not None, ndim=ndim)
    if weight_shape[0] < groups:
        raise ConfigError(
            f"Given groups={groups}, expected weight to be at least {groups} at dimension 0, "
            f"but got weight of size {list(weight_shape)} instead"
        )
    if weight_shape[0] % groups:
        raise ConfigError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension 0, "
            f"but got weight of size [{list(weight_shape)}] instead"
        )
    if transposed and 0 in weight_shape:
        raise ConfigError(
            f"non-empty {ndim}D or {ndim + 2}D weight tensor expected, but got: {list(weight_shape)}"
        )
    cin, cout = weight_shape[0], weight_shape[1] * groups
    if not transposed:
        cin, cout = cout, cin
    if bias_shape is not None and tuple(bias_shape) != (cout,):
        given = "Given transposed=1, weight" if transposed else "Given weight"
        raise ConfigError(
            f"{given} of size {list(weight_shape)}, expected bias to be 1-dimensional with {cout} "
            f"elements, but got bias of size {list(bias_shape)} instead"
        )
    # the channels follow from the weight, so they are divisible by groups: no re-validation
    return dataclasses.replace(params, in_channels=cin, out_channels=cout)


# -- output_size (§2.2) ---------------------------------------------------------------------


def output_size_range(params: ConvParams, spatial: Spatial) -> tuple[Spatial, Spatial]:
    """The sizes `forward(x, output_size=...)` accepts: [min, min + stride - 1] per dim.

    >>> output_size_range(ConvParams.conv_transpose(3, 2, 1), (6, 6))
    ((11, 11), (12, 12))
    """
    mins = tuple(
        transpose_length(i, k, s, p, d)
        for i, k, s, p, d in zip(spatial, params.kernel_size, params.stride, params.padding, params.dilation)
    )
    return mins, tuple(m + s - 1 for m, s in zip(mins, params.stride))


def output_padding_for(
    params: ConvParams, input_shape: Sequence[int], output_size: Sequence[int]
) -> Spatial:
    """The output_padding PyTorch derives from `output_size` (spatial, or a full shape).

    >>> output_padding_for(ConvParams.conv_transpose(3, 2, 1), (1, 16, 6, 6), (12, 12))
    (1, 1)
    """
    nd = params.ndim
    lead, spatial = split_input(params, input_shape)
    requested = tuple(output_size)
    if len(requested) == nd + len(lead):
        requested = requested[len(lead):]
    elif len(requested) != nd:
        raise OutputSizeError(
            f"ConvTranspose{nd}D: for {len(input_shape)}D input, output_size must have {nd} or "
            f"{nd + len(lead)} elements (got {len(requested)})"
        )
    mins, maxs = output_size_range(params, spatial)
    if any(r < lo or r > hi for r, lo, hi in zip(requested, mins, maxs)):
        raise OutputSizeError(
            f"requested an output size of {requested}, but valid sizes range from {list(mins)} "
            f"to {list(maxs)} (for an input of {list(spatial)})",
            hint=_output_size_hint(params, requested, mins, maxs),
        )
    return tuple(r - m for r, m in zip(requested, mins))


def _output_size_hint(params: ConvParams, requested: Spatial, mins: Spatial, maxs: Spatial) -> str | None:
    by_padding = all(
        m <= r <= m + reach for r, m, reach in zip(requested, mins, params.max_output_padding)
    )
    if by_padding:
        ops = [r - m for r, m in zip(requested, mins)]
        return (
            f"output_padding={tuple(ops)} reaches it (allowed below max(stride, dilation)), "
            "but output_size only reaches stride - 1 above the minimum"
        )
    return "`convtool invert SIZE --to TARGET` searches layers that reach an exact size"


# -- inversion (§2.4) -----------------------------------------------------------------------


@dataclass(frozen=True)
class Inversion:
    """A Conv's output size for `size`, and the ConvTranspose output_padding that restores it."""

    size: Spatial
    conv_output: Spatial
    output_padding: Spatial
    alternatives: tuple[tuple[Spatial, Spatial], ...]  # (other size, its output_padding)


def invert_conv(params: ConvParams, size: Spatial) -> Inversion:
    """Invert a Conv: the output_padding that maps its output back to `size`, and every
    other size it maps to the same output.

    >>> inv = invert_conv(ConvParams.conv(3, 2, 1), (8, 7))
    >>> inv.conv_output, inv.output_padding, inv.alternatives
    ((4, 4), (1, 0), (((7, 7), (0, 0)), ((7, 8), (0, 1)), ((8, 8), (1, 1))))
    """
    if params.padding_string is not None and any(a != b for a, b in params.padding_pairs):
        raise ConfigError(
            "this Conv's 'same' padding is asymmetric, which no ConvTranspose padding can mirror",
            hint="use an odd kernel, or explicit padding",
        )
    out = spatial_output(params, size)
    pads = [a for a, _ in params.padding_pairs]
    dims = list(zip(out, params.kernel_size, params.stride, pads, params.dilation))
    preimages = [conv_preimage(h, k, s, p, p, d) for h, k, s, p, d in dims]

    def padding_for(sizes: Spatial) -> Spatial:
        # the smallest preimage is the transposed layer's output with output_padding 0
        return tuple(n - (pre.stop - s) for n, pre, s in zip(sizes, preimages, params.stride))

    alternatives = tuple(
        (combo, padding_for(combo)) for combo in itertools.product(*preimages) if combo != tuple(size)
    )
    return Inversion(tuple(size), out, padding_for(tuple(size)), alternatives)


# -- overlap (§2.5) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Overlap:
    """How many kernel taps each output position receives, per phase (position mod stride)."""

    pattern: tuple[int, ...]

    @property
    def even(self) -> bool:
        return len(set(self.pattern)) == 1

    @property
    def gaps(self) -> bool:
        """Some positions get no tap at all (only the bias)."""
        return min(self.pattern) == 0

    @property
    def ratio(self) -> float | None:
        """max/min taps, None when some positions get none."""
        return None if self.gaps else max(self.pattern) / min(self.pattern)

    def to_dict(self) -> dict[str, object]:
        return {"pattern": list(self.pattern), "even": self.even, "ratio": self.ratio}


def overlap(params: ConvParams) -> tuple[Overlap, ...]:
    """The interior tap-count pattern of a ConvTranspose per dim, starting at output index 0.

    >>> [o.pattern for o in overlap(ConvParams.conv_transpose(3, 2))]
    [(2, 1), (2, 1)]
    >>> overlap(ConvParams.conv_transpose(4, 2, 1))[0].even
    True
    """
    return tuple(
        Overlap(tuple(_taps(r + p, k, s, d) for r in range(s)))
        for k, s, p, d in zip(params.kernel_size, params.stride, params.padding, params.dilation)
    )


def _taps(phase: int, k: int, s: int, d: int) -> int:
    """#{t in [0, k): t*d = phase (mod s)}, in closed form (kernels and strides may be huge).

    >>> [_taps(r, 7, 4, 2) for r in range(4)] == [sum((r - t * 2) % 4 == 0 for t in range(7)) for r in range(4)]
    True
    """
    g = gcd(d, s)
    if phase % g:
        return 0
    m = s // g
    first = (phase // g) * pow(d // g, -1, m) % m if m > 1 else 0  # the smallest t that fits
    return 0 if first >= k else (k - 1 - first) // m + 1


# -- weights and cost (§2.6) ----------------------------------------------------------------


def weight_shape(params: ConvParams) -> tuple[int, ...] | None:
    """PyTorch's weight layout; None while a channel count is unknown.

    >>> weight_shape(ConvParams.conv_transpose(3, in_channels=16, out_channels=33))
    (16, 33, 3, 3)
    >>> weight_shape(ConvParams.conv(3, in_channels=16, out_channels=32, groups=4))
    (32, 4, 3, 3)
    """
    cin, cout, g = params.in_channels, params.out_channels, params.groups
    if cin is None or cout is None:
        return None
    if params.transposed:
        return (cin, cout // g, *params.kernel_size)
    return (cout, cin // g, *params.kernel_size)


def param_count(params: ConvParams) -> int | None:
    """Weight elements plus bias elements.

    >>> param_count(ConvParams.conv_transpose(3, in_channels=16, out_channels=33))
    4785
    """
    shape = weight_shape(params)
    if shape is None:
        return None
    return prod(shape) + (params.out_channels or 0 if params.bias else 0)


def macs(params: ConvParams, batch: int, in_spatial: Spatial, out_spatial: Spatial) -> int | None:
    """Multiply-accumulates for the whole batch, bias excluded (= flop_counter FLOPs / 2).

    >>> p = ConvParams.conv_transpose(3, 2, in_channels=16, out_channels=33)
    >>> macs(p, 20, (50, 100), (101, 201))
    475200000
    """
    shape = weight_shape(params)
    if shape is None:
        return None
    positions = prod(in_spatial) if params.transposed else prod(out_spatial)
    return batch * prod(shape) * positions


# -- one layer, worked out (what `convtool shape` shows) ------------------------------------


@dataclass(frozen=True)
class LayerReport:
    """Everything `convtool shape` shows about one layer applied to one input."""

    params: ConvParams
    input_spatial: Spatial
    output_spatial: Spatial
    batch: int | None
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    output_size_range: tuple[Spatial, Spatial] | None
    output_padding_from_size: Spatial | None
    weight_shape: tuple[int, ...] | None
    bias_shape: tuple[int, ...] | None
    param_count: int | None
    macs: int | None
    overlap: tuple[Overlap, ...] | None
    inverts: tuple[range, ...] | None  # per dim: Conv input lengths mapping to our input
    inverted: ConvParams | None  # that Conv: same k, s, p, d, g; channels swapped
    ignored: Spatial | None  # Conv: trailing positions never read, per dim
    warnings: tuple[str, ...] = field(default=())


def analyze(
    params: ConvParams,
    spatial: Spatial,
    *,
    batch: int | None = None,
    output_size: Sequence[int] | None = None,
) -> LayerReport:
    """Work one layer out for one input size: shapes, ranges, cost, overlap, inverse.

    >>> r = analyze(ConvParams.conv_transpose(3, 2, 1, in_channels=16, out_channels=16),
    ...             (6, 6), batch=1, output_size=(12, 12))
    >>> r.output_spatial, r.params.output_padding
    ((12, 12), (1, 1))
    """
    channels = params.in_channels
    input_shape = (batch, channels, *spatial) if batch is not None and channels is not None else None
    op_from_size = None
    if output_size is not None:
        if not params.transposed:
            raise ConfigError("output_size applies to transposed convolutions only")
        op_from_size = output_padding_for(params, (batch or 1, channels or 1, *spatial), output_size)
        params = params.replace(output_padding=op_from_size)
    out_spatial = spatial_output(params, spatial, input_shape)
    out_shape = None
    if input_shape is not None:
        checked = output_shape(params, input_shape)  # the channel checks need the whole shape
        out_shape = checked if params.out_channels is not None else None
    warnings: list[str] = []
    if params.transposed:
        ranges = output_size_range(params, spatial)
        pattern = overlap(params)
        pads = params.padding
        inverts = tuple(
            conv_preimage(i, k, s, p, p, d)
            for i, k, s, p, d in zip(spatial, params.kernel_size, params.stride, pads, params.dilation)
        )
        ignored = None
        inverted = ConvParams.conv(
            params.kernel_size, params.stride, params.padding, params.dilation, params.groups, params.bias,
            in_channels=params.out_channels, out_channels=params.in_channels,
        )
        warnings += _transpose_warnings(params, pattern)
    else:
        ranges, pattern, inverts, inverted = None, None, None, None
        dims = list(zip(spatial, params.kernel_size, params.stride, params.padding_pairs, params.dilation))
        ignored = tuple(unread(i, k, s, a, b, d) for i, k, s, (a, b), d in dims)
        leftover = tuple(conv_remainder(i, k, s, a, b, d) for i, k, s, (a, b), d in dims)
        if any(ignored):
            warnings.append(
                "the last " + " x ".join(map(str, ignored)) + " rows/cols of the input are never "
                "read (the stride does not divide the padded input)"
            )
        if any(leftover):
            warnings.append(
                "several input sizes give this output size: the ConvTranspose that restores "
                f"{'x'.join(map(str, spatial))} needs output_padding={leftover} (`convtool invert`)"
            )
    w_shape = weight_shape(params)
    n = batch if batch is not None else 1
    return LayerReport(
        params=params,
        input_spatial=tuple(spatial),
        output_spatial=out_spatial,
        batch=batch,
        input_shape=input_shape,
        output_shape=out_shape,
        output_size_range=ranges,
        output_padding_from_size=op_from_size,
        weight_shape=w_shape,
        bias_shape=(params.out_channels,) if params.bias and params.out_channels is not None else None,
        param_count=param_count(params),
        macs=macs(params, n, spatial, out_spatial) if batch is not None else None,
        overlap=pattern,
        inverts=inverts,
        inverted=inverted,
        ignored=ignored,
        warnings=tuple(warnings),
    )


def _transpose_warnings(params: ConvParams, pattern: tuple[Overlap, ...]) -> list[str]:
    warnings = []
    uneven = [i for i, o in enumerate(pattern) if not o.even]
    if any(o.gaps for o in pattern):
        warnings.append(
            "some output positions receive no kernel tap at all (only the bias): "
            "the kernel's extent does not cover the stride"
        )
    elif uneven:
        shown = ", ".join(",".join(map(str, pattern[i].pattern)) for i in uneven)
        warnings.append(
            f"uneven overlap (taps per position {shown}): expect checkerboard artifacts; "
            "a kernel divisible by the stride (e.g. k4 s2 p1) or resize + conv avoids them"
        )
    if any(op >= s for op, s in zip(params.output_padding, params.stride)):
        warnings.append(
            "output_padding >= stride is legal here only through dilation; "
            "forward(x, output_size=...) cannot request this size"
        )
    if any(p > d * (k - 1) for p, d, k in zip(params.padding, params.dilation, params.kernel_size)):
        warnings.append("padding exceeds the kernel extent d*(k-1): the output is cropped beyond it")
    return warnings
