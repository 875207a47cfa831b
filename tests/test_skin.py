"""Skin detector ``ycbcr`` (Brancati et al. 2017): known colours, a photograph, the plugin."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from skimage import data

from sst.core.interfaces import PluginContext
from sst.core.models import ModelManager
from sst.core.registry import default_registry
from sst.plugins.skin.ycbcr import skin_ycbcr, trapezia

# light to dark skin tones, and colours that are not skin (blue, green, greys, purple)
SKIN = [(224, 172, 138), (198, 134, 106), (141, 85, 56), (255, 205, 170), (170, 110, 80)]
NOT_SKIN = [(40, 90, 200), (60, 160, 60), (128, 128, 128), (235, 235, 235), (20, 20, 20), (90, 60, 160)]


def tiles(colours: list[tuple[int, int, int]], size: int = 40) -> np.ndarray:
    """One noisy square per colour, side by side (the rules adapt to the image's own histograms)."""
    rng = np.random.default_rng(0)
    squares = [np.clip(np.full((size, size, 3), c) + rng.normal(0, 2, (size, size, 3)), 0, 255) for c in colours]
    return np.concatenate(squares, axis=1).astype(np.uint8)


def test_known_skin_and_non_skin_colours() -> None:
    colours = SKIN + NOT_SKIN
    share = skin_ycbcr(tiles(colours)).reshape(40, len(colours), 40).mean(axis=(0, 2))
    assert (share[: len(SKIN)] > 0.8).all(), share
    assert (share[len(SKIN):] < 0.05).all(), share


def test_rules_adapt_to_the_image() -> None:
    """A pale tone is skin beside darker skin tones, not beside only cold colours: the trapezia are per image."""
    pale = (236, 200, 180)
    cold = tiles([pale, (128, 128, 128), (40, 90, 200), (60, 160, 60)])
    warm = tiles([pale, (120, 60, 40), (100, 50, 30), (128, 128, 128)])
    assert skin_ycbcr(cold)[:, :40].mean() < 0.05
    assert skin_ycbcr(warm)[:, :40].mean() > 0.95
    planes = lambda image: np.moveaxis(cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb).astype(float), -1, 0)  # noqa: E731
    assert trapezia(*planes(cold)) != trapezia(*planes(warm))


def test_astronaut_face_is_skin_and_the_wall_is_not() -> None:
    image = data.astronaut()
    skin = skin_ycbcr(image)
    assert skin.dtype == np.float32 and skin.shape == image.shape[:2] and set(np.unique(skin)) <= {0.0, 1.0}
    assert skin[115:150, 195:250].mean() > 0.7  # cheeks and nose
    assert skin[20:80, 300:400].mean() < 0.1  # the grey wall behind her


def test_plugin_is_registered() -> None:
    ctx = PluginContext(default_registry(), ModelManager(), torch.device("cpu"), lambda m: None)
    image = tiles(SKIN[:2] + NOT_SKIN[:2])
    np.testing.assert_array_equal(ctx.registry.create("skin-detector", "ycbcr", ctx).detect(image), skin_ycbcr(image))
