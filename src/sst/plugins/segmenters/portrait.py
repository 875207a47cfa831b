"""Segmenters ``person`` and ``portrait``: automatic soft masks for portraits (the paper's section 5).

``person``: background / person, the soft confidence of MediaPipe's selfie
segmentation model (run with ai-edge-litert).

``portrait``: background, body, hair, face, eyes, nose, mouth — the same labels
in the same order for every image:

- person = the selfie model's soft confidence; background = 1 - person;
- eyes, nose, mouth = the facial-part detector's polygons (``dlib68``; the
  ``portrait-facemesh`` segmenter uses ``facemesh``) — mouth is the outer lips;
- photographs: face = skin (``ycbcr`` rules) within the person (the paper's
  face/skin label: neck and arms included); hair = person within the landmark
  head region that is not skin;
- artwork (skin rules fail on paintings): face = the landmark face region
  (jaw and brows) within the person, extended to person pixels whose Lab
  colour is typical of that face outside the head region (Mahalanobis
  distance within the 95 % ellipsoid; this reaches neck and arms, which the
  paper's rule misses, and leaves dark hair to the hair label);
  hair = the rest of the head region within the person;
- body = person minus face, hair and parts.

``--content-kind/--style-kind auto`` decides per image: a photograph when the
skin rules cover at least half of the detected face region (they work on this
image), else artwork; with no face, a photograph. A label present in some
images only (say, no face found in the style) is kept with an empty mask where
absent, and a notice says so: those regions are matched by appearance alone.
"""

from __future__ import annotations

import cv2
import numpy as np

from sst.core.errors import SSTError
from sst.core.hookspecs import hookimpl
from sst.core.interfaces import Face, PluginContext, SegmentRequest, Segmentation, SemanticMasks
from sst.plugins.faces.geometry import part_mask

LABELS = ("background", "body", "hair", "face", "eyes", "nose", "mouth")
PHOTO_SKIN_SHARE = 0.5
CHI2_3_95 = 7.81  # 95 % quantile of chi-square with 3 degrees of freedom  # auto: photo when skin rules cover this share of the face region


class SelfieSegmentation:
    """MediaPipe selfie segmentation: (H, W) soft person confidence in [0, 1]."""

    size = 256

    def __init__(self, ctx: PluginContext) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise SSTError("person segmentation needs ai-edge-litert: pip install ai-edge-litert") from exc
        self.interpreter = Interpreter(model_path=str(ctx.models.ensure("selfie-segmentation")))
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        x = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
        self.interpreter.set_tensor(self.input, x[None])
        self.interpreter.invoke()
        confidence = self.interpreter.get_tensor(self.output)[0, :, :, 0]
        return np.clip(cv2.resize(confidence, (w, h), interpolation=cv2.INTER_LINEAR), 0, 1)


class PersonSegmenter:
    """Background / person from MediaPipe's selfie segmentation (soft)."""

    def __init__(self, ctx: PluginContext) -> None:
        self.person = SelfieSegmentation(ctx)

    def segment(self, request: SegmentRequest) -> Segmentation:
        masks = []
        for image in (request.content, *request.styles):
            p = self.person(image)
            masks.append(SemanticMasks(("background", "person"), np.stack([1 - p, p]).astype(np.float32)))
        return Segmentation(masks[0], tuple(masks[1:]))


def decide_kind(requested: str, skin: np.ndarray, faces: list[Face]) -> str:
    """photo | artwork; ``auto``: photo when skin rules cover half the face region (or no face)."""
    if requested != "auto":
        return requested
    face_region = part_mask(faces, "face", skin.shape)
    if face_region.sum() == 0:
        return "photo"
    return "photo" if float((skin * face_region).sum() / face_region.sum()) >= PHOTO_SKIN_SHARE else "artwork"


def face_coloured(image: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Pixels whose Lab colour is typical of ``region`` (Mahalanobis distance, 95 % of a 3-D Gaussian)."""
    if region.sum() < 50:
        return np.zeros(image.shape[:2], np.float32)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float64)
    samples = lab[region.reshape(-1) > 0.5]
    mean, cov = samples.mean(0), np.cov(samples.T) + np.eye(3)
    d = lab - mean
    distance2 = np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d)
    return (distance2 < CHI2_3_95).reshape(image.shape[:2]).astype(np.float32)


def portrait_masks(image: np.ndarray, person: np.ndarray, skin: np.ndarray, faces: list[Face], kind: str) -> np.ndarray:
    """(7, H, W) masks in LABELS order."""
    shape = image.shape[:2]
    eyes, nose, mouth = (part_mask(faces, part, shape) for part in ("eyes", "nose", "mouth"))
    parts = np.clip(eyes + nose + mouth, 0, 1)
    head = part_mask(faces, "head", shape) * person
    if kind == "photo":
        face = skin * person
        hair = head * (1 - skin)
    else:
        region = part_mask(faces, "face", shape)
        outside_head = 1 - part_mask(faces, "head", shape)
        face = np.maximum(region, face_coloured(image, region * (1 - parts)) * outside_head) * person
        hair = head * (1 - face)
    face = face * (1 - parts)
    hair = hair * (1 - parts)
    body = np.clip(person - face - hair - parts * person, 0, 1)
    return np.stack([1 - person, body, hair, face, eyes * person, nose * person, mouth * person]).astype(np.float32)


class PortraitSegmenter:
    """Background, body, hair, face, eyes, nose, mouth from person, skin and landmarks (Zhao et al. 2017)."""

    detector = "dlib68"

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.person = SelfieSegmentation(ctx)
        self.faces = ctx.registry.create("face-detector", self.detector, ctx)
        self.skin = ctx.registry.create("skin-detector", "ycbcr", ctx)

    def segment(self, request: SegmentRequest) -> Segmentation:
        roles = ["content"] + [f"style {i + 1}" for i in range(len(request.styles))]
        kinds = [request.content_kind] + [request.style_kind] * len(request.styles)
        masks, notes = [], []
        for role, image, requested in zip(roles, (request.content, *request.styles), kinds):
            faces = self.faces.detect(image)
            skin = self.skin.detect(image)
            kind = decide_kind(requested, skin, faces)
            notes.append(f"{role}: {len(faces)} face(s) found by {self.detector}, treated as {kind}"
                         + ("" if faces else "; no eye, nose or mouth masks"))
            masks.append(portrait_masks(image, self.person(image), skin, faces, kind))
        present = [[bool(m[k].max() >= 0.5) for k in range(len(LABELS))] for m in masks]
        for k, label in enumerate(LABELS):
            absent = [role for role, p in zip(roles, present) if not p[k]]
            if absent and len(absent) < len(roles):
                notes.append(f"label '{label}' is empty in {', '.join(absent)}: its regions elsewhere are matched by appearance alone")
        result = [SemanticMasks(LABELS, m) for m in masks]
        return Segmentation(result[0], tuple(result[1:]), tuple(notes))


@hookimpl
def register_segmenters(register) -> None:
    register("person", PersonSegmenter)
    register("portrait", PortraitSegmenter)
