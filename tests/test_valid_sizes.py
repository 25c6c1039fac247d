"""Valid input sizes against brute force: every config, and generated U-Nets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convtool.cli import main
from convtool.errors import ConvtoolError
from convtool.graph import InputSizes, ValidSizes, lines_up, load, loads, resolve_input, valid_input_sizes

CONFIGS = sorted(Path(__file__).parent.parent.joinpath("configs").glob("*.yaml"))


def brute_force_agrees(arch, sizes: InputSizes, periods: int = 3) -> list[tuple[int, int]]:
    """(axis, size) pairs where the set and running the shape engine disagree."""
    x = resolve_input(arch)
    wrong = []
    for dim in sizes.dims:
        top = max(dim.smallest) + periods * dim.period + 8
        for n in range(1, top):
            spatial = list(dim.held)
            spatial[dim.axis] = n
            if lines_up(arch, (*x[:2], *spatial)) != dim.contains(n):
                wrong.append((dim.axis, n))
    return wrong


def assert_exact(arch, context: str = "") -> None:
    """The set agrees with the brute force, or it says why there is none (no size near the input
    lines up, or a skip joins tensors of different growth)."""
    sizes = valid_input_sizes(arch)
    if sizes.dims is None:
        assert sizes.reason
        return
    assert brute_force_agrees(arch, sizes) == [], context


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_configs_agree_with_brute_force(path):
    assert_exact(load(path))


@pytest.mark.parametrize(
    "config, expected",
    [
        ("unet_padded", [(16, (16,)), (16, (16,))]),
        ("unet_original", [(1, (188,)), (1, (188,))]),
        ("autoencoder_28", [(1, (1,)), (1, (1,))]),
        ("pix2pix_unet", [(256, (256, 257)), (256, (256, 257))]),
    ],
)
def test_known_sets(config, expected):
    sizes = valid_input_sizes(load(Path(__file__).parent.parent / "configs" / f"{config}.yaml"))
    assert [(d.period, d.smallest) for d in sizes.dims] == expected


def test_flattening_stacks_say_so():
    arch = loads("""
input: [1, 3, 32, 32]
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
  - {type: flatten}
  - {type: linear, out_features: 10}
""")
    sizes = valid_input_sizes(arch)
    assert sizes.dims is None and "same flattened size" in sizes.reason


def test_nearest_and_formula():
    dim = ValidSizes(0, 16, (12, 20), (250,))
    assert dim.nearest(250) == (244, 252)
    assert dim.formula("H") == "H = 16·n + 12, n >= 0 (or 16·n + 4, n >= 1)"


def test_run_json_and_table_report_the_set():
    path = str(Path(__file__).parent.parent / "configs" / "unet_padded.yaml")
    doc = json.loads(CliRunner().invoke(main, ["run", path, "--json"]).output)
    assert doc["valid_input_sizes"] == [{"period": 16, "smallest": [16]}, {"period": 16, "smallest": [16]}]
    result = CliRunner().invoke(main, ["run", path, "--input-shape", "1,3,250,250"])
    assert result.exit_code == 1
    assert "(1, 3, 240, 240) or (1, 3, 256, 256)" in result.output


# -- generated U-Net-like stacks ------------------------------------------------------------

DOWN = [
    "{type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}",
    "{type: conv2d, out_channels: 4, kernel_size: 4, stride: 2, padding: 1}",
    "{type: conv2d, out_channels: 4, kernel_size: 3, stride: 2}",
    "{type: conv2d, out_channels: 4, kernel_size: 5, stride: 3, padding: 2}",
    "{type: max_pool2d, kernel_size: 2}",
    "{type: max_pool2d, kernel_size: 3, stride: 2, padding: 1}",
    "{type: avg_pool2d, kernel_size: 2, ceil_mode: true}",
    "{type: pixel_unshuffle, downscale_factor: 2}",
]
SAME = [
    "{type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}",
    "{type: conv2d, out_channels: 4, kernel_size: 3}",
    "{type: conv2d, out_channels: 4, kernel_size: 3, dilation: 2, padding: 1}",
    "{type: relu}",
]
UP = [
    "{type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2}",
    "{type: conv_transpose2d, out_channels: 4, kernel_size: 4, stride: 2, padding: 1}",
    "{type: conv_transpose2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1, output_padding: 1}",
    "{type: conv_transpose2d, out_channels: 4, kernel_size: 3, stride: 3}",
    "{type: upsample, scale_factor: 2}",
]


@st.composite
def unets(draw):
    depth = draw(st.integers(1, 3))
    lines, names = [], []
    for level in range(depth):
        lines.append(draw(st.sampled_from(SAME)))
        lines[-1] = lines[-1].replace("{", f"{{name: e{level}, ", 1)
        names.append(f"e{level}")
        lines.append(draw(st.sampled_from(DOWN)))
    lines.append(draw(st.sampled_from(SAME)))
    for level in reversed(range(depth)):
        lines.append(draw(st.sampled_from(UP)))
        if draw(st.booleans()):
            crop = ", crop: center" if draw(st.booleans()) else ""
            lines.append(f"{{type: concat, with: e{level}{crop}}}")
        lines.append(draw(st.sampled_from(SAME)))
    size = draw(st.integers(8, 40))
    body = "\n".join(f"  - {line}" for line in lines)
    return f"input: [1, 4, {size}, {size + draw(st.integers(0, 3))}]\nlayers:\n{body}\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unets())
def test_generated_unets_agree_with_brute_force(text):
    assert_exact(loads(text), text)


RESTORING = [p for p in sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
             if p.stem != "mismatch_unet"]


@pytest.mark.parametrize("path", RESTORING, ids=[p.stem for p in RESTORING])
def test_restored_sizes_equal_brute_force(path: Path) -> None:
    """An autoencoder's `restores`: exactly the sizes whose output has the input's spatial size."""
    from convtool.graph import bind, propagate, walk
    from convtool.graph.valid_sizes import restores

    arch = load(path)
    prop = propagate(arch, receptive_field=False)
    if not restores(prop):
        return
    sizes = valid_input_sizes(arch, prop.input, restoring=True)
    if sizes.dims is None:  # channels in = channels out by chance (a segmentation net): none restores
        assert "restores no input size" in str(sizes.reason)
        for n in range(1, 3 * max(prop.input[2:])):
            shape = (*prop.input[:2], *([n] * (len(prop.input) - 2)))
            try:
                assert walk(bind(arch, shape), shape, receptive_field=False).output[2:] != shape[2:]
            except ConvtoolError:
                pass
        return
    for dim in sizes.dims:
        for n in range(1, 3 * dim.period + max(dim.smallest) + 2):
            spatial = list(dim.held)
            spatial[dim.axis] = n
            shape = (*prop.input[:2], *spatial)
            try:  # shapes only, no diagnosis of a mismatch
                out = walk(bind(arch, shape), shape, receptive_field=False).output
                gives_back = out[2:] == shape[2:]
            except ConvtoolError:
                gives_back = False
            assert gives_back == dim.contains(n), (path.stem, dim, n)


def test_an_autoencoder_that_does_not_restore_is_warned() -> None:
    from click.testing import CliRunner

    from convtool.cli import main

    text = ("input: [1, 1, 28, 28]\nlayers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3, stride: 2}\n"
            "  - {type: conv_transpose2d, out_channels: 1, kernel_size: 3, stride: 2}\n")
    with CliRunner().isolated_filesystem():
        Path("ae.yaml").write_text(text)
        result = CliRunner().invoke(main, ["run", "ae.yaml"], env={"COLUMNS": "200"})
        doc = __import__("json").loads(CliRunner().invoke(main, ["run", "ae.yaml", "--json"]).stdout)
    assert result.exit_code == 0
    assert "does not restore the input (1, 1, 28, 28)" in result.stdout and "convtool invert ae.yaml" in result.stdout
    assert doc["restores"] == [{"period": 2, "smallest": [3]}] * 2


SEGMENTER = """input: [1, 3, 37, 37]
{restores}layers:
  - {{name: enc, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}}
  - {{type: max_pool2d, kernel_size: 2}}
  - {{type: conv_transpose2d, out_channels: 8, kernel_size: 2, stride: 2}}
  - {{type: conv2d, out_channels: 5, kernel_size: 1}}
"""
ONE_SHORT = """input: [1, 1, 28, 28]
{restores}layers:
  - {{type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}}
  - {{type: conv2d, out_channels: 1, kernel_size: 2}}
"""
SUPER_RESOLUTION = """input: [1, 3, 24, 24]
{restores}layers:
  - {{type: conv2d, out_channels: 12, kernel_size: 3, padding: 1}}
  - {{type: pixel_shuffle, upscale_factor: 2}}
"""


def run_text(text: str, *args: str) -> tuple[Any, dict[str, Any] | None]:
    from convtool.cli import main

    with CliRunner().isolated_filesystem():
        Path("net.yaml").write_text(text)
        result = CliRunner().invoke(main, ["run", "net.yaml", *args], env={"COLUMNS": "200"})
        doc = json.loads(CliRunner().invoke(main, ["run", "net.yaml", "--json"]).stdout)
    return result, doc


@pytest.mark.parametrize("text, restores, warned, key", [
    (SEGMENTER, "", False, None),  # 5 classes out of 3 channels: not taken for an autoencoder
    (ONE_SHORT, "", True, "one smaller"),  # an autoencoder whose output is one short at every size
    (SEGMENTER, "restores: input\n", True, [{"period": 2, "smallest": [2]}] * 2),  # said: 37 gives 36
    (SUPER_RESOLUTION, "", False, None),  # the output grows twice as fast: not an autoencoder
    (SUPER_RESOLUTION, "restores: input\n", True, "none"),  # said: warned, none restores
    (SUPER_RESOLUTION.replace("upscale_factor: 2", "upscale_factor: 1").replace("12", "3"), "restores: false\n",
     False, None),
], ids=["segmenter", "one-short", "segmenter-said", "super-resolution", "super-resolution-said", "said-not"])
def test_restores_key(text: str, restores: str, warned: bool, key: Any) -> None:
    """`restores: input` asks for the check where the channels differ (and warns where the output
    grows otherwise); `restores: false` turns it off; not written, a network whose output grows
    unlike its input (super-resolution) is not taken for an autoencoder."""
    result, doc = run_text(text.format(restores=restores))
    assert result.exit_code == 0, result.output
    assert ("does not restore the input" in result.stdout) == warned
    assert doc is not None
    if key is None:
        assert "restores" not in doc
    elif key == "none":
        assert doc["restores"] is None
        assert "it restores no input size: along dim 0, its output grows 2 times as fast" in result.stdout
    elif key == "one smaller":
        assert doc["restores"] is None
        assert "it restores no input size: along dim 0, its output is always 1 smaller than its input" in result.stdout
    else:
        assert doc["restores"] == key


def test_restores_key_names_the_input() -> None:
    from convtool.cli import main

    with CliRunner().isolated_filesystem():
        Path("net.yaml").write_text(SEGMENTER.format(restores="restores: output\n"))
        result = CliRunner().invoke(main, ["run", "net.yaml"])
    assert result.exit_code == 1, result.output
    assert ("net.yaml:2:11: key 'restores' expects the name of the network input, 'input', or false, but got "
            "'output'") in result.output
    assert "restores: input  (the output gives the input's size back)" in result.output
    assert "Traceback" not in result.output
