"""The layer picture, read from its pixels: output colours are the tap counts, the stretched
input's zeros and padding sit where the definition puts them, and the picture, read as a
computation, is the layer."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from draw_pixels import Picture, count_of, ink
from support import naive

from convtool.draw.layer import MAX_CELLS, layer_svg, small_input
from convtool.errors import ConvtoolError
from convtool.params import ConvParams
from convtool.shape import spatial_output, tap_count, unread

KIND = {  # legend label -> kind, as the test reads the picture
    "input pixel": "input",
    "inserted zero (stride - 1 between pixels)": "zero",
    "padding (zeros)": "pad",
    "output_padding (zeros, end only)": "output_padding",
}


def _random_layers(seed: int, n: int, transposed: bool) -> list[tuple[ConvParams, tuple[int, ...]]]:
    """Random valid 1-D and 2-D layers small enough to draw."""
    rng = random.Random(seed)
    found: list[tuple[ConvParams, tuple[int, ...]]] = []
    while len(found) < n:
        nd = rng.choice((1, 2, 2))
        k = tuple(rng.randint(1, 5) for _ in range(nd))
        s = tuple(rng.randint(1, 4) for _ in range(nd))
        d = tuple(rng.choice((1, 1, 2, 3)) for _ in range(nd))
        p = tuple(rng.randint(0, dd * (kk - 1) + 2) for kk, dd in zip(k, d))
        size = tuple(rng.randint(1, 6) for _ in range(nd))
        try:
            if transposed:
                op = tuple(rng.randint(0, max(ss, dd) - 1) for ss, dd in zip(s, d))
                params = ConvParams.conv_transpose(k, s, p, op, dilation=d, ndim=nd)
            else:
                p = tuple(min(pp, kk // 2) for pp, kk in zip(p, k))  # PyTorch: at most half the kernel
                params = ConvParams.conv(k, s, p, d, ndim=nd)
            layer_svg(params, size)
        except ConvtoolError:
            continue
        found.append((params, size))
    return found


FIXED_T = [
    (ConvParams.conv_transpose(3, 2, 1, 1), (4, 4)),  # the classic 2,1 checkerboard
    (ConvParams.conv_transpose(4, 2, 1), (4, 4)),  # even
    (ConvParams.conv_transpose(1, 3), (3, 3)),  # gaps: positions no tap reaches
    (ConvParams.conv_transpose(3, 1, 3), (5, 5)),  # padding beyond d(k-1): a crop
    (ConvParams.conv_transpose(3, 2, 1, 2, dilation=3), (3, 3)),  # output_padding >= stride, through dilation
    (ConvParams.conv_transpose((3, 5), (2, 1), (0, 5), (1, 0)), (3, 8)),  # per-dim differences, a crop in W
    (ConvParams.conv_transpose(4, 2, 1, ndim=1), (6,)),  # a strip
]
TRANSPOSED = FIXED_T + _random_layers(16, 24, True)
FIXED_C = [
    (ConvParams.conv(3, 2), (8, 8)),  # the last row and column are never read
    (ConvParams.conv(3, 2, 1), (8, 7)),
    (ConvParams.conv(1, 2), (5, 5)),  # every other row is skipped, inside too
    (ConvParams.conv(3, 3, 0, 2), (12, 12)),  # dilation steps over the last rows
    (ConvParams.conv(3, 1, "same", 2), (5, 5)),
    (ConvParams.conv(4, 3, ndim=1), (11,)),
]
CONVS = FIXED_C + _random_layers(61, 16, False)


def _id(case: tuple[ConvParams, tuple[int, ...]]) -> str:
    params, size = case
    return f"{params.op}-{params.compact().replace(' ', '_')}-on-{'x'.join(map(str, size))}"


def _two_d(params: ConvParams, size: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """(kernel, stride, padding, output_padding, dilation, size) per dim, a 1-D layer given a
    height of one row that a one-tap kernel reads (as the picture draws it)."""
    fields = (params.kernel_size, params.stride, params.padding, params.output_padding, params.dilation, size)
    if params.ndim == 2:
        return fields
    return tuple((unit, *f) for unit, f in zip((1, 1, 0, 0, 1, 1), fields))


@pytest.mark.parametrize("case", TRANSPOSED, ids=[_id(c) for c in TRANSPOSED])
def test_output_colours_are_tap_counts(case) -> None:
    params, size = case
    picture = Picture(layer_svg(params, size))
    seen = {key: count_of(label) for key, label in picture.meaning("output").items()}
    out = spatial_output(params, size)
    rows, cols = (1, out[0]) if params.ndim == 1 else out
    assert set(seen) == {(r, c) for r in range(rows) for c in range(cols)}
    # the shape engine's counts, per dim multiplied
    engine_dims = [
        [tap_count(o, i, k, s, p, d) for o in range(n)]
        for i, n, k, s, p, d in zip(size, out, params.kernel_size, params.stride, params.padding, params.dilation)
    ]
    if params.ndim == 1:
        engine_dims.insert(0, [1])
    engine = {(r, c): engine_dims[0][r] * engine_dims[1][c] for r in range(rows) for c in range(cols)}
    assert seen == engine
    # and the definition: the scatter of ones through a kernel of ones counts the taps
    k, s, p, op, d, n = _two_d(params, size)
    ones = naive.conv_transpose(np.ones((1, 1, *n)), np.ones((1, 1, *k)), stride=s, padding=p,
                                  output_padding=op, dilation=d)[0, 0]
    assert seen == {(r, c): int(ones[r, c]) for r in range(rows) for c in range(cols)}
    assert Counter(seen.values()) == Counter(int(v) for v in ones.ravel())


@pytest.mark.parametrize("case", TRANSPOSED, ids=[_id(c) for c in TRANSPOSED])
def test_stretched_input_cells(case) -> None:
    """Input pixels every stride, zeros between, d(k-1) - p of padding per side (a crop when
    negative), output_padding after the end padding, read back from the colours."""
    params, size = case
    picture = Picture(layer_svg(params, size))
    seen = picture.meaning("slide")
    k, s, p, op, d, n = _two_d(params, size)

    def kind(j: int, axis: int) -> str | None:
        reach = d[axis] * (k[axis] - 1) - p[axis]
        length = (n[axis] - 1) * s[axis] + 1
        if j < -reach or j >= length + reach + op[axis]:
            return None  # cropped
        if 0 <= j < length:
            return "input" if j % s[axis] == 0 else "zero"
        return "pad" if j < length + max(reach, 0) else "output_padding"

    order = (None, "output_padding", "pad", "zero", "input")
    expected = {}
    span = [range(-d[a] * (k[a] - 1) - 1, (n[a] - 1) * s[a] + 1 + d[a] * (k[a] - 1) + op[a] + 1) for a in (0, 1)]
    for r in span[0]:
        for c in span[1]:
            kinds = (kind(r, 0), kind(c, 1))
            expected[(r, c)] = next(x for x in order if x in kinds)
    read = {key: KIND.get(label) for key, label in seen.items()}
    assert all(label in KIND or label.startswith("cropped") for label in seen.values())
    # every drawn cell as the definition says; every cell the definition keeps is drawn
    assert read == {key: expected[key] for key in read}
    assert {key for key, v in expected.items() if v is not None} <= set(read)


def _kernel_start(picture: Picture, grid: str) -> tuple[int, int]:
    """The cell under the top-left corner of the kernel's outline."""
    outline = picture.group_rects("kernel")[0]
    cells = picture.cells[grid]
    return min(cells, key=lambda key: abs(cells[key].x - outline.x - 2) + abs(cells[key].y - outline.y - 2))


@pytest.mark.parametrize("case", TRANSPOSED, ids=[_id(c) for c in TRANSPOSED])
def test_picture_computes_the_layer(case) -> None:
    """Put values in the cells the picture shows as input pixels, slide the flipped kernel from
    its drawn place at stride 1: that is PyTorch's transposed convolution (naive reference)."""
    params, size = case
    picture = Picture(layer_svg(params, size))
    seen = picture.meaning("slide")
    k, s, p, op, d, n = _two_d(params, size)
    rng = np.random.default_rng(0)
    x = rng.integers(-5, 6, (1, 1, *n)).astype(float)
    w = rng.integers(-3, 4, (1, 1, *k)).astype(float)
    expected = naive.conv_transpose(x, w, stride=s, padding=p, output_padding=op, dilation=d)[0, 0]
    # a cell's place in the stretched grid says which pixel it holds: pixel (m, n) at (m*s, n*s)
    values = {
        (r, c): x[0, 0, r // s[0], c // s[1]] for (r, c), label in seen.items() if KIND.get(label) == "input"
    }
    r0, c0 = _kernel_start(picture, "slide")
    flipped = w[0, 0, ::-1, ::-1]
    got = np.zeros_like(expected)
    for orow in range(expected.shape[0]):
        for ocol in range(expected.shape[1]):
            got[orow, ocol] = sum(
                flipped[a, b] * values.get((r0 + orow + a * d[0], c0 + ocol + b * d[1]), 0.0)
                for a in range(k[0]) for b in range(k[1])
            )
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("case", CONVS, ids=[_id(c) for c in CONVS])
def test_conv_reads_and_unread_rows(case) -> None:
    """Each input cell's colour is the number of windows that read it; the red marks cover the
    trailing rows no window reads (shape.unread); the picture, read as a computation, is conv2d."""
    params, size = case
    picture = Picture(layer_svg(params, size))
    seen = picture.meaning("slide")
    k, s, _, _, d, n = _two_d(params, size)
    pads = params.padding_pairs if params.ndim == 2 else ((0, 0), *params.padding_pairs)
    out = spatial_output(params, size)
    out2 = out if params.ndim == 2 else (1, *out)
    reads = Counter()
    for orow in range(out2[0]):
        for ocol in range(out2[1]):
            for a in range(k[0]):
                for b in range(k[1]):
                    reads[(orow * s[0] - pads[0][0] + a * d[0], ocol * s[1] - pads[1][0] + b * d[1])] += 1
    inside = {(r, c) for r in range(n[0]) for c in range(n[1])}
    for key, label in seen.items():
        if key in inside:
            assert count_of(label) == reads[key], f"input cell {key}"
        else:
            assert label == "padding", f"cell {key}"
    # the never-read marks: the columns under the bracket are the trailing unread ones
    unread_cols = unread(n[1], k[1], s[1], pads[1][0], pads[1][1], d[1])
    assert all(reads[(r, c)] == 0 for r in range(n[0]) for c in range(n[1] - unread_cols, n[1]))
    if unread_cols < n[1]:
        assert any(reads[(r, n[1] - unread_cols - 1)] for r in range(n[0]))
    assert (f"never read ({unread_cols})" in picture.texts()) == bool(unread_cols)
    unread_rows = unread(n[0], k[0], s[0], pads[0][0], pads[0][1], d[0])
    assert all(reads[(r, c)] == 0 for r in range(n[0] - unread_rows, n[0]) for c in range(n[1]))
    assert picture.svg.count('class="unread"') == bool(unread_rows) + bool(unread_cols)
    if unread_rows:
        assert f"never read ({unread_rows})" in picture.texts()
    # the picture as a computation: values in the input cells, the kernel from its drawn place
    rng = np.random.default_rng(1)
    x = rng.integers(-5, 6, (1, 1, *n)).astype(float)
    w = rng.integers(-3, 4, (1, 1, *k)).astype(float)
    expected = naive.conv(x, w, stride=s, padding=tuple(pads), dilation=d)[0, 0]
    r0, c0 = _kernel_start(picture, "slide")
    got = np.array([[
        sum(w[0, 0, a, b] * (x[0, 0, r, c] if (r, c) in inside else 0.0)
            for a in range(k[0]) for b in range(k[1])
            for r, c in [(r0 + orow * s[0] + a * d[0], c0 + ocol * s[1] + b * d[1])])
        for ocol in range(out2[1])] for orow in range(out2[0])])
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("case", FIXED_T[:3] + FIXED_C[:1], ids=[_id(c) for c in FIXED_T[:3] + FIXED_C[:1]])
def test_picture_renders_and_has_the_code(case) -> None:
    params, size = case
    svg = layer_svg(params, size)
    picture = Picture(svg)
    assert ink(picture.image) > 0.05
    assert params.torch_code() in picture.texts()


def test_animation_steps_through_every_output() -> None:
    params, size = ConvParams.conv_transpose(3, 2, 1, 1), (3, 3)
    svg = layer_svg(params, size, animate=True)
    out = spatial_output(params, size)
    moves = [m for m in svg.split("values=\"")[1].split("\"")[0].split(";")]
    assert len(moves) == out[0] * out[1] and len(set(moves)) == len(moves)
    assert svg.count("<animateTransform") == 2 and "<script" not in svg  # SMIL: the kernel and the output cell
    assert "<animate" not in layer_svg(params, size)


def test_small_input_keeps_the_pattern() -> None:
    params = ConvParams.conv_transpose(3, 2, 1, 1)
    assert small_input(params, (56, 28)) == (4, 4)
    assert small_input(ConvParams.conv_transpose(3, 1, 3), (28, 28)) == (5, 5)  # smallest valid input
    big = ConvParams.conv_transpose(2, 2)
    with pytest.raises(ConvtoolError, match=f"at most {MAX_CELLS} cells"):
        layer_svg(big, (40, 40))


def test_user_strings_are_escaped() -> None:
    svg = layer_svg(ConvParams.conv_transpose(3, 2), (2, 2), note='<b onload="x">\x1b[31m & more')
    assert "<b " not in svg and "\x1b" not in svg and "&lt;b onload" in svg
    Picture(svg)  # still a valid XML document
