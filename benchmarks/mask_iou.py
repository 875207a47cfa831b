"""IoU of the automatic portrait masks against neural-doodle's hand-made maps.

Runs ``portrait`` (dlib68 landmarks) and ``portrait-facemesh`` on Freddie (a
photograph) and Mia (a painting), each image on its own with kind ``auto``.
Soft masks (after the default ``gaussian`` softener, as ``sst run`` uses them)
are thresholded at 0.5. Every map pixel takes the nearest of the map's colours
(edges are anti-aliased); each label is compared with the colours that mean it:
background = red, clothing = blue (our body), hair = yellow (the maps count
eyebrows and moustache as hair), skin = green and the darker-green ears (our
face), eyes = grey, nose = light green, mouth = the grey-green lips. The maps'
1-px black frame is left out. Writes, per segmenter and image, the photo, our
composite and the hand-made map side by side to --out.

    .venv/bin/python benchmarks/mask_iou.py --data ../shared/data --out bench-out/masks
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from sst.core.images import load_image, save_image
from sst.core.interfaces import PluginContext, SegmentRequest
from sst.core.masks import composite
from sst.core.models import ModelManager
from sst.core.registry import default_registry
from sst.core.stylist import soften
from sst.core.grid import labelled_grid

MAP_COLOURS = {
    "background": [(255, 0, 0)], "clothing": [(0, 0, 255)], "hair": [(255, 255, 0)],
    "skin": [(0, 255, 0), (0, 192, 64)], "eyes": [(191, 191, 191)], "nose": [(192, 255, 192)],
    "mouth": [(64, 192, 64)],
}
OURS = {"background": "background", "clothing": "body", "hair": "hair", "skin": "face", "eyes": "eyes",
        "nose": "nose", "mouth": "mouth"}
SEGMENTERS = {"portrait": "dlib68", "portrait-facemesh": "facemesh"}
IMAGES = ("Freddie", "Mia")


def map_labels(colour_map: np.ndarray) -> dict[str, np.ndarray]:
    """Boolean region per compared label: each pixel takes its nearest map colour; the frame is dropped."""
    names = [name for name, colours in MAP_COLOURS.items() for _ in colours]
    palette = np.array([c for colours in MAP_COLOURS.values() for c in colours], np.int32)
    distance = ((colour_map[:, :, None, :].astype(np.int32) - palette) ** 2).sum(-1)
    nearest = distance.argmin(-1)
    inside = np.zeros(nearest.shape, bool)
    inside[1:-1, 1:-1] = True
    return {name: np.isin(nearest, [i for i, n in enumerate(names) if n == name]) & inside for name in MAP_COLOURS}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("bench-out/masks"))
    parser.add_argument("--softener", default="gaussian")
    args = parser.parse_args()
    registry = default_registry()
    notes: list[str] = []
    ctx = PluginContext(registry, ModelManager(), torch.device("cpu"), notes.append)
    softener = registry.create("softener", args.softener, ctx)
    rows = []
    for segmenter_name, detector in SEGMENTERS.items():
        segmenter = registry.create("segmenter", segmenter_name, ctx)
        for name in IMAGES:
            image = load_image(args.data / "portraits" / f"{name}.jpg")
            truth_map = load_image(args.data / "portraits" / f"{name}_sem.png")
            truth = map_labels(truth_map)
            request = SegmentRequest(image, ())
            raw = segmenter.segment(request)
            masks = soften(raw, softener, request).content
            kind = next(note.split("treated as ")[1].split(" ")[0] for note in raw.notes if "treated as" in note)
            found = {label: masks.maps[masks.labels.index(label)] >= 0.5 for label in masks.labels}
            cells = [f"{iou(found[OURS[label]], truth[label]):.2f}" for label in MAP_COLOURS]
            rows.append(f"| {detector} | {name} ({kind}) | " + " | ".join(cells) + " |")
            save_image(args.out / f"{detector}_{name}.png",
                       labelled_grid([(name, image), (f"{segmenter_name} ({kind})", composite(masks)),
                                      ("hand-made", truth_map)]))
    print("| detector | image (kind) | " + " | ".join(MAP_COLOURS) + " |")
    print("|---|---|" + "---|" * len(MAP_COLOURS))
    print("\n".join(rows))
    for note in dict.fromkeys(notes):
        print(f"note: {note}")


if __name__ == "__main__":
    main()
