"""Peak memory of a synthesis, estimated before it starts, and the memory there is.

The estimate is the process's memory now (models and images loaded) plus what
the finest level adds, the level that sets the peak:

- the feature network's forward + backward: the bytes autograd saves per input
  pixel, probed once on a small image (whatever the network), scaled to the
  level's pixel count;
- L-BFGS: its history (up to 50 pairs of image-sized vectors, one per
  iteration) and working vectors;
- the style loss: the style features and key patches of every loss layer
  (features, and unit mask patches where there are masks), and the query-side buffers of the search that
  runs there (exact: the query rows; approximate: the query rows, the gathered
  key rows and the nearest-neighbour field), sized from the probed layer shapes.

``NETWORK_FACTOR`` and ``LOSS_FACTOR`` cover what autograd and the allocator
add on top of the tensors named above (the loss terms overcount: most buffers are not alive at once); they were calibrated against measured
peaks at 256..2048 px (``benchmarks/transfer_speed.py``, BENCHMARKS.md).
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from sst.core.interfaces import FeatureNet

PROBE = 64  # px, side of the probe image
LBFGS_HISTORY = 50  # pairs of image-sized vectors L-BFGS keeps (torch.optim.LBFGS history_size)
LBFGS_WORKING = 6  # direction, gradients, iterate, ...
NETWORK_FACTOR = 1.2
LOSS_FACTOR = 0.5
FLOAT = 4
PATCH_PIXELS = 9  # 3x3 patches: a unit mask patch holds mask_channels x 9 values


@dataclass(frozen=True)
class NetworkProfile:
    """What a feature network needs per input pixel, and its taps' channels and downsampling."""

    saved_per_pixel: float  # bytes autograd saves for backward, per input pixel
    taps: dict[str, tuple[int, float]]  # tap -> (channels, input pixels per feature pixel along one side)


def profile_network(net: FeatureNet, taps: Collection[str], device: torch.device) -> NetworkProfile:
    """Run ``net`` on two small images and count what autograd keeps for the backward pass per pixel
    (the difference of the two, so the weights, which are saved whatever the size, do not count)."""

    def saved(side: int) -> tuple[int, dict[str, torch.Tensor]]:
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor) -> None:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            # Nothing kept: the probe never runs backward, and a graph that holds its own outputs is a
            # reference cycle through autograd that Python cannot free (it leaked 27 MB per job).

        image = torch.rand(1, 3, side, side, device=device, requires_grad=True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda nothing: nothing):
            out = net.extract(image, taps)
        return sum(seen.values()), out

    small, _ = saved(PROBE)
    large, out = saved(2 * PROBE)
    shapes = {tap: (int(f.shape[1]), 2 * PROBE / f.shape[-1]) for tap, f in out.items()}
    return NetworkProfile((large - small) / (3 * PROBE**2), shapes)


@dataclass(frozen=True)
class MemoryEstimate:
    """Estimated peak bytes of a run, by part."""

    parts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.parts.values())

    def describe(self) -> str:
        return f"{gib(self.total)} (" + ", ".join(f"{name} {gib(v)}" for name, v in self.parts.items()) + ")"


def gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def estimate_peak(
    profile: NetworkProfile, loss_layers: Sequence[str], content: tuple[int, int], styles: Sequence[tuple[int, int]],
    mask_channels: int, searches: dict[str, str], iterations: int, now: int,
) -> MemoryEstimate:
    """Peak bytes of a synthesis whose finest level is ``content`` (h, w) px with ``styles`` (h, w) px and
    runs ``iterations`` L-BFGS iterations (its history holds at most one pair per iteration).

    ``searches`` says which search each loss layer runs (layers absent: no patch search).
    """
    h, w = content
    pixels = h * w
    network = profile.saved_per_pixel * pixels * NETWORK_FACTOR
    lbfgs = (2 * min(iterations, LBFGS_HISTORY) + LBFGS_WORKING) * 3 * pixels * FLOAT
    loss = 0.0
    for layer in loss_layers:
        channels, down = profile.taps[layer]
        queries = pixels / down**2
        keys = sum(sh * sw for sh, sw in styles) / down**2
        masks = mask_channels * PATCH_PIXELS  # one unit mask patch per key and per query patch
        loss += keys * (3 * channels + masks) * FLOAT + keys * 56  # style features, key pixels (+ copy), tables
        if layer in searches:
            buffers = 2 if searches[layer] == "exact" else 3  # query rows (+ gathered key rows)
            loss += queries * (channels * (1 + buffers) + 5 * channels + 2 * masks) * FLOAT + queries * 16 * 8
    return MemoryEstimate({
        "loaded now": now,
        "network": int(network),
        "optimiser": int(lbfgs),
        "style loss": int(loss * LOSS_FACTOR),
    })


def return_freed_memory() -> None:
    """Hand the memory a finished job freed back to the system (glibc keeps freed heap pages for reuse): a
    process that stylises job after job (video frames, batches, the web page) then holds about 0.8 GB
    between 512 px video frames instead of 1.07 (BENCHMARKS.md, "Video"). A no-op where the C library has
    no ``malloc_trim``."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def resident_bytes() -> int:
    """This process's resident memory now."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def available_bytes(device: torch.device) -> int:
    """Memory a run may still take: free GPU memory on CUDA; else the system's available memory,
    bounded by this process's cgroup limit where there is one."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    available = _meminfo_available()
    limit = _cgroup_room()
    return min(available, limit) if limit is not None else available


def _meminfo_available() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _cgroup_room() -> int | None:
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text())
    except (OSError, ValueError):
        return None
