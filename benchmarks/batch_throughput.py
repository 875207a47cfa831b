"""Jobs per minute: the 12 shared pairs (with their maps) as one batch in-process, with --workers 2 and on
a local Ray, against 12 separate ``sst run`` calls, all in one run on this machine.

    .venv/bin/python benchmarks/batch_throughput.py --out bench-out/batch
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from compare_methods import pairs, semantic_map  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).parents[1] / ".." / "shared" / "data")
    parser.add_argument("--size", default="192")
    parser.add_argument("--iters", default="20")
    parser.add_argument("--out", type=Path, default=Path("bench-out/batch"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    jobs = pairs(args.data)
    manifest = args.out / "jobs.jsonl"
    manifest.write_text("\n".join(json.dumps({
        "content": str(c.resolve()), "styles": [str(s.resolve())], "content_map": str(semantic_map(c).resolve()),
        "style_maps": [str(semantic_map(s).resolve())], "output": f"{name}.png"}) for name, (c, s) in jobs.items()))
    flags = ["--size", args.size, "--levels", "3", "--iters", args.iters, "--features", "vgg16"]
    sst = [sys.executable, "-m", "sst"]
    arms: dict[str, float] = {}

    started = time.perf_counter()
    for name, (c, s) in jobs.items():
        subprocess.run([*sst, "run", str(c), str(s), "--content-map", str(semantic_map(c)), "--style-map",
                        str(semantic_map(s)), "-o", str(args.out / "run" / f"{name}.png"), *flags],
                       check=True, capture_output=True)
    arms[f"{len(jobs)} x sst run"] = time.perf_counter() - started
    for folder, arm, extra in (("inprocess", "sst batch (in-process)", []),
                               ("workers", "sst batch --workers 2", ["--workers", "2"]),
                               ("ray", "sst batch --backend ray --workers 2", ["--backend", "ray", "--workers", "2"])):
        started = time.perf_counter()
        subprocess.run([*sst, "batch", "--manifest", str(manifest), "-o", str(args.out / folder), *flags, *extra],
                       check=True, capture_output=True)
        arms[arm] = time.perf_counter() - started
    base = arms[f"{len(jobs)} x sst run"]
    print(f"| arm ({len(jobs)} jobs, {args.size} px, 3 levels x {args.iters}) | seconds | jobs/min | speed-up |")
    print("|---|---|---|---|")
    for arm, seconds in arms.items():
        print(f"| {arm} | {seconds:.0f} | {60 * len(jobs) / seconds:.1f} | {base / seconds:.2f}x |")


if __name__ == "__main__":
    main()
