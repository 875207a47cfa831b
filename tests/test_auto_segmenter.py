"""``--segmenter auto``: manual with maps, portrait with a face, crfrnn when installed, else cosegment."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from sst.core.interfaces import PluginContext
from sst.core.models import ModelManager
from sst.core.registry import default_registry
from sst.core.stylist import resolve_segmenter
from tests.test_crfrnn import link_models

FACE_MODELS = ("dlib68", "dlib-mmod")


def scene() -> np.ndarray:
    """A drawn landscape: sky, sea, a boat; no face."""
    image = np.zeros((120, 160, 3), np.uint8)
    image[:60] = (120, 170, 230)
    image[60:] = (30, 80, 120)
    cv2.fillPoly(image, [np.array([(50, 70), (110, 70), (100, 85), (60, 85)])], (200, 60, 40))
    return image


def resolved(tmp_path: Path, image: np.ndarray, with_crfrnn: bool, name: str = "auto",
             maps_given: bool = False) -> tuple[str, list[str]]:
    cache = tmp_path / "cache"
    link_models(cache, FACE_MODELS)
    if with_crfrnn:
        (cache / "crfrnn.onnx").write_bytes(b"any")  # only its presence is read here
        (cache / "crfrnn.onnx.sha256").write_text("{}")
    notes: list[str] = []
    ctx = PluginContext(default_registry(), ModelManager(cache), torch.device("cpu"), notes.append)
    return resolve_segmenter(name, maps_given, ctx, image), notes


def test_a_face_picks_portrait(tmp_path: Path) -> None:
    name, notes = resolved(tmp_path, skimage.data.astronaut(), with_crfrnn=True)
    assert name == "portrait" and "segmenter: portrait (1 face(s) in the content)" in notes


@pytest.mark.parametrize("with_crfrnn, expected", [(True, "crfrnn"), (False, "cosegment")])
def test_a_scene_picks_crfrnn_when_installed_else_cosegment(tmp_path: Path, with_crfrnn: bool, expected: str) -> None:
    name, notes = resolved(tmp_path, scene(), with_crfrnn)
    assert name == expected and notes[-1].startswith(f"segmenter: {expected} (no face in the content")


def test_maps_pick_manual_and_a_named_segmenter_is_kept(tmp_path: Path) -> None:
    assert resolved(tmp_path / "a", scene(), False, maps_given=True)[0] == "manual"
    assert resolved(tmp_path / "b", skimage.data.astronaut(), False, name="cosegment")[0] == "cosegment"


def test_auto_detects_the_contents_faces_once(monkeypatch) -> None:
    """Asking the portrait segmenter whether it suits the content and then segmenting share one detection."""
    from skimage import data

    from sst import Stylist, TransferOptions
    from sst.plugins.faces.dlib68 import Dlib68
    from sst.plugins.segmenters import portrait

    monkeypatch.setattr(portrait, "_LAST", {})  # no detection left over from another test
    seen = []
    detect = Dlib68.detect
    monkeypatch.setattr(Dlib68, "detect", lambda self, image: seen.append(image.shape) or detect(self, image))
    content, style = data.astronaut(), data.astronaut()[:400]
    segmented = Stylist(TransferOptions(features="vgg16")).segment(content, [style])
    assert segmented.plugins[0].name == "portrait"
    assert seen == [content.shape, style.shape]
