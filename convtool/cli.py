"""The command line: parse options, call one library function, hand the result to report.py."""

from __future__ import annotations

import re
import sys
from typing import Any

import click

from . import __version__
from .errors import ConvtoolError

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
        numbers = tuple(int(part) for part in parts)
        if any(n < self.minimum for n in numbers):
            self.fail(f"{value!r}: every value must be at least {self.minimum}", param, ctx)
        if self.maximum is not None and any(n > self.maximum for n in numbers):
            self.fail(f"{value!r}: convtool takes values up to {self.maximum} here", param, ctx)
        return numbers[0] if len(numbers) == 1 else numbers


SIZE = IntList(minimum=1)
# Strides and dilations past this make every pattern and list of sizes unreadably long.
STEP = IntList(minimum=1, maximum=256)
SHAPE = IntList(minimum=1, separators=",")


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document (SPEC §6).")


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
    """The command group; every command's errors are turned into messages here, in one place:
    a ConvtoolError is one sentence (and a hint) on stderr and exit 1; with --json, the error
    document also goes to stdout, for usage errors (exit 2) too."""

    wants_json = False

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        self.wants_json = "--json" in argv
        return super().main(argv, *rest, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        from .report import print_error, print_json

        try:
            return super().invoke(ctx)
        except ConvtoolError as error:
            print_error(error, self.wants_json)
            ctx.exit(1)
        except click.UsageError as error:
            if self.wants_json:
                print_json({"error": {"message": error.format_message(), "kind": "usage"}})
            raise


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


@main.command()
@click.argument("size", type=SizeOrLayer(minimum=1), required=False, metavar="[LAYER] SIZE")
@click.argument("layer_size", type=SIZE, required=False, metavar="")
@click.option("-k", "--kernel-size", type=IntList(1), help="Kernel size: 3 or 3,5 (required without a LAYER).")
@click.option("-s", "--stride", type=STEP, default=1, show_default=True)
@click.option(
    "-p", "--padding", type=IntList(0, allow=("same", "valid", "SAME", "VALID")), default=0, show_default=True,
    help="Ints; conv2d (and --framework keras/tf/jax/flax) also take 'same' or 'valid'.",
)
@click.option("--output-padding", type=IntList(0), default=None, help="conv_transpose2d only. [default: 0]")
@click.option("-d", "--dilation", type=STEP, default=1, show_default=True)
@click.option("-g", "--groups", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--in-channels", type=click.IntRange(min=1), help="Input channels (for params and MACs).")
@click.option("--out-channels", type=click.IntRange(min=1), help="Output channels.")
@click.option("--batch", type=click.IntRange(min=1), help="Batch size N [default: 1 when channels are known].")
@click.option("--no-bias", is_flag=True, help="The layer has no bias.")
@click.option("--input-shape", type=SHAPE, help="Full input shape N,C,H,W (replaces SIZE, --batch, --in-channels).")
@click.option(
    "--output-size", type=IntList(1), help="Request an output size like forward(x, output_size=...): 12x12 or N,C,H,W.",
)
@click.option(
    "--op", type=click.Choice(["conv_transpose2d", "conv2d"]), default="conv_transpose2d", show_default=True,
    help="The layer kind.",
)
@framework_options
@json_option
def shape(
    size: Any, layer_size: Any, kernel_size: Any, stride: Any, padding: Any, output_padding: Any, dilation: Any,
    groups: int, in_channels: int | None, out_channels: int | None, batch: int | None, no_bias: bool,
    input_shape: Any, output_size: Any, op: str, framework: str | None, pads: Any, auto_pad: str | None,
    output_shape: Any, as_json: bool,
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
      convtool shape 'nn_conv_transpose2d(16, 33, c(3, 5), stride = c(2, 1), padding = c(4, 2))' 50x100
      convtool shape "layers.Conv2DTranspose(64, 3, strides=2, padding='same')" 32 --in-channels 128
      convtool shape 32 --framework onnx -k 3 -s 2 --pads 0,0,1,1
    """
    from .params import ConvParams
    from .report import print_json, render_shape, shape_json
    from .shape import analyze

    if isinstance(size, PastedLayer) or framework is not None:
        shape_framework(size, layer_size, framework, kernel_size, stride, padding, output_padding, dilation, groups,
                        in_channels, out_channels, batch, no_bias, input_shape, output_size, op, pads, auto_pad,
                        output_shape, as_json)
        return
    if pads is not None or auto_pad is not None or output_shape is not None:
        raise click.UsageError("--pads, --auto-pad and --output-shape read another framework's layer: add --framework")
    if layer_size is not None:
        raise click.UsageError("a second SIZE follows a pasted LAYER only")
    if kernel_size is None:
        raise click.UsageError("Missing option '-k' / '--kernel-size'.")
    if input_shape is not None:
        if size is not None or batch is not None or in_channels is not None:
            raise click.UsageError("--input-shape replaces SIZE, --batch and --in-channels: give one or the other")
        if isinstance(input_shape, int) or len(input_shape) < 3:
            raise click.BadParameter("expected N,C,H,W (or N,C,L / N,C,D,H,W)", param_hint="--input-shape")
        batch, in_channels, spatial_size = input_shape[0], input_shape[1], input_shape[2:]
    elif size is None:
        raise click.UsageError("give SIZE (e.g. 50x100) or --input-shape N,C,H,W")
    else:
        spatial_size = size
    if op == "conv2d" and (output_padding is not None or output_size is not None):
        raise click.UsageError("--output-padding and --output-size apply to --op conv_transpose2d only")
    if output_padding is not None and output_size is not None:
        raise click.UsageError(
            "give --output-padding or --output-size, not both (PyTorch ignores output_padding when output_size is given)"
        )
    nd = common_ndim(
        **{"size" if input_shape is None else "input_shape": spatial_size},
        kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation, output_padding=output_padding,
    )
    if batch is None and in_channels is not None:
        batch = 1
    if op == "conv2d":
        params = ConvParams.conv(
            kernel_size, stride, padding, dilation, groups, not no_bias,
            in_channels=in_channels, out_channels=out_channels, ndim=nd,
        )
    else:
        params = ConvParams.conv_transpose(
            kernel_size, stride, padding, output_padding or 0, groups, not no_bias, dilation,
            in_channels=in_channels, out_channels=out_channels, ndim=nd,
        )
    requested = spatial(output_size, nd) if output_size is not None else None
    report = analyze(params, spatial(spatial_size, nd), batch=batch, output_size=requested)
    if as_json:
        print_json(shape_json(report))
    else:
        render_shape(report)


# -- convtool invert (issue 4) ----------------------------------------------------------------


class SizeOrArch(IntList):
    """SIZE (`28`, `50x100`), or the path of an architecture file (`*.yaml`, `*.yml`)."""

    name = "SIZE|ARCH.yaml"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from pathlib import Path

        if isinstance(value, str) and (value.endswith((".yaml", ".yml")) or "/" in value):
            return Path(value)
        return super().convert(value, param, ctx)


def common_ndim(**values: Any) -> int:
    """The number of spatial dims (1, 2 or 3) the per-dim values agree on; a mismatch names the option."""
    ctx = click.get_current_context()
    hints = {p.name: p.get_error_hint(ctx) for p in ctx.command.params}
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
    return seen[1] if seen else 2


@main.command()
@click.argument("size", type=SizeOrArch(minimum=1), metavar="SIZE")
@click.option("--to", "target", type=SIZE, help="Search the ConvTranspose layers that map SIZE to this size.")
@click.option("-k", "--kernel-size", type=IntList(1), help="Conv kernel (first form); fixes the kernel (--to).")
@click.option("-s", "--stride", type=STEP, help="[first form default: 1]; fixes the stride (--to).")
@click.option(
    "-p", "--padding", type=IntList(0, allow=("same", "valid")),
    help="[first form default: 0; also 'same'/'valid']; fixes the padding (--to).",
)
@click.option("-d", "--dilation", type=STEP, help="[first form default: 1]; fixes the dilation (--to).")
@click.option("--output-padding", type=IntList(0), help="--to: fix the output_padding (e.g. 0 for none).")
@click.option("--max-kernel", type=click.IntRange(1, 1024), help="--to: largest kernel tried.  [default: 16]")
@click.option("--max-stride", type=click.IntRange(1, 64), help="--to: largest stride tried.  [default: 8]")
@click.option("--max-dilation", type=click.IntRange(1, 64), help="--to: largest dilation tried.  [default: 3]")
@click.option("--top", type=click.IntRange(min=1), help="--to: how many layers to show.  [default: 10]")
@click.option("--in-channels", type=click.IntRange(min=1), help="Channels of the SIZE tensor (for the code).")
@click.option("--out-channels", type=click.IntRange(min=1), help="Channels of the Conv output / of TARGET.")
@click.option("--input-shape", type=SHAPE, help="ARCH.yaml: mirror for this input N,C,H,W (not the file's).")
@click.option("--format", "fmt", type=click.Choice(["yaml", "torch"]),
              help="ARCH.yaml: print the decoder as YAML layers or as PyTorch code.  [default: yaml]")
@json_option
def invert(
    size: Any, target: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
    output_padding: Any, max_kernel: int | None, max_stride: int | None, max_dilation: int | None,
    top: int | None, in_channels: int | None, out_channels: int | None, input_shape: Any, fmt: str | None,
    as_json: bool,
) -> None:
    """Design upsamplers: undo a Conv2d exactly, search layers that reach a size, or
    mirror an encoder into the decoder that restores its input.

    \b
    convtool invert SIZE -k K [-s S -p P -d D]
      The Conv2d(k, s, p, d) maps SIZE to h; prints the ConvTranspose2d (same k, s, p, d
      and output_padding = (SIZE + 2p - d(k-1) - 1) mod s) that maps h back to SIZE, and
      every other size the Conv2d maps to h, each with its own output_padding.

    \b
    convtool invert SIZE --to TARGET [-k/-s/-p/-d/--output-padding] [--max-*] [--top N]
      Searches every ConvTranspose2d with stride 1-8, kernel 1-16, dilation 1-3, padding
      0..d(k-1) and every legal output_padding (< max(stride, dilation)) that maps SIZE
      to TARGET exactly; -k/-s/-p/-d/--output-padding fix a value (per dim as 3,5), the
      --max-* options narrow or widen the ranges.

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
    No layer in the space: exit 0, naming the nearest targets that have one.

    \b
    convtool invert ARCH.yaml [--input-shape N,C,H,W] [--format yaml|torch]
      Mirrors the file's encoder (its `layers:` when it has no `encoder:`) into the
      decoder that restores the input shape exactly, for the file's input or
      --input-shape (output_padding depends on it): conv2d -> conv_transpose2d with the
      same k, s, p, d, g and the output_padding the sizes need, pools -> transposed
      convolutions of their kernel and stride, norms and activations copied (SPEC §5.5).
      Prints the decoder as an architecture file, as nn.Sequential code, or (--json)
      {"input", "decoder", "restores"}.

    \b
    Examples:
      convtool invert 28 -k 3 -s 2 -p 1
      convtool invert 50x100 -k 3 -s 2 --in-channels 16 --out-channels 32
      convtool invert 28 --to 56
      convtool invert 7x7 --to 64x64 --max-dilation 1 --top 5
      convtool invert 1 --to 4 --json
      convtool invert configs/autoencoder_mirror.yaml --input-shape 1,1,30,30
      convtool invert configs/dcgan_discriminator.yaml --format torch
    """
    from . import design
    from .params import ConvParams
    from .report import invert_json, print_json, render_invert, render_search, search_json

    if not isinstance(size, (int, tuple)):
        others = dict(to=target, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
                      output_padding=output_padding, max_kernel=max_kernel, max_stride=max_stride,
                      max_dilation=max_dilation, top=top, in_channels=in_channels, out_channels=out_channels)
        given = [f"--{name.replace('_', '-')}" for name, value in others.items() if value is not None]
        if given:
            raise click.UsageError(f"{', '.join(given)} do not apply to an architecture file ({size})")
        invert_arch(size, input_shape, fmt, as_json)
        return
    if input_shape is not None or fmt is not None:
        raise click.UsageError("--input-shape and --format apply to `convtool invert ARCH.yaml` only")
    search_only = dict(output_padding=output_padding, max_kernel=max_kernel, max_stride=max_stride,
                       max_dilation=max_dilation, top=top)
    nd = common_ndim(size=size, target=target, kernel_size=kernel_size, stride=stride,
                     padding=padding, dilation=dilation, output_padding=output_padding)
    if target is None:
        given = [f"--{name.replace('_', '-')}" for name, value in search_only.items() if value is not None]
        if given:
            raise click.UsageError(f"{', '.join(given)} apply to the search only: add --to TARGET")
        if kernel_size is None:
            raise click.UsageError("give -k/--kernel-size (undo a Conv2d) or --to TARGET (search upsamplers)")
        conv = ConvParams.conv(
            kernel_size, stride or 1, padding or 0, dilation or 1,
            in_channels=in_channels, out_channels=out_channels, ndim=nd,
        )
        inverse = design.invert(conv, spatial(size, nd))
        if as_json:
            print_json(invert_json(inverse))
        else:
            render_invert(inverse)
        return
    if isinstance(padding, str):
        raise click.BadParameter("the search takes int paddings only", param_hint="'-p' / '--padding'")
    limits = {name: search_only[name] for name in ("max_kernel", "max_stride", "max_dilation")}
    space = design.search_space(
        nd, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
        output_padding=output_padding, **{name: value for name, value in limits.items() if value is not None},
    )
    found = design.search(spatial(size, nd), spatial(target, nd), space)
    best = found.solutions(top or 10, in_channels=in_channels, out_channels=out_channels)
    if as_json:
        print_json(search_json(found, best))
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
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(value))
        unit = match.group(2).lower() if match else ""
        if not match or unit not in self.UNITS:
            self.fail(f"{value!r} is not a memory size like 2GiB, 512MiB or a number of bytes", param, ctx)
        return int(float(match.group(1)) * self.UNITS[unit])


@main.command()
@click.argument("arch", type=click.Path(exists=True, dir_okay=False), metavar="ARCH.yaml")
@click.option("--input-shape", type=SHAPE, help="Input shape N,C,H,W (overrides the file's `input:`).")
@click.option("--batch", type=click.IntRange(min=1), help="Batch size N (overrides the input's N).")
@click.option("--verify", "check", is_flag=True, help="Run the numeric engine through the stack and compare shapes.")
@click.option("--max-memory", type=ByteSize(), default="2GiB", show_default=True,
              help="--verify refuses, before allocating, to run above this estimate.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of --verify's random weights and input.")
@json_option
def run(
    arch: str, input_shape: Any, batch: int | None, check: bool, max_memory: int, seed: int, as_json: bool
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
      convtool run configs/mismatch_unet.yaml      # does not line up: the fix
      convtool run configs/dcgan_generator.yaml --batch 64 --json
    """
    from .arch import StackMismatch, load, propagate, verify
    from .errors import MismatchError
    from .report import print_json, render_mismatch, render_run, run_json

    if input_shape is not None and isinstance(input_shape, int):
        raise click.BadParameter("expected a full shape N,C,H,W (or N,F)", param_hint="--input-shape")
    stack = load(arch)
    try:
        result = propagate(stack, input_shape, batch)
    except StackMismatch as error:
        if not as_json:
            render_mismatch(error)
        raise
    from .valid_sizes import valid_input_sizes

    sizes = valid_input_sizes(stack, result.input)
    checked = verify(result, seed=seed, max_memory=max_memory) if check else None
    if as_json:
        print_json(run_json(result, checked, sizes))
    else:
        render_run(result, checked, sizes)
    if checked is not None and not checked.ok:
        raise MismatchError(
            "the numeric engine's shapes differ from the table at layers "
            + ", ".join(map(str, checked.mismatches))
        )


# -- mirrored decoders and PyTorch export (issue 6) -------------------------------------------


def invert_arch(path: Any, input_shape: Any, fmt: str | None, as_json: bool) -> None:
    """`convtool invert ARCH.yaml`: the mirrored decoder as YAML, PyTorch code or JSON."""
    from .arch import load
    from .export import sequential
    from .mirror import mirror
    from .report import print_json

    if not path.is_file():
        raise click.BadParameter(f"file '{path}' does not exist", param_hint="'ARCH.yaml'")
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
@click.argument("arch", type=click.Path(exists=True, dir_okay=False), metavar="ARCH.yaml")
@click.option("--input-shape", type=SHAPE, help="Input shape N,C,H,W (overrides the file's `input:`).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the file here, not to stdout.")
def export(arch: str, input_shape: Any, output: str | None) -> None:
    """Print the stack as a self-contained PyTorch source file.

    One nn.Module subclass: __init__ builds every layer of the `convtool run` table with
    explicit arguments, in table order, as self.layers[i] (row i of the table); forward
    wires the skip connections (concat with center crop, add). A mirrored decoder is
    written out. `python FILE` runs the file's input through it and prints the output
    shape. A stack that does not line up is refused (exit 1), as `run` explains it.

    \b
    Examples:
      convtool export configs/unet_original.yaml -o unet.py && python unet.py
      convtool export configs/autoencoder_mirror.yaml --input-shape 1,1,30,30
    """
    from pathlib import Path

    from .arch import load, propagate
    from .export import class_name
    from .export import export as export_source

    if input_shape is not None and isinstance(input_shape, int):
        raise click.BadParameter("expected a full shape N,C,H,W (or N,F)", param_hint="--input-shape")
    prop = propagate(load(arch), input_shape)
    source = export_source(prop)
    if output is None:
        click.echo(source, nl=False)
        return
    try:
        Path(output).write_text(source, encoding="utf-8")
    except OSError as error:
        raise ConvtoolError(f"cannot write {output}: {error.strerror}") from None
    click.echo(
        f"wrote {output}: class {class_name(prop.arch.name, prop.arch.file)}, {len(prop.layers)} layers, "
        f"{prop.totals.param_count:,} parameters; run it with `python {output}`",
        err=True,
    )


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
    input_shape: Any, output_size: Any, op: str, pads: Any, auto_pad: str | None, output_shape: Any, as_json: bool,
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
        nd = common_ndim(size=size, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation,
                         output_padding=output_padding, output_shape=output_shape)
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
