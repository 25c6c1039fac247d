"""The layer picture's source, over many random layers (no rendering: quick): each output cell's
fill is the legend colour of its tap count, and the stretched-input view is the layer."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from support import naive

from convtool.draw.layer import layer_svg
from convtool.draw.svg import clean, ramp
from convtool.errors import ConvtoolError
from convtool.params import ConvParams
from convtool.shape import conv_length, stretched, transpose_length

SVG = "{http://www.w3.org/2000/svg}"


def fills(svg: str) -> tuple[dict[str, dict[tuple[int, int], str]], dict[str, str]]:
    """Cell fills per grid, and legend fill -> label, from the SVG source."""
    root = ET.fromstring(svg)
    cells: dict[str, dict[tuple[int, int], str]] = {}
    for rect in root.iter(f"{SVG}rect"):
        if rect.get("class") == "cell":
            cells.setdefault(rect.get("data-grid"), {})[(int(rect.get("data-row")), int(rect.get("data-col")))] = (
                rect.get("fill")
            )
    legend = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "legend":
            children = list(group)
            for swatch, label in zip(children, children[1:]):
                if swatch.get("class") == "swatch":
                    legend[swatch.get("fill")] = label.text
    return cells, legend


layers = st.tuples(
    st.integers(1, 6), st.integers(1, 4), st.integers(0, 8), st.integers(0, 3), st.integers(1, 3), st.integers(1, 7),
)


@settings(max_examples=150, deadline=None)
@given(rows=layers, cols=layers)
def test_output_fills_are_tap_counts(rows, cols) -> None:
    (kh, sh, ph, oh, dh, nh), (kw, sw, pw, ow, dw, nw) = rows, cols
    try:
        params = ConvParams.conv_transpose((kh, kw), (sh, sw), (ph, pw), (oh, ow), dilation=(dh, dw))
        svg = layer_svg(params, (nh, nw))
    except ConvtoolError:
        assume(False)
        return
    cells, legend = fills(svg)
    ones = naive.conv_transpose(np.ones((1, 1, nh, nw)), np.ones((1, 1, kh, kw)), stride=(sh, sw),
                                  padding=(ph, pw), output_padding=(oh, ow), dilation=(dh, dw))[0, 0]
    assert set(cells["output"]) == {(r, c) for r in range(ones.shape[0]) for c in range(ones.shape[1])}
    for (r, c), fill in cells["output"].items():
        assert int(legend[fill].split()[0]) == int(ones[r, c])
    # as many distinct colours as distinct counts, each with one legend entry
    assert len(set(cells["output"].values())) == len(np.unique(ones))


@settings(max_examples=300, deadline=None)
@given(i=st.integers(1, 50), k=st.integers(1, 9), s=st.integers(1, 6), p=st.integers(0, 20), d=st.integers(1, 4),
       op=st.integers(0, 5))
def test_stretched_view_is_the_transposed_layer(i, k, s, p, d, op) -> None:
    """A stride-1 convolution over the stretched, padded input has the transposed layer's length."""
    assume(op < max(s, d))
    length, before, after = stretched(i, k, s, p, d, op)
    assert length == (i - 1) * s + 1 and after - before == op
    assert conv_length(length, k, 1, before, after, d) == transpose_length(i, k, s, p, d, op)


def test_ramp_colours_are_distinct_and_ordered() -> None:
    for n in (1, 2, 5, 64, 200):
        colours = ramp(n)
        assert len(colours) == len(set(colours)) == n
    assert ramp(9)[0] == "#fde68a" and ramp(9)[-1] == "#3b1f6b"


def test_clean_drops_control_characters() -> None:
    assert clean("\x00a\x07b\x1bc\x7fd\x9fe\tf\ng") == "abcde\tf\ng"
    assert clean("<&>\"'") == "&lt;&amp;&gt;&quot;&#x27;"
