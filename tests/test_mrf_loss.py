"""The CNNMRF losses: exact gradients, and semantic matching stays within regions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sst.core.images import load_image, to_tensor
from sst.core.interfaces import LossOptions, PluginContext, StyleTargets
from sst.core.models import ModelManager
from sst.core.patches import unfold_patches
from sst.core.registry import default_registry
from sst.plugins.losses.doodle import DoodleLoss
from sst.plugins.losses.mrf import MRFLoss, SemanticMRFLoss
from sst.plugins.segmenters.manual import label_map


def small_loss(cls: type[MRFLoss], stride: int = 1, masks: bool = False) -> tuple[MRFLoss, list[torch.Tensor]]:
    torch.manual_seed(stride)
    loss = cls(None, LossOptions(style_stride=stride, gamma=5.0))  # type: ignore[arg-type]
    loss.layers = ("a",)
    styles = [torch.rand(3, 7, 6, dtype=torch.double), torch.rand(3, 6, 8, dtype=torch.double)]
    style_masks = [torch.rand(2, 14, 12, dtype=torch.double), torch.rand(2, 12, 16, dtype=torch.double)] if masks else None
    content_masks = torch.rand(2, 12, 14, dtype=torch.double) if masks else None
    loss.prepare(StyleTargets([{"a": s} for s in styles], style_masks, content_masks))
    return loss, styles


@pytest.mark.parametrize("cls", [MRFLoss, SemanticMRFLoss])
@pytest.mark.parametrize("stride", [1, 2])
def test_gradcheck(cls: type[MRFLoss], stride: int) -> None:
    loss, _ = small_loss(cls, stride, masks=cls is SemanticMRFLoss)
    f = torch.rand(3, 6, 7, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: loss({"a": x}), (f,), eps=1e-6, atol=1e-6)


def test_equals_unfolded_reference() -> None:
    loss, styles = small_loss(MRFLoss, 2)
    f = torch.rand(3, 6, 7, dtype=torch.double, requires_grad=True)
    value = loss({"a": f})
    (grad,) = torch.autograd.grad(value, f)
    patches = unfold_patches(f)
    keys = torch.cat([unfold_patches(s, 3, 2) for s in styles], dim=1)
    best = (patches.detach().T @ (keys / keys.norm(dim=0))).argmax(1)  # the query's norm does not change the argmax
    reference = F.mse_loss(patches, keys[:, best])
    (ref_grad,) = torch.autograd.grad(reference, f)
    assert torch.allclose(value, reference) and torch.allclose(grad, ref_grad)


def test_several_styles_are_all_used() -> None:
    loss, styles = small_loss(MRFLoss)
    f = torch.cat([styles[0][:, :6, :3], styles[1][:, :6, 4:8]], dim=2).clone()  # left from style 0, right from 1
    loss({"a": f})
    style_of_match = loss.last_matches["a"][0].view(4, 5)
    assert (style_of_match[:, 0] == 0).all() and (style_of_match[:, -1] == 1).all()


def region_share(loss: MRFLoss, layer: str, content_labels: np.ndarray, style_labels: np.ndarray) -> float:
    """Share of content patches matched to a style patch of the same label (patch centres)."""
    _, index = loss.last_matches[layer]
    hg, wg = loss._keys[layer].grids[0]
    hq, wq = content_labels.shape[0] - 2, content_labels.shape[1] - 2
    style_centre = style_labels[1 : 1 + hg, 1 : 1 + wg].reshape(-1)[index.numpy()]
    return float((style_centre == content_labels[1 : 1 + hq, 1 : 1 + wq].reshape(-1)).mean())


@pytest.mark.parametrize("search", ["exact", "approx"])
def test_semantic_matches_stay_in_their_region(two_region_pair: dict[str, Path], search: str) -> None:
    """Content stripes labelled 'dots' on the right: only mrf-semantic sends them to the style's dots,
    with either search (approx: ten evaluations, each warm-started from the last)."""
    ctx = PluginContext(default_registry(), ModelManager(), torch.device("cpu"), print)
    net = default_registry().create("features", "vgg16", ctx)
    content, style = (load_image(two_region_pair[k]) for k in ("content", "style"))
    palette = np.array([(255, 0, 0), (0, 0, 255)], np.uint8)
    labels = [label_map(load_image(two_region_pair[k]), palette) for k in ("content_map", "style_map")]
    masks = [torch.from_numpy(np.stack([lab == 0, lab == 1]).astype(np.float32)) for lab in labels]
    with torch.no_grad():
        cf = {k: v[0] for k, v in net.extract(to_tensor(content), MRFLoss.layers).items()}
        sf = {k: v[0] for k, v in net.extract(to_tensor(style), MRFLoss.layers).items()}
    shares = {}
    for cls in (MRFLoss, SemanticMRFLoss):
        loss = cls(ctx, LossOptions(search=search))
        loss.prepare(StyleTargets([sf], [masks[1]], masks[0]))
        for _ in range(1 if search == "exact" else 10):
            loss(cf)
        assert loss.searches == {"relu3_1": search, "relu4_1": search}
        h, w = cf["relu3_1"].shape[1:]
        small = [label_map_at(lab, (h, w)) for lab in labels]
        shares[cls.__name__] = region_share(loss, "relu3_1", *small)
    assert shares["SemanticMRFLoss"] > 0.95, shares
    assert shares["MRFLoss"] < 0.75, shares


def drawn_features(pair: dict[str, Path]) -> tuple:
    """Context, content and style images, and their VGG-16 features at the MRF layers."""
    ctx = PluginContext(default_registry(), ModelManager(), torch.device("cpu"), print)
    net = default_registry().create("features", "vgg16", ctx)
    content, style = (load_image(pair[k]) for k in ("content", "style"))
    with torch.no_grad():
        cf = {k: v[0] for k, v in net.extract(to_tensor(content), MRFLoss.layers).items()}
        sf = {k: v[0] for k, v in net.extract(to_tensor(style), MRFLoss.layers).items()}
    return ctx, content, style, cf, sf


@pytest.mark.parametrize("search", ["exact", "approx"])
def test_a_constant_mask_gives_plain_mrf_matches(two_region_pair: dict[str, Path], search: str) -> None:
    """An all-ones mask carries no information: mrf-semantic and doodle (any weight) must match exactly
    as plain mrf does, at every layer and, for approx, at every warm-started evaluation."""
    ctx, content, style, cf, sf = drawn_features(two_region_pair)
    ones = [torch.ones(1, *im.shape[:2]) for im in (content, style)]
    losses = [cls(ctx, LossOptions(search=search, gamma=20.0, seed=3)) for cls in (MRFLoss, SemanticMRFLoss, DoodleLoss)]
    for loss in losses:
        loss.prepare(StyleTargets([sf], [ones[1]], ones[0]))
    for step in range(1 if search == "exact" else 3):
        features = {k: v * (1 + 0.1 * step) + 0.01 * step for k, v in cf.items()}
        for loss in losses:
            loss(features)
        for layer in MRFLoss.layers:
            plain = losses[0].last_matches[layer][1]
            assert all(torch.equal(loss.last_matches[layer][1], plain) for loss in losses[1:]), (layer, step)


def test_masks_do_not_favour_weak_style_patches(two_region_pair: dict[str, Path]) -> None:
    """Inside one region (masks agree everywhere) the matched style patches keep the energy plain mrf's have:
    the fault of the joint normalisation (matched patches 0.75 of the style's mean norm against 1.13)."""
    ctx, content, style, cf, sf = drawn_features(two_region_pair)
    one_region = [torch.stack([torch.ones(im.shape[:2]), torch.zeros(im.shape[:2])]) for im in (content, style)]
    norms = {}
    for cls in (MRFLoss, SemanticMRFLoss):
        loss = cls(ctx, LossOptions(gamma=50.0))
        loss.prepare(StyleTargets([sf], [one_region[1]], one_region[0]))
        loss(cf)
        keys = loss._keys["relu3_1"]
        norms[cls.__name__] = float(keys.norm2[loss.last_matches["relu3_1"][1]].sqrt().mean())
    assert norms["SemanticMRFLoss"] == pytest.approx(norms["MRFLoss"], rel=1e-6), norms


def label_map_at(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(labels.astype(np.uint8), (size[1], size[0]), interpolation=cv2.INTER_NEAREST)
