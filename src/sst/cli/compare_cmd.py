"""``sst compare``: several style losses on one pair, each measured (:mod:`sst.core.compare`).

Writes to the output folder every result (``CONTENT_LOSS.png`` with its JSON sidecar), ``grid.png``
(content, styles and results side by side, labelled) and ``metrics.json``, and prints the metrics as a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from sst.cli.console import err, notice
from sst.cli.options import takes_options
from sst.core.compare import compare_losses
from sst.core.options import TransferOptions


def _number(value: object, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else "-"


METRIC_COLUMNS = ("loss", "semantic fidelity (chance)", "LPIPS", "region ratio", "texture", "face error", "seconds",
                  "peak MiB")


def metric_cells(row: dict) -> list[str]:
    """One loss's row of :func:`~sst.core.compare.compare_losses` as the text of :data:`METRIC_COLUMNS`."""
    fidelity, region, face = row["semantic_fidelity"], row["region_style_distance"], row["face"]
    return [
        row["loss"], f"{_number(fidelity.get('score'))} ({_number(fidelity.get('chance'))})",
        _number(row["lpips"]), _number(region.get("ratio")), _number(row["texture_energy"], 1),
        _number(face.get("error")) if "skipped" not in face else "skipped",
        f"{row['seconds']:.1f}", f"{row['peak_memory']['process_rss_mib']:.0f}",
    ]


def metrics_table(rows: Sequence[dict]) -> Table:
    """The comparison as a rich table: one row per loss."""
    table = Table(*METRIC_COLUMNS)
    for row in rows:
        table.add_row(*metric_cells(row))
    return table


@takes_options("compare", defaults={"size": 256})
def compare(
    content: Annotated[Path, typer.Argument(help="Content image.")],
    styles: Annotated[list[Path], typer.Argument(help="One or more style images.")],
    losses: Annotated[Optional[str], typer.Option(help="Comma-separated style losses to compare (default: every registered loss).", show_default=False)] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the results, grid.png and metrics.json.")] = Path("compare-out"),
    *,
    options: TransferOptions,
) -> None:
    """Stylise CONTENT with each of several losses (same size, seed and masks); write the results, a grid and
    a metrics table. Weights left unset are each loss's own."""
    rows = compare_losses(
        content, styles, None if losses is None else [name.strip() for name in losses.split(",") if name.strip()],
        output, options,
        notice=notice,
    )
    Console().print(metrics_table(rows))
    err.print(f"wrote {output / 'grid.png'} and {output / 'metrics.json'}")
