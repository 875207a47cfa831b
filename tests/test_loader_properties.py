"""Property-based: whatever bytes the image loader and the map reader are given, they return an image or
raise one SSTError, never another exception (issue 11)."""

from __future__ import annotations

import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sst.core.errors import SSTError
from sst.core.images import encode_image, load_image
from sst.plugins.segmenters.manual import read_map

RNG = np.random.default_rng(0)
SAMPLE = RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8)
VALID = {suffix: encode_image(SAMPLE, suffix) for suffix in (".png", ".jpg", ".bmp", ".tiff", ".webp")}
PROPERTIES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def png_header(width: int, height: int, depth: int, colour: int, body: bytes) -> bytes:
    """A PNG signature and IHDR of any values, then ``body`` as its data."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk + body


bytes_to_try = st.one_of(
    st.binary(max_size=2048),
    st.builds(lambda kind, cut: VALID[kind][:cut], st.sampled_from(sorted(VALID)), st.integers(0, 4000)),
    st.builds(lambda kind, at, value: VALID[kind][:at] + bytes([value]) + VALID[kind][at + 1:],
              st.sampled_from(sorted(VALID)), st.integers(0, 400), st.integers(0, 255)),
    st.builds(png_header, st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1), st.sampled_from([1, 2, 4, 8, 16, 3]),
              st.sampled_from([0, 2, 3, 4, 6, 7]), st.binary(max_size=256)),
    st.builds(lambda head, body: head + body, st.sampled_from([b"\xff\xd8\xff\xe0", b"BM", b"II*\0", b"RIFF", b"GIF89a"]),
              st.binary(max_size=512)),
)


def outcome(call) -> str:
    try:
        image = call()
    except SSTError as exc:
        assert "\n" not in str(exc)
        return "error"
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    return "image"


@PROPERTIES
@given(data=bytes_to_try, suffix=st.sampled_from([".png", ".jpg", ".bin", ""]))
def test_loader_gives_an_image_or_one_sst_error(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x{suffix}"
        path.write_bytes(data)
        outcome(lambda: load_image(path))
        outcome(lambda: load_image(path, needed_side=8))


@PROPERTIES
@given(data=bytes_to_try)
def test_map_reader_gives_a_map_or_one_sst_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "map.png"
        path.write_bytes(data)
        outcome(lambda: read_map(path, SAMPLE, "content"))


def test_the_valid_samples_load() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for suffix, data in VALID.items():
            path = Path(tmp) / f"x{suffix}"
            path.write_bytes(data)
            assert outcome(lambda: load_image(path)) == "image"
