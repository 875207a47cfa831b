"""Mask softener ``guided``: the guided filter (He, Sun & Tang 2013), edge-aware.

Each mask is filtered with the image's luminance as the guide: masks soften
within regions but keep the image's edges. Radius 2 % of the long side,
regularisation 1e-3 (on a [0, 1] guide).
"""

from __future__ import annotations

import cv2
import numpy as np

from sst.core.hookspecs import hookimpl
from sst.core.interfaces import PluginContext

RELATIVE_RADIUS = 0.02
EPS = 1e-3


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Grey-guide guided filter with box means (O(1) per pixel whatever the radius)."""
    size = (2 * radius + 1, 2 * radius + 1)
    mean = lambda x: cv2.boxFilter(x, cv2.CV_32F, size)  # noqa: E731
    mean_i, mean_p = mean(guide), mean(src)
    var_i = mean(guide * guide) - mean_i * mean_i
    cov_ip = mean(guide * src) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return mean(a) * guide + mean(b)


class GuidedSoftener:
    """Edge-aware softening: guided filter with the image as guide."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def soften(self, maps: np.ndarray, image: np.ndarray) -> np.ndarray:
        if len(maps) == 0:
            return maps
        guide = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
        radius = max(1, round(RELATIVE_RADIUS * max(guide.shape)))
        out = [guided_filter(guide, m.astype(np.float32), radius, EPS) for m in maps]
        return np.clip(np.stack(out), 0.0, 1.0)


@hookimpl
def register_softeners(register) -> None:
    register("guided", GuidedSoftener)
