"""A mask that carries no information must not change the matches: mrf-semantic with one all-ones mask
against plain mrf (astronaut -> coffee from scikit-image, 160 px, VGG-16 relu3_1, exact search).

Prints the share of matches that differ from plain mrf's, the matched style patches' mean norm relative to
the style's mean patch norm, and the number of distinct style patches used. ``--trees`` runs the same
measurement under other checkouts (e.g. a worktree of an older revision) through PYTHONPATH, one process each:

    .venv/bin/python benchmarks/constant_mask.py --trees /tmp/before .
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


def measure(gamma: float) -> dict:
    import torch
    from skimage import data

    import sst
    from sst.core.images import resize_long_side, to_tensor
    from sst.core.interfaces import LossOptions, PluginContext, StyleTargets
    from sst.core.models import ModelManager
    from sst.core.patches import unfold_patches
    from sst.core.registry import default_registry
    from sst.plugins.losses.mrf import MRFLoss, SemanticMRFLoss

    ctx = PluginContext(default_registry(), ModelManager(), torch.device("cpu"), lambda m: None)
    net = ctx.registry.create("features", "vgg16", ctx)
    content, style = (resize_long_side(im, 160) for im in (data.astronaut(), data.coffee()))
    layer = "relu3_1"
    with torch.no_grad():
        cf = {k: v[0] for k, v in net.extract(to_tensor(content), MRFLoss.layers).items()}
        sf = {k: v[0] for k, v in net.extract(to_tensor(style), MRFLoss.layers).items()}
    ones = [torch.ones(1, *im.shape[:2]) for im in (content, style)]
    matches = {}
    for cls in (MRFLoss, SemanticMRFLoss):
        loss = cls(ctx, LossOptions(gamma=gamma, search="exact"))
        loss.prepare(StyleTargets([sf], [ones[1]], ones[0]))
        with torch.no_grad():
            loss(cf)
        matches[cls.__name__] = loss.last_matches[layer][1]
    norms = unfold_patches(sf[layer]).norm(dim=0)
    plain, semantic = matches["MRFLoss"], matches["SemanticMRFLoss"]
    return {"sst": str(Path(sst.__file__).parent), "gamma": gamma,
            "differing": float((plain != semantic).float().mean()),
            "norm_plain": float(norms[plain].mean() / norms.mean()),
            "norm_semantic": float(norms[semantic].mean() / norms.mean()),
            "distinct_plain": int(plain.unique().numel()), "distinct_semantic": int(semantic.unique().numel())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", nargs="+", type=Path, help="checkouts to measure (default: this one)")
    parser.add_argument("--gamma", type=float, help="default: each tree's own default")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json or not args.trees:
        from sst.core.interfaces import LossOptions

        result = measure(LossOptions().gamma if args.gamma is None else args.gamma)
        print(json.dumps(result) if args.json else result)
        return
    print("| tree | gamma | matches differing from mrf | matched norm / style mean (mrf) | distinct patches (mrf) |")
    print("|---|---|---|---|---|")
    for tree in args.trees:
        env = {**os.environ, "PYTHONPATH": str(tree.resolve() / "src")}
        extra = [] if args.gamma is None else ["--gamma", str(args.gamma)]
        out = subprocess.run([sys.executable, __file__, "--json", *extra], env=env, check=True, capture_output=True,
                             text=True).stdout.strip().splitlines()[-1]
        r = json.loads(out)
        print(f"| {r['sst']} | {r['gamma']:g} | {r['differing']:.0%} | {r['norm_semantic']:.2f} ({r['norm_plain']:.2f}) | "
              f"{r['distinct_semantic']} ({r['distinct_plain']}) |")


if __name__ == "__main__":
    main()
