"""Approximate nearest-patch search: PatchMatch (Barnes et al. 2009) over pooled style keys.

A nearest-neighbour field holds, for every query patch, a pooled key index
(:class:`sst.core.patches.PatchKeys`). Each step, for the whole field at once
(no loop over patches):

1. the current match is scored again (the query changed since the last call);
2. *propagation*: each patch tries its neighbours' matches shifted by one key
   step, from the left and above on even steps, from the right and below on
   odd ones (at a level's start also from 2, 4 and 8 steps away, jump-flood
   style, so coherent regions fill in a few steps);
3. *random search*: a key drawn around the current match, at a radius that
   shrinks by halves from the whole style grid to one step over successive
   steps, plus one key drawn from all styles;

and keeps a candidate when it scores higher. Candidates are scored by gathering
their ``p x p`` key pixels, with the exact search's own score
(:func:`sst.core.patches.patch_score`, features and masks), so the masks of
``mrf-semantic`` steer both alike. The cost of a step grows linearly with the
number of query patches, whatever the number of keys.

The field is kept between calls (each L-BFGS evaluation starts from the
previous one's field, as in Deep Image Analogy, Liao et al. 2017) and a new
level starts from the coarser level's field upsampled (:meth:`PatchMatch.upsampled`).
"""

from __future__ import annotations

import torch

from sst.core.patches import PatchKeys, check_query_masks, inverse_patch_norms, patch_score


class PatchMatch:
    """A nearest-neighbour field from the patches of a query map to pooled keys, improved step by step."""

    def __init__(self, keys: PatchKeys, query_shape: tuple[int, int], generator: torch.Generator,
                 field: torch.Tensor | None = None) -> None:
        self.keys = keys
        self.shape = (query_shape[0] - keys.patch + 1, query_shape[1] - keys.patch + 1)
        self.generator = generator
        self._hg, self._wg, self._first = keys.grid_tensors()
        self._radii = _radii(max(max(g) for g in keys.grids))
        self._step_count = 0
        hq, wq = self.shape
        device = keys.inv_norm.device
        if field is None:
            field = torch.randint(keys.count, (hq, wq), generator=generator, device=device)
        if tuple(field.shape) != self.shape:
            raise ValueError(f"field of shape {tuple(field.shape)} does not fit {self.shape} query patches")
        self.field = field
        self.score = torch.full(self.shape, -torch.inf, device=device)
        self._rows: torch.Tensor | None = None  # gathered key rows, reused by every candidate
        self._dots: torch.Tensor | None = None
        self._query_inv = torch.ones(self.shape, device=device)
        self._query_masks: torch.Tensor | None = None
        self._mask_rows: torch.Tensor | None = None

    def search(self, query: torch.Tensor, query_masks: torch.Tensor | None = None, steps: int = 1,
               jumps: tuple[int, ...] = (1,)) -> tuple[torch.Tensor, torch.Tensor]:
        """Improve the field for ``query`` (C, H, W), with ``query_masks`` where the keys carry masks
        (as for :func:`sst.core.patches.nearest_patches`), by ``steps`` steps; returns (index, score), row-major."""
        d, h, w = query.shape
        hq, wq = self.shape
        check_query_masks(self.keys, query_masks, hq * wq)
        dtype = self.keys.pixels.dtype
        q = query.reshape(d, h * w).T.to(dtype).contiguous()  # (H * W, D): one query pixel's vector per row
        if self._rows is None or self._rows.shape != (h * w, d):
            self._rows = torch.empty(h * w, d, dtype=dtype, device=query.device)
            self._dots = torch.empty(h * w, dtype=dtype, device=query.device)
        self._query_inv = inverse_patch_norms(query, self.keys.patch)[1]
        self._query_masks = query_masks
        if query_masks is not None and (self._mask_rows is None or self._mask_rows.shape != query_masks.shape):
            self._mask_rows = torch.empty_like(query_masks)
        self.score = self._score(q, (h, w), self.field)
        for _ in range(steps):
            self._step(q, (h, w), jumps)
        return self.field.reshape(-1), self.score.reshape(-1)

    def _step(self, q: torch.Tensor, shape: tuple[int, int], jumps: tuple[int, ...]) -> None:
        """One step: propagation from two sides (left and above, then right and below on the next step),
        one draw around the current match and one from all keys."""
        sign = 1 if self._step_count % 2 == 0 else -1
        for jump in jumps:
            for dy, dx in ((0, sign), (sign, 0)):
                self._try(q, shape, self._propagated(dy * jump, dx * jump))
        radius = self._radii[self._step_count % len(self._radii)]
        self._try(q, shape, self._around(radius))
        self._try(q, shape, torch.randint(self.keys.count, self.shape, generator=self.generator, device=self.field.device))
        self._step_count += 1

    def _try(self, q: torch.Tensor, shape: tuple[int, int], candidate: torch.Tensor) -> None:
        score = self._score(q, shape, candidate)
        better = score > self.score
        self.field = torch.where(better, candidate, self.field)
        self.score = torch.where(better, score, self.score)

    def _score(self, q: torch.Tensor, shape: tuple[int, int], candidate: torch.Tensor) -> torch.Tensor:
        """The patch score of every query patch against its candidate key, (hq, wq).

        Summed over the patch's pixels ``(a, b)``: query pixel ``r`` meets key row
        ``base + a * width + b`` of the patch at ``r - (a, b)``; the query rows are
        used in place (no unfolded copy), the key rows gathered into one buffer.
        """
        k, p = self.keys, self.keys.patch
        h, w = shape
        hq, wq = self.shape
        flat = candidate.reshape(-1)
        base = k.base[flat].view(hq, wq)
        width = k.width[flat].view(hq, wq)
        rows = torch.zeros(h, w, dtype=torch.long, device=q.device)
        corr = torch.zeros(hq, wq, dtype=k.inv_norm.dtype, device=q.device)
        assert self._rows is not None and self._dots is not None
        for a in range(p):
            for b in range(p):
                rows[a : a + hq, b : b + wq] = base + (a * width + b)
                torch.index_select(k.pixels, 0, rows.view(-1), out=self._rows)
                torch.bmm(self._rows.unsqueeze(1), q.unsqueeze(2), out=self._dots.view(-1, 1, 1))
                corr += self._dots.view(h, w)[a : a + hq, b : b + wq]
        similarity = None
        if self._query_masks is not None and k.masks is not None and self._mask_rows is not None:
            torch.index_select(k.masks, 0, flat, out=self._mask_rows)
            similarity = torch.bmm(self._mask_rows.unsqueeze(1), self._query_masks.unsqueeze(2)).view(hq, wq)
        return patch_score(corr, k.inv_norm[flat].view(hq, wq), self._query_inv, similarity, k.mask_weight)

    def _shifted(self, index: torch.Tensor, dy: torch.Tensor | int, dx: torch.Tensor | int) -> torch.Tensor:
        """Pooled keys ``(dy, dx)`` grid steps from ``index``, clamped to their own style's grid."""
        k = self.keys
        style = k.style[index]
        hg, wg = self._hg[style], self._wg[style]
        gy = torch.minimum(torch.clamp_min(k.gy[index] + dy, 0), hg - 1)
        gx = torch.minimum(torch.clamp_min(k.gx[index] + dx, 0), wg - 1)
        return self._first[style] + gy * wg + gx

    def _propagated(self, dy: int, dx: int) -> torch.Tensor:
        """For every patch, the match of the patch ``(dy, dx)`` query pixels before it, moved on by the same
        offset (in key steps, ``offset / stride``); the patch's own match where there is no such neighbour."""
        s = self.keys.stride
        hq, wq = self.shape
        neighbour = self.field.clone()
        if abs(dy) >= hq or abs(dx) >= wq:
            return neighbour
        ys, yd = (slice(0, hq - dy), slice(dy, hq)) if dy >= 0 else (slice(-dy, hq), slice(0, hq + dy))
        xs, xd = (slice(0, wq - dx), slice(dx, wq)) if dx >= 0 else (slice(-dx, wq), slice(0, wq + dx))
        neighbour[yd, xd] = self.field[ys, xs]
        step_y, step_x = round(dy / s), round(dx / s)
        return self._shifted(neighbour, step_y, step_x)

    def _around(self, radius: int) -> torch.Tensor:
        """A key drawn uniformly within ``radius`` grid steps of every patch's current match."""
        offsets = torch.randint(-radius, radius + 1, (2, *self.shape), generator=self.generator, device=self.field.device)
        return self._shifted(self.field, offsets[0], offsets[1])

    def upsampled(self, keys: PatchKeys, query_shape: tuple[int, int]) -> torch.Tensor:
        """This field carried to a finer level: every fine patch takes the match of the coarse patch it lies in,
        scaled to the finer keys' grid and moved by the fine patch's offset inside the coarse one."""
        if len(keys.grids) != len(self.keys.grids):
            raise ValueError("the finer level has another number of style maps")
        hq, wq = query_shape[0] - keys.patch + 1, query_shape[1] - keys.patch + 1
        device = self.field.device
        ch, cw = self.shape
        fy = torch.arange(hq, device=device, dtype=torch.float32)
        fx = torch.arange(wq, device=device, dtype=torch.float32)
        cy = (fy * ch / hq).long().clamp_max(ch - 1)
        cx = (fx * cw / wq).long().clamp_max(cw - 1)
        coarse = self.field[cy[:, None], cx[None, :]]
        style = self.keys.style[coarse]
        fine_hg, fine_wg, fine_first = keys.grid_tensors()
        ratio_y = fine_hg[style].float() / self._hg[style].float()
        ratio_x = fine_wg[style].float() / self._wg[style].float()
        gy = self.keys.gy[coarse].float() * ratio_y + (fy[:, None] - cy[:, None].float() * hq / ch) / keys.stride
        gx = self.keys.gx[coarse].float() * ratio_x + (fx[None, :] - cx[None, :].float() * wq / cw) / keys.stride
        gy = torch.minimum(gy.round().long().clamp_min(0), fine_hg[style] - 1)
        gx = torch.minimum(gx.round().long().clamp_min(0), fine_wg[style] - 1)
        return fine_first[style] + gy * fine_wg[style] + gx


def _radii(extent: int) -> list[int]:
    """Random-search radii: the whole grid, then halves down to one step."""
    radii = []
    r = max(1, extent)
    while r >= 1:
        radii.append(r)
        r //= 2
    return radii
