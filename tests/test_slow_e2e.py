"""Long end-to-end runs with the default settings (`make test-slow`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sst.core.images import load_image, resize
from sst.core.metrics import texture_energy
from sst.demo import run_demo


def colour_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Sum over RGB of the L1 distance between 16-bin normalised histograms."""
    return float(sum(np.abs(np.histogram(a[..., c], 16, (0, 256))[0] / a[..., c].size
                            - np.histogram(b[..., c], 16, (0, 256))[0] / b[..., c].size).sum() for c in range(3)))


@pytest.mark.slow
def test_demo_keeps_the_content_and_takes_the_style(tmp_path: Path) -> None:
    written = run_demo(tmp_path)
    assert all(p.exists() for p in written)
    content = load_image(tmp_path / "astronaut.png")
    style = load_image(tmp_path / "strokes.png")
    result = load_image(tmp_path / "astronaut_strokes.png")
    assert result.shape == (256, 256, 3)
    small = resize(content, result.shape[:2])
    grey = [img.astype(float).mean(-1).ravel() for img in (small, result)]
    assert np.corrcoef(*grey)[0, 1] > 0.5  # the astronaut is still there
    assert np.abs(small.astype(int) - result.astype(int)).mean() > 10  # stylised, not a copy
    assert colour_distance(result, style) < 0.8 * colour_distance(small, style)  # the strokes' palette came in
    assert texture_energy(result) > texture_energy(small)  # and their brushwork
