"""A mean-field CRF layer (CRF-as-RNN, Zheng et al. 2015) and the softener ``crf``.

The layer runs a fixed number of mean-field iterations of a dense CRF with
Potts compatibility (Krähenbühl & Koltun 2011), starting from unary logits
(``log p`` of soft masks or a network's scores)::

    Q = softmax(logits)
    logits = unary + w_b * B(Q) + w_s * S(Q)   # repeated ``iterations`` times

where ``S`` is a Gaussian spatial kernel (sigma ``spatial_sigma`` px) and ``B``
the bilateral appearance kernel exp(-|dp|^2 / 2 sa^2 - |dI|^2 / 2 sb^2) over
position and RGB. Both are normalised (weights sum to 1 at every pixel, self
excluded), as in CRF-RNN. The output is the last iteration's logits.

Approximation of the bilateral filter (no permutohedral lattice): each pixel
receives messages from neighbours on square rings of half-width 1, 2, 4, ...
px (powers of two up to 2 sa): 8 on the first ring, 16 on each other one
(corners, edge midpoints and quarter points), each weighted by the area it
stands for times the position Gaussian. Log-spaced rings reach as far as the
kernel does with few neighbours (88 for sa = 25 px) and couple every pixel to
its direct neighbours; a dilated lattice would leave interleaved sub-grids to
converge apart (blocky artefacts where the unary is weak). The colour term is
evaluated for every pixel pair, so the result follows edges at the grid's full
resolution. Memory is one (H, W) weight map per neighbour (17 MB on a 256 x 192
grid). The wrappers here run the CRF on a grid of long side :data:`WORK_SIZE`
and resize its output bilinearly to the image.

Only standard ONNX ops are needed (Pad, Gather, Range, Conv, Softmax,
element-wise ops): ``torch.onnx.export`` writes the layer at opset 17+.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from sst.core.errors import SSTError
from sst.core.hookspecs import hookimpl
from sst.core.images import resize, to_tensor
from sst.core.interfaces import PluginContext
from sst.core.masks import resize_maps

#: Long side of the grid the wrappers below run the CRF on, px.
WORK_SIZE = 256
#: Softener: mask values are clipped to [EPS, 1 - EPS] before taking logs (how far a confident pixel can move).
EPS = 0.01


def ring_offsets(half_width: int) -> list[tuple[int, int]]:
    """Offsets on the square ring of ``half_width``: corners and edge midpoints, plus quarter points beyond 1 px."""
    s, h = half_width, half_width // 2
    ring = {(i * s, j * s) for i in (-1, 0, 1) for j in (-1, 0, 1) if (i, j) != (0, 0)}
    if s > 1:
        ring |= {(a, b) for a in (-s, s) for b in (-h, h)} | {(b, a) for a in (-s, s) for b in (-h, h)}
    return sorted(ring)


class MeanFieldCRF(torch.nn.Module):
    """Dense CRF mean-field inference with Gaussian spatial + bilateral kernels (Potts).

    ``forward(unary (N, K, H, W) logits, image (1 or N, 3, H, W) RGB in [0, 1])`` returns
    refined logits of the unary's shape. Distances are in pixels of that grid.

    Eagerly, messages are accumulated one shifted slice at a time (fast on CPU, memory
    N*K*H*W); while exporting to ONNX, neighbours are gathered ``chunk`` offsets at a time
    (one Gather per chunk keeps the graph small; memory N*K*chunk*H*W).
    """

    def __init__(self, iterations: int = 5, spatial_sigma: float = 1.5, spatial_weight: float = 3.0,
                 bilateral_sigma: float = 25.0, colour_sigma: float = 0.08, bilateral_weight: float = 5.0,
                 chunk: int = 16) -> None:
        super().__init__()
        if iterations < 1 or chunk < 1 or min(spatial_sigma, bilateral_sigma, colour_sigma) <= 0:
            raise ValueError("iterations and chunk must be >= 1 and every sigma > 0")
        self.iterations = iterations
        self.spatial_weight = spatial_weight
        self.bilateral_weight = bilateral_weight
        self.colour_scale = 1.0 / (2.0 * colour_sigma**2)
        self.chunk = chunk
        self.offsets, area = [], []
        for i in range(int(math.log2(max(1.0, 2.0 * bilateral_sigma))) + 1):
            ring = ring_offsets(2**i)
            self.offsets += ring
            area += [8 * 4**i / len(ring)] * len(ring)
        self.pad = max(max(abs(dy), abs(dx)) for dy, dx in self.offsets)
        position = [a * math.exp(-(dy * dy + dx * dx) / (2.0 * bilateral_sigma**2)) for a, (dy, dx) in zip(area, self.offsets)]
        self.register_buffer("position", torch.tensor(position).view(1, -1, 1, 1), persistent=False)
        radius = max(1, math.ceil(3.0 * spatial_sigma))
        x = torch.arange(-radius, radius + 1, dtype=torch.float32)
        g = torch.exp(-(x**2) / (2.0 * spatial_sigma**2))
        kernel = g[:, None] * g[None, :]
        kernel[radius, radius] = 0.0  # messages come from the other pixels only
        self.register_buffer("spatial_kernel", (kernel / kernel.sum())[None, None], persistent=False)

    @classmethod
    def for_grid(cls, long_side: int, iterations: int = 5) -> MeanFieldCRF:
        """The default CRF for a grid of ``long_side`` px: sigmas scaled with the grid
        (spatial 0.6 %, bilateral 10 % of the long side; DenseCRF's 3 px and ~50 px at 500 px)."""
        return cls(iterations=iterations, spatial_sigma=max(0.5, 0.006 * long_side),
                   bilateral_sigma=max(1.0, 0.1 * long_side))

    def _slice(self, padded: torch.Tensor, dy: int, dx: int, h: int, w: int) -> torch.Tensor:
        return padded[:, :, self.pad + dy : self.pad + dy + h, self.pad + dx : self.pad + dx + w]

    def _indices(self, h: int, w: int, device: torch.device) -> list[torch.Tensor]:
        """Per chunk of offsets, the flat indices of every pixel's neighbours in the padded grid, (chunk*H*W,)."""
        ys = torch.arange(h, device=device).view(1, -1, 1) + self.pad
        xs = torch.arange(w, device=device).view(1, 1, -1) + self.pad
        out = []
        for start in range(0, len(self.offsets), self.chunk):
            off = torch.tensor(self.offsets[start : start + self.chunk], device=device)
            rows, cols = ys + off[:, 0].view(-1, 1, 1), xs + off[:, 1].view(-1, 1, 1)
            out.append((rows * (w + 2 * self.pad) + cols).reshape(-1))
        return out

    def _gather(self, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> neighbours (N, C, chunk, H, W) at flat ``index`` (zero outside the grid)."""
        n, c, h, w = x.shape
        return F.pad(x, (self.pad,) * 4).flatten(2).index_select(2, index).view(n, c, -1, h, w)

    def bilateral_weights(self, image: torch.Tensor, indices: list[torch.Tensor] | None) -> torch.Tensor:
        """The normalised bilateral weight of every neighbour, (N, offsets, H, W)."""
        h, w = image.shape[-2], image.shape[-1]
        with_valid = torch.cat([image, torch.ones_like(image[:, :1])], 1)
        if indices is None:
            padded = F.pad(with_valid, (self.pad,) * 4)
            weights = torch.empty(image.shape[0], len(self.offsets), h, w, dtype=image.dtype, device=image.device)
            for d, (dy, dx) in enumerate(self.offsets):
                nb = self._slice(padded, dy, dx, h, w)
                weights[:, d] = nb[:, 3] * torch.exp(-self.colour_scale * ((nb[:, :3] - image) ** 2).sum(1))
        else:
            nb = torch.cat([self._gather(with_valid, index) for index in indices], 2)
            weights = nb[:, 3] * torch.exp(-self.colour_scale * ((nb[:, :3] - image.unsqueeze(2)) ** 2).sum(1))
        weights = self.position * weights
        return weights / weights.sum(1, keepdim=True).clamp_min(1e-6)  # no similar neighbour: no message

    def bilateral(self, q: torch.Tensor, weights: torch.Tensor, indices: list[torch.Tensor] | None) -> torch.Tensor:
        """Bilateral filtering of every channel of ``q`` with precomputed ``weights``."""
        if indices is not None:
            return sum((self._gather(q, index) * weights[:, i * self.chunk : (i + 1) * self.chunk].unsqueeze(1)).sum(2)
                       for i, index in enumerate(indices))
        h, w = q.shape[-2], q.shape[-1]
        padded = F.pad(q, (self.pad,) * 4)
        out = torch.zeros_like(q)
        for d, (dy, dx) in enumerate(self.offsets):
            out.addcmul_(weights[:, d : d + 1], self._slice(padded, dy, dx, h, w))
        return out

    def spatial(self, q: torch.Tensor) -> torch.Tensor:
        """Normalised Gaussian filtering of every channel (zero padding, renormalised at borders)."""
        n, k, h, w = q.shape
        radius = self.spatial_kernel.shape[-1] // 2
        flat = q.reshape(n * k, 1, h, w)
        blurred = F.conv2d(flat, self.spatial_kernel, padding=radius)
        norm = F.conv2d(torch.ones_like(flat[:1]), self.spatial_kernel, padding=radius)
        return (blurred / norm).reshape(n, k, h, w)

    def forward(self, unary: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        exporting = torch.onnx.is_in_onnx_export()
        indices = self._indices(unary.shape[-2], unary.shape[-1], unary.device) if exporting else None
        weights = self.bilateral_weights(image, indices)
        logits = unary
        for _ in range(self.iterations):
            q = torch.softmax(logits, 1)
            logits = unary + self.bilateral_weight * self.bilateral(q, weights, indices) + self.spatial_weight * self.spatial(q)
        return logits


def image_tensor(image: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """uint8 RGB (H, W, 3) -> (1, 3, h, w) float in [0, 1] at ``size`` = (h, w) (:func:`resize`)."""
    return to_tensor(resize(image, size))


def work_size(size: tuple[int, int], long_side: int = WORK_SIZE) -> tuple[int, int]:
    """(h, w) of the CRF grid for an image of ``size`` (never larger than the image)."""
    h, w = size
    scale = min(1.0, long_side / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def refine(probabilities: np.ndarray, image: np.ndarray, crf: MeanFieldCRF | None = None) -> np.ndarray:
    """Joint K-label CRF of (K, h, w) probabilities (any size) over ``image``; returns (K, H, W) at the image's size."""
    grid = work_size(image.shape[:2])
    crf = crf or MeanFieldCRF.for_grid(max(grid))
    p = resize_maps(probabilities, grid)
    unary = torch.from_numpy(np.log(np.clip(p, 1e-6, 1.0)))[None]
    with torch.no_grad():
        q = torch.softmax(crf(unary, image_tensor(image, grid)), 1)[0].numpy()
    return resize_maps(q, image.shape[:2])


class CRFSoftener:
    """Mean-field CRF: sharpens soft masks toward the image's edges (each mask against the rest)."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def soften(self, maps: np.ndarray, image: np.ndarray) -> np.ndarray:
        if maps.ndim != 3 or image.shape[:2] != maps.shape[1:]:
            raise SSTError(f"masks of shape {maps.shape} do not fit an image of shape {image.shape}; "
                           "give (K, H, W) masks of the image's size")
        if maps.shape[0] == 0:
            return maps.astype(np.float32)
        grid = work_size(image.shape[:2])
        m = np.clip(resize_maps(maps, grid), EPS, 1.0 - EPS)
        unary = torch.from_numpy(np.log(np.stack([m, 1.0 - m], 1)))  # (K, 2, h, w): mask vs rest
        with torch.no_grad():
            q = torch.softmax(MeanFieldCRF.for_grid(max(grid))(unary, image_tensor(image, grid)), 1)[:, 0].numpy()
        return resize_maps(q, image.shape[:2])


@hookimpl
def register_softeners(register) -> None:
    register("crf", CRFSoftener)
