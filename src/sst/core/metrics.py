"""Quality metrics of a stylised image (DESIGN.md §5); none needs training data.

- :func:`semantic_fidelity`: for each 3x3 patch of the output's relu3_1
  features, its nearest style patch (exact search, :mod:`sst.core.patches`);
  the share whose style label (at the patch centre) equals the content label
  there, averaged over labels. Chance is the labels' area share in the style,
  averaged over the same labels: what matching blind to position would score.
- :class:`LPIPS`: LPIPS v0.1, VGG-16 variant (Zhang et al. 2018).
- :func:`region_style_distance`: how much closer each output region's feature
  statistics are to its own style region than to the other style regions.
- :func:`texture_energy`: the output's fine detail (brushwork), the mean
  absolute Laplacian of its luminance; masks that wash texture out lower it.
- :func:`region_texture`: each output region's texture energy over that of its
  own style region (1: as detailed as the region it copies).
- :func:`mask_iou`: IoU of masks against a label map.
- :class:`LandmarkError`: landmark error of the output's face against the
  content's, through the first registered face detector that can be made.

Feature metrics take a feature network (:func:`metric_features`: the one that
offers LPIPS heads, whatever network synthesised the image, so numbers compare
across runs) and run on the CPU. Images are uint8 RGB (H, W, 3); masks (K, H, W) in
[0, 1]; label maps (H, W) integers, resized by nearest-neighbour sampling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from sst.core.errors import SSTError
from sst.core.images import resize, resize_long_side, to_tensor
from sst.core.interfaces import Face, FeatureNet, PluginContext, Segmentation
from sst.core.masks import resize_maps, resize_masks
from sst.core.models import ModelManager
from sst.core.patches import nearest_patches, prepare_keys

FIDELITY_LAYER = "relu3_1"
PATCH = 3
REGION_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
MIN_REGION = 0.005  # regions under this share of an image are too small for statistics

Images = np.ndarray | Sequence[np.ndarray]


def _listed(items: Images) -> list[np.ndarray]:
    return [items] if isinstance(items, np.ndarray) else list(items)


def _features(net: FeatureNet, image: np.ndarray, taps: Sequence[str]) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return {k: v[0] for k, v in net.extract(to_tensor(image), taps).items()}


def sample_labels(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resampling of an (H, W) label map to ``size`` = (h, w), at pixel centres."""
    rows = ((np.arange(size[0]) + 0.5) * labels.shape[0] / size[0]).astype(int)
    cols = ((np.arange(size[1]) + 0.5) * labels.shape[1] / size[1]).astype(int)
    return labels[np.ix_(rows, cols)]


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else math.nan


@dataclass(frozen=True)
class Fidelity:
    score: float  # mean over labels of the share of patches matched inside their own label
    chance: float  # mean over the same labels of their area share in the style
    per_label: dict[int, float]


def semantic_fidelity(
    output: np.ndarray, style: Images, content_labels: np.ndarray, style_labels: Images, net: FeatureNet
) -> Fidelity:
    """Share of output patches whose nearest style patch carries the content's label at that place.

    Several styles pool their patches (the best match among all, as the MRF losses
    do). Labels absent from the style are left out: no patch could match them.
    """
    c = PATCH // 2
    query = _features(net, output, [FIDELITY_LAYER])[FIDELITY_LAYER]
    h, w = query.shape[1:]
    wanted = sample_labels(content_labels, (h, w))[c : h - c, c : w - c].reshape(-1)
    best_score: torch.Tensor | None = None
    matched = np.zeros_like(wanted)
    centres = []
    for image, labels in zip(_listed(style), _listed(style_labels), strict=True):
        keys = _features(net, image, [FIDELITY_LAYER])[FIDELITY_LAYER]
        hk, wk = keys.shape[1:]
        centre = sample_labels(labels, (hk, wk))[c : hk - c, c : wk - c].reshape(-1)
        index, score = nearest_patches(query, prepare_keys([keys], PATCH))
        better = np.ones(len(wanted), bool) if best_score is None else (score > best_score).numpy()
        matched[better] = centre[index.numpy()][better]
        best_score = score if best_score is None else torch.maximum(score, best_score)
        centres.append(centre)
    pooled = np.concatenate(centres)
    per_label, chance = {}, []
    for k in np.unique(wanted):
        share = float((pooled == k).mean())
        if share > 0:
            per_label[int(k)] = float((matched[wanted == k] == k).mean())
            chance.append(share)
    return Fidelity(_mean(list(per_label.values())), _mean(chance), per_label)


class LPIPS:
    """LPIPS v0.1, VGG-16 variant: the learned perceptual distance of Zhang et al. 2018.

    LPIPS's ScalingLayer on [-1, 1] images, ``(x - shift) / scale`` with shift
    (-0.030, -0.088, -0.188) and scale (0.458, 0.448, 0.450), is the ImageNet
    normalisation of [0, 1] images that a VGG-16 feature network applies, so
    that network's relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3 are LPIPS's
    taps: unit-normalised over channels, squared differences weighted by the 1x1
    heads (the model the network names as its ``lpips_heads``), averaged over
    space and summed over layers.
    """

    taps = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")

    def __init__(self, net: FeatureNet, models: ModelManager) -> None:
        model = getattr(net, "lpips_heads", None)
        if model is None:
            raise ValueError(f"LPIPS needs a feature network that names its lpips_heads model; {net.name} does not")
        self.net = net
        heads = load_file(str(models.ensure(model)))
        self.heads = [heads[f"lin{i}.weight"] for i in range(len(self.taps))]

    def _features(self, image: np.ndarray) -> list[torch.Tensor]:
        taps = _features(self.net, image, self.taps)
        return [(x / (x.pow(2).sum(0, keepdim=True).sqrt() + 1e-10))[None] for x in (taps[t] for t in self.taps)]

    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        """Distance of two images of the same size (0 for identical images)."""
        if a.shape != b.shape:
            raise ValueError(f"LPIPS compares images of the same size, not {a.shape} and {b.shape}")
        with torch.no_grad():
            total = sum(F.conv2d((fa - fb).pow(2), w).mean() for fa, fb, w in
                        zip(self._features(a), self._features(b), self.heads))
        return float(total)


@dataclass(frozen=True)
class RegionDistance:
    ratio: float  # mean over labels of ratio_k; below 1: regions look like their own style region
    per_label: dict[int, float]


def _moments(features: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mask-weighted sums (K, 3, C): mass, sum of f, sum of f^2 per mask."""
    m = resize_masks(masks, tuple(features.shape[1:]))
    f = features.reshape(features.shape[0], -1)
    m = m.reshape(m.shape[0], -1)
    mass = m.sum(1, keepdim=True).expand(-1, f.shape[0])
    return torch.stack([mass, m @ f.T, m @ f.pow(2).T], dim=1)


def _mean_std(sums: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = sums[:, 1] / sums[:, 0].clamp_min(1e-12)
    var = sums[:, 2] / sums[:, 0].clamp_min(1e-12) - mean.pow(2)
    return mean, var.clamp_min(0).sqrt()


def region_style_distance(
    output: np.ndarray, style: Images, content_masks: np.ndarray, style_masks: Images, net: FeatureNet
) -> RegionDistance:
    """For each label k: D(out_k, style_k) / mean over j != k of D(out_k, style_j).

    ``D`` compares the per-channel mean and standard deviation of VGG features in
    two regions (mask-weighted) at relu1_1..relu4_1: ``sum_l mean_c[(mu_a - mu_b)^2
    + (sd_a - sd_b)^2] / v_l``, with ``v_l`` the style's mean per-channel variance at
    layer l so that every layer counts alike. Below 1: the output region is closer
    to its own style region than to the others on average. Labels covering under
    ``MIN_REGION`` of the output or of the styles are left out; several styles pool
    their statistics. NaN when fewer than two style regions qualify.
    """
    styles, masks = _listed(style), [torch.from_numpy(m).float() for m in _listed(style_masks)]
    out_feats = _features(net, output, REGION_LAYERS)
    style_feats = [_features(net, s, REGION_LAYERS) for s in styles]
    out_share = content_masks.reshape(len(content_masks), -1).mean(1)
    style_share = sum(m.sum((1, 2)).numpy() for m in masks) / sum(m[0].numel() for m in masks)
    own = [k for k in range(len(content_masks)) if out_share[k] >= MIN_REGION and style_share[k] >= MIN_REGION]
    others = [j for j in range(len(style_share)) if style_share[j] >= MIN_REGION]
    if len(others) < 2:
        return RegionDistance(math.nan, {})
    distance = torch.zeros(len(content_masks), len(style_share), dtype=torch.float64)
    for layer in REGION_LAYERS:
        o_mean, o_std = _mean_std(_moments(out_feats[layer], torch.from_numpy(content_masks).float()))
        s_mean, s_std = _mean_std(sum(_moments(f[layer], m) for f, m in zip(style_feats, masks)))
        pooled = torch.cat([f[layer].reshape(f[layer].shape[0], -1) for f in style_feats], 1)
        d = (o_mean[:, None] - s_mean[None]).pow(2) + (o_std[:, None] - s_std[None]).pow(2)
        distance += (d.mean(2) / pooled.var(1).mean().clamp_min(1e-12)).double()
    per_label = {}
    for k in own:
        rest = [j for j in others if j != k]
        per_label[k] = float(distance[k, k] / distance[k, rest].mean())
    return RegionDistance(_mean(list(per_label.values())), per_label)


def _laplacian(image: np.ndarray) -> np.ndarray:
    """Absolute 3x3 Laplacian of the luminance (0..255 units) of a uint8 RGB image, (H - 2, W - 2)."""
    grey = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return np.abs(4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1] - grey[1:-1, :-2] - grey[1:-1, 2:])


def texture_energy(image: np.ndarray) -> float:
    """Mean absolute 3x3 Laplacian of the luminance (0..255 units) of a uint8 RGB image."""
    return float(_laplacian(image).mean())


@dataclass(frozen=True)
class RegionTexture:
    ratio: float  # area-weighted mean over labels of ratio_k; 1: each region as detailed as its style region
    per_label: dict[int, float]


def region_texture(output: np.ndarray, style: Images, content_labels: np.ndarray,
                   style_labels: Images) -> RegionTexture:
    """For each label k: the output's texture energy inside k over the styles' inside k (pooled).

    A semantic transfer should give each region the detail of the style region it copies: a foggy
    style sky makes a smooth sky, a brushy face a brushy face. Below 1: the region is smoother than its
    style region (washed out); above 1: it took detail from elsewhere. Labels covering under
    ``MIN_REGION`` of the output or of the styles are left out; the mean weights each label by its share
    of the output. NaN when no label qualifies.
    """
    out_lap, out_labels = _laplacian(output), content_labels[1:-1, 1:-1]
    style_laps = [(_laplacian(s), lab[1:-1, 1:-1]) for s, lab in zip(_listed(style), _listed(style_labels))]
    style_total = sum(lab.size for _, lab in style_laps)
    per_label, weights = {}, []
    for k in np.unique(out_labels):
        inside = out_labels == k
        style_pixels = np.concatenate([lap[lab == k] for lap, lab in style_laps])
        if inside.mean() < MIN_REGION or style_pixels.size / style_total < MIN_REGION:
            continue
        per_label[int(k)] = float(out_lap[inside].mean() / max(float(style_pixels.mean()), 1e-6))
        weights.append(float(inside.mean()))
    if not per_label:
        return RegionTexture(math.nan, {})
    return RegionTexture(float(np.average(list(per_label.values()), weights=weights)), per_label)


def mask_iou(masks: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """IoU of each mask (>= ``threshold``) with its label's pixels: (K,), NaN where both are empty."""
    if labels.shape != masks.shape[1:]:
        labels = sample_labels(labels, masks.shape[1:])
    found = masks >= threshold
    truth = labels[None] == np.arange(len(masks))[:, None, None]
    union = (found | truth).sum((1, 2))
    inter = (found & truth).sum((1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), np.nan)


class LandmarkError:
    """Landmark error of outputs against their content, over the content's inter-ocular distance (the
    distance between the means of the face's two ``eyes`` parts).

    Uses the first registered face detector that can be made (its name is in ``detector``); the content's
    face (the largest) is found once, at full size, and its landmarks scaled to each output. Results say
    why they were skipped (no detector, no face in the content); ``found`` tells whether the output still
    has a face.
    """

    def __init__(self, content: np.ndarray, ctx: PluginContext) -> None:
        self.skipped: str | None = "no face detector is registered"
        self.reference: Face | None = None
        self.size = content.shape[:2]
        for name in ctx.registry.names_in_order("face-detector"):
            try:
                self.detector, self.name = ctx.registry.create("face-detector", name, ctx), name
                break
            except SSTError as exc:
                self.skipped = f"face detector {name}: {exc}"
        else:
            return
        self.reference = _largest_face(self.detector.detect(content))
        self.skipped = None if self.reference is not None else "no face found in the content"

    def __call__(self, output: np.ndarray) -> dict[str, object]:
        if self.reference is None:
            return {"skipped": self.skipped}
        scale = np.array([output.shape[1] / self.size[1], output.shape[0] / self.size[0]])
        found = _largest_face(self.detector.detect(output))
        if found is None:
            return {"found": False, "error": None}
        left, right = (e.mean(0) * scale for e in self.reference.parts["eyes"])
        distance = np.linalg.norm(found.landmarks - self.reference.landmarks * scale, axis=1).mean()
        return {"found": True, "error": float(distance / np.linalg.norm(left - right))}


def _largest_face(faces: Sequence[Face]) -> Face | None:
    return max(faces, key=lambda f: np.ptp(f.landmarks[:, 0]) * np.ptp(f.landmarks[:, 1])) if faces else None


def metric_features(ctx: PluginContext) -> FeatureNet:
    """The feature network of the metrics: the first registered that offers LPIPS heads (``lpips_heads``)."""
    for name in ctx.registry.names_in_order("features"):
        if getattr(ctx.registry.get("features", name).factory, "lpips_heads", None):
            return ctx.registry.create("features", name, ctx)
    raise SSTError("no feature network with LPIPS heads is registered; the metrics need one (sst's vgg16)")


ASPECT_TOLERANCE = 0.02  # an output of the content's proportions within rounding; same-ratio sizes are resized


def measure(
    content: np.ndarray, styles: Sequence[np.ndarray], output: np.ndarray, segmentation: Segmentation,
    ctx: PluginContext, net: FeatureNet, lpips_model: LPIPS | None = None, faces: LandmarkError | None = None,
) -> dict[str, object]:
    """Every metric of one output, as a JSON-ready dict (label names as keys, NaN as None).

    The content is resized to the output and the styles to its long side, as the
    synthesis sees them; so are the masks, whose argmax gives the label maps.
    """
    h, w = output.shape[:2]
    ch, cw = content.shape[:2]
    if abs((w / h) / (cw / ch) - 1) > ASPECT_TOLERANCE:
        raise SSTError(f"the output is {w}x{h} but the content is {cw}x{ch} (aspect ratios differ); "
                       "measure the output made from this content, uncropped")
    styles = [resize_long_side(s, max(h, w)) for s in styles]
    names = segmentation.content.labels
    content_masks = resize_maps(segmentation.content.maps, (h, w))
    style_masks = [resize_maps(m.maps, s.shape[:2]) for m, s in zip(segmentation.styles, styles)]
    fidelity = semantic_fidelity(output, styles, content_masks.argmax(0), [m.argmax(0) for m in style_masks], net)
    region = region_style_distance(output, styles, content_masks, style_masks, net)
    texture = region_texture(output, styles, content_masks.argmax(0), [m.argmax(0) for m in style_masks])
    result = {
        "lpips": (lpips_model or LPIPS(net, ctx.models))(resize(content, (h, w)),
                                                        output),
        "semantic_fidelity": {"score": fidelity.score, "chance": fidelity.chance,
                              "per_label": {names[k]: v for k, v in fidelity.per_label.items()}},
        "region_style_distance": {"ratio": region.ratio, "per_label": {names[k]: v for k, v in region.per_label.items()}},
        "texture_energy": texture_energy(output),
        "region_texture": {"ratio": texture.ratio, "per_label": {names[k]: v for k, v in texture.per_label.items()}},
        "face": (faces or LandmarkError(content, ctx))(output),
    }
    return {k: _json_ready(v) for k, v in result.items()}


def _json_ready(value: object) -> object:
    """NaN (undefined, e.g. no label in common) becomes None, which JSON can hold."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    return None if isinstance(value, float) and math.isnan(value) else value
