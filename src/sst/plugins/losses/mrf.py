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

import torch
import torch.nn.functional as F

from sst.core.hookspecs import hookimpl
from sst.core.interfaces import LossOptions, PluginContext, StyleTargets
from sst.core.patches import PatchKeys, nearest_patches, prepare_keys
from sst.core.patchmatch import PatchMatch
from sst.core.search import (
    PRECISIONS, RANDOM_START_JUMPS, RANDOM_START_STEPS, UPSAMPLED_JUMPS, UPSAMPLED_STEPS, choose_search,
)


class MRFLoss:
    """CNNMRF patch loss on relu3_1 + relu4_1 (Li & Wand 2016)."""

    layers: tuple[str, ...] = ("relu3_1", "relu4_1")
    content_layer = "relu4_1"
    uses_masks = False
    patch_search = True

    def __init__(self, ctx: PluginContext, options: LossOptions) -> None:
        self.options = options
        self._keys: dict[str, PatchKeys] = {}
        self._norm2: dict[str, torch.Tensor] = {}  # layer -> (M,) squared norm of each key's feature part
        self._coverage: dict[str, torch.Tensor] = {}
        self._fields: dict[str, PatchMatch] = {}  # approximate search: this level's field per layer
        self._coarser: dict[str, PatchMatch] = {}  # the previous level's, to start this level's from
        self._generator: torch.Generator | None = None
        self.searches: dict[str, str] = {}  # layer -> "exact" | "approx" at the current level
        self.last_matches: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # layer -> (style id, patch index)

    def prepare(self, targets: StyleTargets) -> None:
        self._style_targets = targets
        p, s = self.options.patch_size, self.options.style_stride
        self._coarser, self._fields, self.searches = self._fields, {}, {}
        for layer in self.layers:
            maps, norm2 = [], []
            for i, feats in enumerate(targets.style_features):
                f = feats[layer]
                extra = self._style_channels(layer, i)
                maps.append(f if extra is None else torch.cat([f, extra]))
                sq = F.avg_pool2d(f.pow(2).sum(0)[None, None], p, stride=1, divisor_override=1)
                norm2.append(sq[0, 0, ::s, ::s].reshape(-1))
            self._keys[layer] = prepare_keys(maps, p, s, PRECISIONS[self.options.search_precision])
            self._norm2[layer] = torch.cat(norm2)

    def _style_channels(self, layer: str, style: int) -> torch.Tensor | None:
        """Extra channels appended to style features before matching (none for plain CNNMRF)."""
        return None

    def _query_channels(self, layer: str, size: tuple[int, int]) -> torch.Tensor | None:
        """Extra channels appended to synthesised features before matching."""
        return None

    def match(self, layer: str, features: torch.Tensor) -> torch.Tensor:
        """Index into the pooled style patches of the best match of every patch (stride 1)."""
        keys = self._keys[layer]
        query = features.detach()
        extra = self._query_channels(layer, (query.shape[1], query.shape[2]))
        if extra is not None:
            query = torch.cat([query, extra])
        shape = (query.shape[1], query.shape[2])
        if layer not in self.searches:
            queries = (shape[0] - keys.patch + 1) * (shape[1] - keys.patch + 1)
            self.searches[layer] = choose_search(self.options.search, queries * keys.count)
        if self.searches[layer] == "exact":
            index, _ = nearest_patches(query, keys)
        else:
            index = self._approximate(layer, query, keys, shape)
        style = keys.style[index]
        offsets = torch.tensor(keys.offsets, device=style.device)
        self.last_matches[layer] = (style, index - offsets[style])
        return index

    def _approximate(self, layer: str, query: torch.Tensor, keys: PatchKeys, shape: tuple[int, int]) -> torch.Tensor:
        """PatchMatch, warm-started from this level's last field, or at a level's start from the coarser one's."""
        field = self._fields.get(layer)
        if field is not None:
            index, _ = field.search(query)
            return index
        if self._generator is None:
            self._generator = torch.Generator(device=query.device).manual_seed(self.options.seed)
        coarser = self._coarser.get(layer)
        if coarser is not None and len(coarser.keys.grids) == len(keys.grids):
            field = PatchMatch(keys, shape, self._generator, coarser.upsampled(keys, shape))
            index, _ = field.search(query, steps=UPSAMPLED_STEPS, jumps=UPSAMPLED_JUMPS)
        else:
            field = PatchMatch(keys, shape, self._generator)
            index, _ = field.search(query, steps=RANDOM_START_STEPS, jumps=RANDOM_START_JUMPS)
        self._fields[layer] = field
        return index

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
            keys = self._keys[layer]
            index = self.match(layer, f)
            hq, wq = h - p + 1, w - p + 1
            base, width = keys.base[index].view(hq, wq), keys.width[index].view(hq, wq)
            with torch.no_grad():
                laid = torch.zeros(h, w, c, dtype=f.dtype, device=f.device)  # pixel-major, as the keys
                rows = torch.empty(hq * wq, keys.pixels.shape[1], dtype=keys.pixels.dtype, device=f.device)
                for dy in range(p):
                    for dx in range(p):
                        torch.index_select(keys.pixels, 0, (base + (dy * width + dx)).view(-1), out=rows)
                        laid[dy : dy + hq, dx : dx + wq] += rows.view(hq, wq, -1)[..., :c].to(f.dtype)
                laid = laid.permute(2, 0, 1).contiguous()
            coverage = self._coverage_of(layer, (h, w), f.device)
            sq = (coverage * f * f).sum() - 2 * (f * laid).sum() + self._norm2[layer][index].sum()
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
