"""The style losses side by side on every pair in ../shared/data with hand-made maps (DESIGN.md §5).

Pairs: portraits Freddie -> Mia; landscapes Renoir -> Monet (both paintings
have maps; the doodles Coastline_sem/Landscape_sem are maps without a content
image, so content loss and LPIPS have nothing to measure: skipped); photo pairs
inN -> tarN. Every loss runs through ``sst compare``'s pipeline at one small
size with few iterations (192 px, 3 levels x 30): all 12 pairs x 5 losses took
19 minutes here, one thread per run on a busy 2-core machine. The figures rank
methods; they are not the paper's quality (100 iterations, 384 px, noise
start). Prints a markdown table per loss and writes each pair's results,
grid.png and metrics.json.

    .venv/bin/python benchmarks/compare_methods.py --out bench-out/compare
    .venv/bin/python benchmarks/compare_methods.py --pairs Freddie in6 --iters 20
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch

from sst.core.compare import compare_losses
from sst.core.transfer import TransferOptions

PHOTO_PAIRS = (1, 6, 11, 12, 25, 26, 27, 35, 40, 44)


def pairs(data: Path) -> dict[str, tuple[Path, Path]]:
    """name -> (content, style); each image's map is beside it as NAME_sem.png."""
    found = {"Freddie": (data / "portraits" / "Freddie.jpg", data / "portraits" / "Mia.jpg"),
             "Renoir": (data / "landscapes" / "Renoir.jpg", data / "landscapes" / "Monet.jpg")}
    found.update({f"in{n}": (data / "photo-pairs" / f"in{n}.png", data / "photo-pairs" / f"tar{n}.png")
                  for n in PHOTO_PAIRS})
    return found


def semantic_map(image: Path) -> Path:
    return image.with_name(f"{image.stem}_sem.png")


def cell(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def mean(values: tuple[float, ...]) -> float:
    """Mean of the defined values (NaN: not measured)."""
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def table(loss: str, results: dict[str, dict]) -> str:
    """One markdown table: a row per pair and the mean over pairs."""
    head = ("| pair | semantic fidelity (chance) | LPIPS | region ratio | face error | seconds | peak MiB |\n"
            "|---|---|---|---|---|---|---|")
    lines, columns = [head], []
    for pair, row in results.items():
        face = row["face"].get("error")
        values = [row["semantic_fidelity"]["score"], row["semantic_fidelity"]["chance"], row["lpips"],
                  row["region_style_distance"]["ratio"], face, row["seconds"], row["peak_memory"]["process_rss_mib"]]
        columns.append([math.nan if v is None else v for v in values])
        lines.append(f"| {pair} | {cell(values[0])} ({cell(values[1])}) | {cell(values[2])} | {cell(values[3])} | "
                     f"{cell(face)} | {cell(values[5], 0)} | {cell(values[6], 0)} |")
    means = [mean(column) for column in zip(*columns)]
    lines.append(f"| **mean** | {cell(means[0])} ({cell(means[1])}) | {cell(means[2])} | {cell(means[3])} | "
                 f"{cell(means[4])} | {cell(means[5], 0)} | {cell(means[6], 0)} |")
    return f"### {loss}\n\n" + "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("bench-out/compare"))
    parser.add_argument("--pairs", nargs="+", help="pair names (default: all): Freddie Renoir in1 in6 ...")
    parser.add_argument("--losses", default="gram,gram-guided,doodle,mrf,mrf-semantic")
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (steadier times on a busy machine)")
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the runs' fresh processes read it
    torch.set_num_threads(args.threads)
    chosen = {k: v for k, v in pairs(args.data).items() if not args.pairs or k in args.pairs}
    losses = [name.strip() for name in args.losses.split(",")]
    results: dict[str, dict[str, dict]] = {loss: {} for loss in losses}
    started = time.perf_counter()
    for name, (content, style) in chosen.items():
        options = TransferOptions(size=args.size, levels=args.levels, iters=args.iters, content_map=semantic_map(content),
                                  style_maps=(semantic_map(style),), features="vgg16")
        rows = compare_losses(content, [style], losses, args.out / name, options, notice=lambda m: None)
        for row in rows:
            results[row["loss"]][name] = row
        print(f"{name}: done ({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"\n{len(chosen)} pairs, {args.size} px, {args.levels} levels x {args.iters} iterations, "
          f"{args.threads} thread(s), "
          f"{time.perf_counter() - started:.0f} s in all\n")
    print("\n\n".join(table(loss, rows) for loss, rows in results.items()))
    (args.out / "summary.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
