"""The design solvers: exact inverses (property), the search (exhaustive), and torch as the oracle."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convtool.design import (
    DimLayer,
    DimSpace,
    _ranking_length,
    bias_only,
    factor_search,
    factor_space,
    factorizations,
    invert,
    reachable_near,
    search,
    search_space,
    solve_dim,
    stage_search,
    stage_search_to,
)
from convtool.errors import ConfigError
from convtool.params import ConvParams
from convtool.shape import spatial_output, tap_count, transpose_length

# -- the first form: the inverse of a Conv --------------------------------------------------


def conv_output_or_none(conv: ConvParams, size: tuple[int, ...]) -> tuple[int, ...] | None:
    try:
        return spatial_output(conv, size)
    except ConfigError:
        return None


conv_configs = st.integers(1, 2).flatmap(
    lambda nd: st.tuples(
        st.tuples(*[st.integers(1, 6)] * nd),  # kernel
        st.tuples(*[st.integers(1, 5)] * nd),  # stride
        st.tuples(*[st.integers(0, 4)] * nd),  # padding
        st.tuples(*[st.integers(1, 3)] * nd),  # dilation
        st.tuples(*[st.integers(1, 40)] * nd),  # size
    )
)


@settings(max_examples=150, deadline=None)
@given(conv_configs)
def test_inverse_restores_the_size_and_lists_exactly_the_other_sizes(config):
    k, s, p, d, size = config
    conv = ConvParams.conv(k, s, p, d)
    h = conv_output_or_none(conv, size)
    assume(h is not None)
    inverse = invert(conv, size)

    assert inverse.conv_output == h
    assert spatial_output(inverse.transpose, h) == size == inverse.restores
    assert inverse.transpose.kernel_size == k and inverse.transpose.stride == s
    assert inverse.transpose.padding == p and inverse.transpose.dilation == d
    assert inverse.output_size_reachable  # §2.4: output_padding < stride always
    # brute force: every size in a window wide enough that the Conv's output changes outside it
    windows = [range(1, n + 2 * st_ + 3) for n, st_ in zip(size, s)]
    sharing = {other for other in itertools.product(*windows) if conv_output_or_none(conv, other) == h}
    assert {a.size for a in inverse.alternatives} == sharing - {size}
    for alt in inverse.alternatives:
        assert spatial_output(inverse.transpose.replace(output_padding=alt.output_padding), h) == alt.size
        assert alt.output_size_reachable


def test_inverse_keeps_channels_swapped_and_groups():
    conv = ConvParams.conv(3, 2, 1, groups=2, bias=False, in_channels=4, out_channels=8)
    up = invert(conv, (9, 10)).transpose
    assert (up.in_channels, up.out_channels, up.groups, up.bias) == (8, 4, 2, False)


def test_inverse_of_same_padding():
    inverse = invert(ConvParams.conv(3, 1, "same", 2), (13, 13))
    assert inverse.transpose.padding == (2, 2) and inverse.restores == (13, 13)
    assert inverse.alternatives == ()


@pytest.mark.parametrize(
    "conv, size, message",
    [
        (ConvParams.conv(7), (4, 4), "Kernel size can't be greater than actual input size"),
        (ConvParams.conv(4, 1, "same"), (9, 9), "asymmetric"),
        (ConvParams.conv_transpose(3), (9, 9), "expected a Conv2d to invert"),
    ],
    ids=["kernel-too-large", "asymmetric-same", "not-a-conv"],
)
def test_inverse_refuses(conv, size, message):
    with pytest.raises(ConfigError, match=message):
        invert(conv, size)


# -- the search: exhaustive against a brute force over the whole space ----------------------


def brute_force(length: int, target: int, max_kernel=16, max_stride=8, max_dilation=3):
    """Every (k, s, p, op, d) of the default search space mapping length to target, from the formula."""
    found = set()
    for s in range(1, max_stride + 1):
        for k in range(1, max_kernel + 1):
            for d in range(1, max_dilation + 1):
                for p in range(d * (k - 1) + 1):
                    for op in range(max(s, d)):
                        if transpose_length(length, k, s, p, d, op) == target:
                            found.add((k, s, p, op, d))
    if length == 1:  # the search lists each layer once, with the smallest stride that allows it
        best: dict[tuple[int, int, int, int], tuple[int, int, int, int, int]] = {}
        for k, s, p, op, d in sorted(found, key=lambda c: c[1]):
            best.setdefault((k, p, op, d), (k, s, p, op, d))
        found = set(best.values())
    # a 1-wide kernel has no taps to dilate: listed once, with the smallest dilation allowed
    return {c for c in found if c[0] != 1 or c[4] == min(o[4] for o in found if o[:4] == c[:4])}


def as_tuple(layer: DimLayer) -> tuple[int, int, int, int, int]:
    return (layer.kernel_size, layer.stride, layer.padding, layer.output_padding, layer.dilation)


GRID = [
    (length, target)
    for length in (1, 2, 3, 7, 28)
    for target in (1, 2, 4, 5, 8, 14, 27, 55, 56, 57, 100, 300)
]


@pytest.mark.parametrize("length, target", GRID, ids=[f"{a}->{b}" for a, b in GRID])
def test_search_finds_every_layer_of_the_space(length, target):
    solutions = solve_dim(length, target, DimSpace.default())
    found = [as_tuple(sol.layer) for sol in solutions]
    assert len(found) == len(set(found))
    assert set(found) == brute_force(length, target)
    for sol in solutions:  # each verified by the shape engine, and a legal layer
        assert spatial_output(sol.layer.params(), (length,)) == (target,)
    keys = [sol.key for sol in solutions]
    assert keys == sorted(keys)
    if any(sol.checkerboard == 0 for sol in solutions):
        assert solutions[0].checkerboard == 0


def test_default_space_is_the_one_of_the_spec():
    space = DimSpace.default()
    assert (space.kernels, space.strides, space.dilations) == (tuple(range(1, 17)), tuple(range(1, 9)), (1, 2, 3))
    brute = sum((d * (k - 1) + 1) * max(s, d) for s in range(1, 9) for k in range(1, 17) for d in range(1, 4))
    assert space.size() == brute == sum(1 for _ in space.layers())


PAIRS_2D = [((28, 28), (56, 56)), ((50, 100), (100, 200)), ((7, 9), (14, 19)), ((1, 1), (4, 4)), ((4, 3), (9, 5))]


@pytest.mark.parametrize("size, target", PAIRS_2D, ids=[f"{a}->{b}" for a, b in PAIRS_2D])
def test_combined_layers_are_the_product_of_the_dims_and_ranked(size, target):
    space = search_space(2, max_kernel=5, max_stride=4, max_dilation=2)
    found = search(size, target, space)
    everything = found.solutions()
    expected = set(
        itertools.product(*[brute_force(n, t, 5, 4, 2) for n, t in zip(size, target)])
    )
    got = [tuple(as_tuple(dim.layer) for dim in sol.dims) for sol in everything]
    assert len(got) == len(set(got)) == found.total
    assert set(got) == expected
    for sol in everything:
        assert spatial_output(sol.params, size) == target
    # ranked by the worst dim: no checkerboard first, gaps last
    worst = [max(dim.checkerboard for dim in sol.dims) for sol in everything]
    assert worst == sorted(worst)
    if any(sol.checkerboard_free for sol in everything):
        assert everything[0].checkerboard_free
    # the shortcut for the best N agrees with ranking everything
    for top in (1, 3, 10, 40):
        assert [s.params for s in found.solutions(top)] == [s.params for s in everything[:top]]


def test_uniform_layers_come_before_mixed_ones_of_the_same_worst_dim():
    best = search((28, 28), (56, 56)).solutions(4)
    assert [s.params.compact() for s in best] == ["k2 s2", "k4 s2 p1", "k2x4 s2 p0x1", "k4x2 s2 p1x0"]


@pytest.mark.parametrize(
    "size, target, first",
    [
        ((28, 28), (56, 56), "k2 s2"),
        ((1, 1), (4, 4), "k4"),  # DCGAN's first layer
        ((4, 4), (8, 8), "k2 s2"),
        ((32, 32), (64, 64), "k2 s2"),
        ((28, 28), (55, 55), "k10 d3"),  # even beats uneven (k3 s2 p1) and gaps (k1 s2)
    ],
)
def test_best_layer(size, target, first):
    assert search(size, target).solutions(1)[0].params.compact() == first


def test_constraints_fix_values_and_cap_ranges():
    found = search((28, 28), (56, 56), search_space(2, kernel_size=4, max_dilation=1))
    assert [s.params.compact() for s in found.solutions()] == ["k4 s2 p1"]
    wide = search((7,), (200,), search_space(1, max_stride=32))
    assert wide.total and search((7,), (200,)).total == 0
    op0 = search((28,), (57,), search_space(1, output_padding=0)).solutions()
    assert op0 and all(s.params.output_padding == (0,) for s in op0)
    fixed_beyond = search((4,), (40,), search_space(1, kernel_size=40, max_kernel=2))
    assert {s.params.kernel_size for s in fixed_beyond.solutions()} == {(40,)}


def test_space_rejects_mismatched_and_illegal_constraints():
    with pytest.raises(ConfigError, match="kernel_size to be one value or 2 values"):
        search_space(2, kernel_size=(3, 3, 3))
    with pytest.raises(ConfigError, match="stride must be at least 1"):
        search_space(2, stride=0)
    with pytest.raises(ConfigError, match="max_kernel must be at least 1"):
        search_space(2, max_kernel=0)
    with pytest.raises(ConfigError, match="SIZE has 2 spatial dims but TARGET has 1"):
        search((4, 4), (8,))
    # an output_padding no layer of the space allows leaves it empty, not broken
    assert search((4,), (9,), search_space(1, output_padding=9)).total == 0


def test_cost_is_macs_per_output_pixel_per_channel_pair():
    for sol in search((7, 9), (14, 19)).solutions(20, in_channels=3, out_channels=5):
        macs = 3 * 5 * sol.params.kernel_size[0] * sol.params.kernel_size[1] * 7 * 9
        assert sol.cost == pytest.approx(macs / (3 * 5) / (14 * 19))


# -- no solution: the nearest reachable targets ---------------------------------------------


@pytest.mark.parametrize("length", [1, 3, 28])
def test_reachable_near_agrees_with_the_brute_force(length):
    reachable = set()
    for s, k, d in itertools.product(range(1, 9), range(1, 17), range(1, 4)):
        for p in range(d * (k - 1) + 1):
            for op in range(max(s, d)):
                out = transpose_length(length, k, s, p, d, op)
                if out >= 1:
                    reachable.add(out)
    for target in range(1, max(reachable) + 30):
        below, above = reachable_near(length, target, DimSpace.default())
        assert below == max((t for t in reachable if t < target), default=None)
        assert above == min((t for t in reachable if t > target), default=None)


def test_no_solution_names_the_nearest_targets():
    found = search((28, 28), (1000, 56))
    assert found.total == 0 and found.solutions() == []
    nearest = found.nearest()
    assert nearest == [(269, 56)]
    assert search((28, 28), nearest[0]).total > 0
    odd = search((100,), (150,), search_space(1, max_stride=2))
    assert odd.total == 0
    assert all(search((100,), t, odd.space).total for t in odd.nearest())
    assert search((4,), (9,), search_space(1, output_padding=9)).nearest() == []


# -- taps: the gap count is exact -----------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 8), st.integers(1, 5), st.integers(1, 4), st.integers(1, 12), st.data()
)
def test_bias_only_counts_every_position_without_a_tap(k, s, d, length, data):
    p = data.draw(st.integers(0, d * (k - 1) + 2))
    op = data.draw(st.integers(0, max(s, d) - 1))
    out = transpose_length(length, k, s, p, d, op)
    assume(out >= 1)
    expected = sum(1 for o in range(out) if tap_count(o, length, k, s, p, d) == 0)
    assert bias_only(DimLayer(k, s, p, op, d), length) == expected


def test_design_never_imports_numpy():
    code = "import sys, convtool.design; sys.stdout.write(str('numpy' in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout == "False"


# -- torch as the oracle --------------------------------------------------------------------

LIVE_PAIRS = [((28, 28), (56, 56)), ((1, 1), (4, 4)), ((7, 9), (64, 40)), ((50, 100), (100, 201)), ((5, 5), (17, 17))]


@pytest.mark.parametrize("size, target", LIVE_PAIRS, ids=[f"{a}->{b}" for a, b in LIVE_PAIRS])
def test_search_layers_run_in_torch(size, target):
    torch = pytest.importorskip("torch")
    for sol in search(size, target).solutions(25, in_channels=2, out_channels=3):
        layer = eval(sol.params.torch_code(), {"nn": torch.nn})  # the code as printed
        layer.weight.data.fill_(1.0)
        with torch.no_grad():
            out = torch.nn.functional.conv_transpose2d(
                torch.ones(1, 2, *size, dtype=torch.float64), layer.weight.double(), None,
                layer.stride, layer.padding, layer.output_padding, 1, layer.dilation,
            )
        assert tuple(out.shape) == (1, 3, *target)
        # with ones everywhere each output is 2 x its number of taps: the gaps are where it is 0
        taps = out[0, 0] / 2
        assert int((taps == 0).sum()) == prod_gaps(sol, target)
        if sol.even and not sol.gaps:
            assert_interior_constant(taps, sol)


def prod_gaps(sol, target):
    """Positions of the 2-D output with no tap: a row or a column without one."""
    rows, cols = (dim.bias_only for dim in sol.dims)
    return rows * target[1] + cols * target[0] - rows * cols


def assert_interior_constant(taps, sol):
    p = sol.params
    lo = [d * (k - 1) for k, d in zip(p.kernel_size, p.dilation)]
    inside = taps[lo[0]: taps.shape[0] - lo[0], lo[1]: taps.shape[1] - lo[1]]
    if inside.numel():
        assert float(inside.max()) == float(inside.min())


def test_output_padding_beyond_the_stride_runs_in_torch_but_not_through_output_size():
    torch = pytest.importorskip("torch")
    found = search((5,), (17,), search_space(1, stride=2, dilation=3, output_padding=2, max_kernel=16))
    sol = found.solutions(1)[0]
    assert not sol.output_size_reachable
    p = sol.params
    layer = torch.nn.ConvTranspose1d(1, 1, p.kernel_size, p.stride, p.padding, p.output_padding, dilation=p.dilation)
    assert layer(torch.ones(1, 1, 5)).shape[-1] == 17
    plain = torch.nn.ConvTranspose1d(1, 1, p.kernel_size, p.stride, p.padding, dilation=p.dilation)
    with pytest.raises(ValueError, match="requested an output size"):
        plain(torch.ones(1, 1, 5), output_size=[17])


CONVS = [
    (ConvParams.conv(3, 2, 1, in_channels=3, out_channels=8), (28, 28)),
    (ConvParams.conv((3, 5), (2, 3), (1, 2), (1, 2), in_channels=2, out_channels=4), (37, 50)),
    (ConvParams.conv(4, 4, 0, 3, in_channels=1, out_channels=2), (31, 30)),
]


@pytest.mark.parametrize("conv, size", CONVS, ids=["k3s2p1", "mixed", "k4s4d3"])
def test_inverse_runs_in_torch(conv, size):
    torch = pytest.importorskip("torch")
    inverse = invert(conv, size)
    down = eval(conv.torch_code(), {"nn": torch.nn})
    up = eval(inverse.transpose.torch_code(), {"nn": torch.nn})
    with torch.no_grad():
        h = down(torch.randn(1, conv.in_channels, *size))
        assert tuple(h.shape[2:]) == inverse.conv_output
        assert tuple(up(h).shape[2:]) == size
        plain = eval(inverse.transpose.replace(output_padding=(0, 0)).torch_code(), {"nn": torch.nn})
        assert tuple(plain(h, output_size=size).shape[2:]) == size
        for alt in inverse.alternatives:
            assert tuple(down(torch.randn(1, conv.in_channels, *alt.size)).shape[2:]) == inverse.conv_output
            again = eval(inverse.transpose.replace(output_padding=alt.output_padding).torch_code(), {"nn": torch.nn})
            assert tuple(again(h).shape[2:]) == alt.size
            assert tuple(plain(h, output_size=alt.size).shape[2:]) == alt.size


def test_a_search_space_too_large_is_refused():
    from convtool.design import MAX_SPACE
    from convtool.errors import ConfigError

    with pytest.raises(ConfigError, match="layers per dim"):
        search_space(2, max_kernel=64, max_stride=32)
    assert search_space(2, max_kernel=32, max_stride=16, max_dilation=8)[0].size() <= MAX_SPACE


# -- the space is counted in closed form, and refused before anything is enumerated -------------


@settings(max_examples=120, deadline=None)
@given(
    st.integers(1, 12), st.integers(1, 9), st.integers(1, 4),
    st.one_of(st.none(), st.integers(0, 6)), st.one_of(st.none(), st.integers(0, 6)),
    st.one_of(st.none(), st.integers(1, 20)), st.one_of(st.none(), st.integers(1, 9)),
)
def test_space_size_is_the_number_of_layers_walked(max_kernel, max_stride, max_dilation, padding, op, k, s):
    space = search_space(1, max_kernel=max_kernel, max_stride=max_stride, max_dilation=max_dilation,
                         padding=padding, output_padding=op, kernel_size=k, stride=s)[0]
    assert space.size() == sum(1 for _ in space.layers())


@pytest.mark.parametrize(
    "kwargs",
    [dict(max_kernel=1024, max_stride=64, max_dilation=64), dict(kernel_size=10**400), dict(max_kernel=10**400),
     dict(max_stride=10**400, max_dilation=10**400), dict(max_dilation=10**12)],
    ids=["cli-maxima", "huge-fixed-kernel", "huge-max-kernel", "huge-stride-and-dilation", "huge-dilation"],
)
def test_a_huge_space_is_refused_in_one_sentence_without_counting(kwargs):
    with pytest.raises(ConfigError, match="layers per dim, more than the 3,000,000 searched at once") as caught:
        search_space(2, **kwargs)
    assert "\n" not in caught.value.message and caught.value.hint


# -- gaps: exact for long kernels on short inputs too -----------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 40), st.integers(1, 9), st.integers(1, 4), st.integers(1, 6), st.data())
def test_coverage_counts_gaps_for_long_kernels_and_short_inputs(k, s, d, length, data):
    p = data.draw(st.integers(0, d * (k - 1) + 2))
    op = data.draw(st.integers(0, max(s, d) - 1))
    out = transpose_length(length, k, s, p, d, op)
    assume(out >= 1)
    expected = sum(1 for o in range(out) if tap_count(o, length, k, s, p, d) == 0)
    assert bias_only(DimLayer(k, s, p, op, d), length) == expected


# -- factor: out = F * in for every in -----------------------------------------------------------


def factor_brute_force(factor: int, max_kernel: int, max_dilation: int = 3) -> set[tuple[int, int, int, int, int]]:
    """Every (k, s, p, op, d) with stride 1..2F+1, k up to max_kernel, every padding and legal
    output_padding, that maps each of several lengths n to F*n, straight from the formula."""
    found = set()
    for s in range(1, 2 * factor + 2):
        for k in range(1, max_kernel + 1):
            for d in range(1, max_dilation + 1):
                for p in range(d * (k - 1) + 1):
                    for op in range(max(s, d)):
                        if all(transpose_length(n, k, s, p, d, op) == factor * n for n in (1, 2, 3, 7, 80)):
                            found.add((k, s, p, op, d))
    # a 1-wide kernel has no taps to dilate: listed once, with the smallest dilation
    return {c for c in found if c[0] != 1 or c[4] == min(o[4] for o in found if o[:4] == c[:4])}


@pytest.mark.parametrize("factor", [1, 2, 3, 5, 8])
def test_factor_search_finds_exactly_the_brute_force(factor):
    found = factor_search((80,), (factor,))
    layers = [as_tuple(dim.layer) for sol in found.solutions() for dim in sol.dims]
    assert len(layers) == len(set(layers)) == found.total
    assert set(layers) == factor_brute_force(factor, max(16, 4 * factor))
    keys = [sol.dims[0].key for sol in found.solutions()]
    assert keys == sorted(keys)
    for sol in found.solutions():  # the shape engine: every length is multiplied by the factor
        for n in (1, 5, 80, 10**30):
            assert spatial_output(sol.params, (n,)) == (factor * n,)


def test_factor_space_grows_with_the_factor_and_takes_constraints():
    assert factor_space((8,))[0].kernels == tuple(range(1, 33))
    assert factor_space((2,))[0].kernels == tuple(range(1, 17))
    assert factor_space((20,), max_kernel=40)[0].kernels[-1] == 40
    only = factor_search((80,), (10,), factor_space((10,), kernel_size=20, max_dilation=1)).solutions()
    assert [s.params.compact() for s in only] == ["k20 s10 p5", "k20 s10 p6 op2", "k20 s10 p7 op4",
                                                  "k20 s10 p8 op6", "k20 s10 p9 op8"]
    with pytest.raises(ConfigError, match="1,296,000,000 layers per dim") as caught:
        factor_space((300,))  # kernels up to 1200
    assert caught.value.hint == "fix -k or -d, lower --max-kernel, or split the factor with --stages"


@pytest.mark.parametrize("factor, first", [((8,), "k8 s8"), ((2, 2), "k2 s2"), ((1, 4), "k1x4 s1x4"),
                                           ((2, 2, 2), "k2 s2")])
def test_factor_search_in_1_2_and_3_dims(factor, first):
    size = (9,) * len(factor)
    found = factor_search(size, factor)
    best = found.solutions(5)
    assert best[0].params.compact() == first and found.nearest() == []
    for sol in best:
        assert spatial_output(sol.params, size) == tuple(f * n for f, n in zip(factor, size))


def test_factor_search_refuses_a_space_with_another_stride():
    with pytest.raises(ConfigError, match="fixes the stride"):
        factor_search((8,), (2,), search_space(1))


# -- stages: a factor split over N layers ---------------------------------------------------------


def test_factorizations_are_every_ordered_product():
    for n, parts, largest in [(300, 2, 32), (256, 4, 32), (12, 3, 12), (7, 2, 7), (1, 3, 5)]:
        brute = {c for c in itertools.product(range(1, largest + 1), repeat=parts) if math.prod(c) == n}
        assert set(factorizations(n, parts, largest)) == brute


@pytest.mark.parametrize(
    "size, factor, stages, first",
    [
        ((80,), (300,), 2, ((15,), (20,))),
        ((80,), (300,), 3, ((5,), (6,), (10,))),
        ((80,), (256,), 4, ((4,), (4,), (4,), (4,))),
        ((32, 32), (8, 8), 3, ((2, 2), (2, 2), (2, 2))),
        ((8, 8, 8), (4, 4, 4), 2, ((2, 2, 2), (2, 2, 2))),
        ((10, 10), (1, 16), 2, ((1, 4), (1, 4))),
    ],
)
def test_stage_search_covers_every_split_and_checks_every_chain(size, factor, stages, first):
    found = stage_search(size, factor, stages)
    assert found.chains[0].factors == first
    distinct = sorted(set(factor))
    expected = set()
    for combo in itertools.product(*[factorizations(f, stages, 32) for f in distinct]):
        of = dict(zip(distinct, combo))
        split = tuple(tuple(of[f][i] for f in factor) for i in range(stages))
        if all(any(f > 1 for f in stage) for stage in split):
            expected.add(split)
    assert {chain.factors for chain in found.chains} == expected
    keys = [chain.key() for chain in found.chains]
    assert keys == sorted(keys)
    for chain in found.chains:
        n = size
        for stage, layer in zip(chain.stages, chain.layers):
            # the stage's best is the best of a search on its own input (no shortcut)
            direct = factor_search(n, stage.factor).solutions(1)[0]
            assert layer.params == direct.params and layer.dims == direct.dims
            n = spatial_output(layer.params, n)
        assert n == tuple(f * m for f, m in zip(factor, size)) == chain.sizes[-1]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([2, 3, 4, 6, 8, 12]), st.integers(1, 3), st.data())
def test_a_long_input_ranks_like_its_ranking_length(factor, dilation, data):
    space = factor_space((factor,), max_dilation=dilation)
    short = _ranking_length(10**9, space[0])
    n = data.draw(st.one_of(st.integers(short, short + 60), st.integers(10**6, 10**12)))
    long, canonical = factor_search((n,), (factor,), space), factor_search((short,), (factor,), space)
    assert [s.dims[0].key for s in long.solutions()] == [s.dims[0].key for s in canonical.solutions()]
    assert [s.params for s in long.solutions()] == [s.params for s in canonical.solutions()]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: stage_search((1,), (2**20,), 12), "ways to split the factor over 12 stages"),
        (lambda: stage_search((1,), (37,), 2), "the factor 37 has a prime factor above 32"),
        (lambda: stage_search((1,), (10**400,), 2), "ways to split"),
        (lambda: stage_search((1,), (3 * 10**400 + 1,), 2), "has a prime factor above 32"),
        (lambda: stage_search((1,), (8,), 13), "stages must be 1 to 12"),
    ],
    ids=["too-many-splits", "prime-too-large", "huge-factor", "huge-odd-factor", "too-many-stages"],
)
def test_stage_search_refuses_in_one_sentence(call, message):
    with pytest.raises(ConfigError, match=message) as caught:
        call()
    assert "\n" not in caught.value.message


def test_stage_search_without_a_layer_in_some_stage_has_no_chain():
    assert stage_search((4,), (4,), 2, output_padding=9).chains == ()


def test_stage_layers_run_in_torch():
    torch = pytest.importorskip("torch")
    chain = stage_search((80,), (300,), 3).chains[0]
    x = torch.ones(1, 1, 80, dtype=torch.float64)
    for layer in chain.layers:
        module = eval(layer.params.torch_code(1, 1), {"nn": torch.nn}).double()
        x = module(x)
    assert tuple(x.shape[2:]) == chain.sizes[-1] == (24000,)


def test_every_stage_lists_exactly_the_brute_force_of_its_factor():
    found = stage_search((5,), (12,), 2, max_factor=6)
    assert {chain.factors for chain in found.chains} == {((2,), (6,)), ((3,), (4,)), ((4,), (3,)), ((6,), (2,))}
    for chain in found.chains:
        for stage in chain.stages:
            (factor,) = stage.factor
            layers = {as_tuple(sol.dims[0].layer) for sol in stage.solutions(1000)}
            assert len(layers) == stage.total
            assert layers == factor_brute_force(factor, max(16, 4 * factor))


@pytest.mark.parametrize("output_padding, max_stride", [(1, 4), (0, 3), (None, 1)])
def test_reachable_near_with_one_output_padding_agrees_with_the_brute_force(output_padding, max_stride):
    space = search_space(1, output_padding=output_padding, max_stride=max_stride, max_kernel=6)[0]
    for length in (1, 4, 9):
        reachable = {transpose_length(length, x.kernel_size, x.stride, x.padding, x.dilation, x.output_padding)
                     for x in space.layers()} - set(range(-200, 1))
        for target in range(1, max(reachable) + 5):
            below, above = reachable_near(length, target, space)
            assert below == max((t for t in reachable if t < target), default=None)
            assert above == min((t for t in reachable if t > target), default=None)


def test_stages_whose_space_is_too_big_are_left_out_and_named():
    found = stage_search((80,), (300,), 2, max_factor=64)
    assert found.too_big == ((50,), (60,))
    assert {c.factors for c in found.chains} == {((a,), (300 // a,)) for a in (10, 12, 15, 20, 25, 30)}
    with pytest.raises(ConfigError, match="10,368,000 layers per dim"):
        factor_space((60,))


@pytest.mark.parametrize("size, target, stages", [((7,), (64,), 3), ((7, 7), (64, 64), 2), ((3,), (100,), 2),
                                                   ((5, 6), (20, 25), 2), ((7,), (64,), 1)])
def test_a_target_no_multiple_of_size_gets_its_odd_stage_first(size, target, stages):
    found = stage_search_to(size, target, stages)
    assert found.factor is None and found.target == target
    expected = set()
    for rest in itertools.product(*[[f for f in range(1, t + 1) if t % f == 0] for t in target]):
        if any(len(set(f for f, t2 in zip(rest, target) if t2 == t)) > 1 for t in target):
            continue  # dims alike share their design
        middle = tuple(t // f for f, t in zip(rest, target))
        if not search(size, middle).total:
            continue
        distinct = sorted(set(rest))
        for combo in itertools.product(*[factorizations(f, stages - 1, 32) for f in distinct]):
            of = dict(zip(distinct, combo))
            split = tuple(tuple(of[f][i] for f in rest) for i in range(stages - 1))
            if all(any(f > 1 for f in stage) for stage in split):
                expected.add((None, *split))
    assert {chain.factors for chain in found.chains} == expected
    keys = [chain.key() for chain in found.chains]
    assert keys == sorted(keys)
    for chain in found.chains:
        first = chain.stages[0]
        assert chain.layers[0].params == search(size, first.target).solutions(1)[0].params
        n = size
        for layer in chain.layers:
            n = spatial_output(layer.params, n)
        assert n == target == chain.sizes[-1]


def test_a_whole_multiple_is_a_factor_split():
    assert stage_search_to((80,), (24000,), 2).chains == stage_search((80,), (300,), 2).chains
