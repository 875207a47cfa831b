"""The ``sst`` command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sst.cli import compare_cmd, evaluate_cmd, models_cmd
from sst.core.errors import SSTError
from sst.core.registry import default_registry
from sst.core.transfer import TransferOptions, transfer, write_masks

app = typer.Typer(
    help="Automatic semantic style transfer (Zhao, Rosin & Lai 2017) and its baselines.",
    no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
)
app.add_typer(models_cmd.app, name="models")
app.command()(compare_cmd.compare)
app.command()(evaluate_cmd.evaluate)
err = Console(stderr=True)


def notice(message: str) -> None:
    err.print(f"[cyan]note:[/cyan] {message}", highlight=False, soft_wrap=True)


class LevelBars:
    """One progress bar per synthesis level (with an ETA), started when the first level starts: an error
    before any work prints its one line and nothing else."""

    def __init__(self) -> None:
        self.progress: Progress | None = None

    def __enter__(self) -> LevelBars:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def on_level(self, level: int, iterations: int, shape: tuple[int, int]) -> Callable[[], None]:
        if self.progress is None:
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=err)
            self.progress.start()
        progress = self.progress
        task = progress.add_task(f"level {level + 1} ({shape[1]}x{shape[0]})", total=iterations)
        return lambda: progress.advance(task)


@app.command()
def run(
    content: Annotated[Path, typer.Argument(help="Content image.")],
    styles: Annotated[list[Path], typer.Argument(help="One or more style images.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Result image (.png/.jpg); a .json sidecar is written beside it.")] = Path("out.png"),
    size: Annotated[int, typer.Option(help="Long side of the result, px.")] = 384,
    levels: Annotated[int, typer.Option(help="Resolutions, coarse to fine (each twice the previous).")] = 3,
    iters: Annotated[str, typer.Option(help="L-BFGS iterations: one number for every level, or one per level, coarse to fine (200,100,50).")] = "100",
    content_weight: Annotated[Optional[float], typer.Option(help="Weight of the content loss [default: the loss's recommended weight, else 1].", show_default=False)] = None,
    style_weight: Annotated[Optional[float], typer.Option(help="Weight of the style loss [default: the loss's recommended weight, else 1].", show_default=False)] = None,
    tv_weight: Annotated[Optional[float], typer.Option(help="Weight of the total-variation term [default: the loss's recommended weight, else 1].", show_default=False)] = None,
    gamma: Annotated[float, typer.Option(help="Mask weight of mrf-semantic: what a patch of a wholly other region loses against the features' NCC (0..1); 0 is plain mrf. Not the paper's gamma: see README.")] = 2.0,
    semantic_weight: Annotated[Optional[float], typer.Option(help="Semantic weight of the doodle loss [default: 100, the paper's].", show_default=False)] = None,
    style_stride: Annotated[int, typer.Option(help="Stride of the style patch grid (1: every patch).")] = 1,
    style_scale: Annotated[float, typer.Option(help="Style size relative to the result's at every level (neural-style's -style_scale).")] = 1.0,
    search: Annotated[str, typer.Option(help="Nearest-patch search: exact, approx (PatchMatch) or auto (exact while cheap).")] = "auto",
    search_precision: Annotated[str, typer.Option(help="Precision of the search's vectors: fp32, or fp16/bf16 with --device cuda.")] = "fp32",
    force: Annotated[bool, typer.Option("--force", help="Run even when the memory estimate exceeds the memory available.")] = False,
    style_rotations: Annotated[int, typer.Option(help="Also match style patches rotated by k*pi/24, k=-N..N (CNNMRF).")] = 0,
    style_scales: Annotated[int, typer.Option(help="Also match style patches scaled by 1.05**k, k=-N..N (CNNMRF).")] = 0,
    preserve_colour: Annotated[bool, typer.Option("--preserve-colour", help="Transfer luminance only; keep the content's colours.")] = False,
    init: Annotated[str, typer.Option(help="Start from the content image or from noise: content|random.")] = "content",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    features: Annotated[str, typer.Option(help="Feature network: vgg19, vgg16 or auto (vgg19 when present).")] = "auto",
    loss: Annotated[str, typer.Option(help="Style loss plugin (see 'sst plugins').")] = "mrf-semantic",
    segmenter: Annotated[str, typer.Option(help="Segmenter plugin; auto: manual with maps, portrait with a face, else crfrnn when installed, else cosegment.")] = "auto",
    classes: Annotated[Optional[int], typer.Option(help="Labels the segmenter keeps (crfrnn: top-K VOC classes, default 5; cosegment: K, chosen when omitted).", show_default=False)] = None,
    softener: Annotated[str, typer.Option(help="Mask softener plugin.")] = "gaussian",
    content_map: Annotated[Optional[Path], typer.Option(help="Colour-coded semantic map of the content (manual segmenter).")] = None,
    style_map: Annotated[Optional[list[Path]], typer.Option(help="Colour-coded map of a style image; once per style, in order.")] = None,
    content_kind: Annotated[str, typer.Option(help="photo|artwork|auto (for automatic masks).")] = "auto",
    style_kind: Annotated[str, typer.Option(help="photo|artwork|auto (for automatic masks).")] = "auto",
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    save_masks: Annotated[bool, typer.Option("--save-masks", help="Also write the masks used, as grey images and a colour composite.")] = False,
) -> None:
    """Stylise CONTENT in the style of STYLES, region by region."""
    options = TransferOptions(
        size=size, levels=levels, iters=iters, content_weight=content_weight, style_weight=style_weight,
        tv_weight=tv_weight, gamma=gamma, semantic_weight=semantic_weight, style_stride=style_stride,
        style_scale=style_scale, search=search, search_precision=search_precision, force=force,
        style_rotations=style_rotations, style_scales=style_scales, preserve_colour=preserve_colour, init=init, seed=seed, features=features,
        loss=loss, segmenter=segmenter, classes=classes, softener=softener, content_map=content_map,
        style_maps=tuple(style_map or ()), content_kind=content_kind, style_kind=style_kind, device=device,
        save_masks=save_masks,
    )
    with LevelBars() as bars:
        result = transfer(content, styles, output, options, notice=notice, on_level=bars.on_level)
    err.print(f"wrote {result.output} and {output.with_suffix('.json')} ({result.sidecar['seconds']:.1f} s)")


@app.command()
def masks(
    image: Annotated[Path, typer.Argument(help="Image to segment.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the masks.")] = Path("masks-out"),
    kind: Annotated[str, typer.Option(help="photo|artwork|auto.")] = "auto",
    segmenter: Annotated[str, typer.Option(help="Segmenter plugin.")] = "portrait",
    classes: Annotated[Optional[int], typer.Option(help="Labels the segmenter keeps (crfrnn, cosegment).", show_default=False)] = None,
    softener: Annotated[str, typer.Option(help="Mask softener plugin.")] = "gaussian",
) -> None:
    """Write IMAGE's automatic soft masks as grey images plus the colour composite."""
    for path in write_masks(image, output, kind=kind, segmenter=segmenter, softener=softener, classes=classes,
                            notice=notice):
        err.print(f"wrote {path}")


@app.command()
def plugins(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List every registered plugin: kind, name, package and version."""
    infos = default_registry().all()
    if as_json:
        typer.echo(json.dumps([i.as_dict() for i in infos], indent=2))
        return
    table = Table()
    for column in ("kind", "name", "package", "version"):
        table.add_column(column, no_wrap=True)
    table.add_column("summary", overflow="fold")
    for i in infos:
        table.add_row(i.kind, i.name, i.package, i.version, i.summary)
    Console().print(table)


@app.command()
def demo(output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the demo's files.")] = Path("demo-out")) -> None:
    """Stylise an example pair that ships with the toolkit's dependencies."""
    from sst.demo import run_demo

    with LevelBars() as bars:
        written = run_demo(output, notice=notice, on_level=bars.on_level)
    for path in written:
        err.print(f"wrote {path}")


def main() -> None:
    """Run the command line: user errors print one line and exit with code 2 (Ctrl-C: :func:`sst.cli.main`)."""
    try:
        default_registry().add_commands(app)
        app()
    except SSTError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
