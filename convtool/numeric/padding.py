"""The padding modes of PyTorch's convolutions as numpy's: the one map from `padding_mode` to
`np.pad`, and the padding itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(x: npt.NDArray[np.floating], pairs: Sequence[tuple[int, int]], mode: str) -> npt.NDArray[np.floating]:
    """x padded by (before, after) per spatial dim (the last len(pairs) axes), as `F.pad` in
    PyTorch's `padding_mode` (zeros, reflect, replicate or circular).

    >>> pad(np.arange(4.0)[None], [(2, 1)], "reflect")
    array([[2., 1., 0., 1., 2., 3., 2.]])
    """
    widths = [(0, 0)] * (x.ndim - len(pairs)) + [tuple(p) for p in pairs]
    return np.pad(x, widths, mode=MODES[mode])  # type: ignore[call-overload]
