"""Side-by-side comparison grids with a label under each image."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from sst.core.images import resize


def labelled_grid(items: Sequence[tuple[str, np.ndarray]], height: int = 256, columns: int | None = None) -> np.ndarray:
    """Images scaled to a common height, laid out in rows of ``columns``, each labelled below."""
    label_h, pad = 24, 4
    tiles = []
    for label, image in items:
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        w = max(1, round(image.shape[1] * height / image.shape[0]))
        tile = np.full((height + label_h, w, 3), 255, np.uint8)
        tile[:height] = resize(image, (height, w))
        cv2.putText(tile, label, (4, height + 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    columns = columns or len(tiles)
    rows = [tiles[i : i + columns] for i in range(0, len(tiles), columns)]
    width = max(sum(t.shape[1] + pad for t in row) for row in rows)
    grid = np.full((len(rows) * (height + label_h + pad), width, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        x = 0
        for tile in row:
            y = r * (height + label_h + pad)
            grid[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
            x += tile.shape[1] + pad
    return grid
