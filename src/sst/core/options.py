"""Every option of a run, declared with its default, and the checks that need no image."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sst.core.errors import SSTError
from sst.core.search import PRECISIONS, SEARCHES
from sst.core.synthesis import INITS, level_iters

KINDS = ("photo", "artwork", "auto")
MAX_SIZE = 16384  # --size above this is refused outright, whatever --force says
MIN_SIDE = 32  # px: the long side of every level
MIN_SHORT_SIDE = 24  # px: the short side of every level's content and styles (3x3 patches after relu4_1's 3 pools)


SYNTHESIS = "synthesis"  # options of every command that runs a synthesis
MASKS = "masks"  # options that make the masks: also taken by the commands that only segment or measure


def option(default: Any, help: str, *, scope: str = SYNTHESIS, flag: str | None = None, cli: Any = None,
           choices: tuple[str, ...] = ()) -> Any:
    """A field of :class:`TransferOptions` with what the command line needs: its ``help``, the ``scope`` of
    commands that take it, where the CLI differs from the field its ``flag`` and ``cli`` type, and for a word
    from a fixed set its ``choices`` (the web page offers them; :func:`check_options` checks them)."""
    return field(default=default, metadata={"help": help, "scope": scope, "flag": flag, "cli": cli,
                                            "choices": choices})


RECOMMENDED = "(default: the loss's recommended weight, else 1)"


@dataclass(frozen=True)
class TransferOptions:
    """Every option of a run, declared once: the defaults, help and scopes here are the CLI's and the README's
    (``sst.cli.options`` builds each command's options from these fields)."""

    size: int = option(384, "Long side of the result, px.")
    levels: int = option(3, "Resolutions, coarse to fine, each twice the previous.")
    iters: int | str | tuple[int, ...] = option(
        100, "L-BFGS iterations: one number for every level, or one per level, coarse to fine (200,100,50: fewer "
             "at the expensive top); the sidecar records the list.", cli=str)
    content_weight: float | None = option(None, f"Weight of the content loss {RECOMMENDED}.")
    style_weight: float | None = option(None, f"Weight of the style loss {RECOMMENDED}.")
    tv_weight: float | None = option(None, f"Weight of the total-variation term {RECOMMENDED}.")
    gamma: float = option(2.0, "Mask weight of mrf-semantic: what a style patch of a wholly other region loses in "
                               "the match score, against the features' NCC; 0 is plain mrf. Not the paper's gamma "
                               "(README: The mask weight).")
    semantic_weight: float | None = option(None, "Semantic weight of doodle (default: 100, the paper's comparison).")
    style_stride: int = option(1, "Stride of the style patch grid (1: every patch; CNNMRF's own code samples at 2).")
    style_scale: float = option(1.0, "Size of the styles relative to the result at every level (neural-style's "
                                     "-style_scale).")
    search: str = option("auto", "Nearest-patch search of the patch losses: exact (every pair), approx (PatchMatch, "
                                 "linear in the pixel count) or auto (exact while a layer has under 40 M patch pairs); "
                                 "the sidecar records which ran.", choices=SEARCHES)
    search_precision: str = option("fp32", "Precision of the search's vectors: fp32, or fp16/bf16 with --device cuda.",
                                    choices=tuple(PRECISIONS))
    force: bool = option(False, "Run even when the memory estimate says the run will not fit.")
    style_rotations: int = option(0, "Also match style copies rotated by k*pi/24, k=-N..N (CNNMRF).")
    style_scales: int = option(0, "Also match style copies scaled by 1.05**k, k=-N..N (CNNMRF).")
    preserve_colour: bool = option(False, "Luminance-only transfer (Gatys et al. 2016): the result keeps the "
                                          "content's colours.")
    init: str = option("content", "Start from the content image or from noise (random, the paper's choice).",
                      choices=INITS)
    seed: int = option(0, "Random seed; runs are reproducible.")
    features: str = option("auto", "Feature network (vgg19, vgg16, ...); auto: vgg19 when its cached weights pass "
                                   "their sha256 check, else vgg16 (it says which and why).")
    loss: str = option("mrf-semantic", "Style loss: mrf-semantic, mrf (plain CNNMRF), or the baselines gram (Gatys "
                                       "2015), gram-guided (Gatys 2017), doodle (Champandard 2016); see 'sst plugins'.")
    segmenter: str = option("auto", "Segmenter; auto: the one that says it suits the content best: manual with "
                                    "maps, portrait with a face, crfrnn when installed, else cosegment (it says "
                                    "which and why).", scope=MASKS)
    classes: int | None = option(None, "Labels the segmenter keeps: crfrnn the top K VOC classes (default 5), "
                                       "cosegment K regions (2-6, chosen when omitted).", scope=MASKS)
    softener: str = option("gaussian", "Mask softener: gaussian (sigma 1% of the long side), guided (edge-aware), "
                                       "crf (mean-field CRF toward the image's edges) or none (binary masks).")
    content_map: Path | None = option(None, "Colour-coded semantic map of the content (manual segmenter).", scope=MASKS)
    style_maps: tuple[Path, ...] = option((), "Colour-coded semantic map of a style; once per style, in order.",
                                          scope=MASKS, flag="--style-map", cli=list[Path])
    content_kind: str = option("auto", "Content: photo, artwork or auto, for the portrait masks.", scope=MASKS,
                          choices=KINDS)
    style_kind: str = option("auto", "Styles: photo, artwork or auto, for the portrait masks.", scope=MASKS,
                        choices=KINDS)
    device: str = option("cpu", "cpu or cuda.", choices=("cpu", "cuda"))
    save_masks: bool = option(False, "Also write the masks used (grey images and a colour composite) to OUT_masks/.")


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
