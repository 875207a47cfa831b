"""Example third-party sst plugin: the segmenter ``sky`` with its own model, and the mask softener ``box``.

Each hook below is how a plugin tells sst what it brings: a model (the manager fetches, verifies and caches
it), a command that builds that model, a segmenter that runs it, a softener.
"""

from __future__ import annotations

import cv2
import numpy as np

from sst.core.hookspecs import hookimpl
from sst.core.interfaces import PluginContext
from sst.core.models import Built, ModelSpec
from sst_example_plugin import model
from sst_example_plugin.sky import MODEL, SkySegmenter

COMMAND = "sst example-sky-model"


class BoxSoftener:
    """Box-filter softening, 3 % of the image's long side wide."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def soften(self, maps: np.ndarray, image: np.ndarray) -> np.ndarray:
        width = max(3, int(0.03 * max(maps.shape[1:])) | 1)
        return np.stack([cv2.blur(m.astype(np.float32), (width, width)) for m in maps]) if len(maps) else maps


@hookimpl
def register_models(register) -> None:
    register(ModelSpec(MODEL, "sst-example-plugin's sky/ground pixel classifier (ONNX, 1 KB)", "example_sky.onnx",
                       model.SHA256, Built("example_sky.onnx", COMMAND)))


@hookimpl
def register_commands(cli) -> None:
    from sst_example_plugin.command import build_model

    cli.command(COMMAND.split()[1])(build_model)


@hookimpl
def register_segmenters(register) -> None:
    register("sky", SkySegmenter)


@hookimpl
def register_softeners(register) -> None:
    register("box", BoxSoftener)
