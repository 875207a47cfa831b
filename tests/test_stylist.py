"""One pipeline, many jobs: the network is loaded once and no job's state leaks into the next."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sst import Stylist, TransferOptions
from sst.core.images import load_image
from tests.conftest import stripes, two_region_files

OPTIONS = TransferOptions(size=64, levels=2, iters=4, loss="mrf", search="approx", features="vgg16", seed=3)


def test_jobs_through_one_stylist_match_fresh_runs(tmp_path: Path) -> None:
    paths = two_region_files(tmp_path)
    content, style = load_image(paths["content"]), load_image(paths["style"])
    other = stripes(96, 128, (30, 160, 60), period=10)
    stylist = Stylist(OPTIONS)
    net = stylist.net
    first = stylist.stylise(content, [style]).image
    second = stylist.stylise(other, [style]).image
    again = stylist.stylise(content, [style]).image
    assert stylist.net is net  # loaded once
    assert np.array_equal(first, again)  # the PatchMatch fields of the other job did not leak
    assert np.array_equal(second, Stylist(OPTIONS).stylise(other, [style]).image)
    assert np.abs(first.astype(int) - second.astype(int)).mean() > 5  # different jobs, different images


def test_one_segmentation_serves_every_loss(tmp_path: Path) -> None:
    paths = two_region_files(tmp_path)
    content, style = load_image(paths["content"]), load_image(paths["style"])
    maps = dict(content_map=paths["content_map"], style_maps=(paths["style_map"],))
    base = Stylist(TransferOptions(size=64, levels=1, iters=2, features="vgg16", **maps))
    segmented = base.segment(content, [style], paths["content_map"], [paths["style_map"]])
    assert [p.name for p in segmented.plugins] == ["manual", "gaussian"]
    assert not np.array_equal(segmented.raw.content.maps, segmented.soft.content.maps)  # softened for the losses
    for loss in ("mrf-semantic", "doodle", "gram-guided"):
        job = Stylist(TransferOptions(size=64, levels=1, iters=2, features="vgg16", loss=loss, **maps)).stylise(
            content, [style], segmented)
        assert job.segmentation is segmented.soft
        assert [p.name for p in job.plugins][2:] == ["manual", "gaussian"]
