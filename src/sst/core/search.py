"""Which nearest-patch search runs: exact while it is cheap, PatchMatch above a size.

``exact`` (:func:`sst.core.patches.nearest_patches`) costs one multiply-add per
channel for every (query patch, key patch) pair, so it grows with the square of
the pixel count; ``approx`` (:class:`sst.core.patchmatch.PatchMatch`) costs a
fixed number of candidates per query patch. ``auto`` picks ``approx`` from
``AUTO_PAIRS`` pairs on, where ``benchmarks/transfer_speed.py`` measured it
faster per iteration than ``exact`` (see BENCHMARKS.md).
"""

from __future__ import annotations

import torch

SEARCHES = ("auto", "exact", "approx")
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}  # of the search's vectors
AUTO_PAIRS = 40_000_000  # query patches x key patches of one layer (Freddie -> Mia: 256 px exact, 384 px approx)
# PatchMatch steps at a level's first evaluation (then one per evaluation), and the propagation distances
# (in key steps) they use: from a random field at the first level, from the coarser level's field after.
RANDOM_START_STEPS, RANDOM_START_JUMPS = 6, (8, 4, 2, 1)
UPSAMPLED_STEPS, UPSAMPLED_JUMPS = 2, (4, 2, 1)


def choose_search(search: str, pairs: int) -> str:
    """``exact`` or ``approx`` for a layer with ``pairs`` (query patch, key patch) pairs."""
    if search not in SEARCHES:
        raise ValueError(f"unknown search '{search}'; use one of {', '.join(SEARCHES)}")
    if search == "auto":
        return "approx" if pairs >= AUTO_PAIRS else "exact"
    return search
