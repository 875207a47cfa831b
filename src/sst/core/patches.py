"""Patch keys and the one patch score that both nearest-patch searches rank by.

A *key* is a ``p x p`` patch of a style's feature map on a grid of stride
``stride``; the keys of several style maps are pooled into one list. Keys may
carry soft mask patches (``mrf-semantic``, ``doodle``), and queries then carry
their own. A query patch ``q`` is scored against a key ``k`` by
:func:`patch_score`:

    score = <q_f, k_f> / (|q_f| |k_f|)  -  w * (1 - <q_m, k_m> / (|q_m| |k_m|))

CNNMRF's normalised cross-correlation of the features, less ``w`` times the
disagreement of the mask patches (one minus their cosine), each part normalised
on its own (as neural doodle scores). The cosine is rounded to steps of
1/MASK_STEPS, so that where query and key masks agree (to within that step)
the mask term is exactly zero and the ranking is exactly plain NCC on the
features, bit for bit; masks carry no feature energy into the score, so they
cannot favour flat, low-energy style patches. The exact search (:func:`nearest_patches`, every query against every
key) and the approximate one (:mod:`sst.core.patchmatch`, candidates along a
nearest-neighbour field) both rank by this one function, so a change to the
score is a change to both.

The exact search computes the pixel-level correlation ``G = Q^T K`` (``C`` wide,
not ``p*p*C``) and adds ``p*p`` shifted views of it: the patch correlation is
exactly the sum of its pixels' correlations, ``p*p`` times fewer multiply-adds
than the unfolded product. The mask term is one product of unit mask-patch
vectors (``K*p*p`` wide, small). Query and key rows are processed in blocks
whose working set stays near ``block_bytes`` (cache-sized), so memory does not
grow with the square of the patch count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

DEFAULT_BLOCK = 8 * 2**20
MASK_STEPS = 1024  # the mask cosine's resolution: agreement to within 1/1024 counts as full agreement


def patch_score(correlation: torch.Tensor, key_inv_norm: torch.Tensor, query_inv_norm: torch.Tensor,
                mask_similarity: torch.Tensor | None = None, mask_weight: float = 0.0) -> torch.Tensor:
    """The score of query patches against key patches (the module's formula), from the feature correlation
    ``<q_f, k_f>``, ``1 / |k_f|``, ``1 / |q_f|`` and, where there are masks, the mask patches' cosine."""
    score = correlation * key_inv_norm * query_inv_norm
    if mask_similarity is not None:
        disagreement = 1 - torch.round(mask_similarity * MASK_STEPS) / MASK_STEPS
        score = score - mask_weight * disagreement
    return score


def inverse_patch_norms(features: torch.Tensor, patch: int, stride: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """(D, H, W) -> ``(|patch|^2, 1 / |patch|)``, each (Hg, Wg), for the patches on a grid of ``stride``."""
    sq = features.pow(2).sum(0, keepdim=True).unsqueeze(0)
    norm2 = F.avg_pool2d(sq, patch, stride=1, divisor_override=1)[0, 0, ::stride, ::stride]
    return norm2, norm2.clamp_min(1e-12).rsqrt()


def mask_patches(masks: torch.Tensor, patch: int, stride: int = 1) -> torch.Tensor:
    """(K, H, W) soft masks -> (N, K * patch * patch) unit mask-patch vectors, row-major grid order
    (a patch with no mask at all stays zero: it agrees with nothing)."""
    rows = unfold_patches(masks, patch, stride).T
    return (rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)).contiguous()


@dataclass(frozen=True)
class PatchKeys:
    """The key patches of one or more style maps, pooled, prepared for repeated searches.

    Pooled key ``m`` is patch ``(gy[m], gx[m])`` of the grid of style ``style[m]``;
    its top-left pixel is row ``base[m]`` of ``pixels``, and its pixel ``(a, b)``
    is row ``base[m] + a * width[m] + b``.
    """

    pixels: torch.Tensor  # (P, C): every key pixel's feature vector, styles concatenated, row-major within each
    norm2: torch.Tensor  # (M,): |key patch|^2 (features)
    inv_norm: torch.Tensor  # (M,): 1 / |key patch|
    masks: torch.Tensor | None  # (M, K * p * p) unit mask patches, or None without masks
    mask_weight: float  # w of the score's mask term
    base: torch.Tensor  # (M,) long
    width: torch.Tensor  # (M,) long: pixel row length of the key's style map
    style: torch.Tensor  # (M,) long
    gy: torch.Tensor  # (M,) long
    gx: torch.Tensor  # (M,) long
    shapes: tuple[tuple[int, int], ...]  # per style: (Hk, Wk) pixels
    grids: tuple[tuple[int, int], ...]  # per style: (Hg, Wg) key patches
    offsets: tuple[int, ...]  # per style: first pooled key index
    pixel_offsets: tuple[int, ...]  # per style: first row of ``pixels``
    patch: int
    stride: int

    @property
    def count(self) -> int:
        return int(self.inv_norm.shape[0])

    def grid_tensors(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per style, as tensors on the keys' device: grid rows, grid columns, first pooled index."""
        device = self.inv_norm.device
        hg, wg = zip(*self.grids)
        as_long = lambda values: torch.tensor(values, dtype=torch.long, device=device)  # noqa: E731
        return as_long(hg), as_long(wg), as_long(self.offsets)


def prepare_keys(maps: Sequence[torch.Tensor], patch: int = 3, stride: int = 1, dtype: torch.dtype | None = None,
                 masks: Sequence[torch.Tensor] | None = None, mask_weight: float = 0.0) -> PatchKeys:
    """Pool the key patches of style feature maps, each (C, Hk, Wk) with the same C; ``masks`` (one (K, Hk, Wk)
    per map) add the mask term weighted by ``mask_weight``. ``dtype`` (e.g. half precision on a GPU) is that
    of the stored key pixels and of the correlations; norms and scores stay in the maps' own."""
    if masks is not None and len(masks) != len(maps):
        raise ValueError(f"{len(masks)} mask maps for {len(maps)} feature maps")
    pixels, norm2s, inv_norm, base, width, style, gy, gx, mask_rows = [], [], [], [], [], [], [], [], []
    shapes, grids, offsets, pixel_offsets = [], [], [], []
    n_pixels = n_keys = 0
    for i, keys in enumerate(maps):
        d, hk, wk = keys.shape
        if hk < patch or wk < patch:
            raise ValueError(f"key map {hk}x{wk} is smaller than a {patch}x{patch} patch")
        norm2, inv = inverse_patch_norms(keys, patch, stride)
        hg, wg = norm2.shape
        rows = torch.arange(hg, device=keys.device).repeat_interleave(wg)
        cols = torch.arange(wg, device=keys.device).repeat(hg)
        pixels.append(keys.reshape(d, hk * wk).T)
        norm2s.append(norm2.reshape(-1))
        inv_norm.append(inv.reshape(-1))
        base.append(n_pixels + rows * stride * wk + cols * stride)
        width.append(torch.full((hg * wg,), wk, dtype=torch.long, device=keys.device))
        style.append(torch.full((hg * wg,), i, dtype=torch.long, device=keys.device))
        gy.append(rows)
        gx.append(cols)
        if masks is not None:
            if tuple(masks[i].shape[1:]) != (hk, wk):
                raise ValueError(f"mask map {tuple(masks[i].shape[1:])} does not fit key map {(hk, wk)}")
            mask_rows.append(mask_patches(masks[i], patch, stride))
        shapes.append((hk, wk))
        grids.append((int(hg), int(wg)))
        offsets.append(n_keys)
        pixel_offsets.append(n_pixels)
        n_pixels += hk * wk
        n_keys += hg * wg
    return PatchKeys(
        torch.cat(pixels).to(dtype or maps[0].dtype).contiguous(), torch.cat(norm2s), torch.cat(inv_norm),
        torch.cat(mask_rows) if masks is not None else None, float(mask_weight), torch.cat(base), torch.cat(width),
        torch.cat(style), torch.cat(gy), torch.cat(gx), tuple(shapes), tuple(grids), tuple(offsets),
        tuple(pixel_offsets), patch, stride,
    )


def nearest_patches(
    query: torch.Tensor, keys: PatchKeys, query_masks: torch.Tensor | None = None, block_bytes: int = DEFAULT_BLOCK
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact search: the best pooled key for every query patch (stride 1) of ``query`` (C, H, W).

    ``query_masks`` ((Hq * Wq, K * p * p), :func:`mask_patches`) is required when the keys carry masks.
    Returns ``(index, score)``, each of shape ``(Hq * Wq,)`` in row-major order of the query's patch grid,
    with ``score`` from :func:`patch_score`. Work proceeds in (query rows x key rows) blocks of about
    ``block_bytes``.
    """
    d, h, w = query.shape
    p = keys.patch
    hq, wq = h - p + 1, w - p + 1
    check_query_masks(keys, query_masks, hq * wq)
    rows_q = query.reshape(d, h * w).T.to(keys.pixels.dtype).contiguous()  # contiguous: ~3x faster
    query_inv = inverse_patch_norms(query, p)[1]
    best_score = torch.full((hq * wq,), -torch.inf, dtype=query.dtype, device=query.device)
    best_idx = torch.zeros(hq * wq, dtype=torch.long, device=query.device)
    for (hk, wk), (hg, wg), offset, first in zip(keys.shapes, keys.grids, keys.offsets, keys.pixel_offsets):
        style = _StyleBlock(keys.pixels[first : first + hk * wk], (hk, wk), (hg, wg),
                            keys.inv_norm[offset : offset + hg * wg].view(hg, wg),
                            None if keys.masks is None else keys.masks[offset : offset + hg * wg], offset)
        _search_style(rows_q, (h, w), query_inv, query_masks, style, keys, block_bytes, best_score, best_idx)
    return best_idx, best_score


def check_query_masks(keys: PatchKeys, query_masks: torch.Tensor | None, queries: int) -> None:
    """Refuse query masks that do not fit the keys (missing, unexpected, or of another shape)."""
    if (keys.masks is None) != (query_masks is None):
        raise ValueError("query masks are needed exactly when the keys carry masks")
    if query_masks is not None and keys.masks is not None and (
            query_masks.shape[0] != queries or query_masks.shape[1] != keys.masks.shape[1]):
        raise ValueError(f"query masks {tuple(query_masks.shape)} do not fit {queries} query patches "
                         f"x {keys.masks.shape[1]} mask values")


@dataclass(frozen=True)
class _StyleBlock:
    pixels: torch.Tensor
    shape: tuple[int, int]
    grid: tuple[int, int]
    inv_norm: torch.Tensor  # (Hg, Wg)
    masks: torch.Tensor | None  # (Hg * Wg, K * p * p)
    offset: int


def _search_style(
    rows_q: torch.Tensor, query_shape: tuple[int, int], query_inv: torch.Tensor, query_masks: torch.Tensor | None,
    style: _StyleBlock, keys: PatchKeys, block_bytes: int, best_score: torch.Tensor, best_idx: torch.Tensor,
) -> None:
    """Fold one style's keys into the running best (score, index) of every query patch."""
    h, w = query_shape
    _, wk = style.shape
    hg, wg = style.grid
    p, s = keys.patch, keys.stride
    hq, wq = h - p + 1, w - p + 1
    side = max(1, int((block_bytes / (4 * w * wk)) ** 0.5) - (p - 1))  # query rows = key grid rows per block
    for y0 in range(0, hq, side):
        b = min(side, hq - y0)
        q_rows = rows_q[y0 * w : (y0 + b + p - 1) * w]
        q_inv = query_inv[y0 : y0 + b, :, None, None]
        band_score = best_score[y0 * wq : (y0 + b) * wq]
        band_idx = best_idx[y0 * wq : (y0 + b) * wq]
        for g0 in range(0, hg, side):
            n = min(side, hg - g0)
            k0, k1 = g0 * s, (g0 + n - 1) * s + p  # key pixel rows of this block
            g = (q_rows @ style.pixels[k0 * wk : k1 * wk].T).to(style.inv_norm.dtype).view(b + p - 1, w, k1 - k0, wk)
            t = g[0:b, :, 0 : s * (n - 1) + 1 : s, :].clone()
            for dy in range(1, p):
                t += g[dy : dy + b, :, dy : dy + s * (n - 1) + 1 : s, :]
            corr = t[:, 0:wq, :, 0 : s * (wg - 1) + 1 : s].clone()
            for dx in range(1, p):
                corr += t[:, dx : dx + wq, :, dx : dx + s * (wg - 1) + 1 : s]
            similarity = None
            if query_masks is not None and style.masks is not None:
                similarity = (query_masks[y0 * wq : (y0 + b) * wq] @ style.masks[g0 * wg : (g0 + n) * wg].T
                              ).view(b, wq, n, wg)
            score = patch_score(corr, style.inv_norm[g0 : g0 + n], q_inv, similarity, keys.mask_weight)
            value, index = score.view(b * wq, n * wg).max(dim=1)
            better = value > band_score
            band_score[better] = value[better]
            band_idx[better] = index[better] + style.offset + g0 * wg


def unfold_patches(features: torch.Tensor, patch: int = 3, stride: int = 1) -> torch.Tensor:
    """(C, H, W) -> (C * patch * patch, N) patch vectors in row-major grid order."""
    return F.unfold(features.unsqueeze(0), patch, stride=stride).squeeze(0)
