"""Bugs the block fuzzers found (tests/test_fuzz_blocks.py, tests/test_fuzz_process.py), each
with the smallest file that showed it."""

from __future__ import annotations

import pytest
from support.exported import check_against_torch

from convtool.errors import ArchError
from convtool.graph import loads, propagate, verify

HEAD = "input: [1, 2, 8, 8]\nblocks:\n  a:\n"


def nested(n: int) -> str:
    """Blocks b0 ... b{n-1}, each using the one before."""
    lines = ["input: [1, 2, 8, 8]", "blocks:", "  b0:", "    layers: [{type: relu}]"]
    for i in range(1, n):
        lines += [f"  b{i}:", f"    layers: [{{type: b{i - 1}}}]"]
    return "\n".join([*lines, "layers:", f"  - {{type: b{n - 1}}}"]) + "\n"


# (file, the paths of the network's outputs) for files that load: export and verify agree with the table
GOOD = [
    pytest.param(nested(64), [".".join([*(f"b{i}" for i in range(63, -1, -1)), "relu"])], id="nesting-64-deep"),
    pytest.param(HEAD + "    layers: [{name: l0, type: relu}, {type: relu}]\n    outputs: [l0]\nlayers: [{type: a}]\n",
                 ["a.l0"], id="last-use-gives-a-layer-before-its-last"),
    pytest.param(HEAD + "    layers: [{type: relu}]\n    outputs: [input]\nlayers: [{type: relu}, {type: a}]\n",
                 ["relu"], id="last-use-gives-its-input"),
    # export: the network's first input read again after the first row; a block input named x; a second
    # network input named y beside a repeat's loop; a max pool's indices inside a block
    pytest.param("""inputs: {z: [2, 4, 8, 8], y: {shape: [2], integers: 10}}
blocks:
  down:
    inputs: [x, cls]
    layers:
      - {name: p, type: max_pool2d, kernel_size: 2}
      - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
      - {type: max_unpool2d, kernel_size: 2, indices: p, output_size: {like: x}}
    outputs: [p]
  emb:
    layers: [{type: embedding, num_embeddings: 10, embedding_dim: 4}]
layers:
  - {name: e, type: emb, from: y}
  - {name: d, type: down, inputs: [z, e], repeat: 2}
  - {name: e2, type: embedding, num_embeddings: 10, embedding_dim: 3, from: y}
outputs: [d, e2, z]
""", ["d.1.p", "e2", "z"], id="export-variables-and-indices-in-blocks"),
]


@pytest.mark.parametrize(("text", "outputs"), GOOD)
def test_good_files(text: str, outputs: list[str]) -> None:
    prop = propagate(loads(text, "f.yaml"))
    assert [path for _, path, _ in prop.outputs] == outputs
    assert verify(prop).ok
    check_against_torch(prop)



# (file, words of the message, line, column) for files that must be refused
BAD = [
    pytest.param(nested(1000), "blocks nest more than 64 deep", 1876, 21, id="nesting-deeper-than-python-recurses"),
    pytest.param(nested(65), "blocks nest more than 64 deep", 6, 21, id="nesting-65-deep"),
    pytest.param(HEAD + "    params: {type: relu}\n    layers: [{type: $type}]\nlayers: [{type: a}]\n",
                 "parameter 'type'", 4, 14, id="param-named-type"),
    pytest.param(HEAD + "    params: {repeat: 2}\n    layers: [{type: relu}]\nlayers: [{type: a, repeat: 3}]\n",
                 "parameter 'repeat'", 4, 14, id="param-named-repeat"),
    pytest.param(HEAD + "    params: {name: null}\n    layers: [{type: relu, name: $name}]\nlayers: [{type: a, name: q}]\n",
                 "parameter 'name'", 4, 14, id="param-named-name"),
    pytest.param(HEAD + "    params: {c: 2}\n    layers: [{type: conv2d, out_channels: $(c + \u0663), kernel_size: 1}]\n"
                 "layers: [{type: a}]\n", "cannot stand in", 5, 43, id="non-ascii-digit-in-expression"),
    pytest.param(HEAD + "    inputs: [{p: 1}, b]\n    layers: [{type: relu}]\nlayers: [{type: a}]\n",
                 "`inputs:` of block 'a'", 4, 13, id="mapping-in-block-inputs"),
    pytest.param(HEAD + "    outputs: [[1]]\n    layers: [{type: relu}]\nlayers: [{type: a}]\n",
                 "`outputs:` of block 'a'", 4, 14, id="list-in-block-outputs"),
    pytest.param("input: [1, 2, 8, 8]\nlayers:\n  - {name: r, type: conv2d, out_channels: 3, kernel_size: 1, repeat: 2}\n"
                 "  - {name: r.1, type: conv2d, out_channels: 5, kernel_size: 1}\n  - {type: concat, inputs: [r.1, r]}\n",
                 "two layers have the path 'r.1'", 4, 5, id="dotted-name-equals-a-repeat-copy"),
    pytest.param(HEAD + "    params: {\u00e9: 2}\n    layers: [{type: relu}]\nlayers: [{type: a}]\n",
                 "`params:` of block 'a'", 4, 13, id="non-ascii-parameter-name"),
]


@pytest.mark.parametrize(("text", "words", "line", "column"), BAD)
def test_bad_files(text: str, words: str, line: int, column: int) -> None:
    with pytest.raises(ArchError, match=words) as caught:
        propagate(loads(text, "f.yaml"))
    assert (caught.value.file, caught.value.line, caught.value.column) == ("f.yaml", line, column)
