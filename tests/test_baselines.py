"""The baseline losses gram, gram-guided and doodle: exact gradients, real runs, spatial control."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import typer
from typer.testing import CliRunner

from sst.cli.compare_cmd import compare
from sst.core.compare import compare_losses
from sst.core.errors import SSTError
from sst.core.images import load_image, resize_long_side, to_tensor
from sst.core.interfaces import FeatureNet, LossOptions, PluginContext, Segmentation, SemanticMasks, StyleTargets
from sst.core.masks import one_hot
from sst.core.models import ModelManager
from sst.core.registry import default_registry
from sst.core.synthesis import SynthesisSettings, synthesise, tv_loss
from sst.core.transfer import TransferOptions, transfer
from sst.plugins.losses.doodle import DoodleLoss
from sst.plugins.losses.gram import GramLoss, GuidedGramLoss, gram
from sst.plugins.losses.mrf import SemanticMRFLoss
from sst.plugins.segmenters.manual import label_map

PALETTE = np.array([(255, 0, 0), (0, 0, 255)], np.uint8)
LOSSES = ("gram", "gram-guided", "doodle")


@pytest.fixture(scope="module")
def ctx() -> PluginContext:
    return PluginContext(default_registry(), ModelManager(), torch.device("cpu"), lambda message: None)


@pytest.fixture(scope="module")
def net(ctx: PluginContext) -> FeatureNet:
    return ctx.registry.create("features", "vgg16", ctx)


def small_targets(masks: bool) -> StyleTargets:
    torch.manual_seed(0)
    styles = [{"a": torch.rand(3, 7, 6, dtype=torch.double)}, {"a": torch.rand(3, 6, 8, dtype=torch.double)}]
    if not masks:
        return StyleTargets(styles, None, None)
    style_masks = [torch.rand(2, 14, 12, dtype=torch.double), torch.rand(2, 12, 16, dtype=torch.double)]
    return StyleTargets(styles, style_masks, torch.rand(2, 12, 14, dtype=torch.double))


@pytest.mark.parametrize("cls", [GramLoss, GuidedGramLoss, DoodleLoss])
def test_gradcheck(cls: type) -> None:
    loss = cls(None, LossOptions())
    loss.layers = ("a",)
    loss.prepare(small_targets(masks=loss.uses_masks))
    f = torch.rand(3, 6, 7, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: loss({"a": x}), (f,), eps=1e-6, atol=1e-6)


def test_gram_is_the_mean_outer_product_and_styles_average() -> None:
    f = torch.rand(4, 5, 6, dtype=torch.double)
    assert torch.allclose(gram(f), torch.einsum("chw,dhw->cd", f, f) / 30)
    loss = GramLoss(None, LossOptions())  # type: ignore[arg-type]
    loss.layers = ("a",)
    targets = small_targets(masks=False)
    loss.prepare(targets)
    expected = (gram(targets.style_features[0]["a"]) + gram(targets.style_features[1]["a"])) / 2
    assert torch.allclose(loss._targets["a"], expected)


def test_guided_gram_is_a_region_statistic() -> None:
    """A region's guided Gram matrix ignores what lies outside its mask and its softness."""
    f = torch.rand(4, 6, 6, dtype=torch.double)
    mask = torch.zeros(6, 6, dtype=torch.double)
    mask[:, :3] = 0.3  # a faint left half
    g = f.clone()
    g[:, :, 3:] = 5.0  # the right half changes
    assert torch.allclose(gram(f, mask), gram(g, mask))
    assert torch.allclose(gram(f, mask), gram(f[:, :, :3]))


def test_doodle_weights_the_mask_term_by_its_semantic_weight() -> None:
    loss = DoodleLoss(None, LossOptions(gamma=20.0))  # type: ignore[arg-type]
    assert loss.options.gamma == pytest.approx(DoodleLoss.semantic_weight) and loss.content_layer == "relu4_2"
    assert isinstance(loss, SemanticMRFLoss)


def test_guided_gram_with_a_constant_guide_is_gram() -> None:
    """One all-ones guide carries no information: gram-guided's targets and loss are gram's, also with
    several styles of different sizes (each style counts once in both)."""
    targets = small_targets(masks=False)
    ones = StyleTargets(targets.style_features, [torch.ones(1, 14, 12, dtype=torch.double),
                                                 torch.ones(1, 12, 16, dtype=torch.double)],
                        torch.ones(1, 12, 14, dtype=torch.double))
    plain, guided = GramLoss(None, LossOptions()), GuidedGramLoss(None, LossOptions())  # type: ignore[arg-type]
    plain.layers = guided.layers = ("a",)
    plain.prepare(targets)
    guided.prepare(ones)
    assert torch.allclose(guided._region_targets["a"][0], plain._targets["a"])
    f = torch.rand(3, 6, 7, dtype=torch.double)
    assert torch.allclose(guided({"a": f}), plain({"a": f}))


def masks_of(paths: dict[str, Path]) -> Segmentation:
    content, style = (one_hot(label_map(load_image(paths[k]), PALETTE), 2) for k in ("content_map", "style_map"))
    return Segmentation(SemanticMasks(("red", "blue"), content), (SemanticMasks(("red", "blue"), style),))


@pytest.mark.parametrize("name", [*LOSSES, "mrf", "mrf-semantic"])
def test_loss_decreases_on_a_small_real_run(
    ctx: PluginContext, net: FeatureNet, name: str, two_region_pair: dict[str, Path]
) -> None:
    settings = SynthesisSettings(size=48, levels=1, iters=6)
    loss = ctx.registry.create("loss", name, ctx, LossOptions())
    content, style = load_image(two_region_pair["content"]), load_image(two_region_pair["style"])
    segmentation = masks_of(two_region_pair) if loss.uses_masks else None
    _, reports = synthesise(content, [style], net, loss, settings, torch.device("cpu"), segmentation)
    x = to_tensor(resize_long_side(content, 48))  # where the run started; the loss is prepared at this size
    with torch.no_grad():
        start = float(loss({k: v[0] for k, v in net.extract(x, loss.layers).items()}))
    start_total = settings.style_weight * start + settings.tv_weight * float(tv_loss(x))
    assert reports[-1].loss["style"] < 0.8 * start
    assert reports[-1].loss["total"] < start_total


def test_guided_gram_keeps_the_regions_apart_where_gram_mixes_them(
    ctx: PluginContext, net: FeatureNet, two_region_pair: dict[str, Path]
) -> None:
    """The content's left half is labelled like the style's stripes, its right half like its dots.
    Both layouts of the two textures have the same global statistics, so gram cannot tell the
    right one (stripes left, dots right) from the swapped one; gram-guided can."""
    style = load_image(two_region_pair["style"])
    h, w = style.shape[0] // 2, style.shape[1] // 2
    dots_half, stripes_half = style[:h, :w], style[h:, :w]
    layouts = {"right": np.concatenate([stripes_half, dots_half], 1), "swapped": np.concatenate([dots_half, stripes_half], 1)}
    masks = masks_of(two_region_pair)
    features = lambda image, layers: {k: v[0] for k, v in net.extract(to_tensor(image), layers).items()}  # noqa: E731
    values = {}
    for name in ("gram", "gram-guided"):
        loss = ctx.registry.create("loss", name, ctx, LossOptions())
        loss.prepare(StyleTargets([features(style, loss.layers)], [torch.from_numpy(masks.styles[0].maps)],
                                  torch.from_numpy(masks.content.maps)))
        with torch.no_grad():
            values[name] = {k: float(loss(features(image, loss.layers))) for k, image in layouts.items()}
    assert values["gram-guided"]["right"] < 0.3 * values["gram-guided"]["swapped"], values
    assert 0.75 < values["gram"]["right"] / values["gram"]["swapped"] < 1.33, values


def test_compare_writes_results_grid_and_metrics(two_region_pair: dict[str, Path], tmp_path: Path) -> None:
    p, out = two_region_pair, tmp_path / "cmp"
    app = typer.Typer()
    app.command()(compare)
    result = CliRunner().invoke(app, [
        str(p["content"]), str(p["style"]), "--losses", "doodle", "-o", str(out), "--size", "64",
        "--levels", "1", "--iters", "3", "--features", "vgg16",
        "--content-map", str(p["content_map"]), "--style-map", str(p["style_map"]),
    ])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "metrics.json").read_text())
    assert [r["loss"] for r in report["results"]] == ["doodle"]
    doodle = report["results"][0]
    assert doodle["content_weight"] == 0.4
    fidelity = doodle["semantic_fidelity"]
    assert fidelity["chance"] == pytest.approx(0.5, abs=0.02)  # the drawn style is half dots, half stripes
    assert fidelity["score"] == pytest.approx(np.mean(list(fidelity["per_label"].values())))
    assert doodle["texture_energy"] > 5  # stripes and dots: far from flat
    assert load_image(out / "grid.png").shape[1] > 3 * 64 and (out / "content_doodle.json").exists()
    assert "LPIPS" in result.output and "doodle" in result.output


def test_compare_segments_once_for_every_loss_and_the_metrics(two_region_pair: dict[str, Path], tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from sst.plugins.segmenters.manual import ManualSegmenter

    calls = []
    segment = ManualSegmenter.segment
    monkeypatch.setattr(ManualSegmenter, "segment", lambda self, request: calls.append(1) or segment(self, request))
    p = two_region_pair
    options = TransferOptions(size=48, levels=1, iters=2, features="vgg16", content_map=p["content_map"],
                              style_maps=(p["style_map"],))
    rows = compare_losses(p["content"], [p["style"]], ["mrf-semantic", "doodle", "mrf"], tmp_path, options,
                          isolate=False)
    assert len(calls) == 1 and [r["loss"] for r in rows] == ["mrf-semantic", "doodle", "mrf"]
    sidecars = {r["loss"]: json.loads(Path(r["output"]).with_suffix(".json").read_text()) for r in rows}
    assert sidecars["doodle"]["masks"]["labels"] == sidecars["mrf-semantic"]["masks"]["labels"]
    assert [p["name"] for p in sidecars["doodle"]["plugins"]][2:] == ["manual", "gaussian"]
    assert sidecars["mrf"]["masks"] is None


def test_compare_refuses_an_unknown_loss(two_region_pair: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(SSTError, match="gramm"):
        compare_losses(two_region_pair["content"], [two_region_pair["style"]], ["gramm"], tmp_path, TransferOptions())


def test_run_weights_follow_the_loss_unless_given(two_region_pair: dict[str, Path], tmp_path: Path) -> None:
    """``sst run --loss gram`` uses gram's recommended style weight 3; a weight the user gives wins."""
    p = two_region_pair
    small = TransferOptions(size=32, levels=1, iters=1, features="vgg16", loss="gram")
    runs = {"default": small, "given": replace(small, style_weight=2.0, tv_weight=0.5)}
    options = {name: transfer(p["content"], [p["style"]], None, o).sidecar["options"] for name, o in runs.items()}
    assert (options["default"]["style_weight"], options["default"]["content_weight"]) == (3.0, 1.0)
    assert (options["given"]["style_weight"], options["given"]["tv_weight"]) == (2.0, 0.5)


def test_doodle_semantic_weight_option() -> None:
    assert DoodleLoss(None, LossOptions(semantic_weight=25.0)).options.gamma == pytest.approx(25.0)
    assert DoodleLoss(None, LossOptions(gamma=7.0)).options.gamma == pytest.approx(100.0)  # gamma is not read
