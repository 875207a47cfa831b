"""User-facing errors: one line that says what went wrong and what to do."""

from __future__ import annotations


class SSTError(Exception):
    """An error caused by the user's input or environment.

    The CLI prints ``error: <message>`` and exits with code 2; no traceback.
    Messages are one line and end with what the user can do about it.
    """
