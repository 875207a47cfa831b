"""``sst demo``: stylise an image that a dependency ships with a style the demo draws.

Content: scikit-image's ``astronaut`` photograph. Style: a brush-stroke
painting drawn here (seeded), so the demo needs no files of its own. It runs
plain CNNMRF (``--loss mrf``): the drawn painting has no semantic regions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from sst.core.errors import SSTError
from sst.core.images import save_image
from sst.core.transfer import TransferOptions, transfer
from sst.core.grid import labelled_grid

DEMO_OPTIONS = TransferOptions(size=256, levels=3, iters=60, loss="mrf", seed=0)


def draw_strokes(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A seeded brush-stroke painting: short thick curved strokes in two palettes (warm above, cool below)."""
    rng = np.random.default_rng(seed)
    canvas = np.full((height, width, 3), (235, 225, 200), np.uint8)
    warm = np.array([(200, 60, 30), (240, 170, 40), (150, 40, 60), (250, 220, 120)])
    cool = np.array([(30, 60, 140), (40, 140, 160), (20, 30, 70), (120, 180, 220)])
    for _ in range(2500):
        y, x = int(rng.integers(0, height)), int(rng.integers(0, width))
        palette = warm if y + rng.normal(0, height * 0.1) < height / 2 else cool
        colour = np.clip(palette[rng.integers(len(palette))] + rng.normal(0, 12, 3), 0, 255)
        angle, length = rng.uniform(0, np.pi), rng.uniform(6, 18)
        bend = rng.normal(0, 3, 2)
        points = np.array([[x + t * length * np.cos(angle) + bend[0] * t * t, y + t * length * np.sin(angle) + bend[1] * t * t]
                           for t in np.linspace(-1, 1, 6)], np.int32)
        cv2.polylines(canvas, [points], False, tuple(int(c) for c in colour), int(rng.integers(2, 6)), cv2.LINE_AA)
    return canvas


def astronaut() -> np.ndarray:
    try:
        from skimage import data
    except ImportError as exc:
        raise SSTError("the demo's content image comes from scikit-image; run: pip install 'sst[demo]'") from exc
    return data.astronaut()


def run_demo(
    directory: Path,
    notice: Callable[[str], None] = lambda message: None,
    on_level: Callable[[int, int, tuple[int, int]], Callable[[], None]] | None = None,
) -> list[Path]:
    """Write the demo's content, style, result, sidecar and a side-by-side grid to ``directory``."""
    if directory.exists() and not directory.is_dir():
        raise SSTError(f"{directory} exists and is not a folder; choose another --output")
    content, style = astronaut(), draw_strokes(384, 384)
    content_path, style_path = directory / "astronaut.png", directory / "strokes.png"
    result_path = directory / "astronaut_strokes.png"
    save_image(content_path, content)
    save_image(style_path, style)
    result = transfer(content_path, [style_path], result_path, DEMO_OPTIONS, notice=notice, on_level=on_level)
    grid_path = directory / "grid.png"
    save_image(grid_path, labelled_grid([("content", content), ("style", style), ("mrf", result.image)], height=256))
    return [content_path, style_path, result_path, result_path.with_suffix(".json"), grid_path]
