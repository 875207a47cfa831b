"""Ray, for ``sst batch --backend ray`` and ``sst video --backend ray``: imported and joined in one place."""

from __future__ import annotations

import os
from types import ModuleType

from sst.core.errors import SSTError


def require_ray() -> ModuleType:
    """The ``ray`` module, or one error line saying how to install it (checked before any work)."""
    try:
        import ray
    except ImportError:
        raise SSTError("--backend ray needs Ray; install it with: pip install 'sst[ray]'") from None
    return ray


def start_ray(address: str | None) -> ModuleType:
    """The ``ray`` module, joined to the cluster at ``address`` (``ray start --head`` prints it) or to a new
    local one with this machine's cores."""
    ray = require_ray()
    if not ray.is_initialized():
        ray.init(address=address, num_cpus=None if address else os.cpu_count(), include_dashboard=False,
                 log_to_driver=False, logging_level="ERROR")
    return ray


def threads_per_worker(workers: int) -> int:
    """Torch threads for each of ``workers`` on this machine's cores."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))
