"""Long end-to-end runs with the default settings (`make test-slow`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sst.demo import run_demo


@pytest.mark.slow
def test_demo_at_default_iterations_changes_the_image(tmp_path: Path) -> None:
    written = run_demo(tmp_path)
    assert all(p.exists() for p in written)
    from sst.core.images import load_image

    content = load_image(tmp_path / "astronaut.png")
    result = load_image(tmp_path / "astronaut_strokes.png")
    small = content[:: content.shape[0] // result.shape[0], :: content.shape[1] // result.shape[1]][: result.shape[0], : result.shape[1]]
    assert np.abs(small.astype(int) - result.astype(int)).mean() > 10  # stylised, not a copy
