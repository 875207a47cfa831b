"""Bad input and faults through the real command line (issue 11): each case gets exactly one ``error:``
line (or the one ``interrupted`` line), its exit code, no traceback, no partial or temporary file, and its
inputs unchanged. The cases that need a fault the command line cannot cause (a full disk, a cache the
user may not write) run in-process below the table."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from sst.core.errors import SSTError
from sst.core.images import embedded_record, load_image, save_image, write_result
from sst.core.models import ModelManager
from tests.conftest import stripes

SST = str(Path(sys.executable).with_name("sst"))  # the installed entry point, as a user runs it
TINY = ["--size", "64", "--levels", "1", "--iters", "2", "--loss", "mrf", "--features", "vgg16"]


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` and whose data is a few rows of zeros."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (width * 3 + 1) * 4)) + chunk(b"IEND", b"")


def real_cache(tmp: Path, names: tuple[str, ...] = ("vgg16",)) -> Path:
    """A cache folder holding links to the installed models."""
    real, cache = ModelManager(), tmp / "cache"
    cache.mkdir(exist_ok=True)
    for name in names:
        for source in (real.ensure(name), real.path(name).with_name(real.path(name).name + ".sha256")):
            if source.exists() and not (cache / source.name).exists():
                os.symlink(source, cache / source.name)
    return cache


@dataclass
class Case:
    """One bad input: ``setup(tmp)`` writes its files and returns the arguments (and environment)."""

    name: str
    setup: Callable[[Path], tuple[list[str], dict[str, str]]]
    expect: str  # a fragment of the error line
    code: int = 2
    outputs: list[str] = field(default_factory=lambda: ["out.png", "out.json"])  # must not appear


def images(tmp: Path, content: np.ndarray | None = None) -> tuple[str, str]:
    save_image(tmp / "c.png", stripes(96, 128, (200, 40, 40)) if content is None else content)
    save_image(tmp / "s.png", stripes(96, 96, (40, 40, 200), period=8))
    return str(tmp / "c.png"), str(tmp / "s.png")


def run_args(tmp: Path, *extra: str, content: np.ndarray | None = None, out: str = "out.png") -> list[str]:
    c, s = images(tmp, content)
    return ["run", c, s, "-o", str(tmp / out), *extra]


def corrupt_vgg19(tmp: Path) -> dict[str, str]:
    cache = real_cache(tmp)
    (cache / "vgg19.safetensors").write_bytes(b"not the weights")
    (cache / "vgg19.safetensors.sha256").write_text(json.dumps({"sha256": "0" * 64, "source_sha256": "dcbb9e9d" + "0" * 56}))
    return {"SST_CACHE_DIR": str(cache)}


def map_with_colours(tmp: Path, n: int) -> list[str]:
    c, s = images(tmp)
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, (n, 3), dtype=np.uint8)
    for name, (h, w) in (("cm.png", (96, 128)), ("sm.png", (96, 96))):
        blocks = np.arange(h * w).reshape(h, w) * n // (h * w)  # n bands of equal area, each over 0.1 %
        save_image(tmp / name, palette[blocks])
    return ["run", c, s, "-o", str(tmp / "out.png"), "--content-map", str(tmp / "cm.png"),
            "--style-map", str(tmp / "sm.png"), *TINY[:-4], "--features", "vgg16"]


CASES = [
    Case("wide content at the default settings", lambda t: (run_args(t, content=stripes(233, 1400, (9, 9, 9))), {}),
         "use --size"),
    Case("5x2000 strip", lambda t: (run_args(t, content=stripes(2000, 5, (9, 9, 9))), {}), "crop it"),
    Case("3:1 image at --size 64", lambda t: (run_args(t, "--size", "64", "--levels", "1", content=stripes(60, 180, (9, 9, 9))), {}),
         "--size 72"),
    Case("output under /proc", lambda t: (run_args(t, out="/proc/sst-x.png"), {}), "cannot write", outputs=[]),
    Case("output folder is a file", lambda t: ((t / "f").write_text("x"), run_args(t, out="f/out.png"))[1:] + ({},),
         "not a folder", outputs=[]),
    Case("sidecar path is a folder", lambda t: ((t / "out.json").mkdir(), run_args(t))[1:] + ({},),
         "is a folder", outputs=["out.png"]),
    Case("image over SST_MAX_PIXELS", lambda t: (run_args(t), {"SST_MAX_PIXELS": "5000"}), "over the limit"),
    Case("header claims 32000x32000", lambda t: ((t / "big.png").write_bytes(png_claiming(32000, 32000)),
                                                  ["run", str(t / "big.png"), images(t)[1], "-o", str(t / "out.png")])[1:] + ({},),
         "32000x32000"),
    Case("bad SST_MAX_PIXELS", lambda t: (run_args(t), {"SST_MAX_PIXELS": "lots"}), "SST_MAX_PIXELS"),
    Case("--size 100000", lambda t: (run_args(t, "--size", "100000", "--force"), {}), "at most"),
    Case("SST_CACHE_DIR is a file", lambda t: ((t / "cachefile").write_text("x"), run_args(t, *TINY))[1:]
         + ({"SST_CACHE_DIR": str(t / "cachefile")},), "is a file, not a folder"),
    Case("--style-weight inf", lambda t: (run_args(t, "--style-weight", "inf"), {}), "not a finite number"),
    Case("--gamma nan", lambda t: (run_args(t, "--gamma", "nan"), {}), "not a finite number"),
    Case("--style-scale inf", lambda t: (run_args(t, "--style-scale", "inf"), {}), "not a finite number"),
    Case("corrupt vgg19 asked for by name", lambda t: (run_args(t, *TINY[:-2], "--features", "vgg19"), corrupt_vgg19(t)),
         "failed its sha256 check"),
    Case("evaluate an output of another shape", lambda t: (save_image(t / "o.png", np.zeros((64, 64, 3), np.uint8)),
                                                            ["evaluate", *images(t), str(t / "o.png")])[1:] + ({},),
         "aspect ratios differ", outputs=[]),
    Case("models fetch crfrnn --from a text file", lambda t: ((t / "m.onnx").write_text("hello"),
                                                              ["models", "fetch", "crfrnn", "--from", str(t / "m.onnx")])[1:]
         + ({"SST_CACHE_DIR": str(t / "cache")},), "not an ONNX model", outputs=["cache/crfrnn.onnx"]),
    Case("truncated PNG", lambda t: ((t / "cut.png").write_bytes((t / "c.png").read_bytes()[:200] if images(t) else b""),
                                     ["run", str(t / "cut.png"), str(t / "s.png"), "-o", str(t / "out.png")])[1:] + ({},),
         "cannot read"),
    Case("typo in --softener with automatic masks", lambda t: (run_args(t, "--softener", "gausian"), {}),
         "unknown softener"),
    Case("typo in --features", lambda t: (run_args(t, "--features", "vgg91"), {}), "unknown features"),
    Case("sst ui --output is a file", lambda t: ((t / "f").write_text("x"), ["ui", "-o", str(t / "f")])[1:] + ({},),
         "not a folder", outputs=[]),
]


def snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` but the model cache (sst's own: it drops a file failing its check)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()
            and p.relative_to(folder).parts[0] != "cache"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gets_one_error_line(case: Case, tmp_path: Path) -> None:
    args, env = case.setup(tmp_path)
    before = snapshot(tmp_path)
    result = subprocess.run([SST, *args], capture_output=True, text=True, env={**os.environ, **env}, timeout=300)
    assert result.returncode == case.code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and case.expect in errors[0], result.stderr
    assert lines[-1] == errors[0] and "" not in lines, result.stderr  # nothing after it, no blank line before it
    assert not any(line.startswith(("libpng", "INFO:")) for line in lines), result.stderr
    assert "segmenter:" not in result.stderr  # names are checked before any work
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before  # inputs unchanged
    assert set(after) == set(before), "a file was left behind"
    for name in case.outputs:
        assert not (tmp_path / name).exists() or name in before


def test_corrupt_vgg19_with_auto_features_uses_vgg16_and_says_why(tmp_path: Path) -> None:
    env = corrupt_vgg19(tmp_path)
    result = subprocess.run([SST, *run_args(tmp_path, *TINY[:-2], "--features", "auto")], capture_output=True,
                            text=True, env={**os.environ, **env}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "features: vgg16 (vgg19: the cached vgg19 weights failed their sha256 check" in " ".join(result.stderr.split())
    assert [p["name"] for p in json.loads((tmp_path / "out.json").read_text())["plugins"] if p["kind"] == "features"] == ["vgg16"]


def test_a_map_of_300_colours_costs_16_labels_and_one_note(tmp_path: Path) -> None:
    result = subprocess.run([SST, *map_with_colours(tmp_path, 300)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert sum("region colours" in n for n in notes) == 1 and len(notes) < 8, result.stderr
    assert len(json.loads((tmp_path / "out.json").read_text())["masks"]["labels"]) == 16


@pytest.mark.parametrize("when", [0.3, 8.0], ids=["during start-up", "during synthesis"])
def test_ctrl_c_says_one_line_and_leaves_nothing(when: float, tmp_path: Path) -> None:
    args = run_args(tmp_path, "--size", "160", "--levels", "1", "--iters", "500", "--loss", "mrf", "--features", "vgg16")
    before = snapshot(tmp_path)
    proc = subprocess.Popen([SST, *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    time.sleep(when)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and stderr.splitlines()[-1] == "interrupted; nothing was written", stderr
    assert snapshot(tmp_path) == before


def test_result_and_sidecar_are_one_pair(tmp_path: Path) -> None:
    """The sidecar carries the image's sha256 and the image carries the sidecar; files follow the umask."""
    old = os.umask(0o027)
    try:
        result = subprocess.run([SST, *run_args(tmp_path, *TINY)], capture_output=True, text=True, timeout=300)
    finally:
        os.umask(old)
    assert result.returncode == 0, result.stderr
    image, sidecar_path = tmp_path / "out.png", tmp_path / "out.json"
    sidecar = json.loads(sidecar_path.read_text())
    assert sidecar["image_sha256"] == hashlib.sha256(image.read_bytes()).hexdigest()
    inside = embedded_record(image)
    assert inside == {k: v for k, v in sidecar.items() if k != "image_sha256"}
    assert load_image(image).shape == (48, 64, 3)  # the chunk does not disturb decoders
    assert (image.stat().st_mode & 0o777, sidecar_path.stat().st_mode & 0o777) == (0o640, 0o640)


def test_a_full_disk_leaves_the_previous_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    write_result(tmp_path / "r.png", image, {"seed": 1})
    before = snapshot(tmp_path)
    real_replace = os.replace

    def full(src: str, dst: str) -> None:
        if str(dst).endswith(".png"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(SSTError, match="the disk is full"):
        write_result(tmp_path / "r.png", image + 1, {"seed": 2})
    monkeypatch.undo()
    assert not list(tmp_path.glob(".*.tmp"))
    sidecar = json.loads((tmp_path / "r.json").read_text())
    # the sidecar was renamed first: it is seed 2's, and its hash tells that the image is not its own
    assert sidecar["image_sha256"] != hashlib.sha256((tmp_path / "r.png").read_bytes()).hexdigest()
    assert embedded_record(tmp_path / "r.png") == {"seed": 1}  # the image still carries its own record
    assert before["r.png"] == snapshot(tmp_path)["r.png"]


def test_a_corrupt_model_in_a_cache_the_user_cannot_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manager = ModelManager(cache_dir=tmp_path)
    (tmp_path / "shape_predictor_68_face_landmarks.dat").write_bytes(b"corrupt")

    def refuse(self: Path, missing_ok: bool = False) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Path, "unlink", refuse)
    with pytest.raises(SSTError, match="failed its sha256 check and cannot be removed"):
        manager.ensure("dlib68")


def test_python_api_takes_one_style_as_a_string(tmp_path: Path) -> None:
    from sst import TransferOptions, transfer

    c, s = images(tmp_path)
    result = transfer(c, s, None, TransferOptions(size=64, levels=1, iters=1, loss="mrf", features="vgg16"))
    assert result.sidecar["styles"] == [s]


def test_large_inputs_are_decoded_reduced_when_the_run_needs_less(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    save_image(path, stripes(800, 1000, (200, 40, 40), period=40))
    assert load_image(path).shape == (800, 1000, 3)
    assert load_image(path, needed_side=100).shape == (200, 250, 3)  # reduced by 4: still twice what is needed
    assert load_image(path, needed_side=400).shape == (800, 1000, 3)

