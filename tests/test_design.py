"""The design solvers: exact inverses (property), the search (exhaustive), and torch as the oracle."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convtool.design import (
    DimLayer,
    DimSpace,
    bias_only,
    invert,
    reachable_near,
    search,
    search_space,
    solve_dim,
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
    """Every (k, s, p, op, d) of SPEC §4.2's space mapping length to target, straight from §2.1."""
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
        macs = 3 * 5 * sol.params.kernel_size[0] * sol.params.kernel_size[1] * 7 * 9  # SPEC §2.6
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
