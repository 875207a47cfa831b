"""Segmenters ``person``, ``portrait`` and ``portrait-facemesh``: automatic soft masks (the paper's section 5).

``person``: background / person, the soft confidence of MediaPipe's selfie
segmentation model (run with ai-edge-litert; the model's output is already a
probability in [0, 1]).

``portrait`` (landmarks from ``dlib68``) and ``portrait-facemesh`` (from
``facemesh``): background, body, hair, face, eyes, nose, mouth — the same
labels in the same order for every image. The maps sum to 1 at every pixel:

- person = the selfie model's confidence, raised to 1 inside every landmark
  face region (a face found is a person, even where the model misses a painted one);
  background = 1 - person;
- eyes, nose, mouth = the detector's polygons for every face found (mouth is
  the outer lips); they are cut out of the labels below;
- photographs: face = skin (``ycbcr``, Brancati et al.'s rules) within the
  person — the paper's face/skin label, so neck and arms count — keeping the
  skin regions connected to a face (an orange suit passes the rules), plus the
  landmark outline (ear to ear below the eyes: the rules leave holes in
  shadows and highlights); with no face, all skin within the person;
- artwork (skin rules fail on paintings): face = the landmark face region
  (outline closed at an estimated hairline) within the person, plus person
  pixels outside the head region whose Lab colour is typical of that face
  region (Mahalanobis distance within the 95 % ellipsoid: neck and arms);
- hair = the rest of the landmark head region (the outline extended upwards
  and widened) within the person; body = the rest of the person.

``--content-kind/--style-kind auto`` asks, per image, whether the photo rule
works there: photo when the skin rules cover at least PHOTO_FACE_SKIN of the
faces' outline region (eyes, nose, mouth left out) and at most
PHOTO_BACKGROUND_SKIN of the background (person confidence < 0.5); with no
face, the background test alone. Otherwise artwork. A photo whose skin the
rules miss (colour cast, heavy beard) thus gets the landmark rule too; the
notice gives the numbers.

No face: a notice, and eyes, nose and mouth stay empty (not an error). A label
empty in some images only is kept there with an empty mask and a notice says
so: its regions elsewhere are matched by appearance alone.
"""

from __future__ import annotations

import hashlib
import weakref

import cv2
import numpy as np

from sst.core.errors import SSTError
from sst.core.hookspecs import hookimpl
from sst.core.images import resize
from sst.core.interfaces import Face, PluginContext, SegmentRequest, Segmentation, SemanticMasks, Suitability
from sst.core.models import ModelSpec, Package
from sst.core.options import KINDS
from sst.core.native import captured_stderr
from sst.plugins.faces.facemesh import MEDIAPIPE
from sst.plugins.faces.geometry import part_mask

LABELS = ("background", "body", "hair", "face", "eyes", "nose", "mouth")
PHOTO_FACE_SKIN = 0.4  # auto: least share of the face outline the skin rules must cover
PHOTO_BACKGROUND_SKIN = 0.25  # auto: most share of the background they may cover
CHI2_3_95 = 7.81  # 95 % quantile of chi-square with 3 degrees of freedom


class SelfieSegmentation:
    """MediaPipe selfie segmentation: (H, W) soft person confidence in [0, 1].

    The image is letterboxed (black bars) to a square before the model's
    256 x 256 input: stretching a wide image squashes people and they are missed.
    """

    size = 256

    def __init__(self, ctx: PluginContext) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise SSTError("person segmentation needs ai-edge-litert: pip install ai-edge-litert") from exc
        model = str(ctx.models.ensure("selfie-segmentation"))
        with captured_stderr():  # TFLite's "INFO: Created TensorFlow Lite XNNPACK delegate" line
            self.interpreter = Interpreter(model_path=model)
            self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        side = max(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        square = cv2.copyMakeBorder(image, top, side - h - top, left, side - w - left, cv2.BORDER_CONSTANT, value=0)
        x = resize(square, (self.size, self.size)).astype(np.float32) / 255
        self.interpreter.set_tensor(self.input, x[None])
        self.interpreter.invoke()
        confidence = resize(self.interpreter.get_tensor(self.output)[0, :, :, 0], (side, side))
        return np.clip(confidence[top : top + h, left : left + w], 0, 1)


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


def decide_kind(requested: str, skin: np.ndarray, person: np.ndarray, faces: list[Face]) -> tuple[str, str]:
    """(photo | artwork, why); ``auto`` tests whether the skin rules work on this image (module docstring)."""
    if requested not in KINDS:
        raise SSTError(f"unknown image kind '{requested}'; use one of {', '.join(KINDS)}")
    if requested != "auto":
        return requested, "as asked"
    background = person < 0.5
    background_skin = float(skin[background].mean()) if background.any() else 0.0
    photo = background_skin <= PHOTO_BACKGROUND_SKIN
    found = [f"{background_skin:.0%} of the background (photo: <= {PHOTO_BACKGROUND_SKIN:.0%})"]
    parts = np.clip(sum(part_mask(faces, p, skin.shape) for p in ("eyes", "nose", "mouth")), 0, 1)
    outline = part_mask(faces, "outline", skin.shape) * (1 - parts)
    if outline.sum() > 0:
        face_skin = float((skin * outline).sum() / outline.sum())
        photo = photo and face_skin >= PHOTO_FACE_SKIN
        found.insert(0, f"{face_skin:.0%} of the face outline (photo: >= {PHOTO_FACE_SKIN:.0%})")
    return ("photo" if photo else "artwork"), "auto: skin rules cover " + " and ".join(found)


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


def skin_of_faces(skin: np.ndarray, region: np.ndarray) -> np.ndarray:
    """The connected skin regions (8-connected, skin >= 0.5) that overlap a landmark face region."""
    _, labels = cv2.connectedComponents((skin >= 0.5).astype(np.uint8), connectivity=8)
    touching = np.unique(labels[(region > 0) & (labels > 0)])
    return skin * np.isin(labels, touching)


def portrait_masks(image: np.ndarray, person: np.ndarray, skin: np.ndarray, faces: list[Face], kind: str) -> np.ndarray:
    """(7, H, W) masks in LABELS order, summing to 1 at every pixel."""
    shape = image.shape[:2]
    eyes, nose, mouth = (part_mask(faces, part, shape) for part in ("eyes", "nose", "mouth"))
    eyes = eyes * (1 - mouth)
    nose = nose * (1 - eyes - mouth)
    parts = eyes + nose + mouth
    region = part_mask(faces, "face", shape)
    head = part_mask(faces, "head", shape)
    person = np.maximum(person, np.maximum(region, parts))
    if kind == "photo":
        lower_face = part_mask(faces, "outline", shape)
        face = np.maximum(skin_of_faces(skin * person, region), lower_face) if faces else skin * person
    else:
        face = np.maximum(region, face_coloured(image, region * (1 - parts)) * (1 - head)) * person
    hair = head * person - face * head
    face, hair = face * (1 - parts), hair * (1 - parts)
    body = np.clip(person - face - hair - parts, 0, 1)
    return np.stack([1 - person, body, hair, face, eyes, nose, mouth]).astype(np.float32)


_DETECTORS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # registry -> {detector name: detector}
_LAST: dict[str, tuple[bytes, list[Face]]] = {}  # detector name -> (digest of the last image, its faces)


def faces_in(ctx: PluginContext, detector: str, image: np.ndarray) -> list[Face]:
    """The faces ``detector`` finds in ``image``. The detector is made once per registry and the last image's
    faces are kept: ``--segmenter auto`` asks whether the content has a face, then the segmenter segments
    the same content, and one detection serves both."""
    made = _DETECTORS.setdefault(ctx.registry, {})
    if detector not in made:
        made[detector] = ctx.registry.create("face-detector", detector, ctx)
    digest = hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest() + bytes(str(image.shape), "ascii")
    if detector not in _LAST or _LAST[detector][0] != digest:
        _LAST[detector] = (digest, made[detector].detect(image))
    return _LAST[detector][1]


class PortraitSegmenter:
    """Background, body, hair, face, eyes, nose, mouth from person, skin and dlib68 landmarks (Zhao et al. 2017)."""

    detector = "dlib68"
    consistent_labels = True  # the same seven parts on every image: a clip is segmented frame by frame

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.person = SelfieSegmentation(ctx)
        self.skin = ctx.registry.create("skin-detector", "ycbcr", ctx)

    @classmethod
    def suitability(cls, ctx: PluginContext, content: np.ndarray, maps_given: bool) -> Suitability:
        """A face in the content (found by this segmenter's detector) makes it a portrait."""
        if cls is not PortraitSegmenter:
            return Suitability(0.0, "chosen by name only")
        faces = faces_in(ctx, cls.detector, content)
        return Suitability(0.9, f"{len(faces)} face(s) in the content") if faces else Suitability(0.0, "no face")

    def segment(self, request: SegmentRequest) -> Segmentation:
        roles = ["content"] + [f"style {i + 1}" for i in range(len(request.styles))]
        kinds = [request.content_kind] + [request.style_kind] * len(request.styles)
        masks, notes = [], []
        for role, image, requested in zip(roles, (request.content, *request.styles), kinds):
            faces = faces_in(self.ctx, self.detector, image)
            skin = self.skin.detect(image)
            person = self.person(image)
            kind, why = decide_kind(requested, skin, person, faces)
            notes.append(f"{role}: {len(faces)} face(s) found by {self.detector}, treated as {kind} ({why})"
                         + ("" if faces else "; no eye, nose or mouth masks"))
            masks.append(portrait_masks(image, person, skin, faces, kind))
        present = [(m >= 0.5).any(axis=(1, 2)) for m in masks]
        for k, label in enumerate(LABELS):
            absent = [role for role, p in zip(roles, present) if not p[k]]
            if absent and len(absent) < len(roles):
                notes.append(f"label '{label}' is empty in {', '.join(absent)}: "
                             "its regions elsewhere are matched by appearance alone")
        result = [SemanticMasks(LABELS, m) for m in masks]
        return Segmentation(result[0], tuple(result[1:]), tuple(notes))


class PortraitFacemeshSegmenter(PortraitSegmenter):
    """``portrait`` with MediaPipe's face mesh (468 landmarks) instead of dlib's 68."""

    detector = "facemesh"


@hookimpl
def register_models(register) -> None:
    register(ModelSpec("selfie-segmentation", "MediaPipe selfie segmentation (soft person mask)",
                       "selfie_segmentation.tflite", "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
                       Package(member="mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite", **MEDIAPIPE)))


@hookimpl
def register_segmenters(register) -> None:
    register("person", PersonSegmenter)
    register("portrait", PortraitSegmenter)
    register("portrait-facemesh", PortraitFacemeshSegmenter)
