"""The page's work, without Gradio: uploads read as the CLI reads them, pipelines kept for the server's life,
the hard label maps a user repaints, and jobs run in a thread that reports progress and can be stopped."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from sst.core.errors import SSTError
from sst.core.images import load_image, max_pixels, resize, save_image
from sst.core.interfaces import Segmentation
from sst.core.masks import PALETTE, colour_of
from sst.core.models import ModelManager
from sst.core.options import TransferOptions
from sst.core.registry import Registry, default_registry
from sst.core.stylist import WEIGHTS, Stylist
from sst.core.transfer import ANALYSIS_SIDE
from sst.plugins.segmenters.manual import label_map

T = TypeVar("T")

UPLOAD_BYTES_PER_PIXEL = 4
"""An upload may be as large as the largest image sst decodes (:func:`~sst.core.images.max_pixels`) stored
uncompressed with alpha: the byte limit follows the CLI's pixel limit."""
PREVIEW_EVERY = 5  # iterations between the images a running job shows
BUILT = ("loss", "features", "device", "softener", *WEIGHTS)
"""The options a :class:`Stylist` resolves when it is built; every other option varies per job through
:meth:`Stylist.variant`, which shares the loaded models."""


def max_upload_bytes() -> int:
    return max_pixels() * UPLOAD_BYTES_PER_PIXEL


def read_upload(path: str | Path) -> np.ndarray:
    """An uploaded image as segmenters see it (:func:`~sst.core.images.load_image`: the CLI's pixel limit and
    its one-line errors)."""
    return load_image(path, needed_side=ANALYSIS_SIDE)


class Pipelines:
    """One :class:`Stylist` per distinct set of :data:`BUILT` options, kept for the server's life; a job runs
    on a variant of it. Notices go to the job running now (the server runs one job at a time)."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or default_registry()
        self.models = ModelManager()
        self._built: dict[str, Stylist] = {}
        self._notice: Callable[[str], None] = lambda message: None

    def stylist(self, options: TransferOptions, notice: Callable[[str], None]) -> Stylist:
        """A pipeline for ``options`` whose notices go to ``notice``; the feature network loads once."""
        self._notice = notice
        key = json.dumps({name: getattr(options, name) for name in BUILT})
        if key not in self._built:  # its variants share the feature network it loads at the first job
            self._built[key] = Stylist(options, registry=self.registry, models=self.models,
                                       notice=lambda m: self._notice(m))
        return self._built[key].variant(**{f.name: getattr(options, f.name) for f in fields(options)
                                           if f.name not in BUILT})


@dataclass
class LabelMaps:
    """Hard label maps of the content and each style (content first), one distinct colour per label: what the
    brush repaints and what ``--segmenter manual`` then reads (:mod:`sst.plugins.segmenters.manual`)."""

    labels: tuple[str, ...]
    colours: np.ndarray  # (K, 3) uint8
    images: list[np.ndarray]  # uint8 RGB, as segmented
    maps: list[np.ndarray]  # (H, W) label indices, one per image

    @classmethod
    def of(cls, segmentation: Segmentation, images: Sequence[np.ndarray]) -> LabelMaps:
        """Each pixel's most likely label in the segmenter's own masks (before softening)."""
        labels = segmentation.content.labels
        if not labels:
            raise SSTError("the segmenter found no regions; choose another segmenter")
        maps = [m.maps.argmax(0) for m in (segmentation.content, *segmentation.styles)]
        return cls(labels, distinct_colours(labels), list(images), maps)

    def colour_hex(self, k: int) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.colours[k])

    def names(self) -> list[str]:
        """The labels as the page's dropdown shows them: name and colour."""
        return [label if label.startswith("#") else f"{label} {self.colour_hex(k)}" for k, label in enumerate(self.labels)]

    def painted(self, i: int) -> np.ndarray:
        """Image ``i`` half covered by its labels' colours: the picture the brush paints on."""
        return (self.images[i] // 2 + self.colours[self.maps[i]] // 2).astype(np.uint8)

    def repaint(self, i: int, layer: np.ndarray | None) -> None:
        """Give every painted pixel of an RGBA ``layer`` (the brush's strokes on image ``i``) the label of the
        nearest label colour. Idempotent: the same strokes again change nothing."""
        if layer is None or layer.ndim != 3 or layer.shape[2] != 4:
            return
        if layer.shape[:2] != self.maps[i].shape:
            layer = resize(layer, self.maps[i].shape)
        painted = layer[..., 3] >= 128
        if painted.any():
            self.maps[i][painted] = label_map(layer[..., :3][painted][None], self.colours)[0]

    def write(self, folder: Path) -> list[Path]:
        """The maps as flat-colour PNGs (``content_map.png``, ``style1_map.png``, ...), for ``sst run
        --content-map ... --style-map ...``."""
        names = ["content_map.png"] + [f"style{i}_map.png" for i in range(1, len(self.maps))]
        paths = [folder / name for name in names]
        for path, labels in zip(paths, self.maps):
            save_image(path, self.colours[labels])
        return paths


def distinct_colours(labels: Sequence[str]) -> np.ndarray:
    """The composite colour of each label (:func:`~sst.core.masks.colour_of`); a colour already taken is
    replaced by the first palette colour not taken, so that every label has its own."""
    colours: list[tuple[int, int, int]] = []
    for k, label in enumerate(labels):
        colour = colour_of(label, k)
        if colour in colours:
            colour = next((c for c in PALETTE if c not in colours), None)
            if colour is None:
                raise SSTError(f"{len(labels)} labels are more than the page can colour; use fewer --classes")
        colours.append(colour)
    return np.array(colours, np.uint8)


class Cancelled(SSTError):
    """The user stopped the job."""


class Reporter:
    """What a running job tells the page: its notes, its level and iteration and every few iterations its image.
    Once ``cancel`` is set, the next iteration or note raises :class:`Cancelled`."""

    def __init__(self, cancel: threading.Event, levels: int = 1) -> None:
        self.cancel, self.levels = cancel, levels
        self.notes: list[str] = []
        self.step = ""
        self.image: np.ndarray | None = None
        self._iterations = 0

    def _check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("stopped; nothing was written")

    def notice(self, message: str) -> None:
        self._check()
        self.notes.append(message)

    def on_level(self, level: int, iterations: int, shape: tuple[int, int]) -> Callable[[], None]:
        done = 0
        self.step = f"level {level + 1}/{self.levels} ({shape[1]}x{shape[0]}): iteration 0/{iterations}"

        def tick() -> None:
            nonlocal done
            done += 1
            self.step = f"level {level + 1}/{self.levels} ({shape[1]}x{shape[0]}): iteration {done}/{iterations}"
            self._check()

        return tick

    def on_image(self, image: np.ndarray) -> None:
        self._iterations += 1
        if self._iterations % PREVIEW_EVERY == 1:
            self.image = image


def in_thread(work: Callable[[], T], cancel: threading.Event, every: float = 0.25) -> Iterator[T | Cancelled | None]:
    """Run ``work`` in a thread; yield None every ``every`` seconds while it runs, then its result, or the
    :class:`Cancelled` that stopped it (any other exception is raised here). Closing the iterator early (the
    page went away) sets ``cancel``."""
    done: queue.Queue[tuple[T | None, BaseException | None]] = queue.Queue()

    def run() -> None:
        try:
            done.put((work(), None))
        except BaseException as exc:  # handed to the page's thread
            done.put((None, exc))

    thread = threading.Thread(target=run, name="sst-job", daemon=True)
    thread.start()
    try:
        while True:
            try:
                result, error = done.get(timeout=every)
            except queue.Empty:
                yield None
                continue
            if isinstance(error, Cancelled):
                yield error
            elif error is not None:
                raise error
            else:
                yield result
            return
    finally:
        if thread.is_alive():
            cancel.set()


def with_maps(options: TransferOptions, paths: Sequence[Path]) -> TransferOptions:
    """``options`` running on hand-corrected maps, as ``--segmenter manual --content-map --style-map`` would."""
    return replace(options, segmenter="manual", content_map=paths[0], style_maps=tuple(paths[1:]))
