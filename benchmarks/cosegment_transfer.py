"""Does ``cosegment`` help where there are no hand-made masks? Semantic fidelity of mrf vs mrf-semantic.

For every photo pair (``inN -> tarN``) and Renoir -> Monet in ../shared/data,
in one run and with the same size, seed and iterations:

- ``mrf``: plain CNNMRF, no masks;
- ``mrf-semantic`` with ``cosegment`` masks (automatic; K chosen by silhouette
  unless ``--classes`` is given);
- ``mrf-semantic`` with the hand-made maps (what a user who draws masks gets).

Every output is scored against the hand-made maps (semantic fidelity, DESIGN.md
§5: the share of output patches whose nearest style patch carries the right
label), so the automatic masks are judged by the same yardstick as the rest.
Writes a grid per pair (content, style, the cosegment composites, the three
results) and prints a markdown table.

    .venv/bin/python benchmarks/cosegment_transfer.py --out bench-out/cosegment
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from sst.core.images import load_image, save_image
from sst.core.interfaces import PluginContext
from sst.core.masks import composite
from sst.core.metrics import measure, metric_masks
from sst.core.models import ModelManager
from sst.core.registry import default_registry
from sst.core.transfer import TransferOptions, transfer
from sst.grid import labelled_grid

from compare_methods import pairs, semantic_map

RUNS = ("mrf", "mrf-semantic + cosegment", "mrf-semantic + maps")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("bench-out/cosegment"))
    parser.add_argument("--pairs", nargs="*", help="pair names (default: every photo pair and Renoir)")
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--iters", type=int, default=30)
    parser.add_argument("--classes", type=int, help="cosegment K (default: chosen by silhouette)")
    parser.add_argument("--gamma", type=float, default=TransferOptions.gamma, help="mask weight of mrf-semantic")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    chosen = {k: v for k, v in pairs(args.data).items() if k != "Freddie" and (not args.pairs or k in args.pairs)}
    ctx = PluginContext(default_registry(), ModelManager(), torch.device("cpu"), lambda message: None)
    net = ctx.registry.create("features", "vgg16", ctx)
    base = TransferOptions(size=args.size, levels=args.levels, iters=args.iters, features="vgg16", classes=args.classes,
                           gamma=args.gamma)
    runs = {
        "mrf": replace(base, loss="mrf"),
        "mrf-semantic + cosegment": replace(base, segmenter="cosegment"),
        "mrf-semantic + maps": replace(base, segmenter="manual"),
    }
    rows = []
    started = time.perf_counter()
    for name, (content, style) in chosen.items():
        content_image, style_image = load_image(content), load_image(style)
        truth = metric_masks(content_image, [style_image], ctx, semantic_map(content), [semantic_map(style)], "manual")
        scores, tiles, k = {}, [("content", content_image), ("style", style_image)], 0
        for run, options in runs.items():
            if run.endswith("maps"):
                options = replace(options, content_map=semantic_map(content), style_maps=(semantic_map(style),))
            out = args.out / name / f"{run.replace(' + ', '_')}.png"
            result = transfer(content, [style], out, options)
            if run.endswith("cosegment"):
                seg = result.segmentation
                k = len(seg.content.labels)
                tiles += [("cosegment content", composite(seg.content)), ("cosegment style", composite(seg.styles[0]))]
            metrics = measure(content_image, [style_image], result.image, truth, ctx, net)
            scores[run] = (metrics["semantic_fidelity"]["score"], metrics["semantic_fidelity"]["chance"],
                           metrics["lpips"], result.sidecar["seconds"])
            tiles.append((run, result.image))
        save_image(args.out / name / "grid.png", labelled_grid(tiles, height=192, columns=4))
        rows.append((name, k, scores))
        print(f"{name}: K={k} " + ", ".join(f"{r} {s[0]:.2f}" for r, s in scores.items())
              + f" ({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"\n{len(rows)} pairs, {args.size} px, {args.levels} levels x {args.iters} iterations, "
          f"{args.threads} threads, {time.perf_counter() - started:.0f} s; fidelity against the hand-made maps\n")
    print("| pair | cosegment K | chance | " + " | ".join(RUNS) + " |")
    print("|---|---|---|" + "---|" * len(RUNS))
    for name, k, scores in rows:
        print(f"| {name} | {k} | {scores['mrf'][1]:.2f} | " + " | ".join(f"{scores[r][0]:.2f}" for r in RUNS) + " |")
    means = {r: np.mean([s[r][0] for _, _, s in rows]) for r in RUNS}
    chance = np.mean([s["mrf"][1] for _, _, s in rows])
    print(f"| **mean** | | {chance:.2f} | " + " | ".join(f"**{means[r]:.2f}**" for r in RUNS) + " |")
    lp = {r: np.mean([s[r][2] for _, _, s in rows]) for r in RUNS}
    print("\nmean LPIPS to the content: " + ", ".join(f"{r} {v:.3f}" for r, v in lp.items()))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
