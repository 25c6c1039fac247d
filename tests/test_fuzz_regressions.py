"""Bugs the block fuzzers found (tests/test_fuzz_blocks.py, tests/test_fuzz_process.py), each
with the smallest file that showed it."""

from __future__ import annotations

import pytest
from support.exported import check_against_torch

from convtool.errors import ArchError
from convtool.graph import loads, propagate, verify

HEAD = "input: [1, 2, 8, 8]\nblocks:\n  a:\n"

# (file, the network's output path) for files that load: export and verify agree with the table
GOOD = [
    pytest.param(HEAD + "    layers: [{name: l0, type: relu}, {type: relu}]\n    outputs: [l0]\nlayers: [{type: a}]\n",
                 "a.l0", id="last-use-gives-a-layer-before-its-last"),
    pytest.param(HEAD + "    layers: [{type: relu}]\n    outputs: [input]\nlayers: [{type: relu}, {type: a}]\n",
                 "relu", id="last-use-gives-its-input"),
]


@pytest.mark.parametrize(("text", "output"), GOOD)
def test_good_files(text: str, output: str) -> None:
    prop = propagate(loads(text, "f.yaml"))
    assert [path for _, path, _ in prop.outputs] == [output]
    assert verify(prop).ok
    check_against_torch(prop)


# (file, words of the message, line, column) for files that must be refused
BAD = [
    pytest.param(HEAD + "    params: {type: relu}\n    layers: [{type: $type}]\nlayers: [{type: a}]\n",
                 "parameter 'type'", 4, 14, id="param-named-type"),
    pytest.param(HEAD + "    params: {repeat: 2}\n    layers: [{type: relu}]\nlayers: [{type: a, repeat: 3}]\n",
                 "parameter 'repeat'", 4, 14, id="param-named-repeat"),
    pytest.param(HEAD + "    params: {name: null}\n    layers: [{type: relu, name: $name}]\nlayers: [{type: a, name: q}]\n",
                 "parameter 'name'", 4, 14, id="param-named-name"),
    pytest.param(HEAD + "    params: {c: 2}\n    layers: [{type: conv2d, out_channels: $(c + \u0663), kernel_size: 1}]\n"
                 "layers: [{type: a}]\n", "cannot stand in", 5, 43, id="non-ascii-digit-in-expression"),
    pytest.param(HEAD + "    params: {\u00e9: 2}\n    layers: [{type: relu}]\nlayers: [{type: a}]\n",
                 "`params:` of block 'a'", 4, 13, id="non-ascii-parameter-name"),
]


@pytest.mark.parametrize(("text", "words", "line", "column"), BAD)
def test_bad_files(text: str, words: str, line: int, column: int) -> None:
    with pytest.raises(ArchError, match=words) as caught:
        propagate(loads(text, "f.yaml"))
    assert (caught.value.file, caught.value.line, caught.value.column) == ("f.yaml", line, column)
