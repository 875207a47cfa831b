"""GPU timing of one synthesis level: exact vs approximate search, fp32 vs half-precision search vectors.

Run it on a machine with CUDA (the device tool's machine): Freddie -> Mia with
maps (mrf-semantic, VGG-16), one level at 1024 and 2048 px, a few iterations
each, every case in its own process; prints per-iteration seconds (the level's
start left out), the CUDA peak and the final style loss (half precision must
keep it within 5 % of fp32), with the GPU's name.

    python benchmarks/gpu_speed.py --data ../shared/data --sizes 1024 2048 --iters 6
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch


def run_case(args: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.png"
        proc = subprocess.run([sys.executable, "-m", "sst", "run", *args, "-o", str(out)], capture_output=True, text=True)
        if proc.returncode != 0:
            return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
        sidecar = json.loads(out.with_suffix(".json").read_text())
    level = sidecar["levels"][-1]
    return {"per_iter": (level["seconds"] - level["start_seconds"]) / max(1, level["iterations"] - 1),
            "cuda_mib": sidecar["peak_memory"].get("cuda_mib", 0.0), "style_loss": level["loss"]["style"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--iters", type=int, default=6)
    parser.add_argument("--exact-up-to", type=int, default=2048)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device; run this on the GPU machine")
    p = args.data / "portraits"
    pair = [str(p / "Freddie.jpg"), str(p / "Mia.jpg"), "--content-map", str(p / "Freddie_sem.png"),
            "--style-map", str(p / "Mia_sem.png"), "--features", "vgg16", "--levels", "1",
            "--iters", str(args.iters), "--device", "cuda"]
    print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}; one level, {args.iters} iterations\n")
    print("| size | search | precision | s/iter | CUDA peak MiB | final style loss |\n|---|---|---|---|---|---|", flush=True)
    for size in args.sizes:
        for search in ("exact", "approx"):
            if search == "exact" and size > args.exact_up_to:
                continue
            for precision in ("fp32", "fp16", "bf16"):
                row = run_case([*pair, "--size", str(size), "--search", search, "--search-precision", precision])
                if "error" in row:
                    print(f"| {size} | {search} | {precision} | {row['error']} | | |", flush=True)
                else:
                    print(f"| {size} | {search} | {precision} | {row['per_iter']:.3f} | {row['cuda_mib']:.0f} | "
                          f"{row['style_loss']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
