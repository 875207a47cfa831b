"""Temporal consistency of ``sst video``: warping error with the temporal loss on and off (Ruder et al. 2016).

No video ships with the dependencies, so the clips are made here from the still photos in ../shared/data:
``in6-camera`` moves a camera over photo pair 6 (pan, zoom in, a small rotation); ``Freddie-crop`` moves a
crop window over the Freddie portrait (pan and zoom). Each clip is a folder of PNG frames, and the hand-made
map goes through the same camera, so every frame has its true label map for the fidelity metric.

For each clip and each ``--weights`` value the clip goes through :func:`sst.core.video.stylise_video`
(weight 0: every frame on its own like ``sst run``, the flickering baseline; the masks are automatic,
as a user of ``sst video`` gets them). Per clip it prints, per weight: the warping error (mean absolute
difference, 0..255, between each result frame and the previous result warped by the content's DIS flow,
over reliable pixels; the content clip's own beside it), the mean semantic fidelity and LPIPS of the frames,
and the seconds of the first and of a later frame. Writes a grid of the frames (rows: content, then each
weight) per clip.

    .venv/bin/python benchmarks/video_consistency.py --out bench-out/video
    .venv/bin/python benchmarks/video_consistency.py --clips in6-camera --weights 0 30 100 300 --frames 6
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

from sst.core.flow import flow, reliability, warping_error
from sst.core.grid import labelled_grid
from sst.core.images import load_image, save_image
from sst.core.metrics import LPIPS, measure, metric_features
from sst.core.options import TransferOptions
from sst.core.stylist import Stylist
from sst.core.video import default_frame_iters, frame_path, stylise_video
from sst.core.video_io import read_clip

CLIPS = {  # name: (content, style, camera) with camera (pan x, pan y, zoom, degrees) per frame
    "in6-camera": ("photo-pairs/in6.png", "photo-pairs/tar6.png", (0.012, 0.004, 1.012, 0.4)),
    "Freddie-crop": ("portraits/Freddie.jpg", "portraits/Mia.jpg", (0.010, -0.006, 1.008, 0.0)),
}


def semantic_map(image: Path) -> Path:
    return image.with_name(f"{image.stem}_sem.png")


def camera(image: np.ndarray, frame: int, motion: tuple[float, float, float, float], nearest: bool = False) -> np.ndarray:
    """Frame ``frame`` of a camera that starts on the central 80 % of ``image`` and moves by ``motion`` each frame."""
    h, w = image.shape[:2]
    pan_x, pan_y, zoom, degrees = motion
    scale = 0.8 / zoom ** frame  # the window's size relative to the image
    centre = (w / 2 + pan_x * w * (frame - 3), h / 2 + pan_y * h * (frame - 3))
    out_w, out_h = round(w * 0.8), round(h * 0.8)
    # image coordinates to frame coordinates: rotate and scale about the window's centre, then centre it
    forward = cv2.getRotationMatrix2D(centre, degrees * frame, 1 / scale)
    forward[:, 2] += (out_w / 2 - centre[0], out_h / 2 - centre[1])
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    return cv2.warpAffine(image, forward, (out_w, out_h), flags=flags, borderMode=cv2.BORDER_REFLECT)


def make_clip(data: Path, name: str, frames: int, folder: Path) -> tuple[Path, Path, Path]:
    """The clip's frames and true maps as PNG folders; returns (frames folder, maps folder, style)."""
    content, style, motion = CLIPS[name]
    image, colours = load_image(data / content), load_image(semantic_map(data / content))
    frames_dir, maps_dir = folder / f"{name}-frames", folder / f"{name}-maps"
    for d in (frames_dir, maps_dir):
        d.mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        save_image(frames_dir / f"{i:04d}.png", camera(image, i, motion))
        save_image(maps_dir / f"{i:04d}.png", camera(colours, i, motion, nearest=True))
    return frames_dir, maps_dir, data / style


def consistency(results: list[np.ndarray], contents: list[np.ndarray]) -> float:
    """Mean warping error of ``results`` along the flow of ``contents`` (same sizes), over reliable pixels."""
    errors = []
    for i in range(1, len(results)):
        backward, forward = flow(contents[i - 1], contents[i]), flow(contents[i], contents[i - 1])
        errors.append(warping_error(results[i - 1], results[i], backward, reliability(backward, forward)))
    return float(np.mean(errors))


def quality(results: list[np.ndarray], contents: list[np.ndarray], maps: Path, style: Path, size: int) -> tuple[float, float, float]:
    """Means over the frames of the semantic fidelity (true maps through the manual segmenter), LPIPS to the
    content and texture energy (detail that repeated warping would blur away)."""
    style_image = load_image(style, needed_side=size)
    judge = Stylist(TransferOptions(segmenter="manual", softener="none", size=size))
    net = metric_features(judge.ctx)
    lpips = LPIPS(net, judge.models)
    fid, lp, texture = [], [], []
    for i, (result, content) in enumerate(zip(results, contents)):
        segmented = judge.segment(content, [style_image], sorted(maps.iterdir())[i], [semantic_map(style)])
        m = measure(content, [style_image], result, segmented.raw, judge.ctx, net, lpips)
        fid.append(m["semantic_fidelity"]["score"])
        lp.append(m["lpips"])
        texture.append(m["texture_energy"])
    return float(np.nanmean(fid)), float(np.mean(lp)), float(np.mean(texture))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("bench-out/video"))
    parser.add_argument("--clips", nargs="+", default=list(CLIPS))
    parser.add_argument("--weights", nargs="+", type=float, default=[0.0, 100.0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--iters", default="30")
    parser.add_argument("--frame-iters", type=int, default=None)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    options = TransferOptions(size=args.size, iters=args.iters)
    print(f"{args.frames} frames per clip, {args.size} px, --iters {args.iters}, later frames "
          f"{args.frame_iters or default_frame_iters(options)} iterations at the finest level; {torch.get_num_threads()} threads")
    for name in args.clips:
        frames_dir, maps_dir, style = make_clip(args.data, name, args.frames, args.out / "clips")
        contents = list(read_clip(frames_dir, args.size).frames())
        rows, labels = [contents], ["content"]
        print(f"\n{name}: content warping error {consistency(contents, contents):.2f}")
        print("| temporal weight | warping error | semantic fidelity | LPIPS | texture energy | first frame s | later frame s |\n|---|---|---|---|---|---|---|")
        for weight in args.weights:
            out = args.out / f"{name}-w{weight:g}"
            seconds: list[float] = []
            clock = [time.perf_counter()]

            def on_frame(i: int, skipped: bool) -> None:
                now = time.perf_counter()
                seconds.append(math.nan if skipped else now - clock[0])
                clock[0] = now

            stylise_video(frames_dir, [style], out, replace(options), temporal_weight=weight,
                          frame_iters=args.frame_iters, on_frame=on_frame)
            results = [load_image(frame_path(out, i)) for i in range(len(contents))]
            fid, lp, texture = quality(results, contents, maps_dir, style, args.size)
            later = float(np.nanmean(seconds[1:])) if len(seconds) > 1 else math.nan
            print(f"| {weight:g} | {consistency(results, contents):.2f} | {fid:.3f} | {lp:.3f} | {texture:.2f} | {seconds[0]:.1f} | {later:.1f} |",
                  flush=True)
            rows.append(results)
            labels.append(f"weight {weight:g}")
        cells = [(f"{label}, frame {i}", img) for label, row in zip(labels, rows) for i, img in enumerate(row)]
        grid = labelled_grid(cells, height=160, columns=len(contents))
        save_image(args.out / f"{name}-grid.png", grid)
        print(f"wrote {args.out / f'{name}-grid.png'}")


if __name__ == "__main__":
    main()
