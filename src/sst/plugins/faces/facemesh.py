"""Facial-part detector ``facemesh``: MediaPipe BlazeFace and face mesh, run with ai-edge-litert.

1. BlazeFace (short range, 128 x 128 input in [-1, 1]) finds faces: 896 SSD
   anchors, boxes and 6 keypoints decoded as MediaPipe does, score >= 0.5,
   weighted non-maximum suppression (IoU 0.3). The model is made for faces
   that fill a good part of the frame, so it runs on the whole image
   (letterboxed) and, for non-square images, also on overlapping square
   windows of the short side's size; all detections are merged.
2. Each face's box, squared and enlarged 1.5x and rotated so the eyes are
   level, is cropped to 192 x 192 (values in [0, 1]); the mesh model gives 468
   landmarks in that crop and a face-presence logit (faces below 0.5 are dropped).

Parts use the mesh's contours: lower face oval (the analogue of dlib's jaw
0-16), upper eyebrows, eye contours, nose bridge and base, outer and inner lips.
The mediapipe package itself is not used (its models come from the model manager).
"""

from __future__ import annotations

import cv2
import numpy as np

from sst.core.errors import SSTError
from sst.core.hookspecs import hookimpl
from sst.core.images import resize
from sst.core.interfaces import Face, PluginContext
from sst.core.models import ModelSpec, Package
from sst.core.native import captured_stderr
from sst.plugins.faces.geometry import face_from_parts

DETECTOR_SIZE, MESH_SIZE = 128, 192
MIN_SCORE, NMS_IOU, ROI_SCALE, MIN_PRESENCE = 0.5, 0.3, 1.5, 0.5

# Mesh indices, each contour ordered around its shape; "right"/"left" are the image's.
OUTLINE = [234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454]
BROWS = [70, 63, 105, 66, 107, 336, 296, 334, 293, 300]
EYES = [[33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7],
        [263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249]]
NOSE = [168, 6, 197, 195, 5, 4, 1, 98, 97, 2, 326, 327]
MOUTH = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146]
INNER_MOUTH = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]


def ssd_anchors() -> np.ndarray:
    """(896, 2) anchor centres of BlazeFace short range, normalised: 16x16 cells x 2, 8x8 cells x 6."""
    centres = []
    for cells, per_cell in ((16, 2), (8, 6)):
        yy, xx = np.mgrid[:cells, :cells]
        grid = np.stack([(xx + 0.5) / cells, (yy + 0.5) / cells], -1).reshape(-1, 1, 2)
        centres.append(np.repeat(grid, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(centres).astype(np.float32)


def decode(regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes (N, 4) x0 y0 x1 y1, keypoints (N, 6, 2) and scores (N,) above MIN_SCORE, normalised to the input."""
    scores = 1 / (1 + np.exp(-np.clip(logits.astype(np.float64), -100, 100)))
    keep = scores > MIN_SCORE
    raw, centres = regressors[keep] / DETECTOR_SIZE, anchors[keep]
    centre, size = raw[:, :2] + centres, raw[:, 2:4]
    boxes = np.concatenate([centre - size / 2, centre + size / 2], axis=1)
    keypoints = raw[:, 4:16].reshape(-1, 6, 2) + centres[:, None]
    return boxes, keypoints, scores[keep]


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lo, hi = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
    area = lambda b: np.prod(b[..., 2:] - b[..., :2], axis=-1)  # noqa: E731
    return inter / (area(box) + area(boxes) - inter + 1e-9)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """MediaPipe's blending suppression: each cluster (IoU > NMS_IOU) becomes its score-weighted mean."""
    order = np.argsort(-scores)
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    faces, left = [], np.ones(len(scores), bool)
    while left.any():
        first = int(np.argmax(left))
        cluster = left & (iou(boxes[first], boxes) > NMS_IOU)
        cluster[first] = True
        w = scores[cluster] / scores[cluster].sum()
        faces.append(((boxes[cluster] * w[:, None]).sum(0), (keypoints[cluster] * w[:, None, None]).sum(0)))
        left &= ~cluster
    return faces


def square_windows(h: int, w: int) -> list[tuple[int, int, int]]:
    """(x, y, side) of the whole image (letterboxed) and, if not square, overlapping short-side squares."""
    side = min(h, w)
    windows = [(0, 0, max(h, w))]
    if h != w:
        count = int(np.ceil(max(h, w) / (side / 2))) - 1
        starts = np.linspace(0, max(h, w) - side, max(count, 2)).round().astype(int)
        windows += [(int(s), 0, side) if w > h else (0, int(s), side) for s in starts]
    return windows


class FaceMesh:
    """MediaPipe BlazeFace (short range) + face mesh (468 landmarks) through ai-edge-litert."""

    def __init__(self, ctx: PluginContext) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise SSTError("the facemesh detector needs ai-edge-litert: pip install ai-edge-litert") from exc
        detector, mesh = (str(ctx.models.ensure(m)) for m in ("face-detection-short-range", "face-landmark"))
        with captured_stderr():  # TFLite's "INFO: Created TensorFlow Lite XNNPACK delegate" line
            self.detector, self.mesh = Interpreter(model_path=detector), Interpreter(model_path=mesh)
            for interpreter in (self.detector, self.mesh):
                interpreter.allocate_tensors()
        self.anchors = ssd_anchors()

    def _run(self, interpreter, x: np.ndarray) -> list[np.ndarray]:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x[None].astype(np.float32))
        interpreter.invoke()
        return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]

    def _detect_window(self, image: np.ndarray, x0: int, y0: int, side: int) -> tuple[np.ndarray, ...]:
        window = np.zeros((side, side, 3), np.uint8)
        crop = image[y0 : y0 + side, x0 : x0 + side]
        window[: crop.shape[0], : crop.shape[1]] = crop
        x = resize(window, (DETECTOR_SIZE, DETECTOR_SIZE)) / 127.5 - 1
        outputs = {o.shape[-1]: o for o in self._run(self.detector, x)}  # regressors (.., 16), scores (.., 1)
        boxes, keypoints, scores = decode(outputs[16][0], outputs[1][0, :, 0], self.anchors)
        offset = np.array([x0, y0], np.float32)
        return (boxes * side + np.tile(offset, 2), keypoints * side + offset, scores)

    def _landmarks(self, image: np.ndarray, box: np.ndarray, keypoints: np.ndarray) -> np.ndarray | None:
        """468 (x, y) landmarks in image pixels, or None when the mesh model sees no face."""
        centre = (box[:2] + box[2:]) / 2
        size = float(max(box[2:] - box[:2])) * ROI_SCALE
        eye_line = keypoints[1] - keypoints[0]  # right eye (image left) -> left eye
        u = eye_line / (np.linalg.norm(eye_line) + 1e-9)
        v = np.array([-u[1], u[0]])
        corners = np.array([centre - size / 2 * (u + v), centre + size / 2 * (u - v), centre + size / 2 * (v - u)])
        to_crop = cv2.getAffineTransform(corners.astype(np.float32),
                                         np.float32([[0, 0], [MESH_SIZE, 0], [0, MESH_SIZE]]))
        crop = cv2.warpAffine(image, to_crop, (MESH_SIZE, MESH_SIZE), flags=cv2.INTER_LINEAR)
        mesh, presence = sorted(self._run(self.mesh, crop / 255.0), key=lambda o: -o.size)  # (.., 1404), (.., 1)
        if 1 / (1 + np.exp(-float(presence.ravel()[0]))) < MIN_PRESENCE:
            return None
        points = mesh.reshape(-1, 3)[:, :2]
        back = cv2.invertAffineTransform(to_crop)
        return (points @ back[:, :2].T + back[:, 2]).astype(np.float32)

    def detect(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        found = [self._detect_window(image, *window) for window in square_windows(h, w)]
        boxes, keypoints, scores = (np.concatenate(parts) for parts in zip(*found))
        faces = []
        for box, points in weighted_nms(boxes, keypoints, scores):
            mesh = self._landmarks(image, box, points)
            if mesh is not None:
                faces.append(face_from_parts(
                    mesh, outline=mesh[OUTLINE], brows=mesh[BROWS], eyes=[mesh[e] for e in EYES],
                    nose=mesh[NOSE], mouth=mesh[MOUTH], inner_mouth=mesh[INNER_MOUTH],
                ))
        return faces


MEDIAPIPE = dict(requirement="mediapipe==0.10.21", archive="mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
                 sha256="05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3", wheel=True)
"""The MediaPipe wheel the TFLite models come from (the portrait segmenter's too)."""


@hookimpl
def register_models(register) -> None:
    register(ModelSpec("face-landmark", "MediaPipe face mesh (468 landmarks)", "face_landmark.tflite",
                       "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
                       Package(member="mediapipe/modules/face_landmark/face_landmark.tflite", **MEDIAPIPE)))
    register(ModelSpec("face-detection-short-range", "MediaPipe BlazeFace short-range face detector",
                       "face_detection_short_range.tflite",
                       "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
                       Package(member="mediapipe/modules/face_detection/face_detection_short_range.tflite",
                               **MEDIAPIPE)))


@hookimpl
def register_face_detectors(register) -> None:
    register("facemesh", FaceMesh)
