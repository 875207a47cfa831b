"""Loading amortised: N jobs through one Stylist against N ``sst run`` calls, timed in one run.

Each ``sst run`` is a fresh process: Python and torch start, the plugins register, VGG loads, the masks'
models load, then the job. One Stylist pays the start and the loading once. The jobs are the same in both
arms (N different contents drawn here, one style, automatic masks from ``--segmenter`` so the segmenter's
models load too); the script also checks that both arms give the same images.

    .venv/bin/python benchmarks/stylist_jobs.py --jobs 4 --out bench-out/stylist
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from skimage import data

from sst.core.images import load_image, resize_long_side, save_image
from sst.core.options import TransferOptions
from sst.core.stylist import Stylist
from sst.core.transfer import transfer

CONTENTS = ("astronaut", "chelsea", "coffee", "rocket", "cat", "immunohistochemistry")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iters", default="10")
    parser.add_argument("--segmenter", default="cosegment")
    parser.add_argument("--out", type=Path, default=Path("bench-out/stylist"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    contents = []
    for name in CONTENTS[: args.jobs]:
        path = args.out / f"{name}.png"
        save_image(path, resize_long_side(getattr(data, name)(), 256))
        contents.append(path)
    style = args.out / "style.png"
    save_image(style, resize_long_side(data.astronaut()[::-1, ::-1].copy(), 256))
    flags = ["--size", str(args.size), "--levels", "2", "--iters", args.iters, "--features", "vgg16",
             "--segmenter", args.segmenter]
    options = TransferOptions(size=args.size, levels=2, iters=args.iters, features="vgg16", segmenter=args.segmenter)

    started = time.perf_counter()
    for path in contents:
        subprocess.run([sys.executable, "-m", "sst", "run", str(path), str(style), "-o",
                        str(path.with_name(path.stem + "_run.png")), *flags], check=True, capture_output=True)
    separate = time.perf_counter() - started

    started = time.perf_counter()
    stylist = Stylist(options)
    for path in contents:
        transfer(path, [style], path.with_name(path.stem + "_stylist.png"), stylist=stylist)
    shared = time.perf_counter() - started

    same = all(np.array_equal(load_image(p.with_name(p.stem + "_run.png")), load_image(p.with_name(p.stem + "_stylist.png")))
               for p in contents)
    n = len(contents)
    print(f"| {n} jobs, {args.size} px, 2 levels x {args.iters}, --segmenter {args.segmenter} | "
          f"{separate:.1f} s ({separate / n:.1f} s/job) | {shared:.1f} s ({shared / n:.1f} s/job) | "
          f"{separate / shared:.2f}x | {'identical' if same else 'DIFFERENT'} |")


if __name__ == "__main__":
    main()
