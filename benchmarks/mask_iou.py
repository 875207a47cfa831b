"""IoU of the automatic portrait masks against neural-doodle's hand-made maps.

Soft masks are thresholded at 0.5; each label is compared with the union of
the map colours that mean it. Writes each image's composite beside its
hand-made map to --out for looking at.

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
from sst.core.transfer import soften
from sst.grid import labelled_grid
from sst.plugins.segmenters.portrait import LABELS, PortraitSegmenter

# label -> (our labels, the map colours that mean it)
COMPARED = {
    "background": (("background",), [(255, 0, 0)]),
    "clothing": (("body",), [(0, 0, 255)]),
    "hair": (("hair",), [(255, 255, 0)]),
    "skin": (("face", "nose"), [(0, 255, 0), (192, 255, 192)]),
    "eyes": (("eyes",), [(191, 191, 191)]),
    "mouth": (("mouth",), [(0, 192, 64), (64, 192, 64)]),
}
IMAGES = {"Freddie": "photo", "Mia": "artwork"}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("bench-out/masks"))
    parser.add_argument("--detectors", nargs="+", default=["dlib68", "facemesh"])
    args = parser.parse_args()
    registry = default_registry()
    ctx = PluginContext(registry, ModelManager(), torch.device("cpu"), lambda m: None)
    softener = registry.create("softener", "gaussian", ctx)
    rows = []
    for detector in [d for d in args.detectors if d in registry.names("face-detector")]:
        segmenter = type("Seg", (PortraitSegmenter,), {"detector": detector})(ctx)
        for name, kind in IMAGES.items():
            image = load_image(args.data / "portraits" / f"{name}.jpg")
            truth = load_image(args.data / "portraits" / f"{name}_sem.png")
            request = SegmentRequest(image, (), content_kind="auto")
            seg = soften(segmenter.segment(request), softener, request).content
            found = seg.maps >= 0.5
            cells = []
            for ours, colours in COMPARED.values():
                a = np.any([found[LABELS.index(label)] for label in ours], axis=0)
                b = np.any([(truth == c).all(-1) for c in colours], axis=0)
                cells.append(f"{iou(a, b):.2f}")
            rows.append(f"| {detector} | {name} ({kind}) | " + " | ".join(cells) + " |")
            save_image(args.out / f"{detector}_{name}.png",
                       labelled_grid([(name, image), (f"{detector} masks", composite(seg)), ("hand-made", truth)]))
    print("| detector | image | " + " | ".join(COMPARED) + " |")
    print("|---|---|" + "---|" * len(COMPARED))
    print("\n".join(rows))


if __name__ == "__main__":
    main()
