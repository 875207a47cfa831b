"""Segmenter ``crfrnn``: PASCAL VOC probability maps from a CRF-RNN ONNX model (the paper's section 5.1).

The model is the manager's ``crfrnn`` file (``sst models export crfrnn`` writes
one). Its contract:

- input ``image``: float32 (1, 3, H, W), RGB in [0, 1]; H and W dynamic. The
  image is resized to long side ``sst.input_size`` (metadata; 512 if absent);
- output ``scores``: float32 (1, C, H, W) unnormalised logits (the CRF's last
  iteration), C = the number of labels;
- metadata ``sst.labels``: comma-separated label names (the 21 VOC names if absent).

ONNX Runtime runs on the CUDA provider when it is present (the installed ONNX
Runtime has it and a CUDA device is visible), whatever ``--device`` says, else
on the CPU; a notice says which, and whether the CUDA provider failed to start.

Probabilities are the softmax of ``scores`` (the activations before the argmax,
which lie in [0, 1]), resized to each image. The K classes with the highest
mean probability over the content and style images (each image weighing the
same) are kept, in that order, for every image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sst.core.errors import SSTError
from sst.core.hookspecs import hookimpl
from sst.core.images import resize_long_side
from sst.core.interfaces import PluginContext, SegmentRequest, Segmentation, SemanticMasks, Suitability
from sst.core.masks import resize_maps
from sst.core.models import Built, ModelSpec

MODEL = "crfrnn"
INPUT_NAME, OUTPUT_NAME = "image", "scores"
META_LABELS, META_INPUT_SIZE = "sst.labels", "sst.input_size"
INPUT_SIZE = 512
DEFAULT_CLASSES = 5
VOC_LABELS: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)


def softmax(scores: np.ndarray, axis: int = 0) -> np.ndarray:
    e = np.exp(scores - scores.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def mean_probabilities(probabilities: list[np.ndarray]) -> np.ndarray:
    """(C,) mean probability of every class over the images, each image weighing the same."""
    return np.mean([p.reshape(p.shape[0], -1).mean(1) for p in probabilities], axis=0)


def breaks_contract(session) -> str | None:
    """What in an ONNX Runtime session breaks the model contract above, or None."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    names = ([i.name for i in inputs], [o.name for o in outputs])
    if names != ([INPUT_NAME], [OUTPUT_NAME]):
        return f"has inputs/outputs {names}, expected {[INPUT_NAME]}/{[OUTPUT_NAME]}"
    if inputs[0].type != "tensor(float)" or len(inputs[0].shape) != 4 or inputs[0].shape[1] not in (3, "channels"):
        return f"takes {inputs[0].type} of shape {inputs[0].shape}, expected float (1, 3, H, W)"
    meta = session.get_modelmeta().custom_metadata_map
    labels = meta[META_LABELS].split(",") if META_LABELS in meta else VOC_LABELS
    channels = outputs[0].shape[1] if len(outputs[0].shape) == 4 else None
    if len(outputs[0].shape) != 4 or (isinstance(channels, int) and channels != len(labels)):
        return f"gives scores of shape {outputs[0].shape} for {len(labels)} labels, expected (1, {len(labels)}, H, W)"
    if META_INPUT_SIZE in meta and not meta[META_INPUT_SIZE].isdigit():
        return f"has metadata {META_INPUT_SIZE}={meta[META_INPUT_SIZE]!r}, expected a whole number"
    return None


def check_model_file(path: Path) -> None:
    """Refuse a file that ONNX Runtime cannot load or that breaks the contract (before it is installed)."""
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ONNX Runtime raises its own error types for unreadable models
        raise SSTError(f"{path} is not an ONNX model ONNX Runtime can load ({type(exc).__name__}); "
                       f"give the file 'sst models export {MODEL}' writes") from None
    contract_error = breaks_contract(session)
    if contract_error:
        raise SSTError(f"{path} {contract_error}; give a model with the crfrnn contract "
                       f"(see 'sst models export {MODEL}')")


class CRFRNNSegmenter:
    """CRF-RNN PASCAL VOC probability maps, top-K classes over the images (ONNX Runtime)."""

    def __init__(self, ctx: PluginContext) -> None:
        import onnxruntime as ort

        self.ctx = ctx
        path = ctx.models.ensure(MODEL)
        cuda = "CUDAExecutionProvider" in ort.get_available_providers() and torch.cuda.is_available()
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
        try:
            self.session = ort.InferenceSession(str(path), providers=providers)
        except Exception as exc:  # ONNX Runtime raises its own error types for unreadable models
            raise SSTError(f"cannot load {path} with ONNX Runtime ({type(exc).__name__}); "
                           f"export it again with 'sst models export {MODEL}'") from exc
        used = self.session.get_providers()[0]
        failed = " (the CUDA provider failed to start)" if cuda and used != providers[0] else ""
        ctx.notice(f"crfrnn: ONNX Runtime on {used}{failed}")
        meta = self.session.get_modelmeta().custom_metadata_map
        self.labels = tuple(meta[META_LABELS].split(",")) if META_LABELS in meta else VOC_LABELS
        self.input_size = int(meta.get(META_INPUT_SIZE, INPUT_SIZE))
        missing = {META_LABELS: "the 21 VOC labels", META_INPUT_SIZE: f"input long side {INPUT_SIZE}"}
        assumed = [text for key, text in missing.items() if key not in meta]
        if assumed:
            ctx.notice(f"crfrnn: {path.name} lacks sst metadata; assuming {' and '.join(assumed)}")
        contract_error = breaks_contract(self.session)
        if contract_error:
            raise SSTError(f"{path} {contract_error}; export it with 'sst models export {MODEL}'")

    @staticmethod
    def suitability(ctx: PluginContext, content: np.ndarray, maps_given: bool) -> Suitability:
        """Any scene, when its model is installed (after a portrait's face)."""
        if ctx.models.available(MODEL):
            return Suitability(0.5, "no face in the content; the crfrnn model is installed")
        return Suitability(0.0, f"no crfrnn model; 'sst models export {MODEL}' builds one")

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """(C, H, W) class probabilities of an RGB uint8 image, at its size."""
        small = resize_long_side(image, self.input_size) if max(image.shape[:2]) != self.input_size else image
        x = np.ascontiguousarray(small.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        (scores,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: x})
        if scores.ndim != 4 or scores.shape[1] != len(self.labels):
            raise SSTError(f"the crfrnn model returned scores of shape {scores.shape} for {len(self.labels)} "
                           f"labels; export it again with 'sst models export {MODEL}'")
        return resize_maps(softmax(scores[0].astype(np.float32)), image.shape[:2])

    def segment(self, request: SegmentRequest) -> Segmentation:
        k = DEFAULT_CLASSES if request.classes is None else request.classes
        if not 1 <= k <= len(self.labels):
            raise SSTError(f"--classes {k} is out of range; choose 1 to {len(self.labels)}")
        probs = [self.probabilities(img) for img in (request.content, *request.styles)]
        means = mean_probabilities(probs)
        keep = [int(i) for i in np.argsort(-means, kind="stable")[:k]]
        labels = tuple(self.labels[i] for i in keep)
        note = "crfrnn classes kept (mean probability): " + ", ".join(f"{self.labels[i]} {means[i]:.2f}" for i in keep)
        masks = [SemanticMasks(labels, p[keep]) for p in probs]
        return Segmentation(masks[0], tuple(masks[1:]), (note,))


@hookimpl
def register_models(register) -> None:
    register(ModelSpec(MODEL, "CRF-RNN PASCAL VOC segmentation (ONNX; built here or brought by the user)",
                       "crfrnn.onnx", "", Built("crfrnn.onnx", f"sst models export {MODEL}", check_model_file)))


@hookimpl
def register_segmenters(register) -> None:
    register("crfrnn", CRFRNNSegmenter)


@hookimpl
def register_commands(groups) -> None:
    from sst.plugins.segmenters.crfrnn.command import export

    groups["models"].command("export")(export)
