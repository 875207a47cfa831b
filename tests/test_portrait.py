"""Segmenters ``person``, ``portrait`` and ``portrait-facemesh``; the ``guided`` softener; ``sst masks``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from sst.core.errors import SSTError
from sst.core.images import save_image
from sst.core.interfaces import Face, PluginContext, SegmentRequest
from sst.core.models import ModelManager
from sst.core.registry import default_registry
from sst.plugins.segmenters.portrait import LABELS, decide_kind
from tests.conftest import run_cli, stripes


@pytest.fixture(scope="module")
def ctx() -> PluginContext:
    return PluginContext(default_registry(), ModelManager(), torch.device("cpu"), lambda m: None)


@pytest.fixture(scope="module", params=["portrait", "portrait-facemesh"])
def portrait(request: pytest.FixtureRequest, ctx: PluginContext):
    return ctx.registry.create("segmenter", request.param, ctx)


def index(label: str) -> int:
    return LABELS.index(label)


def test_masks_are_soft_aligned_image_sized_and_sum_to_one(portrait) -> None:
    content, style = data.astronaut(), cv2.resize(data.astronaut()[:, ::-1], (300, 240))
    segmentation = portrait.segment(SegmentRequest(content, (style,), content_kind="photo", style_kind="artwork"))
    for masks, image in ((segmentation.content, content), (segmentation.styles[0], style)):
        assert masks.labels == LABELS
        assert masks.maps.shape == (len(LABELS), *image.shape[:2]) and masks.maps.dtype == np.float32
        assert masks.maps.min() >= 0 and masks.maps.max() <= 1
        np.testing.assert_allclose(masks.maps.sum(0), 1, atol=1e-5)
    maps = segmentation.content.maps
    person = 1 - maps[index("background")]
    assert 0.02 < float(((person > 0.05) & (person < 0.95)).mean())  # the selfie model's confidence stays soft
    assert person[100:200, 180:260].mean() > 0.9 and person[:60, :60].mean() < 0.2  # face vs the flag corner
    assert maps[index("face"), 120:137, 200:215].mean() > 0.8 and maps[index("face"), 120:137, 245:258].mean() > 0.8
    assert maps[index("hair"), 30:70, 180:260].mean() > 0.6  # top of her head
    assert maps[index("body"), 400:500, 100:200].mean() > 0.6  # the (skin-coloured, orange) suit is not face


def test_person_segmenter(ctx: PluginContext) -> None:
    wide = np.concatenate([data.astronaut(), data.astronaut()[:, ::-1]], axis=1)
    masks = ctx.registry.create("segmenter", "person", ctx).segment(SegmentRequest(wide, ())).content
    assert masks.labels == ("background", "person") and masks.maps.shape == (2, 512, 1024)
    person = masks.maps[1]
    assert person[250:450, 40:250].mean() > 0.8 and person[250:450, 1024 - 250 : 1024 - 40].mean() > 0.8  # both people
    assert person[:150, 450:570].mean() < 0.2  # the wall between them


def test_faces_in_both_halves_and_a_style_without_face(ctx: PluginContext) -> None:
    two = np.concatenate([data.astronaut(), data.astronaut()[:, ::-1]], axis=1)
    segmentation = ctx.registry.create("segmenter", "portrait", ctx).segment(
        SegmentRequest(two, (stripes(200, 300, (90, 60, 160)),)))
    eyes = segmentation.content.maps[index("eyes")]
    assert eyes[:, :512].max() == 1 and eyes[:, 512:].max() == 1
    assert segmentation.styles[0].maps[[index("eyes"), index("nose"), index("mouth")]].max() == 0
    notes = " ".join(segmentation.notes)
    assert "content: 2 face(s)" in notes and "style 1: 0 face(s)" in notes and "no eye, nose or mouth masks" in notes
    assert "label 'eyes' is empty in style 1" in notes and "label 'background'" not in notes


def test_kind_rule() -> None:
    face = Face(np.zeros((0, 2), np.float32), {"outline": [np.array([[10, 10], [50, 10], [50, 50], [10, 50]], np.float32)]})
    everywhere, nowhere = np.ones((64, 64), np.float32), np.zeros((64, 64), np.float32)
    on_face = np.zeros((64, 64), np.float32)
    on_face[10:51, 10:51] = 1
    person = on_face.copy()
    assert decide_kind("auto", on_face, person, [face])[0] == "photo"
    assert decide_kind("auto", nowhere, person, [face])[0] == "artwork"  # the rules find no skin on the face
    kind, why = decide_kind("auto", everywhere, person, [face])  # ... or skin everywhere, background too
    assert kind == "artwork" and "100% of the background" in why
    assert decide_kind("auto", nowhere, person, [])[0] == "photo"  # no face: the background test alone
    assert decide_kind("artwork", on_face, person, [face]) == ("artwork", "as asked")
    with pytest.raises(SSTError, match="unknown image kind 'painting'"):
        decide_kind("painting", on_face, person, [face])


def test_auto_kind_on_a_photo_and_on_a_recoloured_one(ctx: PluginContext) -> None:
    """Swapping red and blue keeps the face (landmarks still work) but defeats the skin rules, like paint."""
    image = data.astronaut()
    segmentation = ctx.registry.create("segmenter", "portrait-facemesh", ctx).segment(
        SegmentRequest(image, (np.ascontiguousarray(image[..., ::-1]),)))
    photo, artwork = segmentation.notes[:2]
    assert "content: 1 face(s)" in photo and "treated as photo (auto:" in photo
    assert "style 1: 1 face(s)" in artwork and "treated as artwork (auto:" in artwork
    assert segmentation.styles[0].maps[index("face"), 120:137, 245:258].mean() > 0.8  # landmark face region


def test_guided_follows_an_edge_better_than_gaussian(ctx: PluginContext) -> None:
    """A disc drawn in the image; masks of the same disc and of one 3 px too small."""
    image = np.full((300, 300, 3), (40, 60, 160), np.uint8)
    cv2.circle(image, (150, 150), 75, (200, 160, 120), -1)
    errors: dict[tuple[str, int], float] = {}
    truth = np.zeros((300, 300), np.uint8)
    cv2.circle(truth, (150, 150), 75, 1, -1)
    for radius in (75, 72):
        mask = np.zeros((300, 300), np.uint8)
        cv2.circle(mask, (150, 150), radius, 1, -1)
        maps = np.stack([mask, 1 - mask]).astype(np.float32)
        for name in ("gaussian", "guided"):
            soft = ctx.registry.create("softener", name, ctx).soften(maps, image)
            assert soft.shape == maps.shape and soft.min() >= 0 and soft.max() <= 1
            errors[name, radius] = float(np.abs(soft[0] - truth).mean())
    assert errors["guided", 75] < errors["gaussian", 75] / 4, errors  # keeps the edge
    assert errors["guided", 72] < errors["gaussian", 72], errors  # and pulls a wrong one towards it


def test_guided_keeps_an_edge_between_colours_of_equal_brightness(ctx: PluginContext) -> None:
    image = np.zeros((80, 80, 3), np.uint8)
    image[:, :40], image[:, 40:] = (200, 60, 60), (60, 104, 200)  # red and blue of the same luma
    luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    assert abs(int(luma[0, 0]) - int(luma[0, -1])) <= 1
    mask = np.zeros((1, 80, 80), np.float32)
    mask[0, :, :40] = 1
    soft = ctx.registry.create("softener", "guided", ctx).soften(mask, image)
    assert soft[0, :, 36:40].min() > 0.9 and soft[0, :, 40:44].max() < 0.1


def test_sst_masks_writes_masks_and_composite(tmp_path: Path) -> None:
    save_image(tmp_path / "astronaut.png", data.astronaut())
    result = run_cli("masks", str(tmp_path / "astronaut.png"), "-o", str(tmp_path / "out"),
                     "--segmenter", "portrait-facemesh", "--softener", "guided")
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
    assert "INFO:" not in result.stderr  # TFLite's delegate line is kept off the user's terminal
    assert (tmp_path / "o_masks" / "content_composite.png").exists()
