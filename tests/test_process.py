"""convtool as a real process against hostile and unlucky inputs: every ending is one sentence
on stderr and a deliberate exit status (0, 1 impossible, 2 usage, 130 Ctrl-C), never a traceback
or a hang, nothing overwritten unasked, and --verify within its own memory estimate."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
from pathlib import Path

import pytest
from support.process import ROOT, close_stdout, limit, run, run_measured

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
LINES_UP = [p for p in CONFIGS if p.stem != "mismatch_unet"]
HUGE = "1" + "0" * 400


def clean(done, code: int) -> None:
    assert done.returncode == code, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr


# -- writing files: -o ---------------------------------------------------------------------


@pytest.fixture()
def arch(tmp_path: Path) -> Path:
    path = tmp_path / "arch.yaml"
    path.write_text((ROOT / "configs" / "autoencoder_28.yaml").read_text())
    return path


def test_export_never_overwrites_unasked(arch: Path) -> None:
    target = arch.parent / "model.py"
    target.write_text("mine\n")
    done = run(["export", str(arch), "-o", str(target)])
    clean(done, 1)
    assert "exists" in done.stderr and "--force" in done.stderr and str(target) in done.stderr
    assert target.read_text() == "mine\n"
    clean(run(["export", str(arch), "-o", str(target), "--force"]), 0)
    assert target.read_text().startswith('"""Convolutional autoencoder')


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "force"])
def test_export_never_writes_its_input(arch: Path, force: list[str]) -> None:
    before = arch.read_text()
    done = run(["export", str(arch), "-o", str(arch), *force])
    clean(done, 1)
    assert "the file being read" in " ".join(done.stderr.split())  # wrapped at COLUMNS
    assert arch.read_text() == before


def test_export_to_dash_is_stdout(arch: Path) -> None:
    done = run(["export", str(arch), "-o", "-"], cwd=arch.parent)
    clean(done, 0)
    assert done.stdout.startswith('"""') and not (arch.parent / "-").exists()


def test_export_is_atomic_under_a_size_limit(arch: Path) -> None:
    target = arch.parent / "model.py"
    target.write_text("old\n")
    done = run(["export", str(arch), "-o", str(target), "--force"], setup=limit(resource.RLIMIT_FSIZE, 2048))
    clean(done, 1)
    assert "cannot write" in done.stderr and "nothing was changed" in done.stderr
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in arch.parent.iterdir()) == ["arch.yaml", "model.py"]  # no temporary left


def test_export_to_an_empty_name_is_a_usage_error(arch: Path) -> None:
    done = run(["export", str(arch), "-o", ""])
    clean(done, 2)
    assert "needs a file name" in done.stderr


# -- reading files: only regular files ---------------------------------------------------------


@pytest.fixture()
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("command", [["run"], ["export"], ["invert"], ["run", "--verify"]])
def test_a_fifo_is_refused_without_blocking(fifo: Path, command: list[str]) -> None:
    done = run([command[0], str(fifo), *command[1:]], timeout=20)
    clean(done, 2)
    assert "is a FIFO (named pipe), not a file convtool can read" in " ".join(done.stderr.split())  # wrapped


@pytest.mark.parametrize("path, words", [("/dev/zero", "a character device"), ("/tmp", "a directory")])
@pytest.mark.parametrize("command", ["run", "export", "invert"])
def test_special_files_are_refused_by_name(command: str, path: str, words: str) -> None:
    done = run([command, path], timeout=20)
    clean(done, 2)
    assert words in done.stderr and "does not exist" not in done.stderr


def test_a_huge_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:
        handle.truncate(17 << 20)
    done = run(["run", str(path)])
    clean(done, 1)
    assert "at most 16 MiB" in done.stderr


@pytest.mark.parametrize(
    "data, words",
    [
        ("input: [1, 3, 8, 8]\nlayers: [{type: relu}]\n".encode("utf-16"), "is UTF-16 text"),
        (b"\xef\xbb\xbfinput: [1, 3, 8, 8]\nlayers: [{type: relu}]\n", None),
        (b"input: [1, 3, 8, 8]\nlayers:\n\t- {type: relu}\n", "replace the tabs with spaces"),
        (b"input: [1, 3, 8, 8]\nlayers: [{type: relu, name: caf\xe9}]\n", "is not UTF-8 text: byte 0xe9 at line 2"),
    ],
    ids=["utf-16", "utf-8-bom", "tabs", "latin-1"],
)
def test_encodings_and_tabs(tmp_path: Path, data: bytes, words: str | None) -> None:
    path = tmp_path / "arch.yaml"
    path.write_bytes(data)
    done = run(["run", str(path)])
    clean(done, 0 if words is None else 1)
    if words:
        assert words in " ".join(done.stderr.split())  # wrapped at COLUMNS


# -- output that cannot be written --------------------------------------------------------------


COMMANDS = [
    ["shape", "16x16", "-k", "4", "-s", "2", "-p", "1"],
    ["shape", "16", "-k", "3", "--json"],
    ["invert", "28", "-k", "3", "-s", "2"],
    ["invert", "7", "--to", "28"],
    ["invert", "configs/autoencoder_mirror.yaml"],
    ["run", "configs/unet_original.yaml"],
    ["run", "configs/dcgan_generator.yaml", "--json"],
    ["export", "configs/dcgan_generator.yaml"],
    ["--help"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_full_disk(args: list[str]) -> None:
    with open("/dev/full", "wb") as full:
        done = run(args, stdout=full.fileno())
    clean(done, 1)
    assert done.stderr.strip() == "Error: cannot write the output: No space left on device"


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(a) for a in COMMANDS])
def test_closed_stdout(args: list[str]) -> None:
    done = run(args, stdout=subprocess.DEVNULL, setup=close_stdout)
    clean(done, 1)
    assert "cannot write the output" in done.stderr


def test_broken_pipe_is_quiet() -> None:
    head = subprocess.Popen(["head", "-c", "10"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    done = run(["run", "configs/unet_original.yaml"], stdout=head.stdin.fileno())  # type: ignore[union-attr]
    head.stdin.close()  # type: ignore[union-attr]
    head.wait()
    assert done.returncode in (0, 1) and done.stderr == ""


# -- numbers past every range ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, code",
    [
        (["shape", "8", "-k", "3", "--batch", HUGE, "--in-channels", "3", "--out-channels", "2"], 0),
        (["shape", "--input-shape", f"{HUGE},3,8,8", "-k", "3", "--out-channels", "2"], 0),
        (["shape", "--input-shape", f"1,3,{HUGE},8", "-k", "3", "--out-channels", "2"], 0),
        (["shape", "--input-shape", f"1,3,{HUGE},8", "-k", "3", "--out-channels", "2", "--json"], 0),
        (["run", "configs/autoencoder_28.yaml", "--batch", HUGE], 0),
        (["run", "configs/autoencoder_28.yaml", "--input-shape", f"{HUGE},1,28,28", "--json"], 0),
        (["run", "configs/autoencoder_28.yaml", "--verify", "--batch", HUGE], 1),
        (["run", "configs/autoencoder_28.yaml", "--verify", "--max-memory", HUGE], 2),
        (["run", "configs/autoencoder_28.yaml", "--verify", "--seed", "-1"], 2),
        (["shape", "1" + "0" * 5000, "-k", "3"], 2),
    ],
    ids=["batch", "input-shape-batch", "input-shape-size", "json", "run-batch", "run-input-shape", "verify-batch",
         "max-memory", "seed", "past-int-text-limit"],
)
def test_huge_numbers(args: list[str], code: int) -> None:
    done = run(args)
    clean(done, code)
    if "--json" in args:
        json.loads(done.stdout)


def test_huge_channels_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(f"input: [1, 3, 8, 8]\nlayers:\n  - {{type: conv2d, out_channels: {HUGE}, kernel_size: 3}}\n")
    clean(run(["run", str(path)]), 0)
    doc = json.loads(run(["run", str(path), "--json"]).stdout)
    assert doc["output"][1] == int(HUGE)
    clean(run(["run", str(path), "--verify"]), 1)


# -- Ctrl-C ----------------------------------------------------------------------------------------


# Before ~0.04 s the interpreter itself is still starting (importing `site`), which no program
# can handle; from then on convtool's own start-up is covered.
@pytest.mark.parametrize("after", [0.05, 0.08, 0.1, 0.15, 0.3])
def test_ctrl_c_while_starting(after: float) -> None:
    done = run(["run", "configs/unet_original.yaml"], interrupt_after=after)
    if "Fatal Python error" in done.stderr:  # a slow machine: Python itself had not started yet
        pytest.skip("the interrupt came while the interpreter was still importing site")
    if done.returncode == -signal.SIGINT and not done.stderr:  # killed silently: before Python's own handler
        pytest.skip("the interrupt came before the interpreter had installed its SIGINT handler")
    frames = re.findall(r'File "([^"]+\.py)"', done.stderr)
    if "KeyboardInterrupt" in done.stderr and not any("convtool" in Path(f).parts[:-1] for f in frames):
        # A fast start (a fresh virtual environment): the interrupt came in the console script
        # pip writes (`import re`, then importing the package), before any line of convtool ran.
        pytest.skip("the interrupt came before convtool's own code started")
    assert done.returncode in (0, 130), done.stderr  # 0 when it finished first
    assert "Traceback" not in done.stderr and "Aborted" not in done.stderr


def test_ctrl_c_inside_a_long_numpy_call() -> None:
    # the first layers of the U-Net at batch 3 are single numpy calls of seconds each
    done = run(["run", "configs/unet_original.yaml", "--verify", "--batch", "3", "--max-memory", "8GiB"],
               interrupt_after=4.0, timeout=30)
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr
    assert done.seconds < 4.0 + 1.2, f"Ctrl-C took {done.seconds - 4.0:.1f} s to act"


def test_sigterm_is_not_a_traceback() -> None:
    child = subprocess.Popen(
        [*__import__("support.process", fromlist=["console_script"]).console_script(), "run",
         "configs/unet_original.yaml", "--verify", "--batch", "3", "--max-memory", "8GiB"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    import time

    time.sleep(2.0)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGTERM and b"Traceback" not in err


# -- the terminal --------------------------------------------------------------------------------


@pytest.mark.parametrize("lines_up", [True, False], ids=["table", "mismatch"])
def test_names_cannot_steer_the_terminal(tmp_path: Path, lines_up: bool) -> None:
    path = tmp_path / "esc.yaml"
    path.write_text(
        'name: "t\\x1b]0;pwned\\x07\\x1b[2J [red]x"\ninput: [1, 3, 8, 8]\nlayers:\n'
        '  - {type: relu, name: "a\\x1b]0;pwned\\x07\\x1b[2J"}\n'
        f'  - {{type: conv2d, out_channels: 4, kernel_size: {3 if lines_up else 30}, name: "b\\x1b[2J\\u202e"}}\n'
    )
    done = run(["run", str(path)])
    clean(done, 0 if lines_up else 1)
    for text in (done.stdout, done.stderr):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "a\\x1b]0;pwned\\x07\\x1b[2J" in done.stdout
    if lines_up:
        assert "t\\x1b]0;pwned\\x07\\x1b[2J [red]x" in done.stdout  # markup shown as written, not applied
    else:
        assert "b\\x1b[2J\\u202e" in done.stderr
    mirrored = run(["invert", str(path)])
    assert "\x1b" not in mirrored.stdout + mirrored.stderr


# -- usage errors as JSON, and the words -----------------------------------------------------------


def test_json_before_the_command_still_answers_in_json() -> None:
    done = run(["--json", "shape", "8", "-k", "3"])
    clean(done, 2)
    assert json.loads(done.stdout)["error"]["kind"] == "usage"


@pytest.mark.parametrize(
    "text, words",
    [
        ("input: [1, 3, 8, 8]\nlayers:\n" + "  - {type: relu}\n" * 50_000,
         "more than 200,000 values; convtool reads architecture files up to that size"),
        ("input: [1, 3, 8, 8]\nlayers:\n  - {type: batch_norm2d, eps: -1}\n", "key 'eps' must be at least 0"),
    ],
    ids=["many-layers", "negative-eps"],
)
def test_words(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "arch.yaml"
    path.write_text(text)
    done = run(["run", str(path)])
    clean(done, 1)
    assert words in done.stderr and "alias" not in done.stderr and "None" not in done.stderr


def test_narrow_terminal_cuts_no_size() -> None:
    done = run(["invert", "50x100", "-k", "3", "-s", "2"], env={"COLUMNS": "40"})
    clean(done, 0)
    cells = " ".join(done.stdout.replace("│", " ").split())  # a wrapped cell, joined back
    assert "…" not in done.stdout and "50x99" in done.stdout and "output_size=(50, 99)" in cells


# -- --verify stays within its own estimate -------------------------------------------------------


def _memory_case(tmp_path: Path, name: str) -> Path:
    texts = {
        "linear": "input: [1, 7000]\nlayers:\n  - {type: linear, out_features: 7000}\n",
        "pool": "input: [1, 1, 14000, 14000]\nlayers:\n  - {type: max_pool2d, kernel_size: 2}\n",
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(texts[name])
    return path


@pytest.mark.parametrize("path", [*LINES_UP, "linear", "pool"], ids=[p.stem for p in LINES_UP] + ["linear", "pool"])
def test_verify_peak_is_under_its_estimate(tmp_path: Path, path: Path | str) -> None:
    pytest.importorskip("numpy")
    file = _memory_case(tmp_path, path) if isinstance(path, str) else path
    done = run_measured(["run", str(file), "--verify", "--json", "--max-memory", "8GiB"])
    clean(done, 0)
    estimate = json.loads(done.stdout)["verification"]["estimated_bytes"]
    assert done.peak_bytes < estimate, f"peak {done.peak_bytes >> 20} MiB over the estimate {estimate >> 20} MiB"


def test_verify_refuses_what_it_estimates_above_the_limit(tmp_path: Path) -> None:
    done = run(["run", str(_memory_case(tmp_path, "linear")), "--verify", "--max-memory", "200MiB", "--json"])
    clean(done, 1)
    error = json.loads(done.stdout)["error"]
    assert error["kind"] == "memory" and "more than the limit of 200 MiB" in error["message"]


def test_verify_out_of_memory_is_one_sentence() -> None:
    done = run(["run", "configs/dcgan_generator.yaml", "--batch", "100000", "--verify", "--max-memory", "1TiB"],
               setup=limit(resource.RLIMIT_AS, 2 << 30), timeout=120)
    clean(done, 1)
    assert "ran out of memory" in done.stderr


# -- bounded work ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, words",
    [
        (["invert", "7", "--to", "28", "--top", "99999999999999999999"], "1<=x<=1000"),
        (["invert", "7", "--to", "28", "--top", "99999999999999999999", "--json"], "1<=x<=1000"),
    ],
    ids=["top", "top-json"],
)
def test_top_has_a_ceiling(args: list[str], words: str) -> None:
    done = run(args, timeout=30)
    clean(done, 2)
    assert words in done.stderr
    if "--json" in args:
        assert json.loads(done.stdout)["error"]["kind"] == "usage"


def test_a_search_space_too_big_is_refused_before_it_is_counted() -> None:
    done = run(["invert", "7", "--to", "28", "--max-kernel", "1024", "--max-stride", "64", "--max-dilation", "64"],
               timeout=30)
    clean(done, 1)
    assert "more than the 3,000,000 searched at once" in " ".join(done.stderr.split()) and "--max-kernel" in done.stderr
    assert done.seconds < 10, f"refused only after {done.seconds:.1f} s"


def test_the_largest_allowed_listing_ends() -> None:
    done = run(["invert", "7", "--to", "28", "--top", "1000", "--json"], timeout=60)
    clean(done, 0)
    assert len(json.loads(done.stdout)["solutions"]) == 1000
