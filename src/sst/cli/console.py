"""What every command prints on stderr: notes, and a user error as one ``error:`` line."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

err = Console(stderr=True)


def progress_bars(transient: bool = False) -> Progress:
    """Bars with a count, the time taken and an ETA, as every command shows them."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("eta"), TimeRemainingColumn(), console=err, transient=transient)


def notice(message: str) -> None:
    err.print(f"[cyan]note:[/cyan] {escape(message)}", highlight=False, soft_wrap=True)


def print_error(exc: Exception) -> None:
    err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
