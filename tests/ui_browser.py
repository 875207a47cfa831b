"""Driving ``sst ui`` in a real headless Chromium (Playwright's sync API): the server as a subprocess, and the
user's flow (upload, Segment, repaint, Stylise), shared by tests/test_ui.py and benchmarks/ui_screenshots.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"  # Debian's (`make test` installs it): Playwright's own download needs the network
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TINY = {"size": "64", "levels": "1", "iters": "3"}  # typed into the page's option boxes
FEATURES = "vgg16"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(output: Path, timeout: float = 90) -> Iterator[str]:
    """``sst ui`` on a free port as a user starts it (this interpreter, this environment); yields its URL."""
    port = free_port()
    log = output.parent / "sst-ui.log"
    with log.open("w") as sink:
        server = subprocess.Popen([sys.executable, "-m", "sst", "ui", "--port", str(port), "-o", str(output)],
                                  stdout=sink, stderr=subprocess.STDOUT, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"sst ui exited with {server.returncode}: {log.read_text()}")
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"sst ui did not answer in {timeout} s: {log.read_text()}") from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def browser() -> Iterator[object]:
    """A new page in headless Chromium, 1400x1000."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            chromium.close()


def set_option(page, name: str, value: str) -> None:
    box = page.locator(f"#option-{name} input, #option-{name} textarea").first
    box.fill(value)
    box.press("Tab")


def choose(page, elem_id: str, starts: str) -> None:
    """Pick the option of a Gradio dropdown whose text starts with ``starts``."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option").filter(has_text=starts).first.click()


def stroke(page, points: list[tuple[float, float]]) -> None:
    """A brush stroke through ``points``, fractions of the editor's canvas (the image is centred in it)."""
    page.locator("#editor button[aria-label=Brush]").click()
    box = page.locator("#editor .pixi-target canvas").bounding_box()
    xy = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in points]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for a, b in zip(xy, xy[1:]):
        for t in (0.25, 0.5, 0.75, 1.0):
            page.mouse.move(a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
    page.mouse.up()


def segment_and_repaint(page, url: str, content: Path, style: Path, label: str,
                        points: list[tuple[float, float]], shot: Callable[[str], None] = lambda name: None) -> None:
    """Open the page, upload, set the tiny options, Segment, and paint ``label`` along ``points`` on the content."""
    page.goto(url)
    page.locator("#segment").wait_for()
    shot("1-opened")
    page.set_input_files("#content input[type=file]", str(content))
    page.set_input_files("#styles input[type=file]", [str(style)])
    page.locator("#uploads img").nth(1).wait_for()
    for name, value in TINY.items():
        set_option(page, name, value)
    page.get_by_text("more options").click()
    choose(page, "option-features", FEATURES)
    shot("2-uploaded")
    page.locator("#segment").click()
    page.locator("#masks img").wait_for(timeout=60_000)
    page.locator("#legend span").first.wait_for()
    choose(page, "label-choice", label)
    page.wait_for_timeout(1000)  # the editor takes the label's colour
    stroke(page, points)
    shot("3-segmented-and-repainted")


def stylise(page, shot: Callable[[str], None] = lambda name: None, timeout_ms: int = 60_000) -> None:
    """Stylise and wait for the result and its downloads."""
    page.get_by_role("tab", name="Stylise").click()
    page.locator("#stylise").click()
    page.locator("#result img").wait_for(timeout=timeout_ms)
    page.locator("#downloads").get_by_text(".json").first.wait_for(timeout=timeout_ms)
    shot("4-result")
