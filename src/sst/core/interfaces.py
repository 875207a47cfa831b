"""Typed interfaces every plugin kind implements, and the data they exchange.

Images cross plugin boundaries as ``uint8`` RGB arrays of shape ``(H, W, 3)``;
masks as ``float32`` arrays of shape ``(K, H, W)`` with values in ``[0, 1]``.
Factories registered through the hooks in :mod:`sst.core.hookspecs` are called
as ``factory(ctx)`` (style losses: ``factory(ctx, options)``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

if TYPE_CHECKING:
    from sst.core.models import ModelManager
    from sst.core.registry import Registry


@dataclass(frozen=True)
class SemanticMasks:
    """K labelled soft masks of one image: ``maps[k]`` is the mask of ``labels[k]``."""

    labels: tuple[str, ...]
    maps: np.ndarray  # float32 (K, H, W), values in [0, 1]

    def __post_init__(self) -> None:
        if self.maps.ndim != 3 or self.maps.shape[0] != len(self.labels):
            raise ValueError(f"maps of shape {self.maps.shape} do not fit {len(self.labels)} labels")


@dataclass(frozen=True)
class SegmentRequest:
    """What a segmenter is asked: one content image, one or more style images."""

    content: np.ndarray
    styles: tuple[np.ndarray, ...]
    content_map: Path | None = None
    style_maps: tuple[Path, ...] = ()
    content_kind: str = "auto"  # photo | artwork | auto
    style_kind: str = "auto"
    classes: int | None = None  # how many labels to keep (--classes); None: the segmenter's default


@dataclass(frozen=True)
class Segmentation:
    """Masks for the content and each style image, with the same labels in the same order."""

    content: SemanticMasks
    styles: tuple[SemanticMasks, ...]
    notes: tuple[str, ...] = ()  # what the user should know (dropped labels, missing faces, ...)

    def __post_init__(self) -> None:
        for masks in self.styles:
            if masks.labels != self.content.labels:
                raise ValueError(f"style labels {masks.labels} differ from content labels {self.content.labels}")


@dataclass(frozen=True)
class Face:
    """One detected face: landmarks in pixel (x, y) and named part polygons."""

    landmarks: np.ndarray  # float32 (N, 2)
    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)  # part -> polygons (M, 2)


@dataclass(frozen=True)
class PluginContext:
    """What every plugin factory receives: where to find models and other plugins."""

    registry: Registry
    models: ModelManager
    device: torch.device
    notice: Callable[[str], None]


@dataclass(frozen=True)
class Suitability:
    """How well a plugin applies, for ``auto``: 0 (not at all) .. 1, and why. The core only asks.

    A segmenter class may define ``suitability(ctx, content, maps_given)``, a feature network class
    ``suitability(ctx)`` (e.g. whether its weights are present), as static or class methods: they are asked
    before anything is built. ``auto`` takes the highest score above 0, ties to the one registered first; a
    plugin without the method is only used by name."""

    score: float
    reason: str


class Segmenter(Protocol):
    """Masks of a content and its styles. A segmenter class may set ``consistent_labels = True`` when its
    labels mean the same parts on every image (face parts, classes), not clusters of this one: ``sst video``
    then segments every frame instead of carrying the first frame's masks along the flow."""

    def segment(self, request: SegmentRequest) -> Segmentation: ...


class FaceDetector(Protocol):
    def detect(self, image: np.ndarray) -> list[Face]: ...


class SkinDetector(Protocol):
    def detect(self, image: np.ndarray) -> np.ndarray:
        """Soft skin map, float32 (H, W) in [0, 1]."""
        ...


class Softener(Protocol):
    def soften(self, maps: np.ndarray, image: np.ndarray) -> np.ndarray:
        """Soften (K, H, W) masks of ``image``; returns the same shape, values in [0, 1]."""
        ...


class FeatureNet(Protocol):
    name: str
    layers: tuple[str, ...]  # tap names in network order

    def extract(self, image: torch.Tensor, taps: Collection[str]) -> dict[str, torch.Tensor]:
        """Features of a (1, 3, H, W) RGB image in [0, 1] at the named taps."""
        ...


@dataclass(frozen=True)
class LossOptions:
    """Options a style loss may read; each loss documents which it uses."""

    gamma: float = 2.0  # weight of the mask disagreement against the feature NCC in patch matching (mrf-semantic)
    semantic_weight: float | None = None  # doodle's semantic weight; None: the loss's default
    patch_size: int = 3
    style_stride: int = 1  # stride of the style patch grid
    search: str = "auto"  # nearest-patch search: exact | approx | auto (sst.core.search)
    seed: int = 0  # for the approximate search's random candidates
    search_precision: str = "fp32"  # key and query vectors of the search: fp32 | fp16 | bf16 (half: CUDA only)


@dataclass
class StyleTargets:
    """Everything about the targets of one synthesis level, at that level's resolution."""

    style_features: list[dict[str, torch.Tensor]]  # per style image: tap -> (C, h, w)
    style_masks: list[torch.Tensor] | None  # per style image: (K, H, W), or None
    content_masks: torch.Tensor | None  # (K, H, W) at the synthesis resolution, or None


class StyleLoss(Protocol):
    layers: tuple[str, ...]  # feature taps the loss reads
    content_layer: str  # where the core's content loss applies for this method
    uses_masks: bool
    patch_search: bool  # whether the loss searches nearest patches on its layers (for the memory estimate)
    searches: dict[str, str]  # layer -> the nearest-patch search that ran at this level (empty: no search)

    def prepare(self, targets: StyleTargets) -> None:
        """Precompute per-level state; called once per level before optimisation."""
        ...

    def __call__(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """Scalar loss of the synthesised image's features (tap -> (C, h, w))."""
        ...


def protocol_members(protocol: type) -> tuple[str, ...]:
    """The attributes and methods a protocol asks for (``__call__`` included when it declares one)."""
    methods = [n for n, v in vars(protocol).items() if callable(v) and (not n.startswith("_") or n == "__call__")]
    return tuple(dict.fromkeys([*getattr(protocol, "__annotations__", {}), *methods]))


KIND_PROTOCOLS: dict[str, type] = {  # what a plugin of each kind must be; checked by the registry
    "segmenter": Segmenter,
    "face-detector": FaceDetector,
    "skin-detector": SkinDetector,
    "softener": Softener,
    "features": FeatureNet,
    "loss": StyleLoss,
}
__all__ = [
    "Face", "FaceDetector", "FeatureNet", "KIND_PROTOCOLS", "LossOptions", "PluginContext", "protocol_members",
    "SegmentRequest", "Segmentation", "Segmenter", "SemanticMasks", "SkinDetector",
    "Softener", "StyleLoss", "StyleTargets", "Suitability",
]
