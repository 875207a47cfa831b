"""Example sst plugin: the mask softener ``box``."""

from __future__ import annotations

import cv2
import numpy as np

from sst.core.hookspecs import hookimpl
from sst.core.interfaces import PluginContext


class BoxSoftener:
    """Box-filter softening, 3 % of the image's long side wide."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    def soften(self, maps: np.ndarray, image: np.ndarray) -> np.ndarray:
        width = max(3, int(0.03 * max(maps.shape[1:])) | 1)
        return np.stack([cv2.blur(m.astype(np.float32), (width, width)) for m in maps]) if len(maps) else maps


@hookimpl
def register_softeners(register) -> None:
    register("box", BoxSoftener)
