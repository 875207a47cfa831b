"""Soft semantic masks: resizing, label alignment and the colour composite."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from sst.core.images import resize
from sst.core.interfaces import SemanticMasks

#: The paper's composite colours (fig. 5), by label; other labels get PALETTE colours.
LABEL_COLOURS: dict[str, tuple[int, int, int]] = {
    "background": (0, 200, 0),
    "body": (220, 0, 0),
    "hair": (255, 140, 0),
    "face": (0, 0, 255),
    "skin": (0, 0, 255),
    "eyes": (0, 255, 255),
    "nose": (255, 255, 0),
    "mouth": (255, 0, 255),
}
PALETTE: tuple[tuple[int, int, int], ...] = (
    (228, 26, 28), (55, 126, 184), (77, 175, 74), (152, 78, 163), (255, 127, 0),
    (255, 255, 51), (166, 86, 40), (247, 129, 191), (153, 153, 153), (0, 206, 209),
)


def resize_maps(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize (K, H, W) maps to ``size`` = (height, width) (:func:`sst.core.images.resize`, clipped to [0, 1])."""
    h, w = size
    if maps.shape[1:] == (h, w):
        return maps.astype(np.float32, copy=False)
    out = [resize(m.astype(np.float32), (h, w)) for m in maps]
    return np.clip(np.stack(out) if out else np.zeros((0, h, w), np.float32), 0.0, 1.0)


def resize_masks(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(K, H, W) mask tensor -> (K, h, w) at a feature map's size, area-averaged (antialiased bilinear)."""
    if tuple(masks.shape[1:]) == tuple(size):
        return masks
    return F.interpolate(masks.unsqueeze(0), size=size, mode="bilinear", antialias=True, align_corners=False)[0]


def colour_of(label: str, index: int) -> tuple[int, int, int]:
    """The composite colour of a label: the paper's for portrait labels, a label's own hex colour
    for manual maps (``#rrggbb``), else a palette colour."""
    if label in LABEL_COLOURS:
        return LABEL_COLOURS[label]
    if label.startswith("#") and len(label) == 7:
        return tuple(int(label[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
    return PALETTE[index % len(PALETTE)]


def composite(masks: SemanticMasks) -> np.ndarray:
    """An RGB uint8 picture of the masks: each label's colour weighted by its soft mask."""
    colours = np.array([colour_of(label, k) for k, label in enumerate(masks.labels)], np.float32)
    mixed = np.einsum("khw,kc->hwc", masks.maps, colours)
    return np.clip(mixed, 0, 255).astype(np.uint8)


def one_hot(labels: np.ndarray, k: int) -> np.ndarray:
    """(H, W) integer labels -> (K, H, W) float32 one-hot maps."""
    return (labels[None] == np.arange(k)[:, None, None]).astype(np.float32)
