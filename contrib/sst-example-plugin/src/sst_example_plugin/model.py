"""The plugin's own model, ``example-sky``: a per-pixel sky/ground classifier as a tiny ONNX file.

One 1x1 convolution over (red, green, blue, height in the image) and a softmax over its two channels: blue
and high up is sky, red or low down is ground. Its weights are written here, so every build gives the same
bytes and the model manager can check them against :data:`SHA256`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sst.core.images import write_atomic

INPUT, OUTPUT = "rgby", "probabilities"  # (1, 4, H, W) in [0, 1], y = 0 at the top; (1, 2, H, W): sky, ground
WEIGHTS = np.array([[[[-6.0]], [[0.0]], [[10.0]], [[-8.0]]],  # sky logit
                    [[[0.0]], [[0.0]], [[0.0]], [[0.0]]]], np.float32)  # ground logit: the reference
BIAS = np.array([1.0, 0.0], np.float32)
SHA256 = "9e0c6e9edf656689f8a9ada133cf5a8502aefbccad355a9e927a647de5ef5fe2"  # of the file build() writes; tests/test_example_plugin.py fails when the two part


def build(path: Path) -> Path:
    """Write the model to ``path`` (needs the ``onnx`` package) and return it."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("Conv", [INPUT, "weights", "bias"], ["logits"], kernel_shape=[1, 1]),
         helper.make_node("Softmax", ["logits"], [OUTPUT], axis=1)],
        "example-sky",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [1, 4, "height", "width"])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [1, 2, "height", "width"])],
        [numpy_helper.from_array(WEIGHTS, "weights"), numpy_helper.from_array(BIAS, "bias")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8,
                              producer_name="sst-example-plugin")
    onnx.checker.check_model(model)
    write_atomic(path, model.SerializeToString(deterministic=True))
    return path
