"""Style losses ``mrf`` (CNNMRF, Li & Wand 2016) and ``mrf-semantic`` (Zhao, Rosin & Lai 2017).

``mrf``: every 3x3 patch (stride 1) of the synthesised relu3_1 and relu4_1
features is matched to the style patch with the highest normalised
cross-correlation (exact search, :mod:`sst.core.patches`); the loss is the mean
squared distance to the matched patches, summed over layers. Matches are
recomputed at every evaluation, as in CNNMRF. Several style images pool their
patches: each synthesised patch takes the best match among all of them.

``mrf-semantic`` (the paper's eq. 1, 3, 4): before matching, the K soft mask
channels are concatenated to the features, weighted by ``gamma``: synthesised
patches carry the content's masks, style patches the style's. The mask channels
are scaled by a tenth of the style's mean per-pixel feature norm at each layer,
so ``gamma`` means the same whatever the network and its input scaling (the
paper's Caffe VGG works on 0..255 inputs, torchvision's on normalised ones).
Calibrated so that the paper's default, 20, keeps nearly all matches in their
own region (tests/test_mrf_loss.py); 0 is plain CNNMRF. The mask channels are
constant, so the loss's gradient comes from the feature part alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sst.core.hookspecs import hookimpl
from sst.core.interfaces import LossOptions, PluginContext, StyleTargets
from sst.core.patches import PatchKeys, nearest_patches, prepare_keys


@dataclass
class _LayerTargets:
    """Style patches of one layer, pooled over all style images."""

    keys: list[PatchKeys]  # per style, for the search
    grid_offsets: list[int]  # per style: first index of its patches in the pooled grid
    pixels: torch.Tensor  # (C, P): every style pixel's features, all styles concatenated
    base: torch.Tensor  # (M,): pixel index of each pooled patch's top-left corner
    width: torch.Tensor  # (M,): row length of the patch's style map
    norm2: torch.Tensor  # (M,): squared norm of each pooled patch's features
    style: torch.Tensor  # (M,): which style image each pooled patch comes from


class MRFLoss:
    """CNNMRF patch loss on relu3_1 + relu4_1 (Li & Wand 2016)."""

    layers: tuple[str, ...] = ("relu3_1", "relu4_1")
    content_layer = "relu4_1"
    uses_masks = False

    def __init__(self, ctx: PluginContext, options: LossOptions) -> None:
        self.options = options
        self._targets: dict[str, _LayerTargets] = {}
        self._coverage: dict[str, torch.Tensor] = {}
        self.last_matches: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # layer -> (style id, patch index)

    def prepare(self, targets: StyleTargets) -> None:
        self._style_targets = targets
        p, s = self.options.patch_size, self.options.style_stride
        for layer in self.layers:
            keys, offsets, pixels, base, width, norm2, style = [], [], [], [], [], [], []
            n_pixels = n_patches = 0
            for i, feats in enumerate(targets.style_features):
                f = feats[layer]
                c, hs, ws = f.shape
                extra = self._style_channels(layer, i)
                keys.append(prepare_keys(f if extra is None else torch.cat([f, extra]), p, s))
                hg, wg = keys[-1].grid
                rows = torch.arange(hg, device=f.device) * s
                cols = torch.arange(wg, device=f.device) * s
                base.append((n_pixels + rows[:, None] * ws + cols[None, :]).reshape(-1))
                width.append(torch.full((hg * wg,), ws, device=f.device))
                sq = F.avg_pool2d(f.pow(2).sum(0)[None, None], p, stride=1, divisor_override=1)
                norm2.append(sq[0, 0, ::s, ::s].reshape(-1))
                style.append(torch.full((hg * wg,), i, device=f.device))
                pixels.append(f.reshape(c, hs * ws))
                offsets.append(n_patches)
                n_pixels += hs * ws
                n_patches += hg * wg
            self._targets[layer] = _LayerTargets(
                keys, offsets, torch.cat(pixels, 1), torch.cat(base), torch.cat(width), torch.cat(norm2), torch.cat(style)
            )

    def _style_channels(self, layer: str, style: int) -> torch.Tensor | None:
        """Extra channels appended to style features before matching (none for plain CNNMRF)."""
        return None

    def _query_channels(self, layer: str, size: tuple[int, int]) -> torch.Tensor | None:
        """Extra channels appended to synthesised features before matching."""
        return None

    def match(self, layer: str, features: torch.Tensor) -> torch.Tensor:
        """Index into the pooled style patches of the best match of every patch (stride 1)."""
        t = self._targets[layer]
        query = features.detach()
        extra = self._query_channels(layer, (query.shape[1], query.shape[2]))
        if extra is not None:
            query = torch.cat([query, extra])
        best_idx = best_score = None
        for keys, offset in zip(t.keys, t.grid_offsets):
            idx, score = nearest_patches(query, keys)
            if best_idx is None or best_score is None:
                best_idx, best_score = idx + offset, score
            else:
                better = score > best_score
                best_idx = torch.where(better, idx + offset, best_idx)
                best_score = torch.where(better, score, best_score)
        assert best_idx is not None
        style = t.style[best_idx]
        self.last_matches[layer] = (style, best_idx - torch.tensor(t.grid_offsets, device=style.device)[style])
        return best_idx

    def _coverage_of(self, layer: str, shape: tuple[int, int], device: torch.device) -> torch.Tensor:
        """How many patches cover each pixel of a (H, W) map."""
        cached = self._coverage.get(layer)
        if cached is None or tuple(cached.shape) != shape:
            p = self.options.patch_size
            ones = torch.ones(1, 1, shape[0] - p + 1, shape[1] - p + 1, device=device)
            cached = F.conv_transpose2d(ones, torch.ones(1, 1, p, p, device=device))[0, 0]
            self._coverage[layer] = cached
        return cached

    def __call__(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean squared distance of every patch to its match, summed over layers.

        Computed without unfolding: with ``A`` the sum of matched patches laid back
        onto the map, sum_i |P_i - T_i|^2 = sum(coverage * f^2) - 2 <f, A> + sum_i |T_i|^2,
        whose gradient ``2 (coverage * f - A)`` is exactly that of the unfolded form.
        """
        p = self.options.patch_size
        total = features[self.layers[0]].new_zeros(())
        for layer in self.layers:
            f = features[layer]
            c, h, w = f.shape
            t = self._targets[layer]
            index = self.match(layer, f)
            hq, wq = h - p + 1, w - p + 1
            base, width = t.base[index], t.width[index]
            with torch.no_grad():
                laid = torch.zeros_like(f)
                for dy in range(p):
                    for dx in range(p):
                        laid[:, dy : dy + hq, dx : dx + wq] += t.pixels[:, base + dy * width + dx].view(c, hq, wq)
            coverage = self._coverage_of(layer, (h, w), f.device)
            sq = (coverage * f * f).sum() - 2 * (f * laid).sum() + t.norm2[index].sum()
            total = total + sq / (hq * wq * c * p * p)
        return total


class SemanticMRFLoss(MRFLoss):
    """CNNMRF with gamma-weighted soft mask channels in matching (Zhao, Rosin & Lai 2017, eq. 1, 3, 4)."""

    uses_masks = True

    def prepare(self, targets: StyleTargets) -> None:
        if targets.style_masks is None or targets.content_masks is None:
            raise ValueError("mrf-semantic needs content and style masks")
        self._scale = {  # a tenth of the style's mean per-pixel feature norm
            layer: float(torch.stack([f[layer].norm(dim=0).mean() for f in targets.style_features]).mean()) / 10
            for layer in self.layers
        }
        self._query_masks: dict[str, torch.Tensor] = {}
        super().prepare(targets)

    def _style_channels(self, layer: str, style: int) -> torch.Tensor:
        f = self._style_targets.style_features[style][layer]
        masks = self._style_targets.style_masks[style]  # type: ignore[index]
        return self.options.gamma * self._scale[layer] * _resize(masks, (f.shape[1], f.shape[2]))

    def _query_channels(self, layer: str, size: tuple[int, int]) -> torch.Tensor:
        cached = self._query_masks.get(layer)
        if cached is None or (cached.shape[1], cached.shape[2]) != size:
            masks = self._style_targets.content_masks
            cached = self.options.gamma * self._scale[layer] * _resize(masks, size)  # type: ignore[arg-type]
            self._query_masks[layer] = cached
        return cached


def _resize(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(masks.unsqueeze(0), size=size, mode="bilinear", antialias=True, align_corners=False)[0]


@hookimpl
def register_losses(register) -> None:
    register("mrf", MRFLoss)
    register("mrf-semantic", SemanticMRFLoss)
