"""Rewire exported graphs without their checkpoint: the format-2 decoder step, and fast matrix-vector products.

Turn a format-1 decoder-step graph into the format-2 step of the batched decoder (nmt_core/bundle.py).

The exporter writes every decoder step through here, and `model.upgrade_bundle` applies it to old
bundles whose checkpoints are gone: the network is untouched, only its edges change.
- h, c and feed become the previous step's state plus the rows admitted since, gathered by `parents`;
- memory, keys and src_mask become one row per sentence, gathered by `row_sentence`;
- the log-softmax output is replaced by TopK(log_probs, k), so no [rows, vocab] tensor leaves the graph.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from nmt_core.bundle import (
    DECODER_INPUTS,
    DECODER_OUTPUTS,
    LEGACY_DECODER_INPUTS,
    LEGACY_DECODER_OUTPUTS,
    VOCAB_SIZE_KEY,
)

_ROWS, _PREVIOUS, _FRESH, _SENTENCES, _SOURCE = "rows", "previous_rows", "fresh_rows", "sentences", "src_len"
_PER_ROW_STATE = ("h", "c", "feed")
_PER_SENTENCE = ("memory", "keys", "src_mask")


def _value_info(name: str, like: onnx.ValueInfoProto, first_axes: list[str]) -> onnx.ValueInfoProto:
    """`like`'s element type and trailing dimensions, with its leading axes renamed."""
    tensor = like.type.tensor_type
    dims: list[str | int] = list(first_axes)
    for dim in list(tensor.shape.dim)[len(first_axes) :]:
        dims.append(dim.dim_param or dim.dim_value)
    return helper.make_tensor_value_info(name, tensor.elem_type, dims)


def batched_decoder_graph(legacy: onnx.ModelProto) -> onnx.ModelProto:
    """A new model: the legacy network with the format-2 signature (validated by the ONNX checker)."""
    model = onnx.ModelProto()
    model.CopyFrom(legacy)
    graph = model.graph
    inputs = {i.name: i for i in graph.input}
    outputs = {o.name: o for o in graph.output}
    if tuple(inputs) != LEGACY_DECODER_INPUTS or tuple(outputs) != LEGACY_DECODER_OUTPUTS:
        raise ValueError(f"not a format-1 decoder step: inputs {list(inputs)}, outputs {list(outputs)}")
    internal = {name: f"{name}_rows" for name in (*_PER_ROW_STATE, *_PER_SENTENCE)}
    for node in graph.node:
        node.input[:] = [internal.get(name, name) for name in node.input]

    prologue: list[onnx.NodeProto] = []
    for name in _PER_ROW_STATE:
        prologue += [
            helper.make_node("Concat", [name, f"{name}_fresh"], [f"{name}_all"], axis=0, name=f"admit_{name}"),
            helper.make_node("Gather", [f"{name}_all", "parents"], [internal[name]], axis=0, name=f"reorder_{name}"),
        ]
    for name in _PER_SENTENCE:
        prologue.append(
            helper.make_node("Gather", [name, "row_sentence"], [internal[name]], axis=0, name=f"rows_of_{name}")
        )
    top_k = helper.make_node(
        "TopK", ["log_probs", "k"], ["topk_log_probs", "topk_ids"], axis=-1, largest=1, sorted=1, name="top_k"
    )
    nodes = [*prologue, *graph.node, top_k]
    del graph.node[:]
    graph.node.extend(nodes)

    index = helper.make_tensor_value_info
    new_inputs = {
        "prev_tokens": _value_info("prev_tokens", inputs["prev_tokens"], [_ROWS]),
        "parents": index("parents", TensorProto.INT64, [_ROWS]),
        "row_sentence": index("row_sentence", TensorProto.INT64, [_ROWS]),
        "k": index("k", TensorProto.INT64, [1]),
    }
    for name in _PER_ROW_STATE:
        new_inputs[name] = _value_info(name, inputs[name], [_PREVIOUS])
        new_inputs[f"{name}_fresh"] = _value_info(f"{name}_fresh", inputs[name], [_FRESH])
    for name in _PER_SENTENCE:
        new_inputs[name] = _value_info(name, inputs[name], [_SENTENCES, _SOURCE])
    del graph.input[:]
    graph.input.extend(new_inputs[name] for name in DECODER_INPUTS)

    new_outputs = {
        "topk_log_probs": helper.make_tensor_value_info("topk_log_probs", TensorProto.FLOAT, [_ROWS, "k"]),
        "topk_ids": helper.make_tensor_value_info("topk_ids", TensorProto.INT64, [_ROWS, "k"]),
        "h_out": _value_info("h_out", outputs["h_out"], [_ROWS]),
        "c_out": _value_info("c_out", outputs["c_out"], [_ROWS]),
        "feed_out": _value_info("feed_out", outputs["feed_out"], [_ROWS]),
        "attention": _value_info("attention", outputs["attention"], [_ROWS, _SOURCE]),
    }
    del graph.output[:]
    graph.output.extend(new_outputs[name] for name in DECODER_OUTPUTS)
    del graph.value_info[:]  # shapes inferred for the old signature no longer hold
    vocab_size = outputs["log_probs"].type.tensor_type.shape.dim[1].dim_value
    helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, VOCAB_SIZE_KEY: str(vocab_size)})
    column_matmuls(model)
    onnx.checker.check_model(model)
    return model


def is_legacy_decoder(model: onnx.ModelProto) -> bool:
    return tuple(i.name for i in model.graph.input) == LEGACY_DECODER_INPUTS


def vector_matmuls(model: onnx.ModelProto) -> list[int]:
    """Positions of the MatMul nodes whose right operand is a 1-D vector (the additive attention's `v`)."""
    inferred = onnx.shape_inference.infer_shapes(model)
    ranks = {
        info.name: len(info.type.tensor_type.shape.dim)
        for info in (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output)
        if info.type.tensor_type.HasField("shape")
    }
    ranks.update({init.name: len(init.dims) for init in model.graph.initializer})
    return [
        index
        for index, node in enumerate(model.graph.node)
        if node.op_type == "MatMul" and ranks.get(node.input[1]) == 1
    ]


def column_matmuls(model: onnx.ModelProto) -> int:
    """Rewrite each MatMul(A, v) with a 1-D v as Squeeze(MatMul(A, Unsqueeze(v)), -1), in place.

    Same values (numpy's matmul rule), but ONNX Runtime runs a matrix times a one-column matrix as a GEMM,
    about 10x faster than its 1-D broadcast path. Returns how many nodes were rewritten."""
    targets = set(vector_matmuls(model))
    if not targets:
        return 0
    graph = model.graph
    taken = {name for node in graph.node for name in (*node.input, *node.output, node.name)}
    taken |= {init.name for init in graph.initializer} | {i.name for i in graph.input}

    def fresh(base: str) -> str:
        name, suffix = base, 1
        while name in taken:
            name, suffix = f"{base}_{suffix}", suffix + 1
        taken.add(name)
        return name

    column_axis, last_axis = fresh("column_axis"), fresh("last_axis")
    graph.initializer.extend(
        [
            helper.make_tensor(column_axis, TensorProto.INT64, [1], [1]),
            helper.make_tensor(last_axis, TensorProto.INT64, [1], [-1]),
        ]
    )
    columns: dict[str, str] = {}  # one Unsqueeze per vector, however many products use it
    nodes: list[onnx.NodeProto] = []
    for index, node in enumerate(graph.node):
        if index not in targets:
            nodes.append(node)
            continue
        vector, output = node.input[1], node.output[0]
        if vector not in columns:
            columns[vector] = fresh(f"{vector}_column")
            nodes.append(
                helper.make_node(
                    "Unsqueeze", [vector, column_axis], [columns[vector]], name=fresh(f"{vector}_unsqueeze")
                )
            )
        product = fresh(f"{output}_column")
        nodes += [
            helper.make_node("MatMul", [node.input[0], columns[vector]], [product], name=node.name),
            helper.make_node("Squeeze", [product, last_axis], [output], name=fresh(f"{output}_squeeze")),
        ]
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return len(targets)


def position_sums_as_products(model: onnx.ModelProto) -> int:
    """Rewrite ReduceSum(Mul(memory, weights), axes=[1]) (the masked sum of the encoder's memory over source
    positions, [B, S, H] x [B, S, 1]) as MatMul(weights^T, memory), in place; returns how many.

    A reduction over positions sums in an order that depends on the padded width, so a sentence's bridge state
    changed in its last bits with its batch mates; the product accumulates in position order, and padding only
    adds exact zeros. Older exports have the sum (model/decoders.py now writes the product).
    """
    graph = model.graph
    constants = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    constants.update(
        {n.output[0]: onnx.numpy_helper.to_array(n.attribute[0].t) for n in graph.node if n.op_type == "Constant"}
    )
    producers = {out: node for node in graph.node for out in node.output}
    users: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            users[name] = users.get(name, 0) + 1
    replaced: dict[int, list[onnx.NodeProto]] = {}
    dropped: set[int] = set()
    for node in graph.node:
        if node.op_type != "ReduceSum" or len(node.input) < 2 or node.input[1] not in constants:
            continue
        if [int(a) for a in constants[node.input[1]].ravel()] != [1]:
            continue
        product = producers.get(node.input[0])
        if product is None or product.op_type != "Mul" or users.get(product.output[0], 0) != 1:
            continue
        memory, weights = product.input
        p = f"position_sum{len(replaced)}_"
        replaced[id(node)] = [
            helper.make_node("Transpose", [weights], [p + "row"], perm=[0, 2, 1]),
            helper.make_node("MatMul", [p + "row", memory], [p + "product"]),
            helper.make_node("Squeeze", [p + "product", p + "axis"], [node.output[0]]),
        ]
        graph.initializer.append(onnx.numpy_helper.from_array(np.array([1], np.int64), p + "axis"))
        dropped.add(id(product))
    if replaced:
        nodes = [new for n in graph.node if id(n) not in dropped for new in replaced.get(id(n), [n])]
        graph.ClearField("node")
        graph.node.extend(nodes)
    return len(replaced)
