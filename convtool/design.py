"""Design solvers: invert a Conv exactly, and search the ConvTranspose layers that reach a size.

Pure Python, never imports numpy. Every size comes from the shape engine (`convtool.shape`):
the solvers only decide which parameters to try and then ask the engine what they give.

Ranking of the search, per dim, best first (`convtool invert --help` says the same):

1. no checkerboard: even overlap (`shape.overlap`) with every output position reached by a tap, then
   uneven overlap; gaps (positions that get only the bias, inside or at a border) are worst;
2. no output_padding;
3. smaller kernel;
4. dilation 1;
5. smaller padding;
6. ties: smaller dilation, smaller output_padding, smaller stride.

A layer with several spatial dims is ranked by its worst dim (by the per-dim order above);
among equals, a layer with the same values in every dim comes first, then the one whose
next-worst dim is better, and finally the order of the dims (H before W) decides.

With a single input pixel the stride spaces nothing apart: layers that differ only in
stride are one layer, listed once with the smallest stride that allows its output_padding.

A factor F (`factor_search`) asks for out = F*in for every in: exactly the layers with
stride F and d(k-1) - 2p + op + 1 = F; one input length then stands for all. Their
default space grows with F: kernels up to max(16, 4F), as vocoders use k = 2F (HiFi-GAN)
up to k = 4F (WaveGlow). Stages (`stage_search`) split a factor into N ordered factors,
each searched as a factor; chains rank by their stages (the worst stage first, as a
layer ranks by its worst dim), then by cost (kernel taps per output pixel, summed over
the stages), then larger factors first.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from math import comb, gcd, prod

from .errors import ConfigError
from .limits import MAX_STAGES
from .params import ConvParams, Spatial
from .shape import Overlap, invert_conv, overlap, spatial_output, transpose_length

DEFAULT_MAX_KERNEL = 16
DEFAULT_MAX_STRIDE = 8
DEFAULT_MAX_DILATION = 3
MAX_SPACE = 3_000_000  # layers per dim: a search of about a second at most on this project's machines
KERNEL_PER_FACTOR = 4  # a factor search tries kernels up to 4 * factor (4 taps per output)
DEFAULT_MAX_STAGE_FACTOR = 32  # --stages: the largest factor of one stage (x512 = 16 * 32)
NARROW = "fix -k, -s or -d, or lower --max-kernel, --max-stride or --max-dilation"
MAX_SPLITS = 20_000  # ways to split the factors over the stages, all dims together

# -- the first form: an exact inverse of one Conv ------------------------------------------


@dataclass(frozen=True)
class Restoration:
    """One input size of the Conv and the ConvTranspose output_padding that gives it back."""

    size: Spatial
    output_padding: Spatial
    output_size_reachable: bool  # forward(x, output_size=size) can ask for it (op < stride)


@dataclass(frozen=True)
class ConvInverse:
    """A Conv, the size it maps to, and the ConvTranspose that maps that size back exactly."""

    conv: ConvParams
    transpose: ConvParams
    size: Spatial
    conv_output: Spatial
    restores: Spatial  # what the shape engine says `transpose` makes of `conv_output`
    output_size_reachable: bool
    alternatives: tuple[Restoration, ...]  # every other size the Conv maps to `conv_output`


def invert(conv: ConvParams, size: Sequence[int]) -> ConvInverse:
    """The ConvTranspose (same k, s, p, d, g; channels swapped) that undoes `conv` on `size`.

    >>> inv = invert(ConvParams.conv(3, 2, 1, in_channels=3, out_channels=8), (28, 28))
    >>> inv.conv_output, inv.restores, inv.transpose.torch_code()
    ((14, 14), (28, 28), 'nn.ConvTranspose2d(8, 3, kernel_size=3, stride=2, padding=1, output_padding=1)')
    >>> [(a.size, a.output_padding) for a in inv.alternatives]
    [((27, 27), (0, 0)), ((27, 28), (0, 1)), ((28, 27), (1, 0))]

    conv: a Conv{n}d's parameters (transposed=False); size: its input's spatial size.
    """
    if conv.transposed:
        raise ConfigError(
            f"expected a Conv{conv.ndim}d to invert, but got a {conv.class_name}",
            hint="the first form of `convtool invert` takes the parameters of the Conv to undo",
        )
    size = tuple(size)
    inversion = invert_conv(conv, size)
    transpose = ConvParams.conv_transpose(
        conv.kernel_size,
        conv.stride,
        tuple(before for before, _ in conv.padding_pairs),
        inversion.output_padding,
        conv.groups,
        conv.bias,
        conv.dilation,
        in_channels=conv.out_channels,
        out_channels=conv.in_channels,
        ndim=conv.ndim,
    )
    alternatives = tuple(
        _restoration(transpose, inversion.conv_output, other, op) for other, op in inversion.alternatives
    )
    return ConvInverse(
        conv=conv,
        transpose=transpose,
        size=size,
        conv_output=inversion.conv_output,
        restores=spatial_output(transpose, inversion.conv_output),
        output_size_reachable=_below_stride(transpose.output_padding, transpose.stride),
        alternatives=alternatives,
    )


def _restoration(transpose: ConvParams, h: Spatial, size: Spatial, op: Spatial) -> Restoration:
    restored = spatial_output(transpose.replace(output_padding=op), h)
    if restored != size:  # the engine disagrees with the inverse's formula: a bug, never a user error
        raise AssertionError(f"output_padding {op} restores {restored}, not {size}")
    return Restoration(size, op, _below_stride(op, transpose.stride))


def _below_stride(output_padding: Spatial, stride: Spatial) -> bool:
    """forward(x, output_size=...) reaches only output_padding < stride (dilation does not count)."""
    return all(op < s for op, s in zip(output_padding, stride))


# -- the search space -----------------------------------------------------------------------


@dataclass(frozen=True)
class DimSpace:
    """The ConvTranspose parameters the search tries in one spatial dim.

    padding None means every padding 0..dilation*(kernel-1); output_padding None means every
    legal one (below max(stride, dilation)).

    >>> DimSpace.default().size()
    29032
    """

    kernels: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    padding: int | None = None
    output_padding: int | None = None

    @classmethod
    def default(cls) -> DimSpace:
        return cls(
            tuple(range(1, DEFAULT_MAX_KERNEL + 1)),
            tuple(range(1, DEFAULT_MAX_STRIDE + 1)),
            tuple(range(1, DEFAULT_MAX_DILATION + 1)),
        )

    def paddings(self, k: int, d: int) -> range:
        """The paddings tried with kernel k and dilation d.

        >>> DimSpace.default().paddings(3, 2)
        range(0, 5)
        """
        if self.padding is not None:
            return range(self.padding, self.padding + 1)
        return range(0, d * (k - 1) + 1)

    def output_paddings(self, s: int, d: int) -> range:
        """The output_paddings tried with stride s and dilation d: the legal ones (< max(s, d)).

        >>> DimSpace.default().output_paddings(2, 3)
        range(0, 3)
        """
        legal = max(s, d)
        if self.output_padding is not None:
            return range(self.output_padding, self.output_padding + 1 if self.output_padding < legal else 0)
        return range(legal)

    def layers(self) -> Iterator[DimLayer]:
        """Every configuration of the space (what a brute force walks).

        >>> list(search_space(1, kernel_size=2, stride=2, dilation=1)[0].layers())[-1]
        DimLayer(kernel_size=2, stride=2, padding=1, output_padding=1, dilation=1)
        """
        for s, k, d in itertools.product(self.strides, self.kernels, self.dilations):
            for p in self.paddings(k, d):
                for op in self.output_paddings(s, d):
                    yield DimLayer(k, s, p, op, d)

    def size(self) -> int:
        """How many configurations the space holds, counted arithmetically (never walked).

        >>> search_space(1, kernel_size=2, stride=2, dilation=1)[0].size()
        4
        >>> DimSpace.default().size() == sum(1 for _ in DimSpace.default().layers())
        True
        """
        return _space_size(self.kernels, self.strides, self.dilations, self.padding, self.output_padding)

    def describe(self) -> str:
        """The space in words, as the search's report states it.

        >>> search_space(1, stride=2, max_kernel=4)[0].describe()
        'kernel 1-4, stride 2, dilation 1-3, padding 0..d(k-1), every legal output_padding'
        """
        parts = [f"kernel {_span(self.kernels)}", f"stride {_span(self.strides)}", f"dilation {_span(self.dilations)}"]
        parts.append("padding 0..d(k-1)" if self.padding is None else f"padding {self.padding}")
        parts.append("every legal output_padding" if self.output_padding is None else f"output_padding {self.output_padding}")
        return ", ".join(parts)


def _span(values: tuple[int, ...]) -> str:
    if len(values) == 1:
        return str(values[0])
    if values == tuple(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]}"
    return ",".join(map(str, values))


def _count(values: Sequence[int]) -> int:
    """len() of a tuple or a step-1 range of any length (len() overflows past sys.maxsize)."""
    return values.stop - values.start if isinstance(values, range) else len(values)


def _sum(values: Sequence[int]) -> int:
    """sum() of a tuple or a step-1 range, a range in closed form."""
    if isinstance(values, range):
        return (values.start + values.stop - 1) * _count(values) // 2
    return sum(values)


def _space_size(
    kernels: Sequence[int], strides: Sequence[int], dilations: Sequence[int], padding: int | None,
    output_padding: int | None,
) -> int:
    """sum over (s, k, d) of #paddings(k, d) * #output_paddings(s, d), in closed form in k and s.

    A kernel k has d(k-1)+1 paddings, so the kernels give d*sum(k-1) + #k together; a stride s
    has max(s, d) output_paddings (or one, when a fixed one is legal).
    """
    n_k = _count(kernels)
    sum_k1 = _sum(kernels) - n_k
    total = 0
    for d in dilations:
        per_kernel = n_k if padding is not None else d * sum_k1 + n_k
        total += per_kernel * _output_paddings(strides, d, output_padding)
    return total


def _output_paddings(strides: Sequence[int], d: int, output_padding: int | None) -> int:
    """sum over s of the output_paddings tried with stride s and dilation d."""
    if not isinstance(strides, range):
        return sum(
            max(s, d) if output_padding is None else int(output_padding < max(s, d)) for s in strides
        )
    low, high = strides.start, strides.stop - 1
    if output_padding is not None:  # legal when max(s, d) > op
        return _count(strides) if d > output_padding else max(0, high - max(low, output_padding + 1) + 1)
    at_most_d = max(0, min(high, d) - low + 1)  # strides below d count d each
    return d * at_most_d + _sum(range(max(low, d + 1), high + 1))


def search_space(
    ndim: int,
    *,
    kernel_size: int | Sequence[int] | None = None,
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] | None = None,
    dilation: int | Sequence[int] | None = None,
    output_padding: int | Sequence[int] | None = None,
    max_kernel: int = DEFAULT_MAX_KERNEL,
    max_stride: int = DEFAULT_MAX_STRIDE,
    max_dilation: int = DEFAULT_MAX_DILATION,
    hint: str = NARROW,
) -> tuple[DimSpace, ...]:
    """The per-dim spaces: the default ranges cut at the maxima; a given value fixes that parameter.

    >>> sp = search_space(2, kernel_size=4, stride=(2, 1), max_dilation=1)
    >>> sp[1].kernels, sp[1].strides, sp[1].dilations
    ((4,), (1,), (1,))

    A fixed value applies as given, even beyond the maxima. A space too big to search is
    refused (`hint`: how to narrow it) before anything is enumerated.
    """
    fixed = {
        "kernel_size": _fixed("kernel_size", kernel_size, ndim, 1),
        "stride": _fixed("stride", stride, ndim, 1),
        "padding": _fixed("padding", padding, ndim, 0),
        "dilation": _fixed("dilation", dilation, ndim, 1),
        "output_padding": _fixed("output_padding", output_padding, ndim, 0),
    }
    for name, maximum in (("max_kernel", max_kernel), ("max_stride", max_stride), ("max_dilation", max_dilation)):
        if maximum < 1:
            raise ConfigError(f"{name} must be at least 1, but got {maximum}")

    def pick(name: str, axis: int, maximum: int) -> Sequence[int]:
        value = fixed[name]
        return (value[axis],) if value is not None else range(1, maximum + 1)

    def given(name: str, axis: int) -> int | None:
        value = fixed[name]
        return value[axis] if value is not None else None

    # counted before any tuple is built: a huge range is refused, never enumerated
    ranges = [
        (pick("kernel_size", axis, max_kernel), pick("stride", axis, max_stride),
         pick("dilation", axis, max_dilation), given("padding", axis), given("output_padding", axis))
        for axis in range(ndim)
    ]
    for kernels, strides, dilations, pad, op in ranges:
        pairs = _count(strides) * _count(dilations)
        if op is None and pairs > MAX_SPACE:  # every (s, k, d) holds a layer: too big before the sum
            _too_big(pairs * _count(kernels), hint, at_least=True)
        size = _space_size(kernels, strides, dilations, pad, op)
        if size > MAX_SPACE:
            _too_big(size, hint)
    return tuple(
        DimSpace(tuple(kernels), tuple(strides), tuple(dilations), pad, op)
        for kernels, strides, dilations, pad, op in ranges
    )


class SpaceTooBig(ConfigError):
    """A search space past MAX_SPACE: refused, or (a stage of --stages) left out and named."""


def _too_big(size: int, hint: str, at_least: bool = False) -> None:
    raise SpaceTooBig(
        f"the search space holds {'at least ' if at_least else ''}{_short(size)} layers per dim, more than "
        f"the {MAX_SPACE:,} searched at once",
        hint=hint,
    )


def _fixed(name: str, value: int | Sequence[int] | None, ndim: int, minimum: int) -> Spatial | None:
    if value is None:
        return None
    values = (value,) * ndim if isinstance(value, int) else tuple(value)
    if len(values) != ndim:
        raise ConfigError(f"expected {name} to be one value or {ndim} values, but got {list(values)}")
    if any(v < minimum for v in values):
        raise ConfigError(f"{name} must be at least {minimum}, but got {list(values)}")
    return values


# -- one dim of a solution ------------------------------------------------------------------


@dataclass(frozen=True)
class DimLayer:
    """The parameters of one spatial dim of a ConvTranspose."""

    kernel_size: int
    stride: int
    padding: int
    output_padding: int
    dilation: int

    def params(self) -> ConvParams:
        """A 1-D ConvTranspose with these parameters (validated).

        >>> DimLayer(4, 2, 1, 0, 1).params().compact()
        'k4 s2 p1'
        """
        return ConvParams.conv_transpose(
            self.kernel_size, self.stride, self.padding, self.output_padding, dilation=self.dilation, ndim=1
        )


@dataclass(frozen=True)
class DimSolution:
    """A DimLayer that maps `length` to `target`, with its overlap and rank key."""

    layer: DimLayer
    length: int
    target: int
    overlap: Overlap
    bias_only: int  # output positions no kernel tap reaches (interior gaps or at the borders)

    @property
    def checkerboard(self) -> int:
        """0 even overlap, 1 uneven, 2 gaps (some positions get no tap, only the bias)."""
        return 2 if self.bias_only else (0 if self.overlap.even else 1)

    @cached_property  # sorting and the best-N threshold read it many times
    def key(self) -> tuple[int, ...]:
        """The per-dim rank (module docstring): smaller is better."""
        layer = self.layer
        return (
            self.checkerboard,
            int(layer.output_padding != 0),
            layer.kernel_size,
            int(layer.dilation != 1),
            layer.padding,
            layer.dilation,
            layer.output_padding,
            layer.stride,
        )


def solve_dim(length: int, target: int, space: DimSpace) -> list[DimSolution]:
    """Every layer of `space` that maps `length` to `target` in one dim, best first.

    >>> [s.layer for s in solve_dim(4, 8, search_space(1, max_kernel=4, max_dilation=1)[0])][:2]
    [DimLayer(kernel_size=2, stride=2, padding=0, output_padding=0, dilation=1), DimLayer(kernel_size=3, stride=3, padding=2, output_padding=0, dilation=1)]

    For each stride, kernel and dilation the output length falls by exactly 2 per unit of
    padding and rises by 1 per unit of output_padding, so the layers that hit `target` are
    p = (excess at p = op = 0 + op) / 2 for the output_paddings of the right parity: only
    solutions are visited, never the whole space.
    """
    solutions = []
    for s, k, d in itertools.product(space.strides, space.kernels, space.dilations):
        paddings, output_paddings = space.paddings(k, d), space.output_paddings(s, d)
        excess = transpose_length(length, k, s, 0, d) - target
        low = max(output_paddings.start, 2 * paddings.start - excess)
        high = min(output_paddings.stop - 1, 2 * (paddings.stop - 1) - excess)
        low += (low - excess) % 2
        if low > high:
            continue
        coverage = Coverage(length, k, s, d)
        for op in range(low, high + 1, 2):
            p = (excess + op) // 2
            if transpose_length(length, k, s, p, d, op) != target:  # the engine's formula has the last word
                raise AssertionError(f"k{k} s{s} p{p} op{op} d{d} does not map {length} to {target}")
            solutions.append(DimSolution(DimLayer(k, s, p, op, d), length, target, coverage.overlap(p),
                                         coverage.bias_only(p, op)))
    # layers that compute the same thing are one layer, kept with the smallest setting that
    # allows its output_padding: one input pixel has no stride to space it apart, and a 1-wide
    # kernel has no taps to dilate
    if length == 1:
        solutions = _smallest(solutions, "stride")
    solutions = _smallest(solutions, "dilation", only=lambda x: x.kernel_size == 1)
    solutions.sort(key=lambda sol: sol.key)
    return solutions


def _smallest(
    solutions: list[DimSolution], field: str, only: Callable[[DimLayer], bool] = lambda x: True
) -> list[DimSolution]:
    """The solutions with the layers that differ only in `field` (among those `only` selects)
    reduced to the one with its smallest value."""
    kept: dict[object, DimSolution] = {}
    for i, sol in enumerate(solutions):
        x = sol.layer
        key = replace(x, **{field: 0}) if only(x) else i
        if key not in kept or getattr(x, field) < getattr(kept[key].layer, field):
            kept[key] = sol
    return list(kept.values())


def bias_only(layer: DimLayer, length: int, pattern: Overlap | None = None) -> int:
    """How many output positions of the layer on `length` inputs receive no kernel tap.

    >>> bias_only(DimLayer(2, 2, 1, 0, 3), 28)  # taps 3 apart: the first and last miss out
    2
    >>> bias_only(DimLayer(4, 2, 1, 0, 1), 28)
    0

    `pattern` is accepted for callers that have it; the count never needs it.
    """
    return Coverage(length, layer.kernel_size, layer.stride, layer.dilation).bias_only(
        layer.padding, layer.output_padding
    )


EXPLICIT = 1_000_000  # positions counted one by one at most (a huge kernel on a tiny input)


class Coverage:
    """Which positions q of a ConvTranspose's uncropped output (q = i*s + t*d) get a kernel tap.

    One per (length, k, s, d); every padding and output_padding then only picks a window.
    Away from both ends position q gets _taps(q mod s) taps (the interior pattern); within
    d*(s/g - 1) of an end (g = gcd(d, s)) a tap may fall outside the input, so those
    positions are tested one by one, each in O(1). The uncropped output is symmetric
    (i -> length-1-i, t -> k-1-t), so the end's exceptions mirror the start's.
    """

    def __init__(self, length: int, k: int, s: int, d: int) -> None:
        self.length, self.k, self.s, self.d = length, k, s, d
        self.full = transpose_length(length, k, s, 0, d)
        self.base, self.zero_before, edge, long_start = _periodic(k, s, d)
        self.explicit: tuple[int, ...] | None = None  # uncovered positions, when every one is tested
        self.edge: int | None = None  # set when an interior exists: the width of the exceptions
        if d * (k - 1) <= (length - 1) * s and 2 * edge < self.full:
            self.edge = edge
            # the last input row lies past the start's exceptions: they are those of any long input
            self.start = long_start if (length - 1) * s >= edge else tuple(q for q in range(edge) if not self.covered(q))
            self.end = tuple(self.full - 1 - q for q in reversed(self.start))
        elif length * k <= 4 * self.full:  # a short input: the union of its rows' taps is cheap
            tapped = set().union(*(range(i * s, i * s + d * k, d) for i in range(length)))
            self.explicit = tuple(q for q in range(self.full) if q not in tapped)
        elif self.full <= EXPLICIT:
            self.explicit = tuple(q for q in range(self.full) if not self.covered(q))

    def covered(self, q: int) -> bool:
        """Some t in [0, k) and i in [0, length) give q = i*s + t*d."""
        return _tapped(q, self.k, self.s, self.d, (self.length - 1) * self.s)

    def overlap(self, p: int) -> Overlap:
        """The interior pattern with padding p: output position o is uncropped position o + p."""
        r = p % self.s
        return Overlap(self.base[r:] + self.base[:r])

    def bias_only(self, p: int, op: int) -> int:
        """Uncovered positions of the output window [p, full - p + op), which may run past the
        uncropped output (op > p adds positions no tap reaches)."""
        end = self.full - p + op
        low, high = p, max(p, min(self.full, end))
        beyond = max(0, end - max(p, self.full))
        if self.explicit is not None:
            return _between(self.explicit, low, high) + beyond
        if self.edge is None:
            if high - low > EXPLICIT:
                raise ConfigError(
                    f"a kernel of {self.k} on an input of {self.length} gives {high - low:,} output "
                    "positions to check one by one, too many to count the gaps of",
                    hint="fix a smaller -k or a smaller target",
                )
            return sum(1 for q in range(low, high) if not self.covered(q)) + beyond
        missed = _between(self.start, low, high) + _between(self.end, low, high)
        inner_low, inner_high = max(low, self.edge), min(high, self.full - self.edge)
        if inner_low < inner_high:
            missed += self._zeros_below(inner_high) - self._zeros_below(inner_low)
        return missed + beyond

    def _zeros_below(self, q: int) -> int:
        """How many positions in [0, q) have a phase without taps (the interior rule)."""
        return q // self.s * self.zero_before[-1] + self.zero_before[q % self.s]


def _tapped(q: int, k: int, s: int, d: int, last: int | None) -> bool:
    """Some t in [0, k) and i >= 0 with i*s <= `last` (None: no last row) give q = i*s + t*d."""
    g = gcd(d, s)
    if q % g:
        return False
    m = s // g
    residue = (q // g) * (pow(d // g, -1, m) if m > 1 else 0) % m  # t = residue (mod m) solves t*d = q (mod s)
    low = 0 if last is None else max(0, -((last - q) // d))
    high = min(k - 1, q // d)
    return low <= high and low + (residue - low) % m <= high


@lru_cache(maxsize=4096)
def _periodic(k: int, s: int, d: int) -> tuple[tuple[int, ...], tuple[int, ...], int, tuple[int, ...]]:
    """What a (k, s, d) layer's coverage does not owe to the input length: its interior pattern,
    how many of the first r phases have no tap (r = 0..s), the width d*(s/g - 1) of the
    exceptions at each end, and the exceptions at the start of a long input's output."""
    base = overlap(ConvParams.conv_transpose(k, s, 0, 0, dilation=d, ndim=1))[0].pattern
    zero_before = tuple(itertools.accumulate((taps == 0 for taps in base), initial=0))
    edge = d * (s // gcd(d, s) - 1)
    return base, zero_before, edge, tuple(q for q in range(edge) if not _tapped(q, k, s, d, None))


def _between(sorted_values: Sequence[int], low: int, high: int) -> int:
    return bisect.bisect_left(sorted_values, high) - bisect.bisect_left(sorted_values, low)


def reachable_near(length: int, target: int, space: DimSpace) -> tuple[int | None, int | None]:
    """The nearest output lengths below and above `target` that `space` reaches from `length`.

    >>> reachable_near(4, 100, search_space(1)[0])
    (77, None)
    """
    below: int | None = None
    above: int | None = None
    for s, k, d in itertools.product(space.strides, space.kernels, space.dilations):
        paddings, output_paddings = space.paddings(k, d), space.output_paddings(s, d)
        if not paddings or not output_paddings:
            continue
        # outputs reachable with this (s, k, d): base + op - 2p. Two or more output_paddings
        # reach every integer between the extremes (each p covers two neighbours); one
        # output_padding reaches every second one.
        top = transpose_length(length, k, s, paddings.start, d, output_paddings.stop - 1)
        bottom = transpose_length(length, k, s, paddings.stop - 1, d, output_paddings.start)
        step = 1 if len(output_paddings) > 1 else 2
        if bottom < 1:
            bottom += -(-(1 - bottom) // step) * step
        if bottom > top:
            continue
        if bottom < target:
            candidate = min(top, target - 1)
            candidate -= (candidate - bottom) % step
            below = candidate if below is None else max(below, candidate)
        if top > target:
            candidate = max(bottom, target + 1)
            candidate += (bottom - candidate) % step
            above = candidate if above is None else min(above, candidate)
    return below, above


# -- the search -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Solution:
    """A ConvTranspose that maps the search's size to its target exactly, with what ranks it."""

    params: ConvParams
    dims: tuple[DimSolution, ...]
    cost: float  # MACs per output pixel per (input channel, output channel) pair

    @property
    def overlap(self) -> tuple[Overlap, ...]:
        """The interior tap pattern per dim (`shape.overlap`)."""
        return tuple(dim.overlap for dim in self.dims)

    @property
    def even(self) -> bool:
        """Even interior overlap in every dim."""
        return all(o.even for o in self.overlap)

    @property
    def gaps(self) -> bool:
        """Some output position gets no kernel tap at all, in the interior or at a border."""
        return any(dim.bias_only for dim in self.dims)

    @property
    def checkerboard_free(self) -> bool:
        """Even overlap and every output position reached: what the ranking puts first."""
        return self.even and not self.gaps

    @property
    def output_size_reachable(self) -> bool:
        """Whether forward(x, output_size=target) without output_padding reaches it too."""
        return _below_stride(self.params.output_padding, self.params.stride)

    def to_dict(self) -> dict[str, object]:
        """The solution as `invert --to --json` prints it: parameters, overlap, gaps, cost and code."""
        p = self.params
        return {
            "kernel_size": list(p.kernel_size),
            "stride": list(p.stride),
            "padding": list(p.padding),
            "output_padding": list(p.output_padding),
            "dilation": list(p.dilation),
            "even": self.even,
            "overlap": [o.to_dict() for o in self.overlap],
            "gaps": self.gaps,
            "bias_only": [dim.bias_only for dim in self.dims],
            "cost": self.cost,
            "output_size_reachable": self.output_size_reachable,
            "code": p.torch_code(),
        }


@dataclass(frozen=True)
class Search:
    """Every ConvTranspose of a search space that maps `size` to `target`, per dim, ranked."""

    size: Spatial
    target: Spatial
    space: tuple[DimSpace, ...]
    per_dim: tuple[tuple[DimSolution, ...], ...]  # each dim's solutions, best first
    factor: Spatial | None = None  # a factor search: every layer maps any n to factor * n

    @property
    def total(self) -> int:
        """How many layers solve it: the product of the per-dim counts."""
        return prod(len(sols) for sols in self.per_dim)

    def solutions(self, top: int | None = None, *, in_channels: int | None = None,
                  out_channels: int | None = None) -> list[Solution]:
        """The best `top` layers (all when None), ranked as the module docstring says.

        >>> s = search((28, 28), (56, 56))
        >>> [sol.params.compact() for sol in s.solutions(3)]
        ['k2 s2', 'k4 s2 p1', 'k2x4 s2 p0x1']
        """
        chosen = sorted(itertools.product(*self._candidates(top)), key=_combined_key)
        return [self._solution(combo, in_channels, out_channels) for combo in chosen[:top]]

    @cached_property
    def _keys(self) -> list[list[tuple[int, ...]]]:
        return [[sol.key for sol in sols] for sols in self.per_dim]

    def _candidates(self, top: int | None) -> list[tuple[DimSolution, ...]]:
        """Per dim, the only solutions that can be among the best `top` layers.

        They are the ones whose key is at most the smallest threshold that at least `top`
        layers stay under: a layer ranks first by its worst dim, so every layer under the
        threshold beats every layer over it.
        """
        if top is None or self.total <= top:
            return list(self.per_dim)
        per_dim_keys = self._keys
        for threshold in heapq.merge(*per_dim_keys):  # each dim is sorted: the thresholds in order, lazily
            counts = [bisect.bisect_right(keys, threshold) for keys in per_dim_keys]
            if prod(counts) >= top:
                return [sols[:n] for sols, n in zip(self.per_dim, counts)]
        raise AssertionError("unreachable: the largest key keeps every layer")

    def _solution(self, combo: tuple[DimSolution, ...], cin: int | None, cout: int | None) -> Solution:
        layers = [sol.layer for sol in combo]
        params = ConvParams.conv_transpose(
            tuple(x.kernel_size for x in layers),
            tuple(x.stride for x in layers),
            tuple(x.padding for x in layers),
            tuple(x.output_padding for x in layers),
            dilation=tuple(x.dilation for x in layers),
            in_channels=cin,
            out_channels=cout,
            ndim=len(layers),
        )
        if spatial_output(params, self.size) != self.target:
            raise AssertionError(f"{params.compact()} maps {self.size} to {spatial_output(params, self.size)}")
        cost = prod(params.kernel_size) * prod(self.size) / prod(self.target)
        return Solution(params, combo, cost)

    def nearest(self, limit: int = 4) -> list[Spatial]:
        """Targets near this one that the same space reaches (empty when every dim is solved).

        >>> search((4, 4), (100, 8)).nearest()
        [(77, 8)]

        A factor search has none: another target is not another factor.
        """
        if self.total or self.factor is not None:
            return []
        options = []
        for length, target, space, sols in zip(self.size, self.target, self.space, self.per_dim):
            if sols:
                options.append([target])
            else:
                options.append([t for t in reachable_near(length, target, space) if t is not None])
        candidates = itertools.product(*options)
        return sorted(candidates, key=lambda c: (sum(abs(a - b) for a, b in zip(c, self.target)), c))[:limit]


def _combined_key(combo: tuple[DimSolution, ...]) -> tuple[object, ...]:
    keys = [sol.key for sol in combo]
    return (max(keys), len(set(keys)) > 1, sorted(keys, reverse=True), keys)


def search(size: Sequence[int], target: Sequence[int], space: Sequence[DimSpace] | None = None) -> Search:
    """Search `space` (default: `DimSpace.default()`) for the ConvTranspose layers taking `size` to `target`.

    >>> s = search((7,), (14,))
    >>> s.total, s.solutions(1)[0].params.torch_code()
    (292, 'nn.ConvTranspose1d(in_channels, out_channels, kernel_size=2, stride=2)')

    size, target: spatial sizes with the same number of dims; space: one DimSpace per dim.
    """
    size, target = tuple(size), tuple(target)
    if len(size) != len(target):
        raise ConfigError(
            f"SIZE has {len(size)} spatial dims but TARGET has {len(target)}",
            hint="write both as HxW (or one int each for a square)",
        )
    if any(n < 1 for n in size + target):
        raise ConfigError(f"sizes must be positive, but got {list(size)} -> {list(target)}")
    spaces = tuple(space) if space is not None else (DimSpace.default(),) * len(size)
    if len(spaces) != len(size):
        raise ConfigError(f"expected {len(size)} per-dim search spaces, but got {len(spaces)}")
    per_dim = tuple(tuple(solve_dim(n, t, sp)) for n, t, sp in zip(size, target, spaces))
    return Search(size, target, spaces, per_dim)


# -- a factor: out = F * in for every in (`invert SIZE --factor F`) -------------------------


def factor_space(
    factor: Sequence[int],
    *,
    kernel_size: int | Sequence[int] | None = None,
    padding: int | Sequence[int] | None = None,
    dilation: int | Sequence[int] | None = None,
    output_padding: int | Sequence[int] | None = None,
    max_kernel: int | None = None,
    max_dilation: int = DEFAULT_MAX_DILATION,
) -> tuple[DimSpace, ...]:
    """The factor-aware space per dim: stride F, kernels up to max(16, 4F) (or max_kernel).

    >>> [(sp.strides, sp.kernels[-1]) for sp in factor_space((1, 8))]
    [((1,), 16), ((8,), 32)]
    """
    nd = len(factor)
    fixed = {
        name: _fixed(name, value, nd, minimum)
        for name, value, minimum in (("kernel_size", kernel_size, 1), ("padding", padding, 0),
                                     ("dilation", dilation, 1), ("output_padding", output_padding, 0))
    }
    spaces: list[DimSpace] = []
    for axis, f in enumerate(factor):
        if f < 1:
            raise ConfigError(f"a factor must be at least 1, but got {list(factor)}")
        given = {name: (value[axis],) if value is not None else None for name, value in fixed.items()}
        spaces += search_space(
            1, stride=f, max_kernel=max_kernel or max(DEFAULT_MAX_KERNEL, KERNEL_PER_FACTOR * f),
            max_dilation=max_dilation, hint="fix -k or -d, lower --max-kernel, or split the factor with --stages",
            kernel_size=given["kernel_size"], padding=given["padding"], dilation=given["dilation"],
            output_padding=given["output_padding"],
        )
    return tuple(spaces)


def factor_search(size: Sequence[int], factor: Sequence[int], space: Sequence[DimSpace] | None = None) -> Search:
    """Every ConvTranspose of the space with out = factor * in for every in, ranked as `search`.

    >>> [s.params.compact() for s in factor_search((80,), (8,)).solutions(3)]
    ['k8 s8', 'k16 s8 p4', 'k16 s8 p19 d3']

    With stride F, out = F*n + d(k-1) - 2p + op + 1 - F: one length n mapped to F*n fixes
    d(k-1) - 2p + op + 1 = F, so the layers found for `size` are those for every size.
    """
    size, factor = tuple(size), tuple(factor)
    if len(size) != len(factor):
        raise ConfigError(f"SIZE has {len(size)} spatial dims but the factor has {len(factor)}")
    spaces = tuple(space) if space is not None else factor_space(factor)
    if any(sp.strides != (f,) for sp, f in zip(spaces, factor)):
        raise ConfigError("a factor search fixes the stride to the factor in every dim")
    found = search(size, tuple(f * n for f, n in zip(factor, size)), spaces)
    return replace(found, factor=factor)


# -- stages: a factor split over N layers (`invert ... --stages N`) -------------------------


@dataclass(frozen=True)
class Stage:
    """One layer of a chain: its factor per dim (None for the odd first layer of a SIZE -> TARGET
    design, a plain search), its input size, and its ranked layers.

    A factor stage's `ranking` may be the factor search of a longer input (`_ranking_length`):
    the layers and their order do not depend on the length then, only the gap counts, which
    `solutions` works out again for this stage's own input.
    """

    factor: Spatial | None
    size: Spatial
    ranking: Search

    @property
    def target(self) -> Spatial:
        if self.factor is None:
            return self.ranking.target
        return tuple(f * n for f, n in zip(self.factor, self.size))

    @property
    def total(self) -> int:
        return self.ranking.total

    def solutions(self, top: int) -> list[Solution]:
        """The best `top` layers of this stage, worked out for its own input size."""
        found = []
        for solution in self.ranking.solutions(top):
            dims = tuple(
                replace(dim, length=n, target=t, bias_only=bias_only(dim.layer, n))
                for dim, n, t in zip(solution.dims, self.size, self.target)
            )
            if spatial_output(solution.params, self.size) != self.target:
                raise AssertionError(f"{solution.params.compact()} does not map {self.size} to {self.target}")
            if [d.key for d in dims] != [d.key for d in solution.dims]:
                raise AssertionError(f"{solution.params.compact()} ranks differently on {self.size}")
            found.append(replace(solution, dims=dims))
        return found

    @cached_property
    def best(self) -> Solution:
        return self.solutions(1)[0]


def _ranking_length(n: int, space: DimSpace) -> int:
    """A length whose factor search ranks exactly as length n's: n itself, or for long inputs a
    shorter one that is still long enough for every layer of the space to have an interior
    (d(k-1) <= (n-1)F), gap exceptions only within d*F of the ends, and an interior window of
    at least F positions; past that, whether a layer has gaps no longer depends on n.

    >>> _ranking_length(10**9, factor_space((8,))[0]), _ranking_length(5, factor_space((8,))[0])
    (33, 5)
    """
    f, d = space.strides[0], max(space.dilations)
    reach = max(d * (max(space.kernels) - 1), space.padding or 0)
    enough = -(-(2 * reach + 2 * d * f + 2 * f) // f) + 1
    return min(n, enough)


@dataclass(frozen=True)
class Chain:
    """N layers, one per stage, each the best of its stage; sizes as the shape engine runs them."""

    stages: tuple[Stage, ...]
    sizes: tuple[Spatial, ...]  # the input, then every stage's output
    cost: float  # kernel taps per output pixel per (in, out) channel pair, all stages together

    @property
    def layers(self) -> tuple[Solution, ...]:
        return tuple(stage.best for stage in self.stages)

    @property
    def factors(self) -> tuple[Spatial | None, ...]:
        return tuple(stage.factor for stage in self.stages)

    def key(self) -> tuple[object, ...]:
        """Worst stage first (as a layer ranks by its worst dim), then cost, then larger factors first."""
        stage_keys = sorted((_combined_key(layer.dims) for layer in self.layers), reverse=True)
        larger_first = tuple(tuple(-f for f in factor) if factor else () for factor in self.factors)
        return (stage_keys, self.cost, larger_first)

    def to_dict(self, per_stage: int = 3) -> dict[str, object]:
        return {
            "factors": [list(f) if f else None for f in self.factors],
            "sizes": [list(s) for s in self.sizes],
            "cost": self.cost,
            "stages": [
                {"factor": list(stage.factor) if stage.factor else None, "input": list(stage.size),
                 "output": list(stage.target),
                 "total": stage.total, "solutions": [s.to_dict() for s in stage.solutions(per_stage)]}
                for stage in self.stages
            ],
        }


@dataclass(frozen=True)
class StageSearch:
    """Every split of a factor (or of SIZE -> TARGET) over N stages with a layer in each stage, ranked."""

    size: Spatial
    target: Spatial
    factor: Spatial | None  # None: TARGET is no whole multiple of SIZE, the first stage is a plain search
    stages: int
    max_factor: int
    chains: tuple[Chain, ...]
    splits: int  # splits tried (each stage's factor at most max_factor, every stage upsampling)
    too_big: tuple[Spatial, ...] = ()  # stage factors whose space is past MAX_SPACE: their splits left out


def factorizations(n: int, parts: int, largest: int) -> list[tuple[int, ...]]:
    """Every ordered way to write n as a product of `parts` factors in 1..largest.

    >>> factorizations(12, 2, 6)
    [(2, 6), (3, 4), (4, 3), (6, 2)]
    """
    if parts <= 1:
        return [(n,) * parts] if n <= largest and (parts or n == 1) else []
    found = []
    for first in range(1, min(n, largest) + 1):
        if n % first == 0:
            found += [(first, *rest) for rest in factorizations(n // first, parts - 1, largest)]
    return found


def _split_count(n: int, parts: int, largest: int) -> int:
    """An upper bound of len(factorizations(n, parts, largest)) from n's prime factors (the
    ways to spread each prime's exponent over the parts), without enumerating anything.
    Refuses, in one sentence, a factor with a prime above `largest` (no split has it)."""
    if parts == 0:
        return int(n == 1)
    count = 1
    rest = n
    for prime in range(2, largest + 1):
        exponent = 0
        while rest % prime == 0:
            rest //= prime
            exponent += 1
        count *= comb(exponent + parts - 1, parts - 1)
    if rest > 1:
        raise ConfigError(
            f"the factor {n if n < 10**30 else 'of ' + _short(n)} has a prime factor above {largest}, the largest "
            "factor of one stage",
            hint="raise --max-stride (the largest stage factor) or choose another factor",
        )
    return count


def _short(n: int) -> str:
    """A number for a sentence: `160,801`, or `about 10^400` past 30 digits.

    >>> _short(160801), _short(10**400 - 1)
    ('160,801', 'about 10^399')
    """
    if n < 10**30:
        return f"{n:,}"
    digits = len(str(n)) if n.bit_length() < 14_000 else int(n.bit_length() * 0.30103) + 1  # str() stops at 4,300
    return f"about 10^{digits - 1}"


def stage_search(
    size: Sequence[int],
    factor: Sequence[int],
    stages: int,
    *,
    max_factor: int = DEFAULT_MAX_STAGE_FACTOR,
    **constraints: object,
) -> StageSearch:
    """Split `factor` (per dim) over `stages` layers; each stage is a factor search, the chains ranked.

    A split with a stage whose space is too big to search is left out; `too_big` names those factors.

    >>> found = stage_search((80,), (300,), 2)
    >>> [c.factors for c in found.chains[:2]], found.chains[0].sizes
    ([((15,), (20,)), ((20,), (15,))], ((80,), (1200,), (24000,)))

    constraints: kernel_size, padding, dilation, output_padding, max_kernel, max_dilation, as
    `factor_space` takes them, for every stage.
    """
    size, factor = tuple(size), tuple(factor)
    if len(size) != len(factor):
        raise ConfigError(f"SIZE has {len(size)} spatial dims but the factor has {len(factor)}")
    if not 1 <= stages <= MAX_STAGES:
        raise ConfigError(f"stages must be 1 to {MAX_STAGES}, but got {stages}")
    if max_factor < 2:
        raise ConfigError(f"the largest stage factor must be at least 2, but got {max_factor}")
    if any(n < 1 for n in size) or any(f < 1 for f in factor):
        raise ConfigError(f"sizes and factors must be positive, but got {list(size)} and {list(factor)}")
    _check_split_count(prod(_split_count(f, stages, max_factor) for f in set(factor)), stages)
    splits = _splits(factor, stages, max_factor)
    met = _Stages(constraints)
    chains = [chain for split in splits if (chain := _chain(size, split, met)) is not None]
    chains.sort(key=Chain.key)
    target = tuple(f * n for f, n in zip(factor, size))
    return StageSearch(size, target, factor, stages, max_factor, tuple(chains), len(splits), tuple(sorted(met.too_big)))


def stage_search_to(
    size: Sequence[int],
    target: Sequence[int],
    stages: int,
    *,
    max_factor: int = DEFAULT_MAX_STAGE_FACTOR,
    **constraints: object,
) -> StageSearch:
    """SIZE -> TARGET over `stages` layers: a whole factor TARGET / SIZE is split as `stage_search`
    splits it; otherwise the first layer takes SIZE to a size m from which the other stages
    multiply to TARGET (m = TARGET / F for every F they can split), and is searched as
    `search` searches (the default space, narrowed by the constraints).

    >>> found = stage_search_to((7,), (64,), 3)
    >>> found.chains[0].sizes, found.chains[0].layers[0].params.compact()
    (((7,), (16,), (32,), (64,)), 'k4 s2')
    """
    size, target = tuple(size), tuple(target)
    if len(size) != len(target):
        raise ConfigError(f"SIZE has {len(size)} spatial dims but TARGET has {len(target)}")
    if any(n < 1 for n in size + target):
        raise ConfigError(f"sizes must be positive, but got {list(size)} -> {list(target)}")
    if all(t % n == 0 for n, t in zip(size, target)):
        factor = tuple(t // n for n, t in zip(size, target))
        return stage_search(size, factor, stages, max_factor=max_factor, **constraints)
    if not 1 <= stages <= MAX_STAGES:
        raise ConfigError(f"stages must be 1 to {MAX_STAGES}, but got {stages}")
    groups = sorted(set(zip(size, target)))  # dims alike share their design: square stays square
    options = [_rest_factors(t, stages - 1, max_factor) for _, t in groups]
    _check_split_count(prod(sum(_split_count(f, stages - 1, max_factor) for f in fs) for fs in options), stages)
    space = search_space(
        len(size), kernel_size=constraints.get("kernel_size"), padding=constraints.get("padding"),  # type: ignore[arg-type]
        dilation=constraints.get("dilation"), output_padding=constraints.get("output_padding"),  # type: ignore[arg-type]
        max_kernel=constraints.get("max_kernel") or DEFAULT_MAX_KERNEL,  # type: ignore[arg-type]
        max_dilation=constraints.get("max_dilation") or DEFAULT_MAX_DILATION,  # type: ignore[arg-type]
    )
    met = _Stages(constraints)
    chains, tried = [], 0
    for combo in itertools.product(*options):
        rest = dict(zip(groups, combo))
        factor = tuple(rest[(n, t)] for n, t in zip(size, target))
        middle = tuple(t // f for f, t in zip(factor, target))
        first = met.search(size, middle, space)
        splits = _splits(factor, stages - 1, max_factor)
        tried += len(splits)
        if first.total:
            start = Stage(None, size, first)
            chains += [chain for split in splits if (chain := _chain(size, split, met, start)) is not None]
    chains.sort(key=Chain.key)
    return StageSearch(size, target, None, stages, max_factor, tuple(chains), tried, tuple(sorted(met.too_big)))


def _rest_factors(t: int, parts: int, largest: int) -> list[int]:
    """Every divisor F of t that `parts` stages of at most `largest` each can make.

    >>> _rest_factors(64, 2, 32)
    [1, 2, 4, 8, 16, 32, 64]
    """
    found = [1]
    rest = t
    for prime in range(2, largest + 1):
        exponent = 0
        while rest % prime == 0:
            rest //= prime
            exponent += 1
        found = [f * prime**e for f in found for e in range(exponent + 1) if f * prime**e <= largest**parts]
    return sorted(found)


def _check_split_count(count: int, stages: int) -> None:
    if count > MAX_SPLITS:
        raise ConfigError(
            f"{_short(count)} ways to split the factor over {stages} stages, more than the {MAX_SPLITS:,} tried at once",
            hint="use fewer --stages or a smaller --max-stride (the largest stage factor)",
        )


def _splits(factor: Spatial, stages: int, largest: int) -> list[tuple[Spatial, ...]]:
    """Every way to write `factor` (per dim) as `stages` ordered stage factors of at most
    `largest`, each stage upsampling some dim; dims with the same factor share one split."""
    distinct = sorted(set(factor))
    splits = []
    for combo in itertools.product(*[factorizations(f, stages, largest) for f in distinct]):
        of = dict(zip(distinct, combo))
        split = tuple(tuple(of[f][i] for f in factor) for i in range(stages))
        if all(any(f > 1 for f in stage) for stage in split):
            splits.append(split)
    return splits


class _Stages:
    """The stages met while chains are built: one factor search per (ranking length, factor),
    shared by every input that ranks alike (`_ranking_length`)."""

    def __init__(self, constraints: dict[str, object]) -> None:
        self.constraints = constraints
        self.spaces: dict[Spatial, tuple[DimSpace, ...]] = {}
        self.rankings: dict[tuple[Spatial, Spatial], Search] = {}
        self.stages: dict[tuple[Spatial, Spatial], Stage | None] = {}
        self.dims: dict[tuple[int, int, DimSpace], tuple[DimSolution, ...]] = {}  # dims alike solve once
        self.too_big: set[Spatial] = set()

    def get(self, n: Spatial, factor: Spatial) -> Stage | None:
        """The stage that multiplies `n` by `factor`; None when its space has no layer or is too big."""
        if factor in self.too_big:
            return None
        if (n, factor) not in self.stages:
            if factor not in self.spaces:
                try:
                    self.spaces[factor] = factor_space(factor, **self.constraints)  # type: ignore[arg-type]
                except SpaceTooBig:
                    self.too_big.add(factor)
                    return None
            space = self.spaces[factor]
            length = tuple(_ranking_length(i, sp) for i, sp in zip(n, space))
            if (length, factor) not in self.rankings:
                target = tuple(f * i for f, i in zip(factor, length))
                per_dim = tuple(self._solve(i, t, sp) for i, t, sp in zip(length, target, space))
                self.rankings[(length, factor)] = Search(length, target, space, per_dim, factor)
            ranking = self.rankings[(length, factor)]
            self.stages[(n, factor)] = Stage(factor, n, ranking) if ranking.total else None
        return self.stages[(n, factor)]

    def search(self, size: Spatial, target: Spatial, space: tuple[DimSpace, ...]) -> Search:
        """`search(size, target, space)`, its dims solved through the cache."""
        return Search(size, target, space, tuple(self._solve(n, t, sp) for n, t, sp in zip(size, target, space)))

    def _solve(self, length: int, target: int, space: DimSpace) -> tuple[DimSolution, ...]:
        """`factor_search`'s per-dim work, shared by every stage with this dim."""
        if (length, target, space) not in self.dims:
            self.dims[(length, target, space)] = tuple(solve_dim(length, target, space))
        return self.dims[(length, target, space)]


def _chain(size: Spatial, split: tuple[Spatial, ...], met: _Stages, first: Stage | None = None) -> Chain | None:
    """The chain of a split (after `first`, when given) with the best layer of each stage, run
    through the shape engine; None when some stage has no layer in its space."""
    stages = [first] if first is not None else []
    n = first.target if first is not None else size
    for factor in split:
        stage = met.get(n, factor)
        if stage is None:
            return None
        stages.append(stage)
        n = stage.target
    sizes = [size]
    for stage in stages:
        sizes.append(spatial_output(stage.best.params, sizes[-1]))
        if sizes[-1] != stage.target:
            raise AssertionError(f"{stage.best.params.compact()} maps {sizes[-2]} to {sizes[-1]}")
    final = prod(sizes[-1])
    cost = sum(prod(stage.best.params.kernel_size) * prod(n_in) for stage, n_in in zip(stages, sizes)) / final
    return Chain(tuple(stages), tuple(sizes), cost)
