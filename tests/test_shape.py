"""The shape engine: tables of known answers and hypothesis properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convtool.errors import ConfigError, OutputSizeError
from convtool.params import ConvParams
from convtool.shape import (
    analyze,
    conv_length,
    conv_preimage,
    invert_conv,
    output_padding_for,
    output_shape,
    output_size_range,
    overlap,
    spatial_output,
    tap_count,
    transpose_length,
    unread,
)

T = ConvParams.conv_transpose
C = ConvParams.conv


@pytest.mark.parametrize(
    "params, input_shape, expected",
    [
        (T(3, 2, in_channels=16, out_channels=33), (20, 16, 50, 100), (20, 33, 101, 201)),
        (T((3, 5), (2, 1), (4, 2), in_channels=16, out_channels=33), (20, 16, 50, 100), (20, 33, 93, 100)),
        (T(4, 2, 1, in_channels=8, out_channels=4), (8, 16, 16), (4, 32, 32)),
        (T(4, 1, 0, in_channels=100, out_channels=512), (16, 100, 1, 1), (16, 512, 4, 4)),
        (T(3, 2, dilation=3, output_padding=2, in_channels=4, out_channels=6), (1, 4, 5, 5), (1, 6, 17, 17)),
        (T(3, 1, 3, in_channels=4, out_channels=6), (1, 4, 5, 5), (1, 6, 1, 1)),
        (T(7, in_channels=1, out_channels=1), (1, 1, 1, 1), (1, 1, 7, 7)),
        (T(2, 2, in_channels=3, out_channels=3, groups=3, ndim=3), (1, 3, 4, 4, 4), (1, 3, 8, 8, 8)),
        (C(3, 2, 1, in_channels=3, out_channels=8), (2, 3, 28, 28), (2, 8, 14, 14)),
        (C(3, 1, "same", in_channels=3, out_channels=8), (2, 3, 9, 9), (2, 8, 9, 9)),
        (C(4, 1, "same", dilation=2, in_channels=3, out_channels=8), (1, 3, 9, 7), (1, 8, 9, 7)),
        (C(3, 1, "valid", in_channels=3, out_channels=8), (1, 3, 9, 9), (1, 8, 7, 7)),
        (C(3, padding=2, padding_mode="circular", in_channels=1, out_channels=1), (1, 1, 2, 2), (1, 1, 4, 4)),
        (C(3, padding=5, padding_mode="replicate", in_channels=1, out_channels=1), (1, 1, 2, 2), (1, 1, 10, 10)),
    ],
    ids=lambda v: str(v) if isinstance(v, tuple) else None,
)
def test_output_shape(params, input_shape, expected):
    assert output_shape(params, input_shape) == expected


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: T(3, 0), "non-positive stride is not supported"),
        (lambda: T(3, 1, -1), "negative padding is not supported"),
        (lambda: T(3, output_padding=-1), "negative output_padding is not supported"),
        (lambda: T(3, dilation=-1), "dilation should be greater than zero"),
        (lambda: T(3, groups=0), "groups must be a positive integer"),
        (lambda: T(3, groups=2, in_channels=3), "in_channels must be divisible by groups"),
        (lambda: T(3, groups=2, in_channels=2, out_channels=3), "out_channels must be divisible by groups"),
        (lambda: T(3, padding_mode="reflect"), 'Only "zeros" padding mode is supported for ConvTranspose2d'),
        (lambda: T(3, padding="same"), "transposed convolutions take no string padding"),
        (
            lambda: T(3, 2, output_padding=2),
            "output padding must be smaller than either stride or dilation, but got output_padding_height: 2 "
            "output_padding_width: 2 stride_height: 2 stride_width: 2 dilation_height: 1 dilation_width: 1",
        ),
        (
            lambda: T(3, (2, 1), output_padding=(0, 1)),
            "output padding must be smaller than either stride or dilation",
        ),
        (lambda: C(3, 2, "same"), "padding='same' is not supported for strided convolutions"),
        (lambda: C(3, padding="full"), "Invalid padding string 'full', should be one of {'same', 'valid'}"),
        (lambda: C(3, padding_mode="mirror"), "padding_mode must be one of"),
        (lambda: T((3, 3, 3), stride=(1, 1)), "expected stride to be a single integer value or a list of 3 values"),
        (lambda: T(True), "kernel_size must be an int or a tuple"),
    ],
)
def test_invalid_params(make, message):
    with pytest.raises(ConfigError) as info:
        make()
    assert info.value.message.startswith(message)


def test_output_padding_may_reach_dilation():
    # legal through dilation, though output_size cannot ask for it (PYTORCH.md 1.6)
    assert T((3, 3), (2, 1), output_padding=(0, 1), dilation=(1, 2)).output_padding == (0, 1)


@pytest.mark.parametrize(
    "params, input_shape, message",
    [
        (T(3, 1, 5), (1, 1, 4, 4), "Given input size per channel: (4 x 4). Calculated output size per channel: (-4 x -4). Output size is too small"),
        (T(3, 1, 3, ndim=1), (1, 1, 4), "Given input size per channel: (1 x 4). Calculated output size per channel: (1 x 0). Output size is too small"),
        (C(3), (1, 1, 2, 2), "Calculated padded input size per channel: (2 x 2). Kernel size: (3 x 3). Kernel size can't be greater than actual input size"),
        (C(3, padding=3, padding_mode="reflect"), (1, 1, 2, 2), "Argument #4: Padding size should be less than the corresponding input dimension, but got: padding (3, 3) at dimension 3 of input [1, 1, 2, 2]"),
        (C(3, padding=3, padding_mode="circular"), (1, 1, 2, 2), "Padding value causes wrapping around more than once."),
        (T(3, in_channels=4, out_channels=6), (1, 5, 5, 5), "Given transposed=1, weight of size [4, 6, 3, 3], expected input[1, 5, 5, 5] to have 4 channels, but got 5 channels instead"),
        (T(3), (5, 5), "Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of size: [5, 5]"),
        (T(3), (1, 4, 0, 5), "Only zero batch or zero channel inputs are supported, but got input shape: [1, 4, 0, 5]"),
    ],
)
def test_invalid_for_input(params, input_shape, message):
    with pytest.raises(ConfigError) as info:
        output_shape(params, input_shape)
    assert info.value.message == message


@pytest.mark.parametrize(
    "params, input_shape, output_size, expected",
    [
        (T(3, 2, 1), (1, 16, 6, 6), (12, 12), (1, 1)),
        (T(7, 2, 1), (1, 16, 4, 4), (12, 12), (1, 1)),
        (T(3, 2, 1), (1, 16, 6, 6), (7, 99, 11, 12), (0, 1)),  # leading entries dropped unchecked
        (T(3, 2, 1), (16, 6, 6), (16, 11, 12), (0, 1)),
    ],
)
def test_output_size(params, input_shape, output_size, expected):
    assert output_padding_for(params, input_shape, output_size) == expected


@pytest.mark.parametrize(
    "params, input_shape, output_size, message",
    [
        (T(3, 2), (1, 16, 4, 4), (12, 12), "requested an output size of (12, 12), but valid sizes range from [9, 9] to [10, 10] (for an input of [4, 4])"),
        (T(3, 2, 1), (1, 16, 6, 6), (13, 12), "requested an output size of (13, 12), but valid sizes range from [11, 11] to [12, 12] (for an input of [6, 6])"),
        (T(3, 1, dilation=3), (1, 2, 5, 5), (12, 12), "requested an output size of (12, 12), but valid sizes range from [11, 11] to [11, 11] (for an input of [5, 5])"),
        (T(3, 2), (1, 16, 4, 4), (1, 12, 12), "ConvTranspose2D: for 4D input, output_size must have 2 or 4 elements (got 3)"),
    ],
)
def test_output_size_rejected(params, input_shape, output_size, message):
    with pytest.raises(OutputSizeError) as info:
        output_padding_for(params, input_shape, output_size)
    assert info.value.message == message


def test_output_size_hint_names_output_padding_when_dilation_reaches_it():
    with pytest.raises(OutputSizeError) as info:
        output_padding_for(T(3, 1, dilation=3), (1, 2, 5, 5), (12, 12))
    assert "output_padding=(1, 1) reaches it" in info.value.hint


@pytest.mark.parametrize(
    "k, s, p, d, pattern, even",
    [
        (3, 2, 0, 1, (2, 1), False),
        (3, 2, 1, 1, (1, 2), False),
        (4, 2, 1, 1, (2, 2), True),
        (2, 2, 0, 1, (1, 1), True),
        (8, 4, 2, 1, (2, 2, 2, 2), True),
        (1, 2, 0, 1, (1, 0), False),
        (3, 2, 0, 2, (3, 0), False),
        (5, 1, 2, 1, (5,), True),
        (7, 2, 1, 1, (3, 4), False),
    ],
)
def test_overlap_pattern(k, s, p, d, pattern, even):
    (o,) = overlap(T(k, s, p, dilation=d, ndim=1))
    assert o.pattern == pattern
    assert o.even is even


def test_analyze_conv_reports_ignored_rows():
    report = analyze(C(3, 2, 0, in_channels=3, out_channels=8), (64, 63), batch=2)
    assert report.output_spatial == (31, 31)
    assert report.ignored == (1, 0)
    assert report.macs == 2 * 8 * 3 * 9 * 31 * 31
    assert any("never read" in w for w in report.warnings)


def test_analyze_conv_leftover_in_the_padding_is_read():
    # k3 s2 p1 on 64: the leftover position is the end padding; every input row is read
    report = analyze(C(3, 2, 1, in_channels=3, out_channels=8), (64, 64), batch=1)
    assert report.ignored == (0, 0)
    assert not any("never read" in w for w in report.warnings)
    assert any("output_padding=(1, 1)" in w for w in report.warnings)


def test_unread_rows_match_torch_gradients():
    torch = pytest.importorskip("torch")
    import random

    rng = random.Random(7)
    for _ in range(400):
        k, s, p, d, n = rng.randint(1, 5), rng.randint(1, 4), rng.randint(0, 3), rng.randint(1, 3), rng.randint(1, 20)
        if n + 2 * p < d * (k - 1) + 1:
            continue
        x = torch.ones(1, 1, n, requires_grad=True)
        torch.nn.functional.conv1d(x, torch.ones(1, 1, k), stride=s, padding=p, dilation=d).sum().backward()
        read = x.grad[0, 0].nonzero().flatten().tolist()
        trailing = n - 1 - max(read) if read else n
        assert unread(n, k, s, p, p, d) == trailing, (n, k, s, p, d)


def test_analyze_transpose():
    report = analyze(T(3, 2, in_channels=16, out_channels=33), (50, 100), batch=20)
    assert report.output_shape == (20, 33, 101, 201)
    assert report.output_size_range == ((101, 201), (102, 202))
    assert (report.param_count, report.macs) == (4785, 475200000)
    assert [list(r) for r in report.inverts] == [[101, 102], [201, 202]]
    assert any("checkerboard" in w for w in report.warnings)


# -- properties -----------------------------------------------------------------------------

dims = st.integers(1, 3)


@st.composite
def transpose_layers(draw):
    nd = draw(dims)
    k = tuple(draw(st.integers(1, 7)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    d = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    p = tuple(draw(st.integers(0, dd * (kk - 1) + 2)) for kk, dd in zip(k, d))
    op = tuple(draw(st.integers(0, max(ss, dd) - 1)) for ss, dd in zip(s, d))
    size = tuple(draw(st.integers(1, 20)) for _ in range(nd))
    return T(k, s, p, op, dilation=d, ndim=nd), size


@given(transpose_layers())
def test_output_size_range_is_what_output_padding_below_stride_reaches(case):
    params, size = case
    mins, maxs = output_size_range(params, size)
    for axis in range(params.ndim):
        accepted = set()
        for request in range(mins[axis] - 3, maxs[axis] + 4):
            sizes = list(mins)
            sizes[axis] = request
            try:
                op = output_padding_for(params, (1, 1, *size), sizes)
            except OutputSizeError:
                continue
            accepted.add(request)
            assert op[axis] < params.stride[axis]
            got = transpose_length(size[axis], params.kernel_size[axis], params.stride[axis],
                                   params.padding[axis], params.dilation[axis], op[axis])
            assert got == request
        assert accepted == set(range(mins[axis], mins[axis] + params.stride[axis]))


@st.composite
def conv_layers(draw):
    nd = draw(dims)
    k = tuple(draw(st.integers(1, 7)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 6)) for _ in range(nd))
    d = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    p = tuple(draw(st.integers(0, 4)) for _ in range(nd))
    extent = [dd * (kk - 1) + 1 for kk, dd in zip(k, d)]
    size = tuple(draw(st.integers(max(1, e - 2 * pp), 40)) for e, pp in zip(extent, p))
    return C(k, s, p, dilation=d, ndim=nd), size


@given(conv_layers())
def test_inversion_restores_the_size(case):
    conv, size = case
    inversion = invert_conv(conv, size)
    transpose = T(conv.kernel_size, conv.stride, conv.padding, inversion.output_padding,
                  dilation=conv.dilation, ndim=conv.ndim)
    assert spatial_output(transpose, inversion.conv_output) == size
    for other, op in inversion.alternatives:
        assert spatial_output(conv, other) == inversion.conv_output
        assert spatial_output(transpose.replace(output_padding=op), inversion.conv_output) == other


@given(conv_layers())
def test_preimage_is_exactly_the_sizes_with_that_output(case):
    conv, size = case
    k, s, p, d = conv.kernel_size[0], conv.stride[0], conv.padding[0], conv.dilation[0]
    h = conv_length(size[0], k, s, p, p, d)
    brute = [n for n in range(1, 200) if n + 2 * p >= d * (k - 1) + 1 and conv_length(n, k, s, p, p, d) == h]
    assert list(conv_preimage(h, k, s, p, p, d)) == brute


@given(transpose_layers())
def test_overlap_pattern_matches_enumeration_in_the_interior(case):
    params, _ = case
    for o, k, s, p, d in zip(overlap(params), params.kernel_size, params.stride, params.padding, params.dilation):
        length = 30  # positions far from both borders see every tap they can
        first, last = d * (k - 1) + s, (length - 1) * s - d * (k - 1) - s
        for position in range(max(first - p, 0), last - p):
            assert tap_count(position, length, k, s, p, d) == o.pattern[position % s]


@given(st.integers(1, 30), st.integers(1, 7), st.integers(1, 5), st.integers(0, 4), st.integers(1, 4))
def test_unread_rows_match_enumeration(n, k, s, p, d):
    if n + 2 * p < d * (k - 1) + 1:
        return
    out = conv_length(n, k, s, p, p, d)
    read = [r for r in {w * s + t * d - p for w in range(out) for t in range(k)} if 0 <= r < n]
    assert unread(n, k, s, p, p, d) == (n - 1 - max(read) if read else n)
