"""The memory estimate's network probe: it measures, and leaves nothing behind."""

from __future__ import annotations

import gc
import warnings

import torch

from sst.core.interfaces import PluginContext
from sst.core.memory import profile_network
from sst.core.models import ModelManager
from sst.core.registry import default_registry


def live_tensors() -> int:
    with warnings.catch_warnings():  # isinstance on every object touches torch's deprecated aliases
        warnings.simplefilter("ignore", FutureWarning)
        return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))


def test_the_network_probe_counts_saved_bytes_and_keeps_no_tensor_alive() -> None:
    """Each job probes the network before it starts; a probe graph that held its own outputs was a cycle
    autograd kept alive, about 30 tensors (27 MB at 512 px) per video frame, for ever."""
    ctx = PluginContext(default_registry(), ModelManager(), torch.device("cpu"), lambda message: None)
    net = ctx.registry.create("features", "vgg16", ctx)
    taps = {"relu3_1", "relu4_1"}
    profile_network(net, taps, torch.device("cpu"))
    before = live_tensors()
    for _ in range(3):
        profile = profile_network(net, taps, torch.device("cpu"))
    assert live_tensors() == before, "the probe's activations outlived it"
    assert profile.saved_per_pixel > 100  # VGG-16 to relu4_1 saves hundreds of bytes per input pixel
    assert profile.taps["relu3_1"] == (256, 4.0) and profile.taps["relu4_1"] == (512, 8.0)
