"""The crfrnn export path at full size, without VOC weights: parity of ONNX Runtime with PyTorch, and speed.

Builds torchvision's DeepLabV3-ResNet50 (or FCN) with *random* weights (VOC
weights cannot be downloaded here) followed by the CRF layer, exports it with
the code ``sst models export crfrnn`` uses, and on one image of long side 512
reports the largest |ONNX - PyTorch| score difference, the export time and the
mean ONNX Runtime time per image (CPU provider).

    .venv/bin/python benchmarks/crfrnn_export.py --arch deeplabv3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import skimage.data
import torch

from sst.core.images import resize_long_side
from sst.plugins.segmenters.crfrnn import INPUT_NAME, INPUT_SIZE, OUTPUT_NAME, VOC_LABELS
from sst.plugins.segmenters.crfrnn.build import ARCHS, CRFRNN, crf_for_input, write_onnx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=list(ARCHS), default="deeplabv3")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    net = ARCHS[args.arch][0](weights=None, weights_backbone=None, num_classes=len(VOC_LABELS), aux_loss=False)
    model = CRFRNN(net, crf_for_input(INPUT_SIZE)).eval()
    image = resize_long_side(skimage.data.astronaut(), INPUT_SIZE)
    x = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32) / 255
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        path = write_onnx(model, Path(tmp) / "crfrnn.onnx")
        export_s = time.perf_counter() - started
        size_mb = path.stat().st_size / 2**20
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        session.run([OUTPUT_NAME], {INPUT_NAME: x})  # warm-up
        started = time.perf_counter()
        for _ in range(args.repeats):
            (onnx_scores,) = session.run([OUTPUT_NAME], {INPUT_NAME: x})
        run_s = (time.perf_counter() - started) / args.repeats
    with torch.no_grad():
        torch_scores = model(torch.from_numpy(x)).numpy()
    print(f"{args.arch} + CRF, random weights, input {image.shape[1]}x{image.shape[0]}: "
          f"max |onnx - torch| = {np.abs(onnx_scores - torch_scores).max():.1e} "
          f"(scores span {torch_scores.min():.1f}..{torch_scores.max():.1f}); export {export_s:.0f} s, "
          f"{size_mb:.0f} MB; ONNX Runtime CPU {run_s:.2f} s per image ({torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
