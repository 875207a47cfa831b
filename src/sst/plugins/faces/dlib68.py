"""Facial-part detector ``dlib68``: dlib face detection and the 68-point shape predictor.

Faces are found with dlib's HOG detector (upsampled once, detection score at
least 0.5); when it finds none (paintings often defeat it) the CNN detector
(MMOD) runs, and a notice says so. ``dlib68-cnn`` uses the CNN detector from
the start. Parts follow the iBUG 68-point scheme: outline (jaw) 0-16, brows
17-26, nose 27-35, eyes 36-41 and 42-47, outer lips 48-59, inner mouth 60-67;
the face and head regions are built from them (:mod:`sst.plugins.faces.geometry`).
"""

from __future__ import annotations

import numpy as np

from sst.core.errors import SSTError
from sst.core.hookspecs import hookimpl
from sst.core.interfaces import Face, PluginContext
from sst.core.models import ModelSpec, Package
from sst.plugins.faces.geometry import face_from_parts

HOG_THRESHOLD = 0.5  # detection score; lower scores were false faces on clothing in tests


def _dlib():
    try:
        import dlib
    except ImportError as exc:
        raise SSTError("the dlib68 detector needs dlib: pip install dlib-bin") from exc
    return dlib


def parts_from_68(points: np.ndarray) -> Face:
    """Named parts from the 68 iBUG landmarks."""
    return face_from_parts(
        points, outline=points[0:17], brows=points[17:27], eyes=[points[36:42], points[42:48]],
        nose=points[27:36], mouth=points[48:60], inner_mouth=points[60:68],
    )


class Dlib68:
    """dlib HOG face detector (CNN when HOG finds none) + 68-point landmarks."""

    cnn_first = False

    def __init__(self, ctx: PluginContext) -> None:
        dlib = _dlib()
        self.ctx = ctx
        self.hog = dlib.get_frontal_face_detector()
        self.predictor = dlib.shape_predictor(str(ctx.models.ensure("dlib68")))
        self._cnn = None

    def _hog_boxes(self, image: np.ndarray) -> list:
        rects, scores, _ = self.hog.run(image, 1, 0.0)
        return [r for r, s in zip(rects, scores) if s >= HOG_THRESHOLD]

    def _cnn_boxes(self, image: np.ndarray) -> list:
        if self._cnn is None:
            self._cnn = _dlib().cnn_face_detection_model_v1(str(self.ctx.models.ensure("dlib-mmod")))
        return [d.rect for d in self._cnn(image, 1)]

    def detect(self, image: np.ndarray) -> list[Face]:
        image = np.ascontiguousarray(image)
        boxes = [] if self.cnn_first else self._hog_boxes(image)
        if not boxes:
            if not self.cnn_first:
                self.ctx.notice("dlib HOG detector found no face; trying the CNN (MMOD) detector")
            boxes = self._cnn_boxes(image)
        faces = []
        for box in boxes:
            shape = self.predictor(image, box)
            faces.append(parts_from_68(np.array([(p.x, p.y) for p in shape.parts()], np.float32)))
        return faces


class Dlib68CNN(Dlib68):
    """dlib CNN (MMOD) face detector + 68-point landmarks."""

    cnn_first = True


FACE_MODELS = dict(requirement="face-recognition-models==0.3.0", archive="face_recognition_models-0.3.0.tar.gz",
                   sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf")


@hookimpl
def register_models(register) -> None:
    register(ModelSpec("dlib68", "dlib 68-point face landmarks", "shape_predictor_68_face_landmarks.dat",
                       "fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f",
                       Package(member="face_recognition_models/models/shape_predictor_68_face_landmarks.dat",
                               **FACE_MODELS)))
    register(ModelSpec("dlib-mmod", "dlib CNN face detector (MMOD)", "mmod_human_face_detector.dat",
                       "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6",
                       Package(member="face_recognition_models/models/mmod_human_face_detector.dat", **FACE_MODELS)))


@hookimpl
def register_face_detectors(register) -> None:
    register("dlib68", Dlib68)
    register("dlib68-cnn", Dlib68CNN)
