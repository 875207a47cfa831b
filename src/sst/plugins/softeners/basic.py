"""Mask softeners ``gaussian`` (blur scaled to the image) and ``none`` (binary masks)."""

from __future__ import annotations

import cv2
import numpy as np

from sst.core.hookspecs import hookimpl
from sst.core.interfaces import PluginContext


class GaussianSoftener:
    """Gaussian blur with sigma = 1% of the image's long side (the paper's soft masks)."""

    relative_sigma = 0.01

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def soften(self, maps: np.ndarray, image: np.ndarray) -> np.ndarray:
        sigma = max(1.0, self.relative_sigma * max(maps.shape[1:]))
        blurred = [cv2.GaussianBlur(m.astype(np.float32), (0, 0), sigma) for m in maps]
        return np.clip(np.stack(blurred), 0.0, 1.0) if blurred else maps


class BinarySoftener:
    """No softening: binary masks, each map thresholded at 0.5 (the paper's fig. 21 comparison)."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def soften(self, maps: np.ndarray, image: np.ndarray) -> np.ndarray:
        return (maps >= 0.5).astype(np.float32)


@hookimpl
def register_softeners(register) -> None:
    register("gaussian", GaussianSoftener)
    register("none", BinarySoftener)
