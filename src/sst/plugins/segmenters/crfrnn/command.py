"""``sst models export crfrnn``: build the CRF-RNN ONNX model from torchvision's VOC-label weights.

The crfrnn plugin adds this command to ``sst models`` through ``register_commands``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from sst.core.errors import SSTError
from sst.core.models import ModelManager
from sst.plugins.segmenters.crfrnn import MODEL

ARCHS = ("deeplabv3", "fcn")  # the keys of build.ARCHS, named here so that the CLI starts without torchvision


def export(
    model: Annotated[str, typer.Argument(help="The model to build: crfrnn.")],
    weights: Annotated[Optional[Path], typer.Option(
        "--weights", help="torchvision's VOC-label weights file (deeplabv3_resnet50_coco-cd0a2569.pth or "
                          "fcn_resnet50_coco-1167a1af.pth); downloaded when omitted, where that is possible.")] = None,
    arch: Annotated[str, typer.Option(help=f"Network: {' or '.join(ARCHS)}.")] = "deeplabv3",
    output: Annotated[Optional[Path], typer.Option(
        "-o", "--output", help="Write the ONNX file here instead of installing it in the model cache.")] = None,
) -> None:
    """Build the CRF-RNN model (a VOC segmentation network + the mean-field CRF layer) as ONNX."""
    from sst.plugins.segmenters.crfrnn.build import export_crfrnn

    if model != MODEL:
        raise SSTError(f"only '{MODEL}' can be exported, not '{model}'; run 'sst models export {MODEL}'")
    console = Console(stderr=True)
    if output is not None:
        console.print(f"{MODEL}: {export_crfrnn(output, weights, arch)}")
        return
    with tempfile.TemporaryDirectory(prefix="sst-export-") as tmp:
        built = export_crfrnn(Path(tmp) / f"{MODEL}.onnx", weights, arch)
        console.print(f"{MODEL}: {ModelManager().fetch(MODEL, force=True, source_file=built)}")
