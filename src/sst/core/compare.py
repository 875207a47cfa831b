"""Several style losses on one pair, same size, seed and masks, each measured (``sst compare``).

The pair is segmented once (``auto`` resolved as in ``sst run``) and the same masks go to every loss that
uses them and to the metrics (which read them before softening). Each loss runs in a fresh process, so the
peak memory reported is its own. Weights are each loss's own (:func:`sst.core.stylist.loss_weights`) unless
the options set them, then for every loss. The metrics (:mod:`sst.core.metrics`) use the feature network
that offers LPIPS, whatever network synthesised the images.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from pathlib import Path

from sst.core.errors import SSTError
from sst.core.images import load_image, save_image, write_atomic
from sst.core.grid import labelled_grid
from sst.core.metrics import LPIPS, LandmarkError, measure, metric_features
from sst.core.options import TransferOptions
from sst.core.registry import Registry, default_registry
from sst.core.stylist import WEIGHTS, Segmented, Stylist
from sst.core.transfer import TransferResult, transfer

def _transfer(content: Path, styles: Sequence[Path], output: Path, options: TransferOptions,
              segmented: Segmented) -> TransferResult:
    return transfer(content, styles, output, options, segmented=segmented)


def run_isolated(content: Path, styles: Sequence[Path], output: Path, options: TransferOptions,
                 segmented: Segmented) -> TransferResult:
    """:func:`transfer` in a fresh process: its peak memory is its own.

    The process comes from a fork server where there is one: on Linux a process
    started by fork and exec reports at least its parent's peak as its own.
    """
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(method)) as pool:
        return pool.submit(_transfer, content, list(styles), output, options, segmented).result()


def compare_losses(
    content: Path, styles: Sequence[Path], losses: Sequence[str] | None, output: Path, options: TransferOptions,
    notice: Callable[[str], None] = lambda message: None, *, registry: Registry | None = None,
    isolate: bool = True,
) -> list[dict]:
    """Run each of ``losses`` (None: every registered loss) on ``content`` x ``styles`` and measure it; writes
    results, ``grid.png`` and ``metrics.json`` to ``output``. ``isolate=False`` runs the losses in this process
    (their peak memory then is this process's)."""
    if output.exists() and not output.is_dir():
        raise SSTError(f"{output} exists and is not a folder; choose another --output")
    registry = registry or default_registry()
    losses = registry.names_in_order("loss") if losses is None else losses
    if not losses:
        raise SSTError("no loss to compare; name some with --losses, e.g. gram,mrf")
    factories = {name: registry.get("loss", name).factory for name in losses}
    stylist = Stylist(options, registry=registry, notice=notice)
    content_image, style_images = load_image(content), [load_image(s) for s in styles]
    segmented = stylist.segment(content_image, style_images, options.content_map, options.style_maps)
    net = metric_features(stylist.ctx)
    lpips_model, faces = LPIPS(net, stylist.models), LandmarkError(content_image, stylist.ctx)
    rows: list[dict] = []
    tiles = [("content", content_image)] + [(f"style {s.stem}", img) for s, img in zip(styles, style_images)]
    for i, name in enumerate(losses, start=1):
        notice(f"{name} ({i}/{len(losses)})")
        masked = getattr(factories[name], "uses_masks", True)
        run_options = replace(options, loss=name, content_map=options.content_map if masked else None,
                              style_maps=options.style_maps if masked else ())
        job = run_isolated if isolate else _transfer
        result = job(content, styles, output / f"{content.stem}_{name}.png", run_options, segmented)
        rows.append({
            "loss": name, "output": str(result.output), **{w: result.sidecar["options"][w] for w in WEIGHTS},
            "seconds": result.sidecar["seconds"], "peak_memory": result.sidecar["peak_memory"],
            **measure(content_image, style_images, result.image, segmented.raw, stylist.ctx, net, lpips_model, faces),
        })
        tiles.append((name, result.image))
    save_image(output / "grid.png", labelled_grid(tiles))
    report = {"content": str(content), "styles": [str(s) for s in styles],
              "segmenter": [p.as_dict() for p in segmented.plugins],
              "options": json.loads(json.dumps(asdict(options), default=str)), "results": rows}
    write_atomic(output / "metrics.json", (json.dumps(report, indent=2) + "\n").encode())
    return rows
