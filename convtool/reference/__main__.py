"""`python -m convtool.reference [DOCS_DIR]`: regenerate the users' reference (default: docs/)."""

import sys
from pathlib import Path

from . import write

for path in write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")):
    print(f"wrote {path}")
