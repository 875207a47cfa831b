"""Style rotations/scales (CNNMRF) and colour preservation."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from sst.core.augment import augment, transform, variants
from sst.core.colour import luminance_inputs, recombine
from sst.core.images import load_image, resize
from tests.conftest import run_cli


def test_variants_are_every_rotation_and_scale_with_identity_first() -> None:
    pairs = variants(2, 1)
    assert len(pairs) == 5 * 3 and pairs[0] == (0.0, 1.0)
    assert {round(a, 3) for a, _ in pairs} == {-15.0, -7.5, 0.0, 7.5, 15.0}
    assert {round(s, 4) for _, s in pairs} == {round(1 / 1.05, 4), 1.0, 1.05}


def test_augment_transforms_images_and_masks_alike() -> None:
    image = data.astronaut()[::4, ::4]
    masks = np.zeros((2, *image.shape[:2]), np.float32)
    masks[0, :, : image.shape[1] // 2] = 1
    masks[1] = 1 - masks[0]
    images, out_masks = augment([image], [masks], rotations=1, scales=1)
    assert len(images) == len(out_masks) == 9
    assert np.array_equal(images[0], image) and np.allclose(out_masks[0], masks)
    for img, m in zip(images, out_masks):
        assert img.shape[:2] == m.shape[1:]
    assert images[1].shape != image.shape or not np.array_equal(images[1], image)
    rotated = transform(image, 90.0, 1.0, cv2.INTER_NEAREST)
    assert np.array_equal(rotated, np.rot90(image))


def test_luminance_transfer_keeps_the_content_colours() -> None:
    content, style = data.astronaut(), data.coffee()
    grey_content, (grey_style,) = luminance_inputs(content, [style])
    assert (grey_content[..., 0] == grey_content[..., 2]).all()
    assert abs(float(grey_style.mean()) - float(grey_content.mean())) < 2
    result = recombine(np.roll(grey_content, 7, axis=1), content)
    assert np.abs(chroma(result) - chroma(content)).mean() < 3


def chroma(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)[..., 1:].astype(int)


def test_cli_run_with_rotations_scales_and_colour(two_region_pair: dict[str, Path], tmp_path: Path) -> None:
    """--preserve-colour keeps the content's chroma (red stripes; the style is cyan and blue), and
    --style-rotations/--style-scales match against 3 x 3 copies of the style, which changes the result."""
    p = two_region_pair
    common = [str(p["content"]), str(p["style"]), "--size", "64", "--levels", "2", "--iters", "6", "--features",
              "vgg16", "--content-map", str(p["content_map"]), "--style-map", str(p["style_map"])]
    runs = {"plain": [], "colour": ["--preserve-colour"], "copies": ["--style-rotations", "1", "--style-scales", "1"]}
    images, sidecars = {}, {}
    for name, extra in runs.items():
        out = tmp_path / f"{name}.png"
        result = run_cli("run", *common, "-o", str(out), *extra)
        assert result.returncode == 0, result.stderr
        images[name], sidecars[name] = load_image(out), json.loads(out.with_suffix(".json").read_text())
    content = resize(load_image(p["content"]), images["plain"].shape[:2])
    kept = {name: float(np.abs(chroma(images[name]) - chroma(content)).mean()) for name in ("plain", "colour")}
    assert kept["colour"] < 5 and kept["plain"] > 3 * kept["colour"], kept
    assert sidecars["colour"]["options"]["preserve_colour"] is True
    assert (sidecars["plain"]["style_copies"], sidecars["copies"]["style_copies"]) == (1, 9)
    assert np.abs(images["copies"].astype(int) - images["plain"].astype(int)).mean() > 1
