"""Start training from a bundle's weights, even under a new vocabulary.

A bundle keeps no checkpoint, but its fp32 graphs hold every parameter (rounded
to fp16 where the bundle stores its weights so; training then starts from those). The
exporter names most initialisers after their module; the encoder's LSTMs are
fused ONNX LSTM ops (gates i,o,f,c; input and recurrent biases concatenated)
and the attention's key projection and weight-normalised vector were folded by
constant folding, so those are found through the nodes that use them.

A new vocabulary keeps the rows of pieces the old one also has; any other piece
starts as the mean of the old rows of its old segmentation, so a warm-started
model reads new pieces roughly as it read their parts; a new language's tag starts
as the mean of the old tags.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from model.seq2seq import TorchBackend, Translator
from model.weights import FP16_SUFFIX
from nmt_core.bundle import DECODER_STEP_FILE, ENCODER_FILE, SENTENCEPIECE_FILE, language_tag, load_bundle
from nmt_core.offline import translate_offline
from nmt_core.onnx_backend import OnnxBackend
from nmt_core.search import SearchOptions
from nmt_core.vocabulary import Vocabulary

WORD_BOUNDARY = "\u2581"  # SentencePiece's word-start marker
ONNX_TO_TORCH_GATES = [0, 2, 3, 1]  # ONNX LSTM gate blocks i,o,f,c -> PyTorch i,f,g,o
PARITY_TOLERANCE = 1e-3
PROBE_SENTENCE = "A man in a red jacket is walking down the street."
TIED_TO_EMBEDDING = ("encoder.embedding.weight", "decoder.embedding.weight", "decoder.output.weight")


@dataclass
class WarmStartReport:
    bundle: str
    copied_rows: int  # vocabulary rows taken over as they were
    composed_rows: int  # new pieces started from the mean of their old parts


def _initializers(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Every initializer as fp32, under the name the graph's nodes use (fp16 storage undone)."""
    arrays = {}
    for init in graph.initializer:
        name = init.name.removesuffix(FP16_SUFFIX)
        arrays[name] = numpy_helper.to_array(init).astype(np.float32)
    return arrays


def _reorder_gates(array: np.ndarray) -> np.ndarray:
    blocks = np.split(array, 4, axis=0)
    return np.concatenate([blocks[i] for i in ONNX_TO_TORCH_GATES], axis=0)


def _lstm_weights(node: onnx.NodeProto, arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    w, r, b = (arrays[name][0] for name in node.input[1:4])  # one direction: drop the leading axis
    hidden4 = w.shape[0]
    return {
        f"{prefix}.weight_ih_l0": _reorder_gates(w),
        f"{prefix}.weight_hh_l0": _reorder_gates(r),
        f"{prefix}.bias_ih_l0": _reorder_gates(b[:hidden4]),
        f"{prefix}.bias_hh_l0": _reorder_gates(b[hidden4:]),
    }


def _encoder_state(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    arrays = _initializers(graph)
    state = {name.removeprefix("model."): a for name, a in arrays.items() if name.startswith("model.")}
    for node in graph.node:
        scope = node.name.strip("/").split("/")
        if node.op_type == "LSTM":  # "/encoder/forward_rnn/LSTM", "/encoder/upper.0/LSTM"
            state.update(_lstm_weights(node, arrays, ".".join(scope[:-1])))
        elif node.op_type == "MatMul" and "key_proj" in scope and node.input[1] in arrays:
            state["decoder.attention.key_proj.weight"] = arrays[node.input[1]].T
    return state


def _decoder_state(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    arrays = _initializers(graph)
    state = {name.removeprefix("model."): a for name, a in arrays.items() if name.startswith("model.")}
    producers = {out: node for node in graph.node for out in node.output}
    for node in graph.node:  # gain * v / |v| folds to Div(gain * v, ReduceL2(v))
        norm = producers.get(node.input[1]) if node.op_type == "Div" and len(node.input) == 2 else None
        if norm is not None and norm.op_type == "ReduceL2" and node.input[0] in arrays and norm.input[0] in arrays:
            scaled, v = arrays[node.input[0]], arrays[norm.input[0]]
            state["decoder.attention.v"] = v
            state["decoder.attention.gain"] = np.asarray(scaled @ v / (v @ v), dtype=np.float32)  # signed
    return state


def bundle_state(bundle_dir: Path) -> dict[str, np.ndarray]:
    """The Translator state dict held by a bundle's fp32 graphs."""
    state = _encoder_state(onnx.load(str(bundle_dir / ENCODER_FILE)).graph)
    state.update(_decoder_state(onnx.load(str(bundle_dir / DECODER_STEP_FILE)).graph))
    return _tied(state)


def _tied(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The embedding is one tensor under several state-dict names (encoder, decoder, output projection)."""
    return state | {name: state["embedding.weight"] for name in TIED_TO_EMBEDDING}


def _is_language_tag(piece: str) -> bool:
    return piece.startswith("<2") and piece.endswith(">") and piece == language_tag(piece[2:-1])


def compose_rows(old_rows: np.ndarray, old_vocab: Vocabulary, new_vocab: Vocabulary) -> tuple[np.ndarray, int]:
    """Rows for the new vocabulary from the old one's (embedding or output bias); returns the rows and how
    many were copied as they were."""
    rows = np.empty((len(new_vocab), *old_rows.shape[1:]), dtype=np.float32)
    old = old_vocab.processor
    unk = old.unk_id()
    old_tags = [i for i in range(len(old_vocab)) if _is_language_tag(old.id_to_piece(i))]
    copied = 0
    for new_id in range(len(new_vocab)):
        piece = new_vocab.id_to_piece(new_id)
        old_id = old.piece_to_id(piece)
        if old_id != unk or new_id == new_vocab.processor.unk_id():
            rows[new_id] = old_rows[old_id]
            copied += 1
            continue
        if _is_language_tag(piece) and old_tags:
            rows[new_id] = old_rows[old_tags].mean(axis=0)
            continue
        parts = [i for i in old.encode(piece.replace(WORD_BOUNDARY, " ").strip() or piece) if i != unk]
        if parts and not piece.startswith(WORD_BOUNDARY) and old.id_to_piece(parts[0]) == WORD_BOUNDARY:
            parts = parts[1:] or parts
        rows[new_id] = old_rows[parts].mean(axis=0) if parts else old_rows[unk]
    return rows, copied


def _check_against_bundle(model: Translator, bundle_dir: Path, vocab: Vocabulary) -> None:
    """Fail loudly if a weight landed in the wrong place: encoder outputs and a greedy translation must
    match the bundle's own graphs."""
    graphs = OnnxBackend(bundle_dir / ENCODER_FILE, bundle_dir / DECODER_STEP_FILE, device="cpu")
    target = load_bundle(bundle_dir).manifest.directions[0].target
    ids = np.array([vocab.source(PROBE_SENTENCE, target)], dtype=np.int64)
    lengths = np.array([ids.shape[1]], dtype=np.int64)
    expected = graphs.encode(ids, lengths)
    with torch.no_grad():
        memory = model.eval().encode(torch.from_numpy(ids), torch.from_numpy(lengths))[0].numpy()
        gap = float(np.abs(memory - expected.memory).max())
        greedy = SearchOptions(beam_size=1)
        ours = translate_offline(TorchBackend(model), vocab, [PROBE_SENTENCE], target, greedy)
        theirs = translate_offline(graphs, vocab, [PROBE_SENTENCE], target, greedy)
    if gap > PARITY_TOLERANCE or ours[0].tokens != theirs[0].tokens:
        raise ValueError(
            f"warm start from {bundle_dir}: the weights do not reproduce the bundle (encoder gap {gap:.2e})"
        )


def warm_start(model: Translator, bundle_dir: str | Path, vocab: Vocabulary) -> WarmStartReport:
    """Load a bundle's weights into `model`, whose vocabulary may differ from the bundle's.

    The weights are first checked on the bundle's own vocabulary, then the vocabulary rows are remapped."""
    bundle_dir = Path(bundle_dir)
    state = bundle_state(bundle_dir)
    old_vocab = Vocabulary(bundle_dir / SENTENCEPIECE_FILE)
    reference = Translator(len(old_vocab), model.config)
    try:
        reference.load_state_dict(_as_tensors(state, reference.state_dict()))
    except RuntimeError as error:  # shapes: the config's dims differ from the bundle's
        raise ValueError(f"warm start from {bundle_dir}: the model config must match the bundle's dims") from error
    _check_against_bundle(reference, bundle_dir, old_vocab)
    copied = len(vocab)
    if old_vocab.processor.serialized_model_proto() != vocab.processor.serialized_model_proto():
        state["embedding.weight"], copied = compose_rows(state["embedding.weight"], old_vocab, vocab)
        state["decoder.output.bias"], _ = compose_rows(state["decoder.output.bias"], old_vocab, vocab)
    model.load_state_dict(_as_tensors(_tied(state), model.state_dict()))
    return WarmStartReport(str(bundle_dir), copied, len(vocab) - copied)


def bundle_model_state(bundle_dir: Path, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A bundle's weights in the names and shapes of the state dict `like`; vocabulary and dims must match."""
    return _as_tensors(bundle_state(bundle_dir), like)


def _as_tensors(state: dict[str, np.ndarray], own: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    missing = sorted(set(own) - set(state))
    if missing:
        raise ValueError(f"the bundle's graphs hold no {missing}")
    return {name: torch.from_numpy(np.ascontiguousarray(state[name])).reshape(own[name].shape) for name in own}
