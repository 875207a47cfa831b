"""Skin detector ``ycbcr``: Brancati, De Pietro, Frucci & Gallo (CVIU 2017).

"Human skin detection through correlation rules between the YCb and YCr
subspaces based on dynamic color clustering" (the paper's [BDPFG17]). Skin
colours form, in the Y-Cr and Y-Cb planes, trapezia whose shape is computed
per image:

1. Cr_max is the largest Cr value held by more than 0.1 % of the pixels
   (at most 183); Cb_min the smallest such Cb value (at least 77).
2. The pixels at Cr_max (+-1) give the Y range [Y0, Y1] of the Y-Cr
   trapezium's top (5th and 95th percentiles of their Y); the pixels at
   Cb_min give [Y2, Y3] for the Y-Cb trapezium's bottom.
3. For each pixel, the trapezia's heights at its Y, H_Cr(Y) and H_Cb(Y),
   scaled so the two trapezia have the same area, predict the Cb a skin pixel
   with this Cr should have (CbS); the pixel is skin when
   Cr - Cb >= I and |Cb - CbS| <= J, with I and J the paper's correlation
   rules (C.0, C.1).
"""

from __future__ import annotations

import cv2
import numpy as np

from sst.core.hookspecs import hookimpl
from sst.core.interfaces import PluginContext

CR_MIN, CR_MAX, CB_MIN, CB_MAX = 133.0, 183.0, 77.0, 128.0
Y_MIN, Y_MAX = 0.0, 255.0
MIN_SHARE = 0.001  # a chroma value counts when more than 0.1 % of pixels hold it


def _y_range(y: np.ndarray, chroma: np.ndarray, value: float, default: tuple[float, float]) -> tuple[float, float]:
    """5th and 95th percentiles of Y among pixels whose chroma is within 1 of ``value``."""
    ys = y[np.abs(chroma - value) <= 1]
    if ys.size < 2:
        return default
    low, high = np.percentile(ys, [5, 95])
    return (float(low), float(high)) if high > low else default


def skin_ycbcr(image: np.ndarray) -> np.ndarray:
    """Binary skin map (float32 0/1) of an RGB uint8 image."""
    ycrcb = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb).astype(np.float64)
    y, cr, cb = ycrcb[..., 0], ycrcb[..., 1], ycrcb[..., 2]
    enough = MIN_SHARE * y.size
    cr_hist = np.bincount(cr.astype(np.int64).ravel(), minlength=256)
    cb_hist = np.bincount(cb.astype(np.int64).ravel(), minlength=256)
    cr_top = min(float(np.nonzero(cr_hist > enough)[0].max(initial=CR_MAX)), CR_MAX)
    cb_bottom = max(float(np.nonzero(cb_hist > enough)[0].min(initial=CB_MIN)), CB_MIN)
    y0, y1 = _y_range(y, cr, cr_top, (50.0, 110.0))
    y2, y3 = _y_range(y, cb, cb_bottom, (140.0, 200.0))
    cr_max, cb_min = cr_top, cb_bottom
    h_cr, h_cb = cr_max - CR_MIN, CB_MAX - cb_min

    # trapezium heights at each pixel's Y
    hcr = np.where(y < y0, CR_MIN + h_cr * (y - Y_MIN) / max(y0 - Y_MIN, 1e-6),
                   np.where(y < y1, cr_max, CR_MIN + h_cr * (y - Y_MAX) / min(y1 - Y_MAX, -1e-6)))
    hcb = np.where(y < y2, cb_min + h_cb * (y - y2) / min(Y_MIN - y2, -1e-6),
                   np.where(y < y3, cb_min, cb_min + h_cb * (y - y3) / max(Y_MAX - y3, 1e-6)))
    b_cr, b_cb = y1 - y0, y3 - y2
    area_cr = (256 + b_cr) * h_cr / 2
    area_cb = (256 + b_cb) * h_cb / 2
    d_cr, dd_cr, dd_cb = cr - CR_MIN, hcr - CR_MIN, CB_MAX - hcb
    if area_cr > area_cb:
        dd_cr = dd_cr * area_cb / max(area_cr, 1e-6)
    else:
        dd_cb = dd_cb * area_cr / max(area_cb, 1e-6)
    with np.errstate(divide="ignore", invalid="ignore"):
        d_cb_s = np.where(dd_cr > 0, d_cr * dd_cb / dd_cr, 255.0)
        cb_s = CB_MAX - d_cb_s
        shape = min(b_cr, b_cb) / max(b_cr, b_cb, 1e-6)
        rule_i = np.abs((dd_cr + dd_cb) - (d_cr + d_cb_s)) * shape
        rule_j = np.where(dd_cb + dd_cr > 0, d_cb_s * (d_cb_s + d_cr) / (dd_cb + dd_cr), 255.0)
    return ((cr - cb >= rule_i) & (np.abs(cb - cb_s) <= rule_j)).astype(np.float32)


class YCbCrSkin:
    """Rule-based YCbCr skin detection with per-image trapezia (Brancati et al. 2017)."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def detect(self, image: np.ndarray) -> np.ndarray:
        return skin_ycbcr(image)


@hookimpl
def register_skin_detectors(register) -> None:
    register("ycbcr", YCbCrSkin)
