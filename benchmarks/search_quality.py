"""Approximate (PatchMatch) against exact nearest-patch search: the same runs, the same seeds, measured.

For Freddie -> Mia and photo pairs of ../shared/data, each with its hand-made
maps, ``mrf-semantic`` runs with ``--search exact`` and with ``--search approx``
(once per ``--seeds``: the seed draws PatchMatch's random candidates; the exact
search draws nothing at random with content init, so it runs once), everything
else equal. Every result is measured against the hand-made maps (semantic
fidelity, LPIPS to the content) and by its style loss *with exact matches*
(the finest level's loss of the final image, each search's result scored by the
same exhaustive search, so that both are judged by the objective itself and not
by their own matches), and laid side by side in ``OUT/PAIR.png`` (content,
style, exact, approx at the first seed).

    .venv/bin/python benchmarks/search_quality.py --out bench-out/search --size 384 --iters 100,60,30
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from sst.core.grid import labelled_grid
from sst.core.images import load_image, resize_long_side, save_image, to_tensor
from sst.core.metrics import LPIPS, measure
from sst.core.stylist import Stylist
from sst.core.synthesis import level_targets
from sst.core.transfer import TransferOptions

PAIRS = {"Freddie": ("portraits/Freddie.jpg", "portraits/Mia.jpg"),
         **{f"in{n}": (f"photo-pairs/in{n}.png", f"photo-pairs/tar{n}.png") for n in (1, 6, 26, 44)}}


def exact_style_loss(stylist: Stylist, image: np.ndarray, styles: list[np.ndarray], soft) -> float:
    """The style loss of ``image`` (the finest level's size) with exact nearest patches."""
    exact = stylist.variant(search="exact")
    loss = exact.new_loss()
    h, w = image.shape[:2]
    styles_l = [resize_long_side(s, round(max(h, w) * exact.options.style_scale)) for s in styles]
    loss.prepare(level_targets(styles_l, (h, w), exact.net, loss.layers, exact.device, soft))
    feats = {k: v[0] for k, v in exact.net.extract(to_tensor(image, exact.device), loss.layers).items()}
    return float(loss(feats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("bench-out/search"))
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--iters", default="100,60,30")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS))
    args = parser.parse_args()
    rows, started, lpips = [], time.perf_counter(), None
    for name in args.pairs:
        content, style = (args.data / p for p in PAIRS[name])
        maps = [p.with_name(p.stem + "_sem.png") for p in (content, style)]
        base = Stylist(TransferOptions(size=args.size, iters=args.iters, features="vgg16", loss="mrf-semantic",
                                       content_map=maps[0], style_maps=(maps[1],), seed=args.seeds[0]))
        lpips = lpips or LPIPS(base.net, base.ctx.models)
        images = [load_image(content), load_image(style)]
        segmented = base.segment(images[0], images[1:], maps[0], maps[1:])
        runs = [("exact", args.seeds[0])] + [("approx", seed) for seed in args.seeds]
        measured: dict[str, list[dict]] = {"exact": [], "approx": []}
        for search, seed in runs:
            stylist = base.variant(search=search, seed=seed)
            tick = time.perf_counter()
            result = stylist.stylise(images[0], images[1:], segmented)
            seconds = time.perf_counter() - tick
            m = measure(images[0], images[1:], result.image, segmented.raw, base.ctx, base.net, lpips)
            measured[search].append({
                "seed": seed, "fidelity": m["semantic_fidelity"]["score"], "lpips": m["lpips"],
                "style_loss": exact_style_loss(base, result.image, images[1:], segmented.soft),
                "own_style_loss": result.levels[-1].loss["style"], "seconds": seconds, "image": result.image})
            print(f"{name} {search} seed {seed}: " + ", ".join(
                f"{k} {v:.4f}" for k, v in measured[search][-1].items() if k not in ("image", "seed")), flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
        e, approx = measured["exact"][0], measured["approx"]
        save_image(args.out / f"{name}.png", labelled_grid([("content", images[0]), ("style", images[1]),
                                                            ("exact", e["image"]),
                                                            (f"approx seed {approx[0]['seed']}", approx[0]["image"])],
                                                           height=384))

        def cell(key: str, ratio: bool = False) -> str:
            values = [a[key] for a in approx]
            mean = statistics.fmean(values)
            spread = f" [{min(values):.3f}..{max(values):.3f}]" if len(values) > 1 else ""
            gap = f"{mean / e[key] - 1:+.1%}" if ratio else f"{mean - e[key]:+.3f}"
            return f"{e[key]:.3f} / {mean:.3f}{spread} ({gap})"

        rows.append(f"| {name} | {cell('fidelity')} | {cell('lpips')} | {cell('style_loss', True)} | "
                    f"{e['seconds']:.0f} / {statistics.fmean(a['seconds'] for a in approx):.0f} |")
        print(rows[-1], flush=True)
        (args.out / f"{name}.json").write_text(json.dumps(
            {k: [{x: y for x, y in r.items() if x != "image"} for r in v] for k, v in measured.items()},
            indent=2) + "\n")
    print(f"\nMachine: {platform.processor() or platform.machine()}, {platform.platform()}; {args.size} px, "
          f"iterations {args.iters}, mrf-semantic, VGG-16, hand-made maps; approx: mean [min..max] over seeds "
          f"{' '.join(map(str, args.seeds))}; {time.perf_counter() - started:.0f} s\n")
    print("| pair | fidelity exact / approx | LPIPS exact / approx | style loss (exact matches) exact / approx | "
          "seconds exact / approx |\n|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
