"""The exported bundle decodes through ONNX Runtime exactly as the PyTorch model does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.checkpoint import load_checkpoint
from model.export import PARITY_TOLERANCE, check_greedy, check_parity
from nmt_core.bundle import load_bundle
from nmt_core.offline import detokenize, translate_offline
from nmt_core.onnx_backend import OnnxBackend
from nmt_core.search import SearchOptions
from nmt_core.vocabulary import Vocabulary


def test_bundle_parity_and_greedy(tiny_run: Path, tiny_bundle: Path) -> None:
    bundle = load_bundle(tiny_bundle)
    model = load_checkpoint(tiny_run).build_model()
    backend = OnnxBackend(bundle.encoder_path, bundle.decoder_step_path, device="cpu")
    assert check_parity(model, backend) <= PARITY_TOLERANCE
    vocab = Vocabulary(bundle.sentencepiece_path)
    sources = [vocab.source(t, "de") for t in ["the dog runs", "a small red car near the house", "cat"]]
    assert check_greedy(model, backend, sources) == 0


def test_manifest_describes_the_model(tiny_bundle: Path) -> None:
    manifest = load_bundle(tiny_bundle).manifest
    assert {d.key for d in manifest.directions} == {"en-de", "de-en"}
    vocab = Vocabulary(tiny_bundle / "sentencepiece.model")
    assert manifest.language_tag_ids == {"de": vocab.tag_id("de"), "en": vocab.tag_id("en")}
    assert manifest.vocab_size == len(vocab)
    assert manifest.dims["decoder_layers"] == 3


def test_onnx_translation_runs_end_to_end(tiny_bundle: Path) -> None:
    bundle = load_bundle(tiny_bundle)
    backend = OnnxBackend(bundle.encoder_path, bundle.decoder_step_path, device="cpu")
    vocab = Vocabulary(bundle.sentencepiece_path)
    texts = ["the dog runs", "a big tree"]
    hyps = translate_offline(backend, vocab, texts, "de", SearchOptions(beam_size=1))
    assert len(hyps) == 2
    for hyp, text in zip(hyps, texts):
        assert hyp.attention.shape[1] == len(vocab.source(text, "de"))
        np.testing.assert_allclose(hyp.attention.sum(axis=1), 1.0, rtol=1e-4)
    assert all(isinstance(s, str) for s in detokenize(vocab, hyps))


def test_fp16_storage_halves_the_graphs_and_keeps_parity(tiny_run: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    from model.export import export_bundle

    report = export_bundle(tiny_run, tmp_path / "fp16", weights="fp16")
    assert report["max_abs_logprob_diff"] <= PARITY_TOLERANCE
    for name in ("encoder.onnx", "decoder_step.onnx"):
        assert (tmp_path / "fp16" / name).stat().st_size < 0.75 * (tiny_bundle / name).stat().st_size
    assert load_bundle(tmp_path / "fp16").manifest.training["weights_storage"] == "fp16"


@pytest.mark.parametrize("weights", ["fp32", "fp16"])
def test_int8_graphs_are_a_variant_of_the_bundle(tiny_run: Path, tmp_path: Path, weights: str) -> None:
    import onnx

    from model.export import export_bundle
    from model.quantize import quantize_bundle
    from service.engine.backends import Engine

    export_bundle(tiny_run, tmp_path / weights, weights=weights)
    calibration = [("the dog runs", "de"), ("a man sits on the red car", "de"), ("the cat", "de")]
    out = quantize_bundle(tmp_path / weights, tmp_path / "int8", cpu_default=True, calibration=calibration)
    bundle = load_bundle(out)
    assert bundle.manifest.variants == ("int8",) and bundle.manifest.cpu_precision == "int8"
    encoder, decoder = bundle.graph_paths("int8")
    ops = {node.op_type for path in (encoder, decoder) for node in onnx.load(path).graph.node}
    assert "MatMulIntegerToFloat" in ops and not ops & {"DynamicQuantizeLSTM", "DynamicQuantizeLinear"}, ops
    assert not {node.op_type for node in onnx.load(bundle.decoder_step_path).graph.node} & {"MatMulInteger"}
    backend = OnnxBackend(encoder, decoder, device="cpu")
    vocab = Vocabulary(bundle.sentencepiece_path)
    hyps = translate_offline(backend, vocab, ["the dog runs"], "de", SearchOptions())
    assert hyps[0].attention.shape[1] == len(vocab.source("the dog runs", "de"))
    # a CPU replica takes the bundle's default; fp32 stays selectable, and int8 answers under its own version
    auto, fp32 = Engine.load(out, "cpu", 1).models[0], Engine.load(out, "cpu", 1, "fp32").models[0]
    assert auto.precision == "int8" and auto.model_version.endswith("+int8")
    assert fp32.precision == "fp32" and fp32.model_version == bundle.manifest.model_version
    assert Engine.load(tmp_path / weights, "cpu", 1).models[0].precision == "fp32"  # no variant: fp32
