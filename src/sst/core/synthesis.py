"""Coarse-to-fine image synthesis with L-BFGS (the CNNMRF optimisation loop)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sst.core.images import resize_long_side, to_image, to_tensor
from sst.core.interfaces import FeatureNet, Segmentation, StyleLoss, StyleTargets
from sst.core.masks import resize_maps

INITS = ("content", "random")


@dataclass(frozen=True)
class SynthesisSettings:
    """Optimisation settings. Losses are means over elements, so weights hold at every size."""

    size: int = 384  # long side of the result, px
    levels: int = 3  # resolutions, each twice the previous
    iters: int = 100  # L-BFGS iterations per level
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 1.0
    init: str = "content"  # content | random
    seed: int = 0


@dataclass(frozen=True)
class LevelReport:
    height: int
    width: int
    iterations: int
    seconds: float
    loss: dict[str, float]


def level_sizes(size: int, levels: int) -> list[int]:
    """Long side of each level, coarse to fine."""
    return [max(16, round(size / 2 ** (levels - 1 - i))) for i in range(levels)]


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels."""
    return (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean() + (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()


def _level_masks(masks: np.ndarray | None, shape: tuple[int, int], device: torch.device) -> torch.Tensor | None:
    if masks is None:
        return None
    return torch.from_numpy(resize_maps(masks, shape)).to(device)


def synthesise(
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    net: FeatureNet,
    loss: StyleLoss,
    settings: SynthesisSettings,
    device: torch.device,
    segmentation: Segmentation | None = None,
    on_level: Callable[[int, int, tuple[int, int]], Callable[[], None]] | None = None,
) -> tuple[np.ndarray, list[LevelReport]]:
    """Stylise ``content`` with ``styles``; returns the image (uint8 RGB) and a report per level.

    ``on_level(level, iterations, (h, w))`` is called as each level starts and returns
    a callback invoked once per L-BFGS iteration (for progress display).
    """
    generator = torch.Generator(device="cpu").manual_seed(settings.seed)
    taps = set(loss.layers) | {loss.content_layer}
    x: torch.Tensor | None = None
    reports: list[LevelReport] = []
    for level, long_side in enumerate(level_sizes(settings.size, settings.levels)):
        start = time.perf_counter()
        content_l = resize_long_side(content, long_side)
        h, w = content_l.shape[:2]
        styles_l = [resize_long_side(s, long_side) for s in styles]
        content_t = to_tensor(content_l, device)
        with torch.no_grad():
            content_target = net.extract(content_t, [loss.content_layer])[loss.content_layer][0]
            style_feats = [{k: v[0] for k, v in net.extract(to_tensor(s, device), loss.layers).items()} for s in styles_l]
        targets = StyleTargets(
            style_features=style_feats,
            style_masks=None if segmentation is None else [
                _level_masks(m.maps, s.shape[:2], device) for m, s in zip(segmentation.styles, styles_l)
            ],
            content_masks=None if segmentation is None else _level_masks(segmentation.content.maps, (h, w), device),
        )
        loss.prepare(targets)
        if x is None:
            if settings.init == "random":
                x = torch.rand(content_t.shape, generator=generator).to(device)
            else:
                x = content_t.clone()
        else:
            x = F.interpolate(x.detach(), size=(h, w), mode="bilinear", align_corners=False)
        x = x.detach().contiguous().requires_grad_(True)
        tick = on_level(level, settings.iters, (h, w)) if on_level else (lambda: None)
        terms: dict[str, float] = {}

        def closure() -> torch.Tensor:
            optimiser.zero_grad()
            feats = {k: v[0] for k, v in net.extract(x, taps).items()}
            style = loss(feats)
            content_term = F.mse_loss(feats[loss.content_layer], content_target)
            tv = tv_loss(x)
            total = settings.style_weight * style + settings.content_weight * content_term + settings.tv_weight * tv
            total.backward()
            terms.update(style=style.item(), content=content_term.item(), tv=tv.item(), total=total.item())
            return total

        optimiser = torch.optim.LBFGS(
            [x], lr=1.0, max_iter=settings.iters, max_eval=settings.iters,
            tolerance_grad=0.0, tolerance_change=0.0, history_size=50,
        )
        state_iters = 0

        def counted() -> torch.Tensor:
            nonlocal state_iters
            state_iters += 1
            value = closure()
            tick()
            return value

        optimiser.step(counted)
        with torch.no_grad():
            x.clamp_(0, 1)
        reports.append(LevelReport(h, w, state_iters, time.perf_counter() - start, dict(terms)))
    assert x is not None
    return to_image(x), reports


