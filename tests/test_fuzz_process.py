"""Fuzzing the console script as a real process: any argv, any damaged architecture file, ends
with exit 0, 1 or 2, no traceback, within a timeout, and with a JSON document on stdout
whenever --json is given."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.block_nets import nets, with_blocks
from support.process import ROOT, run

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))

TOKENS = [
    "shape", "invert", "run", "export", "8", "16x16", "50x100", "1", "0", "-1", "3,5", "3x5x7", "2,3,4,5",
    "1" + "0" * 30, "x", "", " ", "nan", "1e9", "same", "valid", "-k", "-s", "-p", "-d", "-g", "--output-padding",
    "--output-size", "--in-channels", "--out-channels", "--batch", "--input-shape", "--op", "conv2d",
    "conv_transpose2d", "--no-bias", "--to", "--top", "--max-kernel", "--max-stride", "--max-dilation",
    "--format", "torch", "yaml", "--verify", "--seed", "--max-memory", "1KiB", "-o", "-", "--force",
    "--json", "configs/autoencoder_28.yaml", "configs/mismatch_unet.yaml", "/dev/null", "/tmp", "nothing.yaml",
    "\x1b[2J", "é", "--", "-",
]
SMALL = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def check(args: list[str], done) -> None:
    assert done.returncode in (0, 1, 2), (args, done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, (args, done.stderr)
    if "--json" in args and not {"--help", "-h", "--version"} & set(args):
        json.loads(done.stdout)


@SMALL
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8))
def test_any_argv(args: list[str]) -> None:
    if "-o" in args:  # write nothing into the repository
        args = [a for a in args if a not in ("-o", "--force")]
    check(args, run(args, timeout=60))


def damage(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply (position, length to delete, text to insert) edits."""
    for where, cut, insert in edits:
        where %= len(text) + 1
        text = text[:where] + insert + text[where + cut:]
    return text


@SMALL
@given(
    st.sampled_from(CONFIGS),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 20),
                       st.sampled_from(["", "-", ":", "[", "]", "{", "}", ",", "\t", "\n", " ", "&a", "*a", "!!",
                                        "0", "-1", "1e400", "nan", "null", "'", '"', "\\", "x", "type: ", "é",
                                        "\x00", "\x1b", "99999999999999999999"])),
             min_size=1, max_size=6),
    st.sampled_from([[], ["--json"], ["--verify", "--json"]]),
)
def test_damaged_files(tmp_path_factory, config: Path, edits, options: list[str]) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "arch.yaml"
    path.write_text(damage(config.read_text(), edits), encoding="utf-8", errors="surrogatepass")
    args = ["run", str(path), *options]
    done = run(args, timeout=120)
    check(args, done)
    assert done.returncode in (0, 1), (done.returncode, done.stderr)



BLOCK_TEXTS = [c.read_text() for c in CONFIGS if "blocks:" in c.read_text()]
BLOCK_DAMAGE = ["$c", "$(c", "$(c // 0)", "$zz", "repeat: 100000", "repeat: 0", "from: a.0.conv2d", "name: conv2d",
                "type: nothing", "outputs: [nothing]", "params: []", "inputs: [a, b]", "\n", "{", "}", ":", ", "]
LONG = int(os.environ.get("FUZZ_EXAMPLES", "0"))  # a long run: FUZZ_EXAMPLES=N


@settings(SMALL, max_examples=LONG or 15)
@given(
    st.one_of(st.sampled_from(BLOCK_TEXTS), nets().map(with_blocks)),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 20), st.sampled_from(BLOCK_DAMAGE)), max_size=3),
    st.sampled_from([[], ["--json"], ["--depth", "1"], ["--depth", "2"], ["--depth", "0"], ["--depth", "-1"],
                     ["--depth", "1", "--json"], ["--depth", "x"], ["--verify", "--json"]]),
)
def test_block_files_at_80_columns(tmp_path_factory, text: str, edits, options: list[str]) -> None:
    """Block files (damaged or not), --depth and --json: exit 0/1/2, no traceback, one JSON
    document, and at COLUMNS=80 no line longer than 80."""
    path = tmp_path_factory.mktemp("fuzz") / "arch.yaml"
    path.write_text(damage(text, edits), encoding="utf-8", errors="surrogatepass")
    args = ["run", str(path), *options]
    done = run(args, timeout=120, env={"COLUMNS": "80"})
    check(args, done)
    if "--json" not in args:
        assert max(map(len, (done.stdout + done.stderr).splitlines()), default=0) <= 80, (args, done.stdout,
                                                                                          done.stderr)
