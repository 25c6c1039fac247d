"""The input sizes a whole stack accepts: an exact periodic set per spatial dim.

Why the set is periodic. Along one dim every layer maps its input length n to a
non-decreasing function of n, and is valid from some length on (conv, pool: n + 2p >= the
kernel's extent; transposed: output >= 1). Let P be the product of every factor a layer
divides lengths by (strides of convs and pools, unshuffle factors, the denominators of
upsampling scales). Adding P to the input then adds an exact integer to every
intermediate length, so once every layer is valid (from some length T on) what is left --
skip connections joining tensors of equal length, divisibility -- repeats with period P,
provided both sides of every skip grow at the same rate (checked, not assumed). Hence:
V(n) = [n >= T] and pattern[n mod P]. From one valid length n* (>= T), the pattern is read
off n*, ..., n* + P - 1; T follows from a binary search along the class of n* (where
validity is monotone) and one probe per other residue class. The period is then reduced to
the smallest one that keeps the pattern. Tests check all of it against brute force.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from math import prod
from typing import Any

from ..errors import ConfigError
from ..layers import KINDS
from ..layers.base import dims_period
from ..params import Shape
from .bind import bind
from .model import PREVIOUS, Arch
from .propagate import network_inputs, resolve_input

# Past these, the analysis says it gave up rather than spend seconds on it.
MAX_PERIOD = 4096
SCAN = 4096  # how far above the file's size a first valid size is looked for



@dataclass(frozen=True)
class ValidSizes:
    """The valid input lengths of one dim: n >= s and (n - s) % period == 0 for some s in smallest.

    >>> v = ValidSizes(axis=0, period=16, smallest=(16,), held=(256, 256))
    >>> v.contains(240), v.contains(250), v.nearest(250)
    (True, False, (240, 256))
    """

    axis: int
    period: int
    smallest: tuple[int, ...]
    held: tuple[int, ...]  # the spatial input the other dims were held at
    also: tuple[int, ...] = ()  # sizes below the periodic set that line up too (a merge broadcasting a size 1)

    def contains(self, n: int) -> bool:
        return n in self.also or any(n >= s and (n - s) % self.period == 0 for s in self.smallest)

    def nearest(self, n: int) -> tuple[int | None, int]:
        """The valid lengths nearest to n: the largest <= n and the smallest >= n."""
        below = [s + (n - s) // self.period * self.period for s in self.smallest if s <= n]
        below += [a for a in self.also if a <= n]
        above = [s if s >= n else s + -(-(n - s) // self.period) * self.period for s in self.smallest]
        above += [a for a in self.also if a >= n]
        return (max(below) if below else None, min(above))

    def formula(self, name: str) -> str:
        """`H = 16·n, n >= 1` or `H = 16·n + 12, n >= 11 (or 16·n + 4, n >= 12)`.

        >>> ValidSizes(0, 16, (188,), (572, 572)).formula("H")
        'H = 16·n + 12, n >= 11'
        """
        parts = []
        for s in self.smallest:
            r, first = s % self.period, s // self.period
            if self.period == 1:
                parts.append(f"{name} >= {s}")
            elif r == 0:
                parts.append(f"{name} = {self.period}·n, n >= {first}")
            else:
                parts.append(f"{name} = {self.period}·n + {r}, n >= {first}")
        text = parts[0] + (" (or " + "; ".join(p.split(" = ", 1)[1] for p in parts[1:]) + ")" if parts[1:] else "")
        return text + (f", and {name} = {', '.join(map(str, self.also))}" if self.also else "")

    def to_dict(self) -> dict[str, object]:
        doc: dict[str, object] = {"period": self.period, "smallest": list(self.smallest)}
        if self.also:
            doc["also"] = list(self.also)
        return doc


DIM_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def describe(sizes: InputSizes, spatial: Shape) -> str:
    """One line for the `run` report: the set per dim and the valid sizes nearest the input.

    >>> describe(InputSizes((ValidSizes(0, 16, (16,), (250, 250)), ValidSizes(1, 16, (16,), (250, 250)))), (250, 250))
    'H, W = 16·n, n >= 1; nearest to 250: 240 and 256'
    """
    if sizes.dims is None:
        return str(sizes.reason)
    names = DIM_NAMES[len(sizes.dims)]
    first = sizes.dims[0]
    if all(d.period == first.period and d.smallest == first.smallest for d in sizes.dims) and len(set(spatial)) == 1:
        groups = [(", ".join(names), first, spatial[0])]
    else:
        groups = [(names[d.axis], d, spatial[d.axis]) for d in sizes.dims]
    parts = []
    for name, dim, n in groups:
        text = dim.formula(name)
        if not dim.contains(n):
            below, above = dim.nearest(n)
            text += f"; nearest to {n}: " + " and ".join(str(v) for v in (below, above) if v is not None)
        elif dim.period > 1:
            text += f" ({n} is one)"
        parts.append(text)
    others = "the other dim" if len(spatial) == 2 else "the other dims"
    held = "" if sizes.dims[0].held == tuple(spatial) or len(spatial) == 1 else f" ({others} held at {sizes.dims[0].held[0]})"
    return "; ".join(parts) + held


@dataclass(frozen=True)
class InputSizes:
    """valid_input_sizes of a stack: one ValidSizes per spatial dim, or why there is no such set."""

    dims: tuple[ValidSizes, ...] | None
    reason: str | None = None
    probe: _Probe | None = field(default=None, repr=False, compare=False)  # its walks, for a second analysis
    grows: bool = False  # restoring: none is restored because the output grows at another rate than the input


class _Probe:
    """Shapes-only walks through a stack for many input sizes, memoised per layer and input."""

    def __init__(self, arch: Arch, restoring: bool = False, shared: _Probe | None = None) -> None:
        self.arch = arch
        self.restoring = restoring  # valid only where the last output has the input's spatial size
        self.memo: dict[tuple[int, Shape, tuple[Shape, ...]], Shape | None] = shared.memo if shared else {}
        self.keep: list[Arch] = shared.keep if shared else []  # mirrored decoders expanded per input: kept alive
        self.walks: dict[Shape, list[Shape] | None] = shared.walks if shared else {}

    def outputs(self, x: Shape) -> list[Shape] | None:
        """Every layer's output shape for input x, or None where the stack does not line up."""
        if x not in self.walks:
            self.walks[x] = self._walk(x)
        return self.walks[x]

    def valid(self, x: Shape) -> bool:
        outs = self.outputs(x)
        return outs is not None and (not self.restoring or (bool(outs) and outs[-1][2:] == x[2:]))

    def _walk(self, x: Shape) -> list[Shape] | None:
        arch = self.arch
        if arch.mirrored_from is not None:
            try:
                arch = bind(arch, x)
            except ConfigError:
                return None
            self.keep.append(arch)
        shapes: dict[str, Shape] = dict(network_inputs(arch, x))
        outs: list[Shape] = []
        for spec in arch.layers:
            read = [x if n == PREVIOUS else shapes[n] for n in spec.reads]
            key = (id(spec), read[0], tuple(read[1:]))
            if key not in self.memo:
                try:
                    self.memo[key] = KINDS[spec.type].apply(spec.config, read[0], tuple(read[1:])).output
                except ConfigError:
                    self.memo[key] = None
            out = self.memo[key]
            if out is None:
                return None
            outs.append(out)
            shapes[spec.path] = out
            x = out
        return outs


def valid_input_sizes(
    arch: Arch, input_shape: Shape | None = None, *, restoring: bool = False, lined_up: InputSizes | None = None
) -> InputSizes:
    """The exact set of input sizes per spatial dim for which the stack lines up (`restoring`:
    and its output has the input's spatial size: the sizes an autoencoder restores; `lined_up`:
    the sizes that line up, when already known).

    >>> from convtool.graph import loads
    >>> arch = loads('''
    ... input: [1, 1, 250, 250]
    ... layers:
    ...   - {type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
    ...   - {type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
    ...   - {type: pixel_unshuffle, downscale_factor: 4}
    ... ''')
    >>> [(d.period, d.smallest) for d in valid_input_sizes(arch).dims]
    [(16, (13, 14, 15, 16)), (16, (13, 14, 15, 16))]
    """
    x = resolve_input(arch, input_shape)
    spatial = x[2:]
    if not spatial:
        return InputSizes(None, "the input has no spatial dims")
    for spec in arch.layers:
        if not KINDS[spec.type].spatial:
            return InputSizes(
                None,
                f"the stack feeds a {spec.type} layer ({spec.label}): it accepts only input sizes "
                f"that give the same {KINDS[spec.type].tied_to} "
                f"as {'x'.join(map(str, spatial))}",
            )
    periods = [KINDS[spec.type].dims_period(spec.config, len(spatial)) for spec in arch.layers]
    period = [prod(p[axis] for p in periods) for axis in range(len(spatial))]
    if max(period) > MAX_PERIOD:
        return InputSizes(None, f"the sizes repeat only every {max(period)} pixels; not analysed")
    if restoring:  # the sizes that line up, first: where the output grows unlike the input, none restores
        plain = lined_up if lined_up is not None else valid_input_sizes(arch, input_shape)
        if plain.dims is None:
            return plain
        never = _never_restores(_Probe(arch, shared=plain.probe), x, plain.dims)
        if never is not None:
            return InputSizes(None, never[0], grows=never[1])
        probe = _Probe(arch, restoring, shared=plain.probe)
    else:
        probe = _Probe(arch)
    held = _held_sizes(probe, x)
    if held is None and restoring:
        return InputSizes(None, f"it restores no input size up to {spatial[0] + SCAN}")
    if held is None:
        return InputSizes(None, f"no input size up to {spatial[0] + SCAN} lines up")
    dims: list[ValidSizes] = []
    symmetric = len(set(held)) == 1 and len(set(period)) == 1 and _symmetric(arch)
    for axis in range(len(spatial)):
        if symmetric and dims:
            dims.append(ValidSizes(axis, dims[0].period, dims[0].smallest, held, dims[0].also))
            continue

        def valid(n: int, axis: int = axis) -> bool:
            sizes = list(held)
            sizes[axis] = n
            return probe.valid((*x[:2], *sizes))

        result = _periodic_set(valid, period[axis], held[axis], probe, x, held, axis)
        if isinstance(result, str):
            return InputSizes(None, result)
        period_, smallest = result
        def periodic(n: int, period_: int = period_, smallest: tuple[int, ...] = smallest) -> bool:
            return any(n >= s and (n - s) % period_ == 0 for s in smallest)

        below = range(1, min(_broadcast_bound(probe, x, held, axis, max(smallest), periodic, period_), SCAN))
        also = tuple(n for n in below if valid(n) and not periodic(n))
        dims.append(ValidSizes(axis, period_, smallest, held, also))
    return InputSizes(tuple(dims), probe=probe)


def restores(prop: Any) -> bool:
    """Whether a network is meant to restore its input's spatial size: as its file says
    (`restores:`), else as an autoencoder is, its output having the input's rank and channels."""
    if prop.arch.restores is not None:
        return bool(prop.arch.restores)
    x, y = prop.input, prop.output
    return len(x) == len(y) > 2 and x[1] == y[1]


def restore_sizes(arch: Arch, prop: Any, lined_up: InputSizes | None) -> InputSizes | None:
    """The input sizes a network meant to restore its input gives back (None for another
    network). Taken for an autoencoder by its rank and channels alone, a network whose output
    grows unlike its input (a super-resolution one) is not one."""
    if not restores(prop):
        return None
    found = valid_input_sizes(arch, prop.input, restoring=True, lined_up=lined_up)
    return None if found.grows and prop.arch.restores is None else found


def _never_restores(probe: _Probe, x: Shape, dims: tuple[ValidSizes, ...]) -> tuple[str, bool] | None:
    """Why no input size gives its own spatial size back, when some dim proves it, and whether
    it is because the output grows at another rate than the input: along each residue class of
    valid sizes the output length is affine in the input's (a + r·n), so it equals n at no size,
    at every size (r = 1, a = 0: None, let the scan find them), or at one size (None when that
    size is a valid one, for the scan to confirm)."""
    for d in dims:
        def last(n: int, d: ValidSizes = d) -> int | None:
            sizes = list(d.held)
            sizes[d.axis] = n
            outs = probe.outputs((*x[:2], *sizes))
            return outs[-1][2 + d.axis] if outs and len(outs[-1]) == len(x) else None

        if any(last(n) == n for n in d.also):
            return None
        growth, offsets = set(), set()
        for s in d.smallest:
            here, later = last(s), last(s + d.period)
            if here is None or later is None:
                return None
            rate = Fraction(later - here, d.period)
            growth.add(rate)
            if rate == 1:
                if here == s:
                    return None
                offsets.add(here - s)
                continue
            n = Fraction(here - rate * s, 1 - rate)  # here + rate·(n - s) = n
            if n.denominator == 1 and n >= s and (n - s) % d.period == 0:
                return None
        if growth == {1}:
            shown = " or ".join(f"{abs(v)} {'larger' if v > 0 else 'smaller'}" for v in sorted(offsets))
            return f"it restores no input size: along dim {d.axis}, its output is always {shown} than its input", False
        rates = " or ".join(str(r) for r in sorted(growth))
        return (f"it restores no input size: along dim {d.axis}, its output grows {rates} times as fast as its "
                "input and meets it at no valid size"), True
    return None


def _held_sizes(probe: _Probe, x: Shape) -> tuple[int, ...] | None:
    """The spatial input at which the other dims are held: the file's when it lines up,
    else the nearest square one above (the file's own input is what failed)."""
    spatial = x[2:]
    if probe.valid(x):
        return spatial
    for n in range(min(spatial), max(spatial) + SCAN):
        if probe.valid((*x[:2], *([n] * len(spatial)))):
            return (n,) * len(spatial)
    return None


def _periodic_set(
    valid: Callable[[int], bool], period: int, start: int, probe: _Probe, x: Shape, held: tuple[int, ...], axis: int
) -> tuple[int, tuple[int, ...]] | str:
    """(period, smallest per residue class) of one dim's valid lengths, or why not periodic."""
    first = next((n for n in range(start, start + SCAN) if valid(n)), None)
    if first is None:
        return f"no size of dim {axis} from {start} to {start + SCAN - 1} lines up"
    pattern = [valid(first + i) for i in range(period)]  # pattern[i]: residue of first + i
    if not valid(first + period) or not _same_rates(probe, x, held, axis, first, period):
        return (
            "a skip connection joins tensors that grow at different rates, so only a few "
            "scattered input sizes line up"
        )
    # smallest valid member of first's class: validity is monotone along a class
    lo, hi = 0, (first - 1) // period  # first - hi*period >= 1
    while lo < hi:
        mid = (lo + hi) // 2
        if valid(first - (mid + 1) * period):
            lo = mid + 1
        else:
            hi = mid
    anchor = first - lo * period  # T lies in (anchor - period, anchor]
    smallest = {}
    for i, ok in enumerate(pattern):
        if not ok:
            continue
        residue = (first + i) % period
        n1 = anchor - ((anchor - residue) % period)  # the class member in (anchor - period, anchor]
        smallest[residue] = n1 if n1 >= 1 and valid(n1) else n1 + period
    return _reduce(period, smallest)


def _broadcast_bound(probe: _Probe, x: Shape, held: tuple[int, ...], axis: int, start: int,
                     periodic: Callable[[int], bool], period: int) -> int:
    """A length from which on no tensor is 1 long along `axis` while it still grows with the
    input (so no merge broadcasts and the periodic set is exact): the first periodic length >=
    start whose growing tensors are all at least 2 long there, or `start`'s class's last probe.
    A tensor of the same length one period later does not grow (an adaptive pool's 1x1): it
    broadcasts alike at every size. Every tensor that grows grows by a period's step."""

    def lengths(n: int) -> list[Shape] | None:
        sizes = list(held)
        sizes[axis] = n
        return probe.outputs((*x[:2], *sizes))

    n = start
    for n in range(start, start + SCAN):
        if not periodic(n) or n < 2:
            continue
        outs, later = lengths(n), lengths(n + period)
        if outs is not None and later is not None and all(
            len(o) < 3 or o[2 + axis] >= 2 or o[2 + axis] == o2[2 + axis] for o, o2 in zip(outs, later)
        ):
            return n
    return n


def _same_rates(probe: _Probe, x: Shape, held: tuple[int, ...], axis: int, n: int, period: int) -> bool:
    """Whether both sides of every cropping skip grow alike from n to n + period (an equal-size
    skip that lines up at both has equal rates by itself)."""
    arch = probe.arch
    if arch.mirrored_from is not None:
        return True  # a mirrored decoder restores the encoder's sizes; it has no skips
    inputs, shapes = [], []
    for m in (n, n + period):
        sizes = list(held)
        sizes[axis] = m
        inputs.append((*x[:2], *sizes))
        outs = probe.outputs(inputs[-1])
        assert outs is not None
        shapes.append(outs)
    index = {spec.path: i for i, spec in enumerate(arch.layers)}

    def size(k: int, name: str | None, i: int) -> int:
        """Along `axis`, in walk k: the size of tensor `name` as layer i reads it."""
        if name in (None, PREVIOUS):
            return shapes[k][i - 1][2 + axis] if i else inputs[k][2 + axis]
        if name == arch.input_names[0]:
            return inputs[k][2 + axis]
        if name in arch.input_names:
            return 0  # another network input: its size is held
        return shapes[k][index[name]][2 + axis]

    for i, spec in enumerate(arch.layers):
        if not spec.with_ or not KINDS[spec.type].compares_sizes(spec.config):
            continue
        grow = size(1, spec.source, i) - size(0, spec.source, i)
        for position, name in enumerate(spec.with_):
            rate = dims_period(KINDS[spec.type].reference_rate(spec.config, position), len(held))[axis]
            if size(1, name, i) - size(0, name, i) != rate * grow:
                return False
    return True


def _reduce(period: int, smallest: dict[int, int]) -> tuple[int, tuple[int, ...]]:
    """The smallest period that describes the same set, and its smallest member per class."""
    q = 2
    while q <= period:
        if period % q == 0:
            sub = period // q
            if all(((r + sub) % period in smallest) == (r in smallest) for r in range(period)):
                merged: dict[int, int] = {}
                for r, s in smallest.items():
                    merged[r % sub] = min(s, merged.get(r % sub, s))
                period, smallest = sub, merged
                continue
        q += 1
    return period, tuple(sorted(smallest.values()))


def _symmetric(arch: Arch) -> bool:
    """Every per-dim value of every layer is the same in each dim (so each dim's set is alike)."""
    for spec in arch.layers:
        for value in spec.config.values():
            if isinstance(value, (list, tuple)) and len(set(value)) > 1:
                return False
    return True
