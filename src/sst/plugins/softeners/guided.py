"""Mask softener ``guided``: the guided filter (He, Sun & Tang 2013), edge-aware.

Each mask is filtered with the colour image as the guide (the paper's colour
version: a per-window linear model ``q = a . I + b`` over RGB), so masks
soften within regions but keep the image's edges, including edges between
colours of equal brightness. Box means (``cv2.boxFilter``) make the cost
independent of the radius: 2 % of the long side; regularisation 1e-3 on a
[0, 1] guide. The filter is linear in the mask, so maps that sum to 1 still
do (up to the final clipping to [0, 1]).
"""

from __future__ import annotations

import cv2
import numpy as np

from sst.core.hookspecs import hookimpl
from sst.core.interfaces import PluginContext

RELATIVE_RADIUS = 0.02
EPS = 1e-3


class GuidedFilter:
    """He et al.'s colour guided filter for one guide image, applied to any number of masks."""

    def __init__(self, guide: np.ndarray, radius: int, eps: float) -> None:
        self.size = (2 * radius + 1, 2 * radius + 1)
        self.guide = guide.astype(np.float32)  # (H, W, 3) in [0, 1]
        self.mean_i = self.mean(self.guide)
        outer = self.guide[..., :, None] * self.guide[..., None, :]
        cov = self.mean(outer.reshape(*outer.shape[:2], 9)).reshape(outer.shape)
        cov -= self.mean_i[..., :, None] * self.mean_i[..., None, :]
        self.inverse = np.linalg.inv(cov + eps * np.eye(3, dtype=np.float32))

    def mean(self, x: np.ndarray) -> np.ndarray:
        """Box mean over the window; channels last (any number of them)."""
        if x.ndim == 3 and x.shape[2] > 4:  # cv2.boxFilter takes at most 4 channels at once
            return np.concatenate([self.mean(x[..., i : i + 3]) for i in range(0, x.shape[2], 3)], axis=2)
        return cv2.boxFilter(x, cv2.CV_32F, self.size, borderType=cv2.BORDER_REFLECT)

    def __call__(self, mask: np.ndarray) -> np.ndarray:
        mask = mask.astype(np.float32)
        mean_p = self.mean(mask)
        cov_ip = self.mean(self.guide * mask[..., None]) - self.mean_i * mean_p[..., None]
        a = np.einsum("hwij,hwj->hwi", self.inverse, cov_ip)
        b = mean_p - (a * self.mean_i).sum(-1)
        return (self.mean(a) * self.guide).sum(-1) + self.mean(b)


class GuidedSoftener:
    """Edge-aware softening: colour guided filter with the image as guide."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def soften(self, maps: np.ndarray, image: np.ndarray) -> np.ndarray:
        if len(maps) == 0:
            return maps
        radius = max(1, round(RELATIVE_RADIUS * max(image.shape[:2])))
        smooth = GuidedFilter(image.astype(np.float32) / 255, radius, EPS)
        return np.clip(np.stack([smooth(m) for m in maps]), 0.0, 1.0)


@hookimpl
def register_softeners(register) -> None:
    register("guided", GuidedSoftener)
