"""Format-1 bundles: refused with the command that upgrades them, and upgraded by graph surgery into a
format-2 bundle whose decoder gives the old search's exact outputs. Also: the IO-binding path on the CPU EP."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from model import graph_surgery
from model.attention import BahdanauAttention
from model.checkpoint import load_checkpoint
from model.export import DECODER_AXES, _export_graph, _sample_source, export_bundle
from model.export_graphs import DecoderStepGraph
from model.graph_surgery import vector_matmuls
from model.upgrade_bundle import main as upgrade_main
from model.upgrade_bundle import upgrade_bundle
from nmt_core.bundle import (
    DECODER_STEP_FILE,
    DEFAULT_SPECIAL_IDS,
    ENCODER_FILE,
    LEGACY_DECODER_INPUTS,
    LEGACY_DECODER_OUTPUTS,
    MANIFEST_FILE,
    BundleError,
    load_bundle,
    sha256_of,
)
from nmt_core.offline import decode_batch
from nmt_core.onnx_backend import DeviceState, OnnxBackend
from nmt_core.search import SearchOptions
from nmt_core.vocabulary import Vocabulary
from tests import legacy_search as legacy

TEXTS = ["the dog runs", "a small red car near the house", "cat", "the man plays with a ball in the street"]


@pytest.fixture(scope="module")
def legacy_bundle(tiny_run: Path, tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model as bundle format 1 wrote it: the decoder step one row per hypothesis, full log-probs."""
    out = Path(shutil.copytree(tiny_bundle, tmp_path_factory.mktemp("legacy") / "tiny-v1"))
    model = load_checkpoint(tiny_run).build_model().eval()
    src_ids, src_lengths = _sample_source(model.vocab_size, 3, 7, seed=0)
    with torch.no_grad():
        memory, keys, mask, h, c, feed = model.encode(src_ids, src_lengths)
    prev = torch.full((3,), DEFAULT_SPECIAL_IDS.bos, dtype=torch.long)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice, as in model.export
        _export_graph(
            DecoderStepGraph(model),
            (prev, h, c, feed, memory, keys, mask),
            out / DECODER_STEP_FILE,
            LEGACY_DECODER_INPUTS,
            LEGACY_DECODER_OUTPUTS,
            DECODER_AXES,
        )
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    manifest["format_version"] = 1
    manifest["files"][DECODER_STEP_FILE] = {"sha256": sha256_of(out / DECODER_STEP_FILE)}
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    return out


def test_a_format_1_bundle_is_refused_with_the_upgrade_command(legacy_bundle: Path) -> None:
    with pytest.raises(BundleError) as refused:
        load_bundle(legacy_bundle)
    message = str(refused.value)
    assert "format 1" in message and f"python -m model.upgrade_bundle {legacy_bundle}" in message


def test_upgrade_gives_the_old_searchs_outputs(legacy_bundle: Path, tmp_path: Path) -> None:
    upgraded = upgrade_bundle(legacy_bundle, tmp_path / "v2")
    bundle = load_bundle(upgraded)
    assert bundle.manifest.format_version == 2
    assert (upgraded / ENCODER_FILE).read_bytes() == (legacy_bundle / ENCODER_FILE).read_bytes()
    vocab = Vocabulary(bundle.sentencepiece_path)
    sources = [vocab.source(text, "de") for text in TEXTS * 3]
    old = legacy.LegacyOnnxStepper(str(legacy_bundle / ENCODER_FILE), str(legacy_bundle / DECODER_STEP_FILE))
    new = OnnxBackend(bundle.encoder_path, bundle.decoder_step_path, device="cpu", intra_threads=1)
    for beam in (1, 3):
        want = legacy.decode_batch(old, sources, legacy.SearchOptions(beam_size=beam, max_length_offset=20))
        got = decode_batch(new, sources, SearchOptions(beam_size=beam, max_length_offset=20), max_sentences=5)
        assert any(len(h.tokens) > 2 for h in want)
        for actual, expected in zip(got, want, strict=True):
            assert actual.tokens == expected.tokens
            assert actual.runners_up == expected.runners_up
            assert actual.score == pytest.approx(expected.score, abs=1e-4)
            np.testing.assert_allclose(actual.attention, expected.attention, atol=1e-5)


def test_upgrade_in_place_by_command_and_only_once(legacy_bundle: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(legacy_bundle, tmp_path / "copy"))
    upgrade_main([str(copy)])
    assert load_bundle(copy).manifest.format_version == 2
    with pytest.raises(BundleError, match="nothing to upgrade"):
        upgrade_bundle(copy)


def test_a_damaged_format_1_bundle_is_not_upgraded(legacy_bundle: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(legacy_bundle, tmp_path / "damaged"))
    data = bytearray((copy / DECODER_STEP_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / DECODER_STEP_FILE).write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum mismatch"):
        upgrade_bundle(copy)


def test_io_binding_keeps_the_state_in_preallocated_buffers_on_the_cpu_ep(tiny_bundle: Path) -> None:
    bundle = load_bundle(tiny_bundle)
    backend = OnnxBackend(bundle.encoder_path, bundle.decoder_step_path, device="cpu", intra_threads=1)
    assert backend.provider == "CPUExecutionProvider" and backend.device_type == "cpu"
    seen: list[tuple[int, int, list[int]]] = []  # (state object, rows, buffer addresses) per step
    original = backend.step

    def recording_step(state: DeviceState | None, inputs):  # type: ignore[no-untyped-def]
        new_state, output = original(state, inputs)
        addresses = [new_state.pointer(which, name) for which in (0, 1) for name in ("h", "c", "feed")]
        seen.append((id(new_state), new_state.rows, addresses))
        # the state that came out is the rows just computed, in the buffer the step wrote
        h = new_state.buffers[new_state.current]["h"][: new_state.rows]
        assert h.shape[0] == len(inputs.prev_tokens) and np.isfinite(h).all()
        return new_state, output

    backend.step = recording_step  # type: ignore[method-assign]
    vocab = Vocabulary(bundle.sentencepiece_path)
    hypotheses = decode_batch(backend, [vocab.source(t, "de") for t in TEXTS], SearchOptions(beam_size=2))
    assert len(seen) > 2 and len({state for state, _, _ in seen}) == 1  # one state object for the whole decode
    assert len({tuple(addresses) for _, _, addresses in seen}) == 1  # no buffer allocated after the first step
    buffers = DeviceState({"h": (2, 4), "c": (2, 4), "feed": (4,)}, "cpu", capacity=2)
    assert all(isinstance(b["h"], np.ndarray) for b in buffers.buffers)
    assert any(h.tokens for h in hypotheses)
    # outgrowing the buffers keeps the live rows
    buffers.rows = 2
    buffers.buffers[buffers.current]["h"][:2] = 7.0
    buffers.reserve(5)
    assert buffers.capacity >= 5 and (buffers.buffers[buffers.current]["h"][:2] == 7.0).all()


def _vector_scores(self: BahdanauAttention, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """The attention as bundles before 2026-12 exported it: a MatMul with a 1-D right operand."""
    v = self.gain * self.v / self.v.norm()
    return torch.tanh(keys + self.query_proj(query).unsqueeze(1)) @ v


def test_a_format_2_bundle_gets_the_column_matmul_with_the_same_outputs(
    tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(BahdanauAttention, "scores", _vector_scores)
        patch.setattr(graph_surgery, "column_matmuls", lambda model: 0)  # export as the old exporter did
        export_bundle(tiny_run, tmp_path / "vector")
    old = load_bundle(tmp_path / "vector")
    assert len(vector_matmuls(onnx.load(str(old.decoder_step_path)))) == 1
    upgraded = load_bundle(upgrade_bundle(tmp_path / "vector", tmp_path / "column"))
    assert vector_matmuls(onnx.load(str(upgraded.decoder_step_path))) == []
    assert (upgraded.path / ENCODER_FILE).read_bytes() == (old.path / ENCODER_FILE).read_bytes()
    vocab = Vocabulary(upgraded.sentencepiece_path)
    sources = [vocab.source(text, "de") for text in TEXTS * 3]
    before = OnnxBackend(old.encoder_path, old.decoder_step_path, device="cpu", intra_threads=1)
    after = OnnxBackend(upgraded.encoder_path, upgraded.decoder_step_path, device="cpu", intra_threads=1)
    for beam in (1, 3):
        options = SearchOptions(beam_size=beam, max_length_offset=20)
        for got, want in zip(
            decode_batch(after, sources, options), decode_batch(before, sources, options), strict=True
        ):
            assert got.tokens == want.tokens
            assert got.score == pytest.approx(want.score, abs=1e-5)
    with pytest.raises(BundleError, match="nothing to upgrade"):
        upgrade_bundle(upgraded.path)


def test_column_rewrite_keeps_names_unique_and_shares_one_column_per_vector() -> None:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    v = np.arange(4, dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["A", "v"], ["x"], name="first"),
            helper.make_node("MatMul", ["B", "v"], ["y"], name="second"),
            helper.make_node("Add", ["x", "column_axis"], ["out"]),
        ],
        "two_products",
        [
            helper.make_tensor_value_info("A", TensorProto.FLOAT, [2, 3, 4]),
            helper.make_tensor_value_info("B", TensorProto.FLOAT, [5, 4]),
        ],
        [
            helper.make_tensor_value_info("out", TensorProto.FLOAT, [2, 3]),
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [5]),
        ],
        [numpy_helper.from_array(v, "v"), numpy_helper.from_array(np.ones(1, np.float32), "column_axis")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    a, b = np.random.default_rng(0).standard_normal((2, 3, 4)), np.random.default_rng(1).standard_normal((5, 4))
    feeds = {"A": a.astype(np.float32), "B": b.astype(np.float32)}
    want = ort.InferenceSession(model.SerializeToString()).run(None, feeds)
    assert graph_surgery.column_matmuls(model) == 2
    assert [n.op_type for n in model.graph.node].count("Unsqueeze") == 1
    assert vector_matmuls(model) == [] and graph_surgery.column_matmuls(model) == 0
    got = ort.InferenceSession(model.SerializeToString()).run(None, feeds)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-6)
