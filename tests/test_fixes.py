"""Fixes for a merge that does not line up: every fix `run` suggests, applied to the file through
its edits (`error.fix_edits`), makes the merge line up; a fix that changes values says so; the
sentences name tensors as the file does. Checked on the broken config, a table of hand-written
graphs and generated U-Net levels."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.edits import apply_edits, find

from convtool.cli import main
from convtool.graph import StackMismatch, loads, propagate
from convtool.layers import KINDS, resolve_type
from convtool.layers.fix import CHANGES_VALUES

ROOT = Path(__file__).resolve().parents[1]


def mismatch(text: str) -> StackMismatch:
    with pytest.raises(StackMismatch) as info:
        propagate(loads(text), receptive_field=False)
    return info.value


def written_names(text: str) -> set[str]:
    """Every name the file writes: layers', blocks', block inputs' and the network input."""
    doc = yaml.safe_load(text)
    names = {"input"}
    blocks = doc.get("blocks") or {}
    names |= set(blocks)
    lists = [doc.get(k) or [] for k in ("layers", "encoder", "decoder")]
    for block in blocks.values():
        lists.append(block["layers"])
        names |= set(block.get("inputs") or [])
    return names | {str(item["name"]) for items in lists for item in items if "name" in item}


def changes_values(way: list[dict]) -> bool:
    """Whether edits insert a pad or crop, or crop the skips (what the sentence must say)."""
    return any(edit.get("insert", {}).get("type") in ("pad", "crop") or edit.get("set", {}).get("crop") == "center"
               for edit in way)


def check(text: str, *, whole: bool = True) -> StackMismatch:
    """Every fix of the first merge that does not line up, applied, makes it line up (`whole`:
    the whole network); sentences say what they must."""
    error = mismatch(text)
    merge = error.failed
    assert merge.type in ("concat", "add", "mul"), error.message
    assert len(error.fixes) == len(error.fix_edits)
    names = written_names(text)
    for fix, ways in zip(error.fixes, error.fix_edits):
        assert ways, f"no edits for {fix!r}"
        quoted = set(re.findall(r"'([^']+)'", re.sub(r"layer \d+ '[^']+'", "", fix)))  # tensors (layers by path)
        assert quoted <= names, (fix, quoted - names)
        for way in ways:
            if changes_values(way):
                assert CHANGES_VALUES in fix, fix
            fixed = apply_edits(text, way)
            try:
                propagate(loads(fixed), receptive_field=False)
            except StackMismatch as later:
                assert not whole, (fix, way, later.message, fixed)
                inserted = sum(1 for edit in way if "insert" in edit)
                assert f"(after it, {loads(text).layers[later.failed.index - inserted].label} does not line up" in fix, (
                    fix, later.message)
                # the merge itself lines up now: what fails is a later layer
                path = loads(text).layers[merge.index].path
                at = next(s.index for s in loads(fixed).layers if s.path == path)
                assert later.failed.index > at, (fix, later.message)
    return error


def test_the_broken_config_keeps_its_fixes_and_each_edit_works() -> None:
    text = (ROOT / "configs" / "mismatch_unet.yaml").read_text()
    error = check(text, whole=False)  # crop: center keeps 36, and the outer level then needs its own
    assert error.fixes[0] == ("set output_padding: 1 on layer 8 'up2' (k2 s2) so that it makes 37x37"
                              f"{CHANGES_VALUES}only the bias fills the last row and the last column of its output")
    assert error.fix_edits[0] == [[{"layer": "up2", "set": {"output_padding": 1}}]]
    assert error.fix_edits[1] == [[{"layer": "up2", "set": {"output_size": {"like": "enc2"}, "output_padding": None}}]]
    assert error.fix_edits[2] == [[{"insert_before": "cat2", "insert": {"type": "pad", "to": "enc2"}}]]
    assert error.fix_edits[3] == [[{"layer": "cat2", "set": {"crop": "center"}}]]
    assert error.fix_edits[4] == [[{"input": [1, 3, 72, 72]}], [{"input": [1, 3, 76, 76]}]]


def test_run_json_gives_the_edits_beside_the_sentences(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(main, ["run", "configs/mismatch_unet.yaml", "--json"])
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert len(error["fix_edits"]) == len(error["fixes"]) == 5
    assert error["fix_edits"][0] == [[{"layer": "up2", "set": {"output_padding": 1}}]]


HEAD = "input: [1, 4, {n}, {n}]\nlayers:\n"
ENC = "  - {{name: enc, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}}\n  - {{type: max_pool2d, kernel_size: 2}}\n"
UP = "  - {{name: up, type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2}}\n"
TAIL = "  - {{type: conv2d, out_channels: 2, kernel_size: 3, padding: 1}}\n"

LIKE = "set output_size: {like: enc}"  # the same layer fixed for every input size
# (merge and what stands between the upsampling and it, input size, the fixes' first words)
GRAPHS = {
    "concat with (skip second)": (UP + "  - {{type: concat, with: enc}}\n", 11, ["set output_padding", LIKE, "pad 'up'", "add `crop"]),
    "concat inputs, skip first": (UP + "  - {{type: concat, inputs: [enc, .]}}\n", 11, ["set output_padding", LIKE, "pad 'up'", "crop 'enc'"]),
    "concat inputs, skip second, named": (UP + "  - {{type: concat, inputs: [up, enc]}}\n", 11, ["set output_padding", LIKE, "pad 'up'", "add `crop"]),
    "add with .": (UP + "  - {{type: add, inputs: [., enc]}}\n", 11, ["set output_padding", LIKE, "pad 'up'", "add `crop"]),
    "add skip first": (UP + "  - {{type: add, inputs: [enc, up]}}\n", 11, ["set output_padding", LIKE, "pad 'up'", "crop 'enc'"]),
    "mul": (UP + "  - {{type: mul, with: enc}}\n", 11, ["set output_padding", LIKE, "pad 'up'", "add `crop"]),
    "relu in between": (UP + "  - {{type: relu}}\n  - {{type: concat, with: enc}}\n", 11,
                        ["set output_padding", LIKE, "pad the output of layer 3 (relu)", "add `crop"]),
    "from: in between": (UP + "  - {{name: side, type: conv2d, out_channels: 4, kernel_size: 1, from: enc}}\n"
                         "  - {{type: concat, inputs: [up, enc]}}\n", 11, ["set output_padding", LIKE, "pad 'up'", "add `crop"]),
    "from: in between, skip is .": (UP + "  - {{name: side, type: conv2d, out_channels: 4, kernel_size: 1, from: enc}}\n"
                                    "  - {{type: concat, inputs: [up, .]}}\n", 11,
                                    ["set output_padding", "pad 'up'", "add `crop"]),  # `.` is no name for like:
    "upsample, output_padding no fix": ("  - {{name: up, type: upsample, scale_factor: 2}}\n  - {{type: concat, with: enc}}\n",
                                        11, ["pad 'up'", "add `crop"]),
    "padded to another size": ("  - {{name: up, type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2}}\n"
                               "  - {{name: big, type: pad, padding: 2}}\n  - {{type: concat, inputs: [enc, big]}}\n", 10,
                               ["pad 'enc'", "add `crop"]),
    "a crop before the merge": ("  - {{name: up, type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2}}\n"
                                "  - {{name: small, type: crop, cropping: 1}}\n  - {{type: add, inputs: [small, enc]}}\n", 11,
                                ["pad 'small'", "add `crop"]),
    "pad to a tensor of another size": ("  - {{name: up, type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2}}\n"
                                        "  - {{name: e2, type: conv2d, out_channels: 4, kernel_size: 1, padding: 1, from: enc}}\n"
                                        "  - {{name: padded, type: pad, to: e2, from: up}}\n"
                                        "  - {{type: concat, inputs: [enc, padded]}}\n", 11, ["pad 'enc'", "add `crop"]),
    # `up` is read twice: resizing or padding it for one input is not offered
    "three inputs, the second fails": (UP + "  - {{type: concat, with: [up, enc]}}\n", 11, ["add `crop"]),
    "the current tensor unnamed, the skip smaller": (
        UP + "  - {{type: conv2d, out_channels: 4, kernel_size: 1, from: enc}}\n  - {{type: concat, with: up}}\n", 11,
        ["set output_padding", "pad 'up'", "crop the output of layer 3 (conv2d)"]),
    "concat along H: W must agree": (UP + "  - {{type: concat, with: enc, dim: 2}}\n", 11,
                                      ["set output_padding: [0, 1]", "add `crop"]),
    "output_size written": ("  - {{name: up, type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2, "
                            "output_size: [10, 10]}}\n  - {{type: concat, with: enc}}\n", 11,
                            ["set output_size: [11, 11]", LIKE, "pad 'up'", "add `crop"]),
    "channels of an add, the current tensor unnamed": (
        "  - {{type: conv2d, out_channels: 6, kernel_size: 3, padding: 1, from: enc}}\n  - {{type: add, with: enc}}\n", 8,
        ["add needs equal channels (6 vs 4): project 'enc'", "add needs equal channels (6 vs 4): project the output"]),
    "channels of an add": ("  - {{name: up, type: conv_transpose2d, out_channels: 6, kernel_size: 2, stride: 2}}\n"
                           "  - {{type: add, inputs: [enc, up]}}\n", 10,
                           ["add needs equal channels (4 vs 6): project 'up'", "add needs equal channels (4 vs 6): project 'enc'"]),
}


@pytest.mark.parametrize("case", list(GRAPHS), ids=list(GRAPHS))
def test_every_fix_of_a_hand_written_graph_works(case: str) -> None:
    middle, n, expected = GRAPHS[case]
    text = (HEAD + ENC + middle + TAIL).format(n=n)
    error = check(text)
    merge_fixes = [f for f in error.fixes if not f.startswith("use an input")]
    assert [f[: len(e)] for f, e in zip(merge_fixes, expected)] == expected, merge_fixes
    assert len(merge_fixes) == len(expected), merge_fixes


def test_the_producer_is_followed_not_the_layer_written_before() -> None:
    """A conv_transpose written just before the merge that does not feed it is not offered."""
    text = HEAD.format(n=11) + ENC.format() + UP.format() + (
        "  - {type: conv_transpose2d, out_channels: 4, kernel_size: 1, from: enc}\n"
        "  - {type: concat, inputs: [up, enc]}\n")
    error = check(text)
    assert error.fixes[0].startswith("set output_padding: 1 on layer 2 'up'"), error.fixes


BLOCK = """input: [1, 4, 11, 11]
blocks:
  level:
    inputs: [x]
    layers:
      - {{name: enc, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}}
      - {{type: max_pool2d, kernel_size: 2}}
      - {{name: up, type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2}}
      - {{type: concat, inputs: [up, enc]}}
layers:
  - {{name: a, type: level{repeat}}}
  - {{type: conv2d, out_channels: 2, kernel_size: 1}}
"""


def test_a_fix_inside_a_block_used_once_edits_its_definition_and_says_so() -> None:
    error = check(BLOCK.format(repeat=""))
    block_fixes = [(f, w) for f, w in zip(error.fixes, error.fix_edits) if not f.startswith("use an input")]
    assert block_fixes
    for fix, ways in block_fixes:
        assert "in the definition of block 'level'" in fix, fix
        assert all(edit.get("block") == "level" for way in ways for edit in way), ways


def test_a_fix_inside_a_block_used_more_than_once_is_not_offered() -> None:
    error = mismatch(BLOCK.format(repeat=", repeat: 2"))
    assert all(f.startswith("use an input") for f in error.fixes), error.fixes


def test_two_levels_each_fix_lines_the_merge_up() -> None:
    """A fix of the inner merge may leave the outer one not lining up (a crop keeps 10, the outer
    level then needs 22): the merge it fixes lines up, what fails is later."""
    text = """input: [1, 4, 22, 22]
layers:
  - {name: e1, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {type: max_pool2d, kernel_size: 2}
  - {name: e2, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {type: max_pool2d, kernel_size: 2}
  - {type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2}
  - {type: concat, with: e2}
  - {type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2}
  - {type: concat, with: e1}
"""
    check(text, whole=False)


@pytest.mark.parametrize("k,s,p,d", [(2, 2, 0, 1), (3, 2, 1, 1), (3, 2, 0, 1), (4, 2, 1, 1), (3, 3, 1, 1), (3, 2, 0, 2),
                                     (5, 4, 1, 1)], ids=lambda v: str(v))
def test_the_bias_only_rows_said_are_those_the_numeric_engine_gives(k: int, s: int, p: int, d: int) -> None:
    """The rows output_padding adds that hold only the bias: a random input leaves exactly those
    equal to the bias (oracle: the numeric engine)."""
    import numpy as np

    from convtool import numeric

    kind = KINDS["conv_transpose2d"]
    rng = np.random.default_rng(0)
    n = 5
    for op in range(max(s, d)):
        config = kind.parse({"out_channels": 1, "kernel_size": k, "stride": s, "padding": p, "dilation": d})
        applied = kind.apply(config, (1, 1, n, n))
        want = (applied.output[2] + op, applied.output[3])
        change = kind.resize_fix(config, applied, (1, 1, n, n), want)
        assert change is not None and change.values["output_padding"] in (op, [op, 0])
        x = rng.standard_normal((1, 1, n, n))
        w = rng.standard_normal((1, 1, k, k))
        y = numeric.conv_transpose2d(x, w, np.array([0.5]), (s, s), (p, p), (op, 0), 1, (d, d))
        rows = y[0, 0, :, n // 2]
        tail = 0
        while tail < len(rows) and rows[len(rows) - 1 - tail] == 0.5:
            tail += 1
        said = re.search(r"the last (\d+ )?row", change.note or "")
        assert (int(said.group(1) or 1) if said else 0) == tail, (op, change.note, rows)


LEVEL = st.fixed_dictionaries({
    "n": st.integers(6, 40),
    "op": st.sampled_from(["concat", "add", "mul"]),
    "order": st.sampled_from(["with", "inputs skip first", "inputs skip second", "inputs named"]),
    "up": st.sampled_from(["transposed", "transposed k3", "upsample"]),
    "between": st.sampled_from(["", "relu", "from"]),
    "pool": st.sampled_from([2, 3]),
    "block": st.booleans(),
})


def level(case: dict) -> str:
    """One U-Net level: conv, pool, upsampling, merge with the conv's output, as drawn."""
    f = case["pool"]
    up = {
        "transposed": f"{{name: up, type: conv_transpose2d, out_channels: 4, kernel_size: {f}, stride: {f}}}",
        "transposed k3": f"{{name: up, type: conv_transpose2d, out_channels: 4, kernel_size: {f + 1}, stride: {f}, padding: 1}}",
        "upsample": f"{{name: up, type: upsample, scale_factor: {f}}}",
    }[case["up"]]
    lines = ["{name: enc, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}",
             f"{{type: max_pool2d, kernel_size: {f}}}", up]
    if case["between"] == "relu":
        lines.append("{name: act, type: relu}")
    elif case["between"] == "from":
        lines.append("{name: side, type: conv2d, out_channels: 4, kernel_size: 1, from: enc}")
    current = {"": ".", "relu": ".", "from": "up"}[case["between"]]
    merge = {
        "with": f"{{type: {case['op']}, from: {current}, with: enc}}" if current != "." else f"{{type: {case['op']}, with: enc}}",
        "inputs skip first": f"{{type: {case['op']}, inputs: [enc, {current}]}}",
        "inputs skip second": f"{{type: {case['op']}, inputs: [{current}, enc]}}",
        "inputs named": f"{{type: {case['op']}, inputs: [{'act' if case['between'] == 'relu' else 'up'}, enc]}}",
    }[case["order"]]
    head = f"input: [1, 4, {case['n']}, {case['n']}]\n"
    tail = "  - {type: conv2d, out_channels: 2, kernel_size: 3, padding: 1}\n"
    if case["block"]:  # the level as a block used once: its fixes edit the definition
        return (head + "blocks:\n  level:\n    layers:\n" + "".join(f"      - {line}\n" for line in [*lines, merge])
                + "layers:\n  - {type: level}\n" + tail)
    return head + "layers:\n" + "".join(f"  - {line}\n" for line in [*lines, merge]) + tail


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LEVEL)
def test_every_fix_of_a_generated_level_makes_it_line_up(case: dict) -> None:
    text = level(case)
    try:
        propagate(loads(text), receptive_field=False)
    except StackMismatch:
        error = check(text)
        assert any(not f.startswith("use an input") for f in error.fixes), (text, error.fixes)
        for fix, ways in zip(error.fixes, error.fix_edits):
            in_block = any("block" in edit for way in ways for edit in way)
            assert in_block == case["block"] or fix.startswith("use an input"), (fix, ways)
            assert in_block == ("in the definition of block 'level'" in fix), fix


def test_the_edit_helper_finds_every_layer_by_its_path() -> None:
    """The helper's paths are the loader's: every leaf of every config and of a file with blocks,
    repeats and unnamed layers of one kind is found as the kind it is."""
    texts = [p.read_text() for p in sorted((ROOT / "configs").glob("*.yaml"))]
    texts.append(BLOCK.format(repeat=", repeat: 2") + "  - {type: conv2d, out_channels: 2, kernel_size: 1, repeat: 2}\n")
    for text in texts:
        arch = loads(text)
        if arch.mirrored_from is not None:
            continue
        doc = yaml.safe_load(text)
        for spec in arch.layers:
            _, item, block = find(doc, spec.path)
            assert KINDS[spec.type] is resolve_type(item["type"])[0], (spec.path, item)  # type: ignore[index]
            uses = {u.path: u.block for u in arch.uses}
            assert block == (None if spec.block is None else uses[spec.block]), spec.path


def test_the_producer_is_found_inside_a_block_use() -> None:
    """The smaller tensor is a block use's output: its transposed layer (past a relu) is fixed in
    the block's definition, the use is named as the file names it."""
    text = """input: [1, 4, 11, 11]
blocks:
  down:
    layers:
      - {type: max_pool2d, kernel_size: 2}
  up:
    layers:
      - {name: t, type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2}
      - {type: relu}
layers:
  - {name: enc, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: d, type: down}
  - {name: u, type: up}
  - {type: concat, inputs: [u, enc]}
"""
    error = check(text)
    assert error.fix_edits[0] == [[{"layer": "u.t", "set": {"output_padding": 1}, "block": "up"}]]
    assert error.fixes[1].startswith("pad 'u' to the size of 'enc'"), error.fixes


def test_a_file_with_several_inputs() -> None:
    """The merge reads a network input by name; the input fix names the input it resizes."""
    text = """inputs: {img: [1, 4, 11, 11], cond: [1, 4, 10, 10]}
layers:
  - {name: enc, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, from: img}
  - {type: max_pool2d, kernel_size: 2}
  - {name: up, type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2}
  - {type: add, inputs: [up, enc]}
  - {type: add, inputs: [., cond]}
"""
    error = check(text, whole=False)
    assert error.fixes[2].startswith("pad 'up' to the size of 'enc'"), error.fixes
    assert any(way == [{"input": [1, 4, 10, 10], "name": "img"}] for ways in error.fix_edits for way in ways or [])
