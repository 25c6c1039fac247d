"""The newer layer kinds (pointwise, concat `dim`, slice, attention, embedding, lstm): shapes,
params, MACs and messages against PyTorch's (tests/golden/kinds.json, made by
make_golden_kinds.py, and live), numeric rules against torch in float64, receptive fields,
and one small file per kind through `run`, `run --verify` and `export`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from support.generators import generator

from convtool.cli import main
from convtool.errors import ConfigError
from convtool.layers import KINDS, resolve_type
from convtool.layers.base import Applied, LayerKind

GOLDEN = Path(__file__).resolve().parent / "golden"
FILES = Path(__file__).resolve().parent / "kinds"
CASES = json.loads((GOLDEN / "kinds.json").read_text())["cases"]
SHAPED = [c for c in CASES if "error" not in c]
FAILING = [c for c in CASES if "error" in c]
NEW = {"prelu", "elu", "mish", "hardswish", "softplus", "softmax", "scale", "shift", "slice", "attention",
       "embedding", "lstm"}


def apply(case: dict[str, Any]) -> tuple[LayerKind, Applied]:
    kind, defaults = resolve_type(case["type"])  # type: ignore[misc]
    options = {**defaults, **(yaml.safe_load(case["options"]) or {})}
    if kind.skip:
        options["with"] = [f"t{i}" for i in range(len(case["others"]))]
    config = kind.parse(options)
    return kind, kind.apply(config, tuple(case["input"]), tuple(tuple(s) for s in case["others"]))


@pytest.mark.parametrize("case", SHAPED, ids=[c["id"] for c in SHAPED])
def test_shape_params_macs_match_torch(case: dict[str, Any]) -> None:
    _, applied = apply(case)
    assert (list(applied.output), applied.param_count, applied.macs) == (case["output"], case["params"], case["macs"])


@pytest.mark.parametrize("case", FAILING, ids=[c["id"] for c in FAILING])
def test_messages_are_torch_own(case: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        apply(case)
    assert caught.value.message.endswith(case["error"])


def test_every_new_kind_has_golden_cases() -> None:
    assert NEW <= {resolve_type(c["type"])[0].name for c in CASES}  # type: ignore[index]
    assert NEW <= set(KINDS)


# -- live against torch -----------------------------------------------------------------------


def _torch_side() -> Any:
    return generator("make_golden_kinds")


@pytest.mark.filterwarnings("ignore:Implicit dimension choice for softmax")
@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_golden_is_what_torch_says_now(case: dict[str, Any]) -> None:
    side = _torch_side()
    got = side.run(case["type"], case["options"], case["input"], case["others"])
    assert got == {k: case[k] for k in got}


@pytest.mark.filterwarnings("ignore:Implicit dimension choice for softmax")
@pytest.mark.parametrize("case", SHAPED, ids=[c["id"] for c in SHAPED])
def test_forward_matches_torch(case: dict[str, Any]) -> None:
    """The numeric rule with convtool's weights copied into the torch module: equal in float64."""
    side = _torch_side()
    import torch

    kind, applied = apply(case)
    rng = np.random.default_rng(1)
    if kind.name == "embedding":
        x = rng.integers(0, applied.args["num_embeddings"], case["input"])
    else:
        x = rng.standard_normal(case["input"]) * 3
    others = [rng.standard_normal(s) for s in case["others"]]
    weights = kind.init(applied, tuple(case["input"]), rng, np.float64)
    module = side.make_module(case["type"], yaml.safe_load(case["options"]) or {}, torch.from_numpy(x)).double().eval()
    owner = getattr(module, "lstm", module)
    assert sorted(weights) == sorted(name for name, _ in owner.named_parameters())
    for name, value in weights.items():
        with torch.no_grad():
            getattr(owner, name).copy_(torch.from_numpy(value))
    with torch.no_grad():
        expected = module(torch.from_numpy(x), *map(torch.from_numpy, others)).numpy()
    got = kind.forward(applied, weights, x, others)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_init_is_torch_init() -> None:
    """Fresh parameters as PyTorch makes them: constants exactly, random ones in torch's range."""
    kind, applied = apply({"type": "prelu", "options": "{num_parameters: 3, init: 0.1}", "input": [1, 3, 4], "others": []})
    np.testing.assert_array_equal(kind.init(applied, (1, 3, 4), None, np.float64)["weight"], [0.1] * 3)
    kind, applied = apply({"type": "shift", "options": "{value: 2, learnable: channels}", "input": [1, 3, 4], "others": []})
    np.testing.assert_array_equal(kind.init(applied, (1, 3, 4), None, np.float64)["bias"], [2.0] * 3)
    kind, applied = apply({"type": "lstm", "options": "{hidden_size: 4}", "input": [1, 3, 4], "others": []})
    weights = kind.init(applied, (1, 3, 4), np.random.default_rng(0), np.float64)
    assert all(np.abs(w).max() <= 0.5 for w in weights.values())  # U(-1/sqrt(4), 1/sqrt(4))
    kind, applied = apply({"type": "embedding", "options": "{num_embeddings: 4, embedding_dim: 3, padding_idx: -1}",
                           "input": [2], "others": []})
    table = kind.init(applied, (2,), np.random.default_rng(0), np.float64)["weight"]
    assert not table[3].any() and table[:3].all()


# -- convtool's own refusals ------------------------------------------------------------------

REFUSED = [
    ("slice-empty", "slice", {"dim": 2, "start": 5}, (1, 2, 5), "slice of dim 2 (size 5) from 5 to the end is empty"),
    ("slice-empty-window", "slice", {"dim": -1, "start": 3, "end": 2}, (1, 2, 5), "slice of dim 2 (size 5) from 3 to 2 is empty"),
    ("slice-step-zero", "slice", {"step": 0}, (1, 2, 5), "slice step cannot be zero"),
    ("slice-step-negative", "slice", {"step": -1}, (1, 2, 5), "step must be greater than zero"),
    ("slice-start-float", "slice", {"start": 1.5}, (1, 2, 5), "key 'start' expects an int (negative counts from the end) or null, but got 1.5 (a float)"),
    ("attention-two-inputs", "attention", {"with": ["k"]}, (1, 2, 5), "attention reads three tensors, q, k and v, but got 2"),
    ("scale-no-factor", "scale", {}, (1, 2, 5), "missing key 'factor' for scale"),
    ("scale-learnable-word", "scale", {"factor": 2, "learnable": "vector"}, (1, 2, 5),
     "key 'learnable' must be 'scalar' (one parameter) or 'channels' (one per channel), or null (a constant), but got 'vector' (a string)"),
    ("embedding-padding", "embedding", {"num_embeddings": 4, "embedding_dim": 2, "padding_idx": 4}, (1, 2), "Padding_idx must be within num_embeddings"),
    ("embedding-padding-low", "embedding", {"num_embeddings": 4, "embedding_dim": 2, "padding_idx": -5}, (1, 2), "Padding_idx must be within num_embeddings"),
    ("lstm-batch-first", "lstm", {"hidden_size": 4, "batch_first": True}, (1, 2, 5),
     "key 'batch_first' can only be false, but got true (a boolean): an lstm reads (N, C, L) tensors, time along L, and export transposes around nn.LSTM itself"),
    ("lstm-proj-too-big", "lstm", {"hidden_size": 4, "proj_size": 4}, (1, 2, 5), "proj_size has to be smaller than hidden_size"),
    ("lstm-proj-negative", "lstm", {"hidden_size": 4, "proj_size": -1}, (1, 2, 5), "proj_size should be a positive integer or zero to disable projections"),
    ("lstm-hidden-zero", "lstm", {"hidden_size": 0}, (1, 2, 5), "hidden_size must be greater than zero"),
    ("lstm-layers-zero", "lstm", {"hidden_size": 2, "num_layers": 0}, (1, 2, 5), "num_layers must be greater than zero"),
    ("lstm-dropout", "lstm", {"hidden_size": 2, "dropout": 1.5}, (1, 2, 5),
     "dropout should be a number in range [0, 1] representing the probability of an element being zeroed"),
    ("lstm-no-length", "lstm", {"hidden_size": 2}, (1, 2), "lstm reads (N, C, L) sequences, time along L, but got input of size: [1, 2]"),
    ("softmax-dim-word", "softmax", {"dim": "last"}, (1, 2, 5),
     "key 'dim' expects an int (a dimension index, may be negative) or null, but got 'last' (a string)"),
]


@pytest.mark.parametrize("type_, options, shape, message", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_refusals(type_: str, options: dict[str, Any], shape: tuple[int, ...], message: str) -> None:
    kind = KINDS[type_]
    with pytest.raises(ConfigError) as caught:
        config = kind.parse(options)
        kind.apply(config, shape, ((1, 2, 5), (1, 2, 5)) if kind.skip else ())
    assert caught.value.message == message


NOTES = [
    ("softmax-implicit", "softmax", {}, (2, 3, 4, 5), "Implicit dimension choice for softmax has been deprecated"),
    ("lstm-dropout-one-layer", "lstm", {"hidden_size": 2, "dropout": 0.5}, (1, 2, 5),
     "dropout option adds dropout after all but last recurrent layer, so non-zero dropout expects num_layers "
     "greater than 1, but got dropout=0.5 and num_layers=1"),
]


@pytest.mark.parametrize("type_, options, shape, words", [n[1:] for n in NOTES], ids=[n[0] for n in NOTES])
def test_torch_warnings_become_notes(type_: str, options: dict[str, Any], shape: tuple[int, ...], words: str) -> None:
    kind = KINDS[type_]
    assert any(words in note for note in kind.apply(kind.parse(options), shape).notes)


def test_embedding_refuses_floats_and_out_of_range_indices() -> None:
    kind = KINDS["embedding"]
    applied = kind.apply(kind.parse({"num_embeddings": 3, "embedding_dim": 2}), (1, 4))
    weights = kind.init(applied, (1, 4), np.random.default_rng(0), np.float64)
    with pytest.raises(ConfigError, match="Expected tensor for argument #1 'indices'"):
        kind.forward(applied, weights, np.zeros((1, 4)))
    with pytest.raises(ConfigError, match="index out of range in self"):
        kind.forward(applied, weights, np.array([[0, 1, 2, 3]]))


# -- receptive fields (footprints), against brute force ----------------------------------------

FIELDS = [
    ("elu", "input: [1, 1, 9]\nlayers: [{type: elu}]", (1,)),
    ("softmax-spatial", "input: [1, 2, 9, 6]\nlayers: [{type: softmax, dim: 2}]", (9, 1)),
    ("softmax-channels", "input: [1, 2, 9, 6]\nlayers: [{type: softmax, dim: 1}]", (1, 1)),
    ("slice-step", "input: [1, 1, 12, 5]\nlayers: [{type: conv2d, out_channels: 1, kernel_size: 3}, "
     "{type: slice, dim: 2, start: 1, step: 3}]", (3, 3)),
    ("concat-spatial", "input: [1, 1, 8, 4]\nlayers: [{name: a, type: conv2d, out_channels: 1, kernel_size: [3, 1]}, "
     "{type: slice, dim: 2, end: 2, from: input}, {type: concat, dim: 2, inputs: [a, .]}]", (3, 1)),
    ("concat-crop", "input: [1, 1, 6, 8]\nlayers: [{name: a, type: conv2d, out_channels: 1, kernel_size: [1, 3]}, "
     "{type: concat, dim: 2, crop: center, inputs: [a, input]}]", (1, 3)),
    ("attention", "input: [1, 2, 8]\nlayers: [{name: q, type: slice, dim: 2, end: 3}, "
     "{type: attention, inputs: [q, input, input]}]", (8,)),
    ("lstm", "input: [1, 2, 7]\nlayers: [{type: lstm, hidden_size: 3}]", (7,)),
    ("lstm-after-slice", "input: [1, 2, 7]\nlayers: [{type: slice, dim: 2, end: 4}, {type: lstm, hidden_size: 3}]", (4,)),
    ("lstm-bidirectional", "input: [1, 2, 7]\nlayers: [{type: slice, dim: 2, start: 2}, "
     "{type: lstm, hidden_size: 3, bidirectional: true}]", (5,)),
]


@pytest.mark.parametrize("text, field", [f[1:] for f in FIELDS], ids=[f[0] for f in FIELDS])
def test_receptive_field_is_exact(text: str, field: tuple[int, ...]) -> None:
    """The footprint of every output position against the inputs that change it (a perturbation
    of each input position in the numeric rules)."""
    from convtool.footprint import Footprint
    from convtool.graph import loads, propagate
    from convtool.graph.propagate import footprints
    from convtool.graph.verify import NumericStack

    prop = propagate(loads(text))
    assert prop.layers[-1].receptive_field == field
    stack = NumericStack(prop, dtype="float64")
    x = stack.random_input()
    base = stack.run(x, keep_all=True)[-1]
    fp: Footprint = footprints(prop)[-1]
    assert fp.dims is not None
    spatial = x.shape[2:]
    rng = np.random.default_rng(7)
    # per spatial dim: which input indices move each output index (any other coordinate)
    for axis, dim in enumerate(fp.dims):
        moved: list[set[int]] = [set() for _ in range(base.shape[2 + axis])]
        for i in range(spatial[axis]):
            bumped = x.copy()
            index = [slice(None)] * x.ndim
            index[2 + axis] = i
            bumped[tuple(index)] += rng.standard_normal(bumped[tuple(index)].shape)  # not a constant: softmax ignores those
            changed = np.abs(stack.run(bumped, keep_all=True)[-1] - base) > 1e-12
            other_axes = tuple(a for a in range(changed.ndim) if a != 2 + axis)
            for o in np.nonzero(changed.any(axis=other_axes))[0]:
                moved[o].add(i)
        assert [(min(m), max(m)) if m else None for m in moved] == dim


# -- one small file per kind: run, run --verify, export ---------------------------------------

KIND_FILES = sorted(FILES.glob("*.yaml"))


def test_every_new_kind_has_a_file() -> None:
    types = set()
    for path in KIND_FILES:
        doc = yaml.safe_load(path.read_text())
        for layers in [doc["layers"], *(block["layers"] for block in doc.get("blocks", {}).values())]:
            types |= {found[0].name for layer in layers if (found := resolve_type(layer["type"]))}
    assert NEW <= types


@pytest.mark.parametrize("path", KIND_FILES, ids=[p.stem for p in KIND_FILES])
def test_file_runs_verifies_and_exports(path: Path) -> None:
    runner = CliRunner()
    run = runner.invoke(main, ["run", str(path), "--json"])
    assert run.exit_code == 0, run.output
    doc = json.loads(run.stdout)
    verify = runner.invoke(main, ["run", str(path), "--verify"])
    assert verify.exit_code == 0, verify.output
    assert "verified" in verify.output.lower() or "match" in verify.output.lower(), verify.output
    export = runner.invoke(main, ["export", str(path)])
    assert export.exit_code == 0, export.output
    compile(export.stdout, str(path), "exec")
    assert doc["layers"][-1]["output"] == doc["output"]


def rows(namespace: dict[str, Any], model: Any) -> list[Any]:
    """The exported model's module of each row of the table (a file with blocks lists their paths)."""
    return [model.get_submodule(path) for path in namespace["ROWS"]] if "ROWS" in namespace else list(model.layers)


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("path", KIND_FILES, ids=[p.stem for p in KIND_FILES])
def test_exported_file_builds_the_same_shapes_under_torch(path: Path) -> None:
    """The exported module under torch: every row's shape and parameter count as in the table
    (an embedding reads integer indices, so its input is made of them)."""
    torch = pytest.importorskip("torch")
    from support.exported import exported

    from convtool.export import class_name
    from convtool.graph import load, propagate

    prop = propagate(load(path))
    namespace = exported(prop)
    model = namespace[class_name(prop.arch.name, prop.arch.file)]().eval()
    shapes: dict[int, tuple[int, ...]] = {}
    for i, layer in enumerate(rows(namespace, model)):
        layer.register_forward_hook(lambda m, a, out, i=i: shapes.__setitem__(i, tuple(out.shape)))
    integers = KINDS[prop.layers[0].type].index_bound(prop.layers[0].applied) is not None
    x = torch.zeros(prop.input, dtype=torch.long) if integers else torch.randn(prop.input)
    with torch.no_grad():
        model(x)
    assert [shapes[i] for i in range(len(prop.layers))] == [r.output for r in prop.layers]
    assert [sum(p.numel() for p in layer.parameters()) for layer in rows(namespace, model)] == [
        r.param_count for r in prop.layers]


@pytest.mark.parametrize("path", KIND_FILES, ids=[p.stem for p in KIND_FILES])
def test_exported_values_equal_the_numeric_run(path: Path) -> None:
    """The exported module with the numeric run's weights gives the numeric run's output (float64)."""
    torch = pytest.importorskip("torch")
    from support.exported import exported

    from convtool.export import class_name
    from convtool.graph import load, propagate
    from convtool.graph.verify import NumericStack

    prop = propagate(load(path))
    stack = NumericStack(prop, dtype="float64")
    x = stack.random_input()
    got = stack.run(x, keep_all=True)[-1]
    namespace = exported(prop)
    model = namespace[class_name(prop.arch.name, prop.arch.file)]().double().eval()
    for layer, weights in zip(rows(namespace, model), stack.weights, strict=True):
        owner = getattr(layer, "lstm", layer)
        for name, value in weights.items():
            with torch.no_grad():
                getattr(owner, name).copy_(torch.from_numpy(value))
    with torch.no_grad():
        expected = model(torch.from_numpy(x).long() if x.dtype.kind == "i" else torch.from_numpy(x))
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-10, atol=1e-10)


# -- valid input sizes with slices: a step divides the size as a stride does -------------------

SLICED = [
    ("step-height", "input: [1, 2, 20, 20]\nlayers: [{type: slice, dim: 2, step: 2}, "
     "{type: upsample, scale_factor: [2, 1]}, {type: add, inputs: [., input]}]", (2, 1)),
    ("step-negative-dim", "input: [1, 2, 21, 21]\nlayers: [{type: slice, dim: -1, start: 1, step: 3}, "
     "{type: upsample, scale_factor: [1, 3]}, {type: conv2d, out_channels: 2, kernel_size: 3, padding: 1}, "
     "{type: concat, inputs: [., input], dim: 1, crop: center}]", None),
    ("step-and-stride", "input: [1, 2, 24, 24]\nlayers: [{type: slice, dim: 3, step: 3}, "
     "{type: conv2d, out_channels: 2, kernel_size: 2, stride: 2}, {type: upsample, scale_factor: [2, 6]}, "
     "{type: add, inputs: [., input]}]", (2, 6)),
    ("fixed-end", "input: [1, 2, 20, 20]\nlayers: [{type: slice, dim: 3, start: 2, end: 9, step: 2}, "
     "{type: conv2d, out_channels: 2, kernel_size: 3}]", (1, 1)),
    ("channels", "input: [1, 4, 20, 20]\nlayers: [{type: slice, start: 1, step: 2}, "
     "{type: conv2d, out_channels: 2, kernel_size: 3, stride: 2}]", (1, 1)),
]


@pytest.mark.parametrize("text, periods", [s[1:] for s in SLICED], ids=[s[0] for s in SLICED])
def test_valid_sizes_with_slices_agree_with_brute_force(text: str, periods: tuple[int, ...] | None) -> None:
    from convtool.graph import lines_up, loads, resolve_input, valid_input_sizes

    arch = loads(text)
    sizes = valid_input_sizes(arch)
    assert sizes.dims is not None, sizes.reason
    if periods is not None:
        assert tuple(d.period for d in sizes.dims) == periods
    x = resolve_input(arch)
    for dim in sizes.dims:
        for n in range(1, max(dim.smallest) + 3 * dim.period + 8):
            spatial = list(dim.held)
            spatial[dim.axis] = n
            assert lines_up(arch, (*x[:2], *spatial)) == dim.contains(n), (dim.axis, n)


@pytest.mark.parametrize("name, shape", [("embedding", "(2, 7, 4)"), ("lstm", "(2, 4, 20)")])
def test_exported_file_runs_as_a_script(tmp_path: Path, name: str, shape: str) -> None:
    """The exported file's own `__main__`: an input of indices where embeddings read it."""
    import subprocess

    pytest.importorskip("torch")
    target = tmp_path / f"{name}.py"
    result = CliRunner().invoke(main, ["export", str(FILES / f"{name}.yaml"), "-o", str(target)])
    assert result.exit_code == 0, result.output
    run = subprocess.run([sys.executable, str(target)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"output shape: {shape}"


# -- properties: slice and concat against PyTorch's own indexing and torch.cat ------------------


@st.composite
def slices(draw: Any) -> tuple[tuple[int, ...], dict[str, Any]]:
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=3, max_size=5)))
    rank = len(shape)
    options = {"dim": draw(st.integers(-rank, rank - 1)), "start": draw(st.one_of(st.none(), st.integers(-8, 8))),
               "end": draw(st.one_of(st.none(), st.integers(-8, 8))), "step": draw(st.integers(1, 4))}
    return shape, {k: v for k, v in options.items() if v is not None or k == "end"}


@settings(max_examples=150, deadline=None)
@given(slices())
def test_slice_is_torch_indexing(case: tuple[tuple[int, ...], dict[str, Any]]) -> None:
    torch = pytest.importorskip("torch")
    shape, options = case
    index: list[Any] = [slice(None)] * len(shape)
    index[options["dim"]] = slice(options.get("start"), options["end"], options["step"])
    expected = tuple(torch.zeros(shape)[tuple(index)].shape)
    kind = KINDS["slice"]
    if 0 in expected:  # PyTorch gives an empty tensor; convtool refuses it
        with pytest.raises(ConfigError, match="is empty"):
            kind.apply(kind.parse(options), shape)
        return
    assert kind.apply(kind.parse(options), shape).output == expected


@st.composite
def concats(draw: Any) -> tuple[tuple[int, ...], tuple[int, ...], int]:
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=3, max_size=5)))
    other = tuple(draw(st.integers(1, 4)) if draw(st.booleans()) else n for n in shape)
    if draw(st.booleans()):
        other = other[:-1]
    return shape, other, draw(st.integers(-len(shape), len(shape) - 1))


@settings(max_examples=150, deadline=None)
@given(concats())
def test_concat_is_torch_cat(case: tuple[tuple[int, ...], tuple[int, ...], int]) -> None:
    torch = pytest.importorskip("torch")
    shape, other, dim = case
    kind = KINDS["concat"]
    try:
        expected = str(tuple(torch.cat([torch.zeros(shape), torch.zeros(other)], dim=dim).shape))
    except RuntimeError as error:
        expected = str(error).splitlines()[0]
    try:
        got = str(kind.apply(kind.parse({"with": ["a"], "dim": dim}), shape, (other,)).output)
    except ConfigError as error:
        got = error.message
    assert got == expected


# -- --verify stays within its own memory estimate --------------------------------------------

MEMORY = {
    "attention": "input: [1, 16, 64, 64]\nlayers:\n  - {type: attention, inputs: [input, input, input]}\n",
    "lstm": "input: [4, 64, 1500]\nlayers:\n  - {type: lstm, hidden_size: 256, num_layers: 2, bidirectional: true}\n",
    "embedding": "input: [64, 4000]\nlayers:\n  - {type: embedding, num_embeddings: 1000, embedding_dim: 256}\n",
}


@pytest.mark.parametrize("name", MEMORY)
def test_verify_peak_is_under_its_estimate(tmp_path: Path, name: str) -> None:
    from support.process import run_measured

    path = tmp_path / f"{name}.yaml"
    path.write_text(MEMORY[name])
    done = run_measured(["run", str(path), "--verify", "--json", "--max-memory", "8GiB"])
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    estimate = json.loads(done.stdout)["verification"]["estimated_bytes"]
    assert done.peak_bytes < estimate, f"peak {done.peak_bytes >> 20} MiB over the estimate {estimate >> 20} MiB"


# -- error paths through `run`: one sentence, exit 1 --------------------------------------------

RUN_ERRORS = [
    ("attention-positions", "input: [1, 4, 6, 6]\nlayers:\n  - {name: k, type: max_pool2d, kernel_size: 2}\n"
     "  - {type: attention, inputs: [input, k, input]}\n",
     "Expected size for first two dimensions of batch2 tensor to be: [1, 9] but got: [1, 36]."),
    ("attention-two", "input: [1, 4, 6]\nlayers:\n  - {type: attention, inputs: [input, input]}\n",
     "attention reads three tensors, q, k and v, but got 2"),
    ("lstm-2d", "input: [1, 4, 6, 6]\nlayers:\n  - {type: lstm, hidden_size: 3}\n",
     "LSTM: Expected input to be 2D or 3D, got 4D instead"),
    ("lstm-batch-first", "input: [1, 4, 6]\nlayers:\n  - {type: lstm, hidden_size: 3, batch_first: true}\n",
     "key 'batch_first' can only be false"),
    ("slice-empty", "input: [1, 4, 6]\nlayers:\n  - {type: slice, dim: 2, start: 6}\n",
     "slice of dim 2 (size 6) from 6 to the end is empty"),
    ("concat-dim", "input: [1, 4, 6, 6]\nlayers:\n  - {name: a, type: slice, dim: 3, end: 5}\n"
     "  - {type: concat, dim: 2, inputs: [input, a]}\n",
     "Sizes of tensors must match except in dimension 2. Expected size 6 but got size 5 for tensor number 1 in the list."),
    ("prelu-count", "input: [1, 4, 6]\nlayers:\n  - {type: prelu, num_parameters: 3}\n",
     "Mismatch of parameter numbers and input channel size. Found parameter numbers = 3 and channel size = 4."),
    ("scale-learnable", "input: [1, 4, 6]\nlayers:\n  - {type: scale, factor: 2, learnable: vector}\n",
     "key 'learnable' must be 'scalar' (one parameter) or 'channels' (one per channel)"),
]


@pytest.mark.parametrize("text, words", [e[1:] for e in RUN_ERRORS], ids=[e[0] for e in RUN_ERRORS])
def test_run_refuses_with_one_sentence(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["run", str(path)], env={"COLUMNS": "400"})
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert words in " ".join(result.stderr.split()), result.stderr
