"""Segmenter ``manual``: colour-coded semantic maps drawn by hand.

Each map has one flat colour per region and the same colour means the same
region in every map (the neural-doodle convention). Labels are the colours
(``#rrggbb``), ordered by their area in the content map.

Rules:

- a map must have its image's aspect ratio (within 2 %); it is resized to the
  image with nearest-neighbour sampling;
- a colour counts as a region where it covers at least 0.1 % of a map; other
  pixels (anti-aliased edges, JPEG noise) take the nearest region colour;
- at most MAX_LABELS regions are kept, the largest over all maps: a map with
  hundreds of colours (a photo given as a map, a gradient) costs the memory of
  MAX_LABELS masks, and one notice says how many colours were merged;
- a colour that only some maps have is kept, and a notice names it and the
  maps that lack it: in those images its mask is empty, so the regions it marks
  are matched by appearance alone.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sst.core.errors import SSTError
from sst.core.hookspecs import hookimpl
from sst.core.images import load_image
from sst.core.interfaces import PluginContext, SegmentRequest, Segmentation, SemanticMasks, Suitability
from sst.core.masks import one_hot

MIN_AREA = 0.001
MAX_LABELS = 16
ASPECT_TOLERANCE = 0.02


def read_map(path: Path, image: np.ndarray, role: str) -> np.ndarray:
    """Load a colour map and resize it to its image; mismatched aspect ratios are refused."""
    colour_map = load_image(path)
    mh, mw = colour_map.shape[:2]
    ih, iw = image.shape[:2]
    if abs((mw / mh) / (iw / ih) - 1) > ASPECT_TOLERANCE:
        raise SSTError(
            f"{role} map {path} is {mw}x{mh} but its image is {iw}x{ih} (aspect ratios differ); "
            "draw the map at the image's proportions"
        )
    return cv2.resize(colour_map, (iw, ih), interpolation=cv2.INTER_NEAREST)


def region_colours(colour_map: np.ndarray) -> dict[tuple[int, int, int], int]:
    """Colours covering at least MIN_AREA of the map, with their pixel counts."""
    colours, counts = np.unique(colour_map.reshape(-1, 3), axis=0, return_counts=True)
    keep = counts >= MIN_AREA * colour_map.shape[0] * colour_map.shape[1]
    return {tuple(int(v) for v in c): int(n) for c, n in zip(colours[keep], counts[keep])}


def label_map(colour_map: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Index of the nearest palette colour for every pixel."""
    pixels = colour_map.reshape(-1, 1, 3).astype(np.int32)
    distance = ((pixels - palette[None].astype(np.int32)) ** 2).sum(-1)
    return distance.argmin(1).reshape(colour_map.shape[:2])


def hex_colour(colour: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour)


class ManualSegmenter:
    """Hand-drawn colour-coded maps (--content-map, --style-map)."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    @staticmethod
    def suitability(ctx: PluginContext, content: np.ndarray, maps_given: bool) -> Suitability:
        """Hand-drawn maps, when given, beat any automatic mask."""
        return Suitability(1.0, "maps given") if maps_given else Suitability(0.0, "no maps given")

    def segment(self, request: SegmentRequest) -> Segmentation:
        if request.content_map is None or len(request.style_maps) != len(request.styles):
            raise SSTError(
                "the manual segmenter needs --content-map and one --style-map per style image; "
                "give them or choose another --segmenter"
            )
        names = [f"content map {request.content_map}"] + [f"style map {p}" for p in request.style_maps]
        maps = [read_map(request.content_map, request.content, "content")] + [
            read_map(p, img, "style") for p, img in zip(request.style_maps, request.styles)
        ]
        found = [region_colours(m) for m in maps]
        areas = {c: sum(f.get(c, 0) / m[..., 0].size for f, m in zip(found, maps)) for f in found for c in f}
        kept = sorted(areas, key=lambda c: (-areas[c], c))[:MAX_LABELS]
        order = sorted(kept, key=lambda c: (-found[0].get(c, 0), c))
        notes = []
        if len(areas) > MAX_LABELS:
            notes.append(f"the maps have {len(areas)} region colours; the {MAX_LABELS} largest are kept and the "
                         f"other {len(areas) - MAX_LABELS} take the nearest kept colour (draw maps with flat colours)")
        lacking = [(hex_colour(c), [name for name, f in zip(names, found) if c not in f]) for c in order]
        lacking = [(colour, missing) for colour, missing in lacking if missing]
        if len(lacking) == 1:
            colour, missing = lacking[0]
            notes.append(f"colour {colour} is missing from {', '.join(missing)}: "
                         "its regions are matched by appearance alone there")
        elif lacking:
            notes.append(f"{len(lacking)} colours are missing from some maps ({', '.join(c for c, _ in lacking)}): "
                         "their regions are matched by appearance alone where they are missing")
        palette = np.array(order, dtype=np.uint8)
        labels = tuple(hex_colour(c) for c in order)
        masks = [SemanticMasks(labels, one_hot(label_map(m, palette), len(order))) for m in maps]
        return Segmentation(masks[0], tuple(masks[1:]), tuple(notes))


@hookimpl
def register_segmenters(register) -> None:
    register("manual", ManualSegmenter)
