"""The segmenter ``sky``: sky and ground masks from the plugin's own model, run by ONNX Runtime."""

from __future__ import annotations

import cv2
import numpy as np

from sst.core.interfaces import PluginContext, SegmentRequest, Segmentation, SemanticMasks
from sst_example_plugin.model import INPUT, OUTPUT

MODEL = "example-sky"  # the name the plugin gives the model manager (register_models)
LABELS = ("sky", "ground")
SIDE = 256  # px: images are classified at this long side and the masks resized back


class SkySegmenter:
    """Two soft masks, sky and ground, for the content and every style."""

    def __init__(self, ctx: PluginContext) -> None:
        import onnxruntime

        path = ctx.models.ensure(MODEL)  # an SSTError that says how to build it when it is missing
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def masks(self, image: np.ndarray) -> np.ndarray:
        """(2, H, W) probabilities of sky and ground for a uint8 RGB image."""
        h, w = image.shape[:2]
        scale = min(1.0, SIDE / max(h, w))
        small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        rgb = small.astype(np.float32).transpose(2, 0, 1) / 255
        height = np.broadcast_to(np.linspace(0, 1, rgb.shape[1], dtype=np.float32)[:, None], rgb.shape[1:])
        (probabilities,) = self.session.run([OUTPUT], {INPUT: np.concatenate([rgb, height[None]])[None]})
        return np.stack([cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR) for p in probabilities[0]])

    def segment(self, request: SegmentRequest) -> Segmentation:
        masks = [SemanticMasks(LABELS, self.masks(image)) for image in (request.content, *request.styles)]
        sky = float((masks[0].maps[0] >= 0.5).mean())
        return Segmentation(masks[0], tuple(masks[1:]), (f"sky: {sky:.0%} of the content is sky",))
