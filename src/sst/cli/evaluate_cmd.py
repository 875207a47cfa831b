"""``sst evaluate``: the quality metrics of one stylised image, as JSON (see :mod:`sst.core.metrics`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from sst.cli.options import takes_options
from sst.core.errors import SSTError
from sst.core.images import load_image, write_atomic
from sst.core.metrics import measure, metric_features
from sst.core.options import TransferOptions
from sst.core.stylist import Stylist


@takes_options("evaluate")
def evaluate(
    content: Annotated[Path, typer.Argument(help="Content image the output was made from.")],
    styles: Annotated[list[Path], typer.Argument(help="The style image(s) it was made with.")],
    output_image: Annotated[Path, typer.Argument(help="Stylised image to measure.")],
    json_out: Annotated[Optional[Path], typer.Option(help="Also write the metrics to this JSON file.")] = None,
    *,
    options: TransferOptions,
) -> None:
    """Print semantic fidelity, LPIPS to the content, region style distance and face landmark error as JSON."""
    if (options.content_map is None) != (not options.style_maps):
        raise SSTError("give both --content-map and --style-map, or neither")
    if json_out is not None and json_out.resolve() in {p.resolve() for p in (content, *styles, output_image)}:
        raise SSTError(f"--json-out {json_out} is one of the inputs; choose another path")
    stylist = Stylist(options)
    content_image, output = load_image(content), load_image(output_image)
    style_images = [load_image(s) for s in styles]
    segmentation = stylist.segment(content_image, style_images, options.content_map, options.style_maps).raw
    metrics = {"content": str(content), "styles": [str(s) for s in styles], "output": str(output_image),
               "masks": list(segmentation.content.labels),
               **measure(content_image, style_images, output, segmentation, stylist.ctx, metric_features(stylist.ctx))}
    text = json.dumps(metrics, indent=2)
    if json_out is not None:
        write_atomic(json_out, (text + "\n").encode())
    typer.echo(text)
