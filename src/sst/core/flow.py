"""Optical flow between frames and what the temporal loss needs (Ruder, Dosovitskiy & Brox 2016).

The flow is OpenCV's DIS (in opencv-python, fast on the CPU, dense). ``flow(a, b)`` maps each pixel of
``b`` to where it came from in ``a``, so ``warp(a, flow(a, b))`` is ``a`` moved onto ``b``. A pixel is
reliable where the forward and backward flows undo each other (not occluded) and the flow is smooth
(not a motion boundary), with Ruder et al.'s thresholds.
"""

from __future__ import annotations

import cv2
import numpy as np


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


def flow(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(H, W, 2) float32: for each pixel of ``target``, the offset (dx, dy) to its place in ``source``."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(_grey(target), _grey(source), None)


def warp(image: np.ndarray, offsets: np.ndarray, sharp: bool = False) -> np.ndarray:
    """``image`` sampled at each pixel plus its offset (edges repeated): bilinear, or bicubic with ``sharp``,
    for an image warped frame after frame (bilinear blurs a little more at every frame: measured in
    BENCHMARKS.md, "Video")."""
    h, w = offsets.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, xs + offsets[..., 0], ys + offsets[..., 1], cv2.INTER_CUBIC if sharp else cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def reliability(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """(H, W) float32 in {0, 1}: 1 where a pixel of the new frame is seen in the previous one and moves with
    its neighbours. ``backward`` = flow(previous, new) (new -> previous), ``forward`` = flow(new, previous)."""
    there = warp(forward, backward)  # the forward flow at where each new pixel came from
    round_trip = backward + there
    disoccluded = (round_trip ** 2).sum(-1) > 0.01 * ((backward ** 2).sum(-1) + (there ** 2).sum(-1)) + 0.5
    du = np.stack(np.gradient(backward[..., 0]), -1)
    dv = np.stack(np.gradient(backward[..., 1]), -1)
    boundary = (du ** 2).sum(-1) + (dv ** 2).sum(-1) > 0.01 * (backward ** 2).sum(-1) + 0.002
    return (~(disoccluded | boundary)).astype(np.float32)


def warping_error(previous: np.ndarray, current: np.ndarray, offsets: np.ndarray, reliable: np.ndarray) -> float:
    """Mean absolute difference (0..255) of ``current`` and ``previous`` warped onto it, over reliable pixels."""
    moved = warp(previous.astype(np.float32), offsets)
    diff = np.abs(current.astype(np.float32) - moved).mean(-1)
    return float((diff * reliable).sum() / max(reliable.sum(), 1.0))
