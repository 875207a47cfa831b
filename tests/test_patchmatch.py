"""The approximate search (PatchMatch) scores as the exact one does, converges to it and keeps its field
(its semantic regions: tests/test_mrf_loss.py); --search, per-level --iters and the memory estimate
through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sst.core.patches import mask_patches, nearest_patches, prepare_keys
from sst.core.patchmatch import PatchMatch
from sst.core.search import choose_search
from tests.conftest import run_cli
from tests.test_cli import SMALL, assert_user_error


def smooth_features(c: int, h: int, w: int, seed: int) -> torch.Tensor:
    """Random non-negative features with some spatial coherence, as CNN activations have."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(1, c, h // 3 + 1, w // 3 + 1, generator=g)
    return F.interpolate(coarse, size=(h, w), mode="bilinear")[0].relu() + 0.05 * torch.rand(c, h, w, generator=g)


def test_scores_exactly_as_the_exact_search() -> None:
    """For any field, PatchMatch's score of a candidate equals the exact search's score of that pair."""
    query, style = smooth_features(8, 12, 15, 0), smooth_features(8, 10, 11, 1)
    keys = prepare_keys([style, smooth_features(8, 9, 13, 2)], 3, 2)
    pm = PatchMatch(keys, (12, 15), torch.Generator().manual_seed(0))
    pm.search(query, steps=0)
    q = F.unfold(query[None], 3)[0]  # (D*9, N)
    k = torch.cat([F.unfold(s[None], 3, stride=2)[0] for s in (style, smooth_features(8, 9, 13, 2))], 1)
    expected = ((q / q.norm(dim=0)).T @ (k / k.norm(dim=0)))[torch.arange(q.shape[1]), pm.field.reshape(-1)]
    assert torch.allclose(pm.score.reshape(-1), expected, atol=1e-5)


def test_scores_the_mask_term_as_the_exact_search() -> None:
    """With masks, converged PatchMatch reaches the exact search's scores (same features, masks and weight)."""
    query, style = smooth_features(8, 14, 14, 3), smooth_features(8, 12, 12, 4)
    masks = [torch.rand(2, 14, 14), torch.rand(2, 12, 12)]
    keys = prepare_keys([style], masks=[masks[1]], mask_weight=2.0)
    query_masks = mask_patches(masks[0], 3)
    exact, exact_score = nearest_patches(query, keys, query_masks)
    pm = PatchMatch(keys, (14, 14), torch.Generator().manual_seed(0))
    index, score = pm.search(query, query_masks, steps=40, jumps=(8, 4, 2, 1))
    assert torch.allclose(score[index == exact], exact_score[index == exact], atol=1e-5)
    assert (index == exact).float().mean() > 0.9


@pytest.mark.parametrize("stride", [1, 2])
def test_converges_to_the_exact_answer(stride: int) -> None:
    query, style = smooth_features(16, 20, 24, 3), smooth_features(16, 18, 22, 4)
    keys = prepare_keys([style], 3, stride)
    exact, exact_score = nearest_patches(query, keys)
    pm = PatchMatch(keys, (20, 24), torch.Generator().manual_seed(0))
    index, score = pm.search(query, steps=1, jumps=(8, 4, 2, 1))
    assert (index == exact).float().mean() > 0.08  # a good share after one step (chance: 1 in ~400)
    assert (score / exact_score).mean() > 0.85
    for _ in range(200):
        index, score = pm.search(query)
    assert (index == exact).float().mean() > 0.9
    assert (score <= exact_score + 1e-5).all() and (score / exact_score).min() > 0.9


def test_warm_start_keeps_the_field_when_the_query_has_not_changed() -> None:
    query, style = smooth_features(8, 14, 14, 5), smooth_features(8, 14, 14, 6)
    pm = PatchMatch(prepare_keys([style]), (14, 14), torch.Generator().manual_seed(1))
    pm.search(query, steps=5)
    before_field, before_score = pm.field.clone(), pm.score.clone()
    pm.search(query, steps=0)  # a call with the same query, no step: nothing may move
    assert torch.equal(pm.field, before_field)
    pm.search(query, steps=3)  # steps only ever keep a better match
    assert (pm.score >= before_score - 1e-6).all()
    unchanged = pm.field == before_field
    assert (pm.score[~unchanged] > before_score[~unchanged]).all()


def test_upsampled_field_starts_near_a_converged_one() -> None:
    """A field carried from a coarse level to a fine one lands on the fine style's coherent region."""
    style = smooth_features(8, 24, 24, 7)
    query = style[:, 2:22, 3:23].clone()  # the fine query is a crop of the style: the exact answer is a shift
    coarse_q, coarse_s = (F.interpolate(t[None], scale_factor=0.5, mode="area")[0] for t in (query, style))
    coarse = PatchMatch(prepare_keys([coarse_s]), tuple(coarse_q.shape[1:]), torch.Generator().manual_seed(0))
    coarse.search(coarse_q, steps=30)
    fine_keys = prepare_keys([style])
    start = PatchMatch(fine_keys, (20, 20), torch.Generator().manual_seed(0), coarse.upsampled(fine_keys, (20, 20)))
    random = PatchMatch(fine_keys, (20, 20), torch.Generator().manual_seed(0))
    exact, _ = nearest_patches(query, fine_keys)
    gy, gx = fine_keys.gy[start.field.reshape(-1)], fine_keys.gy[exact]
    near = ((gy - gx).abs() <= 2).float().mean()
    assert near > 0.6 and near > 2 * ((fine_keys.gy[random.field.reshape(-1)] - gx).abs() <= 2).float().mean()


def test_auto_chooses_by_pair_count() -> None:
    assert choose_search("auto", 10) == "exact"
    assert choose_search("auto", 10**12) == "approx"
    assert choose_search("exact", 10**12) == "exact"


def test_run_records_search_and_iterations_per_level(two_region_pair: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "r.png"
    p = two_region_pair
    result = run_cli("run", str(p["content"]), str(p["style"]), "-o", str(out), "--size", "64", "--levels", "2",
                     "--iters", "5,3", "--features", "vgg16", "--loss", "mrf", "--search", "approx")
    assert result.returncode == 0, result.stderr
    assert "memory: about" in result.stderr
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["options"]["iters"] == [5, 3] and sidecar["options"]["search"] == "approx"
    assert [level["iterations"] for level in sidecar["levels"]] == [5, 3]
    assert all(level["search"] == {"relu3_1": "approx", "relu4_1": "approx"} for level in sidecar["levels"])
    assert sidecar["peak_memory"]["estimate_mib"] > 100


@pytest.mark.parametrize(("args", "fragment"), [
    (["--iters", "5,3,2"], "one per level"),
    (["--iters", "5,x"], "not a number"),
    (["--search", "fast"], "--search must be one of"),
    (["--style-scale", "0.01"], "--style-scale"),
])
def test_bad_synthesis_options_are_one_line(two_region_pair: dict[str, Path], tmp_path: Path, args: list[str],
                                            fragment: str) -> None:
    p = two_region_pair
    result = run_cli("run", str(p["content"]), str(p["style"]), "-o", str(tmp_path / "r.png"), *SMALL, *args)
    assert_user_error(result, fragment)
    assert not list(tmp_path.glob("r.*")) and not list(tmp_path.glob(".*.tmp"))


def test_memory_estimate_refuses_an_impossible_size(two_region_pair: dict[str, Path], tmp_path: Path) -> None:
    p = two_region_pair
    result = run_cli("run", str(p["content"]), str(p["style"]), "-o", str(tmp_path / "r.png"), "--size", "16000",
                     "--features", "vgg16", "--loss", "mrf")
    assert_user_error(result, "--size 16000 needs about", "would fit", "--force")
    assert not list(tmp_path.glob("r.*")) and not list(tmp_path.glob(".*.tmp"))
