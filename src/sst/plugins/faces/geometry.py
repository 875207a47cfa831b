"""Face parts from landmarks: eyes, nose, mouth, the face and the head region.

Parts are polygons in pixel (x, y), the same names from every detector:
``eyes`` (two polygons), ``nose`` (convex hull of the nose points), ``mouth``
(outer lips), ``inner_mouth``, ``outline`` (the jaw, ear to ear through the
chin), and two regions built from the outline in the face's own frame (up is
perpendicular to the line joining the outline's ends, so tilted heads work):

- ``face``: the outline closed by its mirror image about the eyebrow line,
  scaled to FOREHEAD (a share of the brow-to-chin height) above the brows:
  the face up to an estimated hairline;
- ``head``: the same with HEAD_RISE and widened by HEAD_WIDEN about the face's
  centre: face, forehead and the hair around them (the paper's "outline
  extended upwards"; the segmenter intersects it with the person mask).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from sst.core.interfaces import Face

FOREHEAD = 0.5  # hairline above the brows, as a share of brow-to-chin (anthropometric thirds)
HEAD_RISE = 1.5  # crown above the brows, same unit
HEAD_WIDEN = 1.2  # hair reaches beyond the jaw's width


def closed_outline(outline: np.ndarray, brows: np.ndarray, rise: float, widen: float = 1.0) -> np.ndarray:
    """The outline (one ear, chin, other ear) closed by its mirror about the brow line, scaled by ``rise``
    upwards and by ``widen`` sideways, in the frame of the outline's ends."""
    across = outline[-1] - outline[0]
    across = across / (np.linalg.norm(across) + 1e-9)
    up = np.array([across[1], -across[0]])  # image up for an upright face
    centre = outline.mean(0)
    height = (outline - centre) @ up  # per point, above the centre
    brow = float(((brows - centre) @ up).mean())
    side = (outline - centre) @ across
    top_height = brow + rise * (brow - height)
    top = centre + np.outer(side * widen, across) + np.outer(top_height, up)
    return np.concatenate([outline, top[::-1]]).astype(np.float32)


def face_from_parts(landmarks: np.ndarray, outline: np.ndarray, brows: np.ndarray, eyes: Sequence[np.ndarray],
                    nose: np.ndarray, mouth: np.ndarray, inner_mouth: np.ndarray) -> Face:
    """A :class:`Face` with the standard part names every detector provides."""
    outline, brows = outline.astype(np.float32), brows.astype(np.float32)
    return Face(
        landmarks=landmarks.astype(np.float32),
        parts={
            "eyes": [e.astype(np.float32) for e in eyes],
            "nose": [cv2.convexHull(nose.astype(np.float32))[:, 0]],
            "mouth": [mouth.astype(np.float32)],
            "inner_mouth": [inner_mouth.astype(np.float32)],
            "outline": [outline],
            "face": [closed_outline(outline, brows, FOREHEAD)],
            "head": [closed_outline(outline, brows, HEAD_RISE, HEAD_WIDEN)],
        },
    )


def fill(polygons: Sequence[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Float32 (H, W) mask of the union of polygons."""
    mask = np.zeros(shape, np.uint8)
    for polygon in polygons:
        cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1, lineType=cv2.LINE_8)
    return mask.astype(np.float32)


def part_mask(faces: Sequence[Face], part: str, shape: tuple[int, int]) -> np.ndarray:
    """Union over all faces of one part's polygons."""
    return fill([poly for face in faces for poly in face.parts.get(part, [])], shape)
