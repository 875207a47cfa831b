"""Segmenter ``cosegment``: soft masks for any content/style images, with no model beyond VGG-16.

1. Features: VGG-16 relu4_1 and relu5_1 of each image (long side ``size``),
   relu5_1 upsampled to the relu4_1 grid, each layer L2-normalised per
   position, joined with the CIELAB colour (/100, times ``colour_weight``)
   and, optionally, the normalised position (times ``position_weight``).
2. The features of all images together are projected on their first
   ``dims`` principal components and clustered together with k-means
   (k-means++ seeding, the best of 4 seeded starts), so a label means the same
   thing in every image.
3. Soft assignments: softmax(-d^2 / (temperature * m)), m the mean gap between
   the squared distances to the second-nearest and the nearest centre (a
   point with the typical gap is e^(1/temperature) times likelier in its own
   cluster); refined per image by the CRF layer
   (:func:`sst.plugins.softeners.crf.refine`) on the image's colours.

4. Labels the clustering cannot pair carry no information: a label that
   covers much less of the styles than of the content (under ``UNSURE_RATIO``
   times its content share: e.g. a white wall the style has no cluster for)
   would force that content region onto a few stray style pixels, so its
   style masks are zeroed. A content patch of that label then agrees equally
   (not at all) with every style patch and falls back to plain CNNMRF
   matching (:func:`sst.core.patches.patch_score`); a content patch that is
   only partly of that label keeps a pull toward its other labels in
   proportion. The content keeps its masks (they are shown as they are); a
   note names the label.

K is ``request.classes`` (``--classes K``, 2 to 6). Without it, K is chosen by
:func:`choose_k`: k-means for K = 2..6 scored by the mean silhouette of a
seeded sample (higher is better); the notice prints every score. Against the
hand-made maps of the photo pairs and landscapes, the chosen K scored a mean
IoU of 0.47 where a fixed K = 3 scored 0.42 (BENCHMARKS.md). Labels are
``region1``..``regionK`` by decreasing mean area.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from sst.core.errors import SSTError
from sst.core.hookspecs import hookimpl
from sst.core.images import resize, resize_long_side, to_tensor
from sst.core.interfaces import FeatureNet, PluginContext, SegmentRequest, Segmentation, SemanticMasks, Suitability
from sst.plugins.softeners.crf import refine

MAX_K = 6
TAPS = ("relu4_1", "relu5_1")  # vs relu3_1+relu4_1: mean IoU +0.05 (K=3) to +0.08 (benchmarks/)
MIN_SHARE = 0.01  # a region below this share of an image is named in a note
UNSURE_RATIO = 0.25  # a label whose share of the styles is under this times its share of the content is unsure


def image_features(net: FeatureNet, image: np.ndarray, size: int, colour_weight: float,
                   position_weight: float, device: torch.device) -> tuple[np.ndarray, tuple[int, int]]:
    """(h*w, D) features of one image on the grid of its first tap, and that grid's (h, w)."""
    small = resize_long_side(image, size) if max(image.shape[:2]) != size else image
    x = to_tensor(small, device)
    with torch.no_grad():
        taps = net.extract(x, TAPS)
        grid = tuple(taps[TAPS[0]].shape[-2:])
        layers = [F.normalize(F.interpolate(taps[t], size=grid, mode="bilinear", align_corners=False), dim=1)
                  for t in TAPS]
    parts = [torch.cat(layers, 1)[0].flatten(1).T.cpu().numpy()]
    h, w = grid
    lab = cv2.cvtColor(resize(small, (h, w)).astype(np.float32) / 255,
                       cv2.COLOR_RGB2LAB)
    parts.append(colour_weight * lab.reshape(-1, 3) / 100.0)
    yy, xx = np.mgrid[:h, :w]
    parts.append(position_weight * np.stack([yy.ravel() / max(h - 1, 1), xx.ravel() / max(w - 1, 1)], 1))
    return np.concatenate(parts, 1).astype(np.float32), (h, w)


def project(x: np.ndarray, dims: int) -> np.ndarray:
    """Centred ``x`` on its first ``dims`` principal components."""
    centred = torch.from_numpy(x - x.mean(0))
    _, vectors = torch.linalg.eigh(centred.T @ centred)
    return (centred @ vectors[:, -dims:].flip(1)).numpy()


def squared_distances(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return np.maximum((x**2).sum(1)[:, None] - 2 * x @ centres.T + (centres**2).sum(1)[None], 0.0)


def kmeans(x: np.ndarray, k: int, seed: int = 0, restarts: int = 4, iterations: int = 50) -> np.ndarray:
    """(k, D) centres with the lowest inertia over seeded k-means++ starts."""
    rng = np.random.default_rng(seed)
    best, best_inertia = None, np.inf
    for _ in range(restarts):
        centres = x[[rng.integers(len(x))]]
        for _ in range(1, k):
            d = squared_distances(x, centres).min(1)
            centres = np.concatenate([centres, x[[rng.choice(len(x), p=d / d.sum())]]])
        for _ in range(iterations):
            labels = squared_distances(x, centres).argmin(1)
            moved = np.stack([x[labels == j].mean(0) if (labels == j).any() else centres[j] for j in range(k)])
            if np.allclose(moved, centres):
                break
            centres = moved
        inertia = squared_distances(x, centres).min(1).sum()
        if inertia < best_inertia:
            best, best_inertia = centres, inertia
    assert best is not None
    return best


def soft_assign(x: np.ndarray, centres: np.ndarray, temperature: float) -> np.ndarray:
    """(n, k) responsibilities softmax(-d^2 / (temperature * mean margin)), the margin being the gap
    between the squared distances to the second-nearest and the nearest centre."""
    d = squared_distances(x, centres)
    nearest = np.sort(d, 1)[:, :2]
    logits = -(d - nearest[:, :1]) / (temperature * np.mean(nearest[:, 1] - nearest[:, 0]) + 1e-12)
    e = np.exp(logits)
    return e / e.sum(1, keepdims=True)


def silhouette(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient (Rousseeuw 1987) of a labelled sample."""
    d = np.sqrt(squared_distances(x, x))
    ks = np.unique(labels)
    mean_to = np.stack([d[:, labels == j].mean(1) for j in ks], 1)
    own = np.searchsorted(ks, labels)
    counts = np.bincount(own, minlength=len(ks))
    a = mean_to[np.arange(len(x)), own] * counts[own] / np.maximum(counts[own] - 1, 1)  # exclude the point itself
    mean_to[np.arange(len(x)), own] = np.inf
    b = mean_to.min(1)
    s = (b - a) / np.maximum(np.maximum(a, b), 1e-12)
    return float(np.where(counts[own] > 1, s, 0.0).mean())


def choose_k(x: np.ndarray, ks: Iterable[int] = range(2, MAX_K + 1), seed: int = 0,
             sample: int = 1500) -> tuple[int, dict[int, float]]:
    """The K with the highest silhouette of k-means on ``x`` (a seeded sample scores it), and every score."""
    rng = np.random.default_rng(seed)
    part = x[rng.choice(len(x), size=min(sample, len(x)), replace=False)]
    scores = {}
    for k in ks:
        labels = squared_distances(part, kmeans(x, k, seed)).argmin(1)
        scores[k] = silhouette(part, labels) if len(np.unique(labels)) > 1 else -1.0
    return max(scores, key=lambda k: scores[k]), scores


class CoSegmenter:
    """Joint clustering of VGG-16 features over content and styles, refined by a CRF (no extra model)."""

    def __init__(self, ctx: PluginContext, size: int = 320, dims: int = 32, colour_weight: float = 0.5,
                 position_weight: float = 0.0, temperature: float = 1.0, seed: int = 0) -> None:
        self.ctx = ctx
        self.size, self.dims, self.seed, self.temperature = size, dims, seed, temperature
        self.colour_weight, self.position_weight = colour_weight, position_weight
        self.net: FeatureNet = ctx.registry.create("features", "vgg16", ctx)

    @staticmethod
    def suitability(ctx: PluginContext, content: np.ndarray, maps_given: bool) -> Suitability:
        """Any pair of images, with no model beyond VGG-16: the last resort."""
        return Suitability(0.1, "no face in the content and no crfrnn model; 'sst models export crfrnn' builds one")

    def features(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Projected joint features of all images, (sum of h*w, dims), and each image's grid."""
        per_image = [image_features(self.net, img, self.size, self.colour_weight, self.position_weight,
                                    self.ctx.device) for img in images]
        x = np.concatenate([f for f, _ in per_image])
        return project(x, min(self.dims, x.shape[1])), [g for _, g in per_image]

    def segment(self, request: SegmentRequest) -> Segmentation:
        if request.classes is not None and not 2 <= request.classes <= MAX_K:
            raise SSTError(f"--classes {request.classes} is out of range for cosegment; choose 2 to {MAX_K}")
        return self.cosegment((request.content, *request.styles), request.classes)

    def cosegment(self, images: Sequence[np.ndarray], k: int | None = None) -> Segmentation:
        """``k`` soft masks for every image (the first is the content), the same labels in all; K chosen if None."""
        x, grids = self.features(images)
        chosen = ""
        if k is None:
            k, scores = choose_k(x, seed=self.seed)
            chosen = f", K chosen by silhouette ({', '.join(f'{j}: {v:.2f}' for j, v in scores.items())})"
        soft = soft_assign(x, kmeans(x, k, self.seed), self.temperature)
        bounds = np.cumsum([0] + [h * w for h, w in grids])
        maps = [refine(soft[a:b].T.reshape(k, *grid), img)
                for a, b, grid, img in zip(bounds[:-1], bounds[1:], grids, images)]
        order = np.argsort(-np.mean([m.reshape(k, -1).mean(1) for m in maps], 0), kind="stable")
        labels = tuple(f"region{i + 1}" for i in range(k))
        names = ["the content"] + [f"style {i}" for i in range(1, len(images))]
        notes = [f"cosegment: {k} regions clustered jointly over {len(images)} images "
                 f"(VGG-16 {'+'.join(TAPS)} and colour, CRF-refined){chosen}"]
        for label, j in zip(labels, order):
            absent = [name for name, m in zip(names, maps) if (m.argmax(0) == j).mean() < MIN_SHARE]
            if absent:
                notes.append(f"{label} covers under {MIN_SHARE:.0%} of {', '.join(absent)}")
        maps = [m[order] for m in maps]
        for k in unsure_labels(maps[0], maps[1:]):
            notes.append(f"{labels[k]} covers under {UNSURE_RATIO:g} x as much of the styles as of the content: "
                         f"no style patch carries it (plain patch matching there)")
            for m in maps[1:]:
                m[k] = 0.0
        masks = [SemanticMasks(labels, m) for m in maps]
        return Segmentation(masks[0], tuple(masks[1:]), tuple(notes))


def unsure_labels(content: np.ndarray, styles: Sequence[np.ndarray]) -> list[int]:
    """Labels (of (K, H, W) soft maps) whose mean share of the styles is under UNSURE_RATIO x their content share."""
    k = content.shape[0]
    share = lambda m: np.bincount(m.argmax(0).ravel(), minlength=k) / m[0].size  # noqa: E731
    content_share = share(content)
    style_share = np.mean([share(m) for m in styles], 0)
    return [j for j in range(k) if style_share[j] < UNSURE_RATIO * content_share[j]]


@hookimpl
def register_segmenters(register) -> None:
    register("cosegment", CoSegmenter)
