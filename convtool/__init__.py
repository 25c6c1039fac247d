"""convtool: shapes, design and verification for transposed convolutions (PyTorch semantics)."""

from .errors import ArchError, ConfigError, ConvtoolError, MismatchError, OutputSizeError
from .params import ConvParams
from .shape import (
    analyze,
    conv_length,
    invert_conv,
    output_padding_for,
    output_shape,
    output_size_range,
    overlap,
    spatial_output,
    transpose_length,
)

__version__ = "0.1.0"

__all__ = [
    "ArchError",
    "ConfigError",
    "ConvParams",
    "ConvtoolError",
    "MismatchError",
    "OutputSizeError",
    "analyze",
    "conv_length",
    "invert_conv",
    "output_padding_for",
    "output_shape",
    "output_size_range",
    "overlap",
    "spatial_output",
    "transpose_length",
]
