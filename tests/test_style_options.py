"""Style rotations/scales (CNNMRF) and colour preservation."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from sst.core.augment import augment, transform, variants
from sst.core.colour import luminance_inputs, recombine
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
    chroma = lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2YCrCb)[..., 1:].astype(int)  # noqa: E731
    assert np.abs(chroma(result) - chroma(content)).mean() < 3


def test_cli_run_with_rotations_scales_and_colour(two_region_pair: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "o.png"
    p = two_region_pair
    result = run_cli("run", str(p["content"]), str(p["style"]), "-o", str(out), "--size", "64", "--levels", "1",
                     "--iters", "3", "--features", "vgg16", "--style-rotations", "1", "--style-scales", "1",
                     "--preserve-colour", "--content-map", str(p["content_map"]), "--style-map", str(p["style_map"]))
    assert result.returncode == 0, result.stderr
    options = json.loads(out.with_suffix(".json").read_text())["options"]
    assert (options["style_rotations"], options["style_scales"], options["preserve_colour"]) == (1, 1, True)
