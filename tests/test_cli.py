"""End to end through the command line: a small real run, and every bad input gets one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sst.core.images import load_image, resize
from tests.conftest import run_cli

SMALL = ["--size", "64", "--levels", "2", "--iters", "4", "--features", "vgg16"]


def assert_user_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_small_real_run_writes_image_and_sidecar(two_region_pair: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "result.png"
    p = two_region_pair
    result = run_cli("run", str(p["content"]), str(p["style"]), "-o", str(out), *SMALL, "--seed", "3",
                     "--content-map", str(p["content_map"]), "--style-map", str(p["style_map"]), "--save-masks")
    assert result.returncode == 0, result.stderr
    image, content = load_image(out), load_image(p["content"])
    assert image.shape == (48, 64, 3)  # --size 64 on the long side of the 96x128 content, its aspect kept
    # stylised, not a copy of the content, and the content's stripes still there (correlated with it)
    small = resize(content, image.shape[:2]).astype(float)
    assert np.abs(image - small).mean() > 5
    assert np.corrcoef(image.astype(float).ravel(), small.ravel())[0, 1] > 0.5
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["options"]["size"] == 64 and sidecar["seed"] == 3
    assert {(x["kind"], x["name"]) for x in sidecar["plugins"]} == {
        ("loss", "mrf-semantic"), ("segmenter", "manual"), ("softener", "gaussian"), ("features", "vgg16")}
    assert len(sidecar["models"]["vgg16"]["sha256"]) == 64
    assert [level["iterations"] for level in sidecar["levels"]] == [4, 4]
    assert all(level["seconds"] > 0 for level in sidecar["levels"])
    assert sidecar["peak_memory"]["process_rss_mib"] > 100
    assert sorted(sidecar["masks"]["labels"]) == ["#0000ff", "#ff0000"]
    assert (tmp_path / "result_masks" / "content_composite.png").exists()
    assert not list(tmp_path.glob(".*.tmp"))


def test_contrib_plugin_is_selected_by_name_through_sst_run(two_region_pair: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "boxed.png"
    p = two_region_pair
    result = run_cli("run", str(p["content"]), str(p["style"]), "-o", str(out), *SMALL, "--softener", "box",
                     "--content-map", str(p["content_map"]), "--style-map", str(p["style_map"]))
    assert result.returncode == 0, result.stderr
    used = {x["name"]: x["package"] for x in json.loads(out.with_suffix(".json").read_text())["plugins"]}
    assert used["box"] == "sst-example-plugin"


def test_missing_colour_is_a_notice_not_an_error(two_region_pair: dict[str, Path], tmp_path: Path) -> None:
    from sst.core.images import load_image, save_image

    p = two_region_pair
    style_map = load_image(p["style_map"])
    style_map[style_map[..., 2] == 255] = (255, 0, 0)  # the style map loses its blue region
    save_image(tmp_path / "red_only.png", style_map)
    result = run_cli("run", str(p["content"]), str(p["style"]), "-o", str(tmp_path / "o.png"), *SMALL,
                     "--content-map", str(p["content_map"]), "--style-map", str(tmp_path / "red_only.png"))
    assert result.returncode == 0, result.stderr
    assert "colour #0000ff is missing from style map" in " ".join(result.stderr.split())


@pytest.fixture
def pair(two_region_pair: dict[str, Path]) -> list[str]:
    return [str(two_region_pair["content"]), str(two_region_pair["style"])]


def test_missing_image(pair: list[str], tmp_path: Path) -> None:
    assert_user_error(run_cli("run", str(tmp_path / "nope.jpg"), pair[1], "-o", str(tmp_path / "o.png")), "not found")


def test_unreadable_image(pair: list[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert_user_error(run_cli("run", pair[0], str(bad), "-o", str(tmp_path / "o.png")), "cannot read", "bad.png")


def test_map_with_wrong_aspect_ratio(two_region_pair: dict[str, Path], tmp_path: Path) -> None:
    from sst.core.images import save_image
    import numpy as np

    wide = tmp_path / "wide.png"
    save_image(wide, np.zeros((20, 100, 3), np.uint8))
    p = two_region_pair
    result = run_cli("run", str(p["content"]), str(p["style"]), "-o", str(tmp_path / "o.png"), *SMALL,
                     "--content-map", str(wide), "--style-map", str(p["style_map"]))
    assert_user_error(result, "aspect", "wide.png")


def test_unknown_plugin(pair: list[str], tmp_path: Path) -> None:
    result = run_cli("run", *pair, "-o", str(tmp_path / "o.png"), "--loss", "mrf-semantik")
    assert_user_error(result, "unknown loss 'mrf-semantik'", "did you mean 'mrf-semantic'")


def test_model_not_available(pair: list[str], tmp_path: Path) -> None:
    result = run_cli("run", *pair, "-o", str(tmp_path / "o.png"), *SMALL[:-2], "--features", "vgg19", "--loss", "mrf",
                     env={"SST_CACHE_DIR": str(tmp_path / "empty-cache")})
    assert_user_error(result, "vgg19", "sst models fetch vgg19 --from")


def test_output_is_a_directory(pair: list[str], tmp_path: Path) -> None:
    assert_user_error(run_cli("run", *pair, "-o", str(tmp_path), "--loss", "mrf"), "is a directory")


def test_output_equals_an_input(pair: list[str]) -> None:
    before = Path(pair[0]).read_bytes()
    assert_user_error(run_cli("run", *pair, "-o", pair[0], "--loss", "mrf"), "is one of the inputs")
    assert Path(pair[0]).read_bytes() == before
