"""``sst video``: a generated clip through the command to a file; resume; masks along the flow."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from sst.core.flow import flow, reliability, warping_error
from sst.core.images import embedded_record, load_image, save_image
from sst.core.interfaces import Segmentation, SemanticMasks
from sst.core.options import TransferOptions
from sst.core.stylist import Segmented, Stylist
from sst.core.video import frame_path, next_masks, plan_chunks, stylise_clip
from sst.core.errors import SSTError
from sst.core.video_io import read_clip
from sst.plugins.segmenters.portrait import PortraitSegmenter
from tests.conftest import run_cli

av = pytest.importorskip("av", reason="sst video needs PyAV (the dev extra installs it)")

FPS, FRAMES, W, H = 12, 6, 96, 64
TINY = ("--size", "64", "--levels", "1", "--iters", "3", "--frame-iters", "2", "--loss", "mrf")


def drawn_frame(i: int) -> np.ndarray:
    """Blue ground, a yellow square moving right and a red disc moving left."""
    image = np.zeros((H, W, 3), np.uint8)
    image[:] = (40, 90, 160)
    image[16:40, 8 + 4 * i:32 + 4 * i] = (230, 200, 40)
    yy, xx = np.mgrid[:H, :W]
    image[(yy - 44) ** 2 + (xx - (76 - 3 * i)) ** 2 < 100] = (200, 30, 30)
    return image


def make_clip(path: Path, frames: int = FRAMES, gop: int | None = None) -> None:
    """An H.264 clip of drawn frames with an AAC tone as long as the video (a keyframe every ``gop``)."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        if gop:
            video.codec_context.gop_size = gop
        audio = out.add_stream("aac", rate=16000)
        for i in range(frames):
            for packet in video.encode(av.VideoFrame.from_ndarray(drawn_frame(i), format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        n = 16000 * frames // FPS
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 16000)).astype(np.float32)[None]
        for s in range(0, n, 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, s:s + 1024]), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, s
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)


def probe(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio
        info = {"fps": Fraction(video.average_rate), "size": (video.width, video.height),
                "audio": [a.codec_context.name for a in audio],
                "audio_seconds": float(audio[0].duration * audio[0].time_base) if audio and audio[0].duration else 0.0}
        info["frames"] = sum(1 for _ in container.decode(video=0))
    return info


def audio_packets(path: Path) -> list[tuple[int, int]]:
    with av.open(str(path)) as container:
        return [(p.pts, p.duration) for p in container.demux(container.streams.audio[0]) if p.pts is not None]


@pytest.fixture
def clip_and_style(tmp_path: Path) -> tuple[Path, Path]:
    clip, style = tmp_path / "clip.mp4", tmp_path / "style.png"
    make_clip(clip)
    save_image(style, data.astronaut()[::4, ::4])
    return clip, style


def test_a_clip_goes_to_a_video_with_its_frame_count_size_fps_and_audio(clip_and_style, tmp_path: Path) -> None:
    clip, style = clip_and_style
    out = tmp_path / "out.mp4"
    done = run_cli("video", str(clip), str(style), "-o", str(out), *TINY)
    assert done.returncode == 0, done.stderr
    info = probe(out)
    assert info["frames"] == FRAMES and info["fps"] == FPS
    assert info["size"] == (64, 42)  # 64 x 43 to an even height for yuv420p
    assert info["audio"] == ["aac"] and info["audio_seconds"] == pytest.approx(FRAMES / FPS, abs=0.1)
    assert audio_packets(out) == audio_packets(clip), "every audio packet, the encoder's priming one included"
    records = [json.loads(frame_path(tmp_path / "out.mp4.frames", i).with_suffix(".json").read_text()) for i in range(FRAMES)]
    assert [r["frame"] for r in records] == list(range(FRAMES))
    assert [len(r["levels"]) for r in records] == [1] * FRAMES and records[1]["levels"][0]["iterations"] == 2
    assert not list(tmp_path.glob(".out.mp4.*")), "no temporary left beside the output"

    part = tmp_path / "part"  # --start/--end by time and frame; a folder of frames out
    done = run_cli("video", str(clip), str(style), "-o", str(part), "--start", "0.25s", "--end", "5", *TINY)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in part.glob("*.png")) == [f"frame_{i:06d}.png" for i in range(2)]
    first = load_image(part / "frame_000000.png")
    assert first.shape == (43, 64, 3)


def test_bad_input_is_one_error_line(clip_and_style, tmp_path: Path) -> None:
    clip, style = clip_and_style
    for args, says in [((str(clip), str(style), "-o", str(tmp_path / "x.png")), "must be a video"),
                       ((str(style), str(style), "-o", str(tmp_path / "x.mp4")), "neither a video"),
                       ((str(clip), str(style), "-o", str(clip)), "is one of the inputs"),
                       ((str(clip), str(style), "--start", "soon"), "neither a frame number"),
                       ((str(clip), str(style), "--temporal-weight", "-1", *TINY), "must not be negative")]:
        done = run_cli("video", *args)
        assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("error:"), done.stderr
        assert says in done.stderr and "Traceback" not in done.stderr


def test_an_interrupted_clip_resumes_without_redoing_a_finished_frame(clip_and_style, tmp_path: Path) -> None:
    clip, style = clip_and_style
    out, work = tmp_path / "out.mp4", tmp_path / "out.mp4.frames"
    args = [sys.executable, "-m", "sst", "video", str(clip), str(style), "-o", str(out), *TINY[:-4], "--iters", "6",
            "--frame-iters", "6", "--loss", "mrf"]
    process = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    deadline = time.monotonic() + 300
    while not frame_path(work, 1).is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "finished frames are kept" in stderr
    assert not out.exists(), "the video appears only once complete"
    kept = {p.name: p.stat().st_mtime_ns for p in work.glob("frame_*.png")}
    assert 2 <= len(kept) < FRAMES and not list(work.glob(".*")), "whole frames only, no temporaries"
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert all(work.joinpath(name).stat().st_mtime_ns == mtime for name, mtime in kept.items())
    assert probe(out)["frames"] == FRAMES

    changed = subprocess.run([*args, "--temporal-weight", "50"], capture_output=True, text=True, timeout=300)
    assert changed.returncode == 0, changed.stderr  # another weight: the later frames are redone
    assert frame_path(work, 0).stat().st_mtime_ns == kept["frame_000000.png"]
    assert frame_path(work, 1).stat().st_mtime_ns != kept["frame_000001.png"]


def frame_folder(folder: Path, frames: list[np.ndarray]) -> Path:
    folder.mkdir()
    for i, frame in enumerate(frames):
        save_image(folder / f"{i}.png", frame)
    return folder


def test_the_temporal_loss_lowers_the_warping_error(tmp_path: Path) -> None:
    frames = [drawn_frame(i) for i in range(4)]
    clip = read_clip(frame_folder(tmp_path / "in", frames), 96)
    style = data.astronaut()[::4, ::4]
    options = TransferOptions(size=96, levels=1, iters=8, loss="mrf")
    stylist = Stylist(options)
    errors = {}
    for weight in (0.0, 100.0):
        results = [load_image(p) for p in stylise_clip(clip, [style], tmp_path / f"w{weight}", options,
                                                       temporal_weight=weight, frame_iters=4, stylist=stylist)]
        errors[weight] = np.mean([warping_error(results[i - 1], results[i], b := flow(frames[i - 1], frames[i]),
                                                reliability(b, flow(frames[i], frames[i - 1]))) for i in range(1, 4)])
    assert errors[100.0] < 0.5 * errors[0.0], errors


def test_masks_move_with_the_flow_and_a_consistent_segmenter_segments_every_frame(tmp_path: Path, monkeypatch) -> None:
    previous, current = drawn_frame(0), drawn_frame(3)
    square = np.zeros((1, H, W), np.float32)
    square[0, 16:40, 8:32] = 1
    masks = Segmentation(SemanticMasks(("square",), square), (), ())
    backward, forward = flow(previous, current), flow(current, previous)
    moved = next_masks(Segmented(masks, masks, ()), backward, reliability(backward, forward), None)
    centre_x = (moved.soft.content.maps[0] > 0.5).nonzero()[1].mean()
    assert centre_x == pytest.approx(20 + 12, abs=2), "the square's mask moved 12 px right with it"

    calls: list[int] = []
    segment = PortraitSegmenter.segment
    seen: list[tuple[int, ...]] = []
    monkeypatch.setattr(PortraitSegmenter, "segment", lambda self, request: calls.append(len(request.styles))
                        or seen.append(request.content.shape) or segment(self, request))
    face = data.astronaut()[20:260, 120:330]
    frames = [face[i * 4:, i * 3:][:200, :180] for i in range(3)]
    options = TransferOptions(size=160, levels=1, iters=2, segmenter="portrait", save_masks=True)
    stylise_clip(read_clip(frame_folder(tmp_path / "in", frames), 200), [data.astronaut()[::2, ::2]], tmp_path / "p",
                 options, temporal_weight=100.0, frame_iters=1)
    assert calls == [1, 0, 0], "the first frame with the style, then each later frame's own landmarks"
    assert seen == [(200, 180, 3)] * 3, "segmented at the frame's own size (as sst run gives it), not at --size 160"
    masks = tmp_path / "p" / "masks"  # --save-masks: every frame's composite, the first frame's masks and the style's
    assert {f"frame_{i:06d}_composite.png" for i in range(3)} | {"style1_composite.png"} <= {p.name for p in masks.iterdir()}
    assert len(list(masks.glob("frame_000000_*.png"))) > 2 and not list(masks.glob("frame_000001_[!c]*.png"))


def test_chunks_start_at_keyframes_and_their_seams_are_crossfaded(clip_and_style, tmp_path: Path) -> None:
    assert [(c.lead_in, c.start, c.end) for c in plan_chunks(30, (0, 13, 25), 10)] == [(0, 0, 13), (9, 13, 25), (21, 25, 30)]
    assert [(c.start, c.end) for c in plan_chunks(20, (), 8)] == [(0, 8), (8, 16), (16, 20)]
    clip, style = clip_and_style
    long_clip = tmp_path / "long.mp4"
    make_clip(long_clip, frames=12)
    out = tmp_path / "ray-out"
    done = run_cli("video", str(long_clip), str(style), "-o", str(out), *TINY, "--backend", "ray", "--chunk", "8",
                   "--workers", "2")
    assert done.returncode == 0, done.stderr
    frames = [load_image(frame_path(out, i)).astype(int) for i in range(12)]
    first = [load_image(frame_path(out / "chunk_000000", i)).astype(int) for i in range(8)]
    second = [load_image(frame_path(out / "chunk_000008", i)).astype(int) for i in range(8)]  # lead-in 4..7, then 8..11
    assert all(np.array_equal(frames[i], first[i]) for i in range(4))
    assert all(np.array_equal(frames[8 + i], second[4 + i]) for i in range(4))
    for k, i in enumerate(range(4, 8)):  # the overlap: from the first chunk's results towards the second's
        t = (k + 1) / 5
        assert np.abs(frames[i] - ((1 - t) * first[i] + t * second[k])).max() <= 1
    records = [json.loads(frame_path(out, i).with_suffix(".json").read_text()) for i in range(12)]
    assert [r["crossfaded"] for r in records] == [False] * 4 + [True] * 4 + [False] * 4
    assert [r["chunk"] for r in records] == ["chunk_000000"] * 8 + ["chunk_000008"] * 4
    assert records[9]["key"] == embedded_record(frame_path(out / "chunk_000008", 5))["key"]

    save_image(out / "frame_000050.png", frames[0].astype(np.uint8))  # not written by sst video: kept
    shorter = run_cli("video", str(long_clip), str(style), "-o", str(out), *TINY, "--end", "5")
    assert shorter.returncode == 0, shorter.stderr
    assert sorted(p.name for p in out.glob("frame_*.png")) == [f"frame_{i:06d}.png" for i in range(5)] + [
        "frame_000050.png"], "a shorter rerun leaves exactly its frames (and files sst did not write)"
    assert not frame_path(out, 7).with_suffix(".json").exists()


def test_a_folder_of_frames_reads_in_natural_order_and_refuses_mixed_sizes(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in (1, 2, 10):
        save_image(folder / f"{i}.png", np.full((32, 48, 3), i * 20, np.uint8))
    (folder / "notes.txt").write_text("not a frame")
    clip = read_clip(folder, 48)
    assert [int(f[0, 0, 0]) for f in clip.frames()] == [20, 40, 200], "2.png comes before 10.png"
    save_image(folder / "11.png", np.zeros((40, 40, 3), np.uint8))
    with pytest.raises(SSTError, match="frame 3 .* every frame of a clip must have one size"):
        read_clip(folder, 48)
    with pytest.raises(SSTError, match="negative"):
        read_clip(folder, 48, start="-2")


def test_a_clip_holds_no_frame_and_decodes_its_parts_on_demand(clip_and_style) -> None:
    """What a Ray chunk is sent is a few hundred bytes whatever the clip's length; a part decodes exactly
    its own frames, from a video file or a folder alike."""
    clip = read_clip(clip_and_style[0], 96)
    assert clip.count == FRAMES and len(pickle.dumps(clip)) < 2000
    whole = list(clip.frames())
    part = clip.part(2, 5)
    assert part.count == 3 and [np.array_equal(a, b) for a, b in zip(part.frames(), whole[2:5])] == [True] * 3
    assert part.start_seconds == pytest.approx(2 / FPS)


def test_a_part_of_a_video_decodes_from_its_last_keyframe_to_the_same_frames(tmp_path: Path) -> None:
    """A Ray chunk of a long clip seeks to the keyframe before it instead of decoding from the start; the
    frames are the same as decoding the whole clip, for a part that starts on a keyframe or between two."""
    path = tmp_path / "gop.mp4"
    make_clip(path, frames=12, gop=3)
    clip = read_clip(path, 96)
    assert clip.keyframes[:4] == (0, 3, 6, 9) and len(clip.seeks) >= 4
    whole = list(clip.frames())
    for start, end in ((6, 9), (4, 11), (0, 2)):
        frames = list(clip.part(start, end).frames())
        assert len(frames) == end - start and all(np.array_equal(a, b) for a, b in zip(frames, whole[start:end]))
    later = read_clip(path, 96, start="7")
    assert all(np.array_equal(a, b) for a, b in zip(later.frames(), whole[7:])) and later.count == 5
