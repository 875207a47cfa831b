"""Do the masks steer without washing out, and do automatic scene masks help? Before/after in one run.

For Freddie -> Mia, Renoir -> Monet and the photo pairs of ../shared/data, the
same size, seed and iterations for every run:

- ``mrf``: plain CNNMRF, no masks;
- ``maps``: ``mrf-semantic`` with the hand-made maps;
- ``auto``: ``mrf-semantic`` with automatic masks (``--segmenter auto``:
  portrait masks where there is a face, cosegment elsewhere, as a user without
  maps gets).

Each runs under two trees: ``before`` (a git revision, default ``HEAD``, checked
out into a temporary worktree) and ``after`` (this checkout), each in its own
process of this script (``--produce``), which only synthesises. Every output
is then measured here, by this checkout's metrics against the hand-made maps:
semantic fidelity, LPIPS to the content, region ratio, texture energy (the
result's fine detail; masks that wash the brushwork out lower it) and, on the
portrait, the landmark error; region texture (each region's texture energy over
its own style region's: below 1 washed out, above 1 detail taken from elsewhere). ``--gammas`` runs ``maps`` and ``auto`` of the
after tree at several mask weights (calibration); the before tree runs at its
own default. Writes OUT/PAIR.png (content, style, every result) and prints the
tables.

    .venv/bin/python benchmarks/semantic_masks.py --out bench-out/masks --before HEAD
    .venv/bin/python benchmarks/semantic_masks.py --trees after --runs mrf,maps --gammas 1,2,4 --pairs in6 in26
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ("mrf", "maps", "auto")


def produce(jobs: list[dict], out: Path, size: int, levels: int, iters: int) -> None:
    """Synthesise every job with the ``sst`` on ``sys.path`` (one tree), writing OUT/NAME.png."""
    import torch

    import sst
    from sst.core import registry
    from sst.core.transfer import TransferOptions, transfer

    # Built-in plugins only: an installed third-party package may use hooks an older tree does not know.
    registry.Registry._load_entry_points = lambda self: None

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    print(f"sst from {Path(sst.__file__).parent}", flush=True)
    base = TransferOptions(size=size, levels=levels, iters=iters, features="vgg16", seed=0)
    for job in jobs:
        options = replace(base, loss=job["loss"], segmenter=job["segmenter"])
        if job["gamma"] is not None:
            options = replace(options, gamma=job["gamma"])
        if job["segmenter"] == "manual":
            options = replace(options, content_map=Path(job["content_map"]), style_maps=(Path(job["style_map"]),))
        started = time.perf_counter()
        transfer(job["content"], [job["style"]], out / f"{job['name']}.png", options)
        print(f"{job['name']}: {time.perf_counter() - started:.0f} s", flush=True)


def jobs_for(pairs: dict[str, tuple[Path, Path]], runs: list[str], gammas: list[float | None]) -> list[dict]:
    from compare_methods import semantic_map

    jobs = []
    for pair, (content, style) in pairs.items():
        common = {"content": str(content), "style": str(style), "content_map": str(semantic_map(content)),
                  "style_map": str(semantic_map(style))}
        if "mrf" in runs:
            jobs.append({**common, "name": f"{pair}__mrf", "loss": "mrf", "segmenter": "auto", "gamma": None})
        for gamma in gammas:
            tag = "" if gamma is None else f"@{gamma:g}"
            for run, segmenter in (("maps", "manual"), ("auto", "auto")):
                if run not in runs:
                    continue
                jobs.append({**common, "name": f"{pair}__{run}{tag}", "loss": "mrf-semantic", "segmenter": segmenter,
                             "gamma": gamma})
    return jobs


def run_tree(tree: Path, jobs: list[dict], out: Path, args: argparse.Namespace) -> None:
    out.mkdir(parents=True, exist_ok=True)
    spec = out / "jobs.json"
    spec.write_text(json.dumps(jobs))
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "OMP_NUM_THREADS": str(args.threads)}
    subprocess.run([sys.executable, __file__, "--produce", str(spec), "--out", str(out), "--size", str(args.size),
                    "--levels", str(args.levels), "--iters", str(args.iters)], env=env, check=True)


def measure_all(pairs: dict[str, tuple[Path, Path]], columns: dict[str, Path], out: Path) -> dict[str, dict[str, dict]]:
    """pair -> column -> metrics; column names are ``tree/run[@gamma]``, images at ``columns[tree]/pair__run.png``."""
    import torch

    from compare_methods import semantic_map
    from sst.core.images import load_image, save_image
    from sst.core.interfaces import PluginContext
    from sst.core.metrics import LPIPS, LandmarkError, measure
    from sst.core.options import TransferOptions
    from sst.core.stylist import Stylist
    from sst.core.models import ModelManager
    from sst.core.registry import default_registry
    from sst.core.grid import labelled_grid

    ctx = PluginContext(default_registry(), ModelManager(), torch.device("cpu"), lambda message: None)
    net = ctx.registry.create("features", "vgg16", ctx)
    lpips = LPIPS(net, ctx.models)
    results: dict[str, dict[str, dict]] = {}
    for pair, (content, style) in pairs.items():
        images = [load_image(content), load_image(style)]
        truth = Stylist(TransferOptions(segmenter="manual", features="vgg16")).segment(
            images[0], images[1:], semantic_map(content), [semantic_map(style)]).raw
        faces = LandmarkError(images[0], ctx)
        tiles = [("content", images[0]), ("style", images[1])]
        results[pair] = {}
        for column, folder in columns.items():
            tree, run = column.split("/")
            path = folder / f"{pair}__{run}.png"
            if not path.exists():
                continue
            output = load_image(path)
            results[pair][column] = measure(images[0], images[1:], output, truth, ctx, net, lpips, faces)
            tiles.append((column, output))
        save_image(out / f"{pair}.png", labelled_grid(tiles, height=192, columns=4))
        print(f"measured {pair}", flush=True)
    return results


def value(metrics: dict, name: str) -> float:
    found = {"fidelity": metrics["semantic_fidelity"]["score"], "LPIPS": metrics["lpips"],
             "region ratio": metrics["region_style_distance"]["ratio"], "texture": metrics["texture_energy"],
             "region texture": metrics["region_texture"]["ratio"],
             "face error": metrics["face"].get("error")}[name]
    return math.nan if found is None else float(found)


def tables(results: dict[str, dict[str, dict]], columns: list[str]) -> str:
    out = []
    for name in ("fidelity", "LPIPS", "region ratio", "texture", "region texture", "face error"):
        lines = [f"#### {name}\n", "| pair | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
        sums: dict[str, list[float]] = {c: [] for c in columns}
        for pair, row in results.items():
            cells = []
            for c in columns:
                v = value(row[c], name) if c in row else math.nan
                cells.append("-" if math.isnan(v) else f"{v:.{1 if name == 'texture' else 3}f}")
                if not math.isnan(v):
                    sums[c].append(v)
            if any(cell != "-" for cell in cells):
                lines.append(f"| {pair} | " + " | ".join(cells) + " |")
        lines.append("| **mean** | " + " | ".join(
            f"**{sum(v) / len(v):.{1 if name == 'texture' else 3}f}**" if v else "-" for v in sums.values()) + " |")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("bench-out/masks"))
    parser.add_argument("--pairs", nargs="*", help="pair names (default: all): Freddie Renoir in1 in6 ...")
    parser.add_argument("--before", default="HEAD", help="git revision of the before tree")
    parser.add_argument("--trees", default="before,after")
    parser.add_argument("--runs", default=",".join(RUNS), help="of mrf, maps, auto")
    parser.add_argument("--gammas", help="after tree: mrf-semantic at these mask weights (default: its default)")
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--produce", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.produce:
        produce(json.loads(args.produce.read_text()), args.out, args.size, args.levels, args.iters)
        return
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from compare_methods import pairs as all_pairs

    pairs = {k: v for k, v in all_pairs(args.data).items() if not args.pairs or k in args.pairs}
    gammas = [float(g) for g in args.gammas.split(",")] if args.gammas else [None]
    trees = args.trees.split(",")
    started = time.perf_counter()
    columns: dict[str, Path] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for tree in trees:
            if tree == "before":
                root = Path(scratch) / "before"
                subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(root), args.before],
                               check=True, capture_output=True)
                tree_gammas: list[float | None] = [None]
            else:
                root, tree_gammas = ROOT, gammas
            try:
                jobs = jobs_for(pairs, args.runs.split(","), tree_gammas)
                run_tree(root, jobs, args.out / tree, args)
            finally:
                if tree == "before":
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(root)], check=True)
            for job in jobs:
                columns[f"{tree}/{job['name'].split('__')[1]}"] = args.out / tree
    results = measure_all(pairs, columns, args.out)
    (args.out / "summary.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{len(pairs)} pairs, {args.size} px, {args.levels} levels x {args.iters} iterations, seed 0, VGG-16, "
          f"{args.threads} threads, before = {args.before}; {time.perf_counter() - started:.0f} s in all\n")
    print(tables(results, list(columns)))
    print(region_texture_split(results, list(columns)))


def region_texture_split(results: dict[str, dict[str, dict]], columns: list[str], reference: str = "after/mrf") -> str:
    """Mean region texture per column over the labels (all pairs) where ``reference`` stays at or below its
    style region's detail, and over those where it goes above (detail pasted in from other regions)."""
    split: dict[bool, dict[str, list[float]]] = {False: {c: [] for c in columns}, True: {c: [] for c in columns}}
    for row in results.values():
        if reference not in row:
            continue
        for label, ref in row[reference]["region_texture"]["per_label"].items():
            values = {c: row[c]["region_texture"]["per_label"].get(label) for c in columns if c in row}
            if ref is None or any(v is None for v in values.values()) or len(values) < len(columns):
                continue
            for c, v in values.items():
                split[ref > 1][c].append(v)
    lines = [f"#### region texture, labels split by {reference}\n", "| labels | n | " + " | ".join(columns) + " |",
             "|---|---|" + "---|" * len(columns)]
    for above, name in ((False, "<= 1"), (True, "> 1")):
        n = len(split[above][columns[0]]) if columns else 0
        if n:
            lines.append(f"| {reference} {name} | {n} | " + " | ".join(
                f"{sum(v) / len(v):.3f}" for v in split[above].values()) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
