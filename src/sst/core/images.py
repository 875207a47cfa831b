"""Reading, resizing and atomically writing images (and a result image with its sidecar, as one pair)."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import signal
import struct
import tempfile
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import torch

from sst.core.errors import SSTError
from sst.core.native import captured_stderr

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
BYTES_PER_LIMIT_PIXEL = 96
"""The default pixel limit is physical memory / this: a decode (3 bytes a pixel, plus the colour conversion's
copy) then takes at most about 1/16 of the machine."""
SIDECAR_KEY = "sst"  # keyword of the PNG iTXt chunk (and the JPEG comment's prefix) that carries the sidecar


def max_pixels() -> int:
    """Largest image (width x height) sst decodes: ``$SST_MAX_PIXELS``, else sized to this machine's memory."""
    value = os.environ.get("SST_MAX_PIXELS")
    if value is None:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // BYTES_PER_LIMIT_PIXEL
    if not value.isdigit() or int(value) < 1:
        raise SSTError(f"SST_MAX_PIXELS={value!r} is not a positive whole number; set it to e.g. 100000000")
    return int(value)


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header without decoding it; None when the header is not understood."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bomb, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # sst applies its own limit
            try:
                with Image.open(path) as im:
                    return im.size
            finally:
                Image.MAX_IMAGE_PIXELS = bomb
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, struct.error):
        return None


def load_image(path: str | os.PathLike[str], needed_side: int | None = None) -> np.ndarray:
    """RGB uint8 (H, W, 3) from a file; a missing, unreadable or too large file raises :class:`SSTError`.

    Images over :func:`max_pixels` are refused before decoding. With ``needed_side`` (the long side the caller
    needs), an image at least twice as large is decoded reduced by 2, 4 or 8 (JPEG decodes it at that size).
    """
    path = Path(path)
    if not path.exists():
        raise SSTError(f"image not found: {path}; check the path")
    if path.is_dir():
        raise SSTError(f"{path} is a directory, not an image; give an image file")
    size = image_size(path)
    limit = max_pixels()
    if size is not None and size[0] * size[1] > limit:
        raise SSTError(f"{path} is {size[0]}x{size[1]} pixels, over the limit of {limit:,} "
                       "(SST_MAX_PIXELS raises it); shrink the image first")
    flag = cv2.IMREAD_COLOR
    if size is not None and needed_side:
        factor = max([f for f in (2, 4, 8) if max(size) / f >= 2 * needed_side], default=1)
        flag = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                8: cv2.IMREAD_REDUCED_COLOR_8}[factor]
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise SSTError(f"cannot read {path}: {exc.strerror}; check its permissions") from None
    with captured_stderr() as said:
        try:
            image = cv2.imdecode(data, flag) if data.size else None
        except cv2.error:
            image = None
    if image is None:
        why = f" ({said[-1].strip()})" if said else ""
        raise SSTError(f"cannot read {path} as an image{why}; use a PNG or JPEG file")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize an image (or a float map) to ``size`` = (height, width): area averaging when shrinking, bicubic
    when enlarging along either side (area would repeat pixels in blocks at whole factors). The one way sst
    resizes pictures; label maps, which must not blend, use nearest neighbour where they are read."""
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    shrink = h <= image.shape[0] and w <= image.shape[1]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def resize_long_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """Resize so that the longer side is ``long_side`` pixels, keeping the aspect ratio (:func:`resize`)."""
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    return resize(image, (max(1, round(h * scale)), max(1, round(w * scale))))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _umask()


def _write_error(path: Path, exc: OSError) -> SSTError:
    what = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
    return SSTError(f"cannot write {path}: {what}; free some space or choose another output path")


@contextmanager
def _temporary(path: Path, data: bytes | Path) -> Iterator[str]:
    """``data`` (bytes, or a file's contents) in a temporary file beside ``path`` (mode as the umask says);
    removed unless moved."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, Path):
                with data.open("rb") as source:
                    shutil.copyfileobj(source, f, 2**20)
            else:
                f.write(data)
        os.chmod(tmp, 0o666 & ~UMASK)
        yield tmp
    except OSError as exc:
        raise _write_error(path, exc) from None
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_atomic(path: Path, data: bytes | Path) -> None:
    """Write bytes (or copy a file) to ``path`` through a temporary file and a rename: never a half-written
    file."""
    with _temporary(path, data) as tmp:
        os.replace(tmp, path)


@contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on a folder, held by one sst writer at a time (flock; released on exit)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_result(path: Path, image: np.ndarray, sidecar: dict) -> dict:
    """Write a result image and its ``.json`` sidecar as one consistent pair; returns the sidecar written.

    The image carries the sidecar itself (a PNG iTXt chunk or a JPEG comment, keyword ``sst``); the ``.json``
    adds ``image_sha256``, the hash of the image file. Both are written to temporaries first, then, under a
    lock on the folder, the sidecar is renamed into place and the image last: another run writing the same
    path cannot interleave, and a failure leaves the previous pair or no file, never a half.
    """
    record = json.dumps(sidecar, separators=(",", ":"))
    data = embed_record(encode_image(image, path.suffix.lower()), path.suffix.lower(), record)
    full = {**sidecar, "image_sha256": hashlib.sha256(data).hexdigest()}
    json_path = path.with_suffix(".json")
    with _temporary(path, data) as image_tmp, _temporary(json_path, (json.dumps(full, indent=2) + "\n").encode()) as json_tmp:
        try:
            with _folder_lock(path.parent):
                blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # Ctrl-C: both or neither
                try:
                    os.replace(json_tmp, json_path)
                    os.replace(image_tmp, path)
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        except OSError as exc:
            raise _write_error(path, exc) from None
    return full


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def embed_record(data: bytes, suffix: str, record: str) -> bytes:
    """Encoded image bytes with ``record`` (JSON text) inside: an iTXt chunk after a PNG's header chunk, or a
    comment segment after a JPEG's start marker. Other formats are returned as they are."""
    if suffix == ".png":
        body = SIDECAR_KEY.encode() + b"\0\0\0\0\0" + record.encode()  # no compression, no language
        return data[:33] + _png_chunk(b"iTXt", body) + data[33:]  # 8-byte signature + 25-byte IHDR
    text = (SIDECAR_KEY + ":" + record).encode()
    if suffix in (".jpg", ".jpeg") and len(text) <= 65533:
        return data[:2] + b"\xff\xfe" + struct.pack(">H", len(text) + 2) + text + data[2:]
    return data


def embedded_record(path: Path) -> dict | None:
    """The sidecar an sst result carries inside (see :func:`write_result`), or None."""
    data = path.read_bytes()
    if data.startswith(b"\x89PNG"):
        at = 8
        while at + 8 <= len(data):
            length, kind = struct.unpack(">I4s", data[at:at + 8])
            body = data[at + 8:at + 8 + length]
            if kind == b"iTXt" and body.startswith(SIDECAR_KEY.encode() + b"\0"):
                return json.loads(body[len(SIDECAR_KEY) + 5:])
            at += 12 + length
        return None
    marker = b"\xff\xfe"
    at = data.find(marker, 2, 64)
    if data.startswith(b"\xff\xd8") and at == 2:
        length = struct.unpack(">H", data[4:6])[0]
        text = data[6:4 + length].decode(errors="replace")
        if text.startswith(SIDECAR_KEY + ":"):
            return json.loads(text[len(SIDECAR_KEY) + 1:])
    return None


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    """Encode an RGB uint8 image (or a grey one) in the format named by ``suffix``."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(suffix, image)
    if not ok:
        raise SSTError(f"cannot encode an image as '{suffix}'; use .png or .jpg")
    return buf.tobytes()


def save_image(path: Path, image: np.ndarray) -> None:
    """Write an RGB uint8 (or grey) image atomically; the format follows the suffix."""
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise SSTError(f"output {path} has no image suffix; use one of {', '.join(IMAGE_SUFFIXES)}")
    write_atomic(path, encode_image(image, suffix))


def check_writable(path: Path, expected_bytes: int = 0) -> None:
    """Refuse, before any work, an output whose folder cannot take a new file (read-only, not a folder, /proc)
    or has less free space than ``expected_bytes`` and a MiB."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise SSTError(f"cannot write {path}: {folder} is not a folder; choose another output path")
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".sst-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise SSTError(f"cannot write to {folder}: {exc.strerror or exc}; choose another output path") from None
    free = shutil.disk_usage(folder).free
    if free < expected_bytes + 2**20:
        raise SSTError(f"cannot write {path}: {folder} has {free / 2**20:.1f} MiB free and the output needs about "
                       f"{(expected_bytes + 2**20) / 2**20:.1f} MiB; free some space or choose another output path")


def to_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (H, W, 3) -> float (1, 3, H, W) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0).float().div(255).contiguous().to(device)


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """float (1, 3, H, W) in [0, 1] -> uint8 (H, W, 3)."""
    array = tensor.detach().clamp(0, 1).squeeze(0).permute(1, 2, 0).cpu().numpy()
    return (array * 255 + 0.5).astype(np.uint8)
