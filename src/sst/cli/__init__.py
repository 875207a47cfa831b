"""The ``sst`` command line (:mod:`sst.cli.app`).

:func:`main` is the entry point. It answers Ctrl-C from its first instant, before the heavy
imports: one line, exit code 130, and no temporaries (every writer removes its own).
"""

from __future__ import annotations

import signal
import sys


class Interrupted(BaseException):
    """Ctrl-C, raised by sst's own handler so that no library turns it into another exit; a command may
    raise it again with what was kept (``Interrupted("the finished frames are kept in ...")``)."""


def _interrupt(signum: int, frame: object) -> None:
    raise Interrupted


def main() -> None:
    signal.signal(signal.SIGINT, _interrupt)
    try:
        from sst.cli.app import main as run_command

        run_command()
    except (Interrupted, KeyboardInterrupt) as exc:
        sys.stderr.write(f"interrupted; {exc.args[0] if exc.args else 'nothing was written'}\n")
        raise SystemExit(130) from None
