"""The blocked nearest-patch search is exact: it agrees with brute force on unfolded patches, features
alone or with the mask term."""

from __future__ import annotations

import pytest
import torch

from sst.core.patches import MASK_STEPS, mask_patches, nearest_patches, prepare_keys, unfold_patches


def unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=0, keepdim=True)


def brute_force(query: torch.Tensor, keys: torch.Tensor, stride: int, masks: tuple[torch.Tensor, torch.Tensor] | None = None,
                weight: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """NCC of the unfolded feature patches, plus ``weight`` x the cosine of the unfolded mask patches."""
    score = unit(unfold_patches(query)).T @ unit(unfold_patches(keys, 3, stride))
    if masks is not None:
        cosine = unit(unfold_patches(masks[0])).T @ unit(unfold_patches(masks[1], 3, stride))
        score = score - weight * (1 - torch.round(cosine * MASK_STEPS) / MASK_STEPS)
    return score.max(dim=1)


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("block_bytes", [1, 4096, 2**24])
def test_matches_brute_force(stride: int, block_bytes: int) -> None:
    torch.manual_seed(stride)
    query, keys = torch.randn(16, 11, 14).relu(), torch.randn(16, 13, 9).relu()
    index, score = nearest_patches(query, prepare_keys([keys], 3, stride), block_bytes=block_bytes)
    ref_score, ref_index = brute_force(query, keys, stride)
    assert torch.equal(index, ref_index)
    assert torch.allclose(score, ref_score, atol=1e-5)


@pytest.mark.parametrize("stride", [1, 2])
def test_mask_term_matches_brute_force(stride: int) -> None:
    torch.manual_seed(stride)
    query, keys = torch.randn(16, 11, 14).relu(), torch.randn(16, 13, 9).relu()
    masks = (torch.rand(3, 11, 14), torch.rand(3, 13, 9))
    prepared = prepare_keys([keys], 3, stride, masks=[masks[1]], mask_weight=0.7)
    index, score = nearest_patches(query, prepared, mask_patches(masks[0], 3), block_bytes=4096)
    ref_score, ref_index = brute_force(query, keys, stride, masks, 0.7)
    assert torch.equal(index, ref_index)
    assert torch.allclose(score, ref_score, atol=1e-5)


def test_query_masks_must_fit_the_keys() -> None:
    keys = prepare_keys([torch.rand(4, 8, 8)], masks=[torch.rand(2, 8, 8)], mask_weight=1.0)
    with pytest.raises(ValueError, match="query masks"):
        nearest_patches(torch.rand(4, 6, 6), keys)  # masks missing
    with pytest.raises(ValueError, match="do not fit"):
        nearest_patches(torch.rand(4, 6, 6), keys, mask_patches(torch.rand(2, 7, 7), 3))


def test_finds_a_planted_patch() -> None:
    torch.manual_seed(0)
    keys = torch.rand(8, 20, 20)
    query = torch.rand(8, 5, 5)
    query[:, 1:4, 1:4] = keys[:, 7:10, 12:15] * 3  # scaled copy: NCC is scale-invariant in the query
    index, _ = nearest_patches(query, prepare_keys([keys]))
    assert index.view(3, 3)[1, 1].item() == 7 * 18 + 12


def test_key_map_smaller_than_a_patch_is_refused() -> None:
    with pytest.raises(ValueError):
        prepare_keys([torch.rand(4, 2, 9)])
