"""Resizing: area averaging when shrinking, a smooth filter when enlarging (no repeated pixels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import sst
from sst.core.colour import recombine
from sst.core.images import resize_long_side
from sst.core.masks import resize_maps


def test_enlarging_a_ramp_gives_intermediate_values() -> None:
    ramp = np.repeat(np.array([[0, 100, 200]], np.uint8)[..., None], 3, axis=2)
    row = resize_long_side(ramp, 6)[0, :, 0].astype(int)
    assert len(set(row.tolist())) == 6  # area interpolation would give 0, 0, 100, 100, 200, 200
    assert (np.diff(row) > 0).all()


def test_shrinking_averages() -> None:
    image = np.zeros((4, 4, 3), np.uint8)
    image[:, 1::2] = 200
    assert (resize_long_side(image, 2) == 100).all()


def test_masks_and_chroma_enlarge_smoothly() -> None:
    """The mask resizer and --preserve-colour's chroma go through the same resize: no blocks of repeated values."""
    ramp = np.array([[[0.0, 0.5, 1.0]]], np.float32)  # one (1, 1, 3) mask channel
    row = resize_maps(ramp, (1, 6))[0, 0]
    assert len(set(np.round(row, 4).tolist())) == 6 and row.min() >= 0 and row.max() <= 1
    content = np.zeros((1, 3, 3), np.uint8)
    content[0, :, 0] = (0, 120, 240)  # red ramp: the chroma varies
    result = recombine(np.full((1, 6, 3), 128, np.uint8), content)
    assert len(set(result[0, :, 0].tolist())) >= 5


def test_one_resize_function() -> None:
    """Every picture resize in sst goes through sst.core.images.resize (label maps use nearest where read)."""
    root = Path(sst.__file__).parent
    calls = {str(p.relative_to(root)): p.read_text().count("cv2.resize(") for p in root.rglob("*.py")}
    assert {k: v for k, v in calls.items() if v} == {"core/images.py": 1, "plugins/segmenters/manual.py": 1}
