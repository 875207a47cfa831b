"""Optical flow for the temporal loss: the warp moves a shifted image back onto itself."""

from __future__ import annotations

import numpy as np
from skimage import data

from sst.core.flow import flow, reliability, warp, warping_error


def test_the_flow_warp_moves_a_shifted_image_back_onto_itself() -> None:
    image = data.astronaut()[100:300, 100:300]
    shifted = np.roll(image, (3, 5), axis=(0, 1))
    backward, forward = flow(image, shifted), flow(shifted, image)
    assert np.allclose(np.median(backward.reshape(-1, 2), 0), (-5, -3), atol=0.5)
    inner = (slice(20, -20), slice(20, -20))
    assert np.abs(warp(image, backward)[inner].astype(int) - shifted[inner]).mean() < 2
    reliable = reliability(backward, forward)
    assert reliable.mean() > 0.8
    assert warping_error(image, shifted, backward, reliable) < 0.2 * np.abs(image.astype(int) - shifted).mean()
