"""A clip in a style, frame after frame, temporally consistent (``sst video``; Ruder et al. 2016).

Frames come from a video file (PyAV: mp4, webm, mov, mkv) or a folder of images, resized to ``--size``.
The first frame gets the full iterations; each later frame starts from the previous result warped by the
content's optical flow (:mod:`sst.core.flow`) and adds the temporal loss over the pixels where that warp
is reliable, with ``frame_iters``. ``temporal_weight=0`` gives independent frames from the content.
The masks are made on the first frame and carried along by the same flow, so every frame has the first
frame's labels. Each result frame is written with its sidecar to a work folder as it is made; a rerun
continues after the last finished frame. The video is encoded to a temporary file, the audio stream
copied, and moved to the output only once complete.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from sst.core.errors import SSTError
from sst.core.flow import flow, reliability, warp
from sst.core.images import IMAGE_SUFFIXES, embedded_record, load_image, resize_long_side, write_result
from sst.core.interfaces import Segmentation, SemanticMasks
from sst.core.options import TransferOptions
from sst.core.stylist import Segmented, Stylist
from sst.core.synthesis import Temporal

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv")
FOLDER_FPS = Fraction(25)  # frames per second of a folder of frames
CODECS = {".webm": "libvpx-vp9"}  # else H.264


def _av():
    try:
        import av
    except ImportError:
        raise SSTError("sst video needs PyAV; install it with: pip install 'sst[video]'") from None
    return av


@dataclass
class Clip:
    frames: list[np.ndarray]  # uint8 RGB at the synthesis size
    fps: Fraction
    source: Path
    start_seconds: float


def frame_bound(text: str | None, fps: Fraction) -> int | None:
    """``12`` is frame 12; ``1.5s`` is the frame at 1.5 seconds."""
    if text is None:
        return None
    try:
        return round(float(text[:-1]) * fps) if text.endswith("s") else int(text)
    except ValueError:
        raise SSTError(f"--start/--end '{text}' is neither a frame number (12) nor a time (1.5s)") from None


def read_clip(path: Path, size: int, start: str | None = None, end: str | None = None) -> Clip:
    """The frames from ``start`` up to (not including) ``end``, resized to ``size`` on the long side."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        first, last = frame_bound(start, FOLDER_FPS) or 0, frame_bound(end, FOLDER_FPS)
        frames = [resize_long_side(load_image(p), size) for p in files[first:last]]
        fps, offset = FOLDER_FPS, first / FOLDER_FPS
    elif path.suffix.lower() in VIDEO_SUFFIXES and path.is_file():
        av = _av()
        try:
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                fps = Fraction(stream.average_rate or FOLDER_FPS)
                first, last = frame_bound(start, fps) or 0, frame_bound(end, fps)
                frames = []
                for i, frame in enumerate(container.decode(stream)):
                    if last is not None and i >= last:
                        break
                    if i >= first:
                        frames.append(resize_long_side(frame.to_ndarray(format="rgb24"), size))
        except (av.error.FFmpegError, IndexError) as exc:
            raise SSTError(f"cannot read the video {path} ({exc}); give an mp4/webm/mov file or a folder of frames") from None
        offset = first / fps
    else:
        raise SSTError(f"{path} is neither a video ({', '.join(VIDEO_SUFFIXES)}) nor a folder of frames")
    if not frames:
        raise SSTError(f"no frame of {path} between --start and --end")
    return Clip(frames, fps, path, float(offset))


def write_video(frames: list[np.ndarray], clip: Clip, output: Path) -> None:
    """Encode ``frames`` at the clip's rate, copying the source's audio over the same span; the output
    appears only once complete."""
    av = _av()
    h, w = (d - d % 2 for d in frames[0].shape[:2])  # yuv420p needs even sides
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=output.suffix)
    os.close(fd)
    try:
        with av.open(tmp, "w") as out:
            video = out.add_stream(CODECS.get(output.suffix.lower(), "libx264"), rate=clip.fps)
            video.width, video.height, video.pix_fmt = w, h, "yuv420p"
            source = av.open(str(clip.source)) if clip.source.is_file() else None
            audio = source.streams.audio[0] if source is not None and source.streams.audio else None
            copied = out.add_stream_from_template(audio) if audio is not None else None
            for image in frames:
                for packet in video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:h, :w]), format="rgb24")):
                    out.mux(packet)
            for packet in video.encode():
                out.mux(packet)
            if copied is not None:
                span = (clip.start_seconds, clip.start_seconds + len(frames) / clip.fps)
                for packet in source.demux(audio):
                    if packet.dts is None or packet.pts is None:
                        continue
                    t = float(packet.pts * audio.time_base)
                    if span[0] <= t < span[1]:
                        packet.pts -= round(span[0] / audio.time_base)
                        packet.dts -= round(span[0] / audio.time_base)
                        packet.stream = copied
                        out.mux(packet)
            if source is not None:
                source.close()
        os.replace(tmp, output)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _carried(segmented: Segmented, offsets: np.ndarray) -> Segmented:
    """The content's masks moved by the flow onto the next frame; the styles' stay."""
    def moved(s: Segmentation) -> Segmentation:
        maps = np.stack([warp(m.astype(np.float32), offsets) for m in s.content.maps])
        return Segmentation(SemanticMasks(s.content.labels, maps), s.styles, s.notes)

    return Segmented(moved(segmented.raw), moved(segmented.soft), segmented.plugins)


def frame_path(work: Path, index: int) -> Path:
    return work / f"frame_{index:06d}.png"


def stylise_clip(
    clip: Clip, styles: list[np.ndarray], work: Path, options: TransferOptions, *, temporal_weight: float,
    frame_iters: int | str | None = None, stylist: Stylist | None = None,
    notice: Callable[[str], None] = lambda m: None, on_frame: Callable[[int, bool], None] = lambda i, skipped: None,
) -> list[np.ndarray]:
    """Every frame of ``clip`` in the style of ``styles``; frames finished before (in ``work``) are reused."""
    if temporal_weight < 0:
        raise SSTError("--temporal-weight must not be negative")
    first = stylist or Stylist(options, notice=notice)
    later = first.variant(iters=frame_iters) if frame_iters is not None else first
    work.mkdir(parents=True, exist_ok=True)
    results: list[np.ndarray] = []
    segmented = None
    for i, content in enumerate(clip.frames):
        if i == 0:
            if first.uses_masks:
                segmented = first.segment(content, styles, first.options.content_map, first.options.style_maps)
        else:
            backward, forward = flow(clip.frames[i - 1], content), flow(content, clip.frames[i - 1])
            if segmented is not None:
                segmented = _carried(segmented, backward)
        path = frame_path(work, i)
        record = embedded_record(path) if path.is_file() else None
        if record is not None and record.get("frame") == i and record.get("temporal_weight") == temporal_weight:
            results.append(load_image(path))
            on_frame(i, True)
            continue
        temporal = None
        if i > 0 and temporal_weight > 0:
            temporal = Temporal(warp(results[-1], backward), reliability(backward, forward), temporal_weight)
        stylist_i = first if i == 0 else later
        job = stylist_i.stylise(content, styles, segmented, temporal=temporal)
        write_result(path, job.image, json.loads(json.dumps({
            "frame": i, "source": str(clip.source), "temporal_weight": temporal_weight,
            "options": asdict(stylist_i.options), "levels": [asdict(r) for r in job.levels]}, default=str)))
        results.append(job.image)
        on_frame(i, False)
    return results


def check_video_output(output: Path, inputs: list[Path]) -> None:
    if output.suffix.lower() not in VIDEO_SUFFIXES and output.suffix:
        raise SSTError(f"output {output} must be a video ({', '.join(VIDEO_SUFFIXES)}) or a folder (no suffix)")
    if any(output.resolve() == p.resolve() for p in inputs):
        raise SSTError(f"output {output} is one of the inputs; choose another")


def work_folder(output: Path) -> Path:
    """Where the result frames live: the output itself for a folder, else ``OUT.frames`` beside it."""
    return output if not output.suffix else output.with_name(output.name + ".frames")


def stylise_video(source: Path, style_paths: list[Path], output: Path, options: TransferOptions | None = None, *,
                  temporal_weight: float = 100.0, frame_iters: int | str | None = None, start: str | None = None,
                  end: str | None = None, notice: Callable[[str], None] = lambda m: None,
                  on_frame: Callable[[int, bool], None] = lambda i, skipped: None,
                  on_clip: Callable[[int], None] = lambda n: None) -> Path:
    """``source`` (a video or a folder of frames) in the style of ``style_paths``, written to ``output``."""
    options = options or TransferOptions()
    check_video_output(output, [source, *style_paths])
    stylist = Stylist(options, notice=notice)
    clip = read_clip(source, stylist.options.size, start, end)
    styles = [load_image(p, needed_side=stylist.options.size) for p in style_paths]
    on_clip(len(clip.frames))
    frames = stylise_clip(clip, styles, work_folder(output), stylist.options, temporal_weight=temporal_weight,
                          frame_iters=frame_iters, stylist=stylist, notice=notice, on_frame=on_frame)
    if output.suffix:
        output.parent.mkdir(parents=True, exist_ok=True)
        write_video(frames, clip, output)
    return output

