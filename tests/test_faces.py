"""Facial-part detectors ``dlib68`` and ``facemesh``: part geometry, several faces, no face."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from sst.core.interfaces import Face, PluginContext
from sst.core.models import ModelManager
from sst.core.registry import default_registry
from sst.plugins.faces.geometry import closed_outline, part_mask
from tests.conftest import stripes

DETECTORS = ("dlib68", "facemesh")
PARTS = {"eyes", "nose", "mouth", "inner_mouth", "outline", "face", "head"}


@pytest.fixture(scope="module")
def notices() -> list[str]:
    return []


@pytest.fixture(scope="module")
def ctx(notices: list[str]) -> PluginContext:
    return PluginContext(default_registry(), ModelManager(), torch.device("cpu"), notices.append)


@pytest.fixture(scope="module", params=DETECTORS)
def detector(request: pytest.FixtureRequest, ctx: PluginContext):
    return ctx.registry.create("face-detector", request.param, ctx)


def inside(polygon: np.ndarray, points: np.ndarray) -> bool:
    return all(cv2.pointPolygonTest(polygon.astype(np.float32), (float(x), float(y)), False) >= 0 for x, y in points)


def test_parts_sit_on_the_astronauts_face(detector) -> None:
    image = data.astronaut()
    (face,) = detector.detect(image)
    assert set(face.parts) == PARTS
    shape = image.shape[:2]
    mask = lambda part: part_mask([face], part, shape) > 0  # noqa: E731
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(float)
    cr = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)[..., 1].astype(float)
    cheeks = mask("face") & ~mask("eyes") & ~mask("mouth") & ~mask("nose")
    assert grey[mask("eyes")].mean() < grey[cheeks].mean() - 15  # eyes are darker than the skin around them
    assert cr[mask("mouth")].mean() > cr[cheeks].mean() + 2  # lips are redder
    (left, right) = (np.asarray(e).mean(0) for e in face.parts["eyes"])  # (x, y)
    assert left[1] == pytest.approx(right[1], abs=10) and left[0] < right[0]
    mouth, inner = face.parts["mouth"][0], face.parts["inner_mouth"][0]
    assert inside(mouth, inner)  # the mouth opening lies between the lips
    assert max(left[1], right[1]) < inner[:, 1].mean() < face.parts["outline"][0][:, 1].max()  # below the eyes, above the chin
    nose = face.parts["nose"][0]
    assert max(left[1], right[1]) < nose[:, 1].max() < mouth[:, 1].min() + 5


def test_face_and_head_regions_contain_the_parts(detector) -> None:
    (face,) = detector.detect(data.astronaut())
    region, head = face.parts["face"][0], face.parts["head"][0]
    for part in ("eyes", "nose", "mouth"):
        for polygon in face.parts[part]:
            assert inside(region, polygon), part
    assert inside(head, region)
    eyes_y = np.concatenate(face.parts["eyes"])[:, 1].mean()
    chin_y = face.parts["outline"][0][:, 1].max()
    assert region[:, 1].min() < eyes_y - 0.3 * (chin_y - eyes_y)  # the face region reaches up the forehead
    assert head[:, 1].min() < region[:, 1].min()  # the head region reaches above it (hair)


def test_several_faces_are_all_found(detector) -> None:
    image = np.concatenate([data.astronaut(), data.astronaut()[:, ::-1]], axis=1)
    faces = detector.detect(image)
    assert len(faces) == 2
    assert sorted(bool(f.landmarks[:, 0].mean() < 512) for f in faces) == [False, True]


def test_no_face_is_an_empty_list(detector) -> None:
    assert detector.detect(stripes(200, 300, (90, 60, 160))) == []


def test_dlib68_says_when_it_retries_with_the_cnn(ctx: PluginContext, notices: list[str]) -> None:
    notices.clear()
    assert ctx.registry.create("face-detector", "dlib68", ctx).detect(stripes(120, 160, (90, 60, 160))) == []
    assert any("CNN" in note for note in notices)


def test_closed_outline_follows_a_tilted_face() -> None:
    angle = np.deg2rad(30)
    rotate = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    outline = np.array([[-50, 0], [-40, 40], [0, 60], [40, 40], [50, 0]], float)  # ear, chin, ear; y down
    brows = np.array([[-30, -10], [30, -10]], float)
    upright = closed_outline(outline, brows, rise=1.0)
    tilted = closed_outline(outline @ rotate.T, brows @ rotate.T, rise=1.0)
    np.testing.assert_allclose(tilted, upright @ rotate.T, atol=1e-4)
    assert upright[:, 1].min() == pytest.approx(-10 - 70, abs=1e-4)  # the chin mirrored about the brow line
    face = Face(np.zeros((0, 2), np.float32), {"face": [upright + 100]})
    assert part_mask([face], "face", (200, 200))[100, 100] == 1
