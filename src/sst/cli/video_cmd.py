"""``sst video``: a clip in a style, temporally consistent (:mod:`sst.core.video`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sst.cli import Interrupted
from sst.cli.console import err, notice, progress_bars
from sst.cli.options import Address, Backend, Workers, takes_options
from sst.core.options import TransferOptions
from sst.core.video import CHUNK_FRAMES, OVERLAP, TEMPORAL_WEIGHT, finished_frames, stylise_video, work_folder


@takes_options("video")
def video(
    source: Annotated[Path, typer.Argument(help="Content clip: a video (.mp4, .webm, .mov, .mkv) or a folder of frames.")],
    styles: Annotated[list[Path], typer.Argument(help="One or more style images.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Result: a video (frame rate and audio of the source kept) or a folder of frames.")] = Path("out.mp4"),
    temporal_weight: Annotated[float, typer.Option(help="Weight of the temporal loss (Ruder et al. 2016) to the previous result warped by the flow; 0: every frame on its own, from its content.")] = TEMPORAL_WEIGHT,
    frame_iters: Annotated[Optional[int], typer.Option(help="Iterations of each frame after the first, at the finest level only (default: half the finest level's --iters).")] = None,
    start: Annotated[Optional[str], typer.Option(help="First frame: a frame number (12) or a time (1.5s).")] = None,
    end: Annotated[Optional[str], typer.Option(help="Stop before this frame (number or time).")] = None,
    backend: Backend = "local",
    chunk: Annotated[int, typer.Option(help=f"With --backend ray: frames per chunk; a chunk starts at the first keyframe after this many, and its first {OVERLAP} frames are cross-faded with the previous chunk's.")] = CHUNK_FRAMES,
    workers: Workers = 2,
    address: Address = None,
    *,
    options: TransferOptions,
) -> None:
    """Stylise the clip SOURCE in the style of STYLES, frame after frame; resumable: a rerun continues after the
    last finished frame (kept with their sidecars in OUT.frames/, or in OUT itself for a folder)."""
    bars = progress_bars()
    task = bars.add_task("frames", total=None)

    def on_frame(index: int, skipped: bool) -> None:
        bars.update(task, advance=1, description="frames (resumed)" if skipped else "frames")
        for t in bars.task_ids[1:]:
            bars.remove_task(t)

    def on_level(level: int, iterations: int, shape: tuple[int, int]):
        t = bars.add_task(f"  level {level + 1} ({shape[1]}x{shape[0]})", total=iterations)
        return lambda: bars.advance(t)

    try:
        written = stylise_video(
            source, styles, output, options, temporal_weight=temporal_weight, frame_iters=frame_iters,
            start=start, end=end, backend=backend, chunk=chunk, workers=workers, address=address, notice=notice, on_clip=lambda n: (bars.update(task, total=n), bars.start()),
            on_frame=on_frame, on_level=on_level)
    except Interrupted:
        finished = finished_frames(work_folder(output))
        raise Interrupted(f"{finished} finished frames are kept in {work_folder(output)}; run the same command "
                          "again to continue" if finished else "no frame was finished") from None
    finally:
        bars.stop()
    err.print(f"wrote {written}" + (f" (frames and sidecars in {work_folder(output)})" if output.suffix else ""))
