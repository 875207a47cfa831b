"""The blocked nearest-patch search is exact: it agrees with brute force on unfolded patches."""

from __future__ import annotations

import pytest
import torch

from sst.core.patches import nearest_patches, prepare_keys, unfold_patches


def brute_force(query: torch.Tensor, keys: torch.Tensor, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    q = unfold_patches(query)
    k = unfold_patches(keys, 3, stride)
    score = q.T @ (k / k.norm(dim=0, keepdim=True))
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
