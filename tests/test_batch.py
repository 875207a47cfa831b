"""sst batch: grids, manifests, resuming, failures, and the same jobs on a real local Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from sst.core.batch import grid, run_batch
from sst.core.errors import SSTError
from sst.core.images import load_image, resize_long_side, save_image
from sst.core.options import TransferOptions
from tests.conftest import run_cli

TINY = ["--size", "48", "--levels", "1", "--iters", "3", "--features", "vgg16", "--loss", "mrf"]


@pytest.fixture()
def folders(tmp_path: Path) -> tuple[Path, Path]:
    contents, styles = tmp_path / "contents", tmp_path / "styles"
    for folder, names in ((contents, ("astronaut", "chelsea")), (styles, ("coffee", "rocket"))):
        for name in names:
            save_image(folder / f"{name}.png", resize_long_side(getattr(data, name)(), 96))
    return contents, styles


def records(out: Path) -> dict[str, dict]:
    return json.loads((out / "batch.json").read_text())["jobs"]


def batch(contents: Path, styles: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("batch", "--contents", str(contents), "--styles", str(styles), "-o", str(out), *TINY, *extra)


def test_a_grid_writes_every_result_a_manifest_and_a_contact_sheet_and_runs_once(folders, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = batch(*folders, out)
    assert result.returncode == 0, result.stderr
    names = {f"{c}__{s}" for c in ("astronaut", "chelsea") for s in ("coffee", "rocket")}
    assert {p.stem for p in out.glob("*__*.png")} == names and {p.stem for p in out.glob("*__*.json")} == names
    assert {n: r["status"] for n, r in records(out).items()} == dict.fromkeys(names, "done")
    sheet = load_image(out / "contact.png")
    assert sheet.shape[0] > 3 * 160 and sheet.shape[1] > 3 * 160  # 3 rows x 3 columns of cells
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*__*")}
    again = batch(*folders, out)
    assert again.returncode == 0 and "4 of 4 jobs already done" in " ".join(again.stderr.split())
    assert all(r["skipped"] for r in records(out).values())
    assert {p: p.stat().st_mtime_ns for p in out.glob("*__*")} == stamps


def test_a_changed_input_or_option_reruns_only_what_it_touches(folders, tmp_path: Path) -> None:
    out, (contents, styles) = tmp_path / "out", folders
    assert batch(contents, styles, out).returncode == 0
    save_image(styles / "rocket.png", resize_long_side(data.rocket()[::-1].copy(), 96))
    assert batch(contents, styles, out).returncode == 0
    assert {n: r["skipped"] for n, r in records(out).items()} == {
        "astronaut__coffee": True, "astronaut__rocket": False, "chelsea__coffee": True, "chelsea__rocket": False}
    assert batch(contents, styles, out, "--seed", "4").returncode == 0
    assert not any(r["skipped"] for r in records(out).values())


def test_a_killed_batch_resumes_with_only_the_rest(folders, tmp_path: Path) -> None:
    out = tmp_path / "out"
    slow = [*TINY[:4], "--iters", "40", *TINY[6:]]
    process = subprocess.Popen([sys.executable, "-m", "sst", "batch", "--contents", str(folders[0]), "--styles",
                                str(folders[1]), "-o", str(out), *slow], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if any(r["status"] == "done" for r in records(out).values()):
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = [n for n, r in records(out).items() if r["status"] == "done"]
    assert 1 <= len(done) < 4
    assert not list(out.glob(".*.tmp"))  # no half-written result
    resumed = run_cli("batch", "--contents", str(folders[0]), "--styles", str(folders[1]), "-o", str(out), *slow)
    assert resumed.returncode == 0, resumed.stderr
    after = records(out)
    assert sorted(n for n, r in after.items() if r["skipped"]) == sorted(done)
    assert all(r["status"] == "done" for r in after.values())


def test_a_bad_image_fails_its_jobs_and_not_the_batch(folders, tmp_path: Path) -> None:
    out, (contents, styles) = tmp_path / "out", folders
    (contents / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    result = batch(contents, styles, out)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    failed = {n: r for n, r in records(out).items() if r["status"] == "failed"}
    assert sorted(failed) == ["broken__coffee", "broken__rocket"] and all(r["error"] for r in failed.values())
    assert len(list(out.glob("*__*.png"))) == 4 and (out / "contact.png").exists()
    again = batch(contents, styles, out, "--retry-failed")
    assert again.returncode == 1 and not records(out)["broken__coffee"]["skipped"]


def test_a_manifest_applies_each_jobs_overrides(folders, tmp_path: Path) -> None:
    contents, styles = folders
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text("\n".join(json.dumps(job) for job in [
        {"content": "contents/astronaut.png", "styles": ["styles/coffee.png", "styles/rocket.png"]},
        {"content": "contents/chelsea.png", "style": "styles/rocket.png", "seed": 5, "style_weight": 2.0,
         "output": "cat.png", "loss": "mrf-semantic", "content_map": "contents/chelsea.png",
         "style_maps": ["styles/rocket.png"]},
    ]))
    out = tmp_path / "out"
    result = run_cli("batch", "--manifest", str(manifest), "-o", str(out), *TINY)
    assert result.returncode == 0, result.stderr
    cat = json.loads((out / "cat.json").read_text())
    assert (cat["options"]["seed"], cat["options"]["style_weight"], cat["options"]["loss"]) == (5, 2.0, "mrf-semantic")
    assert cat["options"]["content_map"] == str(contents / "chelsea.png") and cat["masks"]["labels"]
    both = json.loads((out / "astronaut__coffee+rocket.json").read_text())
    assert both["options"]["seed"] == 0 and len(both["styles"]) == 2
    assert not (out / "contact.png").exists()  # a manifest is no grid


def test_ray_gives_the_images_of_this_process(folders, tmp_path: Path) -> None:
    here, on_ray = tmp_path / "here", tmp_path / "ray"
    assert batch(*folders, here).returncode == 0
    result = batch(*folders, on_ray, "--backend", "ray", "--workers", "2")
    assert result.returncode == 0, result.stderr
    for path in here.glob("*__*.png"):
        assert np.array_equal(load_image(path), load_image(on_ray / path.name)), path.name
    assert all(r["status"] == "done" for r in records(on_ray).values())


def test_the_python_api_and_a_missing_ray(folders, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jobs = grid(sorted(folders[0].iterdir())[:1], sorted(folders[1].iterdir())[:1], tmp_path / "api")
    options = TransferOptions(size=48, levels=1, iters=2, features="vgg16", loss="mrf")
    report = run_batch(jobs, tmp_path / "api", options)
    assert report.failed == [] and report.contact_sheet.exists()
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(SSTError, match=r"pip install 'sst\[ray\]'"):
        run_batch(jobs, tmp_path / "api2", options, backend="ray")
