"""Shared fixtures: drawn images and maps (no files from outside the repository)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from sst.core.images import save_image


def stripes(h: int, w: int, colour: tuple[int, int, int], period: int = 6) -> np.ndarray:
    """Diagonal stripes of one colour on white."""
    yy, xx = np.mgrid[:h, :w]
    on = ((xx + yy) // (period // 2)) % 2 == 0
    image = np.full((h, w, 3), 255, np.uint8)
    image[on] = colour
    return image


def dots(h: int, w: int, colour: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """Random dots of one colour on a dark ground."""
    rng = np.random.default_rng(seed)
    image = np.full((h, w, 3), 30, np.uint8)
    for _ in range(h * w // 40):
        cv2.circle(image, (int(rng.integers(w)), int(rng.integers(h))), 2, colour, -1)
    return image


@pytest.fixture
def two_region_pair(tmp_path: Path) -> dict[str, Path]:
    """The drawn two-region pair (:func:`two_region_files`) in the test's folder."""
    return two_region_files(tmp_path)


def two_region_files(folder: Path) -> dict[str, Path]:
    """Content: stripes everywhere, labelled red on the left and blue on the right.
    Style: dots on top (blue), stripes below (red).

    By appearance every content patch resembles the style's stripes; only the
    labels say that the right half should take the dots.
    """
    h, w = 96, 128
    content = stripes(h, w, (200, 40, 40))
    style = np.concatenate([dots(h // 2, w, (60, 240, 240), seed=1), stripes(h // 2, w, (40, 40, 200))], axis=0)
    content_map = np.zeros((h, w, 3), np.uint8)
    content_map[:, : w // 2] = (255, 0, 0)
    content_map[:, w // 2 :] = (0, 0, 255)
    style_map = np.zeros((h, w, 3), np.uint8)
    style_map[: h // 2] = (0, 0, 255)
    style_map[h // 2 :] = (255, 0, 0)
    paths = {name: folder / f"{name}.png" for name in ("content", "style", "content_map", "style_map")}
    for name, image in zip(paths, (content, style, content_map, style_map)):
        save_image(paths[name], image)
    return paths


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m sst ARGS`` as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "sst", *args], capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=600,
    )
