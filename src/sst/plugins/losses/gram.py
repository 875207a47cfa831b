"""Style losses ``gram`` (Gatys, Ecker & Bethge 2015) and ``gram-guided`` (Gatys et al. 2017).

``gram``: the style of a layer is its Gram matrix ``G = F F^T / (h w)`` (F: C x hw
features), the mean outer product of its pixels' features, so it does not
depend on the image size. The loss is ``mean_l mse(G_l(x), G_l(style))`` over
relu1_1 .. relu5_1 (Gatys's layers, equal weights). Gatys's
``E_l = sum (G - A)^2 / (4 N^2 M^2)`` with unnormalised Gram matrices is exactly
``mse(G/M, A/M) / 4``: the constant 1/4 is left to ``style_weight``. The content
layer is relu4_2, as in the paper. Several style images: their Gram matrices
are averaged with equal weights (each image counts once, whatever its size).

``gram-guided`` (spatial control, Gatys et al. 2017, section 4.1): one guided
Gram matrix per mask channel k, ``G_k = (F m_k)(F m_k)^T / sum(m_k^2)``, with the
channel's soft mask ``m_k`` in [0, 1] resized to the layer. The normaliser is the
mask's mass (its area for binary masks), which makes ``G_k`` the mask-weighted
mean of ``f f^T``: a region's statistics, whatever its size or softness. The
synthesised image is guided by the content's masks, the style by the style's.
Channels count equally; a channel empty in the content or in every style is
skipped. Several styles average each region's statistics, each style that has the region
counting once (as ``gram`` averages styles), so a constant guide gives exactly ``gram``.

Neither loss reads :class:`LossOptions`. ``recommended_weights`` (the defaults
of ``sst run`` and ``sst compare`` for these losses) were calibrated on
Freddie -> Mia (192 px, 3 levels x 50 iterations) for an LPIPS distance to the content of about 0.29, between
mrf-semantic at sst's defaults (0.23) and doodle at the paper's weights (0.39):
style weight 3 for ``gram``, 0.3 for ``gram-guided`` (whose per-region Gram
matrices are matched less closely, so its loss stays about ten times larger).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from sst.core.hookspecs import hookimpl
from sst.core.interfaces import LossOptions, PluginContext, StyleTargets
from sst.core.masks import resize_masks

MIN_MASS = 1e-6  # mask mass (in pixels) below which a channel counts as empty


def gram(features: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(C, h, w) -> (C, C) mean outer product of the pixels' features, weighted by ``mask`` (h, w) squared."""
    c = features.shape[0]
    if mask is None:
        f = features.reshape(c, -1)
        return f @ f.T / f.shape[1]
    f = (features * mask).reshape(c, -1)
    return f @ f.T / mask.pow(2).sum().clamp_min(MIN_MASS)


class GramLoss:
    """Gram-matrix style loss on relu1_1..relu5_1 (Gatys et al. 2015)."""

    layers: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    content_layer = "relu4_2"
    uses_masks = False
    patch_search = False
    recommended_weights: ClassVar[dict[str, float]] = {"content_weight": 1.0, "style_weight": 3.0, "tv_weight": 1.0}

    def __init__(self, ctx: PluginContext, options: LossOptions) -> None:
        self.options = options
        self._targets: dict[str, torch.Tensor] = {}
        self.searches: dict[str, str] = {}  # no patch search

    def prepare(self, targets: StyleTargets) -> None:
        for layer in self.layers:
            self._targets[layer] = torch.stack([gram(f[layer]) for f in targets.style_features]).mean(0)

    def __call__(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        terms = [F.mse_loss(gram(features[layer]), self._targets[layer]) for layer in self.layers]
        return torch.stack(terms).mean()


class GuidedGramLoss(GramLoss):
    """Guided Gram matrices, one per mask channel (Gatys et al. 2017, spatial control)."""

    uses_masks = True
    recommended_weights: ClassVar[dict[str, float]] = {"content_weight": 1.0, "style_weight": 0.3, "tv_weight": 1.0}

    def prepare(self, targets: StyleTargets) -> None:
        if targets.style_masks is None or targets.content_masks is None:
            raise ValueError("gram-guided needs content and style masks")
        self._content_masks = targets.content_masks
        self._query_masks: dict[str, tuple[torch.Tensor, list[int]]] = {}
        self._region_targets: dict[str, dict[int, torch.Tensor]] = {}
        for layer in self.layers:
            per_region: dict[int, list[torch.Tensor]] = {}
            for feats, masks in zip(targets.style_features, targets.style_masks):
                f = feats[layer]
                for k, m in enumerate(resize_masks(masks, (f.shape[1], f.shape[2]))):
                    if float(m.pow(2).sum()) > MIN_MASS:
                        per_region.setdefault(k, []).append(gram(f, m))
            self._region_targets[layer] = {k: torch.stack(g).mean(0) for k, g in per_region.items()}

    def _masks_at(self, layer: str, size: tuple[int, int]) -> tuple[torch.Tensor, list[int]]:
        """The content masks at ``size`` and the channels with a style target and content mass (computed once)."""
        cached = self._query_masks.get(layer)
        if cached is None or (cached[0].shape[1], cached[0].shape[2]) != size:
            masks = resize_masks(self._content_masks, size)
            active = [k for k in self._region_targets[layer] if float(masks[k].pow(2).sum()) > MIN_MASS]
            cached = self._query_masks[layer] = (masks, active)
        return cached

    def __call__(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        per_layer = []
        for layer in self.layers:
            f = features[layer]
            masks, active = self._masks_at(layer, (f.shape[1], f.shape[2]))
            targets = self._region_targets[layer]
            terms = [F.mse_loss(gram(f, masks[k]), targets[k]) for k in active]
            if terms:
                per_layer.append(torch.stack(terms).mean())
        if not per_layer:
            return features[self.layers[0]].sum() * 0
        return torch.stack(per_layer).mean()


@hookimpl
def register_losses(register) -> None:
    register("gram", GramLoss)
    register("gram-guided", GuidedGramLoss)
