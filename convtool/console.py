"""The `convtool` console script: Ctrl-C while the command line is still loading exits 130
without a traceback, as it does at every later moment (see `cli.Main`)."""

from __future__ import annotations

import os


def main() -> None:
    try:
        from .cli import main as command_line
    except KeyboardInterrupt:
        os._exit(130)
    command_line()
