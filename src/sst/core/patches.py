"""Exact nearest-patch search by normalised cross-correlation, in bounded memory.

For every ``p x p`` patch of a query feature map, find the key patch (on a grid
of stride ``stride``) that maximises ``<q, k> / |k|`` (the query's own norm does
not change the argmax). Instead of unfolding patches into ``p*p*C`` vectors, the
search computes the pixel-level correlation ``G = Q^T K`` (``C`` wide, not
``p*p*C``) and adds ``p*p`` shifted views of it: the patch correlation is
exactly the sum of its pixels' correlations. That is ``p*p`` times fewer
multiply-adds than the unfolded product, with the same result. Query and key
rows are processed in blocks whose working set stays near ``block_bytes``
(cache-sized) whatever the image size, so memory does not grow with the
square of the patch count.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

DEFAULT_BLOCK = 8 * 2**20


@dataclass(frozen=True)
class PatchKeys:
    """A key feature map prepared for repeated searches."""

    flat: torch.Tensor  # (C, Hk * Wk)
    shape: tuple[int, int]  # (Hk, Wk)
    inv_norm: torch.Tensor  # (Hg, Wg): 1 / |key patch| on the strided grid
    patch: int
    stride: int

    @property
    def grid(self) -> tuple[int, int]:
        return int(self.inv_norm.shape[0]), int(self.inv_norm.shape[1])


def prepare_keys(keys: torch.Tensor, patch: int = 3, stride: int = 1) -> PatchKeys:
    """Precompute what every search against ``keys`` (C, Hk, Wk) needs."""
    c, hk, wk = keys.shape
    if hk < patch or wk < patch:
        raise ValueError(f"key map {hk}x{wk} is smaller than a {patch}x{patch} patch")
    sq = keys.pow(2).sum(0, keepdim=True).unsqueeze(0)  # (1, 1, Hk, Wk)
    norm2 = F.avg_pool2d(sq, patch, stride=1, divisor_override=1)[0, 0, ::stride, ::stride]
    inv = norm2.clamp_min(1e-12).rsqrt()
    return PatchKeys(keys.reshape(c, hk * wk).contiguous(), (hk, wk), inv, patch, stride)


def patch_grid(height: int, width: int, patch: int, stride: int = 1) -> tuple[int, int]:
    """Number of patch positions (rows, cols) of a map."""
    return (height - patch) // stride + 1, (width - patch) // stride + 1


def nearest_patches(
    query: torch.Tensor, keys: PatchKeys, block_bytes: int = DEFAULT_BLOCK
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best key patch for every query patch (stride 1).

    Returns ``(index, score)``, each of shape ``(Hq * Wq,)`` in row-major order of
    the query's patch grid; ``index`` is row-major in the keys' strided grid and
    ``score`` is ``<q, k> / |k|``. Work proceeds in (query rows x key rows)
    blocks of about ``block_bytes`` so the shifted sums stay in cache.
    """
    c, h, w = query.shape
    p, s = keys.patch, keys.stride
    hk, wk = keys.shape
    hg, wg = keys.grid
    hq, wq = h - p + 1, w - p + 1
    rows_q = query.reshape(c, h * w).T.contiguous()  # (H * W, C): a contiguous left operand is ~3x faster
    side = max(1, int((block_bytes / (4 * w * wk)) ** 0.5) - (p - 1))  # query rows = key grid rows per block
    best_score = torch.full((hq * wq,), -torch.inf, dtype=query.dtype, device=query.device)
    best_idx = torch.zeros(hq * wq, dtype=torch.long, device=query.device)
    for y0 in range(0, hq, side):
        b = min(side, hq - y0)
        q_rows = rows_q[y0 * w : (y0 + b + p - 1) * w]
        band_score = best_score[y0 * wq : (y0 + b) * wq]
        band_idx = best_idx[y0 * wq : (y0 + b) * wq]
        for g0 in range(0, hg, side):
            n = min(side, hg - g0)
            k0, k1 = g0 * s, (g0 + n - 1) * s + p  # key pixel rows of this block
            g = (q_rows @ keys.flat[:, k0 * wk : k1 * wk]).view(b + p - 1, w, k1 - k0, wk)
            t = g[0:b, :, 0 : s * (n - 1) + 1 : s, :].clone()
            for dy in range(1, p):
                t += g[dy : dy + b, :, dy : dy + s * (n - 1) + 1 : s, :]
            score = t[:, 0:wq, :, 0 : s * (wg - 1) + 1 : s].clone()
            for dx in range(1, p):
                score += t[:, dx : dx + wq, :, dx : dx + s * (wg - 1) + 1 : s]
            score *= keys.inv_norm[g0 : g0 + n]
            value, index = score.view(b * wq, n * wg).max(dim=1)
            better = value > band_score
            band_score[better] = value[better]
            band_idx[better] = index[better] + g0 * wg
    return best_idx, best_score


def unfold_patches(features: torch.Tensor, patch: int = 3, stride: int = 1) -> torch.Tensor:
    """(C, H, W) -> (C * patch * patch, N) patch vectors in row-major grid order."""
    return F.unfold(features.unsqueeze(0), patch, stride=stride).squeeze(0)
