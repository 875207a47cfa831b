"""The local web page of ``sst ui`` (Gradio): upload a content image and styles, Segment and repaint the
labels, Stylise with live progress, Compare several losses.

The option widgets are built from :class:`~sst.core.options.TransferOptions`' fields (help, default, type,
choices), the plugin names from the registry; nothing about an option is declared here but which ones are
in view (:data:`COMMON`).
"""
# No ``from __future__ import annotations``: Gradio finds the ``gr.Request`` argument by its annotation (and
# inserts it by position: it comes first, before the option widgets' ``*values``).

import functools
import inspect
import tempfile
import threading
import time
import typing
from collections.abc import Callable, Sequence
from dataclasses import Field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from sst.cli.compare_cmd import METRIC_COLUMNS, metric_cells
from sst.cli.options import cli_default, cli_type, declared
from sst.core.compare import compare_losses
from sst.core.errors import SSTError
from sst.core.grid import labelled_grid
from sst.core.images import load_image
from sst.core.masks import composite
from sst.core.options import MASKS, SYNTHESIS, TransferOptions, normalised
from sst.core.registry import KIND_HOOKS
from sst.core.stylist import check_plugin_names
from sst.core.transfer import transfer
from sst.ui.jobs import Cancelled, LabelMaps, Pipelines, Reporter, in_thread, max_upload_bytes, read_upload, with_maps

COMMON = ("loss", "segmenter", "softener", "size", "levels", "iters", "gamma", "content_weight", "style_weight",
          "tv_weight", "seed", "preserve_colour", "search", "device")
"""The options in view; the others are folded away."""
MADE_HERE = ("content_map", "style_maps")  # the page makes the maps: Segment, then the brush


def option_fields() -> list[Field]:
    return [f for f in declared(SYNTHESIS, MASKS) if f.name not in MADE_HERE]


def inner_type(f: Field) -> Any:
    """The option's type on the command line, without ``| None``."""
    hint = cli_type(f)
    return next((a for a in typing.get_args(hint) if a is not type(None)), hint)


def widget(f: Field, names: Callable[[str], list[str]]) -> gr.components.Component:
    """The input of one option: a dropdown for a plugin kind (``names(kind)``) or a word from ``choices``,
    a checkbox, a number, or text (an option without a default, which a number box cannot leave empty;
    ``iters``: one number or one per level)."""
    inner = inner_type(f)
    common: dict[str, Any] = {"label": f.name.replace("_", " "), "info": f.metadata["help"],
                              "elem_id": "option-" + f.name.replace("_", "-")}
    default = cli_default(f, {})
    if f.name in KIND_HOOKS:
        return gr.Dropdown((["auto"] if f.default == "auto" else []) + names(f.name), value=default, **common)
    if f.metadata["choices"]:
        return gr.Dropdown(list(f.metadata["choices"]), value=default, allow_custom_value=True, **common)
    if inner is bool:
        return gr.Checkbox(value=default, **common)
    if inner in (int, float) and default is not None:
        return gr.Number(value=default, precision=0 if inner is int else None, **common)
    return gr.Textbox(value=default, placeholder="default" if default is None else None, **common)


def options_from(values: Sequence[Any]) -> TransferOptions:
    """The widgets' values (in :func:`option_fields` order) as options; an emptied widget is its default."""
    chosen = {}
    for f, value in zip(option_fields(), values):
        kind = inner_type(f)
        if value is None or str(value).strip() == "":
            value = f.default
        elif kind in (int, float):
            try:
                value = kind(float(value)) if kind is int else float(value)
            except ValueError:
                raise SSTError(f"{f.name.replace('_', ' ')} '{value}' is not a number; give one or leave it empty") from None
        chosen[f.name] = value
    return TransferOptions(**chosen)


def uploads(content: str | None, styles: Sequence[str] | None) -> list[Path]:
    """The uploaded files, content first."""
    if not content or not styles:
        raise SSTError("upload a content image and at least one style image")
    return [Path(content), *(Path(s) for s in styles)]


def roles(paths: Sequence[Path]) -> list[tuple[str, int]]:
    return [("content: " + paths[0].name, 0)] + [(f"style {i}: {p.name}", i) for i, p in enumerate(paths[1:], 1)]


def user_errors(handler: Callable) -> Callable:
    """Show a user error (:class:`SSTError`) as its one line on the page, never a traceback."""
    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def stream(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from handler(*args, **kwargs)
            except SSTError as exc:
                raise gr.Error(str(exc), print_exception=False) from None
        return stream

    @functools.wraps(handler)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except SSTError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
    return call


def legend(maps: LabelMaps) -> str:
    swatch = '<span style="display:inline-block;width:1em;height:1em;background:{};border:1px solid #888"></span>'
    return " &nbsp; ".join(f"{swatch.format(maps.colour_hex(k))} {name}" for k, name in enumerate(maps.labels))


def editor_value(maps: LabelMaps, i: int) -> dict[str, Any]:
    return {"background": maps.painted(i), "layers": [], "composite": None}


def brush(maps: LabelMaps, k: int) -> gr.Brush:
    return gr.Brush(colors=[maps.colour_hex(j) for j in range(len(maps.labels))], default_color=maps.colour_hex(k),
                    color_mode="fixed")


def strokes(editor: dict | None) -> np.ndarray | None:
    """The brush's layer of the editor's value (RGBA), if any."""
    layers = (editor or {}).get("layers") or []
    return layers[0] if layers else None


class Page:
    """The handlers of the page, over one server's :class:`Pipelines` and results folder."""

    def __init__(self, pipelines: Pipelines, output: Path) -> None:
        self.pipelines, self.output = pipelines, output
        self.cancels: dict[str, threading.Event] = {}

    def job_folder(self, stem: str) -> Path:
        self.output.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=time.strftime(f"{stem}-%Y%m%d-%H%M%S-"), dir=self.output))

    def show_uploads(self, content: str | None, styles: Sequence[str] | None) -> tuple[list, None]:
        """The uploads as thumbnails (read as a run reads them: a bad file is refused now); the labels of the
        images before are dropped."""
        named = ([(Path(content), "content")] if content else []) + [(Path(s), f"style {i}") for i, s in
                                                                     enumerate(styles or [], 1)]
        return [(read_upload(path), f"{role}: {path.name}") for path, role in named], None

    def segment(self, content: str | None, styles: Sequence[str] | None, *values: Any) -> tuple:
        options, paths = options_from(values), uploads(content, styles)
        images = [read_upload(p) for p in paths]
        reporter = Reporter(threading.Event())
        segmented = self.pipelines.stylist(options, reporter.notice).segment(images[0], images[1:])
        maps = LabelMaps.of(segmented.raw, images)
        soft = [segmented.soft.content, *segmented.soft.styles]
        grid = labelled_grid([(label.split(":")[0], composite(m)) for (label, _), m in zip(roles(paths), soft)], 192)
        return (maps, 0, grid, legend(maps), gr.Dropdown(choices=roles(paths), value=0),
                gr.Dropdown(choices=[(name, k) for k, name in enumerate(maps.names())], value=0),
                gr.ImageEditor(value=editor_value(maps, 0), brush=brush(maps, 0)), "\n\n".join(reporter.notes))

    def show_image(self, maps: LabelMaps | None, shown: int, editor: dict | None, i: int, k: int) -> tuple:
        """Keep the strokes on the image shown, then show image ``i`` with label ``k`` on the brush."""
        if maps is None:
            raise SSTError("click Segment first")
        maps.repaint(shown, strokes(editor))
        return maps, i, gr.ImageEditor(value=editor_value(maps, i), brush=brush(maps, k))

    def prepare(self, maps: LabelMaps | None, shown: int, editor: dict | None, content: str | None,
                styles: Sequence[str] | None, values: Sequence[Any]) -> tuple[TransferOptions, list[Path], Path, list[Path]]:
        """Options, uploads, a fresh job folder and the maps written there (with the strokes), when segmented."""
        options, paths = options_from(values), uploads(content, styles)
        check_plugin_names(normalised(options), self.pipelines.registry)  # before a folder is made for the job
        folder = self.job_folder(paths[0].stem)
        if maps is None:
            return options, paths, folder, []
        if len(maps.maps) != len(paths):
            raise SSTError("the uploads changed since Segment; click Segment again")
        maps.repaint(shown, strokes(editor))
        map_paths = maps.write(folder)
        return with_maps(options, map_paths), paths, folder, map_paths

    def start(self, request: gr.Request, levels: int) -> Reporter:
        cancel = self.cancels[request.session_hash] = threading.Event()
        return Reporter(cancel, levels)

    def stop(self, request: gr.Request) -> None:
        if (cancel := self.cancels.get(request.session_hash)) is not None:
            cancel.set()

    def stylise(self, request: gr.Request, maps: LabelMaps | None, shown: int, editor: dict | None,
                content: str | None, styles: Sequence[str] | None, *values: Any) -> Any:
        options, paths, folder, map_paths = self.prepare(maps, shown, editor, content, styles, values)
        reporter = self.start(request, options.levels)
        stylist = self.pipelines.stylist(options, reporter.notice)
        if not stylist.uses_masks and map_paths:
            stylist, map_paths = self.pipelines.stylist(options_from(values), reporter.notice), []
        output = folder / f"{paths[0].stem}_{options.loss}.png"

        def work() -> Any:
            return transfer(paths[0], paths[1:], output, stylist=stylist, on_level=reporter.on_level,
                            on_image=reporter.on_image)

        yield self.status(reporter), None, None, None  # the last job's result goes
        shown_state: tuple = ()
        for result in in_thread(work, reporter.cancel):
            if isinstance(result, Cancelled):
                yield self.status(reporter, str(result)), reporter.image, gr.skip(), gr.skip()
                return
            if result is None:
                state = (reporter.step, len(reporter.notes), id(reporter.image))
                if state != shown_state:
                    shown_state = state
                    yield self.status(reporter), reporter.image, gr.skip(), gr.skip()
                continue
            files = [output, output.with_suffix(".json"), *map_paths]
            if options.save_masks:
                files += sorted(output.with_name(output.stem + "_masks").glob("*.png"))
            done = f"done in {result.sidecar['seconds']:.1f} s; written to {folder}"
            yield self.status(reporter, done), reporter.image, result.image, [str(p) for p in files]

    def compare(self, request: gr.Request, maps: LabelMaps | None, shown: int, editor: dict | None,
                content: str | None, styles: Sequence[str] | None, losses: list[str], *values: Any) -> Any:
        options, paths, folder, _ = self.prepare(maps, shown, editor, content, styles, values)
        reporter = self.start(request, options.levels)

        def work() -> list[dict]:
            return compare_losses(paths[0], paths[1:], losses or None, folder, options, reporter.notice,
                                  registry=self.pipelines.registry, isolate=False)

        for rows in in_thread(work, reporter.cancel):
            if isinstance(rows, Cancelled):
                yield self.status(reporter, str(rows)), gr.skip(), gr.skip()
                return
            if rows is None:
                yield self.status(reporter), gr.skip(), gr.skip()
                continue
            yield (self.status(reporter, f"done; written to {folder}"), load_image(folder / "grid.png"),
                   [metric_cells(row) for row in rows])

    @staticmethod
    def status(reporter: Reporter, done: str = "") -> str:
        return "\n\n".join([*reporter.notes[-6:], reporter.step, done]).strip()


def build(pipelines: Pipelines, output: Path) -> gr.Blocks:
    """The page's Blocks."""
    page = Page(pipelines, output)
    names = pipelines.registry.names_in_order
    with gr.Blocks(title="sst", analytics_enabled=False) as blocks:
        gr.Markdown("# sst: semantic style transfer\nUpload a content image and one or more styles; **Segment** "
                    "to see and repaint the labels, **Stylise** to run, **Compare** to try several losses.")
        maps, shown = gr.State(None), gr.State(0)
        with gr.Row():
            with gr.Column(scale=1):
                content = gr.File(label="content image", file_types=["image"], elem_id="content")
                styles = gr.File(label="style images", file_count="multiple", file_types=["image"], elem_id="styles")
                inputs = gr.Gallery(label="uploads", columns=3, height=160, elem_id="uploads")
                fields = option_fields()
                widgets = {f.name: widget(f, names) for f in fields if f.name in COMMON}
                with gr.Accordion("more options", open=False):
                    widgets |= {f.name: widget(f, names) for f in fields if f.name not in COMMON}
                values = [widgets[f.name] for f in fields]
            with gr.Column(scale=2):
                with gr.Tab("Segment"):
                    segment_button = gr.Button("Segment", variant="primary", elem_id="segment")
                    masks = gr.Image(label="masks (colour composite)", interactive=False, elem_id="masks")
                    legend_html = gr.HTML(elem_id="legend")
                    with gr.Row():
                        image_choice = gr.Dropdown(label="image to repaint", choices=[], elem_id="image-choice")
                        label_choice = gr.Dropdown(label="label on the brush", choices=[], elem_id="label-choice")
                    editor = gr.ImageEditor(label="labels (paint with the brush)", type="numpy", format="png",
                                            sources=(), transforms=(), layers=False, height=420, elem_id="editor")
                    notes = gr.Markdown(elem_id="segment-notes")
                with gr.Tab("Stylise"):
                    with gr.Row():
                        stylise_button = gr.Button("Stylise", variant="primary", elem_id="stylise")
                        stop_button = gr.Button("Stop", variant="stop", elem_id="stop")
                    progress = gr.Markdown(elem_id="progress")
                    with gr.Row():
                        preview = gr.Image(label="in progress", interactive=False, height=320, elem_id="preview")
                        result = gr.Image(label="result", interactive=False, height=320, elem_id="result")
                    downloads = gr.File(label="result, sidecar and maps", file_count="multiple", interactive=False,
                                        elem_id="downloads")
                with gr.Tab("Compare"):
                    losses = gr.CheckboxGroup(names("loss"), value=names("loss"), label="losses", elem_id="losses")
                    compare_button = gr.Button("Compare", variant="primary", elem_id="compare")
                    compare_status = gr.Markdown(elem_id="compare-status")
                    grid = gr.Image(label="content | styles | results", interactive=False, elem_id="grid")
                    table = gr.Dataframe(headers=list(METRIC_COLUMNS), interactive=False, elem_id="metrics")

        for upload in (content, styles):
            upload.change(user_errors(page.show_uploads), [content, styles], [inputs, maps])
        job = {"concurrency_id": "pipeline"}  # one job at a time, whichever button started it
        segment_button.click(user_errors(page.segment), [content, styles, *values],
                             [maps, shown, masks, legend_html, image_choice, label_choice, editor, notes], **job)
        for choice in (image_choice, label_choice):
            choice.input(user_errors(page.show_image), [maps, shown, editor, image_choice, label_choice],
                         [maps, shown, editor])
        stylise_button.click(user_errors(page.stylise), [maps, shown, editor, content, styles, *values],
                             [progress, preview, result, downloads], **job)
        stop_button.click(page.stop, None, None, concurrency_limit=None)
        compare_button.click(user_errors(page.compare), [maps, shown, editor, content, styles, losses, *values],
                             [compare_status, grid, table], **job)
    return blocks


def launch(host: str, port: int, output: Path) -> gr.Blocks:
    """Start serving the page on ``host:port`` (in the background; ``block_thread()`` waits): no share link,
    uploads within the CLI's limit, one job at a time (the others wait in the queue and see their place)."""
    blocks = build(Pipelines(), output)
    blocks.queue(default_concurrency_limit=1)
    try:
        blocks.launch(server_name=host, server_port=port, share=False, max_file_size=max_upload_bytes(),
                      allowed_paths=[str(output)], ssr_mode=False, quiet=True, prevent_thread_lock=True,
                      footer_links=["settings"])
    except OSError:
        raise SSTError(f"cannot serve on {host}:{port}: the port is taken or the address is not this machine's; "
                       "choose another --port or --host") from None
    return blocks
