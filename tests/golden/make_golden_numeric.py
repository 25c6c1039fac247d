"""Regenerate tests/golden/numeric.npz: PyTorch's outputs for the numeric engine's golden cases.

Needs torch (`pip install torch==2.13.0`). Run from the repository root:

    python tests/golden/make_golden_numeric.py

The cases and their inputs are defined in tests/support/golden_numeric.py (inputs come from a formula);
the file stores the cases as JSON and torch's output for each, in the case's dtype.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.golden_numeric import GOLDEN, cases, run  # noqa: E402


def main() -> None:
    torch.set_num_threads(1)
    stored = cases()
    outputs = {f"out{i}": run(case, torch) for i, case in enumerate(stored)}
    np.savez_compressed(GOLDEN, cases=np.array(json.dumps(stored)), **outputs)
    size = GOLDEN.stat().st_size
    print(f"wrote {GOLDEN} ({len(stored)} cases, {size / 1024:.0f} KiB, torch {torch.__version__})")


if __name__ == "__main__":
    main()
