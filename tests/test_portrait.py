"""Automatic portrait masks: skin rules, landmark parts, person masks, softeners, `sst masks`."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from sst.core.images import save_image
from sst.core.interfaces import Face, PluginContext, SegmentRequest
from sst.core.models import ModelManager
from sst.core.registry import default_registry
from sst.plugins.faces.geometry import part_mask
from sst.plugins.segmenters.portrait import LABELS, decide_kind
from sst.plugins.skin.ycbcr import skin_ycbcr
from tests.conftest import run_cli, stripes

SKIN = [(224, 172, 138), (198, 134, 106), (141, 85, 56), (255, 205, 170), (170, 110, 80)]
NOT_SKIN = [(40, 90, 200), (60, 160, 60), (128, 128, 128), (250, 250, 250), (20, 20, 20), (90, 60, 160)]


@pytest.fixture(scope="module")
def ctx() -> PluginContext:
    return PluginContext(default_registry(), ModelManager(), torch.device("cpu"), lambda m: None)


def test_skin_rules_on_known_colours() -> None:
    rng = np.random.default_rng(0)
    colours = SKIN + NOT_SKIN
    tiles = [np.clip(np.full((40, 40, 3), c) + rng.normal(0, 3, (40, 40, 3)), 0, 255) for c in colours]
    image = np.concatenate(tiles, axis=1).astype(np.uint8)
    skin = skin_ycbcr(image).reshape(40, len(colours), 40).mean(axis=(0, 2))
    assert (skin[: len(SKIN)] > 0.8).all(), skin
    assert (skin[len(SKIN):] < 0.05).all(), skin


def test_landmark_parts_sit_on_the_astronauts_face(ctx: PluginContext) -> None:
    image = data.astronaut()
    (face,) = ctx.registry.create("face-detector", "dlib68", ctx).detect(image)
    shape = image.shape[:2]
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(float)
    cr = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)[..., 1].astype(float)
    eyes, mouth, skin = (part_mask([face], p, shape) > 0 for p in ("eyes", "mouth", "face"))
    cheeks = skin & ~eyes & ~mouth & ~(part_mask([face], "nose", shape) > 0)
    assert grey[eyes].mean() < grey[cheeks].mean() - 15  # eyes are darker than the face around them
    assert cr[mouth].mean() > cr[cheeks].mean() + 2  # lips are redder (teeth show: she smiles)
    centre = lambda m: np.argwhere(m).mean(0)  # noqa: E731  (row, col)
    left, right = (centre(part_mask([Face(face.landmarks, {"e": [p]})], "e", shape) > 0) for p in face.parts["eyes"])
    assert left[0] == pytest.approx(right[0], abs=10) and left[1] < right[1]
    assert max(left[0], right[0]) < centre(mouth)[0]
    inner = face.parts["inner_mouth"][0]
    outer = face.parts["mouth"][0]
    assert all(cv2.pointPolygonTest(outer, (float(x), float(y)), False) >= 0 for x, y in inner)


def test_several_faces_and_no_face(ctx: PluginContext) -> None:
    detector = ctx.registry.create("face-detector", "dlib68", ctx)
    two = np.concatenate([data.astronaut(), data.astronaut()[:, ::-1]], axis=1)
    faces = detector.detect(two)
    assert len(faces) == 2
    assert sorted(f.landmarks[:, 0].mean() < 512 for f in faces) == [False, True]
    segmentation = ctx.registry.create("segmenter", "portrait", ctx).segment(
        SegmentRequest(two, (stripes(200, 300, (90, 60, 160)),)))
    content, (style,) = segmentation.content, segmentation.styles
    eyes = content.maps[LABELS.index("eyes")]
    assert eyes[:, :512].max() > 0.3 and eyes[:, 512:].max() > 0.3
    assert style.maps[LABELS.index("eyes")].max() == 0
    notes = " ".join(segmentation.notes)
    assert "style 1: 0 face(s)" in notes and "label 'eyes' is empty in style 1" in notes


def test_masks_are_soft_aligned_and_image_sized(ctx: PluginContext) -> None:
    content, style = data.astronaut(), cv2.resize(data.astronaut()[:, ::-1], (300, 300))
    segmentation = ctx.registry.create("segmenter", "portrait", ctx).segment(SegmentRequest(content, (style,)))
    for masks, image in ((segmentation.content, content), (segmentation.styles[0], style)):
        assert masks.labels == LABELS
        assert masks.maps.shape == (len(LABELS), *image.shape[:2])
        assert masks.maps.min() >= 0 and masks.maps.max() <= 1
    person = 1 - segmentation.content.maps[0]
    assert 0.05 < float(((person > 0) & (person < 1)).mean())  # the selfie model's confidence stays soft
    assert person[100:200, 180:260].mean() > 0.9 and person[:60, :60].mean() < 0.2  # face vs the flag corner


def test_kind_rule() -> None:
    face = Face(np.zeros((0, 2), np.float32), {"face": [np.array([[10, 10], [50, 10], [50, 50], [10, 50]], np.float32)]})
    assert decide_kind("auto", np.ones((64, 64), np.float32), [face]) == "photo"
    assert decide_kind("auto", np.zeros((64, 64), np.float32), [face]) == "artwork"
    assert decide_kind("auto", np.zeros((64, 64), np.float32), []) == "photo"
    assert decide_kind("artwork", np.ones((64, 64), np.float32), [face]) == "artwork"


def test_guided_follows_the_edge_better_than_gaussian(ctx: PluginContext) -> None:
    image = np.zeros((100, 100, 3), np.uint8)
    image[:, 50:] = 255
    mask = np.zeros((1, 100, 100), np.float32)
    mask[0, :, 50:] = 1
    errors = {}
    for name in ("gaussian", "guided"):
        soft = ctx.registry.create("softener", name, ctx).soften(mask, image)
        assert soft.shape == mask.shape and soft.min() >= 0 and soft.max() <= 1
        errors[name] = float(np.abs(soft - mask)[:, :, 40:60].mean())
    assert errors["guided"] < errors["gaussian"] / 2, errors
    binary = ctx.registry.create("softener", "none", ctx).soften(np.full((1, 4, 4), 0.6, np.float32), image)
    assert set(np.unique(binary)) == {1.0}


def test_sst_masks_writes_masks_and_composite(tmp_path: Path) -> None:
    save_image(tmp_path / "astronaut.png", data.astronaut())
    result = run_cli("masks", str(tmp_path / "astronaut.png"), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == sorted([f"astronaut_{label}.png" for label in LABELS] + ["astronaut_composite.png"])


def test_run_uses_automatic_masks_by_default(tmp_path: Path) -> None:
    save_image(tmp_path / "a.png", data.astronaut())
    save_image(tmp_path / "b.png", data.astronaut()[:, ::-1].copy())
    out = tmp_path / "o.png"
    result = run_cli("run", str(tmp_path / "a.png"), str(tmp_path / "b.png"), "-o", str(out), "--size", "64",
                     "--levels", "1", "--iters", "2", "--features", "vgg16", "--save-masks")
    assert result.returncode == 0, result.stderr
    assert "segmenter: portrait" in result.stderr
    assert (tmp_path / "o_masks" / "content_composite.png").exists()
