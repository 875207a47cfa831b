"""Skin detector ``ycbcr``: Brancati, De Pietro, Frucci & Gallo (CVIU 155, 2017).

"Human skin detection through correlation rules between the YCb and YCr
subspaces based on dynamic color clustering" (the paper's [BDPFG17]). Skin
colours form, in the Y-Cr and Y-Cb planes, trapezia whose shape is computed
per image (:func:`trapezia`):

1. Cr_max is the largest Cr value held by more than 0.1 % of the pixels
   (at most 183); Cb_min the smallest such Cb value (at least 77). Cr_min =
   133 and Cb_max = 128 are fixed; Y spans 0..255.
2. The pixels at Cr_max (+-1) give the Y range [Y0, Y1] of the Y-Cr
   trapezium's top (5th and 95th percentiles of their Y); the pixels at
   Cb_min give [Y2, Y3] of the Y-Cb trapezium's bottom. Where fewer than two
   pixels hold that value, the authors' defaults [50, 110] and [140, 200] apply.
3. Per pixel (:func:`skin_ycbcr`): the trapezia's heights at its Y, H_Cr(Y)
   and H_Cb(Y), scaled so the two trapezia have the same area, give the
   expected ratio of Cb distance (from Cb_max) to Cr distance (from Cr_min);
   with the pixel's Cr distance this predicts its Cb (CbS). The pixel is skin
   when Cr - Cb >= I and |Cb - CbS| <= J, the correlation rules C.0 and C.1.
   As in the authors' code nothing else bounds Cr and Cb, so saturated reds
   and oranges pass (the ``portrait`` segmenter keeps only skin connected to a face).

An image whose reddest common Cr is below Cr_min (or whose bluest common Cb is
above Cb_max) has no skin cluster: the map is empty.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sst.core.hookspecs import hookimpl
from sst.core.interfaces import PluginContext

CR_MIN, CR_MAX, CB_MIN, CB_MAX = 133.0, 183.0, 77.0, 128.0
Y_MIN, Y_MAX = 0.0, 255.0
MIN_SHARE = 0.001  # a chroma value counts when more than 0.1 % of the pixels hold it
DEFAULT_Y_CR, DEFAULT_Y_CB = (50.0, 110.0), (140.0, 200.0)


@dataclass(frozen=True)
class Trapezia:
    """The image's skin clusters: Y-Cr trapezium (top Cr_max over [y0, y1]), Y-Cb (bottom Cb_min over [y2, y3])."""

    cr_max: float
    cb_min: float
    y0: float
    y1: float
    y2: float
    y3: float


def _y_range(y: np.ndarray, chroma: np.ndarray, value: float, default: tuple[float, float]) -> tuple[float, float]:
    """5th and 95th percentiles of Y among pixels whose chroma is within 1 of ``value``."""
    ys = y[np.abs(chroma - value) <= 1]
    if ys.size < 2:
        return default
    low, high = np.percentile(ys, [5, 95])
    return (float(low), float(high)) if high > low else default


def trapezia(y: np.ndarray, cr: np.ndarray, cb: np.ndarray) -> Trapezia:
    """The trapezia of one image's Y, Cr, Cb planes (steps 1 and 2)."""
    enough = MIN_SHARE * y.size
    common_cr = np.nonzero(np.bincount(cr.astype(np.int64).ravel(), minlength=256) > enough)[0]
    common_cb = np.nonzero(np.bincount(cb.astype(np.int64).ravel(), minlength=256) > enough)[0]
    cr_max = min(float(common_cr.max()), CR_MAX)  # a 256-bin histogram always has a bin above 0.1 %
    cb_min = max(float(common_cb.min()), CB_MIN)
    return Trapezia(cr_max, cb_min, *_y_range(y, cr, cr_max, DEFAULT_Y_CR), *_y_range(y, cb, cb_min, DEFAULT_Y_CB))


def _ramp(y: np.ndarray, start: float, end: float) -> np.ndarray:
    """0 at ``start``, 1 at ``end`` (linear in Y)."""
    return (y - start) / (end - start) if end != start else np.ones_like(y)


def skin_ycbcr(image: np.ndarray) -> np.ndarray:
    """Binary skin map (float32 0/1) of an RGB uint8 image."""
    y, cr, cb = np.moveaxis(cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb).astype(np.float64), -1, 0)
    t = trapezia(y, cr, cb)
    h_cr, h_cb = t.cr_max - CR_MIN, CB_MAX - t.cb_min
    if h_cr <= 0 or h_cb <= 0:
        return np.zeros(y.shape, np.float32)
    # trapezia heights at each pixel's Y: distance of the Cr top from Cr_min, of the Cb bottom from Cb_max
    top_cr = h_cr * np.where(y < t.y0, _ramp(y, Y_MIN, t.y0), np.where(y < t.y1, 1.0, _ramp(y, Y_MAX, t.y1)))
    bottom_cb = h_cb * np.where(y < t.y2, _ramp(y, Y_MIN, t.y2), np.where(y < t.y3, 1.0, _ramp(y, Y_MAX, t.y3)))
    base_cr, base_cb = t.y1 - t.y0, t.y3 - t.y2
    area_cr, area_cb = (256 + base_cr) * h_cr / 2, (256 + base_cb) * h_cb / 2
    if area_cr > area_cb:  # scale the larger trapezium's height to equal areas
        top_cr = top_cr * area_cb / area_cr
    else:
        bottom_cb = bottom_cb * area_cr / area_cb
    d_cr = cr - CR_MIN
    with np.errstate(divide="ignore", invalid="ignore"):
        d_cb_expected = np.where(top_cr > 0, d_cr * bottom_cb / top_cr, 255.0)
        span = top_cr + bottom_cb
        rule_i = np.abs(span - (d_cr + d_cb_expected)) * min(base_cr, base_cb) / max(base_cr, base_cb, 1e-6)
        rule_j = np.where(span > 0, d_cb_expected * (d_cb_expected + d_cr) / span, 255.0)
    cb_expected = CB_MAX - d_cb_expected
    return ((cr - cb >= rule_i) & (np.abs(cb - cb_expected) <= rule_j)).astype(np.float32)


class YCbCrSkin:
    """Rule-based YCbCr skin detection with per-image trapezia (Brancati et al. 2017)."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def detect(self, image: np.ndarray) -> np.ndarray:
        return skin_ycbcr(image)


@hookimpl
def register_skin_detectors(register) -> None:
    register("ycbcr", YCbCrSkin)
