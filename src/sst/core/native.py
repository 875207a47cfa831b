"""Silencing what native libraries print on the process's stderr (libpng's warnings, TFLite's INFO lines)."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Redirect file descriptor 2 to a temporary file for the block; the yielded list receives its lines.

    Native code writes to fd 2 directly, below Python's ``sys.stderr``; what it says is kept for messages
    (e.g. "libpng error: Read Error") instead of appearing as a stray line before sst's own ``error:`` line.
    """
    lines: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (an embedding host): nothing to silence
        yield lines
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines.extend(line for line in sink.read().decode(errors="replace").splitlines() if line.strip())
