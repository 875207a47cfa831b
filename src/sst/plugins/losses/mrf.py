"""Style losses ``mrf`` (CNNMRF, Li & Wand 2016) and ``mrf-semantic`` (Zhao, Rosin & Lai 2017).

``mrf``: every 3x3 patch (stride 1) of the synthesised relu3_1 and relu4_1
features is matched to the style patch with the highest normalised
cross-correlation (exact search, :mod:`sst.core.patches`); the loss is the mean
squared distance to the matched patches, summed over layers. Matches are
recomputed at every evaluation, as in CNNMRF. Several style images pool their
patches: each synthesised patch takes the best match among all of them.

``mrf-semantic`` (the paper's eq. 1, 3, 4): synthesised patches carry the
content's soft masks, style patches the style's, and a match is scored by the
feature NCC less ``gamma`` times the disagreement of the two mask patches (one
minus their cosine), each part normalised on its own
(:func:`sst.core.patches.patch_score`). Both lie in [0, 1] for these
non-negative features and masks, so ``gamma`` is the weight of the masks
against the features' NCC: where the masks agree the ranking is exactly
CNNMRF's (a constant mask gives plain ``mrf``'s matches, bit for bit), and a
key of a wholly other region loses ``gamma``, against feature NCCs that differ
by a few tenths at most. 0 is plain CNNMRF.

The paper concatenates ``gamma * masks`` to raw Caffe features and normalises
the joint vector; for masks small against the features that score is about
``NCC_f + (gamma^2 |m|^2 / |f|^2) cos_m`` minus a term that favours weak
feature patches, with per-pixel ``|f|`` of 1,700-3,500 at relu3_1 on 0..255
inputs and ``|m| = 1``: sst's ``gamma`` is not the paper's number (see README,
"The mask weight"). The mask term of the paper's eq. 3 has no gradient with
respect to the image (the masks are fixed), so it is not part of the loss
that is optimised; it acts through the matching alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sst.core.hookspecs import hookimpl
from sst.core.interfaces import LossOptions, PluginContext, StyleTargets
from sst.core.masks import resize_masks
from sst.core.patches import PatchKeys, mask_patches, nearest_patches, prepare_keys
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
        self._query_masks: dict[str, torch.Tensor] = {}  # layer -> unit mask patches of the query grid
        self._coverage: dict[str, torch.Tensor] = {}
        self._fields: dict[str, PatchMatch] = {}  # approximate search: this level's field per layer
        self._coarser: dict[str, PatchMatch] = {}  # the previous level's, to start this level's from
        self._generator: torch.Generator | None = None
        self.searches: dict[str, str] = {}  # layer -> "exact" | "approx" at the current level
        self.last_matches: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}  # layer -> (style id, patch index)

    def prepare(self, targets: StyleTargets) -> None:
        self._style_targets = targets
        p, s = self.options.patch_size, self.options.style_stride
        self._coarser, self._fields, self.searches, self._query_masks = self._fields, {}, {}, {}
        for layer in self.layers:
            maps = [feats[layer] for feats in targets.style_features]
            masks = self._style_masks(layer)
            self._keys[layer] = prepare_keys(maps, p, s, PRECISIONS[self.options.search_precision], masks,
                                             self.options.gamma)

    def _style_masks(self, layer: str) -> list[torch.Tensor] | None:
        """Each style's masks at ``layer``'s size, for the score's mask term (none for plain CNNMRF)."""
        return None

    def _content_masks(self, size: tuple[int, int]) -> torch.Tensor | None:
        """The synthesised image's masks at a layer's size (none for plain CNNMRF)."""
        return None

    def _query_mask_patches(self, layer: str, size: tuple[int, int]) -> torch.Tensor | None:
        cached = self._query_masks.get(layer)
        if cached is None:
            masks = self._content_masks(size)
            if masks is None:
                return None
            cached = self._query_masks[layer] = mask_patches(masks, self.options.patch_size)
        return cached

    def match(self, layer: str, features: torch.Tensor) -> torch.Tensor:
        """Index into the pooled style patches of the best match of every patch (stride 1)."""
        keys = self._keys[layer]
        query = features.detach()
        shape = (query.shape[1], query.shape[2])
        query_masks = self._query_mask_patches(layer, shape)
        if layer not in self.searches:
            queries = (shape[0] - keys.patch + 1) * (shape[1] - keys.patch + 1)
            self.searches[layer] = choose_search(self.options.search, queries * keys.count)
        if self.searches[layer] == "exact":
            index, _ = nearest_patches(query, keys, query_masks)
        else:
            index = self._approximate(layer, query, query_masks, keys, shape)
        style = keys.style[index]
        offsets = torch.tensor(keys.offsets, device=style.device)
        self.last_matches[layer] = (style, index - offsets[style])
        return index

    def _approximate(self, layer: str, query: torch.Tensor, query_masks: torch.Tensor | None, keys: PatchKeys,
                     shape: tuple[int, int]) -> torch.Tensor:
        """PatchMatch, warm-started from this level's last field, or at a level's start from the coarser one's."""
        field = self._fields.get(layer)
        if field is not None:
            index, _ = field.search(query, query_masks)
            return index
        if self._generator is None:
            self._generator = torch.Generator(device=query.device).manual_seed(self.options.seed)
        coarser = self._coarser.get(layer)
        if coarser is not None and len(coarser.keys.grids) == len(keys.grids):
            field = PatchMatch(keys, shape, self._generator, coarser.upsampled(keys, shape))
            index, _ = field.search(query, query_masks, steps=UPSAMPLED_STEPS, jumps=UPSAMPLED_JUMPS)
        else:
            field = PatchMatch(keys, shape, self._generator)
            index, _ = field.search(query, query_masks, steps=RANDOM_START_STEPS, jumps=RANDOM_START_JUMPS)
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
                rows = torch.empty(hq * wq, c, dtype=keys.pixels.dtype, device=f.device)
                for dy in range(p):
                    for dx in range(p):
                        torch.index_select(keys.pixels, 0, (base + (dy * width + dx)).view(-1), out=rows)
                        laid[dy : dy + hq, dx : dx + wq] += rows.view(hq, wq, c).to(f.dtype)
                laid = laid.permute(2, 0, 1).contiguous()
            coverage = self._coverage_of(layer, (h, w), f.device)
            sq = (coverage * f * f).sum() - 2 * (f * laid).sum() + keys.norm2[index].sum()
            total = total + sq / (hq * wq * c * p * p)
        return total


class SemanticMRFLoss(MRFLoss):
    """CNNMRF whose matching also scores the agreement of soft masks (Zhao, Rosin & Lai 2017, eq. 1, 3, 4)."""

    uses_masks = True

    def prepare(self, targets: StyleTargets) -> None:
        if targets.style_masks is None or targets.content_masks is None:
            raise ValueError(f"{type(self).__name__} needs content and style masks")
        super().prepare(targets)

    def _style_masks(self, layer: str) -> list[torch.Tensor]:
        t = self._style_targets
        return [resize_masks(masks, (f[layer].shape[1], f[layer].shape[2]))
                for f, masks in zip(t.style_features, t.style_masks)]  # type: ignore[arg-type]

    def _content_masks(self, size: tuple[int, int]) -> torch.Tensor:
        return resize_masks(self._style_targets.content_masks, size)  # type: ignore[arg-type]


@hookimpl
def register_losses(register) -> None:
    register("mrf", MRFLoss)
    register("mrf-semantic", SemanticMRFLoss)
