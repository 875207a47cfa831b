"""Screenshots of ``sst ui`` at each step of the flow the browser test drives (tests/ui_browser.py): opened,
uploaded, segmented and repainted, result; a Compare of two losses; a longer job running, a second visitor
waiting in the queue meanwhile, and the job stopped.

    python benchmarks/ui_screenshots.py -o ui-shots       # PNGs in ui-shots/, the server's results in ui-shots/results/

``ui.jpg`` (the window after Segment and a brush stroke) is the README's ``docs/ui.jpg``.

Needs the ui extra, Playwright and Debian's chromium (``make test`` installs it). The images are the
conftest's drawn two-region pair.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests.ui_browser

from tests import ui_browser  # noqa: E402
from tests.conftest import two_region_files  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=Path("ui-shots"))
    args = parser.parse_args()
    out: Path = args.output
    out.mkdir(parents=True, exist_ok=True)
    pair = two_region_files(out)

    with ui_browser.served(out / "results") as url, ui_browser.browser() as page:
        def shot(name: str, tab=page) -> None:
            tab.screenshot(path=str(out / f"{name}.png"), full_page=True)
            print(f"wrote {out / name}.png")

        ui_browser.segment_and_repaint(page, url, pair["content"], pair["style"], "region2", [(0.5, 0.3), (0.5, 0.7)], shot)
        page.screenshot(path=str(out / "ui.jpg"), type="jpeg", quality=80)  # the README's picture (docs/ui.jpg)
        print(f"wrote {out / 'ui.jpg'}")
        ui_browser.stylise(page, shot)
        print("downloads:", [a.inner_text() for a in page.locator("#downloads a").all()])
        page.get_by_role("tab", name="Compare").click()
        for loss in ("gram-guided", "doodle", "mrf"):  # keep mrf-semantic and gram
            page.locator("#losses").get_by_label(loss, exact=True).uncheck()
        page.locator("#compare").click()
        page.locator("#grid img").wait_for(timeout=180_000)
        shot("5-compare")

        second = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})  # another visitor
        second.goto(url)
        second.set_input_files("#content input[type=file]", str(pair["content"]))
        second.set_input_files("#styles input[type=file]", [str(pair["style"])])
        second.locator("#uploads img").nth(1).wait_for()
        ui_browser.set_option(page, "iters", "400")
        page.get_by_role("tab", name="Stylise").click()
        page.locator("#stylise").click()
        page.locator("#progress").get_by_text("/400").first.wait_for(timeout=60_000)
        page.wait_for_timeout(1500)  # a few previews
        shot("6-running")
        second.locator("#segment").click()
        second.get_by_text("queue").first.wait_for(timeout=30_000)
        shot("7-second-visitor-queued", second)
        page.locator("#stop").click()
        page.get_by_text("stopped").first.wait_for(timeout=30_000)
        shot("8-stopped")
        second.locator("#masks img").wait_for(timeout=120_000)


if __name__ == "__main__":
    main()
