"""The numeric engine: PyTorch's conv{1,2,3}d and conv_transpose{1,2,3}d, and their modules, on
numpy arrays, in any of 1, 2 or 3 spatial dims with the same strategies; and `conv_transpose`,
the transposed convolution with an explicit start crop and output length per dim that every
framework's layer reduces to.

Exact (float64 agrees with torch to 1e-10) and fast. Every strategy is one matrix product per
tile through numpy's BLAS plus a few numpy passes with long inner loops; a cost estimate picks
one per layer and input shape:

- ``columns``: a GEMM into channels-last columns, then per kernel tap a scatter-add (col2im, for
  transposed layers) or a gather before the GEMM (im2col, for convolutions). No padding waste:
  small maps with many channels.
- ``scatter`` (transposed layers): the input is laid out flat, rows padded by a zero guard that
  neighbouring rows share, so that every kernel tap reads at a constant offset. One GEMM per tile
  gives every tap's columns; each stride phase of the output (the sub-pixel decomposition) is
  the sum of its taps' shifted columns, written once into the interleaved output.
- ``gather``: the same flat layout (for convolutions split into stride phases first, so taps are
  offsets again); the shifted inputs of every distinct offset are stacked (im2col) and one GEMM
  yields all output phases: convolutions on larger maps, and transposed layers with few input
  channels per group (depthwise).
- ``shifts`` (convolutions): gather's flat layout without the stack: one GEMM per distinct
  offset reads every stride phase of the input in place, and the products are summed; large
  kernels over their stride (k8 s4), where the stack would repeat the input many times.
- ``im2col`` (convolutions): the classic layout, C_in · taps rows of exactly the output's
  columns, so that one GEMM per image writes the output itself: few input channels, large maps.
- ``gemm``: only for the layers that are one matrix product as they stand, written straight
  into the output: a 1x1 kernel at stride 1 without padding, a transposed layer on a 1x1 input
  (a generator's first layer) and a convolution whose kernel covers its whole input.

Tiles (whole images, or bands of rows of one image) bound the temporary columns at a few MiB
whatever the batch (the 136x136 U-Net layer at batch 16 would need 289 MiB at once); the other
buffers are the size of the input or the output. Big layers are shared out across threads
(images, bands of rows or output channels; see `cost.split`), each thread keeping its BLAS calls on
its own core, so that the numpy passes, not only the products, use every core. Shapes and every
check come from the shape engine (`convtool.shape`), so the messages are PyTorch's.

The package: `functional` and `modules` (the API below), `plan` (what a layer's strategy
needs, computed once per layer and shape), `cost` (the estimate that picks the strategy),
`kernels` (the strategies themselves), `threads` (sharing a layer out, and numpy's BLAS
threads) and `padding` (the padding modes).
"""

from __future__ import annotations

from .functional import (
    conv1d,
    conv2d,
    conv3d,
    conv_transpose,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    run,
)
from .modules import (
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
    init_weights,
    uniform,
)
from .padding import pad
from .plan import STRATEGIES, Plan, make_plan, strategies
from .threads import get_num_threads, set_num_threads

__all__ = [
    "STRATEGIES", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "Plan", "conv1d", "conv2d", "conv3d", "conv_transpose", "conv_transpose1d", "conv_transpose2d",
    "conv_transpose3d", "get_num_threads", "init_weights", "make_plan", "pad", "run", "set_num_threads",
    "strategies", "uniform",
]
