"""The main job: content + style images -> stylised image + JSON sidecar.

:func:`transfer` is the Python API behind ``sst run``: it checks the paths and images, runs one job
through a :class:`~sst.core.stylist.Stylist` and writes the result.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from sst import __version__
from sst.core.errors import SSTError
from sst.core.images import IMAGE_SUFFIXES, check_writable, load_image, save_image, write_result
from sst.core.interfaces import Segmentation, SemanticMasks
from sst.core.masks import composite
from sst.core.options import MAX_SIZE, MIN_SHORT_SIDE, TransferOptions
from sst.core.registry import Registry
from sst.core.stylist import Segmented, Stylist, peak_memory_mb
from sst.core.synthesis import LevelReport

if TYPE_CHECKING:
    from sst.core.models import ModelManager

ANALYSIS_SIDE = 1024  # px: large inputs are decoded reduced, but segmenters and face detectors see at least this


@dataclass
class TransferResult:
    image: np.ndarray  # uint8 RGB
    output: Path | None
    sidecar: dict
    segmentation: Segmentation | None = None
    levels: list[LevelReport] = field(default_factory=list)



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
    options: TransferOptions | None = None,
    *,
    registry: Registry | None = None,
    models: ModelManager | None = None,
    notice: Callable[[str], None] = lambda message: None,
) -> list[Path]:
    """Segment one image (as a content: ``options``' segmenter, classes, softener and ``content_kind``) and
    write its soft masks and composite to ``directory`` (``sst masks``)."""
    path, directory = Path(image_path), Path(directory)
    if directory.exists() and not directory.is_dir():
        raise SSTError(f"{directory} exists and is not a folder; choose another --output")
    stylist = Stylist(options, registry=registry, models=models, notice=notice)
    segmented = stylist.segment(load_image(path, needed_side=ANALYSIS_SIDE), [])
    return save_masks(directory, segmented.soft, [path.stem])


def transfer(
    content: str | os.PathLike[str],
    styles: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    options: TransferOptions | None = None,
    *,
    registry: Registry | None = None,
    models: ModelManager | None = None,
    notice: Callable[[str], None] = lambda message: None,
    on_level: Callable[[int, int, tuple[int, int]], Callable[[], None]] | None = None,
    stylist: Stylist | None = None,
    segmented: Segmented | None = None,
    on_image: Callable[[np.ndarray], None] | None = None,
) -> TransferResult:
    """Stylise ``content`` with one or more ``styles``; write ``output`` and its ``.json`` sidecar.

    ``stylist``: a pipeline built before (its options, registry and models are used; the models stay
    loaded between calls); else one is built from ``options``. ``segmented``: masks made before (by
    :meth:`Stylist.segment`), used instead of segmenting here. ``on_level`` and ``on_image`` report progress
    (:meth:`Stylist.stylise`). Raises :class:`SSTError` for bad input
    (one line, says what to do); everything that can be checked is checked before any work.
    """
    started = time.perf_counter()
    if isinstance(styles, (str, os.PathLike)):
        styles = [styles]
    content_path, style_paths = Path(content), [Path(s) for s in styles]
    if not style_paths:
        raise SSTError("no style image given; name at least one")
    stylist = stylist or Stylist(options, registry=registry, models=models, notice=notice)
    options = stylist.options
    map_paths = ([options.content_map] if options.content_map else []) + list(options.style_maps)
    out_path = Path(output) if output is not None else None
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

    job = stylist.stylise(content_image, style_images, segmented, on_level=on_level, on_image=on_image)
    segmentation = job.segmentation
    sidecar = {
        "sst_version": __version__,
        "content": str(content_path),
        "styles": [str(p) for p in style_paths],
        "style_copies": job.style_copies,
        "output": str(out_path) if out_path else None,
        "options": json.loads(json.dumps(asdict(options), default=str)),
        "plugins": [info.as_dict() for info in job.plugins],
        "models": {name: {"sha256": digest} for name, digest in stylist.models.used.items()},
        "masks": None if segmentation is None else {"labels": list(segmentation.content.labels),
                                                    "notes": list(segmentation.notes)},
        "seed": options.seed,
        "device": str(stylist.device),
        "levels": [asdict(r) for r in job.levels],
        "seconds": time.perf_counter() - started,
        "peak_memory": {**peak_memory_mb(stylist.device), "estimate_mib": job.estimate.total / 2**20},
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "threads": torch.get_num_threads()},
    }
    if out_path is not None:
        sidecar = write_result(out_path, job.image, sidecar)
        if options.save_masks and segmentation is not None:
            save_masks(out_path.with_name(out_path.stem + "_masks"), segmentation)
    return TransferResult(job.image, out_path, sidecar, segmentation, job.levels)
