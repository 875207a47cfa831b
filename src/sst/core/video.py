"""A clip in a style, frame after frame, temporally consistent (``sst video``; Ruder et al. 2016).

The first frame runs every level; each later frame starts from the previous result warped by the content's
optical flow (:mod:`sst.core.flow`), adds the temporal loss over the pixels where that warp is reliable, and
runs ``frame_iters`` iterations at the finest level. ``temporal_weight=0`` stylises every frame on its own.
A frame that few pixels of the previous one reach (a new shot) starts afresh like the first. Each result
frame is written with its sidecar to a work folder as it is made; a rerun reuses every frame whose inputs
and settings are unchanged. Frames are decoded one at a time and the output is encoded from the work
folder, so a clip of any length takes the memory of a few frames. ``backend="ray"`` cuts a long clip into
chunks at keyframes, each chunk sequential and the chunks in parallel; the seams are hidden by a cross-fade
over ``OVERLAP`` frames that both neighbours stylise.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sst import __version__
from sst.core.errors import SSTError
from sst.core.flow import flow, reliability, warp
from sst.core.images import check_writable, embedded_record, load_image, save_image, write_result
from sst.core.interfaces import Segmentation, SemanticMasks
from sst.core.masks import composite, resize_maps
from sst.core.models import file_sha256
from sst.core.options import TransferOptions
from sst.core.ray_cluster import require_ray, start_ray, threads_per_worker
from sst.core.stylist import Segmented, Stylist, kept_stylist
from sst.core.synthesis import Temporal, level_iters
from sst.core.transfer import ANALYSIS_SIDE, check_level_sides, save_masks
from sst.core.video_io import VIDEO_SUFFIXES, Clip, read_clip, write_video

TEMPORAL_WEIGHT = 100.0  # --temporal-weight's default (BENCHMARKS.md, "Video")
NEW_SHOT = 0.3  # a frame with fewer reliable pixels than this share is a new shot
CHUNK_FRAMES = 48  # --chunk: frames per chunk with --backend ray (a chunk starts at a keyframe after this)
OVERLAP = 4  # frames both neighbouring chunks stylise, cross-faded at the seam
BACKENDS = ("local", "ray")


def at_size(segmented: Segmented, shape: tuple[int, int]) -> Segmented:
    """``segmented`` with the content's masks at the frame's (h, w): masks are made on the frame as a
    segmenter wants it (:data:`~sst.core.transfer.ANALYSIS_SIDE`) and moved by the flow at the frame's size."""
    def resized(s: Segmentation) -> Segmentation:
        return Segmentation(SemanticMasks(s.content.labels, resize_maps(s.content.maps, shape)), s.styles, s.notes)
    return Segmented(resized(segmented.raw), resized(segmented.soft), segmented.plugins)


def _moved(s: Segmentation, offsets: np.ndarray) -> Segmentation:
    maps = np.stack([warp(m.astype(np.float32), offsets) for m in s.content.maps])
    return Segmentation(SemanticMasks(s.content.labels, maps), s.styles, s.notes)


def _blended(fresh: Segmentation, carried: Segmentation, reliable: np.ndarray) -> Segmentation:
    """This frame's own masks, smoothed over time: half the carried ones where the flow is reliable."""
    keep = 0.5 * reliable[None]
    maps = (1 - keep) * fresh.content.maps + keep * carried.content.maps
    return Segmentation(SemanticMasks(fresh.content.labels, maps.astype(np.float32)), carried.styles, carried.notes)


def next_masks(previous: Segmented, offsets: np.ndarray, reliable: np.ndarray, fresh: Segmented | None) -> Segmented:
    """The content's masks on the next frame: the previous frame's moved by the flow (the styles' stay), or,
    when the segmenter made this frame's own with the same labels, those smoothed by the moved ones."""
    raw, soft = _moved(previous.raw, offsets), _moved(previous.soft, offsets)
    if fresh is None or fresh.raw.content.labels != previous.raw.content.labels:
        return Segmented(raw, soft, previous.plugins)
    return Segmented(_blended(fresh.raw, raw, reliable), _blended(fresh.soft, soft, reliable), previous.plugins)


def write_frame_masks(folder: Path, index: int, segmentation: Segmentation, with_styles: bool) -> None:
    """``--save-masks`` for a clip: each frame's colour composite (``frame_N_composite.png``); at the first
    frame of a shot also the content's grey masks and the styles' masks and composites, as ``sst run``."""
    if with_styles:
        styles = [f"style{k + 1}" for k in range(len(segmentation.styles))]
        save_masks(folder, segmentation, [f"frame_{index:06d}", *styles])
    else:
        save_image(folder / f"frame_{index:06d}_composite.png", composite(segmentation.content))


def frame_path(work: Path, index: int) -> Path:
    return work / f"frame_{index:06d}.png"


def finished_frames(work: Path) -> int:
    """How many result frames ``work`` holds (chunk folders included)."""
    return sum(1 for p in work.rglob("frame_*.png") if p.stem[6:].isdigit()) if work.is_dir() else 0


def drop_frames_after(work: Path, count: int) -> None:
    """Remove the frames (and sidecars) from ``count`` on that an earlier, longer run of ``sst video`` left in
    ``work``, so that a folder output holds exactly this clip; files sst did not write are left alone."""
    for path in sorted(work.glob("frame_*.png")):
        index = path.stem.removeprefix("frame_")
        if not index.isdigit() or int(index) < count:
            continue
        record = embedded_record(path)
        if record is not None and "frame" in record and "key" in record:
            path.with_suffix(".json").unlink(missing_ok=True)
            path.unlink()


def _image_bytes(image: np.ndarray) -> bytes:
    return str(image.shape).encode() + np.ascontiguousarray(image).tobytes()


def clip_key(styles: list[np.ndarray], options: TransferOptions) -> str:
    """sha256 of what every frame of a clip depends on alike: the styles, the map files and sst's version."""
    digest = hashlib.sha256(__version__.encode())
    for image in styles:
        digest.update(_image_bytes(image))
    for path in (options.content_map, *options.style_maps):
        if path is not None:
            digest.update(file_sha256(Path(path)).encode())
    return digest.hexdigest()


def frame_key(previous_key: str, content: np.ndarray, options: TransferOptions, temporal_weight: float,
              plugins: Sequence[str]) -> str:
    """sha256 of what a frame's result depends on: (through ``previous_key``, which starts as the
    :func:`clip_key`) the clip and every frame before it, this frame, its options and the plugins that
    resolved ``auto``; a finished frame is reused only when its key matches."""
    digest = hashlib.sha256(previous_key.encode() + _image_bytes(content))
    digest.update(json.dumps([asdict(options), temporal_weight, list(plugins)], default=str, sort_keys=True).encode())
    return digest.hexdigest()


def default_frame_iters(options: TransferOptions) -> int:
    """Half the finest level's iterations: a later frame starts from the previous result, at the finest level."""
    return max(1, level_iters(options.iters, options.levels)[-1] // 2)


def check_settings(temporal_weight: float, frame_iters: int | None) -> None:
    if temporal_weight < 0:
        raise SSTError("--temporal-weight must not be negative (0: every frame on its own)")
    if frame_iters is not None and frame_iters < 1:
        raise SSTError("--frame-iters must be at least 1")


def _quiet(stylist: Stylist) -> Stylist:
    """The same pipeline, saying nothing: what it would say was said for the first frame."""
    stylist.notice = lambda message: None
    return stylist


def stylise_clip(
    clip: Clip, styles: list[np.ndarray], work: Path, options: TransferOptions, *, temporal_weight: float,
    frame_iters: int | None = None, stylist: Stylist | None = None,
    notice: Callable[[str], None] = lambda m: None,
    on_frame: Callable[[int, bool], None] = lambda i, skipped: None,
    on_level: Callable[[int, int, tuple[int, int]], Callable[[], None]] | None = None,
) -> list[Path]:
    """Every frame of ``clip`` in the style of ``styles``, written with its sidecar to ``work`` (frames
    finished before, same key, are reused); returns their paths. Frames are decoded one at a time and only
    the previous frame and its result are held. The first frame, and the first of each new shot, runs every
    level. With ``temporal_weight > 0`` a later frame runs only the finest level, ``frame_iters`` iterations,
    from the previous result warped by the flow, plus the temporal loss; with ``0`` every frame is stylised
    on its own like the first. A segmenter whose labels mean the same on every image (``consistent_labels``,
    e.g. portrait) segments every frame (landmarks per frame), smoothed by the flow; other masks (clusters,
    hand-drawn maps) are carried by the flow from the first frame of the shot."""
    check_settings(temporal_weight, frame_iters)
    first = stylist or Stylist(options, notice=notice)
    iters = frame_iters if frame_iters is not None else default_frame_iters(first.options)
    later = _quiet(first.variant(levels=1, iters=iters) if temporal_weight > 0 else first.variant())
    work.mkdir(parents=True, exist_ok=True)
    maps_given = first.options.content_map is not None
    paths: list[Path] = []
    previous: tuple[np.ndarray, np.ndarray] | None = None  # the previous frame and its result
    segmented: Segmented | None = None
    segmenting: Stylist | None = None  # segments later frames, when the segmenter's labels are consistent
    key = clip_key(styles, first.options)
    side = max(first.options.size, ANALYSIS_SIDE)  # segmenters see what `sst run` gives them
    for i, (content, view) in enumerate(clip.frames_and_views(side)):
        trust = backward = None
        if previous is not None:
            backward, forward = flow(previous[0], content), flow(content, previous[0])
            trust = reliability(backward, forward)
        fresh_start = trust is None or trust.mean() < NEW_SHOT
        if trust is not None and fresh_start:
            first.notice(f"frame {i}: {trust.mean():.0%} of its pixels follow the previous frame; a new shot, "
                         "started afresh")
        stylist_i = first if fresh_start else later
        if first.uses_masks:
            if segmented is None or (fresh_start and not maps_given):
                segmented = at_size(stylist_i.segment(view, styles, first.options.content_map,
                                                      first.options.style_maps), content.shape[:2])
                segmenter = segmented.plugins[0]
                consistent = getattr(segmenter.factory, "consistent_labels", False)
                segmenting = _quiet(first.variant(segmenter=segmenter.name)) if consistent else None
            elif trust is not None:
                fresh = at_size(segmenting.segment(view, []), content.shape[:2]) if segmenting is not None else None
                segmented = next_masks(segmented, backward, trust, fresh)
        resolved = [stylist_i.features_info.name, *(p.name for p in (segmented.plugins if segmented else ()))]
        key = frame_key(key, content, stylist_i.options, 0.0 if fresh_start else temporal_weight, resolved)
        path = frame_path(work, i)
        paths.append(path)
        record = embedded_record(path) if path.is_file() else None
        if record is not None and record.get("key") == key:
            previous = content, load_image(path)
            on_frame(i, True)
            continue
        temporal = None
        if previous is not None and not fresh_start and temporal_weight > 0:
            temporal = Temporal(warp(previous[1], backward, sharp=True), trust, temporal_weight)
        job = stylist_i.stylise(content, styles, segmented, on_level=on_level, temporal=temporal)
        if first.options.save_masks and job.segmentation is not None:
            write_frame_masks(work / "masks", i, job.segmentation, with_styles=fresh_start)
        write_result(path, job.image, json.loads(json.dumps({
            "frame": i, "key": key, "source": str(clip.source), "temporal_weight": temporal_weight,
            "new_shot": fresh_start, "options": asdict(stylist_i.options),
            "plugins": [p.as_dict() for p in job.plugins], "levels": [asdict(r) for r in job.levels]}, default=str)))
        previous = content, job.image
        on_frame(i, False)
    return paths


# -- chunks, for --backend ray ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Chunk:
    """Frames ``start`` to ``end`` (exclusive) of the clip; the chunk stylises from ``lead_in`` (the previous
    chunk's last ``OVERLAP`` frames) so that the seam can be cross-faded."""

    lead_in: int
    start: int
    end: int


def check_chunk(length: int, overlap: int = OVERLAP) -> None:
    if length < 2 * overlap:
        raise SSTError(f"--chunk must be at least {2 * overlap} frames (twice the {overlap} cross-faded at a seam)")


def plan_chunks(frames: int, keyframes: tuple[int, ...], length: int, overlap: int = OVERLAP) -> list[Chunk]:
    """Chunks of about ``length`` frames, each starting at the first keyframe at least ``length`` frames after
    the previous start (a folder of frames, or a clip without a keyframe there: exactly ``length`` after)."""
    check_chunk(length, overlap)
    starts = [0]
    while starts[-1] + length < frames:
        due = starts[-1] + length
        later = [k for k in keyframes if due <= k < due + length and k < frames]
        starts.append(later[0] if later else due)
    ends = starts[1:] + [frames]
    return [Chunk(max(0, s - overlap) if s else 0, s, e) for s, e in zip(starts, ends)]


def _chunk_on_worker(clip: Clip, styles: list[np.ndarray], work: Path, options: TransferOptions,
                     temporal_weight: float, frame_iters: int | None, threads: int) -> int:
    import torch

    torch.set_num_threads(threads)
    return len(stylise_clip(clip, styles, work, options, temporal_weight=temporal_weight, frame_iters=frame_iters,
                            stylist=kept_stylist(options)))


def chunk_folder(work: Path, chunk: Chunk) -> Path:
    return work / f"chunk_{chunk.start:06d}"


def stylise_chunks(clip: Clip, styles: list[np.ndarray], work: Path, options: TransferOptions, *,
                   temporal_weight: float, frame_iters: int | None, length: int, workers: int,
                   address: str | None, on_frame: Callable[[int, bool], None]) -> list[Chunk]:
    """``clip`` cut into chunks (:func:`plan_chunks`) stylised on Ray, each into its
    :func:`chunk_folder` of ``work`` (on a cluster, a folder every node can reach) by a worker that decodes
    its own span; returns the chunks. ``on_frame`` is called as each chunk's frames are done."""
    chunks = plan_chunks(clip.count, clip.keyframes, length)
    ray = start_ray(address)
    threads = threads_per_worker(workers)
    remote = ray.remote(num_cpus=threads, num_gpus=1 if options.device.startswith("cuda") else 0)(_chunk_on_worker)
    styles_ref = ray.put(styles)
    pending = {remote.remote(clip.part(c.lead_in, c.end), styles_ref, chunk_folder(work.resolve(), c), options,
                             temporal_weight, frame_iters, threads): c for c in chunks}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            chunk = pending.pop(ref)
            ray.get(ref)
            for i in range(chunk.start, chunk.end):
                on_frame(i, False)
    return chunks


def chunked_frames(work: Path, chunks: list[Chunk]) -> Iterator[tuple[np.ndarray, Chunk, bool]]:
    """The clip's result frames from the chunks' folders, one at a time, with the chunk each belongs to and
    whether it was cross-faded: a seam's ``OVERLAP`` frames go linearly from the previous chunk's results to
    the next one's (which stylised them as its lead-in)."""
    for n, chunk in enumerate(chunks):
        following = chunks[n + 1] if n + 1 < len(chunks) else None
        for i in range(chunk.start, chunk.end):
            own = load_image(frame_path(chunk_folder(work, chunk), i - chunk.lead_in))
            if following is None or i < following.lead_in:
                yield own, chunk, False
                continue
            lead = following.start - following.lead_in
            t = (i - following.lead_in + 1) / (lead + 1)
            theirs = load_image(frame_path(chunk_folder(work, following), i - following.lead_in))
            yield ((1 - t) * own + t * theirs + 0.5).astype(np.uint8), chunk, True


def write_chunked_frames(work: Path, chunks: list[Chunk], clip: Clip) -> None:
    """A folder output of a chunked run: every frame with a sidecar naming the chunk whose frame it is (its
    own sidecar, with the key, in the chunk's folder) and whether it was cross-faded at a seam."""
    for i, (image, chunk, faded) in enumerate(chunked_frames(work, chunks)):
        record = embedded_record(frame_path(chunk_folder(work, chunk), i - chunk.lead_in)) or {}
        write_result(frame_path(work, i), image, {
            "frame": i, "key": record.get("key"), "source": str(clip.source), "chunk": chunk_folder(work, chunk).name,
            "crossfaded": faded, "options": record.get("options"), "plugins": record.get("plugins")})


def check_video_output(output: Path, inputs: list[Path], size: int) -> None:
    """Refuse, before any work, an output that is not a video or a folder, is an input, or cannot be written."""
    if output.suffix and output.suffix.lower() not in VIDEO_SUFFIXES:
        raise SSTError(f"output {output} must be a video ({', '.join(VIDEO_SUFFIXES)}) or a folder (no suffix)")
    if output.exists() and output.suffix and not output.is_file():
        raise SSTError(f"output {output} exists and is not a file; choose another")
    if output.exists() and not output.suffix and not output.is_dir():
        raise SSTError(f"output {output} exists and is not a folder; choose another")
    work = work_folder(output)
    if work.exists() and not work.is_dir():
        raise SSTError(f"{work} (where the frames go) exists and is not a folder; move it or choose another output")
    if any(output.resolve() == p.resolve() for p in inputs):
        raise SSTError(f"output {output} is one of the inputs; choose another")
    check_writable(output if output.suffix else output / "frame.png", 3 * size * size)


def work_folder(output: Path) -> Path:
    """Where the result frames live: the output itself for a folder, else ``OUT.frames`` beside it."""
    return output if not output.suffix else output.with_name(output.name + ".frames")


def stylise_video(source: str | os.PathLike[str], style_paths: Sequence[str | os.PathLike[str]],
                  output: str | os.PathLike[str], options: TransferOptions | None = None, *,
                  temporal_weight: float = TEMPORAL_WEIGHT, frame_iters: int | None = None, start: str | None = None,
                  end: str | None = None, backend: str = "local", chunk: int = CHUNK_FRAMES, workers: int = 2,
                  address: str | None = None, notice: Callable[[str], None] = lambda m: None,
                  on_clip: Callable[[int], None] = lambda n: None,
                  on_frame: Callable[[int, bool], None] = lambda i, skipped: None,
                  on_level: Callable[[int, int, tuple[int, int]], Callable[[], None]] | None = None) -> Path:
    """``source`` (a video or a folder of frames) in the style of ``style_paths``, written to ``output`` (a
    video, or a folder of frames); ``on_clip(frames)`` once the clip is read. ``backend="ray"``: chunks of
    about ``chunk`` frames on ``workers`` Ray workers (:func:`stylise_chunks`)."""
    source, output, style_paths = Path(source), Path(output), [Path(p) for p in style_paths]
    if not style_paths:
        raise SSTError("no style image given; name at least one")
    if backend not in BACKENDS:
        raise SSTError(f"--backend must be one of {', '.join(BACKENDS)}")
    check_settings(temporal_weight, frame_iters)
    if backend == "ray":
        check_chunk(chunk)
        require_ray()
    stylist = Stylist(options, notice=notice)
    o = stylist.options
    maps = ([o.content_map] if o.content_map else []) + list(o.style_maps)
    check_video_output(output, [source, *style_paths, *maps], o.size)
    for p in maps:
        if not p.exists():
            raise SSTError(f"map not found: {p}; check the path")
    styles = [load_image(p, needed_side=max(math.ceil(o.size * o.style_scale), ANALYSIS_SIDE)) for p in style_paths]
    for p, s in zip(style_paths, styles):
        check_level_sides(f"the style {p}", s, o, o.style_scale)
    clip = read_clip(source, o.size, start, end)
    check_level_sides(f"the clip {source}", clip.first_frame(), o)
    work = work_folder(output)
    on_clip(clip.count)
    if backend == "ray":
        chunks = stylise_chunks(clip, styles, work, o, temporal_weight=temporal_weight, frame_iters=frame_iters,
                                length=chunk, workers=workers, address=address, on_frame=on_frame)
        if output.suffix:
            write_video((image for image, _, _ in chunked_frames(work, chunks)), clip, output, notice)
        else:
            write_chunked_frames(work, chunks, clip)
    else:
        paths = stylise_clip(clip, styles, work, o, temporal_weight=temporal_weight, frame_iters=frame_iters,
                             stylist=stylist, on_frame=on_frame, on_level=on_level)
        if output.suffix:
            write_video((load_image(p) for p in paths), clip, output, notice)
    if not output.suffix:
        drop_frames_after(work, clip.count)
    return output
