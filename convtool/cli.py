"""The command line: parse options, call one library function, hand the result to report.py."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import click

from . import __version__
from .errors import ConvtoolError

# -- option types (syntax and ranges are checked here: exit 2, the option named) ----------


class IntList(click.ParamType):
    """`3`, `3,5` or `3x5`: one int, or one per spatial dim; each at least `minimum`."""

    name = "INT[,INT...]"

    def __init__(self, minimum: int = 0, separators: str = ",x", allow: tuple[str, ...] = ()) -> None:
        self.minimum = minimum
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
        return numbers[0] if len(numbers) == 1 else numbers


SIZE = IntList(minimum=1)
SHAPE = IntList(minimum=1, separators=",")


def json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--json` and turn every ConvtoolError into one sentence on stderr and exit 1."""

    @click.option("--json", "as_json", is_flag=True, help="Print one JSON document (SPEC §6).")
    @functools.wraps(command)
    def wrapper(*args: Any, as_json: bool, **kwargs: Any) -> Any:
        from .report import print_error

        try:
            return command(*args, as_json=as_json, **kwargs)
        except ConvtoolError as error:
            print_error(error, as_json)
            raise SystemExit(1) from None

    return wrapper


def spatial(size: int | tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """A SIZE argument as one int per spatial dim (a single int is a square)."""
    return (size,) * ndim if isinstance(size, int) else size


def ndim_of(*values: Any, default: int = 2) -> int:
    """How many spatial dims the tuples among the values imply."""
    for value in values:
        if isinstance(value, tuple):
            return len(value)
    return default


# -- commands -------------------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="convtool")
def main() -> None:
    """Shape calculator and design tool for transposed convolutions (PyTorch semantics).

    \b
      convtool shape 50x100 -k 3 -s 2 --in-channels 16 --out-channels 33
      convtool invert 28 -k 3 -s 2 -p 1
      convtool run configs/dcgan_generator.yaml
    """


@main.command()
@click.argument("size", type=SIZE, required=False)
@click.option("-k", "--kernel-size", type=IntList(1), required=True, help="Kernel size: 3 or 3,5.")
@click.option("-s", "--stride", type=IntList(1), default=1, show_default=True)
@click.option(
    "-p", "--padding", type=IntList(0, allow=("same", "valid")), default=0, show_default=True,
    help="Ints; conv2d also takes 'same' or 'valid'.",
)
@click.option("--output-padding", type=IntList(0), default=None, help="conv_transpose2d only. [default: 0]")
@click.option("-d", "--dilation", type=IntList(1), default=1, show_default=True)
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
@json_option
def shape(
    size: Any, kernel_size: Any, stride: Any, padding: Any, output_padding: Any, dilation: Any,
    groups: int, in_channels: int | None, out_channels: int | None, batch: int | None, no_bias: bool,
    input_shape: Any, output_size: Any, op: str, as_json: bool,
) -> None:
    """Work out one layer: output size, valid output_size range, params, MACs, overlap.

    \b
    Examples:
      convtool shape --input-shape 20,16,50,100 --out-channels 33 -k 3 -s 2
      convtool shape 50x100 -k 3,5 -s 2,1 -p 4,2
      convtool shape --input-shape 1,16,6,6 --out-channels 16 -k 3 -s 2 -p 1 --output-size 12x12
      convtool shape 64 -k 3 -s 2 -p 1 --op conv2d
    """
    from .params import ConvParams
    from .report import print_json, render_shape, shape_json
    from .shape import analyze

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
    nd = ndim_of(spatial_size, kernel_size, stride, padding, dilation, output_padding)
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
