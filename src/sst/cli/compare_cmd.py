"""``sst compare``: several style losses on one pair, same size, seed and masks, each measured.

Writes to the output folder every result (``CONTENT_LOSS.png`` with its JSON
sidecar), ``grid.png`` (content, styles and results side by side, labelled) and
``metrics.json``, and prints the metrics as a table. Each loss runs in a fresh
process, so the peak memory reported is its own. Weights are each loss's own
(:func:`sst.core.stylist.loss_weights`, as in ``sst run``);
``--content-weight``/``--style-weight``/``--tv-weight`` override them for every
loss. The segmenter is resolved once (``auto`` as in ``sst run``), so every loss
and the metrics read the same masks; the metrics (:mod:`sst.core.metrics`) use
VGG-16 and the masks before softening.
"""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated, Optional

import torch
import typer
from rich.console import Console
from rich.table import Table

from sst.core.errors import SSTError
from sst.core.images import load_image, save_image, write_atomic
from sst.core.interfaces import PluginContext
from sst.core.metrics import LPIPS, LandmarkError, measure, metric_masks
from sst.core.models import ModelManager
from sst.core.registry import default_registry
from sst.core.stylist import WEIGHTS, resolve_segmenter
from sst.core.transfer import TransferOptions, TransferResult, transfer
from sst.grid import labelled_grid

LOSSES = "gram,gram-guided,doodle,mrf,mrf-semantic"


def _transfer(content: Path, styles: Sequence[Path], output: Path, options: TransferOptions) -> TransferResult:
    return transfer(content, styles, output, options)


def run_isolated(content: Path, styles: Sequence[Path], output: Path, options: TransferOptions) -> TransferResult:
    """:func:`transfer` in a fresh process: its peak memory is its own.

    The process comes from a fork server where there is one: on Linux a process
    started by fork and exec reports at least its parent's peak as its own.
    """
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context(method)) as pool:
        return pool.submit(_transfer, content, list(styles), output, options).result()


def compare_losses(
    content: Path, styles: Sequence[Path], losses: Sequence[str], output: Path, options: TransferOptions,
    notice: Callable[[str], None] = lambda message: None,
) -> list[dict]:
    """Run every loss on ``content`` x ``styles`` and measure it; writes results, grid and metrics to ``output``."""
    if output.exists() and not output.is_dir():
        raise SSTError(f"{output} exists and is not a folder; choose another --output")
    if not losses:
        raise SSTError("no loss to compare; name some with --losses, e.g. gram,mrf")
    registry = default_registry()
    factories = {name: registry.get("loss", name).factory for name in losses}
    ctx = PluginContext(registry, ModelManager(), torch.device("cpu"), notice)
    content_image, style_images = load_image(content), [load_image(s) for s in styles]
    maps_given = options.content_map is not None or bool(options.style_maps)
    options = replace(options, segmenter=resolve_segmenter(options.segmenter, maps_given, ctx, content_image))
    segmentation = metric_masks(content_image, style_images, ctx, options.content_map, options.style_maps,
                                options.segmenter, options.classes)
    for note in segmentation.notes:
        notice(note)
    net = registry.create("features", "vgg16", ctx)
    lpips_model = LPIPS(net, ctx.models)
    faces = LandmarkError(content_image, ctx)
    rows: list[dict] = []
    tiles = [("content", content_image)] + [(f"style {s.stem}", img) for s, img in zip(styles, style_images)]
    for i, name in enumerate(losses, start=1):
        notice(f"{name} ({i}/{len(losses)})")
        masked = getattr(factories[name], "uses_masks", True)
        run_options = replace(options, loss=name, content_map=options.content_map if masked else None,
                              style_maps=options.style_maps if masked else ())
        result = run_isolated(content, styles, output / f"{content.stem}_{name}.png", run_options)
        rows.append({
            "loss": name, "output": str(result.output), **{w: result.sidecar["options"][w] for w in WEIGHTS},
            "seconds": result.sidecar["seconds"], "peak_memory": result.sidecar["peak_memory"],
            **measure(content_image, style_images, result.image, segmentation, ctx, net, lpips_model, faces),
        })
        tiles.append((name, result.image))
    save_image(output / "grid.png", labelled_grid(tiles))
    report = {"content": str(content), "styles": [str(s) for s in styles],
              "options": json.loads(json.dumps(asdict(options), default=str)), "results": rows}
    write_atomic(output / "metrics.json", (json.dumps(report, indent=2) + "\n").encode())
    return rows


def _number(value: object, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else "-"


def metrics_table(rows: Sequence[dict]) -> Table:
    """The comparison as a rich table: one row per loss."""
    table = Table("loss", "semantic fidelity (chance)", "LPIPS", "region ratio", "texture", "face error", "seconds",
                  "peak MiB")
    for row in rows:
        fidelity, region, face = row["semantic_fidelity"], row["region_style_distance"], row["face"]
        table.add_row(
            row["loss"], f"{_number(fidelity.get('score'))} ({_number(fidelity.get('chance'))})",
            _number(row["lpips"]), _number(region.get("ratio")), _number(row["texture_energy"], 1),
            _number(face.get("error")) if "skipped" not in face else "skipped",
            f"{row['seconds']:.1f}", f"{row['peak_memory']['process_rss_mib']:.0f}",
        )
    return table


def compare(
    content: Annotated[Path, typer.Argument(help="Content image.")],
    style: Annotated[list[Path], typer.Argument(help="One or more style images.")],
    losses: Annotated[str, typer.Option(help="Comma-separated style losses to compare.")] = LOSSES,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the results, grid.png and metrics.json.")] = Path("compare-out"),
    size: Annotated[int, typer.Option(help="Long side of the results, px.")] = 256,
    levels: Annotated[int, typer.Option(help="Resolutions, coarse to fine.")] = 3,
    iters: Annotated[str, typer.Option(help="L-BFGS iterations: one number for every level, or one per level (200,100,50).")] = "100",
    seed: Annotated[int, typer.Option(help="Random seed, the same for every loss.")] = 0,
    content_map: Annotated[Optional[Path], typer.Option(help="Colour-coded semantic map of the content.")] = None,
    style_map: Annotated[Optional[list[Path]], typer.Option(help="Colour-coded map of a style image; once per style.")] = None,
    segmenter: Annotated[str, typer.Option(help="Segmenter plugin; auto as in 'sst run'.")] = "auto",
    classes: Annotated[Optional[int], typer.Option(help="Labels the segmenter keeps (crfrnn, cosegment).", show_default=False)] = None,
    softener: Annotated[str, typer.Option(help="Mask softener for the semantic losses.")] = "gaussian",
    features: Annotated[str, typer.Option(help="Feature network for synthesis: vgg19, vgg16 or auto.")] = "auto",
    init: Annotated[str, typer.Option(help="Start from the content image or from noise: content|random.")] = "content",
    gamma: Annotated[float, typer.Option(help="Mask weight of mrf-semantic: what a patch of a wholly other region loses against the features' NCC (0..1); 0 is plain mrf. Not the paper's gamma: see README.")] = 2.0,
    semantic_weight: Annotated[Optional[float], typer.Option(help="Semantic weight of doodle [default: 100].", show_default=False)] = None,
    style_rotations: Annotated[int, typer.Option(help="Also match style patches rotated by k*pi/24, k=-N..N (patch losses).")] = 0,
    style_scales: Annotated[int, typer.Option(help="Also match style patches scaled by 1.05**k, k=-N..N (patch losses).")] = 0,
    content_weight: Annotated[Optional[float], typer.Option(help="Content weight for every loss (default: each loss's own).")] = None,
    style_weight: Annotated[Optional[float], typer.Option(help="Style weight for every loss (default: each loss's own).")] = None,
    tv_weight: Annotated[Optional[float], typer.Option(help="TV weight for every loss (default: each loss's own).")] = None,
    style_scale: Annotated[float, typer.Option(help="Style size relative to the result's at every level.")] = 1.0,
    search: Annotated[str, typer.Option(help="Nearest-patch search: exact, approx (PatchMatch) or auto.")] = "auto",
    search_precision: Annotated[str, typer.Option(help="Precision of the search's vectors: fp32, or fp16/bf16 with --device cuda.")] = "fp32",
    force: Annotated[bool, typer.Option("--force", help="Run even when the memory estimate exceeds the memory available.")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
) -> None:
    """Stylise CONTENT with each of several losses; write the results, a grid and a metrics table."""
    options = TransferOptions(
        size=size, levels=levels, iters=iters, seed=seed, gamma=gamma, semantic_weight=semantic_weight,
        content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
        style_rotations=style_rotations, style_scales=style_scales, features=features, init=init,
        segmenter=segmenter, classes=classes, softener=softener, content_map=content_map,
        style_maps=tuple(style_map or ()), device=device, style_scale=style_scale, search=search,
        search_precision=search_precision, force=force,
    )
    err = Console(stderr=True)
    rows = compare_losses(
        content, style, [name.strip() for name in losses.split(",") if name.strip()], output, options,
        notice=lambda message: err.print(f"[cyan]note:[/cyan] {message}", highlight=False, soft_wrap=True),
    )
    Console().print(metrics_table(rows))
    err.print(f"wrote {output / 'grid.png'} and {output / 'metrics.json'}")
