"""Building the ONNX model the ``crfrnn`` segmenter runs: a VOC segmentation network + the CRF layer.

The network is torchvision's ``deeplabv3_resnet50`` or ``fcn_resnet50`` with
its COCO-trained PASCAL VOC weights (21 labels), followed by
:class:`~sst.plugins.softeners.crf.MeanFieldCRF` on a grid twice coarser than
the input. The file follows the contract in :mod:`sst.plugins.segmenters.crfrnn`.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision

from sst.core.errors import SSTError
from sst.core.images import write_atomic
from sst.plugins.features.vgg import IMAGENET_MEAN, IMAGENET_STD
from sst.plugins.segmenters.crfrnn import INPUT_NAME, INPUT_SIZE, META_INPUT_SIZE, META_LABELS, OUTPUT_NAME, VOC_LABELS
from sst.plugins.softeners.crf import MeanFieldCRF

OPSET = 18
ARCHS = {
    "deeplabv3": (torchvision.models.segmentation.deeplabv3_resnet50,
                  torchvision.models.segmentation.DeepLabV3_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1),
    "fcn": (torchvision.models.segmentation.fcn_resnet50,
            torchvision.models.segmentation.FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1),
}


class CRFRNN(torch.nn.Module):
    """image (1, 3, H, W) RGB in [0, 1] -> scores (1, C, H, W): the backbone's logits refined by the CRF.

    The backbone receives the ImageNet-normalised image and returns (1, C, H, W)
    logits (or torchvision's ``{"out": ...}``); the CRF runs on a grid
    ``downsample`` times coarser and its logits are upsampled bilinearly.
    """

    def __init__(self, backbone: torch.nn.Module, crf: MeanFieldCRF, downsample: int = 2) -> None:
        super().__init__()
        self.backbone = backbone
        self.crf = crf
        self.downsample = downsample
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        logits = self.backbone((image - self.mean) / self.std)
        if isinstance(logits, dict):
            logits = logits["out"]
        d = self.downsample
        small = self.crf(F.avg_pool2d(logits, d, ceil_mode=True), F.avg_pool2d(image, d, ceil_mode=True))
        return F.interpolate(small, size=image.shape[-2:], mode="bilinear", align_corners=False)


def crf_for_input(input_size: int = INPUT_SIZE, downsample: int = 2) -> MeanFieldCRF:
    """The CRF layer for inputs of long side ``input_size`` run on a grid ``downsample`` times coarser."""
    return MeanFieldCRF.for_grid(-(-input_size // downsample))


def write_onnx(model: CRFRNN, output: Path, input_size: int = INPUT_SIZE,
               labels: tuple[str, ...] = VOC_LABELS) -> Path:
    """Export ``model`` with dynamic height and width (opset 18) and the metadata the segmenter reads."""
    for package in ("onnx", "onnxscript"):
        if importlib.util.find_spec(package) is None:
            raise SSTError(f"exporting to ONNX needs the '{package}' package; install sst's 'export' extra (pip install -e '.[export]' in the checkout)")
    model = model.eval()
    example = torch.rand(1, 3, input_size * 3 // 4, input_size)
    height, width = torch.export.Dim("height", min=32, max=4096), torch.export.Dim("width", min=32, max=4096)
    with torch.no_grad():
        program = torch.onnx.export(
            model, (example,), dynamo=True, opset_version=OPSET, input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME], dynamic_shapes={"image": {2: height, 3: width}}, external_data=False,
        )
    proto = program.model_proto
    for key, value in ((META_LABELS, ",".join(labels)), (META_INPUT_SIZE, str(input_size))):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    write_atomic(Path(output), proto.SerializeToString())
    return Path(output)


def voc_state_dict(arch: str, weights: Path | None) -> dict[str, torch.Tensor]:
    """torchvision's VOC-label weights for ``arch``: from ``weights`` (checked by its sha256 prefix) or downloaded."""
    enum = ARCHS[arch][1]
    filename = enum.url.rsplit("/", 1)[-1]
    prefix = filename.rsplit("-", 1)[-1].split(".")[0]
    if weights is None:
        try:
            return enum.get_state_dict(progress=True, check_hash=True)
        except Exception as exc:  # no network, proxy refusal, bad download: all mean "give the file"
            raise SSTError(f"could not download {filename} ({type(exc).__name__}); "
                           f"get it from {enum.url} and give it with --weights PATH") from exc
    if not Path(weights).is_file():
        raise SSTError(f"{weights} is not a file; give the path of {filename} with --weights PATH")
    data = Path(weights).read_bytes()
    if not hashlib.sha256(data).hexdigest().startswith(prefix):
        raise SSTError(f"{weights} is not {filename} (sha256 does not start with {prefix}); "
                       f"give that file with --weights PATH")
    return torch.load(Path(weights), map_location="cpu", weights_only=True)


def export_crfrnn(output: Path, weights: Path | None = None, arch: str = "deeplabv3",
                  input_size: int = INPUT_SIZE) -> Path:
    """Write the CRF-RNN ONNX model: torchvision's ``arch`` with VOC weights + the CRF layer."""
    if arch not in ARCHS:
        raise SSTError(f"unknown architecture '{arch}'; choose one of {', '.join(ARCHS)}")
    state = voc_state_dict(arch, weights)
    net = ARCHS[arch][0](weights=None, weights_backbone=None, num_classes=len(VOC_LABELS),
                         aux_loss=any(k.startswith("aux_classifier.") for k in state))
    net.load_state_dict(state, strict=True)
    net.aux_classifier = None
    return write_onnx(CRFRNN(net, crf_for_input(input_size)), output, input_size)
