"""``sst example-sky-model``: build the plugin's model and install it, verified, in sst's model cache."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from sst.core.models import ModelManager
from sst_example_plugin import model
from sst_example_plugin.sky import MODEL


def build_model(
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write the ONNX file here instead.")] = None,
) -> None:
    """Build the sky segmenter's model (a 1 KB ONNX file) and install it in the model cache."""
    if output is not None:
        typer.echo(f"{MODEL}: {model.build(output)}")
        return
    with tempfile.TemporaryDirectory(prefix="sst-example-") as tmp:
        built = model.build(Path(tmp) / "example_sky.onnx")
        typer.echo(f"{MODEL}: {ModelManager().fetch(MODEL, force=True, source_file=built)}")
