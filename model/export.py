"""Export a checkpoint to a bundle: `python -m model.export CHECKPOINT OUT_DIR`.

The export checks itself: ONNX Runtime log-probs must match PyTorch within
1e-4 at several batch sizes and source lengths, and greedy outputs on a
validation sample must be identical. Exporter choice: see docs/export.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from model.checkpoint import Checkpoint, load_checkpoint
from model.export_graphs import DecoderStepGraph, EncoderGraph
from model.graph_surgery import batched_decoder_graph
from model.seq2seq import TorchBackend, Translator
from model.tune_decoding import defaults_from_file
from model.weights import round_to_fp16, store_initializers_fp16
from nmt_core.backend import SourceMemory, StepInputs, next_version
from nmt_core.bundle import (
    DECODER_STEP_FILE,
    DEFAULT_SPECIAL_IDS,
    ENCODER_FILE,
    ENCODER_INPUTS,
    ENCODER_OUTPUTS,
    FORMAT_VERSION,
    LEGACY_DECODER_INPUTS,
    LEGACY_DECODER_OUTPUTS,
    REQUIRED_FILES,
    SENTENCEPIECE_FILE,
    DecodingPlan,
    Direction,
    Manifest,
    checksum_files,
    load_bundle,
    publish_bundle,
    write_manifest,
)
from nmt_core.offline import decode_batch
from nmt_core.onnx_backend import OnnxBackend
from nmt_core.search import SearchOptions
from nmt_core.vocabulary import Vocabulary

OPSET = 17
PARITY_TOLERANCE = 1e-4
PARITY_SHAPES = ((1, 1), (1, 9), (3, 5), (8, 17), (16, 40))

_PER_ROW = {"h": {0: "batch"}, "c": {0: "batch"}, "feed": {0: "batch"}}
_PER_SOURCE = {name: {0: "batch", 1: "src_len"} for name in ("memory", "keys", "src_mask")}
ENCODER_AXES = {"src_ids": {0: "batch", 1: "src_len"}, "src_lengths": {0: "batch"}, **_PER_SOURCE, **_PER_ROW}
DECODER_AXES = {
    "prev_tokens": {0: "batch"},
    **_PER_ROW,
    **_PER_SOURCE,
    "log_probs": {0: "batch"},
    "h_out": {0: "batch"},
    "c_out": {0: "batch"},
    "feed_out": {0: "batch"},
    "attention": {0: "batch", 1: "src_len"},
}


def _sample_source(vocab_size: int, batch: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    first_real = DEFAULT_SPECIAL_IDS.first_free
    ids = torch.randint(first_real, vocab_size, (batch, length), generator=generator)
    lengths = torch.randint(1, length + 1, (batch,), generator=generator)
    lengths[0] = length
    mask = torch.arange(length).unsqueeze(0) < lengths.unsqueeze(1)
    return ids.masked_fill(~mask, DEFAULT_SPECIAL_IDS.pad), lengths


def export_graphs(model: Translator, out_dir: Path) -> None:
    model = model.eval()
    src_ids, src_lengths = _sample_source(model.vocab_size, 3, 7, seed=0)
    with warnings.catch_warnings(), torch.no_grad():
        # The legacy exporter warns about its deprecation and about LSTM batch sizes;
        # both are handled (docs/export.md) and the parity check below proves it.
        warnings.simplefilter("ignore")
        _export_graph(
            EncoderGraph(model),
            (src_ids, src_lengths),
            out_dir / ENCODER_FILE,
            ENCODER_INPUTS,
            ENCODER_OUTPUTS,
            ENCODER_AXES,
        )
        memory, keys, mask, h, c, feed = model.encode(src_ids, src_lengths)
        prev = torch.full((3,), DEFAULT_SPECIAL_IDS.bos, dtype=torch.long)
        legacy = out_dir / f"legacy-{DECODER_STEP_FILE}"
        _export_graph(
            DecoderStepGraph(model),
            (prev, h, c, feed, memory, keys, mask),
            legacy,
            LEGACY_DECODER_INPUTS,
            LEGACY_DECODER_OUTPUTS,
            DECODER_AXES,
        )
    model.eval()  # the exporter restores the wrappers' training flag, which reaches the model
    # The network is exported one row per hypothesis; the batched decoder's edges are added by surgery,
    # the same that upgrades format-1 bundles (model/graph_surgery.py).
    onnx.save(batched_decoder_graph(onnx.load(str(legacy))), str(out_dir / DECODER_STEP_FILE))
    legacy.unlink()


def _export_graph(
    module: torch.nn.Module,
    args: tuple[torch.Tensor, ...],
    path: Path,
    inputs: tuple[str, ...],
    outputs: tuple[str, ...],
    axes: dict[str, dict[int, str]],
) -> None:
    torch.onnx.export(
        module.eval(),
        args,
        str(path),
        dynamo=False,
        input_names=list(inputs),
        output_names=list(outputs),
        dynamic_axes=axes,
        opset_version=OPSET,
    )


def check_parity(model: Translator, backend: OnnxBackend, steps: int = 4, beam: int = 2) -> float:
    """Max |top-k log p_onnx - top-k log p_torch| and attention difference over several batch sizes, source
    lengths and decoder steps, through the batched step (fresh rows, per-sentence memory, beam reordering)."""
    model = model.eval()
    reference = TorchBackend(model)
    k = min(8, model.vocab_size)
    worst = 0.0
    for seed, (batch, length) in enumerate(PARITY_SHAPES):
        src_ids, src_lengths = (t.numpy() for t in _sample_source(model.vocab_size, batch, length, seed + 1))
        encoded = {"onnx": backend.encode(src_ids, src_lengths), "torch": reference.encode(src_ids, src_lengths)}
        sources = {name: SourceMemory(e.memory, e.keys, e.src_mask, next_version()) for name, e in encoded.items()}
        sentence_of_row = np.repeat(np.arange(batch), beam)
        parents = sentence_of_row.copy()  # every beam starts from its sentence's fresh row
        prev = np.full(batch * beam, DEFAULT_SPECIAL_IDS.bos, dtype=np.int64)
        states: dict[str, Any] = {"onnx": None, "torch": None}
        for step in range(steps):
            outputs = {}
            runners: tuple[tuple[str, Any], ...] = (("onnx", backend), ("torch", reference))
            for name, runner in runners:
                inputs = StepInputs(
                    prev, parents, sentence_of_row, k, encoded[name] if step == 0 else None, sources[name]
                )
                states[name], outputs[name] = runner.step(states[name], inputs)
            ours, theirs = outputs["onnx"], outputs["torch"]
            worst = max(
                worst,
                float(np.abs(ours.topk_log_probs - theirs.topk_log_probs).max()),
                float(np.abs(ours.attention - theirs.attention).max()),
            )
            prev = theirs.topk_ids[:, 0].astype(np.int64)
            # reorder the beams inside each sentence (reversed), as a beam search would
            parents = (sentence_of_row * beam + (beam - 1 - np.arange(batch * beam) % beam)).astype(np.int64)
    return worst


def check_greedy(model: Translator, backend: OnnxBackend, sources: list[list[int]]) -> int:
    """Number of sentences whose greedy output differs between the two backends."""
    options = SearchOptions(beam_size=1)
    ours = decode_batch(backend, sources, options)
    theirs = decode_batch(TorchBackend(model), sources, options)
    return sum(a.tokens != b.tokens for a, b in zip(ours, theirs))


class ExportCheckError(RuntimeError):
    pass


def build_manifest(
    checkpoint: Checkpoint,
    vocab: Vocabulary,
    out_dir: Path,
    metrics: dict[str, Any],
    decoding: DecodingPlan | None = None,
) -> Manifest:
    config = checkpoint.config
    model_cfg = config.model
    directions = tuple(Direction(*d.split("-", 1)) for d in checkpoint.directions)
    feed_dim = model_cfg.embed_dim if model_cfg.tie_embeddings else model_cfg.hidden_dim
    return Manifest(
        format_version=FORMAT_VERSION,
        model_id=config.name,
        model_version=config.version,
        directions=directions,
        special_ids=vocab.specials,
        language_tag_ids={lang: vocab.tag_id(lang) for lang in checkpoint.languages},
        dims={
            "vocab_size": len(vocab),
            "embed_dim": model_cfg.embed_dim,
            "hidden_dim": model_cfg.hidden_dim,
            "encoder_layers": model_cfg.encoder_layers,
            "decoder_layers": model_cfg.decoder_layers,
            "attention_dim": model_cfg.attention_dim,
            "feed_dim": feed_dim,
            "memory_dim": model_cfg.hidden_dim,
        },
        opset=OPSET,
        files=checksum_files(out_dir, REQUIRED_FILES),
        decoding=decoding or DecodingPlan(),
        training={
            "data": [vars(s) for s in config.data.train],
            "config": config.to_dict(),
            "progress": checkpoint.progress,
            "architecture": f"GNMT-style, {model_cfg.attention} attention",
        },
        metrics=metrics,
    )


def export_bundle(
    checkpoint_path: Path,
    out_dir: Path,
    validation_sources: list[str] | None = None,
    metrics: dict[str, Any] | None = None,
    weights: str = "fp32",
    validation_target: str | None = None,
    decoding: DecodingPlan | None = None,
) -> dict[str, Any]:
    """Write and verify a bundle; returns the self-check figures. Raises ExportCheckError on a mismatch.

    weights="fp16" stores the graphs' weights in half precision (see model/weights.py); the PyTorch
    reference is rounded the same way, so parity is checked against what the bundle computes.
    """
    checkpoint = load_checkpoint(checkpoint_path)
    strangers = decoding.unknown_directions(checkpoint.directions) if decoding else []
    if strangers:
        raise ExportCheckError(f"decoding defaults for directions the model lacks: {strangers}")
    model = checkpoint.build_model()
    if weights == "fp16":
        round_to_fp16(model)
    with tempfile.TemporaryDirectory(prefix="bundle-") as tmp:
        staging = Path(tmp)
        checkpoint.write_sentencepiece(staging / SENTENCEPIECE_FILE)
        vocab = Vocabulary(staging / SENTENCEPIECE_FILE)
        export_graphs(model, staging)
        if weights == "fp16":
            for name in (ENCODER_FILE, DECODER_STEP_FILE):
                store_initializers_fp16(staging / name)
        backend = OnnxBackend(staging / ENCODER_FILE, staging / DECODER_STEP_FILE, device="cpu")
        worst = check_parity(model, backend)
        if worst > PARITY_TOLERANCE:
            raise ExportCheckError(f"ONNX/PyTorch log-prob mismatch {worst:.2e} > {PARITY_TOLERANCE}")
        target = validation_target or checkpoint.directions[0].split("-")[1]
        texts = validation_sources or ["a small test sentence", "another one , longer than the first ."]
        sources = [vocab.source(t, target) for t in texts]
        differing = check_greedy(model, backend, sources)
        if differing:
            raise ExportCheckError(f"greedy outputs differ on {differing} of {len(sources)} validation sentences")
        manifest = build_manifest(checkpoint, vocab, staging, metrics or checkpoint.metrics, decoding)
        manifest.training["weights_storage"] = weights
        write_manifest(staging, manifest)
        vocab.verify(load_bundle(staging).manifest, SENTENCEPIECE_FILE)
        publish_bundle(staging, out_dir)
    return {"max_abs_logprob_diff": worst, "greedy_mismatches": 0, "greedy_sentences": len(sources), "weights": weights}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument(
        "--validation-source",
        type=Path,
        help="text file (one sentence per line, may use $DATA_DIR) for the greedy check",
    )
    parser.add_argument("--validation-lines", type=int, default=100)
    parser.add_argument(
        "--validation-target", help="target language for the greedy check (default: the first direction's)"
    )
    parser.add_argument(
        "--weights", choices=("fp32", "fp16"), default="fp32", help="fp16 halves the bundle; arithmetic stays fp32"
    )
    parser.add_argument("--metrics", type=Path, help="JSON of evaluation figures to record in the manifest")
    parser.add_argument(
        "--decoding",
        type=Path,
        help="default beam and length penalty (bundle-wide and per direction) from `model.tune_decoding`",
    )
    args = parser.parse_args(argv)
    texts = None
    if args.validation_source:
        from model.corpus import read_lines
        from model.dataset import resolve_path

        lines = read_lines(resolve_path(str(args.validation_source)))
        texts = [line for line in lines if line.strip()][: args.validation_lines]
    metrics = json.loads(args.metrics.read_text()) if args.metrics else None
    decoding = defaults_from_file(args.decoding) if args.decoding else None
    figures = export_bundle(
        args.checkpoint, args.out_dir, texts, metrics, args.weights, args.validation_target, decoding
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
