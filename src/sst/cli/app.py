"""The ``sst`` command line."""

from __future__ import annotations

import json
from dataclasses import replace
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from sst.cli import batch_cmd, compare_cmd, evaluate_cmd, models_cmd, ui_cmd, video_cmd
from sst.cli.console import err, notice, print_error, progress_bars
from sst.cli.options import takes_options
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
app.command()(batch_cmd.batch)
app.command()(video_cmd.video)
app.command()(ui_cmd.ui)


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
            self.progress = progress_bars()
            self.progress.start()
        progress = self.progress
        task = progress.add_task(f"level {level + 1} ({shape[1]}x{shape[0]})", total=iterations)
        return lambda: progress.advance(task)


@app.command()
@takes_options("run")
def run(
    content: Annotated[Path, typer.Argument(help="Content image.")],
    styles: Annotated[list[Path], typer.Argument(help="One or more style images.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Result image (.png/.jpg); a .json sidecar is written beside it.")] = Path("out.png"),
    *,
    options: TransferOptions,
) -> None:
    """Stylise CONTENT in the style of STYLES, region by region."""
    with LevelBars() as bars:
        result = transfer(content, styles, output, options, notice=notice, on_level=bars.on_level)
    err.print(f"wrote {result.output} and {output.with_suffix('.json')} ({result.sidecar['seconds']:.1f} s)")


@app.command()
@takes_options("masks")
def masks(
    image: Annotated[Path, typer.Argument(help="Image to segment.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the masks.")] = Path("masks-out"),
    kind: Annotated[str, typer.Option(help="photo|artwork|auto.")] = "auto",
    *,
    options: TransferOptions,
) -> None:
    """Write IMAGE's automatic soft masks as grey images plus the colour composite."""
    for path in write_masks(image, output, replace(options, content_kind=kind), notice=notice):
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
        default_registry().add_commands(app, {"models": models_cmd.app})
        app()
    except SSTError as exc:
        print_error(exc)
        raise SystemExit(2) from None
