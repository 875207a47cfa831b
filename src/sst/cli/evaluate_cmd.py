"""``sst evaluate``: the quality metrics of one stylised image, as JSON (see :mod:`sst.core.metrics`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import torch
import typer

from sst.core.errors import SSTError
from sst.core.images import load_image, write_atomic
from sst.core.interfaces import PluginContext
from sst.core.metrics import measure, metric_masks
from sst.core.models import ModelManager
from sst.core.registry import default_registry


def evaluate(
    content: Annotated[Path, typer.Argument(help="Content image the output was made from.")],
    style: Annotated[Path, typer.Argument(help="Style image.")],
    output_image: Annotated[Path, typer.Argument(help="Stylised image to measure.")],
    content_map: Annotated[Optional[Path], typer.Option(help="Colour-coded semantic map of the content.")] = None,
    style_map: Annotated[Optional[Path], typer.Option(help="Colour-coded semantic map of the style.")] = None,
    segmenter: Annotated[str, typer.Option(help="Segmenter for the mask metrics; auto as in 'sst run'.")] = "auto",
    json_out: Annotated[Optional[Path], typer.Option(help="Also write the metrics to this JSON file.")] = None,
) -> None:
    """Print semantic fidelity, LPIPS to the content, region style distance and face landmark error as JSON."""
    if (content_map is None) != (style_map is None):
        raise SSTError("give both --content-map and --style-map, or neither")
    if json_out is not None and json_out.resolve() in {p.resolve() for p in (content, style, output_image)}:
        raise SSTError(f"--json-out {json_out} is one of the inputs; choose another path")
    registry = default_registry()
    ctx = PluginContext(registry, ModelManager(), torch.device("cpu"), lambda message: None)
    content_image, style_image, output = load_image(content), load_image(style), load_image(output_image)
    segmentation = metric_masks(content_image, [style_image], ctx, content_map, [style_map] if style_map else [],
                                segmenter)
    net = registry.create("features", "vgg16", ctx)
    metrics = {"content": str(content), "style": str(style), "output": str(output_image),
               "masks": list(segmentation.content.labels),
               **measure(content_image, [style_image], output, segmentation, ctx, net)}
    text = json.dumps(metrics, indent=2)
    if json_out is not None:
        write_atomic(json_out, (text + "\n").encode())
    typer.echo(text)
