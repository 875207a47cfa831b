"""The contrib example: a third-party segmenter that brings its own model, end to end through ``sst``.

The plugin (installed by ``make install`` from contrib/sst-example-plugin, found through its entry point)
registers the model ``example-sky`` with a sha256, a command that builds it, and the segmenter ``sky``.
Here the model is built, verified and installed in a fresh cache, then used by name through ``sst run``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from sst.core.images import load_image, save_image
from sst.core.models import ModelManager
from sst_example_plugin import model
from tests.conftest import run_cli, stripes
from tests.test_cli import SMALL, assert_user_error


@pytest.fixture()
def cache(tmp_path: Path) -> dict[str, str]:
    """A fresh model cache that holds the already-fetched vgg16 (linked) and nothing of the plugin."""
    cache = tmp_path / "cache"
    cache.mkdir()
    real = ModelManager().path("vgg16")
    for path in (real, real.with_name(real.name + ".sha256")):
        (cache / path.name).symlink_to(path)
    return {"SST_CACHE_DIR": str(cache)}


def landscape(h: int = 96, w: int = 128) -> np.ndarray:
    """Blue sky over green ground, both striped so there is texture to match."""
    return np.concatenate([stripes(h // 2, w, (90, 140, 230)), stripes(h - h // 2, w, (60, 130, 40), period=9)])


def test_every_build_of_the_model_has_the_sha256_the_plugin_registers(tmp_path: Path) -> None:
    digests = {hashlib.sha256(model.build(tmp_path / f"{i}.onnx").read_bytes()).hexdigest() for i in range(2)}
    assert digests == {model.SHA256}


def test_a_segmenter_with_its_own_model_through_sst_run(tmp_path: Path, cache: dict[str, str]) -> None:
    content, style, out = tmp_path / "land.png", tmp_path / "style.png", tmp_path / "out.png"
    save_image(content, landscape())
    save_image(style, landscape()[:, ::-1] // 2 + 60)
    run = ("run", str(content), str(style), "-o", str(out), *SMALL, "--segmenter", "sky", "--save-masks")

    assert_user_error(run_cli(*run, env=cache), "example-sky", "sst example-sky-model")  # not built yet
    built = run_cli("example-sky-model", env=cache)
    assert built.returncode == 0, built.stderr
    result = run_cli(*run, env=cache)
    assert result.returncode == 0, result.stderr

    sidecar = json.loads(out.with_suffix(".json").read_text())
    used = {p["name"]: p["package"] for p in sidecar["plugins"]}
    assert used["sky"] == "sst-example-plugin" and sidecar["models"]["example-sky"]["sha256"] == model.SHA256
    assert sidecar["masks"]["labels"] == ["sky", "ground"]
    sky = load_image(out.parent / "out_masks" / "content_sky.png")[..., 0] / 255
    half = sky.shape[0] // 2
    assert sky[: half - 8].mean() > 0.8 and sky[half + 8 :].mean() < 0.2


def test_a_model_file_that_is_not_the_plugins_is_refused(tmp_path: Path, cache: dict[str, str]) -> None:
    tampered = model.build(tmp_path / "sky.onnx")
    tampered.write_bytes(tampered.read_bytes().replace(b"sst-example-plugin", b"sst-example-pluqin"))
    assert_user_error(run_cli("models", "fetch", "example-sky", "--from", str(tampered), env=cache),
                      "expected 9e0c6e9edf65")
