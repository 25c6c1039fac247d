"""Design solvers: invert a Conv exactly, and search the ConvTranspose layers that reach a size.

Pure Python, never imports numpy. Every size comes from the shape engine (`convtool.shape`):
the solvers only decide which parameters to try and then ask the engine what they give.

Ranking of the search (SPEC §4.2), per dim, best first:

1. no checkerboard: even overlap (§2.5) with every output position reached by a tap, then
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
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from math import prod

from .errors import ConfigError
from .params import ConvParams, Spatial
from .shape import Overlap, invert_conv, overlap, spatial_output, tap_count, transpose_length

DEFAULT_MAX_KERNEL = 16
DEFAULT_MAX_STRIDE = 8
DEFAULT_MAX_DILATION = 3
MAX_SPACE = 3_000_000  # layers per dim: about 2 s of search on this project's machines

# -- the first form: an exact inverse of one Conv (SPEC §2.4) -----------------------------


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
    if restored != size:  # the engine disagrees with §2.4: a bug, never a user error
        raise AssertionError(f"output_padding {op} restores {restored}, not {size}")
    return Restoration(size, op, _below_stride(op, transpose.stride))


def _below_stride(output_padding: Spatial, stride: Spatial) -> bool:
    """forward(x, output_size=...) reaches only output_padding < stride (SPEC §2.2)."""
    return all(op < s for op, s in zip(output_padding, stride))


# -- the search space (SPEC §4.2) -----------------------------------------------------------


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
        """How many configurations the space holds.

        >>> search_space(1, kernel_size=2, stride=2, dilation=1)[0].size()
        4
        """
        return sum(
            len(self.paddings(k, d)) * len(self.output_paddings(s, d))
            for s, k, d in itertools.product(self.strides, self.kernels, self.dilations)
        )

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
) -> tuple[DimSpace, ...]:
    """The per-dim spaces: the default ranges cut at the maxima; a given value fixes that parameter.

    >>> sp = search_space(2, kernel_size=4, stride=(2, 1), max_dilation=1)
    >>> sp[1].kernels, sp[1].strides, sp[1].dilations
    ((4,), (1,), (1,))

    A fixed value applies as given, even beyond the maxima.
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

    def pick(name: str, axis: int, maximum: int) -> tuple[int, ...]:
        value = fixed[name]
        return (value[axis],) if value is not None else tuple(range(1, maximum + 1))

    def given(name: str, axis: int) -> int | None:
        value = fixed[name]
        return value[axis] if value is not None else None

    spaces = []
    for axis in range(ndim):
        spaces.append(
            DimSpace(
                kernels=pick("kernel_size", axis, max_kernel),
                strides=pick("stride", axis, max_stride),
                dilations=pick("dilation", axis, max_dilation),
                padding=given("padding", axis),
                output_padding=given("output_padding", axis),
            )
        )
    largest = max(space.size() for space in spaces)
    if largest > MAX_SPACE:
        raise ConfigError(
            f"the search space holds {largest:,} layers per dim, more than the {MAX_SPACE:,} searched at once",
            hint="fix -k, -s or -d, or lower --max-kernel, --max-stride or --max-dilation",
        )
    return tuple(spaces)


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

    @property
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

    For each stride, kernel, dilation and output_padding the padding follows: the output
    length falls by exactly 2 per unit of padding, so p = (length at p=0 - target) / 2.
    """
    solutions = []
    for s, k, d in itertools.product(space.strides, space.kernels, space.dilations):
        paddings = space.paddings(k, d)
        for op in space.output_paddings(s, d):
            excess = transpose_length(length, k, s, 0, d, op) - target
            if excess % 2 or excess // 2 not in paddings:
                continue
            layer = DimLayer(k, s, excess // 2, op, d)
            params = layer.params()
            if spatial_output(params, (length,)) != (target,):  # the engine has the last word
                raise AssertionError(f"{layer} maps {length} to {spatial_output(params, (length,))}, not {target}")
            pattern = overlap(params)[0]
            solutions.append(DimSolution(layer, length, target, pattern, bias_only(layer, length, pattern)))
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

    Away from the borders every tap of a position falls inside the input, so the interior
    pattern (§2.5) decides; only the positions within the kernel extent of either border
    are counted one by one.
    """
    k, s, p, op, d = layer.kernel_size, layer.stride, layer.padding, layer.output_padding, layer.dilation
    out = transpose_length(length, k, s, p, d, op)
    if pattern is None:
        pattern = overlap(layer.params())[0]
    # position o reads inputs (o + p - t*d) / s; all of them exist when
    # d*(k-1) <= o + p <= (length-1)*s
    first, last = max(d * (k - 1) - p, 0), min((length - 1) * s - p, out - 1)
    edges = set(range(0, min(first, out))) | set(range(max(last + 1, 0), out))
    missed = sum(1 for o in edges if tap_count(o, length, k, s, p, d) == 0)
    if first <= last:  # interior positions o in [first, last]: pattern[o mod s] taps each
        missed += sum(
            (last - r) // s - (first - 1 - r) // s for r, taps in enumerate(pattern.pattern) if taps == 0
        )
    return missed


def reachable_near(length: int, target: int, space: DimSpace) -> tuple[int | None, int | None]:
    """The nearest output lengths below and above `target` that `space` reaches from `length`.

    >>> reachable_near(4, 100, search_space(1)[0])
    (77, None)
    """
    below: int | None = None
    above: int | None = None
    for s, k, d in itertools.product(space.strides, space.kernels, space.dilations):
        paddings = space.paddings(k, d)
        if not paddings:
            continue
        for op in space.output_paddings(s, d):
            # outputs reachable with this (s, k, d, op): top - 2p for p in paddings, and >= 1
            top = transpose_length(length, k, s, paddings.start, d, op)
            bottom = transpose_length(length, k, s, paddings.stop - 1, d, op)
            if bottom < 1:
                bottom += (1 - bottom + 1) // 2 * 2
            if bottom > top:
                continue
            if bottom < target:
                candidate = min(top, target - 1)
                candidate -= (candidate - bottom) % 2
                below = candidate if below is None else max(below, candidate)
            if top > target:
                candidate = max(bottom, target + 1)
                candidate += (top - candidate) % 2
                above = candidate if above is None else min(above, candidate)
    return below, above


# -- the search (SPEC §4.2) -----------------------------------------------------------------


@dataclass(frozen=True)
class Solution:
    """A ConvTranspose that maps the search's size to its target exactly, with what ranks it."""

    params: ConvParams
    dims: tuple[DimSolution, ...]
    cost: float  # MACs per output pixel per (input channel, output channel) pair

    @property
    def overlap(self) -> tuple[Overlap, ...]:
        """The interior tap pattern per dim (SPEC §2.5)."""
        return tuple(dim.overlap for dim in self.dims)

    @property
    def even(self) -> bool:
        """Even interior overlap in every dim (SPEC §2.5)."""
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
        """The solution as in `invert --to --json` (SPEC §6), plus gaps, cost and code."""
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

    def _candidates(self, top: int | None) -> list[tuple[DimSolution, ...]]:
        """Per dim, the only solutions that can be among the best `top` layers.

        They are the ones whose key is at most the smallest threshold that at least `top`
        layers stay under: a layer ranks first by its worst dim, so every layer under the
        threshold beats every layer over it.
        """
        if top is None or self.total <= top:
            return list(self.per_dim)
        per_dim_keys = [[sol.key for sol in sols] for sols in self.per_dim]
        for threshold in sorted(key for keys in per_dim_keys for key in keys):
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
        """
        if self.total:
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
    """Search `space` (default: SPEC §4.2's) for the ConvTranspose layers taking `size` to `target`.

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
