"""Colour preservation by luminance-only transfer (Gatys et al. 2016, "Preserving color").

The style images' luminance is matched to the content's (mean and standard
deviation), synthesis runs on luminance alone (as grey RGB), and the result's
luminance is recombined with the content's chroma (YCrCb).
"""

from __future__ import annotations

import cv2
import numpy as np

from sst.core.images import resize


def luminance(image: np.ndarray) -> np.ndarray:
    """Y of YCrCb as float32 (H, W) in 0..255."""
    return cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)[..., 0].astype(np.float32)


def grey_rgb(y: np.ndarray) -> np.ndarray:
    """Float luminance -> uint8 grey RGB image."""
    return np.repeat(np.clip(y + 0.5, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def luminance_inputs(content: np.ndarray, styles: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Grey content, and grey styles whose luminance mean/std match the content's."""
    yc = luminance(content)
    matched = []
    for style in styles:
        ys = luminance(style)
        matched.append(grey_rgb((ys - ys.mean()) / (ys.std() + 1e-6) * yc.std() + yc.mean()))
    return grey_rgb(yc), matched


def recombine(result: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The result's luminance with the content's chroma, at the result's size."""
    h, w = result.shape[:2]
    ycrcb = cv2.cvtColor(resize(content, (h, w)), cv2.COLOR_RGB2YCrCb)
    ycrcb[..., 0] = cv2.cvtColor(result, cv2.COLOR_RGB2YCrCb)[..., 0]
    return cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB)
