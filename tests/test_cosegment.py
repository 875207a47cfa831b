"""The cosegment segmenter: one texture gets one label in every image; K is chosen by silhouette."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch

from sst.core.errors import SSTError
from sst.core.images import save_image
from sst.core.interfaces import PluginContext, SegmentRequest
from sst.core.models import ModelManager
from sst.core.registry import default_registry
from sst.plugins.segmenters.cosegment import choose_k, unsure_labels
from tests.conftest import run_cli


def textures(h: int = 120, w: int = 160) -> tuple[np.ndarray, np.ndarray]:
    brick = np.repeat(skimage.data.brick()[:h, :w, None], 3, 2)
    grass = np.repeat(skimage.data.grass()[:h, :w, None], 3, 2)
    return brick, grass


def scenes() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Brick on the left of the first image, brick as a disc in the second; the brick masks."""
    brick, grass = textures()
    h, w = brick.shape[:2]
    left = np.zeros((h, w), bool)
    left[:, : w * 2 // 5] = True
    yy, xx = np.mgrid[:h, :w]
    disc = np.hypot(yy - h * 0.55, xx - w * 0.6) < h * 0.35
    return [np.where(m[..., None], brick, grass) for m in (left, disc)], [left, disc]


@pytest.fixture(scope="module")
def segmenter():
    ctx = PluginContext(default_registry(), ModelManager(), torch.device("cpu"), lambda _: None)
    return default_registry().create("segmenter", "cosegment", ctx)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_each_texture_gets_the_same_label_in_both_images(segmenter) -> None:
    images, bricks = scenes()
    request = SegmentRequest(images[0], (images[1],), classes=2)
    result = segmenter.segment(request)
    masks = [result.content, *result.styles]
    assert result.content.labels == ("region1", "region2")
    brick_label = [int(np.bincount(m.maps.argmax(0)[b], minlength=2).argmax()) for m, b in zip(masks, bricks)]
    assert brick_label[0] == brick_label[1]
    for m, b in zip(masks, bricks):
        assert m.maps.shape == (2, *b.shape) and 0 <= m.maps.min() and m.maps.max() <= 1
        assert iou(m.maps.argmax(0) == brick_label[0], b) > 0.8
        assert iou(m.maps.argmax(0) != brick_label[0], ~b) > 0.8
    again = segmenter.segment(request)
    assert np.array_equal(again.content.maps, result.content.maps)  # seeded: deterministic


def test_k_is_chosen_without_classes_and_bad_k_is_refused(segmenter) -> None:
    images, _ = scenes()
    result = segmenter.segment(SegmentRequest(images[0], (images[1],)))
    assert len(result.content.labels) == 2 and result.notes[0].startswith("cosegment: 2 regions")
    assert "K chosen by silhouette (2: " in result.notes[0]
    with pytest.raises(SSTError, match="choose 2 to 6"):
        segmenter.segment(SegmentRequest(images[0], (), classes=9))


def test_choose_k_finds_the_number_of_blobs() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, (4, 8))
    x = np.concatenate([c + rng.normal(0, 1, (300, 8)) for c in centres]).astype(np.float32)
    k, scores = choose_k(x)
    assert k == 4 and set(scores) == {2, 3, 4, 5, 6}


def test_sst_run_on_a_scene_without_a_face_uses_cosegment(tmp_path: Path) -> None:
    """The default command on a faceless pair: auto picks cosegment, says so, and the masks reach the run."""
    images, _ = scenes()
    paths = [tmp_path / "content.png", tmp_path / "style.png"]
    for path, image in zip(paths, images):
        save_image(path, image)
    out = tmp_path / "out.png"
    result = run_cli("run", *map(str, paths), "--size", "64", "--levels", "1", "--iters", "3",
                     "--features", "vgg16", "--save-masks", "-o", str(out))
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stderr.split())
    assert "segmenter: cosegment (no face in the content" in said and said.count("K chosen by silhouette") == 1
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["masks"]["labels"] == ["region1", "region2"]
    assert {p["name"] for p in sidecar["plugins"]} >= {"mrf-semantic", "cosegment", "gaussian"}
    assert (tmp_path / "out_masks" / "content_composite.png").exists()


def test_a_label_the_styles_lack_is_unsure() -> None:
    """Label 2 covers half the content and a sliver of the style: pairing it would force the content's half
    onto those few pixels, so it is unsure; labels 0 and 1 are in both and stay."""
    content = np.zeros((3, 10, 10), np.float32)
    content[0, :5, :5] = content[1, :5, 5:] = content[2, 5:] = 1
    style = np.zeros((3, 10, 10), np.float32)
    style[0, :, :5] = style[1, :, 5:] = 1
    style[:, 0, 0] = (0, 0, 1)  # one stray pixel of label 2
    assert unsure_labels(content, [style]) == [2]
    assert unsure_labels(content, [content]) == []
