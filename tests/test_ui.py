"""sst ui: the page in a real headless Chromium against a real server, and its glue without a browser."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from sst.core.errors import SSTError
from sst.core.images import load_image, save_image
from sst.core.options import TransferOptions, normalised
from tests import ui_browser
from tests.conftest import run_cli

pytest.importorskip("gradio")
pytest.importorskip("playwright")

STROKE = [(0.5, 0.3), (0.5, 0.7)]  # down the middle of the canvas, where the content image is centred


def automatic_maps(content: Path, style: Path):
    """The labels the page's Segment makes (same options, same segmenter), computed here as the oracle."""
    from sst.ui.jobs import LabelMaps, Pipelines, read_upload

    images = [read_upload(content), read_upload(style)]
    stylist = Pipelines().stylist(TransferOptions(features=ui_browser.FEATURES), lambda m: None)
    return LabelMaps.of(stylist.segment(images[0], images[1:]).raw, images)


@pytest.mark.skipif(not Path(ui_browser.CHROMIUM).exists(), reason="needs Debian's chromium (make test installs it)")
def test_segment_repaint_and_stylise_in_a_real_browser(two_region_pair: dict[str, Path], tmp_path: Path) -> None:
    p, out = two_region_pair, tmp_path / "results"
    before = automatic_maps(p["content"], p["style"])
    middle = before.maps[0][:, before.maps[0].shape[1] // 2]
    label = int(np.bincount(middle, minlength=len(before.labels)).argmin())  # the label the middle lacks most
    with ui_browser.served(out) as url, ui_browser.browser() as page:
        page.goto(url)
        page.locator("#segment").click()  # nothing uploaded yet: one line on the page, no traceback
        page.get_by_text("upload a content image and at least one style image").first.wait_for()
        assert page.get_by_text("Traceback").count() == 0
        ui_browser.segment_and_repaint(page, url, p["content"], p["style"], before.names()[label], STROKE)
        legend = page.locator("#legend").inner_text()
        ui_browser.stylise(page)
        progress = page.locator("#progress").inner_text()
        downloads = page.locator("#downloads").inner_text()
    assert all(name in legend for name in before.labels)
    assert "iteration 3/3" in progress and "done in" in progress
    (sidecar_path,) = out.glob("*/*.json")
    sidecar = json.loads(sidecar_path.read_text())
    options = sidecar["options"]
    assert (options["segmenter"], options["size"], options["levels"], options["features"]) == ("manual", 64, 1, "vgg16")
    assert ("segmenter", "manual") in {(x["kind"], x["name"]) for x in sidecar["plugins"]}
    content_map, style_map = Path(options["content_map"]), Path(options["style_maps"][0])
    assert content_map.parent == sidecar_path.parent
    listed = "".join(downloads.split())  # the page splits a name from its suffix
    for offered in (content_map, style_map, sidecar_path, sidecar_path.with_suffix(".png")):
        assert offered.name in listed
    assert load_image(sidecar_path.with_suffix(".png")).shape == (48, 64, 3)
    # the stroke is in the map the run read: the middle column (rows 40%-60%) took the painted label's colour,
    # which the automatic labels there mostly lacked; far from the stroke the labels are the automatic ones
    edited, colours = load_image(content_map), before.colours
    h, w = edited.shape[:2]
    assert (edited[int(h * 0.4):int(h * 0.6), w // 2] == colours[label]).all()
    assert (middle[int(h * 0.4):int(h * 0.6)] != label).any()
    assert (edited[:, :w // 8] == colours[before.maps[0][:, :w // 8]]).all()
    assert (load_image(style_map) == colours[before.maps[1]]).all()


def test_without_gradio_sst_ui_is_one_error_line_naming_the_extra(tmp_path: Path) -> None:
    hider = tmp_path / "sitecustomize.py"  # makes gradio unimportable in the child, as on a machine without it
    hider.write_text("import sys\nsys.modules['gradio'] = None\n")
    import os

    result = run_cli("ui", "--port", "1", env={"PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error:" in result.stderr and "pip install 'sst[ui]'" in result.stderr


def test_a_port_out_of_range_is_one_error_line() -> None:
    result = run_cli("ui", "--port", "70000")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: --port 70000 is not a port")


def test_widgets_come_from_the_option_table_and_give_back_its_options() -> None:
    from dataclasses import fields

    from sst.ui import page

    names = [f.name for f in page.option_fields()]
    assert set(page.COMMON) <= set(names)
    assert set(names) | set(page.MADE_HERE) == {f.name for f in fields(TransferOptions)}
    defaults = [page.cli_default(f, {}) for f in page.option_fields()]  # what the widgets start with
    assert normalised(page.options_from(defaults)) == normalised(TransferOptions())
    empty = ["" if f.name in ("size", "content_weight") else d for f, d in zip(page.option_fields(), defaults)]
    assert normalised(page.options_from(empty)) == normalised(TransferOptions())
    typed = ["7.5" if f.name == "content_weight" else d for f, d in zip(page.option_fields(), defaults)]
    assert page.options_from(typed).content_weight == 7.5
    bad = ["seven" if f.name == "gamma" else d for f, d in zip(page.option_fields(), defaults)]
    with pytest.raises(SSTError, match="gamma 'seven' is not a number"):
        page.options_from(bad)


def test_repainting_snaps_strokes_to_the_labels_and_is_idempotent(tmp_path: Path) -> None:
    from sst.core.interfaces import Segmentation, SemanticMasks
    from sst.core.masks import one_hot
    from sst.ui.jobs import LabelMaps

    labels = np.zeros((8, 10), int)
    labels[:, 5:] = 1
    masks = SemanticMasks(("face", "skin"), one_hot(labels, 2))  # both blue in the composite: the page splits them
    maps = LabelMaps.of(Segmentation(masks, (masks,), ()), [np.zeros((8, 10, 3), np.uint8)] * 2)
    assert len({tuple(c) for c in maps.colours}) == 2
    layer = np.zeros((8, 10, 4), np.uint8)
    layer[2:4, 6:9] = (*np.clip(maps.colours[0].astype(int) + 3, 0, 255), 200)  # a stroke of label 0 (anti-aliased colour) on label 1's half
    maps.repaint(0, layer)
    maps.repaint(0, layer)
    expected = labels.copy()
    expected[2:4, 6:9] = 0
    assert (maps.maps[0] == expected).all() and (maps.maps[1] == labels).all()
    content_map, style_map = maps.write(tmp_path)
    assert (load_image(content_map) == maps.colours[expected]).all()


def test_an_upload_over_the_pixel_limit_is_refused_with_the_clis_message(tmp_path: Path, monkeypatch) -> None:
    from sst.ui.jobs import max_upload_bytes, read_upload

    save_image(tmp_path / "big.png", np.zeros((40, 50, 3), np.uint8))
    monkeypatch.setenv("SST_MAX_PIXELS", "1000")
    with pytest.raises(SSTError, match="50x40 pixels, over the limit of 1,000"):
        read_upload(tmp_path / "big.png")
    assert max_upload_bytes() == 4000


def test_stop_ends_a_running_job_at_its_next_iteration_and_writes_nothing(two_region_pair: dict[str, Path],
                                                                          tmp_path: Path) -> None:
    from sst.core.transfer import transfer
    from sst.ui.jobs import Cancelled, Pipelines, Reporter, in_thread

    options = TransferOptions(size=64, levels=1, iters=50, features=ui_browser.FEATURES, loss="mrf")
    reporter = Reporter(threading.Event(), options.levels)
    stylist = Pipelines().stylist(options, reporter.notice)
    out = tmp_path / "results" / "out.png"

    seen, reached = [], threading.Event()

    def on_image(image) -> None:  # the job waits at its second iteration until Stop is pressed
        reporter.on_image(image)
        seen.append(image)
        if len(seen) == 2:
            reached.set()
            reporter.cancel.wait(30)

    def work():
        return transfer(two_region_pair["content"], [two_region_pair["style"]], out, stylist=stylist,
                        on_level=reporter.on_level, on_image=on_image)

    for last in in_thread(work, reporter.cancel, every=0.05):
        if reached.is_set():
            reporter.cancel.set()  # what the page's Stop does, from the page's thread
    assert isinstance(last, Cancelled) and "stopped" in str(last)
    assert "iteration 50/50" not in reporter.step and reporter.image is not None
    assert list(out.parent.glob("*")) == []
