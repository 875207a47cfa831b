"""Clips in and out: frames from a video file (PyAV: mp4, webm, mov, mkv) or a folder of images, and the
result encoded at the source's frame rate with its audio stream copied, appearing only once complete."""

from __future__ import annotations

import itertools
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from sst.core.errors import SSTError
from sst.core.images import IMAGE_SUFFIXES, load_image, resize_long_side

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv")
FOLDER_FPS = Fraction(25)  # frames per second of a folder of frames
CODECS = {".webm": "libvpx-vp9"}  # else H.264


def _av():
    try:
        import av
    except ImportError:
        raise SSTError("sst video needs PyAV; install it with: pip install 'sst[video]'") from None
    return av


@dataclass(frozen=True)
class Clip:
    """A span of a video file or of a folder of frames, decoded frame by frame when iterated (a clip is
    never held in memory whole)."""

    source: Path
    fps: Fraction
    size: int  # long side the frames are resized to
    count: int  # frames in the span
    start_seconds: float
    keyframes: tuple[int, ...] = ()  # indices (into the span) the codec marked as keyframes
    first: int = 0  # a video's index of the span's first frame
    files: tuple[Path, ...] = ()  # a folder's frame files of the span, in order
    seeks: tuple[tuple[int, int], ...] = ()  # a video's keyframes up to the span's end: (index, pts)

    def frames(self) -> Iterator[np.ndarray]:
        """The span's frames, uint8 RGB at ``size``, one at a time."""
        return (resize_long_side(frame, self.size) for frame in self._decoded())

    def frames_and_views(self, side: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Each frame at ``size`` and, for segmenters, at ``side`` on the long side or the source's own
        size if that is smaller (shrunk, never enlarged)."""
        for frame in self._decoded():
            view = resize_long_side(frame, side) if max(frame.shape[:2]) > side else frame
            yield resize_long_side(frame, self.size), view

    def _decoded(self) -> Iterator[np.ndarray]:
        if self.files:
            for path in self.files:
                yield load_image(path)
            return
        av = _av()
        with av.open(str(self.source)) as container:
            stream = container.streams.video[0]
            index, pts = max((k for k in self.seeks if k[0] <= self.first), default=(0, None))
            if pts is not None and index > 0:  # start decoding at the last keyframe before the span
                container.seek(pts, stream=stream, backward=True, any_frame=False)
            for i, frame in enumerate(container.decode(stream), start=index):
                if i == index and index > 0 and frame.pts != pts:
                    raise SSTError(f"cannot seek in {self.source} to frame {index}; re-encode it, or stylise "
                                   "it in one chunk")
                if i >= self.first + self.count:
                    break
                if i >= self.first:
                    yield frame.to_ndarray(format="rgb24")

    def first_frame(self) -> np.ndarray:
        return next(self.frames())

    def part(self, start: int, end: int) -> Clip:
        """Frames ``start`` to ``end`` (exclusive) as a clip of their own."""
        return replace(self, count=end - start, start_seconds=self.start_seconds + start / self.fps,
                       keyframes=tuple(k - start for k in self.keyframes if start <= k < end),
                       first=self.first + (0 if self.files else start), files=self.files[start:end])


def frame_bound(text: str | None, fps: Fraction) -> int | None:
    """``12`` is frame 12; ``1.5s`` is the frame at 1.5 seconds."""
    if text is None:
        return None
    try:
        bound = round(float(text[:-1]) * fps) if text.endswith("s") else int(text)
    except (ValueError, OverflowError):
        raise SSTError(f"--start/--end '{text}' is neither a frame number (12) nor a time (1.5s)") from None
    if bound < 0:
        raise SSTError(f"--start/--end '{text}' is negative; give a frame number or a time from the clip's start")
    return bound


def _in_order(path: Path) -> tuple:
    """Frame files in natural order: ``2.png`` before ``10.png``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name))


def read_clip(path: Path, size: int, start: str | None = None, end: str | None = None) -> Clip:
    """The clip from ``start`` up to (not including) ``end``, frames resized to ``size`` on the long side.
    Every frame is looked at once here (count, keyframes, one size), none is kept."""
    if path.is_dir():
        files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_in_order)
        first, last = frame_bound(start, FOLDER_FPS) or 0, frame_bound(end, FOLDER_FPS)
        files = files[first:last]
        sizes, keys, fps = [load_image(p).shape[:2] for p in files], (), FOLDER_FPS
    elif path.suffix.lower() in VIDEO_SUFFIXES and path.is_file():
        av = _av()
        files, sizes, keys, seeks = [], [], [], []
        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                fps = Fraction(stream.average_rate or FOLDER_FPS)
                first, last = frame_bound(start, fps) or 0, frame_bound(end, fps)
                for i, frame in enumerate(container.decode(stream)):
                    if last is not None and i >= last:
                        break
                    if frame.key_frame and frame.pts is not None:
                        seeks.append((i, frame.pts))
                    if i >= first:
                        keys += [len(sizes)] if frame.key_frame else []
                        sizes.append((frame.height, frame.width))
        except (av.error.FFmpegError, IndexError) as exc:
            raise SSTError(f"cannot read the video {path} ({exc}); give an mp4/webm/mov file or a folder of frames") from None
    elif not path.exists():
        raise SSTError(f"{path} not found; check the path")
    else:
        raise SSTError(f"{path} is neither a video ({', '.join(VIDEO_SUFFIXES)}) nor a folder of frames")
    if not sizes:
        raise SSTError(f"no frame of {path} between --start and --end")
    odd = next((i for i, s in enumerate(sizes) if s != sizes[0]), None)
    if odd is not None:
        raise SSTError(f"frame {first + odd} of {path} is {sizes[odd][1]}x{sizes[odd][0]}, the first is "
                       f"{sizes[0][1]}x{sizes[0][0]}; every frame of a clip must have one size")
    return Clip(path, fps, size, len(sizes), float(first / fps), tuple(keys), 0 if files else first, tuple(files),
                tuple(seeks) if not files else ())


def write_video(frames: Iterable[np.ndarray], clip: Clip, output: Path,
                notice: Callable[[str], None] = lambda m: None) -> None:
    """Encode ``frames`` (the clip's results, one at a time) at the clip's rate, copying the source's audio
    over the same span; the output appears only once complete."""
    av = _av()
    frames = iter(frames)
    head = next(frames)
    h, w = (d - d % 2 for d in head.shape[:2])  # yuv420p needs even sides
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=output.suffix)
    os.close(fd)
    try:
        with av.open(tmp, "w") as out:
            video = out.add_stream(CODECS.get(output.suffix.lower(), "libx264"), rate=clip.fps)
            video.width, video.height, video.pix_fmt = w, h, "yuv420p"
            source = av.open(str(clip.source)) if clip.source.is_file() else None
            audio = source.streams.audio[0] if source is not None and source.streams.audio else None
            copied = None
            if audio is not None:
                try:
                    copied = out.add_stream_from_template(audio)
                except ValueError as exc:  # e.g. AAC into webm: the video is kept, without its sound
                    notice(f"the audio is not copied: {exc}; choose an output format that takes it (.mp4, .mkv)")
            for image in itertools.chain([head], frames):
                for packet in video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:h, :w]), format="rgb24")):
                    out.mux(packet)
            for packet in video.encode():
                out.mux(packet)
            if copied is not None:
                span = (clip.start_seconds, clip.start_seconds + clip.count / clip.fps)
                # From the clip's start, the encoder's priming packets (before time 0) come along too.
                lower = span[0] if span[0] > 0 else -math.inf
                for packet in source.demux(audio):
                    if packet.dts is None or packet.pts is None:
                        continue
                    t = float(packet.pts * audio.time_base)
                    if lower <= t < span[1]:
                        packet.pts -= round(span[0] / audio.time_base)
                        packet.dts -= round(span[0] / audio.time_base)
                        packet.stream = copied
                        out.mux(packet)
            if source is not None:
                source.close()
        os.replace(tmp, output)
    finally:
        Path(tmp).unlink(missing_ok=True)
