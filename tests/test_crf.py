"""The mean-field CRF layer and the ``crf`` softener: boundaries move to the drawn edges."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from sst.core.errors import SSTError
from sst.core.interfaces import PluginContext
from sst.core.models import ModelManager
from sst.core.registry import default_registry
from sst.plugins.softeners.crf import MeanFieldCRF, refine


def star_scene(h: int = 120, w: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """A noisy red five-pointed star on blue, and its true mask."""
    yy, xx = np.mgrid[:h, :w]
    angle, radius = np.arctan2(yy - h / 2, xx - w / 2), np.hypot(yy - h / 2, xx - w / 2)
    star = radius < 0.3 * h + 0.15 * h * np.cos(5 * angle)
    rng = np.random.default_rng(0)
    image = np.where(star[..., None], [200, 60, 40], [40, 90, 200]) + rng.normal(0, 20, (h, w, 3))
    return np.clip(image, 0, 255).astype(np.uint8), star


def coarse_blurred(mask: np.ndarray, stride: int = 8, sigma: float = 3.0) -> np.ndarray:
    """What a stride-8 network sees: the mask averaged over 8x8 cells, upsampled and blurred."""
    h, w = mask.shape
    small = cv2.resize(mask.astype(np.float32), (w // stride, h // stride), interpolation=cv2.INTER_AREA)
    return np.clip(cv2.GaussianBlur(cv2.resize(small, (w, h)), (0, 0), sigma), 0, 1)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_crf_moves_a_blurred_boundary_to_the_drawn_edge() -> None:
    image, star = star_scene()
    p = coarse_blurred(star)
    before = iou(p > 0.5, star)
    q = refine(np.stack([p, 1 - p]), image)
    after = iou(q[0] > 0.5, star)
    assert q.shape == (2, *star.shape)
    assert np.allclose(q.sum(0), 1, atol=1e-3)
    assert before < 0.97 and after > before + 0.02 and after > 0.98


def test_crf_follows_a_shifted_straight_edge() -> None:
    h, w = 96, 128
    yy, xx = np.mgrid[:h, :w]
    truth = xx < 60
    image = np.where(truth[..., None], 220, 30).astype(np.uint8).repeat(3, 2)
    p = np.clip(cv2.GaussianBlur((xx < 66).astype(np.float32), (0, 0), 4), 0, 1)  # 6 px off, blurred
    q = refine(np.stack([p, 1 - p]), image)
    assert iou(p > 0.5, truth) < 0.92 and iou(q[0] > 0.5, truth) > 0.97


def test_softener_sharpens_every_mask_and_checks_shapes(tmp_path: Path) -> None:
    ctx = PluginContext(default_registry(), ModelManager(cache_dir=tmp_path), torch.device("cpu"), print)
    softener = default_registry().create("softener", "crf", ctx)
    image, star = star_scene()
    p = coarse_blurred(star)
    maps = np.stack([p, 1 - p, np.full_like(p, 0.5)]).astype(np.float32)  # an overlapping, uninformative third mask
    out = softener.soften(maps, image)
    assert out.shape == maps.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    assert iou(out[0] > 0.5, star) > iou(p > 0.5, star) + 0.02
    assert iou(out[1] > 0.5, ~star) > iou(p < 0.5, ~star) + 0.02
    with pytest.raises(SSTError, match="do not fit"):
        softener.soften(maps[:, :50], image)


def test_layer_works_on_batches_and_rejects_bad_settings() -> None:
    crf = MeanFieldCRF.for_grid(40)
    image = torch.rand(1, 3, 30, 40)
    unary = torch.randn(3, 4, 30, 40)
    with torch.no_grad():
        out = crf(unary, image)
        single = crf(unary[1:2], image)
    assert out.shape == unary.shape
    assert torch.allclose(out[1:2], single, atol=1e-5)
    with pytest.raises(ValueError):
        MeanFieldCRF(iterations=0)
