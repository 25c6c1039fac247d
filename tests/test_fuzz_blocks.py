"""Fuzzing blocks, parameters, repeat and several network inputs in process: one random
description written twice (with blocks, and written out by hand without them) gives the same
table; the blocks version passes verify, valid sizes agree with brute force, export runs in
torch; damaged block files raise only ConvtoolError, an ArchError with its line and column.

FUZZ_EXAMPLES=N raises the example counts for a long run."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.block_nets import Flat, Net, nets, with_blocks
from support.brute import lines_up
from support.exported import check_against_torch

from convtool.errors import ArchError, ConvtoolError
from convtool.graph import loads, propagate, valid_input_sizes, verify

LONG = int(os.environ.get("FUZZ_EXAMPLES", "0"))


def examples(n: int) -> settings:
    return settings(max_examples=LONG or n, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def table(prop: Any) -> list[tuple[Any, ...]]:
    return [(r.type, r.input, r.output, r.param_count, r.macs, r.receptive_field) for r in prop.layers]


def outcome(text: str) -> Any:
    try:
        return propagate(loads(text, "net.yaml"))
    except ConvtoolError as error:
        return type(error).__name__


@examples(40)
@given(nets())
def test_blocks_equal_the_network_written_out(net: Net) -> None:
    text, flat = with_blocks(net), Flat(net).text()
    got, want = outcome(text), outcome(flat)
    if isinstance(want, str) or isinstance(got, str):
        assert got == want, (text, flat)
        return
    assert table(got) == table(want), (text, flat)
    assert [shape for _, _, shape in got.outputs] == [shape for _, _, shape in want.outputs]


@examples(15)
@given(nets())
def test_blocks_verify_sizes_and_export(net: Net) -> None:
    text = with_blocks(net)
    arch = loads(text, "net.yaml")
    try:
        prop = propagate(arch)
    except ConvtoolError:
        return
    assert verify(prop).ok, text
    check_against_torch(prop)
    sizes = valid_input_sizes(arch)
    if sizes.dims is None:
        return
    x = next(iter(net.inputs.values()))
    for dim in sizes.dims:
        for size in range(1, 20):
            spatial = list(dim.held)
            spatial[dim.axis] = size
            assert lines_up(arch, (*x[:2], *spatial)) == dim.contains(size), (text, size)


# -- damaged block files -------------------------------------------------------------------

DAMAGE = [
    "", "$c", "$k", "$(c", "$(c // 0)", "$(k - 99)", "$(c * 99999999999)", "$()", "$zz", "$(zz)", "$ c", "c$",
    "$(1e3)", "$(--c)", "repeat: 100000", "repeat: 0", "repeat: -1", "repeat: $c", "repeat: $(c)", "repeat: [1]",
    "from: a.0.conv2d", "from: blk0", "from: l0", "from: t0.l0", "from: x", "from: y", "from: input", "from: .",
    "inputs: [a]", "inputs: [x, y, x]", "inputs: [., .]", "name: conv2d", "name: relu", "name: conv2d_0",
    "name: a", "name: input", "name: x", "name: t0", "name: l0", "name: '1'", "name: a.b", "type: blk0",
    "type: blk1", "type: blk2", "type: nothing", "c: null", "k: null", "c: [1]", "c: 1.5", "c: true", "k: -1",
    "outputs: [l0]", "outputs: [nothing]", "outputs: []", "params: []", "params: {c: $c}", "params: {k: $(k)}",
    "inputs: {z: [1]}", "inputs: [z]", "blocks: []", "layers: []", ", ", "{", "}", "[", "]", ":", "\n", "-",
    "y: {shape: [1, 3, 9, 9], integers: 0}", "y: {shape: [1, 3], integers: 5}", "z: [1, 2, 3, 4, 5, 6]",
]


@examples(100)
@given(nets(), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 12), st.sampled_from(DAMAGE)),
                        min_size=1, max_size=4))
def test_damaged_block_files_raise_only_convtool_errors(net: Net, edits: list[tuple[int, int, str]]) -> None:
    text = with_blocks(net)
    for where, cut, insert in edits:
        where %= len(text) + 1
        text = text[:where] + insert + text[where + cut:]
    try:
        arch = loads(text, "net.yaml")
    except ArchError as error:
        assert error.file == "net.yaml" and error.line is not None and error.column is not None, (text, error)
        return
    except ConvtoolError:
        return
    try:
        propagate(arch)
    except ConvtoolError:
        return
