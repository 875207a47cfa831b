"""Patch keys and the one patch score that both nearest-patch searches rank by.

A *key* is a ``p x p`` patch of a style map (features, then any extra channels
such as gamma-weighted masks), on a grid of stride ``stride``; the keys of
several style maps are pooled into one list. A query patch ``q`` is scored
against a key ``k`` by :func:`patch_score`: ``<q, k> / |k|``, CNNMRF's
normalised cross-correlation without the query's own norm (which does not
change the argmax). The exact search (:func:`nearest_patches`, every query
against every key) and the approximate one (:mod:`sst.core.patchmatch`,
candidates along a nearest-neighbour field) both compute ``<q, k>`` over the
same vectors and rank by this one function, so a change to the score is a
change to both.

The exact search computes the pixel-level correlation ``G = Q^T K`` (``C`` wide,
not ``p*p*C``) and adds ``p*p`` shifted views of it: the patch correlation is
exactly the sum of its pixels' correlations, ``p*p`` times fewer multiply-adds
than the unfolded product. Query and key rows are processed in blocks whose
working set stays near ``block_bytes`` (cache-sized), so memory does not grow
with the square of the patch count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

DEFAULT_BLOCK = 8 * 2**20


def patch_score(correlation: torch.Tensor, inv_norm: torch.Tensor) -> torch.Tensor:
    """The score of query patches against key patches: ``<q, k> / |k|`` from ``<q, k>`` and ``1 / |k|``."""
    return correlation * inv_norm


@dataclass(frozen=True)
class PatchKeys:
    """The key patches of one or more style maps, pooled, prepared for repeated searches.

    Pooled key ``m`` is patch ``(gy[m], gx[m])`` of the grid of style ``style[m]``;
    its top-left pixel is row ``base[m]`` of ``pixels``, and its pixel ``(a, b)``
    is row ``base[m] + a * width[m] + b``.
    """

    pixels: torch.Tensor  # (P, D): every key pixel's vector, styles concatenated, row-major within each
    inv_norm: torch.Tensor  # (M,): 1 / |key patch|
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


def prepare_keys(maps: Sequence[torch.Tensor], patch: int = 3, stride: int = 1,
                 dtype: torch.dtype | None = None) -> PatchKeys:
    """Pool the key patches of style maps, each (D, Hk, Wk) with the same D; ``dtype`` (e.g. half precision
    on a GPU) is that of the stored key pixels and of the correlations, norms and scores stay in the maps' own."""
    pixels, inv_norm, base, width, style, gy, gx = [], [], [], [], [], [], []
    shapes, grids, offsets, pixel_offsets = [], [], [], []
    n_pixels = n_keys = 0
    for i, keys in enumerate(maps):
        d, hk, wk = keys.shape
        if hk < patch or wk < patch:
            raise ValueError(f"key map {hk}x{wk} is smaller than a {patch}x{patch} patch")
        sq = keys.pow(2).sum(0, keepdim=True).unsqueeze(0)  # (1, 1, Hk, Wk)
        norm2 = F.avg_pool2d(sq, patch, stride=1, divisor_override=1)[0, 0, ::stride, ::stride]
        hg, wg = norm2.shape
        rows = torch.arange(hg, device=keys.device).repeat_interleave(wg)
        cols = torch.arange(wg, device=keys.device).repeat(hg)
        pixels.append(keys.reshape(d, hk * wk).T)
        inv_norm.append(norm2.reshape(-1).clamp_min(1e-12).rsqrt())
        base.append(n_pixels + rows * stride * wk + cols * stride)
        width.append(torch.full((hg * wg,), wk, dtype=torch.long, device=keys.device))
        style.append(torch.full((hg * wg,), i, dtype=torch.long, device=keys.device))
        gy.append(rows)
        gx.append(cols)
        shapes.append((hk, wk))
        grids.append((int(hg), int(wg)))
        offsets.append(n_keys)
        pixel_offsets.append(n_pixels)
        n_pixels += hk * wk
        n_keys += hg * wg
    return PatchKeys(
        torch.cat(pixels).to(dtype or maps[0].dtype).contiguous(), torch.cat(inv_norm), torch.cat(base), torch.cat(width), torch.cat(style),
        torch.cat(gy), torch.cat(gx), tuple(shapes), tuple(grids), tuple(offsets), tuple(pixel_offsets), patch, stride,
    )


def nearest_patches(
    query: torch.Tensor, keys: PatchKeys, block_bytes: int = DEFAULT_BLOCK
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact search: the best pooled key for every query patch (stride 1) of ``query`` (D, H, W).

    Returns ``(index, score)``, each of shape ``(Hq * Wq,)`` in row-major order of
    the query's patch grid, with ``score`` from :func:`patch_score`. Work proceeds
    in (query rows x key rows) blocks of about ``block_bytes``.
    """
    d, h, w = query.shape
    p = keys.patch
    hq, wq = h - p + 1, w - p + 1
    rows_q = query.reshape(d, h * w).T.to(keys.pixels.dtype).contiguous()  # contiguous: ~3x faster
    best_score = torch.full((hq * wq,), -torch.inf, dtype=query.dtype, device=query.device)
    best_idx = torch.zeros(hq * wq, dtype=torch.long, device=query.device)
    for (hk, wk), (hg, wg), offset, first in zip(keys.shapes, keys.grids, keys.offsets, keys.pixel_offsets):
        style_pixels = keys.pixels[first : first + hk * wk]
        inv_norm = keys.inv_norm[offset : offset + hg * wg].view(hg, wg)
        _search_style(rows_q, (h, w), style_pixels, (hk, wk), (hg, wg), inv_norm, offset, p, keys.stride,
                      block_bytes, best_score, best_idx)
    return best_idx, best_score


def _search_style(
    rows_q: torch.Tensor, query_shape: tuple[int, int], style_pixels: torch.Tensor, key_shape: tuple[int, int],
    grid: tuple[int, int], inv_norm: torch.Tensor, offset: int, p: int, s: int, block_bytes: int,
    best_score: torch.Tensor, best_idx: torch.Tensor,
) -> None:
    """Fold one style's keys into the running best (score, index) of every query patch."""
    h, w = query_shape
    _, wk = key_shape
    hg, wg = grid
    hq, wq = h - p + 1, w - p + 1
    side = max(1, int((block_bytes / (4 * w * wk)) ** 0.5) - (p - 1))  # query rows = key grid rows per block
    for y0 in range(0, hq, side):
        b = min(side, hq - y0)
        q_rows = rows_q[y0 * w : (y0 + b + p - 1) * w]
        band_score = best_score[y0 * wq : (y0 + b) * wq]
        band_idx = best_idx[y0 * wq : (y0 + b) * wq]
        for g0 in range(0, hg, side):
            n = min(side, hg - g0)
            k0, k1 = g0 * s, (g0 + n - 1) * s + p  # key pixel rows of this block
            g = (q_rows @ style_pixels[k0 * wk : k1 * wk].T).to(inv_norm.dtype).view(b + p - 1, w, k1 - k0, wk)
            t = g[0:b, :, 0 : s * (n - 1) + 1 : s, :].clone()
            for dy in range(1, p):
                t += g[dy : dy + b, :, dy : dy + s * (n - 1) + 1 : s, :]
            corr = t[:, 0:wq, :, 0 : s * (wg - 1) + 1 : s].clone()
            for dx in range(1, p):
                corr += t[:, dx : dx + wq, :, dx : dx + s * (wg - 1) + 1 : s]
            score = patch_score(corr, inv_norm[g0 : g0 + n])
            value, index = score.view(b * wq, n * wg).max(dim=1)
            better = value > band_score
            band_score[better] = value[better]
            band_idx[better] = index[better] + offset + g0 * wg


def unfold_patches(features: torch.Tensor, patch: int = 3, stride: int = 1) -> torch.Tensor:
    """(C, H, W) -> (C * patch * patch, N) patch vectors in row-major grid order."""
    return F.unfold(features.unsqueeze(0), patch, stride=stride).squeeze(0)
