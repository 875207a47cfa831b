"""The main job: content + style images -> stylised image + JSON sidecar.

:func:`transfer` is the Python API behind ``sst run``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from sst import __version__
from sst.core.augment import augment
from sst.core.colour import luminance_inputs, recombine
from sst.core.errors import SSTError
from sst.core.images import IMAGE_SUFFIXES, check_writable, load_image, save_image, write_result
from sst.core.interfaces import (
    FeatureNet, LossOptions, PluginContext, SegmentRequest, Segmentation, SemanticMasks, Softener, StyleLoss,
)
from sst.core.masks import composite
from sst.core.memory import MemoryEstimate, NetworkProfile, available_bytes, estimate_peak, gib, profile_network, resident_bytes
if TYPE_CHECKING:
    from sst.core.models import ModelManager
from sst.core.registry import PluginInfo, Registry, default_registry
from sst.core.search import PRECISIONS, SEARCHES, choose_search
from sst.core.synthesis import INITS, LevelReport, SynthesisSettings, level_iters, level_sizes, synthesise

KINDS = ("photo", "artwork", "auto")
MAX_SIZE = 16384  # --size above this is refused outright, whatever --force says
MIN_SIDE = 32  # px: the long side of every level
ANALYSIS_SIDE = 1024  # px: large inputs are decoded reduced, but segmenters and face detectors see at least this
MIN_SHORT_SIDE = 24  # px: the short side of every level's content and styles (3x3 patches after relu4_1's 3 pools)
MASK_CHANNELS = 8  # labels assumed for the memory estimate of a semantic loss (masks are made after it)


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


@dataclass
class TransferResult:
    image: np.ndarray  # uint8 RGB
    output: Path | None
    sidecar: dict
    segmentation: Segmentation | None = None
    levels: list[LevelReport] = field(default_factory=list)


def _device(name: str) -> torch.device:
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise SSTError(f"unknown device '{name}'; use cpu or cuda")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SSTError("--device cuda was asked for but torch sees no CUDA device; use --device cpu")
    return torch.device(name)


NUMBERS = ("content_weight", "style_weight", "tv_weight", "gamma", "semantic_weight", "style_scale")


def _check_options(o: TransferOptions) -> None:
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


def check_output(output: Path, inputs: Sequence[Path], size: int = 0) -> None:
    """Refuse outputs that are directories, lack an image suffix, would overwrite an input, or cannot be
    written (the folder is read-only or full; the sidecar's name is a folder)."""
    if output.is_dir():
        raise SSTError(f"output {output} is a directory; give a file name such as {output / 'result.png'}")
    if output.suffix.lower() not in IMAGE_SUFFIXES:
        raise SSTError(f"output {output} has no image suffix; use .png or .jpg")
    for path in inputs:
        if output.resolve() == path.resolve() or (output.exists() and path.exists() and os.path.samefile(output, path)):
            raise SSTError(f"output {output} is one of the inputs; choose another output path")
    if output.with_suffix(".json").resolve() in {p.resolve() for p in inputs}:
        raise SSTError(f"the sidecar {output.with_suffix('.json')} would overwrite an input; choose another output path")
    if output.with_suffix(".json").is_dir():
        raise SSTError(f"the sidecar's path {output.with_suffix('.json')} is a folder; choose another output path")
    check_writable(output, 3 * size * size)


def check_level_sides(what: str, image: np.ndarray, options: TransferOptions, scale: float = 1.0) -> None:
    """Refuse an image whose short side falls under MIN_SHORT_SIDE at the coarsest level, naming what would work."""
    h, w = image.shape[:2]
    ratio = min(h, w) / max(h, w)
    coarsest = options.size * scale / 2 ** (options.levels - 1)
    if coarsest * ratio >= MIN_SHORT_SIDE:
        return
    need = math.ceil(MIN_SHORT_SIDE / ratio / scale) * 2 ** (options.levels - 1)
    fewer = [n for n in range(options.levels - 1, 0, -1) if options.size * scale / 2 ** (n - 1) * ratio >= MIN_SHORT_SIDE]
    ways = ([f"--size {need}"] if need <= MAX_SIZE else []) + ([f"--levels {fewer[0]}"] if fewer else [])
    ways.append("crop it nearer to square")
    raise SSTError(f"{what} is {w}x{h}: its short side would be {coarsest * ratio:.0f} px at the coarsest level, "
                   f"under the {MIN_SHORT_SIDE} px every level needs; use {' or '.join(ways)}")


def check_plugin_names(options: TransferOptions, registry: Registry) -> None:
    """Every plugin the options name exists: a typo is reported before any work."""
    registry.get("loss", options.loss)
    registry.get("softener", options.softener)
    for kind, name in (("features", options.features), ("segmenter", options.segmenter)):
        if name != "auto":
            registry.get(kind, name)


def resolve_features(name: str, models: ModelManager, notice: Callable[[str], None]) -> str:
    """``auto`` is vgg19 when its cached weights pass their sha256 check, else vgg16; says which and why."""
    if name != "auto":
        return name
    if models.verified("vgg19"):
        notice("features: vgg19")
        return "vgg19"
    why = ("the cached vgg19 weights failed their sha256 check; 'sst models fetch vgg19 --force --from FILE' "
           "replaces them" if models.available("vgg19") else "vgg19 weights not present; "
           "'sst models fetch vgg19 --from FILE' adds them")
    notice(f"features: vgg16 ({why})")
    return "vgg16"


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
    net: FeatureNet, loss: StyleLoss, content: np.ndarray, styles: Sequence[np.ndarray], options: TransferOptions,
    device: torch.device, notice: Callable[[str], None],
) -> MemoryEstimate:
    """Estimate the run's peak memory and say it; refuse (unless ``force``) when it exceeds what is available,
    naming the largest ``--size`` that would fit."""
    profile = profile_network(net, set(loss.layers) | {loss.content_layer}, device)
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


def save_masks(directory: Path, segmentation: Segmentation, names: Sequence[str] | None = None) -> list[Path]:
    """Each mask as a grey PNG plus the colour composite, for the content and every style."""
    written = []
    names = list(names or ["content"] + [f"style{i + 1}" for i in range(len(segmentation.styles))])
    items: list[tuple[str, SemanticMasks]] = list(zip(names, [segmentation.content, *segmentation.styles]))
    for role, masks in items:
        for label, m in zip(masks.labels, masks.maps):
            path = directory / f"{role}_{label.lstrip('#')}.png"
            save_image(path, (np.clip(m, 0, 1) * 255 + 0.5).astype(np.uint8))
            written.append(path)
        path = directory / f"{role}_composite.png"
        save_image(path, composite(masks))
        written.append(path)
    return written


def write_masks(
    image_path: str | os.PathLike[str],
    directory: str | os.PathLike[str],
    *,
    kind: str = "auto",
    segmenter: str = "portrait",
    softener: str = "gaussian",
    classes: int | None = None,
    registry: Registry | None = None,
    models: ModelManager | None = None,
    notice: Callable[[str], None] = lambda message: None,
) -> list[Path]:
    """Segment one image and write its soft masks and composite to ``directory`` (``sst masks``)."""
    if kind not in KINDS:
        raise SSTError(f"--kind must be one of {', '.join(KINDS)}")
    path, directory = Path(image_path), Path(directory)
    if directory.exists() and not directory.is_dir():
        raise SSTError(f"{directory} exists and is not a folder; choose another --output")
    image = load_image(path)
    registry = registry or default_registry()
    ctx = PluginContext(registry, models or _default_models(), torch.device("cpu"), notice)
    request = SegmentRequest(image, (), content_kind=kind, classes=classes)
    segmentation = soften(registry.create("segmenter", segmenter, ctx).segment(request),
                          registry.create("softener", softener, ctx), request)
    for note in segmentation.notes:
        notice(note)
    return save_masks(directory, segmentation, [path.stem])


def _default_models() -> ModelManager:
    from sst.core.models import ModelManager

    return ModelManager()


def transfer(
    content: str | os.PathLike[str],
    styles: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str] | None = None,
    options: TransferOptions | None = None,
    *,
    registry: Registry | None = None,
    models: ModelManager | None = None,
    notice: Callable[[str], None] = lambda message: None,
    on_level: Callable[[int, int, tuple[int, int]], Callable[[], None]] | None = None,
) -> TransferResult:
    """Stylise ``content`` with one or more ``styles``; write ``output`` and its ``.json`` sidecar.

    Raises :class:`SSTError` for bad input (one line, says what to do).
    """
    started = time.perf_counter()
    if isinstance(styles, (str, os.PathLike)):
        styles = [styles]
    options = options or TransferOptions()
    options = replace(
        options,
        content_map=Path(options.content_map) if options.content_map else None,
        style_maps=tuple(Path(p) for p in options.style_maps),
    )
    _check_options(options)
    options = replace(options, iters=level_iters(options.iters, options.levels))
    content_path, style_paths = Path(content), [Path(s) for s in styles]
    if not style_paths:
        raise SSTError("no style image given; name at least one")
    map_paths = ([options.content_map] if options.content_map else []) + list(options.style_maps)
    out_path = Path(output) if output is not None else None
    registry = registry or default_registry()
    check_plugin_names(options, registry)
    if out_path is not None:
        check_output(out_path, [content_path, *style_paths, *map_paths], options.size)
    content_image = load_image(content_path, needed_side=max(options.size, ANALYSIS_SIDE))
    style_images = [load_image(p, needed_side=max(math.ceil(options.size * options.style_scale), ANALYSIS_SIDE))
                    for p in style_paths]
    check_level_sides(f"the content {content_path}", content_image, options)
    for p, s in zip(style_paths, style_images):
        check_level_sides(f"the style {p}", s, options, options.style_scale)
    for p in map_paths:
        if not p.exists():
            raise SSTError(f"map not found: {p}; check the path")

    models = models or _default_models()
    device = _device(options.device)
    ctx = PluginContext(registry=registry, models=models, device=device, notice=notice)
    used: list[PluginInfo] = []

    loss_info = registry.get("loss", options.loss)
    used.append(loss_info)
    options = replace(options, **loss_weights(loss_info.factory, options))
    loss = registry.create("loss", options.loss, ctx, LossOptions(gamma=options.gamma, style_stride=options.style_stride,
                                              semantic_weight=options.semantic_weight, search=options.search,
                                              seed=options.seed, search_precision=options.search_precision))
    features_info = registry.get("features", resolve_features(options.features, models, notice))
    used.append(features_info)
    net = registry.create("features", features_info.name, ctx)
    estimate = check_memory(net, loss, content_image, style_images, options, device, notice)

    segmentation: Segmentation | None = None
    if loss.uses_masks:
        seg_info = registry.get("segmenter", resolve_segmenter(options.segmenter, bool(map_paths), ctx, content_image))
        soft_info = registry.get("softener", options.softener)
        used += [seg_info, soft_info]
        request = SegmentRequest(
            content_image, tuple(style_images), options.content_map, tuple(options.style_maps),
            options.content_kind, options.style_kind, options.classes,
        )
        segmentation = soften(registry.create("segmenter", seg_info.name, ctx).segment(request),
                              registry.create("softener", soft_info.name, ctx), request)
        for note in segmentation.notes:
            notice(note)
    elif options.content_map or options.style_maps:
        notice(f"loss '{options.loss}' does not use semantic maps; the maps are ignored")

    settings = SynthesisSettings(
        size=options.size, levels=options.levels, iters=level_iters(options.iters, options.levels),
        style_scale=options.style_scale, content_weight=options.content_weight, style_weight=options.style_weight,
        tv_weight=options.tv_weight, init=options.init, seed=options.seed,
    )
    synth_content, synth_styles = (
        luminance_inputs(content_image, style_images) if options.preserve_colour else (content_image, style_images)
    )
    synth_styles, style_maps = augment(
        synth_styles, None if segmentation is None else [m.maps for m in segmentation.styles],
        options.style_rotations, options.style_scales,
    )
    synth_segmentation = None if segmentation is None or style_maps is None else Segmentation(
        segmentation.content, tuple(SemanticMasks(segmentation.content.labels, m) for m in style_maps), segmentation.notes
    )
    torch.manual_seed(options.seed)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    image, levels = synthesise(synth_content, synth_styles, net, loss, settings, device, synth_segmentation, on_level)
    if options.preserve_colour:
        image = recombine(image, content_image)

    sidecar = {
        "sst_version": __version__,
        "content": str(content_path),
        "styles": [str(p) for p in style_paths],
        "style_copies": len(synth_styles),  # the styles with their rotated and scaled copies, all matched against
        "output": str(out_path) if out_path else None,
        "options": json.loads(json.dumps(asdict(options), default=str)),
        "plugins": [info.as_dict() for info in used],
        "models": {name: {"sha256": digest} for name, digest in models.used.items()},
        "masks": None if segmentation is None else {"labels": list(segmentation.content.labels),
                                                    "notes": list(segmentation.notes)},
        "seed": options.seed,
        "device": str(device),
        "levels": [asdict(r) for r in levels],
        "seconds": time.perf_counter() - started,
        "peak_memory": {**peak_memory_mb(device), "estimate_mib": estimate.total / 2**20},
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads()},
    }
    if out_path is not None:
        sidecar = write_result(out_path, image, sidecar)
        if options.save_masks and segmentation is not None:
            save_masks(out_path.with_name(out_path.stem + "_masks"), segmentation)
    return TransferResult(image, out_path, sidecar, segmentation, levels)
