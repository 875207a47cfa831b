"""Time per frame of ``sst video`` at given sizes (default 256 and 512 px), default iterations.

A short clip made from photo pair 6 of ../shared/data by the camera of ``video_consistency.py`` (no video
ships with the dependencies) goes through :func:`sst.core.video.stylise_video` with the temporal loss on:
the first frame runs every level (``--iters`` 100 each; its time includes loading VGG and segmenting), a
later frame the finest level only (half of them), plus the two DIS flows and the reliability mask it needs.
Prints a markdown row per size.

    .venv/bin/python benchmarks/video_speed.py --out bench-out/video-speed
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from sst.core.flow import flow, reliability
from sst.core.options import TransferOptions
from sst.core.stylist import peak_memory_mb
from sst.core.video import default_frame_iters, stylise_video
from sst.core.video_io import read_clip
from video_consistency import make_clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("bench-out/video-speed"))
    parser.add_argument("--sizes", nargs="+", type=int, default=[256, 512])
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--loss", default="mrf-semantic")
    args = parser.parse_args()
    frames_dir, _, style = make_clip(args.data, "in6-camera", args.frames, args.out / "clips")
    print(f"{args.frames} frames of in6-camera, {args.loss}, {torch.get_num_threads()} threads, {os.cpu_count()} cores")
    print("| size | first frame s (3 levels x 100) | later frame s (finest x 50) | of which flow s | peak RSS MiB |\n|---|---|---|---|---|")
    for size in args.sizes:
        options = TransferOptions(size=size, loss=args.loss)
        stamps: list[float] = []
        stylise_video(frames_dir, [style], args.out / f"out-{size}", options,
                      on_clip=lambda n: stamps.append(time.perf_counter()),
                      on_frame=lambda i, skipped: stamps.append(time.perf_counter()))
        seconds = np.diff(stamps)
        a, b = list(read_clip(frames_dir, size).frames())[:2]
        started = time.perf_counter()
        backward, forward = flow(a, b), flow(b, a)
        reliability(backward, forward)
        flow_s = time.perf_counter() - started
        rss = peak_memory_mb(torch.device("cpu"))["process_rss_mib"]
        print(f"| {size} | {seconds[0]:.1f} | {np.mean(seconds[1:]):.1f} (x{default_frame_iters(options)} iters) | "
              f"{flow_s:.2f} | {rss:.0f} |", flush=True)


if __name__ == "__main__":
    main()
