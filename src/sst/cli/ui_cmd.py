"""``sst ui``: serve the local web page (:mod:`sst.ui`); Gradio is imported only here, when asked for."""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from sst.cli import Interrupted
from sst.cli.console import err, notice
from sst.core.errors import SSTError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def ui(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 7860,
    host: Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps the page to this machine.")] = "127.0.0.1",
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Folder for the results (default: a new temporary folder).", show_default=False)] = None,
) -> None:
    """Serve a local web page: upload, segment and repaint the labels, stylise with live progress, compare losses."""
    if not 1 <= port <= 65535:
        raise SSTError(f"--port {port} is not a port; give one from 1 to 65535 (default 7860)")
    if importlib.util.find_spec("gradio") is None:
        raise SSTError("sst ui needs Gradio, which is not installed; pip install 'sst[ui]'")
    if output is not None and output.exists() and not output.is_dir():
        raise SSTError(f"{output} exists and is not a folder; choose another --output")
    from sst.ui.page import launch

    folder = output or Path(tempfile.mkdtemp(prefix="sst-ui-"))
    try:
        blocks = launch(host, port, folder)
    except SSTError:
        if output is None:
            folder.rmdir()
        raise
    if host not in LOOPBACK:
        notice(f"--host {host}: the page is open to the network, with no password")
    err.print(f"serving http://{host}:{port} (results in {folder}); Ctrl-C stops", highlight=False)
    try:
        blocks.block_thread()
    except Interrupted:  # Ctrl-C: every result written is whole (written atomically); say so, not "nothing"
        err.print("stopped serving", highlight=False)
    finally:
        blocks.close()
