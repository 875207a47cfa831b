"""sst: automatic semantic style transfer.

The Python API: :func:`transfer` with :class:`TransferOptions`; errors caused by
the user's input are :class:`SSTError`. They are imported when first used, so that
``import sst`` (and the command line's first instant) stays light.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {"SSTError": "sst.core.errors", "TransferOptions": "sst.core.transfer",
            "TransferResult": "sst.core.transfer", "transfer": "sst.core.transfer"}
__all__ = ["SSTError", "TransferOptions", "TransferResult", "__version__", "transfer"]


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sst' has no attribute {name!r}")
