"""`python -m convtool.reference [DOCS_DIR]`: regenerate the users' reference (default: this checkout's docs/)."""

import sys
from pathlib import Path

from . import write

docs = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "docs"
for path in write(docs):
    print(f"wrote {path}")
