"""Coarse-to-fine image synthesis with L-BFGS (the CNNMRF optimisation loop)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sst.core.errors import SSTError
from sst.core.images import resize, resize_long_side, to_image, to_tensor
from sst.core.interfaces import FeatureNet, Segmentation, StyleLoss, StyleTargets
from sst.core.masks import resize_maps

INITS = ("content", "random")


@dataclass(frozen=True)
class SynthesisSettings:
    """Optimisation settings. Losses are means over elements, so weights hold at every size."""

    size: int = 384  # long side of the result, px
    levels: int = 3  # resolutions, each twice the previous
    iters: tuple[int, ...] = (100,)  # L-BFGS iterations per level, coarse to fine (one value: every level)
    style_scale: float = 1.0  # long side of the styles relative to the result's at each level
    content_weight: float = 1.0
    style_weight: float = 1.0
    tv_weight: float = 1.0
    init: str = "content"  # content | random
    seed: int = 0


@dataclass(frozen=True)
class Temporal:
    """For a video frame after the first (Ruder et al. 2016): the previous result warped onto this frame,
    where that warp is reliable, and the weight of the temporal loss. The synthesis starts from the warped
    result and adds ``weight * mean(reliable * (x - previous)^2)`` at every level."""

    previous: np.ndarray  # uint8 RGB, the content's size
    reliable: np.ndarray  # (H, W) float32 in [0, 1]
    weight: float


@dataclass(frozen=True)
class LevelReport:
    height: int
    width: int
    iterations: int
    seconds: float
    loss: dict[str, float]
    search: dict[str, str]  # loss layer -> the nearest-patch search that ran (exact | approx)
    start_seconds: float  # from the level's start to the end of its first iteration (targets, search start)


def level_sizes(size: int, levels: int) -> list[int]:
    """Long side of each level, coarse to fine."""
    return [max(16, round(size / 2 ** (levels - 1 - i))) for i in range(levels)]


def level_iters(iters: int | str | Sequence[int], levels: int) -> tuple[int, ...]:
    """Iterations per level, coarse to fine, from one number for every level or one per level
    (``200,100,50`` as text or a sequence)."""
    if isinstance(iters, str):
        try:
            iters = [int(part) for part in iters.split(",")]
        except ValueError:
            raise SSTError(f"--iters '{iters}' is not a number or a comma-separated list of numbers") from None
    values = (iters,) if isinstance(iters, int) else tuple(iters)
    if len(values) == 1:
        values = values * levels
    if len(values) != levels:
        raise SSTError(f"--iters gives {len(values)} numbers for {levels} levels; give one, or one per level")
    if min(values) < 1:
        raise SSTError("--iters must be at least 1 at every level")
    return values


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels."""
    return (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean() + (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()


def _level_masks(masks: np.ndarray | None, shape: tuple[int, int], device: torch.device) -> torch.Tensor | None:
    if masks is None:
        return None
    return torch.from_numpy(resize_maps(masks, shape)).to(device)


def level_targets(styles: Sequence[np.ndarray], shape: tuple[int, int], net: FeatureNet, layers: Sequence[str],
                  device: torch.device, segmentation: Segmentation | None = None) -> StyleTargets:
    """A level's targets: the features of ``styles`` (already at the level's size) on ``layers``, and with a
    ``segmentation`` the style masks and the content masks at ``shape`` (the image's (h, w) at this level)."""
    with torch.no_grad():
        feats = [{k: v[0] for k, v in net.extract(to_tensor(s, device), layers).items()} for s in styles]
    return StyleTargets(
        style_features=feats,
        style_masks=None if segmentation is None else [
            _level_masks(m.maps, s.shape[:2], device) for m, s in zip(segmentation.styles, styles)
        ],
        content_masks=None if segmentation is None else _level_masks(segmentation.content.maps, shape, device),
    )


def synthesise(
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    net: FeatureNet,
    loss: StyleLoss,
    settings: SynthesisSettings,
    device: torch.device,
    segmentation: Segmentation | None = None,
    on_level: Callable[[int, int, tuple[int, int]], Callable[[], None]] | None = None,
    temporal: Temporal | None = None,
    on_image: Callable[[np.ndarray], None] | None = None,
) -> tuple[np.ndarray, list[LevelReport]]:
    """Stylise ``content`` with ``styles``; returns the image (uint8 RGB) and a report per level.

    ``on_level(level, iterations, (h, w))`` is called as each level starts and returns
    a callback invoked once per L-BFGS iteration (for progress display); ``on_image``, when given,
    receives the image being optimised (uint8 RGB, this level's size) after every iteration (for a preview).
    """
    generator = torch.Generator(device="cpu").manual_seed(settings.seed)
    taps = set(loss.layers) | {loss.content_layer}
    x: torch.Tensor | None = None
    reports: list[LevelReport] = []
    iterations = level_iters(settings.iters, settings.levels)
    for level, long_side in enumerate(level_sizes(settings.size, settings.levels)):
        start = time.perf_counter()
        content_l = resize_long_side(content, long_side)
        h, w = content_l.shape[:2]
        styles_l = [resize_long_side(s, round(long_side * settings.style_scale)) for s in styles]
        content_t = to_tensor(content_l, device)
        with torch.no_grad():
            content_target = net.extract(content_t, [loss.content_layer])[loss.content_layer][0]
        loss.prepare(level_targets(styles_l, (h, w), net, loss.layers, device, segmentation))
        if temporal is not None:
            previous_t = to_tensor(resize(temporal.previous, (h, w)), device)
            reliable_t = torch.from_numpy(resize(temporal.reliable.astype(np.float32), (h, w))).to(device)[None, None]
        if x is None:
            if temporal is not None:
                x = previous_t.clone()
            elif settings.init == "random":
                x = torch.rand(content_t.shape, generator=generator).to(device)
            else:
                x = content_t.clone()
        else:
            x = F.interpolate(x.detach(), size=(h, w), mode="bilinear", align_corners=False)
        x = x.detach().contiguous().requires_grad_(True)
        iters = iterations[level]
        tick = on_level(level, iters, (h, w)) if on_level else (lambda: None)
        terms: dict[str, float] = {}

        def closure() -> torch.Tensor:
            optimiser.zero_grad()
            feats = {k: v[0] for k, v in net.extract(x, taps).items()}
            style = loss(feats)
            content_term = F.mse_loss(feats[loss.content_layer], content_target)
            tv = tv_loss(x)
            total = settings.style_weight * style + settings.content_weight * content_term + settings.tv_weight * tv
            if temporal is not None:
                steady = (reliable_t * (x - previous_t).pow(2)).mean()
                total = total + temporal.weight * steady
                terms["temporal"] = steady.item()
            total.backward()
            terms.update(style=style.item(), content=content_term.item(), tv=tv.item(), total=total.item())
            return total

        optimiser = torch.optim.LBFGS(
            [x], lr=1.0, max_iter=iters, max_eval=iters,
            tolerance_grad=0.0, tolerance_change=0.0, history_size=50,
        )
        state_iters = 0
        first_done = 0.0

        def counted() -> torch.Tensor:
            nonlocal state_iters, first_done
            state_iters += 1
            value = closure()
            if state_iters == 1:
                first_done = time.perf_counter() - start
            tick()
            if on_image is not None:
                on_image(to_image(x))
            return value

        optimiser.step(counted)
        with torch.no_grad():
            x.clamp_(0, 1)
        reports.append(LevelReport(h, w, state_iters, time.perf_counter() - start, dict(terms), dict(loss.searches), first_done))
    assert x is not None
    return to_image(x), reports


