"""Mean IoU of ``cosegment`` masks against hand-made semantic maps.

Pairs (content, style): photo-pairs ``inN``/``tarN`` and landscapes
``Monet``/``Renoir``, each image with its ``_sem.png`` map. Map colours are
cleaned: colours closer than 40 (RGB) to a more frequent one are merged, and
colours under 1 % of both maps are dropped (their pixels take the nearest kept
colour). Masks are hardened by argmax. Clusters are matched to map labels
one-to-one per pair (the same matching for both images: a label must mean the
same thing in both), maximising the summed IoU exactly; IoU is pooled over the
pair's pixels and averaged over the map's labels (an unmatched label scores 0).

Columns: IoU with K = 3 (the default), with K = the map's label count (at most
6), and with K chosen by ``choose_k`` (silhouette over 2..6).

    .venv/bin/python benchmarks/cosegment_quality.py --data ../shared/data --composites /tmp/coseg
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from sst.core.images import load_image, resize, save_image
from sst.core.interfaces import PluginContext, SemanticMasks
from sst.core.masks import composite
from sst.core.models import ModelManager
from sst.core.registry import default_registry
from sst.plugins.segmenters.cosegment import MAX_K, CoSegmenter, choose_k
from sst.plugins.segmenters.manual import label_map, read_map

MERGE_DISTANCE = 40
MIN_SHARE = 0.01


def pairs(data: Path) -> list[tuple[str, Path, Path]]:
    photo = sorted((data / "photo-pairs").glob("in*_sem.png"), key=lambda p: int(p.stem[2:-4]))
    found = [(f"photo {p.stem[2:-4]}", data / "photo-pairs" / f"{p.stem[:-4]}.png",
              data / "photo-pairs" / f"tar{p.stem[2:-4]}.png") for p in photo]
    return found + [("Monet / Renoir", data / "landscapes" / "Monet.jpg", data / "landscapes" / "Renoir.jpg")]


def palette(maps: list[np.ndarray]) -> np.ndarray:
    """The pair's label colours: frequent colours, near-duplicates merged, rare ones dropped."""
    colours, counts = np.unique(np.concatenate([m.reshape(-1, 3) for m in maps]), axis=0, return_counts=True)
    frequent = colours[np.argsort(-counts)][: int(np.sum(counts >= 0.001 * counts.sum()))].astype(np.int32)
    kept: list[np.ndarray] = []
    for c in frequent:
        if all(np.linalg.norm(c - k) >= MERGE_DISTANCE for k in kept):
            kept.append(c)
    labels = [label_map(m, np.array(kept)) for m in maps]
    share = np.max([np.bincount(lab.ravel(), minlength=len(kept)) / lab.size for lab in labels], 0)
    return np.array(kept, dtype=np.uint8)[share >= MIN_SHARE]


def best_matching(iou: np.ndarray) -> float:
    """Max summed IoU over one-to-one matchings of clusters (rows) to labels (columns), by DP over label subsets."""
    k, labels = iou.shape
    best = {0: 0.0}
    for i in range(k):
        nxt = dict(best)  # cluster i left unmatched
        for mask, value in best.items():
            for j in range(labels):
                if not mask >> j & 1:
                    key = mask | 1 << j
                    nxt[key] = max(nxt.get(key, -1.0), value + iou[i, j])
        best = nxt
    return max(best.values())


def mean_iou(masks: list[SemanticMasks], truths: list[np.ndarray], labels: int) -> float:
    pred = np.concatenate([m.maps.argmax(0).ravel() for m in masks])
    truth = np.concatenate([t.ravel() for t in truths])
    k = masks[0].maps.shape[0]
    iou = np.zeros((k, labels))
    for i in range(k):
        for j in range(labels):
            inter = np.sum((pred == i) & (truth == j))
            iou[i, j] = inter / max(np.sum((pred == i) | (truth == j)), 1)
    return best_matching(iou) / labels


def panel(image: np.ndarray, height: int = 200) -> np.ndarray:
    h, w = image.shape[:2]
    return resize(image, (height, round(w * height / h)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--composites", type=Path, help="write image | map | masks panels here")
    args = parser.parse_args()
    torch.set_num_threads(2)
    ctx = PluginContext(default_registry(), ModelManager(), torch.device("cpu"), lambda _: None)
    segmenter = CoSegmenter(ctx)
    rows = []
    for name, content_path, style_path in pairs(args.data):
        images = [load_image(content_path), load_image(style_path)]
        colour_maps = [read_map(p.with_name(p.stem + "_sem.png"), img, "hand") for p, img in zip((content_path, style_path), images)]
        colours = palette(colour_maps)
        truths = [label_map(m, colours) for m in colour_maps]
        n = len(colours)
        x, _ = segmenter.features(images)
        auto_k, _ = choose_k(x)
        scores, seconds = {}, {}
        for key, k in (("3", 3), ("labels", min(n, MAX_K)), ("auto", auto_k)):
            start = time.perf_counter()
            seg = segmenter.cosegment(images, k)
            seconds[key] = time.perf_counter() - start
            masks = [seg.content, *seg.styles]
            scores[key] = mean_iou(masks, truths, n)
            if args.composites and key == "labels":
                args.composites.mkdir(parents=True, exist_ok=True)
                strips = [np.concatenate([panel(img), panel(cm), panel(composite(m))], 1)
                          for img, cm, m in zip(images, colour_maps, masks)]
                width = max(s.shape[1] for s in strips)
                strips = [np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0))) for s in strips]
                save_image(args.composites / f"{name.replace(' / ', '-').replace(' ', '')}.png", np.concatenate(strips))
        rows.append((name, n, scores["3"], min(n, MAX_K), scores["labels"], auto_k, scores["auto"], seconds["3"]))
        print(f"{name}: {rows[-1][2:]}", flush=True)
    print("\n| pair | map labels | IoU K=3 | K=labels | IoU | K auto | IoU | s (K=3) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, n, s3, kl, sl, ka, sa, sec in rows:
        print(f"| {name} | {n} | {s3:.3f} | {kl} | {sl:.3f} | {ka} | {sa:.3f} | {sec:.1f} |")
    means = np.mean([[r[2], r[4], r[6], r[7]] for r in rows], 0)
    print(f"| **mean** | | **{means[0]:.3f}** | | **{means[1]:.3f}** | | **{means[2]:.3f}** | {means[3]:.1f} |")


if __name__ == "__main__":
    main()
