"""The `convtool` console script: Ctrl-C while the command line is still loading exits 130
without a traceback, as it does at every later moment (see `cli.Main`)."""

from __future__ import annotations

import os
import signal


def main() -> None:
    # While the modules load, a KeyboardInterrupt raised inside an import can come out wrapped in
    # another exception (a dataclass's __set_name__ turns it into a RuntimeError): so exit here,
    # from the handler, and give Python's own handler back once the command line is loaded.
    signal.signal(signal.SIGINT, _interrupted_while_loading)
    from .cli import main as command_line

    signal.signal(signal.SIGINT, signal.default_int_handler)
    command_line()


def _interrupted_while_loading(signum: int, frame: object) -> None:
    os._exit(130)
