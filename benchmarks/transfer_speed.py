"""Per-iteration time and peak memory of one synthesis level, exact vs approximate search, against the floor.

For each size, side by side in one invocation, each case in its own process (so
its peak memory is its own): Freddie -> Mia with their maps (mrf-semantic,
VGG-16), one level at the size, ``--iters N``:

- the floor: the feature network's own forward + backward to relu4_1 on an
  image of the same shape, N times;
- ``sst run --search exact`` and ``--search approx``.

The steady per-iteration time leaves out the level's start (targets, the
approximate search's first steps), which the sidecar reports as
``start_seconds``; that start is shown in its own column. The memory estimate
printed before the run is shown beside the measured peak.

    .venv/bin/python benchmarks/transfer_speed.py --data ../shared/data --sizes 256 384 512 768 1024
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

FLOOR = r"""
import json, resource, sys, time, torch
from sst.core.interfaces import PluginContext
from sst.core.models import ModelManager
from sst.core.registry import default_registry
h, w, iters = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
ctx = PluginContext(default_registry(), ModelManager(), torch.device("cpu"), print)
net = default_registry().create("features", "vgg16", ctx)
x = torch.rand(1, 3, h, w, requires_grad=True)
times = []
for _ in range(iters + 1):
    start = time.perf_counter()
    feats = net.extract(x, ["relu3_1", "relu4_1"])
    (feats["relu3_1"].sum() + feats["relu4_1"].sum()).backward()
    times.append(time.perf_counter() - start)
print(json.dumps({"per_iter": sum(times[1:]) / iters, "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_case(args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.png"
        proc = subprocess.run([sys.executable, "-m", "sst", "run", *args, "-o", str(out)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"sst run failed: {proc.stderr.strip().splitlines()[-1]}")
        sidecar = json.loads(out.with_suffix(".json").read_text())
    level = sidecar["levels"][-1]
    return {"per_iter": (level["seconds"] - level["start_seconds"]) / max(1, level["iterations"] - 1),
            "start": level["start_seconds"], "shape": (level["height"], level["width"]),
            "search": "/".join(sorted(set(level["search"].values()))),
            "rss_mib": sidecar["peak_memory"]["process_rss_mib"], "estimate_mib": sidecar["peak_memory"]["estimate_mib"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 384, 512, 768, 1024])
    parser.add_argument("--iters", type=int, default=6)
    parser.add_argument("--exact-up-to", type=int, default=1024, help="largest size at which to time the exact search")
    args = parser.parse_args()
    p = args.data / "portraits"
    pair = [str(p / "Freddie.jpg"), str(p / "Mia.jpg"), "--content-map", str(p / "Freddie_sem.png"),
            "--style-map", str(p / "Mia_sem.png"), "--features", "vgg16", "--levels", "1", "--iters", str(args.iters)]
    rows = []
    for size in args.sizes:
        cases = {search: run_case([*pair, "--size", str(size), "--search", search])
                 for search in ("approx", "exact") if search == "approx" or size <= args.exact_up_to}
        h, w = cases["approx"]["shape"]
        floor = json.loads(subprocess.run([sys.executable, "-c", FLOOR, str(h), str(w), str(args.iters)],
                                          capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        rows.append(f"| {size} | floor | {floor['per_iter']:.2f} | 1.00x | | {floor['rss_mib']:.0f} | |")
        print(rows[-1], flush=True)
        for name, row in cases.items():
            rows.append(f"| {size} | {name} ({row['search']}) | {row['per_iter']:.2f} | {row['per_iter'] / floor['per_iter']:.2f}x | "
                        f"{row['start']:.1f} | {row['rss_mib']:.0f} | {row['estimate_mib']:.0f} ({row['estimate_mib'] / row['rss_mib'] - 1:+.0%}) |")
            print(rows[-1], flush=True)
    print(f"\nMachine: {platform.processor() or platform.machine()}, {platform.platform()}, python {platform.python_version()}; "
          f"one level, {args.iters} iterations, VGG-16, Freddie -> Mia with maps (mrf-semantic)\n")
    print("| size | case | s/iter | vs floor | level start s | peak RSS MiB | estimate MiB |\n|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
