"""Blocks and repeat: reusable sub-graphs with parameters, written out into one graph of leaves
with paths; checked against the same network written out by hand, brute force, the numeric
engine and the exported module in torch."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.brute import lines_up
from support.exported import check_against_torch

from convtool.cli import main
from convtool.errors import ArchError
from convtool.graph import loads, propagate, uses, valid_input_sizes, verify
from convtool.graph.expr import ExprError, evaluate
from convtool.graph.loader import MAX_LAYERS

# The file format's own example, in 2-D.
EXAMPLE = """
name: generator
input: [1, 80, 8, 8]
blocks:
  res:
    params: {channels: null, kernel_size: 3, dilation: 1}
    layers:
      - {type: leaky_relu, negative_slope: 0.1}
      - {type: conv2d, out_channels: $channels, kernel_size: $kernel_size, dilation: $dilation, padding: same}
      - {type: add, inputs: [input, .]}
layers:
  - {type: conv2d, out_channels: 32, kernel_size: 7, padding: 3}
  - {name: up1, type: conv_transpose2d, out_channels: 16, kernel_size: 4, stride: 2, padding: 1}
  - {name: a, type: res, channels: 16, kernel_size: 3, repeat: 3}
  - {name: b, type: res, channels: 16, kernel_size: 7, repeat: 3, from: up1}
  - {type: add, inputs: [a, b]}
  - {type: scale, factor: 0.5}
"""

# The same network written out by hand.
WRITTEN_OUT = """
name: generator
input: [1, 80, 8, 8]
layers:
  - {type: conv2d, out_channels: 32, kernel_size: 7, padding: 3}
  - {name: up1, type: conv_transpose2d, out_channels: 16, kernel_size: 4, stride: 2, padding: 1}
""" + "".join(
    f"""  - {{type: leaky_relu, negative_slope: 0.1, from: {src}}}
  - {{type: conv2d, out_channels: 16, kernel_size: {k}, padding: same}}
  - {{name: {name}, type: add, inputs: [{src}, .]}}
"""
    for k, names in ((3, ("a0", "a1", "a2")), (7, ("b0", "b1", "b2")))
    for src, name in zip(("up1", *names[:2]), names)
) + """  - {type: add, inputs: [a2, b2]}
  - {type: scale, factor: 0.5}
"""


def has_scale() -> bool:
    from convtool.layers import KINDS

    return "scale" in KINDS


def example(text: str = EXAMPLE) -> str:
    """The example, with a stand-in for `scale` until that kind exists."""
    return text if has_scale() else text.replace("{type: scale, factor: 0.5}", "{type: identity}")


def test_paths_and_reads() -> None:
    prop = propagate(loads(example()))
    rows = [(r.path, r.inputs, r.block) for r in prop.layers]
    assert rows[:5] == [
        ("conv2d", ("input",), None),
        ("up1", ("conv2d",), None),
        ("a.0.leaky_relu", ("up1",), "a"),
        ("a.0.conv2d", ("a.0.leaky_relu",), "a"),
        ("a.0.add", ("up1", "a.0.conv2d"), "a"),
    ]
    assert rows[5] == ("a.1.leaky_relu", ("a.0.add",), "a")  # a later copy reads the copy before
    assert rows[11] == ("b.0.leaky_relu", ("up1",), "b")  # `from:` feeds the first copy
    assert rows[19] == ("b.2.add", ("b.1.add", "b.2.conv2d"), "b")
    assert rows[20][:2] == ("add", ("a.2.add", "b.2.add"))


def test_equals_the_network_written_out() -> None:
    blocks, flat = propagate(loads(example())), propagate(loads(example(WRITTEN_OUT)))
    assert [(r.type, r.input, r.output, r.param_count, r.macs, r.receptive_field) for r in blocks.layers] == [
        (r.type, r.input, r.output, r.param_count, r.macs, r.receptive_field) for r in flat.layers]
    assert [len(r.inputs) for r in blocks.layers] == [len(r.inputs) for r in flat.layers]


def test_uses_and_their_totals() -> None:
    prop = propagate(loads(example()))
    found = {u.use.path: u for u in uses(prop)}
    assert set(found) == {"a", "b"}
    a = found["a"]
    assert (a.use.block, a.use.repeat, a.use.first, a.use.stop, a.use.depth) == ("res", 3, 2, 11, 1)
    assert a.param_count == sum(r.param_count for r in prop.layers[2:11]) == 3 * (16 * 16 * 9 + 16)
    assert a.output == prop.layers[10].output


def run_file(tmp_path: Any, text: str, *args: str) -> Any:
    path = tmp_path / "net.yaml"
    path.write_text(text)
    return CliRunner().invoke(main, ["run", str(path), *args])


def test_run_json_and_depth(tmp_path: Any) -> None:
    result = run_file(tmp_path, example(), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [b["path"] for b in doc["blocks"]] == ["a", "b"]
    assert doc["blocks"][0]["repeat"] == 3 and doc["blocks"][0]["first"] == 2 and doc["blocks"][0]["last"] == 10
    assert doc["layers"][3]["block"] == "a" and doc["layers"][3]["path"] == "a.0.conv2d"
    table = run_file(tmp_path, example(), "--depth", "1")
    assert table.exit_code == 0, table.output
    assert "2-10" in table.stdout and "res x3" in table.stdout and "a.0.conv2d" not in table.stdout
    full = run_file(tmp_path, example())
    assert "a.0.conv2d" in full.stdout


NESTED = """
input: [1, 4, 16, 16]
blocks:
  conv_act:
    params: {c: null, k: 3}
    layers:
      - {type: conv2d, out_channels: $c, kernel_size: $k, padding: $(k // 2)}
      - {type: relu}
  down:
    params: {c: null}
    outputs: [pooled, skip]
    layers:
      - {type: conv_act, c: $c}
      - {name: skip, type: conv_act, c: $c, k: 5}
      - {name: pooled, type: max_pool2d, kernel_size: 2}
  up:
    inputs: [low, skip]
    params: {c: null, half: $(c // 2)}
    layers:
      - {type: conv_transpose2d, out_channels: $half, kernel_size: 2, stride: 2}
      - {type: concat, inputs: [skip, .]}
      - {type: conv_act, c: $half}
layers:
  - {name: d1, type: down, c: 8}
  - {name: d2, type: down, c: 16}
  - {type: up, c: 32, inputs: [d2, d2.skip]}
  - {type: up, c: 16, inputs: [., d1.skip]}
"""


def test_nested_blocks_several_inputs_and_outputs() -> None:
    prop = propagate(loads(NESTED))
    paths = [r.path for r in prop.layers]
    assert paths[:7] == ["d1.conv_act.conv2d", "d1.conv_act.relu", "d1.skip.conv2d", "d1.skip.relu", "d1.pooled",
                         "d2.conv_act.conv2d", "d2.conv_act.relu"]
    assert prop.layers[2].config == "k5 p2"  # $($k // 2) with k = 5
    up = [r for r in prop.layers if r.path.startswith("up_0.")]
    assert up[0].inputs == ("d2.pooled",) and up[0].output == (1, 16, 8, 8)  # half = 32 // 2
    assert up[1].inputs == ("d2.skip.relu", "up_0.conv_transpose2d")
    assert prop.output == (1, 8, 16, 16)
    found = {u.use.path: u.use for u in uses(prop)}
    assert found["d1.skip"].depth == 2 and found["d1.skip"].parent == "d1"
    assert [u.path for u in prop.arch.uses][:3] == ["d1", "d1.conv_act", "d1.skip"]  # outer before inner


@pytest.mark.parametrize(
    ("text", "words", "line"),
    [
        pytest.param("blocks: {b: {params: {c: null}, layers: [{type: conv2d, out_channels: $c, kernel_size: 1}]}}\n"
                     "layers: [{type: b}]", "block 'b' needs parameter 'c'", 2, id="missing-param"),
        pytest.param("blocks: {b: {layers: [{type: relu}]}}\nlayers: [{type: b, c: 3}]",
                     "block 'b' has no parameter 'c'", 2, id="unknown-param"),
        pytest.param("blocks: {b: {layers: [{type: conv2d, out_channels: $c, kernel_size: 1}]}}\nlayers: [{type: b}]",
                     "unknown parameter 'c'", 1, id="unknown-in-body"),
        pytest.param("blocks: {b: {params: {c: 4}, layers: [{type: conv2d, out_channels: x$c, kernel_size: 1}]}}\n"
                     "layers: [{type: b}]", "a `$` stands only at the start", 1, id="dollar-inside"),
        pytest.param("blocks: {b: {params: {c: 4}, layers: [{type: conv2d, out_channels: $(c ** 2), kernel_size: 1}]}}"
                     "\nlayers: [{type: b}]", "unexpected '*'", 1, id="power"),
        pytest.param("blocks: {b: {params: {c: 4}, layers: [{type: conv2d, out_channels: $(c // 0), kernel_size: 1}]}}"
                     "\nlayers: [{type: b}]", "division by zero", 1, id="zero"),
        pytest.param("blocks: {b: {layers: [{type: c}]}, c: {layers: [{type: b}]}}\nlayers: [{type: b}]",
                     "block 'b' uses itself (b -> c -> b)", 1, id="cycle"),
        pytest.param("blocks: {relu: {layers: [{type: relu}]}}\nlayers: [{type: relu}]",
                     "block name 'relu' is a layer type's name", 1, id="kind-name"),
        pytest.param("blocks: {b: {layers: [{type: relu, from: x}]}}\nlayers: [{name: x, type: relu}, {type: b}]",
                     "unknown tensor 'x': no earlier layer of this block has that name", 1, id="closed-scope"),
        pytest.param("blocks: {b: {layers: [{type: relu}]}}\nlayers: [{type: b}, {type: relu, from: b}]",
                     "unknown tensor 'b'", 2, id="unnamed-use"),
        pytest.param("blocks: {b: {outputs: [y], layers: [{name: y, type: relu}]}}\n"
                     "layers: [{name: u, type: b}, {type: relu, from: u.z}]",
                     "'u' is not a block use with an output 'z'", 2, id="unknown-output"),
        pytest.param("layers: [{type: relu}, {name: relu_1, type: relu}, {type: relu}]",
                     "name 'relu_1' is also the path of an unnamed layer", 1, id="name-is-a-path"),
        pytest.param("layers: [{type: relu, repeat: 0}]", "key 'repeat' expects a count >= 1", 1, id="repeat-0"),
        pytest.param("layers: [{type: relu, kernel: $k}]", "unknown parameter 'k'", 1, id="dollar-at-top"),
        pytest.param("blocks: {b: {inputs: [x, y], layers: [{type: add, inputs: [x, y]}]}}\nlayers: [{type: b}]",
                     "block 'b' takes `inputs:` with 2 tensor names (x, y)", 2, id="use-without-inputs"),
        pytest.param("blocks: {b: {layers: [{type: relu}]}}\nlayers: [{name: a.b, type: b}]",
                     "a name cannot contain '.'", 2, id="dotted-name"),
        pytest.param("blocks: {b: {lay: []}}\nlayers: [{type: relu}]", "unknown key 'lay' in block 'b'", 1,
                     id="block-key"),
        pytest.param("blocks: {b: {params: {c: 1, d: $(c + e)}, layers: [{type: relu}]}}\nlayers: [{type: b}]",
                     "the default of parameter 'd' of block 'b': unknown parameter 'e'", 1, id="default-expression"),
    ],
)
def test_block_errors(text: str, words: str, line: int) -> None:
    with pytest.raises(ArchError) as caught:
        loads("input: [1, 4, 8, 8]\n" + text, "net.yaml")
    assert words in " ".join([caught.value.message, *caught.value.hint_lines])
    assert caught.value.message.startswith(f"net.yaml:{line + 1}:"), caught.value.message


def test_the_number_of_layers_is_bounded() -> None:
    text = ("input: [1, 1, 4, 4]\nblocks:\n  b: {layers: [{type: relu, repeat: 1000}]}\n"
            "  c: {layers: [{type: b, repeat: 1000}]}\nlayers: [{type: c}]")
    with pytest.raises(ArchError, match=f"more than {MAX_LAYERS:,} layers"):
        loads(text)


@pytest.mark.parametrize(
    ("expr", "value"),
    [("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("-7 // 2", -4), ("7 // -2", -4), ("-7 % 3", 2), ("7 % -3", -2),
     ("--3", 3), ("c // 2", 32), ("c - c // 3 * 3", 1), ("  c  ", 64)],
)
def test_expressions(expr: str, value: int) -> None:
    assert evaluate(expr, {"c": 64}) == value


@pytest.mark.parametrize("expr", ["", "1 +", "(1", "1 2", "c / 2", "2 ** 3", "__import__('os')", "c.real", "1e3"])
def test_bad_expressions(expr: str) -> None:
    with pytest.raises(ExprError):
        evaluate(expr, {"c": 64})


def expressions() -> st.SearchStrategy[str]:
    leaf = st.one_of(st.integers(0, 50).map(str), st.sampled_from(["a", "b"]))
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "//", "%"]), inner).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
            inner.map(lambda e: f"({e})"),
            inner.map(lambda e: f"-{e}"),
        ),
        max_leaves=8,
    )


@settings(max_examples=300, deadline=None)
@given(expressions(), st.integers(-20, 20), st.integers(-20, 20))
def test_expressions_equal_python(expr: str, a: int, b: int) -> None:
    # Python's own arithmetic is the oracle (on generated text only, in the test)
    try:
        expected = eval(expr, {"__builtins__": {}}, {"a": a, "b": b})  # noqa: S307
    except ZeroDivisionError:
        with pytest.raises(ExprError, match="division by zero"):
            evaluate(expr, {"a": a, "b": b})
        return
    if abs(expected) > 10**18:
        return
    assert evaluate(expr, {"a": a, "b": b}) == expected


def repeated(n: int, k: int, s: int) -> str:
    return f"""
input: [1, 2, 12, 12]
blocks:
  stage:
    params: {{k: 3, s: 1}}
    layers:
      - {{type: conv2d, out_channels: 2, kernel_size: $k, stride: $s, padding: $(k // 2)}}
      - {{name: side, type: conv2d, out_channels: 2, kernel_size: 1}}
      - {{type: add, inputs: [side, .], crop: center}}
layers:
  - {{name: t, type: stage, k: {k}, s: {s}, repeat: {n}}}
  - {{type: conv_transpose2d, out_channels: 2, kernel_size: {s}, stride: {s}, repeat: {n}}}
  - {{type: concat, inputs: [., input], crop: center}}
"""


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 3), st.sampled_from([1, 3, 5]), st.integers(1, 2))
def test_valid_sizes_of_repeats_equal_brute_force(n: int, k: int, s: int) -> None:
    arch = loads(repeated(n, k, s))
    sizes = valid_input_sizes(arch, (1, 2, 12, 12))
    assert sizes.dims is not None
    for dim in sizes.dims:
        for size in range(1, 40):
            spatial = list(dim.held)
            spatial[dim.axis] = size
            assert lines_up(arch, (1, 2, *spatial)) == dim.contains(size), (n, k, s, size)


def test_verify_and_export() -> None:
    for text in (example(), NESTED):
        prop = propagate(loads(text))
        assert verify(prop).ok
        check_against_torch(prop)
