"""The crfrnn segmenter on a generated model: export -> model manager -> ONNX Runtime -> top-K soft maps.

No VOC segmentation weights can be had on the machines that run these tests, so
the model is a small random backbone followed by the real CRF layer, exported
by the same code as ``sst models export crfrnn``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from sst.plugins.segmenters.crfrnn.command import export
from sst.core.errors import SSTError
from sst.core.images import resize_long_side, save_image
from sst.core.interfaces import PluginContext, SegmentRequest
from sst.core.masks import resize_maps
from sst.core.models import ModelManager
from sst.core.registry import default_registry
from sst.plugins.segmenters.crfrnn import VOC_LABELS, softmax
from sst.plugins.segmenters.crfrnn.build import CRFRNN, voc_state_dict, write_onnx
from sst.plugins.softeners.crf import MeanFieldCRF
from tests.conftest import run_cli

INPUT_SIZE = 64


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[CRFRNN, Path]:
    """A small random conv backbone (21 channels, class biases far apart) + the real CRF layer, exported."""
    torch.manual_seed(0)
    backbone = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 21, 1))
    with torch.no_grad():
        backbone[2].bias.copy_(torch.randperm(21).float() * 0.5)
    model = CRFRNN(backbone, MeanFieldCRF.for_grid(INPUT_SIZE // 2)).eval()
    path = write_onnx(model, tmp_path_factory.mktemp("onnx") / "crfrnn.onnx", input_size=INPUT_SIZE)
    return model, path


def installed(cache: Path, onnx: Path) -> ModelManager:
    """A manager (sst's own model list) whose 'crfrnn' is the generated file, installed as a user would."""
    manager = ModelManager(cache)
    manager.fetch("crfrnn", source_file=onnx)
    return manager


def drawn(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.full((h, w, 3), 90, np.uint8)
    cv2.circle(image, (w // 3, h // 2), min(h, w) // 3, (230, 200, 40), -1)
    cv2.rectangle(image, (w // 2, h // 4), (w - 5, h - 5), (30, 60, 220), -1)
    return np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)


def test_generated_model_gives_top_k_soft_maps(generated: tuple[CRFRNN, Path], tmp_path: Path) -> None:
    model, onnx = generated
    notices: list[str] = []
    ctx = PluginContext(default_registry(), installed(tmp_path / "cache", onnx), torch.device("cpu"), notices.append)
    segmenter = default_registry().create("segmenter", "crfrnn", ctx)
    content, style = drawn(90, 120, 0), drawn(100, 70, 1)
    result = segmenter.segment(SegmentRequest(content, (style,)))

    expected = []  # the same model run eagerly in torch
    for image in (content, style):
        x = torch.from_numpy(resize_long_side(image, INPUT_SIZE).transpose(2, 0, 1).copy())[None].float() / 255
        with torch.no_grad():
            expected.append(softmax(model(x)[0].numpy()))
    means = np.mean([p.reshape(21, -1).mean(1) for p in expected], 0)
    top = [VOC_LABELS[i] for i in np.argsort(-means)[:5]]

    assert result.content.labels == tuple(top)
    for masks, image in ((result.content, content), *zip(result.styles, (style,))):
        assert masks.maps.shape == (5, *image.shape[:2]) and masks.maps.dtype == np.float32
        assert masks.maps.min() >= 0 and masks.maps.max() <= 1
    probs = segmenter.probabilities(content)
    assert np.allclose(resize_maps(probs, expected[0].shape[1:]), expected[0], atol=0.02)
    assert "crfrnn: ONNX Runtime on CPUExecutionProvider" in notices
    assert top[0] in result.notes[0] and not any(top[0] in n for n in notices)  # notes are the caller's to print


def test_classes_out_of_range_and_missing_model_are_user_errors(generated: tuple[CRFRNN, Path], tmp_path: Path) -> None:
    ctx = PluginContext(default_registry(), installed(tmp_path / "cache", generated[1]), torch.device("cpu"), print)
    segmenter = default_registry().create("segmenter", "crfrnn", ctx)
    request = SegmentRequest(drawn(40, 40, 0), (), classes=22)
    with pytest.raises(SSTError, match="choose 1 to 21"):
        segmenter.segment(request)
    empty = PluginContext(default_registry(), ModelManager(tmp_path / "empty", []), torch.device("cpu"), print)
    with pytest.raises(SSTError, match="crfrnn"):
        default_registry().create("segmenter", "crfrnn", empty)


def test_wrong_weights_file_says_which_file_to_give(tmp_path: Path) -> None:
    bogus = tmp_path / "weights.pth"
    bogus.write_bytes(b"not weights")
    with pytest.raises(SSTError, match=r"deeplabv3_resnet50_coco-cd0a2569\.pth.*--weights PATH"):
        voc_state_dict("deeplabv3", bogus)
    with pytest.raises(SSTError, match=r"fcn_resnet50_coco-1167a1af\.pth with --weights PATH"):
        voc_state_dict("fcn", tmp_path / "missing.pth")


def test_the_export_command_comes_from_the_plugin_and_knows_its_networks() -> None:
    from sst.plugins.segmenters.crfrnn import build, command

    assert set(command.ARCHS) == set(build.ARCHS)
    result = run_cli("models", "export", "--help")
    assert result.returncode == 0 and "CRF-RNN" in result.stdout


def test_export_command_reports_a_wrong_weights_file(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(export)
    bogus = tmp_path / "deeplab.pth"
    bogus.write_bytes(b"not weights")
    result = CliRunner().invoke(app, ["crfrnn", "--weights", str(bogus), "-o", str(tmp_path / "m.onnx")])
    assert isinstance(result.exception, SSTError) and "--weights PATH" in str(result.exception)
    result = CliRunner().invoke(app, ["vgg16"])
    assert isinstance(result.exception, SSTError) and "sst models export crfrnn" in str(result.exception)
    assert not (tmp_path / "m.onnx").exists()


def test_built_model_records_its_hash_and_refuses_a_changed_file(generated: tuple[CRFRNN, Path], tmp_path: Path) -> None:
    manager = ModelManager(tmp_path)
    with pytest.raises(SSTError, match=r"sst models export crfrnn.*sst models fetch crfrnn --from FILE"):
        manager.ensure("crfrnn")
    path = manager.fetch("crfrnn", source_file=generated[1])
    record = json.loads(path.with_name(path.name + ".sha256").read_text())
    assert manager.ensure("crfrnn") == path and manager.used["crfrnn"] == record["sha256"]
    path.write_bytes(path.read_bytes()[:-1])  # corrupted in the cache
    assert manager._verified_sha256(manager.spec("crfrnn")) is None
    with pytest.raises(SSTError, match="sst models export crfrnn"):
        manager.sha256("crfrnn")


def link_models(cache: Path, names: tuple[str, ...]) -> None:
    """Link the installed models (and their hash records) into a test cache."""
    real = ModelManager()
    cache.mkdir(parents=True, exist_ok=True)
    for name in names:
        for source in (real.ensure(name), real.path(name).with_name(real.path(name).name + ".sha256")):
            if source.exists():
                os.symlink(source, cache / source.name)


def test_run_with_crfrnn_from_the_command_line(generated: tuple[CRFRNN, Path], tmp_path: Path) -> None:
    """fetch --from installs a user's ONNX file; 'sst run --segmenter crfrnn --classes 3' names its classes."""
    env = {"SST_CACHE_DIR": str(tmp_path / "cache")}
    link_models(tmp_path / "cache", ("vgg16",))
    fetched = run_cli("models", "fetch", "crfrnn", "--from", str(generated[1]), env=env)
    assert fetched.returncode == 0, fetched.stderr
    listed = {m["name"]: m for m in json.loads(run_cli("models", "list", "--json", env=env).stdout)}
    assert listed["crfrnn"]["cached"] and listed["crfrnn"]["source"] == "built here: sst models export crfrnn"
    save_image(tmp_path / "c.png", drawn(72, 96, 0))
    save_image(tmp_path / "s.png", drawn(80, 64, 1))
    out = tmp_path / "out.png"
    result = run_cli("run", str(tmp_path / "c.png"), str(tmp_path / "s.png"), "--segmenter", "crfrnn", "--classes", "3",
                     "--size", "64", "--levels", "1", "--iters", "3", "--features", "vgg16", "-o", str(out), env=env)
    assert result.returncode == 0, result.stderr
    sidecar = json.loads(out.with_suffix(".json").read_text())
    labels = sidecar["masks"]["labels"]
    assert len(labels) == 3 and set(labels) <= set(VOC_LABELS)
    assert any(n.startswith("crfrnn classes kept") and labels[0] in n for n in sidecar["masks"]["notes"])
    assert f"crfrnn classes kept (mean probability): {labels[0]}" in " ".join(result.stderr.split())
    assert set(sidecar["models"]) == {"crfrnn", "vgg16"} and sidecar["options"]["classes"] == 3
