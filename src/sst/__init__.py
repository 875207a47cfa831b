"""sst: automatic semantic style transfer.

The Python API: :func:`transfer` with :class:`TransferOptions`; :class:`Stylist` for many jobs; :func:`run_batch`, :func:`stylise_video`; errors caused by
the user's input are :class:`SSTError`. They are imported when first used, so that
``import sst`` (and the command line's first instant) stays light.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_EXPORTS = {"SSTError": "sst.core.errors", "Stylist": "sst.core.stylist", "TransferOptions": "sst.core.options",
            "TransferResult": "sst.core.transfer", "transfer": "sst.core.transfer", "load_image": "sst.core.images",
            "run_batch": "sst.core.batch", "stylise_video": "sst.core.video"}
__all__ = ["SSTError", "Stylist", "TransferOptions", "TransferResult", "__version__", "load_image", "run_batch",
           "stylise_video", "transfer"]


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'sst' has no attribute {name!r}")
