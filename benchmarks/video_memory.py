"""Peak memory of ``sst video`` against the clip's length, for two trees side by side in one run.

A folder clip of N frames (in6-camera of ``video_consistency.py``, made from ../shared/data) goes through
``stylise_video`` to an mp4 with the cheapest settings (one level, one iteration per frame), once per
length and tree, each in a fresh process that reports its own peak RSS. Memory that grows with N is the
clip or its results held whole.

    .venv/bin/python benchmarks/video_memory.py --before HEAD --frames 30 120 --size 512
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUN = """
import json, resource, sys, time
from sst.core.options import TransferOptions
from sst.core.video import stylise_video
frames, style, out, size = sys.argv[1:5]
started = time.perf_counter()
stylise_video(frames, [style], out, TransferOptions(size=int(size), levels=1, iters=1, loss="mrf", features="vgg16"),
              frame_iters=1)
print(json.dumps({"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": time.perf_counter() - started}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--before", default="HEAD", help="git revision of the before tree")
    parser.add_argument("--frames", type=int, nargs="+", default=[30, 120])
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from video_consistency import make_clip

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        before = Path(scratch) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), args.before],
                       check=True, capture_output=True)
        try:
            for n in args.frames:
                frames, _, style = make_clip(args.data, "in6-camera", n, Path(scratch) / f"clip{n}")
                row = [n]
                for tree in (before, ROOT):
                    out = Path(scratch) / f"out-{tree.name}-{n}.mp4"
                    done = subprocess.run([sys.executable, "-c", RUN, str(frames), str(style), str(out), str(args.size)],
                                          capture_output=True, text=True, check=True,
                                          env={**os.environ, "PYTHONPATH": str(tree / "src")})
                    row.append(json.loads(done.stdout.strip().splitlines()[-1]))
                rows.append(row)
                print(f"| {n} | {row[1]['peak_mib']:.0f} | {row[2]['peak_mib']:.0f} | "
                      f"{row[1]['seconds']:.0f} / {row[2]['seconds']:.0f} |", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=True)
    print(f"\n{args.size} px, 1 level x 1 iteration per frame, before = {args.before}\n")
    print("| frames | peak MiB before | peak MiB after | seconds before / after |\n|---|---|---|---|")
    for n, b, a in rows:
        print(f"| {n} | {b['peak_mib']:.0f} | {a['peak_mib']:.0f} | {b['seconds']:.0f} / {a['seconds']:.0f} |")


if __name__ == "__main__":
    main()
