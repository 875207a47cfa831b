"""Rotated and scaled copies of the style images (CNNMRF's style patch rotations and scales).

With ``rotations = n`` each style image contributes copies rotated by
``k * pi / 24`` for ``k = -n..n``; with ``scales = m``, copies scaled by
``1.05 ** j`` for ``j = -m..m`` (all combinations, ``(2n+1)(2m+1)`` copies in
all). Patch losses pool the patches of every copy; Gram losses combine their
statistics like any other style image. Rotation fills the corners by
reflection, so no blank patches appear.
"""

from __future__ import annotations

import cv2
import numpy as np


def transform(image: np.ndarray, angle_deg: float, scale: float, interpolation: int) -> np.ndarray:
    """Rotate about the centre and scale; the canvas grows or shrinks with the scale."""
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle_deg, scale)
    matrix[:, 2] += (size[0] - w) / 2, (size[1] - h) / 2
    return cv2.warpAffine(image, matrix, size, flags=interpolation, borderMode=cv2.BORDER_REFLECT)


def variants(rotations: int, scales: int) -> list[tuple[float, float]]:
    """(angle in degrees, scale) of every copy; (0, 1) comes first."""
    pairs = [(k * 180 / 24, 1.05**j) for k in range(-rotations, rotations + 1) for j in range(-scales, scales + 1)]
    return sorted(pairs, key=lambda p: (p != (0.0, 1.0)))


def augment(images: list[np.ndarray], masks: list[np.ndarray] | None, rotations: int, scales: int
            ) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Every copy of every style image (and of its (K, H, W) masks)."""
    pairs = variants(rotations, scales)
    out_images = [transform(img, a, s, cv2.INTER_LINEAR) for img in images for a, s in pairs]
    if masks is None:
        return out_images, None
    out_masks = [np.stack([transform(ch, a, s, cv2.INTER_LINEAR) for ch in m]) for m in masks for a, s in pairs]
    return out_images, out_masks
