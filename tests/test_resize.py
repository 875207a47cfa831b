"""Resizing: area averaging when shrinking, a smooth filter when enlarging (no repeated pixels)."""

from __future__ import annotations

import numpy as np

from sst.core.images import resize_long_side


def test_enlarging_a_ramp_gives_intermediate_values() -> None:
    ramp = np.repeat(np.array([[0, 100, 200]], np.uint8)[..., None], 3, axis=2)
    row = resize_long_side(ramp, 6)[0, :, 0].astype(int)
    assert len(set(row.tolist())) == 6  # area interpolation would give 0, 0, 100, 100, 200, 200
    assert (np.diff(row) > 0).all()


def test_shrinking_averages() -> None:
    image = np.zeros((4, 4, 3), np.uint8)
    image[:, 1::2] = 200
    assert (resize_long_side(image, 2) == 100).all()
