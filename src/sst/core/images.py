"""Reading, resizing and atomically writing images."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from sst.core.errors import SSTError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def load_image(path: str | os.PathLike[str]) -> np.ndarray:
    """RGB uint8 (H, W, 3) from a file; a missing or unreadable file raises :class:`SSTError`."""
    path = Path(path)
    if not path.exists():
        raise SSTError(f"image not found: {path}; check the path")
    if path.is_dir():
        raise SSTError(f"{path} is a directory, not an image; give an image file")
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise SSTError(f"cannot read {path} as an image; use a PNG or JPEG file")
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


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to ``path`` through a temporary file and a rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def to_tensor(image: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (H, W, 3) -> float (1, 3, H, W) in [0, 1]."""
    return torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float().div(255).contiguous().to(device)


def to_image(tensor: torch.Tensor) -> np.ndarray:
    """float (1, 3, H, W) in [0, 1] -> uint8 (H, W, 3)."""
    array = tensor.detach().clamp(0, 1).squeeze(0).permute(1, 2, 0).cpu().numpy()
    return (array * 255 + 0.5).astype(np.uint8)
