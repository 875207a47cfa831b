"""Approximate (PatchMatch) against exact nearest-patch search: the same runs, the same seeds, measured.

For Freddie -> Mia and photo pairs of ../shared/data, each with its hand-made
maps, ``mrf-semantic`` runs twice, ``--search exact`` and ``--search approx``,
everything else equal; both results are measured against the hand-made maps
(semantic fidelity, LPIPS to the content) and by the final style loss of the
finest level, and laid side by side in ``OUT/PAIR.png`` (content, style,
exact, approx).

    .venv/bin/python benchmarks/search_quality.py --out bench-out/search --size 384
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch

from sst.core.images import load_image, save_image
from sst.core.interfaces import PluginContext
from sst.core.metrics import LPIPS, measure
from sst.core.models import ModelManager
from sst.core.registry import default_registry
from sst.core.stylist import Stylist
from sst.core.transfer import TransferOptions, transfer
from sst.core.grid import labelled_grid

PAIRS = {"Freddie": ("portraits/Freddie.jpg", "portraits/Mia.jpg"),
         **{f"in{n}": (f"photo-pairs/in{n}.png", f"photo-pairs/tar{n}.png") for n in (1, 6, 26, 44)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--out", type=Path, default=Path("bench-out/search"))
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--iters", default="100,50,30")
    parser.add_argument("--pairs", nargs="+", default=list(PAIRS))
    args = parser.parse_args()
    ctx = PluginContext(default_registry(), ModelManager(), torch.device("cpu"), lambda m: None)
    net = default_registry().create("features", "vgg16", ctx)
    lpips = LPIPS(net, ctx.models)
    rows, started = [], time.perf_counter()
    for name in args.pairs:
        content, style = (args.data / p for p in PAIRS[name])
        maps = [p.with_name(p.stem + "_sem.png") for p in (content, style)]
        base = TransferOptions(size=args.size, iters=args.iters, features="vgg16", content_map=maps[0],
                               style_maps=(maps[1],), seed=0)
        images = [load_image(content), load_image(style)]
        segmentation = Stylist(base).segment(images[0], images[1:], maps[0], maps[1:]).raw
        measured = {}
        for search in ("exact", "approx"):
            result = transfer(content, [style], None, replace(base, search=search))
            m = measure(images[0], images[1:], result.image, segmentation, ctx, net, lpips)
            measured[search] = {"fidelity": m["semantic_fidelity"]["score"], "lpips": m["lpips"],
                                "style_loss": result.levels[-1].loss["style"], "seconds": result.sidecar["seconds"],
                                "image": result.image}
        args.out.mkdir(parents=True, exist_ok=True)
        save_image(args.out / f"{name}.png", labelled_grid([("content", images[0]), ("style", images[1]),
                                                            ("exact", measured["exact"]["image"]),
                                                            ("approx", measured["approx"]["image"])], height=384))
        e, a = measured["exact"], measured["approx"]
        rows.append(f"| {name} | {e['fidelity']:.3f} / {a['fidelity']:.3f} ({a['fidelity'] - e['fidelity']:+.3f}) | "
                    f"{e['lpips']:.3f} / {a['lpips']:.3f} ({a['lpips'] - e['lpips']:+.3f}) | "
                    f"{e['style_loss']:.3f} / {a['style_loss']:.3f} ({a['style_loss'] / e['style_loss'] - 1:+.1%}) | "
                    f"{e['seconds']:.0f} / {a['seconds']:.0f} |")
        print(rows[-1], flush=True)
        (args.out / f"{name}.json").write_text(json.dumps({k: {x: y for x, y in v.items() if x != "image"}
                                                            for k, v in measured.items()}, indent=2) + "\n")
    print(f"\nMachine: {platform.processor() or platform.machine()}, {platform.platform()}; {args.size} px, "
          f"iterations {args.iters}, mrf-semantic, VGG-16, hand-made maps, seed 0; {time.perf_counter() - started:.0f} s\n")
    print("| pair | fidelity exact / approx | LPIPS exact / approx | final style loss exact / approx | seconds exact / approx |\n"
          "|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
