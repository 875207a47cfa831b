"""sst: automatic semantic style transfer.

The Python API: :func:`transfer` with :class:`TransferOptions`; errors caused by
the user's input are :class:`SSTError`.
"""

__version__ = "0.1.0"

from sst.core.errors import SSTError  # noqa: E402
from sst.core.transfer import TransferOptions, TransferResult, transfer  # noqa: E402

__all__ = ["SSTError", "TransferOptions", "TransferResult", "__version__", "transfer"]
