"""The command line: parse options, call one library function, hand the result to report.py."""

from __future__ import annotations

import errno
import io
import os
import re
import sys
from typing import Any

import click

from . import __version__
from .errors import ConvtoolError
from .limits import MAX_STAGES, MAX_TOP

# -- option types (syntax and ranges are checked here: exit 2, the option named) ----------


class IntList(click.ParamType):
    """`3`, `3,5` or `3x5`: one int, or one per spatial dim; each at least `minimum`."""

    name = "INT[,INT...]"

    def __init__(
        self, minimum: int = 0, separators: str = ",x", allow: tuple[str, ...] = (), maximum: int | None = None
    ) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self.separators = separators
        self.allow = allow

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text in self.allow:
            return text
        parts = re.split(f"[{re.escape(self.separators)}]", text)
        if not text or not all(re.fullmatch(r"[+-]?\d+", part.strip()) for part in parts):
            expected = " or ".join(
                [f"an int or ints separated by {' or '.join(repr(s) for s in self.separators)}"]
                + [repr(a) for a in self.allow]
            )
            self.fail(f"{value!r} is not {expected}", param, ctx)
        try:
            numbers = tuple(int(part) for part in parts)
        except ValueError:  # past Python's limit on digits converted to an int
            self.fail(f"{value[:20]!r}... has too many digits", param, ctx)
        if any(n < self.minimum for n in numbers):
            self.fail(f"{value!r}: every value must be at least {self.minimum}", param, ctx)
        if self.maximum is not None and any(n > self.maximum for n in numbers):
            self.fail(f"{value!r}: convtool takes values up to {self.maximum} here", param, ctx)
        return numbers[0] if len(numbers) == 1 else numbers


SIZE = IntList(minimum=1)
# Strides and dilations past this make every pattern and list of sizes unreadably long.
STEP = IntList(minimum=1, maximum=256)
SHAPE = IntList(minimum=1, separators=",")


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document (keys: docs/json.md).")


class PastedLayer(str):
    """A layer pasted as code (`nn.ConvTranspose2d(...)`), read by convtool.frameworks.paste."""


class SizeOrLayer(IntList):
    """SIZE (`50x100`), or a layer pasted from a program (anything with a parenthesis)."""

    name = "SIZE|LAYER"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and "(" in value:
            return PastedLayer(value)
        return super().convert(value, param, ctx)


def framework_options(command: Any) -> Any:
    """--framework and the options that only other frameworks' layers take."""
    from .frameworks import NAMES

    for option in reversed((
        click.option("--framework", type=click.Choice(NAMES), help="Read the layer in this framework's terms."),
        click.option("--pads", type=IntList(0, separators=","), help="ONNX pads: all begins, then all ends."),
        click.option("--auto-pad", type=click.Choice(["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]),
                     help="ONNX auto_pad."),
        click.option("--output-shape", type=SIZE, help="The output size tf.nn and ONNX are given: 10x10."),
    )):
        command = option(command)
    return command


class Main(click.Group):
    """The command group. Every way a command can end is decided here, in one place:
    a ConvtoolError is one sentence (and a hint) on stderr and exit 1; a usage error is
    click's message and exit 2; Ctrl-C is exit 130; a closed or full stdout is one sentence
    on stderr and exit 1. With --json the error document also goes to stdout.

    click's own context cannot say whether `--json` was given when the error is a usage
    error (the options are not parsed yet), so the raw arguments are looked at once here.
    """

    wants_json = False

    def main(self, args: Any = None, *rest: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        self.wants_json = "--json" in argv or "--format=json" in argv or any(
            a == "--format" and b == "json" for a, b in zip(argv, argv[1:]))
        if not standalone_mode:
            return super().main(argv, *rest, standalone_mode=False, **kwargs)
        if sys.stdout is None:  # started with stdout closed (`>&-`): fail where output is written
            sys.stdout = _ClosedStream()
        try:
            code = super().main(argv, *rest, standalone_mode=False, **kwargs)
            sys.stdout.flush()
        except click.ClickException as error:
            if self.wants_json and isinstance(error, click.UsageError):
                _print_json({"error": {"message": error.format_message(), "kind": "usage"}})
            _show(error)
            code = error.exit_code
        except (click.Abort, KeyboardInterrupt):
            _interrupted()
        except OSError as error:
            code = _output_failed(error)
        except (OverflowError, ValueError) as error:
            if not _too_big_to_render(error):
                raise
            sys.stderr.write("Error: a number in this request is too large to compute with or to print\n")
            code = 1
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: click.Context) -> Any:
        from .report import print_error

        try:
            return super().invoke(ctx)
        except ConvtoolError as error:
            print_error(error, self.wants_json)
            ctx.exit(1)


def _show(error: click.ClickException) -> None:
    """click's message for a usage error, each line wrapped to the screen as convtool's own are
    (a long path is split, not left running past the edge)."""
    from .report import say

    shown = io.StringIO()
    error.show(file=shown)
    for line in shown.getvalue().splitlines():
        say(line)


class _ClosedStream:
    """Stands for a stdout that was closed before convtool started."""

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "standard output is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _print_json(doc: Any) -> None:
    from .report import print_json

    try:
        print_json(doc)
    except OSError:
        pass


def _output_failed(error: OSError) -> int:
    """One sentence for output that could not be written (the reader went away, the disk is
    full, stdout is closed); what is still buffered goes nowhere, so exiting prints nothing more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
    except OSError:
        pass
    if error.errno == errno.EPIPE:  # the reader stopped reading (`| head`): not worth a word
        return 1
    try:
        sys.stderr.write(f"Error: cannot write the output: {error.strerror or error}\n")
        sys.stderr.flush()
    except (OSError, AttributeError):
        pass
    return 1


def _interrupted() -> None:
    """Ctrl-C: exit 130 at once, without a traceback (numeric work may still hold a thread)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, AttributeError, ValueError):
            pass
    os._exit(130)


def _too_big_to_render(error: Exception) -> bool:
    """A number past float range, or past Python's limit for converting ints to text."""
    return isinstance(error, OverflowError) or "integer string conversion" in str(error)


def interruptible(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """fn(*args, **kwargs) on a worker thread, so that Ctrl-C acts at once even while numpy is
    inside one long call (signals reach Python only between its instructions)."""
    import threading

    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as error:  # handed to the calling thread as it is
            outcome["error"] = error

    worker = threading.Thread(target=work, name="convtool-work", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.05)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def spatial(size: int | tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """A SIZE argument as one int per spatial dim (a single int is a square)."""
    return (size,) * ndim if isinstance(size, int) else size


# -- commands -------------------------------------------------------------------------------


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="convtool")
def main() -> None:
    """Shape calculator and design tool for transposed convolutions (PyTorch semantics).

    \b
      convtool shape 50x100 -k 3 -s 2 --in-channels 16 --out-channels 33
      convtool invert 28 -k 3 -s 2 -p 1
      convtool run configs/dcgan_generator.yaml
    """


OPS = ("conv_transpose", "conv", *(f"{kind}{n}d" for kind in ("conv_transpose", "conv") for n in (1, 2, 3)))
dims_option = click.option(
    "--dims", type=click.IntRange(1, 3),
    help="Spatial dims of a single-int SIZE: 1 (L), 2 (HxW) or 3 (DxHxW).  [default: 2, or what SIZE, "
    "--op, the per-dim options or --input-shape say]",
)


@main.command()
@click.argument("size", type=SizeOrLayer(minimum=1), required=False, metavar="[LAYER] SIZE")
@click.argument("layer_size", type=SIZE, required=False, metavar="")
@click.option("-k", "--kernel-size", type=IntList(1), help="Kernel size: 3 or 3,5 (required without a LAYER).")
@click.option("-s", "--stride", type=STEP, default=1, show_default=True)
@click.option(
    "-p", "--padding", type=IntList(0, allow=("same", "valid", "SAME", "VALID")), default=0, show_default=True,
    help="Ints; --op conv (and --framework keras/tf/jax/flax) also take 'same' or 'valid'.",
)
@click.option("--output-padding", type=IntList(0), default=None, help="conv_transpose only. [default: 0]")
@click.option("-d", "--dilation", type=STEP, default=1, show_default=True)
@click.option("-g", "--groups", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--in-channels", type=click.IntRange(min=1), help="Input channels (for params and MACs).")
@click.option("--out-channels", type=click.IntRange(min=1), help="Output channels.")
@click.option("--batch", type=click.IntRange(min=1), help="Batch size N [default: 1 when channels are known].")
@click.option("--no-bias", is_flag=True, help="The layer has no bias.")
@click.option(
    "--input-shape", type=SHAPE,
    help="Full input shape N,C,*spatial or unbatched C,*spatial (replaces SIZE, --batch, --in-channels); "
    "3 numbers are N,C,L or C,H,W as --dims, --op or a per-dim option says, 4 are N,C,H,W unless 3-D "
    "is said (C,D,H,W).",
)
@click.option(
    "--output-size", type=IntList(1), help="Request an output size like forward(x, output_size=...): 12x12 or N,C,H,W.",
)
@click.option(
    "--op", type=click.Choice(OPS), default="conv_transpose", show_default=True,
    help="The layer kind; conv_transpose and conv take their dims from SIZE, --dims or the options.",
)
@dims_option
@framework_options
@json_option
def shape(
    size: Any, layer_size: Any, kernel_size: Any, stride: Any, padding: Any, output_padding: Any, dilation: Any,
    groups: int, in_channels: int | None, out_channels: int | None, batch: int | None, no_bias: bool,
    input_shape: Any, output_size: Any, op: str, dims: int | None, framework: str | None, pads: Any,
    auto_pad: str | None, output_shape: Any, as_json: bool,
) -> None:
    """Work out one layer: output size, valid output_size range, params, MACs, overlap.

    LAYER, when given, is one layer pasted as code from PyTorch, R torch, MegEngine,
    TensorFlow/Keras, ONNX or JAX/Flax (read, never run; --framework megengine reads a
    bare nn./M. call as MegEngine's). For another framework's layer convtool prints its
    code, weight and bias shapes in its layout, how it crops the transposed
    convolution, its own words when it refuses the layer, and PyTorch's exact
    equivalent. --framework with -k/-s/-p/... (--pads, --auto-pad, --output-shape)
    describes such a layer without pasting it.

    \b
    Examples:
      convtool shape --input-shape 20,16,50,100 --out-channels 33 -k 3 -s 2
      convtool shape 50x100 -k 3,5 -s 2,1 -p 4,2
      convtool shape --input-shape 1,16,6,6 --out-channels 16 -k 3 -s 2 -p 1 --output-size 12x12
      convtool shape 64 -k 3 -s 2 -p 1 --op conv2d
      convtool shape 100 --dims 1 -k 16 -s 8 -p 4 --in-channels 512 --out-channels 256
      convtool shape --input-shape 16,6,6 --dims 2 -k 3 -s 2     (unbatched C,H,W)
      convtool shape 8x16x16 -k 4 -s 2 -p 1 --in-channels 64 --out-channels 32
      convtool shape 'nn_conv_transpose2d(16, 33, c(3, 5), stride = c(2, 1), padding = c(4, 2))' 50x100
      convtool shape "layers.Conv2DTranspose(64, 3, strides=2, padding='same')" 32 --in-channels 128
      convtool shape 32 --framework onnx -k 3 -s 2 --pads 0,0,1,1
    """
    from dataclasses import replace

    from .report import print_json, render_shape, shape_json
    from .shape import analyze, output_padding_for

    if isinstance(size, PastedLayer) or framework is not None:
        shape_framework(size, layer_size, framework, kernel_size, stride, padding, output_padding, dilation, groups,
                        in_channels, out_channels, batch, no_bias, input_shape, output_size, op, dims, pads,
                        auto_pad, output_shape, as_json)
        return
    if pads is not None or auto_pad is not None or output_shape is not None:
        raise click.UsageError("--pads, --auto-pad and --output-shape read another framework's layer: add --framework")
    if layer_size is not None:
        raise click.UsageError("a second SIZE follows a pasted LAYER only")
    if kernel_size is None:
        raise click.UsageError("Missing option '-k' / '--kernel-size'.")
    if not op.startswith("conv_transpose") and (output_padding is not None or output_size is not None):
        raise click.UsageError("--output-padding and --output-size apply to --op conv_transpose only")
    if output_padding is not None and output_size is not None:
        raise click.UsageError(
            "give --output-padding or --output-size, not both (PyTorch ignores output_padding when output_size is given)"
        )
    params, spatial_size, batch, batched = layer_params(
        size, input_shape, batch, op, dims, kernel_size=kernel_size, stride=stride, padding=padding,
        dilation=dilation, output_padding=output_padding, groups=groups, bias=not no_bias, in_channels=in_channels,
        out_channels=out_channels,
    )
    nd = params.ndim
    requested = spatial(output_size, nd) if output_size is not None else None
    if requested is not None and not batched:  # a full output_size is C,*spatial here, as PyTorch reads it
        output_padding_for(params, input_shape, requested)
        requested = requested[-nd:]
    report = analyze(params, spatial_size, batch=batch, output_size=requested)
    if not batched and report.input_shape is not None:  # PyTorch's unbatched (C, *spatial): no batch dim
        report = replace(report, batch=None, input_shape=report.input_shape[1:],
                         output_shape=report.output_shape and report.output_shape[1:])
    if as_json:
        print_json(shape_json(report))
    else:
        render_shape(report)


def layer_params(
    size: Any, input_shape: Any, batch: int | None, op: str, dims: int | None = None, *, kernel_size: Any,
    stride: Any, padding: Any, dilation: Any, output_padding: Any, groups: int, bias: bool,
    in_channels: int | None, out_channels: int | None,
) -> tuple[Any, tuple[int, ...], int | None, bool]:
    """One layer from the options `shape` and `draw` share: (ConvParams, spatial size, batch,
    whether the input is batched). `--input-shape` replaces SIZE, --batch and --in-channels;
    the dims come from SIZE, --dims, --op and the per-dim options, which must agree."""
    from .params import ConvParams

    if input_shape is not None and (size is not None or batch is not None or in_channels is not None):
        raise click.UsageError("--input-shape replaces SIZE, --batch and --in-channels: give one or the other")
    if input_shape is None and size is None:
        raise click.UsageError("give SIZE (e.g. 50x100) or --input-shape N,C,H,W")
    nd = resolve_ndim(
        dims, op, size=size, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
        output_padding=output_padding,
    )
    batched = True
    if input_shape is not None:
        nd, batched = read_input_shape(input_shape, nd)
        lead = 2 if batched else 1
        batch, in_channels, size = (input_shape[0] if batched else 1), input_shape[lead - 1], input_shape[lead:]
    nd = nd or 2
    if batch is None and in_channels is not None:
        batch = 1
    if op.startswith("conv_transpose"):
        params = ConvParams.conv_transpose(
            kernel_size, stride, padding, output_padding or 0, groups, bias, dilation,
            in_channels=in_channels, out_channels=out_channels, ndim=nd,
        )
    else:
        params = ConvParams.conv(
            kernel_size, stride, padding, dilation, groups, bias, in_channels=in_channels,
            out_channels=out_channels, ndim=nd,
        )
    return params, spatial(size, nd), batch, batched


# -- convtool invert (issue 4) ----------------------------------------------------------------


class ArchFile(click.ParamType):
    """An architecture file: a regular file (a directory, FIFO or device is refused by name
    without being opened, so nothing blocks)."""

    name = "ARCH.yaml"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from .files import FileError, check_readable

        try:
            check_readable(value)
        except FileError as error:
            self.fail(error.message, param, ctx)
        return str(value)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        """Tab completes file names (the shell's own completion of paths)."""
        from click.shell_completion import CompletionItem

        return [CompletionItem(incomplete, type="file")]


class SizeOrArch(IntList):
    """SIZE (`28`, `50x100`), or the path of an architecture file."""

    name = "SIZE|ARCH.yaml"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from pathlib import Path

        if isinstance(value, str) and (
            value.endswith((".yaml", ".yml")) or "/" in value or (os.path.lexists(value) and not value[:1].isdigit())
        ):
            return Path(ArchFile().convert(value, param, ctx))
        return super().convert(value, param, ctx)

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        """A size is typed; a file name is completed."""
        return ArchFile().shell_complete(ctx, param, incomplete)


def resolve_ndim(dims: int | None, op: str | None, **values: Any) -> int | None:
    """The spatial dims (1, 2 or 3) that --dims, the op's name and every per-dim value given as
    several numbers agree on; None when none of them says. A disagreement names both."""
    ctx = click.get_current_context()
    hints = {p.name: p.get_error_hint(ctx) for p in ctx.command.params}
    labels = {p.name: (p.name or "").upper() if isinstance(p, click.Argument) else max(p.opts, key=len)
              for p in ctx.command.params}
    said: list[tuple[str, int]] = []
    if dims is not None:
        said.append((f"--dims {dims}", dims))
    if op is not None and op[-1] == "d":
        said.append((f"--op {op}", int(op[-2])))
    seen: tuple[str, int] | None = None
    for name, value in values.items():
        if not isinstance(value, tuple):
            continue
        if not 1 <= len(value) <= 3:
            raise click.BadParameter(
                f"{len(value)} spatial dims: PyTorch's convolutions have 1, 2 or 3", ctx=ctx, param_hint=hints[name]
            )
        if seen is not None and len(value) != seen[1]:
            raise click.BadParameter(
                f"{len(value)} values, but {seen[0]} has {seen[1]}: give one value per spatial dim",
                ctx=ctx, param_hint=hints[name],
            )
        seen = seen or (hints[name], len(value))
        said.append((f"{labels[name]} {'x'.join(map(str, value))}", len(value)))
    for label, n in said[1:]:
        if n != said[0][1]:
            raise click.UsageError(f"{said[0][0]} is {said[0][1]}-D but {label} is {n}-D: make them agree")
    return said[0][1] if said else None


LAYOUT = {1: "L", 2: "H,W", 3: "D,H,W"}


def read_input_shape(shape: int | tuple[int, ...], ndim: int | None) -> tuple[int, bool]:
    """How a full input shape reads: (spatial dims, batched). PyTorch takes N,C,*spatial and
    unbatched C,*spatial, so 3 numbers may be N,C,L or C,H,W: the dims decide (else refused, with
    both readings), and 4 numbers are N,C,H,W unless 3-D is asked for (C,D,H,W)."""
    numbers = (shape,) if isinstance(shape, int) else shape
    text = ",".join(map(str, numbers))
    readings = [(nd, batched) for nd, batched in ((len(numbers) - 2, True), (len(numbers) - 1, False)) if 1 <= nd <= 3]

    def name(nd: int, batched: bool) -> str:
        return ("N,C," if batched else "C,") + LAYOUT[nd] + f" ({'' if batched else 'unbatched '}{nd}-D)"

    if ndim is not None:
        for nd, batched in readings:
            if nd == ndim:
                return nd, batched
        raise click.BadParameter(
            f"{text} has {len(numbers)} numbers, but a {ndim}-D input is N,C,{LAYOUT[ndim]} or C,{LAYOUT[ndim]}",
            param_hint="--input-shape",
        )
    if not readings:
        raise click.BadParameter(
            f"{text}: expected N,C,*spatial or C,*spatial with 1, 2 or 3 spatial dims (e.g. N,C,H,W)",
            param_hint="--input-shape",
        )
    if len(readings) == 1 or readings[0] == (2, True):  # one reading, or the default 2-D batched one
        return readings[0]
    options = " or ".join(name(*r) for r in readings)
    flags = " or ".join(f"--dims {nd}" for nd, _ in readings)
    raise click.UsageError(f"--input-shape {text} could be {options}: add {flags} to say which")


@main.command()
@click.argument("size", type=SizeOrArch(minimum=1), metavar="SIZE")
@click.option("--to", "target", type=SIZE, help="Search the ConvTranspose layers that map SIZE to this size.")
@click.option("--factor", type=SIZE, help="Search the layers with out = F * in for every in (stride F).")
@click.option("--stages", type=click.IntRange(1, MAX_STAGES),
              help="Split --factor (or TARGET / SIZE) over this many layers.")
@click.option("-k", "--kernel-size", type=IntList(1), help="Conv kernel (first form); fixes the kernel (search).")
@click.option("-s", "--stride", type=STEP, help="[first form default: 1]; fixes the stride (--to).")
@click.option(
    "-p", "--padding", type=IntList(0, allow=("same", "valid")),
    help="[first form default: 0; also 'same'/'valid']; fixes the padding (search).",
)
@click.option("-d", "--dilation", type=STEP, help="[first form default: 1]; fixes the dilation (search).")
@click.option("--output-padding", type=IntList(0), help="Search: fix the output_padding (e.g. 0 for none).")
@click.option("--max-kernel", type=click.IntRange(1, 1024),
              help="Search: largest kernel tried.  [default: 16; --factor F: max(16, 4F)]")
@click.option("--max-stride", type=click.IntRange(1, 64),
              help="--to: largest stride tried; --stages: largest factor of one stage.  [default: 8; --stages: 32]")
@click.option("--max-dilation", type=click.IntRange(1, 64), help="Search: largest dilation tried.  [default: 3]")
@click.option("--top", type=click.IntRange(1, MAX_TOP),
              help=f"Search: how many layers (--stages: chains) to show, at most {MAX_TOP}.  [default: 10]")
@click.option("--in-channels", type=click.IntRange(min=1), help="Channels of the SIZE tensor (for the code).")
@click.option("--out-channels", type=click.IntRange(min=1), help="Channels of the Conv output / of TARGET.")
@click.option("--input-shape", type=SHAPE, help="ARCH.yaml: mirror for this input N,C,H,W (not the file's).")
@click.option("--format", "fmt", type=click.Choice(["yaml", "torch"]),
              help="ARCH.yaml: print the decoder as YAML layers or as PyTorch code.  [default: yaml]")
@dims_option
@json_option
def invert(
    size: Any, target: Any, factor: Any, stages: int | None, kernel_size: Any, stride: Any, padding: Any,
    dilation: Any, output_padding: Any, max_kernel: int | None, max_stride: int | None, max_dilation: int | None,
    top: int | None, in_channels: int | None, out_channels: int | None, input_shape: Any, fmt: str | None,
    dims: int | None, as_json: bool,
) -> None:
    """Design upsamplers: undo a Conv exactly, search layers that reach a size or a factor,
    split a factor over several layers, or mirror an encoder into the decoder that
    restores its input.

    \b
    convtool invert SIZE -k K [-s S -p P -d D]
      The Conv(k, s, p, d) maps SIZE to h; prints the ConvTranspose (same k, s, p, d
      and output_padding = (SIZE + 2p - d(k-1) - 1) mod s) that maps h back to SIZE, and
      every other size the Conv maps to h, each with its own output_padding.

    \b
    convtool invert SIZE --to TARGET [-k/-s/-p/-d/--output-padding] [--max-*] [--top N]
      Searches every ConvTranspose with stride 1-8, kernel 1-16, dilation 1-3, padding
      0..d(k-1) and every legal output_padding (< max(stride, dilation)) that maps SIZE
      to TARGET exactly; -k/-s/-p/-d/--output-padding fix a value (per dim as 3,5), the
      --max-* options narrow or widen the ranges.

    \b
    convtool invert SIZE --factor F [--stages N] [-k/-p/-d/--output-padding] [--max-*]
      Searches every ConvTranspose with out = F * in for every input length: stride F
      and d(k-1) - 2p + op + 1 = F. The space grows with F: kernel 1 to max(16, 4F)
      (vocoders use k = 2F, up to 4F), dilation 1-3, padding 0..d(k-1), every legal
      output_padding. With --stages N the factor (or TARGET / SIZE, from --to) is
      split into N ordered factors of at most --max-stride (32) each, every stage
      upsampling; each stage is searched as a factor and shown with its best layers,
      and each chain is run through the shape engine. Dims with the same factor share
      one split. When TARGET is no whole multiple of SIZE, the first stage is a --to
      search from SIZE to TARGET / F, for every F the other N-1 stages can split. Chains
      rank by their stages, the worst stage first (as a layer by its worst dim), then
      by cost summed over the stages, then larger factors first.

    \b
    Ranking, best first, per dim:
      1. no checkerboard: even overlap and every output position reached by a tap;
         then uneven overlap; gaps (positions that get only the bias) are worst
      2. no output_padding    3. smaller kernel    4. dilation 1    5. smaller padding
      6. ties: smaller dilation, smaller output_padding, smaller stride
    A layer is ranked by its worst dim; among equals, the same values in every dim
    come first, then the better next-worst dim, then H before W. With a 1-pixel input
    the stride changes nothing, so only the smallest one is listed.
    cost = MACs per output pixel per (input, output) channel pair = prod(k)*prod(SIZE)
    / prod(TARGET): the taps computed per output pixel, those the padding crops included.
    No layer in the space: exit 0, naming the nearest targets that have one. A space of
    more than 3,000,000 layers per dim is refused before it is searched.

    \b
    convtool invert ARCH.yaml [--input-shape N,C,H,W] [--format yaml|torch]
      Mirrors the file's encoder (its `layers:` when it has no `encoder:`) into the
      decoder that restores the input shape exactly, for the file's input or
      --input-shape (output_padding depends on it): conv2d -> conv_transpose2d with the
      same k, s, p, d, g and the output_padding the sizes need, pools -> transposed
      convolutions of their kernel and stride, norms and activations copied.
      Prints the decoder as an architecture file, as nn.Sequential code, or (--json)
      {"input", "decoder", "restores"}.

    \b
    SIZE is L, HxW or DxHxW; a single int is square in --dims dims (default 2).

    \b
    Examples:
      convtool invert 28 -k 3 -s 2 -p 1
      convtool invert 50x100 -k 3 -s 2 --in-channels 16 --out-channels 32
      convtool invert 28 --to 56
      convtool invert 7x7 --to 64x64 --max-dilation 1 --top 5
      convtool invert 1 --to 4 --json
      convtool invert 80 --factor 8 --dims 1
      convtool invert 80 --factor 300 --stages 2 --dims 1
      convtool invert 1 --to 64 --stages 5
      convtool invert 7 --to 64 --stages 3
      convtool invert 9x9x9 -k 3 -s 2
      convtool invert 8x8x8 --to 16x16x16 --top 3
      convtool invert configs/autoencoder_mirror.yaml --input-shape 1,1,30,30
      convtool invert configs/dcgan_discriminator.yaml --format torch
    """
    from . import design

    options = dict(to=target, factor=factor, stages=stages, kernel_size=kernel_size, stride=stride, padding=padding,
                   dilation=dilation, output_padding=output_padding, max_kernel=max_kernel, max_stride=max_stride,
                   max_dilation=max_dilation, top=top, in_channels=in_channels, out_channels=out_channels,
                   input_shape=input_shape, format=fmt, dims=dims)
    if not isinstance(size, (int, tuple)):
        _refuse(options, keep=("input_shape", "format"), because=f"do not apply to an architecture file ({size})")
        invert_arch(size, input_shape, fmt, as_json)
        return
    _refuse(options, keep=tuple(k for k in options if k not in ("input_shape", "format")),
            because="apply to `convtool invert ARCH.yaml` only")
    if target is not None and factor is not None:
        raise click.UsageError("give --to TARGET or --factor F, not both")
    nd = resolve_ndim(dims, None, size=size, target=target, factor=factor, kernel_size=kernel_size, stride=stride,
                      padding=padding, dilation=dilation, output_padding=output_padding) or 2
    searching = ("output_padding", "max_kernel", "max_stride", "max_dilation", "top")
    if target is None and factor is None:
        _refuse(options, keep=tuple(k for k in options if k not in searching + ("stages",)),
                because="apply to the search only: add --to TARGET or --factor F")
        if kernel_size is None:
            raise click.UsageError("give -k/--kernel-size (undo a Conv), --to TARGET or --factor F (search upsamplers)")
        _invert_conv(spatial(size, nd), kernel_size, stride, padding, dilation, in_channels, out_channels, as_json)
        return
    if isinstance(padding, str):
        raise click.BadParameter("the search takes int paddings only", param_hint="'-p' / '--padding'")
    constraints = dict(kernel_size=kernel_size, padding=padding, dilation=dilation, output_padding=output_padding,
                       max_dilation=max_dilation or design.DEFAULT_MAX_DILATION)
    if stages is None and target is not None:
        space = design.search_space(
            nd, stride=stride, max_kernel=max_kernel or design.DEFAULT_MAX_KERNEL,
            max_stride=max_stride or design.DEFAULT_MAX_STRIDE, **constraints,  # type: ignore[arg-type]
        )
        _show_search(design.search(spatial(size, nd), spatial(target, nd), space), top, in_channels, out_channels,
                     as_json)
        return
    _refuse(options, keep=tuple(k for k in options if k != "stride"),
            because="does not apply: the factor of each layer is its stride")
    if stages is None:
        _refuse(options, keep=tuple(k for k in options if k != "max_stride"),
                because="applies to --stages only (a single --factor layer has stride F)")
        space = design.factor_space(spatial(factor, nd), max_kernel=max_kernel, **constraints)  # type: ignore[arg-type]
        _show_search(design.factor_search(spatial(size, nd), spatial(factor, nd), space), top, in_channels,
                     out_channels, as_json)
        return
    _refuse(options, keep=tuple(k for k in options if k not in ("in_channels", "out_channels")),
            because="do not apply to --stages (each stage has its own channels)")
    limits = dict(max_factor=max_stride or design.DEFAULT_MAX_STAGE_FACTOR, max_kernel=max_kernel, **constraints)
    if factor is not None:
        found = design.stage_search(spatial(size, nd), spatial(factor, nd), stages, **limits)  # type: ignore[arg-type]
    else:
        found = design.stage_search_to(spatial(size, nd), spatial(target, nd), stages, **limits)  # type: ignore[arg-type]
    from .report import print_json, render_stages, stages_json

    if as_json:
        print_json(stages_json(found, top or 10))
    else:
        render_stages(found, top or 10)


def _refuse(options: dict[str, Any], keep: tuple[str, ...], because: str) -> None:
    """A usage error naming every given option outside `keep`."""
    given = [f"--{name.replace('_', '-')}" for name, value in options.items() if value is not None and name not in keep]
    if given:
        raise click.UsageError(f"{', '.join(given)} {because}")


def _invert_conv(size: tuple[int, ...], kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                 in_channels: int | None, out_channels: int | None, as_json: bool) -> None:
    """`convtool invert SIZE -k K ...`: the ConvTranspose that undoes a Conv."""
    from . import design
    from .params import ConvParams
    from .report import invert_json, print_json, render_invert

    conv = ConvParams.conv(kernel_size, stride or 1, padding or 0, dilation or 1,
                           in_channels=in_channels, out_channels=out_channels, ndim=len(size))
    inverse = design.invert(conv, size)
    if as_json:
        print_json(invert_json(inverse))
    else:
        render_invert(inverse)


def _show_search(found: Any, top: int | None, in_channels: int | None, out_channels: int | None,
                 as_json: bool) -> None:
    """The ranked layers of a search (--to) or a factor search (--factor)."""
    from .report import print_json, render_factor, render_search, search_json

    best = found.solutions(top or 10, in_channels=in_channels, out_channels=out_channels)
    if as_json:
        doc = search_json(found, best)
        if found.factor is not None:
            doc["factor"] = list(found.factor)
        print_json(doc)
    elif found.factor is not None:
        render_factor(found, best)
    else:
        render_search(found, best)


# -- convtool run (issue 5) -------------------------------------------------------------------


class ByteSize(click.ParamType):
    """A memory size: `2GiB`, `512MiB`, `1.5GB`, or a number of bytes."""

    name = "BYTES"
    UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6, "mib": 2**20,
             "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12, "tib": 2**40}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int):
            return value
        from fractions import Fraction

        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(value))
        unit = match.group(2).lower() if match else ""
        if not match or unit not in self.UNITS:
            self.fail(f"{value!r} is not a memory size like 2GiB, 512MiB or a number of bytes", param, ctx)
        if len(match.group(1)) > 100:
            self.fail(f"{match.group(1)[:20]}... has more than 100 digits", param, ctx)
        return int(Fraction(match.group(1)) * self.UNITS[unit])  # exact, whatever its size


@main.command()
@click.argument("arch", type=ArchFile(), metavar="ARCH.yaml")
@click.option("--input-shape", type=SHAPE, help="Input shape N,C,H,W (overrides the file's `input:`).")
@click.option("--batch", type=click.IntRange(min=1), help="Batch size N (overrides the input's N).")
@click.option("--verify", "check", is_flag=True, help="Run the numeric engine through the stack and compare shapes.")
@click.option("--max-memory", type=ByteSize(), default="2GiB", show_default=True,
              help="--verify refuses, before allocating, to run above this estimate.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of --verify's random weights and input.")
@click.option("--html", "html", metavar="FILE.html",
              help="Also write one self-contained page: the table, the network diagram, the overlap pictures.")
@click.option("--force", is_flag=True, help="--html: replace an existing file.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown", "csv"]),
              help="table (default: fitted to the screen), json (= --json), or markdown or csv: every "
                   "column, one line per layer, exact counts (to keep and diff).")
@click.option("--depth", type=click.IntRange(min=1), metavar="N",
              help="Show each block use N levels down as one row (its leaves' totals); default: every layer.")
@click.option("--relative-to", "relative", metavar="NAME",
              help="Receptive fields in the positions of tensor NAME (a layer's name or path), not the "
                   "input's, and the projective field: how many output positions one of them reaches.")
@json_option
def run(
    arch: str, input_shape: Any, batch: int | None, check: bool, max_memory: int, seed: int, html: str | None,
    force: bool, fmt: str | None, depth: int | None, relative: str | None, as_json: bool,
) -> None:
    """Propagate an architecture file layer by layer: shapes, params, MACs, receptive field.

    The table shows per layer the compact config (k3 s2 p1 op1), input and output
    shape, parameters, MACs and the exact receptive field, with notes (checkerboard
    overlap, rows a Conv2d never reads). When the stack does not line up, the table
    stops at the failing layer, the error names both layers and shapes with the fix,
    and the exit status is 1.

    \b
    Examples:
      convtool run configs/unet_original.yaml
      convtool run configs/autoencoder_28.yaml --verify
      convtool run configs/unet_padded.yaml --input-shape 1,3,320,480
      convtool run configs/mismatch_unet.yaml      # exits 1: does not line up, prints the fixes
      convtool run configs/dcgan_generator.yaml --batch 64 --json
      convtool run configs/unet_original.yaml --format markdown > unet.md
      convtool run configs/unet_original.yaml --html unet.html
      convtool run configs/hifigan_generator_v1.yaml --input-shape 1,80,100     (1-D: N,C,L)
      convtool run configs/unet3d_cicek.yaml --depth 1 --format csv             (3-D: N,C,D,H,W)
      convtool run configs/vae_decoder.yaml --relative-to unflatten
    """
    from .errors import MismatchError
    from .graph import StackMismatch, load, propagate, verify
    from .report import print_json, render_mismatch, render_run, run_json

    if input_shape is not None and isinstance(input_shape, int):
        raise click.BadParameter("expected a full shape N,C,H,W (or N,F)", param_hint="--input-shape")
    if html == "-":
        raise click.BadParameter("the page goes to a file (stdout is the table)", param_hint="--html")
    if as_json and fmt not in (None, "json"):
        raise click.UsageError("give --json or --format, not both")
    fmt = "json" if as_json else fmt or "table"
    stack = load(arch)
    try:
        result = propagate(stack, input_shape, batch)
    except StackMismatch as error:
        if html is not None:
            from .draw.html import mismatch_page

            write_page(html, force, arch, mismatch_page(stack, error))
        if fmt != "json":
            render_mismatch(error, fmt)
        raise
    from .graph import valid_input_sizes
    from .graph.valid_sizes import restore_sizes

    fields = relative_fields(result, relative) if relative is not None else None
    sizes = valid_input_sizes(stack, result.input)
    restored = restore_sizes(stack, result, sizes)
    checked = interruptible(verify, result, seed=seed, max_memory=max_memory) if check else None
    if html is not None:
        from .draw.html import run_page
        from .graph.valid_sizes import describe

        line = describe(sizes, result.input[2:]) if sizes is not None else None
        write_page(html, force, arch, run_page(run_json(result, checked, sizes), result, line))
    if fmt == "json":
        print_json(run_json(result, checked, sizes, restored, fields))
    else:
        render_run(result, checked, sizes, fmt, restored, depth, fields)
    if checked is not None and not checked.ok:
        raise MismatchError(
            "the numeric engine's shapes differ from the table at layers "
            + ", ".join(map(str, checked.mismatches))
        )


def relative_fields(result: Any, name: str) -> Any:
    """`run --relative-to NAME`: the fields in NAME's positions; an unknown NAME is a usage error."""
    from .graph.relative import UnknownTensor, relative_to

    try:
        return relative_to(result, name)
    except UnknownTensor as error:
        raise click.BadParameter(error.message, param_hint="--relative-to") from None


# -- mirrored decoders and PyTorch export (issue 6) -------------------------------------------


def invert_arch(path: Any, input_shape: Any, fmt: str | None, as_json: bool) -> None:
    """`convtool invert ARCH.yaml`: the mirrored decoder as YAML, PyTorch code or JSON."""
    from .export import sequential
    from .graph import load, mirror
    from .report import print_json

    if as_json and fmt is not None:
        raise click.UsageError("give --json or --format, not both")
    if input_shape is not None and isinstance(input_shape, int):
        raise click.BadParameter("expected a full shape N,C,H,W", param_hint="--input-shape")
    m = mirror(load(path), input_shape)
    if as_json:
        print_json(m.to_dict())
    elif fmt == "torch":
        comment = (f"Decoder mirrored from the encoder of {path} by `convtool invert`:\n"
                   f"the encoder's output {tuple(m.latent)} back to its input {tuple(m.restores)}.")
        click.echo(sequential(m.decoder, "decoder", comment))
    else:
        click.echo(m.to_yaml())


@main.command()
@click.argument("arch", type=ArchFile(), metavar="ARCH.yaml")
@click.option("--input-shape", type=SHAPE, help="Input shape N,C,H,W (overrides the file's `input:`).")
@click.option("-o", "--output", metavar="FILE", help="Write the file here (`-` for stdout), not to stdout.")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
def export(arch: str, input_shape: Any, output: str | None, force: bool) -> None:
    """Print the stack as a self-contained PyTorch source file.

    One nn.Module subclass: __init__ builds every layer of the `convtool run` table with
    explicit arguments, in table order, as self.layers[i] (row i of the table); forward
    wires the skip connections (concat with center crop, add). A mirrored decoder is
    written out. `python FILE` runs the file's input through it and prints the output
    shape. A stack that does not line up is refused (exit 1), as `run` explains it.
    Names from the file appear only escaped, in comments and docstrings, so nothing in
    the file can become code. -o writes atomically and never replaces an existing file
    without --force, nor the architecture file itself.

    \b
    Examples:
      convtool export configs/unet_original.yaml -o unet.py && python unet.py
      convtool export configs/autoencoder_mirror.yaml --input-shape 1,1,30,30
    """
    from .export import class_name
    from .export import export as export_source
    from .files import write_text
    from .graph import load, propagate

    if input_shape is not None and isinstance(input_shape, int):
        raise click.BadParameter("expected a full shape N,C,H,W (or N,F)", param_hint="--input-shape")
    if output == "":
        raise click.BadParameter("needs a file name (or - for stdout)", param_hint="'-o' / '--output'")
    prop = propagate(load(arch), input_shape)
    source = export_source(prop)
    if output is None or output == "-":
        click.echo(source, nl=False)
        return
    write_text(output, source, force=force, reads=[arch])
    from .report import say
    from .text import escape_controls

    shown = escape_controls(output)
    say(f"wrote {shown}: class {class_name(prop.arch.name, prop.arch.file)}, {len(prop.layers)} layers, "
        f"{prop.totals.param_count:,} parameters; run it with `python {shown}`")


# -- pictures ---------------------------------------------------------------------------------


def write_page(target: str, force: bool, source: str, page: str) -> None:
    """`run --html`: write the page and say where."""
    from .draw.files import write_output

    click.echo(f"wrote {write_output(target, page, force=force, sources=[source])}", err=True)


@main.command()
@click.argument("size", type=SizeOrArch(minimum=1), metavar="SIZE|ARCH.yaml", required=False)
@click.option("-o", "--output", required=True, metavar="FILE.svg",
              help="Where to write: FILE.svg, FILE.png (needs cairosvg), or - for stdout.")
@click.option("--force", is_flag=True, help="Replace an existing file.")
@click.option("-k", "--kernel-size", type=IntList(1), help="SIZE: the kernel, 3 or 3,5 (required).")
@click.option("-s", "--stride", type=STEP, default=1, show_default=True)
@click.option("-p", "--padding", type=IntList(0, allow=("same", "valid")), default=0, show_default=True,
              help="Ints; conv2d also takes 'same' or 'valid'.")
@click.option("--output-padding", type=IntList(0), default=None, help="Transposed layers only. [default: 0]")
@click.option("-d", "--dilation", type=STEP, default=1, show_default=True)
@click.option("--in-channels", type=click.IntRange(min=1), help="Input channels (for the code).")
@click.option("--out-channels", type=click.IntRange(min=1), help="Output channels (for the code).")
@click.option("--input-shape", type=SHAPE,
              help="SIZE: N,C,H,W or N,C,L (replaces SIZE, --in-channels); ARCH.yaml: the input to draw for.")
@click.option("--batch", type=click.IntRange(min=1), help="ARCH.yaml: batch size N.")
@click.option("--op", type=click.Choice(OPS), default="conv_transpose", show_default=True,
              help="The layer kind; conv_transpose and conv take their dims from SIZE or the options.")
@click.option("--animate", is_flag=True, help="SIZE: the kernel steps through every output position (SVG animation).")
def draw(
    size: Any, output: str, force: bool, kernel_size: Any, stride: Any, padding: Any, output_padding: Any,
    dilation: Any, in_channels: int | None, out_channels: int | None, input_shape: Any, batch: int | None,
    op: str, animate: bool,
) -> None:
    """Draw one layer as it works, or a whole network as it is (SVG; PNG with cairosvg).

    \b
    convtool draw SIZE -k K [-s S -p P -d D --output-padding OP --op ...] -o FILE.svg
      A transposed layer as the stride-1 convolution it equals: the input, the input
      stretched with stride - 1 zeros between pixels, the padding d(k-1) - p on each side
      (a crop when negative) with output_padding apart at the end, the kernel's footprint,
      and the output coloured by how many kernel taps reach each position (uneven colours:
      checkerboard artifacts). A convolution: its padded input coloured by how many windows
      read each position, the rows it never reads marked. 1-D layers (--op conv_transpose1d,
      or an N,C,L --input-shape) are drawn as strips. At most 64 cells per dim.

    \b
    convtool draw ARCH.yaml [--input-shape N,C,H,W] [--batch N] -o FILE.svg
      The network in the style of the U-Net paper: a box per tensor (height: spatial size,
      width: channels), data flow and skip connections as arrows, encoder and decoder
      grouped, checkerboard layers and misaligned merges marked. A network that does not
      line up is drawn up to the failing layer, both tensors in red with the fix beside
      them; the picture is written and the exit status is 1.

    \b
    Examples:
      convtool draw 4x4 -k 3 -s 2 -p 1 --output-padding 1 -o up.svg
      convtool draw 5 -k 4 -s 2 -p 1 --op conv_transpose1d -o strip.svg
      convtool draw 7x8 -k 3 -s 2 --op conv2d -o conv.svg
      convtool draw 4x4 -k 3 -s 2 --animate -o - > kernel.svg
      convtool draw configs/unet_original.yaml -o unet.svg
    """
    from .draw.files import write_output

    layer_only = dict(kernel_size=kernel_size, output_padding=output_padding, in_channels=in_channels,
                      out_channels=out_channels, animate=animate or None)
    if size is not None and not isinstance(size, (int, tuple)):
        given = [f"--{name.replace('_', '-')}" for name, value in layer_only.items() if value is not None]
        if given:
            raise click.UsageError(f"{', '.join(given)} apply to a layer (SIZE), not to an architecture file")
        if not size.is_file():
            raise click.BadParameter(f"file '{size}' does not exist", param_hint="'ARCH.yaml'")
        if input_shape is not None and isinstance(input_shape, int):
            raise click.BadParameter("expected a full shape N,C,H,W", param_hint="--input-shape")
        from .draw.network import network
        from .graph import load

        picture = network(load(size), input_shape, batch)
        where = write_output(output, picture.svg, force=force, sources=[str(size)])
        if output != "-":
            click.echo(f"wrote {where}", err=True)
        if picture.mismatch is not None:
            raise picture.mismatch
        return
    if batch is not None:
        raise click.UsageError("--batch applies to an architecture file, not to a layer")
    if kernel_size is None:
        raise click.UsageError("give -k/--kernel-size: the layer's kernel")
    if not op.startswith("conv_transpose") and output_padding is not None:
        raise click.UsageError(f"--output-padding applies to transposed layers, not to --op {op}")
    from .draw.layer import layer_svg

    params, spatial_size, _, _ = layer_params(
        size, input_shape, None, op, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
        output_padding=output_padding, groups=1, bias=True, in_channels=in_channels, out_channels=out_channels,
    )
    where = write_output(output, layer_svg(params, spatial_size, animate=animate), force=force)
    if output != "-":
        click.echo(f"wrote {where}", err=True)

# -- other frameworks: pasted layers and --framework in `shape`, and `convtool port` (issue 14) --


def read_layer(text: str, framework: str | None, given: Any) -> Any:
    """A pasted layer, read without running it; what convtool cannot read is a usage error."""
    from .frameworks.base import PasteError
    from .frameworks.paste import read

    try:
        return read(text, framework, given)
    except PasteError as error:
        raise click.BadParameter(error.message, param_hint="'LAYER'") from None


def explicit(name: str, value: Any) -> Any:
    """The option's value when the command line gave it, else None (defaults differ by framework)."""
    ctx = click.get_current_context()
    source = ctx.get_parameter_source(name)
    return value if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT") else None


def shape_framework(
    text: Any, size: Any, framework: str | None, kernel_size: Any, stride: Any, padding: Any, output_padding: Any,
    dilation: Any, groups: int, in_channels: int | None, out_channels: int | None, batch: int | None, no_bias: bool,
    input_shape: Any, output_size: Any, op: str, dims: int | None, pads: Any, auto_pad: str | None,
    output_shape: Any, as_json: bool,
) -> None:
    """`convtool shape LAYER SIZE` and `convtool shape SIZE --framework NAME ...`."""
    from .frameworks import get
    from .frameworks.base import Given
    from .frameworks.shape import analyze as analyze_framework
    from .report import framework_shape_json, print_json, render_framework_shape, render_shape, shape_json
    from .shape import analyze

    if not isinstance(text, PastedLayer):  # the option form: the first argument is the SIZE
        if size is not None:
            raise click.UsageError("one SIZE: a second one follows a pasted LAYER only")
        size, text = text, None
    if input_shape is not None:
        raise click.UsageError("with a pasted LAYER or --framework give SIZE (and --batch, --in-channels), "
                               "not --input-shape")
    if explicit("op", op) is not None:
        raise click.UsageError("--op applies to PyTorch's own options; a pasted LAYER names its kind")
    if size is None:
        raise click.UsageError("give the input SIZE after the layer (e.g. 50x100)")
    layer_options = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation,
                         groups=groups, pads=pads, auto_pad=auto_pad, output_shape=output_shape)
    chosen = {name: explicit(name, value) for name, value in layer_options.items()}
    if text is not None and any(value is not None for value in chosen.values()):
        named = [f"--{name.replace('_', '-')}" for name, value in chosen.items() if value is not None]
        raise click.UsageError(f"{', '.join(named)} cannot change a pasted layer: edit the LAYER")
    given = Given(kernel_size=kernel_size, in_channels=in_channels, out_channels=out_channels,
                  bias=False if no_bias else None, **chosen)
    if text is not None:
        layer = read_layer(text, framework, given)
    else:
        if kernel_size is None:
            raise click.UsageError("Missing option '-k' / '--kernel-size'.")
        nd = resolve_ndim(dims, None, size=size, kernel_size=kernel_size, stride=stride, padding=padding,
                          dilation=dilation, output_padding=output_padding, output_shape=output_shape) or 2
        from .frameworks.base import PasteError

        try:
            layer = get(framework or "torch").from_options(nd, given)
        except PasteError as error:
            raise click.UsageError(error.message) from None
    if isinstance(size, tuple) and len(size) != layer.ndim:
        raise click.BadParameter(f"{len(size)} sizes for a {layer.ndim}-D layer", param_hint="'SIZE'")
    spatial_size = spatial(size, layer.ndim)
    requested = spatial(output_size, layer.ndim) if output_size is not None else None
    if batch is None and (layer.in_channels is not None or in_channels is not None):
        batch = 1
    params = layer.options.get("params")
    if layer.framework == "torch" and params is not None:  # PyTorch's own layer: the whole shape report
        if in_channels is not None and params.in_channels not in (None, in_channels):
            raise click.UsageError(f"--in-channels {in_channels} contradicts the layer's {params.in_channels}")
        report = analyze(params, spatial_size, batch=batch, output_size=requested)
        print_json(shape_json(report)) if as_json else render_shape(report)
        return
    if layer.in_channels is None and in_channels is not None:
        layer = layer.replace(in_channels=in_channels)
    worked = analyze_framework(layer, spatial_size, batch=batch, output_size=requested)
    print_json(framework_shape_json(worked)) if as_json else render_framework_shape(worked)


@main.command(name="port")
@click.argument("layer", metavar="LAYER")
@click.option("--input", "input_size", type=SIZE, required=True, help="The input's spatial size: 32, 50x100, 8x8x8.")
@click.option("--to", "target", type=click.Choice(["torch", "r", "megengine", "tf", "keras", "onnx", "jax", "flax"]),
              required=True, help="The framework to translate to.")
@click.option("--from", "source", type=click.Choice(["torch", "r", "megengine", "tf", "keras", "onnx", "jax", "flax"]),
              help="The LAYER's framework, when its code does not say (a bare nn./M. call is PyTorch's).")
@click.option("-k", "--kernel-size", type=IntList(1), help="Kernel size, for calls that take the kernel as an array.")
@click.option("--in-channels", type=click.IntRange(min=1), help="Input channels, when the LAYER does not say.")
@click.option("--out-channels", type=click.IntRange(min=1), help="Output channels, when the LAYER does not say.")
@json_option
def port_command(
    layer: str, input_size: Any, target: str, source: str | None, kernel_size: Any, in_channels: int | None,
    out_channels: int | None, as_json: bool,
) -> None:
    """Translate one transposed convolution to another framework, with the same size and values.

    Prints the target's layer, the statement to run on its output when no single layer
    of the target is exact (`after`: a crop or zero rows, e.g. Keras 'same' puts its odd
    crop at the end, which PyTorch's symmetric padding cannot), the weight and bias
    conversion as numpy code on w_source/b_source, and why. Every answer is checked by
    running both layers on a random input with the numeric engine.

    \b
    Examples:
      convtool port "layers.Conv2DTranspose(6, 3, strides=2, padding='same')" --input 5 --to torch --in-channels 4
      convtool port 'nn.ConvTranspose2d(16, 33, 3, stride=2, padding=1, output_padding=1)' --input 32 --to keras
      convtool port 'nn_conv_transpose1d(80, 512, 16, stride = 8, padding = 4)' --input 100 --to jax
      convtool port 'M.ConvTranspose2d(4, 6, 3, 1, 0, 0, 2)' --from megengine --input 8 --to onnx
      convtool port "tf.nn.conv2d_transpose(x, w, [1, 10, 10, 6], 2, 'SAME')" -k 3 --in-channels 4 --input 5 --to flax
    """
    from .frameworks.base import Given
    from .frameworks.port import port
    from .report import print_json, render_port

    parsed = read_layer(layer, source, Given(kernel_size=kernel_size, in_channels=in_channels,
                                             out_channels=out_channels))
    if isinstance(input_size, tuple) and len(input_size) != parsed.ndim:
        raise click.BadParameter(f"{len(input_size)} sizes for a {parsed.ndim}-D layer", param_hint="'--input'")
    answer = port(parsed, spatial(input_size, parsed.ndim), target, in_channels=in_channels, out_channels=out_channels)
    print_json(answer.to_dict()) if as_json else render_port(answer)
