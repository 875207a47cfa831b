"""Wall time and peak memory of `sst run` against the feature network's own floor.

Runs, side by side in one invocation, for each size:
- `sst run Freddie.jpg Mia.jpg` with their maps (mrf-semantic), 3 levels x 100 iterations;
- the same with plain `mrf` and no maps;
- the floor: the feature network's forward + backward passes alone (to relu4_1),
  for the same levels, sizes and iteration count.

Each case runs in its own process, so peak memory (max RSS) is its own.

    .venv/bin/python benchmarks/transfer_speed.py --data ../shared/data --sizes 256 384
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLOOR = r"""
import json, resource, sys, time, torch
from sst.core.interfaces import PluginContext
from sst.core.models import ModelManager
from sst.core.registry import default_registry
from sst.core.synthesis import level_sizes
size, levels, iters, features = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = PluginContext(default_registry(), ModelManager(), torch.device("cpu"), print)
net = default_registry().create("features", features, ctx)
start = time.perf_counter()
for side in level_sizes(size, levels):
    x = torch.rand(1, 3, side, side, requires_grad=True)
    for _ in range(iters):
        feats = net.extract(x, ["relu3_1", "relu4_1"])
        (feats["relu3_1"].sum() + feats["relu4_1"].sum()).backward()
print(json.dumps({"seconds": time.perf_counter() - start,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run_case(args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.png"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "sst", "run", *args, "-o", str(out)], capture_output=True, text=True)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"sst run failed: {proc.stderr.strip().splitlines()[-1]}")
        sidecar = json.loads(out.with_suffix(".json").read_text())
    return {"seconds": wall, "synthesis": sum(level["seconds"] for level in sidecar["levels"]),
            "rss_mib": sidecar["peak_memory"]["process_rss_mib"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 384])
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--features", default="vgg16")
    args = parser.parse_args()
    p = args.data / "portraits"
    common = ["--levels", str(args.levels), "--iters", str(args.iters), "--features", args.features]
    rows = []
    for size in args.sizes:
        floor = subprocess.run([sys.executable, "-c", FLOOR, str(size), str(args.levels), str(args.iters), args.features],
                               capture_output=True, text=True, check=True)
        floor_row = json.loads(floor.stdout.strip().splitlines()[-1])
        cases = {
            "floor (VGG fwd+bwd only)": floor_row,
            "mrf-semantic, maps": run_case([str(p / "Freddie.jpg"), str(p / "Mia.jpg"), "--size", str(size), *common,
                                            "--content-map", str(p / "Freddie_sem.png"), "--style-map", str(p / "Mia_sem.png")]),
            "mrf, no maps": run_case([str(p / "Freddie.jpg"), str(p / "Mia.jpg"), "--size", str(size), *common, "--loss", "mrf"]),
            "mrf, no maps, --style-stride 2": run_case([str(p / "Freddie.jpg"), str(p / "Mia.jpg"), "--size", str(size), *common,
                                                        "--loss", "mrf", "--style-stride", "2"]),
        }
        for name, row in cases.items():
            synthesis = row.get("synthesis", row["seconds"])
            rows.append(f"| {size} | {name} | {row['seconds']:.1f} | {synthesis:.1f} | "
                        f"{synthesis / floor_row['seconds']:.2f}x | {row['rss_mib']:.0f} |")
            print(rows[-1], flush=True)
    print(f"\nMachine: {platform.processor() or platform.machine()}, {platform.platform()}, "
          f"python {platform.python_version()}; {args.levels} levels x {args.iters} iterations, {args.features}\n")
    print("| size | case | wall s | synthesis s | vs floor | peak RSS MiB |\n|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
