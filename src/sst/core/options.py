"""Every option of a run, declared with its default, and the checks that need no image."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

from sst.core.errors import SSTError
from sst.core.search import PRECISIONS, SEARCHES
from sst.core.synthesis import INITS, level_iters

KINDS = ("photo", "artwork", "auto")
MAX_SIZE = 16384  # --size above this is refused outright, whatever --force says
MIN_SIDE = 32  # px: the long side of every level
MIN_SHORT_SIDE = 24  # px: the short side of every level's content and styles (3x3 patches after relu4_1's 3 pools)


@dataclass(frozen=True)
class TransferOptions:
    """Every option of a run; the defaults are the CLI's."""

    size: int = 384
    levels: int = 3
    iters: int | str | tuple[int, ...] = 100  # L-BFGS iterations: one for every level, or one per level ("200,100,50")
    content_weight: float | None = None  # None: the loss's recommended weight, else 1 (see loss_weights)
    style_weight: float | None = None
    tv_weight: float | None = None
    gamma: float = 2.0
    semantic_weight: float | None = None  # doodle's semantic weight; None: its paper default
    style_stride: int = 1
    style_scale: float = 1.0  # style long side relative to the result's, at every level (neural-style's -style_scale)
    search: str = "auto"  # nearest-patch search: exact | approx | auto (sst.core.search)
    search_precision: str = "fp32"  # of the search's vectors: fp32 | fp16 | bf16 (half precision: CUDA only)
    force: bool = False  # run even when the memory estimate exceeds the memory available
    style_rotations: int = 0  # CNNMRF: 2n+1 copies rotated by k*pi/24
    style_scales: int = 0  # CNNMRF: 2n+1 copies scaled by 1.05**k
    preserve_colour: bool = False  # luminance-only transfer, the content's colours kept
    init: str = "content"
    seed: int = 0
    features: str = "auto"
    loss: str = "mrf-semantic"
    segmenter: str = "auto"
    classes: int | None = None  # labels the segmenter keeps; None: the segmenter's default
    softener: str = "gaussian"
    content_map: Path | None = None
    style_maps: tuple[Path, ...] = ()
    content_kind: str = "auto"
    style_kind: str = "auto"
    device: str = "cpu"
    save_masks: bool = False


NUMBERS = ("content_weight", "style_weight", "tv_weight", "gamma", "semantic_weight", "style_scale")


def check_options(o: TransferOptions) -> None:
    """Refuse options that no image could make right, with one line that says what to use."""
    for name in NUMBERS:
        value = getattr(o, name)
        if value is not None and not math.isfinite(value):
            raise SSTError(f"--{name.replace('_', '-')} {value} is not a finite number; give an ordinary number")
    checks = [
        (o.size >= MIN_SIDE, f"--size {o.size} is too small; use {MIN_SIDE} or more"),
        (o.size <= MAX_SIZE, f"--size {o.size} is too large; sst makes at most {MAX_SIZE} px"),
        (o.levels >= 1, "--levels must be at least 1"),
        (all(w is None or w >= 0 for w in (o.content_weight, o.style_weight, o.tv_weight, o.semantic_weight)),
         "loss weights must not be negative"),
        (o.classes is None or o.classes >= 1, "--classes must be at least 1"),
        (o.gamma >= 0, "--gamma must not be negative"),
        (o.style_scale > 0 and math.isfinite(o.style_scale), "--style-scale must be a positive number"),
        (o.style_scale * o.size / 2 ** (o.levels - 1) >= 32,
         f"--style-scale {o.style_scale} makes the styles of the coarsest level under 32 px; use a larger scale, "
         "a larger --size or fewer --levels"),
        (o.search in SEARCHES, f"--search must be one of {', '.join(SEARCHES)}"),
        (o.search_precision in PRECISIONS, f"--search-precision must be one of {', '.join(PRECISIONS)}"),
        (o.search_precision == "fp32" or o.device.startswith("cuda"),
         f"--search-precision {o.search_precision} is for --device cuda; on the CPU use fp32"),
        (o.style_stride >= 1, "--style-stride must be at least 1"),
        (min(o.style_rotations, o.style_scales) >= 0, "--style-rotations/--style-scales must not be negative"),
        (o.init in INITS, f"--init must be one of {', '.join(INITS)}"),
        (o.content_kind in KINDS and o.style_kind in KINDS, f"--content-kind/--style-kind must be one of {', '.join(KINDS)}"),
        (o.size / 2 ** (o.levels - 1) >= MIN_SIDE, f"--levels {o.levels} is too many for --size {o.size}: the coarsest level would be under 32 px"),
    ]
    for ok, message in checks:
        if not ok:
            raise SSTError(message)


def normalised(options: TransferOptions) -> TransferOptions:
    """Checked options with paths as Paths and ``iters`` as one number per level."""
    options = replace(options, content_map=Path(options.content_map) if options.content_map else None,
                      style_maps=tuple(Path(p) for p in options.style_maps))
    check_options(options)
    return replace(options, iters=level_iters(options.iters, options.levels))
