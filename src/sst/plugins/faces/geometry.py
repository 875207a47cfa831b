"""Face parts from landmarks: eyes, nose, mouth, face and the head region.

Parts are polygons in pixel (x, y). ``head`` is the face outline (jaw) closed
by the same outline mirrored upwards about the eyebrow line, raised by half
the face height and widened, so it covers forehead and hair; the segmenter
intersects it with the person mask.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from sst.core.interfaces import Face


HEAD_WIDEN = 1.2  # hair reaches beyond the jaw's width


def head_polygon(jaw: np.ndarray, brow_y: float) -> np.ndarray:
    """Jaw outline (left to right) closed by its mirror above the brows, raised by half the
    face height and widened by HEAD_WIDEN about the face's centre."""
    face_height = float(jaw[:, 1].max() - brow_y)
    centre = float(jaw[:, 0].mean())
    mirrored = jaw[::-1].copy()
    mirrored[:, 1] = 2 * brow_y - mirrored[:, 1] - 0.5 * face_height
    mirrored[:, 0] = centre + (mirrored[:, 0] - centre) * HEAD_WIDEN
    return np.concatenate([jaw, mirrored]).astype(np.float32)


def face_from_parts(landmarks: np.ndarray, jaw: np.ndarray, brows: np.ndarray, eyes: Sequence[np.ndarray],
                    nose: np.ndarray, mouth: np.ndarray, inner_mouth: np.ndarray) -> Face:
    """A :class:`Face` with the standard part names every detector provides."""
    brow_y = float(brows[:, 1].mean())
    top = np.stack([jaw[-1], *brows[::-1].tolist(), jaw[0]]) if len(brows) else jaw[:0]
    face = np.concatenate([jaw, top[1:-1]]) if len(top) else jaw
    return Face(
        landmarks=landmarks.astype(np.float32),
        parts={
            "eyes": [e.astype(np.float32) for e in eyes],
            "nose": [cv2.convexHull(nose.astype(np.float32))[:, 0]],
            "mouth": [mouth.astype(np.float32)],
            "inner_mouth": [inner_mouth.astype(np.float32)],
            "face": [face.astype(np.float32)],
            "head": [head_polygon(jaw.astype(np.float32), brow_y)],
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
