"""The pipeline: :class:`Stylist` resolves the plugins and loads the models once, then runs many jobs.

``transfer`` (``sst run``) is one job through a Stylist; ``compare`` segments once and hands the
same segmentation to a Stylist per loss.
"""

from __future__ import annotations

import copy
import json
import resource
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from sst.core.augment import augment
from sst.core.colour import luminance_inputs, recombine
from sst.core.errors import SSTError
from sst.core.interfaces import (
    FeatureNet, LossOptions, PluginContext, SegmentRequest, Segmentation, SemanticMasks, Softener, StyleLoss,
)
from sst.core.memory import (
    MemoryEstimate, NetworkProfile, available_bytes, estimate_peak, gib, profile_network, resident_bytes,
    return_freed_memory,
)
from sst.core.options import TransferOptions, normalised
from sst.core.registry import PluginInfo, Registry, default_registry
from sst.core.search import choose_search
from sst.core.synthesis import LevelReport, SynthesisSettings, Temporal, level_iters, level_sizes, synthesise

if TYPE_CHECKING:
    from sst.core.models import ModelManager

MASK_CHANNELS = 8  # labels assumed for the memory estimate of a semantic loss (masks are made after it)


def _device(name: str) -> torch.device:
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise SSTError(f"unknown device '{name}'; use cpu or cuda")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SSTError("--device cuda was asked for but torch sees no CUDA device; use --device cpu")
    return torch.device(name)



def check_plugin_names(options: TransferOptions, registry: Registry) -> None:
    """Every plugin the options name exists: a typo is reported before any work."""
    registry.get("loss", options.loss)
    registry.get("softener", options.softener)
    for kind, name in (("features", options.features), ("segmenter", options.segmenter)):
        if name != "auto":
            registry.get(kind, name)



def resolve_features(name: str, ctx: PluginContext) -> str:
    """``name``, or for ``auto``: the registered feature network that says it is readiest
    (``suitability(ctx) -> Suitability``, e.g. whether its weights are present; ties go to the one
    registered first). Says which, and why the ones before it were passed over."""
    if name != "auto":
        return name
    verdicts = [(candidate, judge(ctx)) for candidate in ctx.registry.names_in_order("features")
                if (judge := getattr(ctx.registry.get("features", candidate).factory, "suitability", None))]
    ready = [(v.score, -i, candidate) for i, (candidate, v) in enumerate(verdicts) if v.score > 0]
    if not ready:
        raise SSTError("no feature network is ready: " + "; ".join(f"{c}: {v.reason}" for c, v in verdicts))
    chosen = max(ready)[2]
    passed = [f"{c}: {v.reason}" for c, v in verdicts[:[c for c, _ in verdicts].index(chosen)]]
    ctx.notice(f"features: {chosen}" + (f" ({'; '.join(passed)})" if passed else ""))
    return chosen


WEIGHTS = ("content_weight", "style_weight", "tv_weight")


def loss_weights(loss_factory: object, options: TransferOptions) -> dict[str, float]:
    """Each weight the user set; else the loss's ``recommended_weights`` entry; else 1."""
    recommended: dict[str, float] = getattr(loss_factory, "recommended_weights", {})
    return {w: v if (v := getattr(options, w)) is not None else recommended.get(w, 1.0) for w in WEIGHTS}


def resolve_segmenter(name: str, maps_given: bool, ctx: PluginContext, content: np.ndarray) -> str:
    """``name``, or for ``auto``: the registered segmenter that says it suits this content best
    (:class:`~sst.core.interfaces.Suitability`; ties go to the one registered first). Says which and why."""
    if name != "auto":
        return name
    best: tuple[float, str, str] | None = None
    for candidate in ctx.registry.names_in_order("segmenter"):
        judge = getattr(ctx.registry.get("segmenter", candidate).factory, "suitability", None)
        if judge is None:
            continue
        verdict = judge(ctx, content, maps_given)
        if verdict.score > 0 and (best is None or verdict.score > best[0]):
            best = (verdict.score, candidate, verdict.reason)
    if best is None:
        raise SSTError("semantic masks are needed and no automatic segmenter applies; "
                       "give --content-map and --style-map, or use --loss mrf")
    ctx.notice(f"segmenter: {best[1]} ({best[2]})")
    return best[1]


def finest_shapes(image: np.ndarray, styles: Sequence[np.ndarray], options: TransferOptions) -> tuple[tuple[int, int], list[tuple[int, int]]]:
    """(h, w) of the content and of each style copy at the finest level."""
    def at(img: np.ndarray, side: int) -> tuple[int, int]:
        h, w = img.shape[:2]
        scale = side / max(h, w)
        return max(1, round(h * scale)), max(1, round(w * scale))

    copies = (2 * options.style_rotations + 1) * (2 * options.style_scales + 1)
    side = level_sizes(options.size, options.levels)[-1]
    return at(image, side), [at(s, round(side * options.style_scale)) for s in styles for _ in range(copies)]


def check_memory(
    profile: NetworkProfile, loss: StyleLoss, content: np.ndarray, styles: Sequence[np.ndarray],
    options: TransferOptions, device: torch.device, notice: Callable[[str], None],
) -> MemoryEstimate:
    """Estimate the run's peak memory (``profile``: the feature network's, :func:`profile_network`) and say
    it; refuse (unless ``force``) when it exceeds what is available, naming the largest ``--size`` that would fit."""
    now = resident_bytes() if device.type == "cpu" else 0
    room = available_bytes(device) + now

    def at(size: int) -> MemoryEstimate:
        sized = replace(options, size=size)
        content_shape, style_shapes = finest_shapes(content, styles, sized)
        pairs = {layer: choose_search(options.search, _pairs(profile, layer, content_shape, style_shapes))
                 for layer in loss.layers} if loss.patch_search else {}
        return estimate_peak(profile, loss.layers, content_shape, style_shapes,
                             MASK_CHANNELS if loss.uses_masks else 0, pairs, level_iters(options.iters, options.levels)[-1], now)

    estimate = at(options.size)
    notice(f"memory: about {estimate.describe()} at the peak; {gib(room)} available")
    if estimate.total > room and not options.force:
        fits = [s for s in range(64, options.size, 64) if at(s).total <= room]
        hint = f"--size {fits[-1]} would fit" if fits else "no size would fit"
        raise SSTError(f"--size {options.size} needs about {gib(estimate.total)} of memory and {gib(room)} is available; "
                       f"{hint} (or add --force to try anyway)")
    return estimate


def _pairs(profile: NetworkProfile, layer: str, content: tuple[int, int], styles: Sequence[tuple[int, int]]) -> int:
    """(query patch, key patch) pairs of a loss layer at these sizes."""
    down = profile.taps[layer][1]
    queries = max(1.0, content[0] / down - 2) * max(1.0, content[1] / down - 2)
    return int(queries * sum(max(1.0, h / down - 2) * max(1.0, w / down - 2) for h, w in styles))


def peak_memory_mb(device: torch.device) -> dict[str, float]:
    """Peak resident memory of this process (and of the GPU, when used), in MiB."""
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB elsewhere
    peak = {"process_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20}
    if device.type == "cuda":
        peak["cuda_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return peak



def soften(raw: Segmentation, softener: Softener, request: SegmentRequest) -> Segmentation:
    """Apply a softener to every image's masks."""
    return Segmentation(
        SemanticMasks(raw.content.labels, softener.soften(raw.content.maps, request.content)),
        tuple(SemanticMasks(m.labels, softener.soften(m.maps, img)) for m, img in zip(raw.styles, request.styles)),
        raw.notes,
    )



def _default_models() -> ModelManager:
    from sst.core.models import ModelManager

    return ModelManager()



@dataclass(frozen=True)
class Segmented:
    """Masks made once for any number of jobs: as the segmenter gave them (the metrics read these), softened
    (the losses read these), and the segmenter and softener that made them."""

    raw: Segmentation
    soft: Segmentation
    plugins: tuple[PluginInfo, ...]


@dataclass
class Stylised:
    """One job's result: the image and what made it."""

    image: np.ndarray  # uint8 RGB
    levels: list[LevelReport]
    segmentation: Segmentation | None
    estimate: MemoryEstimate
    style_copies: int  # the styles with their rotated and scaled copies, all matched against
    plugins: list[PluginInfo]  # loss, features, and the segmenter and softener where masks were made


class Stylist:
    """A configured pipeline, built once from options: it resolves the plugins and loads the feature network
    and each segmenter's models once, when first needed; :meth:`segment` and :meth:`stylise` then run any
    number of jobs. A fresh loss is made per job: losses keep per-run state (matches, PatchMatch fields)."""

    def __init__(self, options: TransferOptions | None = None, *, registry: Registry | None = None,
                 models: ModelManager | None = None, notice: Callable[[str], None] = lambda message: None) -> None:
        options = normalised(options or TransferOptions())
        self.registry = registry or default_registry()
        check_plugin_names(options, self.registry)
        self.models = models or _default_models()
        self.device = _device(options.device)
        self.notice = notice
        self.ctx = PluginContext(self.registry, self.models, self.device, notice)
        self.loss_info = self.registry.get("loss", options.loss)
        self.options = replace(options, **loss_weights(self.loss_info.factory, options))
        self.uses_masks = self.new_loss().uses_masks
        self.features_info = self.registry.get("features", resolve_features(options.features, self.ctx))
        self._nets: dict[str, FeatureNet] = {}  # shared with variants, as the segmenters are
        self._profiles: dict[tuple[str, frozenset[str]], NetworkProfile] = {}  # net and taps -> its probe
        self._segmenters: dict[str, object] = {}
        self._softener: Softener | None = None

    def variant(self, **changes: object) -> Stylist:
        """The same pipeline with some options changed (e.g. ``iters``), sharing what is loaded or will be."""
        other = copy.copy(self)
        other.options = normalised(replace(self.options, **changes))
        return other

    @property
    def net(self) -> FeatureNet:
        """The feature network, loaded at the first job (a Stylist that only segments never loads it)."""
        name = self.features_info.name
        if name not in self._nets:
            self._nets[name] = self.registry.create("features", name, self.ctx)
        return self._nets[name]

    def new_loss(self) -> StyleLoss:
        o = self.options
        return self.registry.create("loss", o.loss, self.ctx, LossOptions(
            gamma=o.gamma, style_stride=o.style_stride, semantic_weight=o.semantic_weight, search=o.search,
            seed=o.seed, search_precision=o.search_precision))

    def segment(self, content: np.ndarray, styles: Sequence[np.ndarray], content_map: Path | None = None,
                style_maps: Sequence[Path] = ()) -> Segmented:
        """Masks of the content and styles (the segmenter ``auto`` resolves per content); says their notes."""
        o = self.options
        name = resolve_segmenter(o.segmenter, content_map is not None or bool(style_maps), self.ctx, content)
        if name not in self._segmenters:
            self._segmenters[name] = self.registry.create("segmenter", name, self.ctx)
        if self._softener is None:
            self._softener = self.registry.create("softener", o.softener, self.ctx)
        request = SegmentRequest(content, tuple(styles), content_map, tuple(style_maps), o.content_kind,
                                 o.style_kind, o.classes)
        raw = self._segmenters[name].segment(request)
        for note in raw.notes:
            self.notice(note)
        return Segmented(raw, soften(raw, self._softener, request),
                         (self.registry.get("segmenter", name), self.registry.get("softener", o.softener)))

    def stylise(self, content: np.ndarray, styles: Sequence[np.ndarray], segmented: Segmented | None = None,
                on_level: Callable[[int, int, tuple[int, int]], Callable[[], None]] | None = None,
                temporal: Temporal | None = None, on_image: Callable[[np.ndarray], None] | None = None) -> Stylised:
        """One job: ``content`` in the style of ``styles``. When the loss uses masks they are ``segmented``'s,
        else made here (with the options' maps). ``on_image``: the image being made, after every iteration
        (:func:`~sst.core.synthesis.synthesise`; in the content's colours with ``preserve_colour``)."""
        o, loss = self.options, self.new_loss()
        plugins = [self.loss_info, self.features_info]
        taps = frozenset(loss.layers) | {loss.content_layer}
        probe = (self.features_info.name, taps)
        if probe not in self._profiles:  # the same for every job: probed once, not per video frame
            self._profiles[probe] = profile_network(self.net, taps, self.device)
        estimate = check_memory(self._profiles[probe], loss, content, styles, o, self.device, self.notice)
        segmentation = None
        if loss.uses_masks:
            segmented = segmented or self.segment(content, styles, o.content_map, o.style_maps)
            segmentation = segmented.soft
            plugins += segmented.plugins
        elif o.content_map or o.style_maps:
            self.notice(f"loss '{o.loss}' does not use semantic maps; the maps are ignored")
        settings = SynthesisSettings(
            size=o.size, levels=o.levels, iters=level_iters(o.iters, o.levels), style_scale=o.style_scale,
            content_weight=o.content_weight, style_weight=o.style_weight, tv_weight=o.tv_weight, init=o.init,
            seed=o.seed,
        )
        synth_content, synth_styles = luminance_inputs(content, styles) if o.preserve_colour else (content, list(styles))
        synth_styles, style_maps = augment(
            synth_styles, None if segmentation is None else [m.maps for m in segmentation.styles],
            o.style_rotations, o.style_scales,
        )
        synth_segmentation = None if segmentation is None or style_maps is None else Segmentation(
            segmentation.content, tuple(SemanticMasks(segmentation.content.labels, m) for m in style_maps),
            segmentation.notes,
        )
        torch.manual_seed(o.seed)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)

        def preview(image: np.ndarray) -> None:
            assert on_image is not None
            on_image(recombine(image, content) if o.preserve_colour else image)

        image, levels = synthesise(synth_content, synth_styles, self.net, loss, settings, self.device,
                                   synth_segmentation, on_level, temporal, preview if on_image else None)
        if o.preserve_colour:
            image = recombine(image, content)
        del loss  # its features, keys and fields, before the freed memory goes back to the system
        return_freed_memory()
        return Stylised(image, levels, segmentation, estimate, len(synth_styles), plugins)


_KEPT: dict[str, Stylist] = {}


def kept_stylist(options: TransferOptions) -> Stylist:
    """This process's pipeline for ``options``, built at the first call (a batch or Ray worker loads its
    models once, not per job)."""
    key = json.dumps(asdict(options), default=str, sort_keys=True)
    if key not in _KEPT:
        _KEPT[key] = Stylist(options)
    return _KEPT[key]
