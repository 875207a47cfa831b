"""``sst ui``: serve the local web page (:mod:`sst.ui`); Gradio is imported only here, when asked for."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from sst.cli.console import err, notice
from sst.core.errors import SSTError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def ui(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 7860,
    host: Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps the page to this machine.")] = "127.0.0.1",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Folder for the results (default: a new temporary folder).", show_default=False)] = None,
) -> None:
    """Serve a local web page: upload, segment and repaint the labels, stylise with live progress, compare losses."""
    if importlib.util.find_spec("gradio") is None:
        raise SSTError("sst ui needs Gradio, which is not installed; pip install 'sst[ui]'")
    from sst.ui.page import serve

    folder = output or Path(tempfile.mkdtemp(prefix="sst-ui-"))
    if folder.exists() and not folder.is_dir():
        raise SSTError(f"{folder} exists and is not a folder; choose another --output")
    if host not in LOOPBACK:
        notice(f"--host {host}: the page is open to the network, with no password")
    err.print(f"serving http://{host}:{port} (results in {folder}); Ctrl-C stops", highlight=False)
    serve(host, port, folder)
