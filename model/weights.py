"""fp16 storage for exported graphs: half the bundle size, fp32 arithmetic at run time.

Each large float initializer is stored as float16 and followed by a Cast to
float32, which ONNX Runtime folds into a constant when the session is built, so
inference runs at full fp32 speed on weights rounded to fp16. Rounding the
PyTorch weights the same way before export keeps the parity check exact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

MIN_ELEMENTS = 1024  # small tensors (biases, scalars) are not worth a Cast node


def round_to_fp16(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(parameter.half().float())


FP16_SUFFIX = "__fp16"


def restore_initializers_fp32(path: Path, out: Path) -> None:
    """Undo `store_initializers_fp16`: quantizers only recognise weights that are plain initializers."""
    graph_model = onnx.load(str(path))
    graph = graph_model.graph
    halves = {init.name: init for init in graph.initializer if init.name.endswith(FP16_SUFFIX)}
    restored, kept_nodes = [], []
    for node in graph.node:
        if node.op_type == "Cast" and len(node.input) == 1 and node.input[0] in halves:
            array = numpy_helper.to_array(halves[node.input[0]]).astype(np.float32)
            restored.append(numpy_helper.from_array(array, node.output[0]))
        else:
            kept_nodes.append(node)
    kept_inits = [init for init in graph.initializer if init.name not in halves] + restored
    del graph.initializer[:]
    graph.initializer.extend(kept_inits)
    del graph.node[:]
    graph.node.extend(kept_nodes)
    onnx.checker.check_model(graph_model)
    onnx.save(graph_model, str(out))


def store_initializers_fp16(path: Path) -> None:
    graph_model = onnx.load(str(path))
    graph = graph_model.graph
    casts = []
    kept = []
    for initializer in graph.initializer:
        array = numpy_helper.to_array(initializer)
        if initializer.data_type != TensorProto.FLOAT or array.size < MIN_ELEMENTS:
            kept.append(initializer)
            continue
        half = numpy_helper.from_array(array.astype(np.float16), f"{initializer.name}{FP16_SUFFIX}")
        kept.append(half)
        casts.append(
            helper.make_node(
                "Cast", [half.name], [initializer.name], to=TensorProto.FLOAT, name=f"{initializer.name}__cast"
            )
        )
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(graph_model)
    onnx.save(graph_model, str(path))
