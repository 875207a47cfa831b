"""``sst batch``: many jobs, models loaded once per worker (:mod:`sst.core.batch`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from sst.cli.console import err, notice, progress_bars
from sst.cli.options import Address, Backend, Workers, takes_options
from sst.core.batch import grid, manifest, pairs, run_batch, expand
from sst.core.errors import SSTError
from sst.core.options import TransferOptions


@takes_options("batch")
def batch(
    contents: Annotated[Optional[list[str]], typer.Option("--contents", help="Content images: files, folders or globs (repeatable).")] = None,
    styles: Annotated[Optional[list[str]], typer.Option("--styles", help="Style images: files, folders or globs (repeatable).")] = None,
    paired: Annotated[bool, typer.Option("--pairs", help="Each content with the style of the same name, not every style.")] = False,
    manifest_file: Annotated[Optional[Path], typer.Option("--manifest", help="Jobs from a .csv, .jsonl or .toml file: content, styles, maps and option overrides per job.")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the results, batch.json and contact.png.")] = Path("batch-out"),
    workers: Workers = 1,
    backend: Backend = "local",
    address: Address = None,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Run again the jobs that failed before.")] = False,
    *,
    options: TransferOptions,
) -> None:
    """Stylise every content with every style (or --pairs, or a --manifest); resumable: finished jobs are
    skipped when the same batch runs again. Exit code 1 when a job failed."""
    if manifest_file is not None:
        if contents or styles:
            raise SSTError("give --manifest, or --contents and --styles, not both")
        jobs = manifest(manifest_file, output)
    elif contents and styles:
        found = expand(contents, "content"), expand(styles, "style")
        jobs = pairs(*found, output) if paired else grid(*found, output)
    else:
        raise SSTError("give --contents and --styles (files, folders or globs), or --manifest FILE")
    progress = progress_bars()
    levels = progress_bars()
    task = progress.add_task("jobs", total=len(jobs.jobs))
    failed = 0

    def on_job(job, record) -> None:
        nonlocal failed
        failed += record["status"] == "failed"
        progress.update(task, advance=1, description=f"jobs ({failed} failed)" if failed else "jobs")
        for t in list(levels.task_ids):
            levels.remove_task(t)

    def on_level(level: int, iterations: int, shape: tuple[int, int]):
        t = levels.add_task(f"  level {level + 1} ({shape[1]}x{shape[0]})", total=iterations)
        return lambda: levels.advance(t)

    with Live(Group(progress, levels), console=err, transient=False):
        report = run_batch(jobs, output, options, workers=workers, backend=backend, address=address,
                           retry_failed=retry_failed, notice=notice, on_job=on_job,
                           on_level=on_level if workers == 1 and backend == "local" else None)
        progress.update(task, completed=len(jobs.jobs))
    table = Table("job", "status", "seconds", "error")
    for name, record in report.records.items():
        status = "skipped" if record.get("skipped") else record["status"]
        seconds = f"{record['seconds']:.1f}" if record.get("seconds") is not None else "-"
        table.add_row(name, status, seconds, record.get("error") or "")
    err.print(table)
    err.print(f"wrote {report.manifest}" + (f" and {report.contact_sheet}" if report.contact_sheet else ""))
    if report.failed:
        raise typer.Exit(1)
