"""A sentence's translation does not depend on what else is in the batch (issue 24).

- The tiny model, int8 and fp32: random sentences decoded alone, in random groups and admitted at random steps
  of a running batch give identical tokens (and scores), greedy and beam; encoded alone and in a padded group,
  a sentence's encoder outputs are bit for bit the same.
- int8 graphs quantize activations with calibrated constant scales, none measured on the batch;
  `model.upgrade_bundle` rewrites an int8 bundle made the old way (a scale per batch, a sum over padded
  positions) into the invariant form.
- ONNX Runtime's TopK breaks ties by the lower index, so a set reading the first w of a wider k (its batch
  mates' beam) sees what TopK(w) gives.
- The shipped model: news-like sentences alone and together give the same translations.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given
from hypothesis import strategies as st
from onnx import TensorProto, helper

from model.graph_surgery import position_sums_as_products
from model.static_quantization import is_batch_invariant
from nmt_core.bundle import FP32, INT8, load_bundle, sha256_of
from nmt_core.decoder import WIDTH_QUANTUM, BatchedDecoder
from nmt_core.offline import decode_batch
from nmt_core.onnx_backend import OnnxBackend
from nmt_core.search import Hypothesis, SearchOptions, pad_batch
from nmt_core.selection import Sentence
from nmt_core.vocabulary import Vocabulary
from tests.fixtures import _WORDS
from tests.text_strategies import property_settings

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "general-en-de-fr"


def calibration_texts() -> list[tuple[str, str]]:
    return [(text, "de") for text in sentences_from(99, 60)]


@pytest.fixture(scope="module")
def int8_bundle(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from model.quantize import quantize_bundle

    out = tmp_path_factory.mktemp("invariant") / "tiny-int8"
    return quantize_bundle(tiny_bundle, out, cpu_default=True, calibration=calibration_texts())


def backend_of(bundle_dir: Path, precision: str) -> tuple[OnnxBackend, Vocabulary]:
    bundle = load_bundle(bundle_dir)
    encoder, decoder = bundle.graph_paths(precision)
    return OnnxBackend(encoder, decoder, device="cpu", intra_threads=1), Vocabulary(bundle.sentencepiece_path)


def sentences_from(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 12))) for _ in range(count)]


def decode_scheduled(
    backend: OnnxBackend, sources: list[list[int]], options: SearchOptions, schedule: list[int]
) -> list[Hypothesis]:
    """Admit sentence i at step schedule[i] of one running batch (as the scheduler does under load)."""
    decoder = BatchedDecoder(backend)
    results: dict[int, Hypothesis] = {}
    step = 0
    waiting = sorted(range(len(sources)), key=lambda i: schedule[i])
    while waiting or decoder.sentences:
        due = [i for i in waiting if schedule[i] <= step]
        waiting = [i for i in waiting if schedule[i] > step]
        decoder.admit([Sentence(sources[i], options, options.max_length(len(sources[i])), i) for i in due])
        results.update(decoder.step().finished)
        step += 1
    return [results[i] for i in range(len(sources))]


def same(a: Hypothesis, b: Hypothesis, exact_scores: bool) -> bool:
    return a.tokens == b.tokens and (a.score == b.score or not exact_scores)


@pytest.mark.parametrize("precision", [INT8, FP32])
@pytest.mark.parametrize("beam", [1, 4])
def test_alone_grouped_and_admitted_at_random_steps_agree(int8_bundle: Path, precision: str, beam: int) -> None:
    backend, vocab = backend_of(int8_bundle, precision)
    options = SearchOptions(beam_size=beam)

    @property_settings
    @given(st.integers(0, 2**32 - 1), st.integers(2, 12), st.data())
    def check(seed: int, count: int, data: st.DataObject) -> None:
        sources = [vocab.source(text, "de") for text in sentences_from(seed, count)]
        alone = [decode_batch(backend, [source], options)[0] for source in sources]
        grouped = decode_batch(backend, sources, options, max_sentences=data.draw(st.integers(1, count)))
        schedule = data.draw(st.lists(st.integers(0, 8), min_size=count, max_size=count))
        admitted = decode_scheduled(backend, sources, options, schedule)
        # int8: bit for bit, scores included. fp32: the same tokens; its float GEMMs sum in an order that
        # depends on the row count, so scores may differ in the last bits (docs/bundle.md).
        exact = precision == INT8
        for a, g, s in zip(alone, grouped, admitted, strict=True):
            assert same(a, g, exact) and same(a, s, exact), (a.tokens, g.tokens, s.tokens)

    check()


@pytest.mark.parametrize("precision", [INT8, FP32])
def test_a_sentence_encodes_the_same_alone_and_in_a_padded_group(int8_bundle: Path, precision: str) -> None:
    backend, vocab = backend_of(int8_bundle, precision)
    sources = [vocab.source(text, "de") for text in sentences_from(3, 24)]
    for index, source in enumerate(sources):
        alone = backend.encode(*pad_batch([source], 0))
        group = sources[max(0, index - 4) : index + 4]
        together = backend.encode(*pad_batch(group, 0))
        row, width = group.index(source), len(source)
        for name in ("memory", "keys", "src_mask"):
            assert np.array_equal(getattr(alone, name)[0, :width], getattr(together, name)[row, :width]), name
        for name in ("h", "c", "feed"):
            assert np.array_equal(getattr(alone, name)[0], getattr(together, name)[row]), name


def test_int8_graphs_use_calibrated_scales_only(int8_bundle: Path) -> None:
    bundle = load_bundle(int8_bundle)
    assert "calibrated on 60 sentences" in bundle.manifest.training["int8_calibration"]
    for path in bundle.graph_paths(INT8):
        graph = onnx.load(str(path))
        assert is_batch_invariant(graph)
        ops = {node.op_type for node in graph.graph.node}
        assert "MatMulIntegerToFloat" in ops  # the product fused with its scales and bias
        assert position_sums_as_products(graph) == 0  # no sum over padded positions left


def test_an_int8_bundle_made_the_old_way_is_upgraded(
    tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per-batch activation scales (quantize_dynamic's default, LSTMs included) are batch-coupled; the upgrade
    quantizes again from the fp32 graphs with calibrated scales, and then alone and batched agree."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    import model.upgrade_bundle
    from model.quantize import quantize_bundle
    from model.upgrade_bundle import upgrade_bundle

    old = quantize_bundle(tiny_bundle, tmp_path / "old", cpu_default=True, calibration=calibration_texts())
    bundle = load_bundle(old)
    for fp32_path, int8_path in zip(bundle.graph_paths(FP32), bundle.graph_paths(INT8), strict=True):
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8)  # the old recipe
    data = json.loads((old / "manifest.json").read_text())
    data["files"] = {name: {"sha256": sha256_of(old / name)} for name in data["files"]}
    (old / "manifest.json").write_text(json.dumps(data))
    assert not any(is_batch_invariant(onnx.load(str(p))) for p in load_bundle(old).graph_paths(INT8))

    # the upgrade calibrates on Multi30k validation text; the tiny model's own sentences stand in for it here
    monkeypatch.setattr(model.upgrade_bundle, "default_calibration", lambda _: calibration_texts())
    upgraded = upgrade_bundle(old, tmp_path / "new")
    assert all(is_batch_invariant(onnx.load(str(p))) for p in load_bundle(upgraded).graph_paths(INT8))
    backend, vocab = backend_of(upgraded, INT8)
    sources = [vocab.source(text, "de") for text in sentences_from(11, 16)]
    options = SearchOptions(beam_size=4)
    alone = [decode_batch(backend, [s], options)[0].tokens for s in sources]
    assert [h.tokens for h in decode_batch(backend, sources, options)] == alone
    shutil.rmtree(tmp_path / "old")


def test_topk_breaks_ties_by_the_lower_index_whatever_k() -> None:
    values = helper.make_tensor_value_info("values", TensorProto.FLOAT, [None, None])
    k = helper.make_tensor_value_info("k", TensorProto.INT64, [1])
    outputs = [
        helper.make_tensor_value_info("top", TensorProto.FLOAT, [None, None]),
        helper.make_tensor_value_info("ids", TensorProto.INT64, [None, None]),
    ]
    graph = helper.make_graph(
        [helper.make_node("TopK", ["values", "k"], ["top", "ids"], axis=-1)], "g", [values, k], outputs
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    rows = rng.integers(-3, 3, size=(64, 16000)).astype(np.float32)  # many ties, as int8 logits have
    widest = session.run(None, {"values": rows, "k": np.array([12])})[1]
    for width in (1, 2, 6, 8):
        ids = session.run(None, {"values": rows, "k": np.array([width])})[1]
        assert np.array_equal(ids, widest[:, :width])


def test_attention_products_ignore_whole_blocks_of_padding() -> None:
    """The decoder's slot arrays are WIDTH_QUANTUM positions wide or a multiple of it: ONNX Runtime's batched
    MatMul (attention weights x memory) then gives the same row whatever the width, which it does not for
    widths that differ inside a block (checked too: that is why the quantum exists)."""
    weights = helper.make_tensor_value_info("weights", TensorProto.FLOAT, [None, 1, None])
    memory = helper.make_tensor_value_info("memory", TensorProto.FLOAT, [None, None, 256])
    context = helper.make_tensor_value_info("context", TensorProto.FLOAT, None)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["weights", "memory"], ["context"])], "g", [weights, memory], [context]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)

    def padded(w: np.ndarray, m: np.ndarray, width: int) -> np.ndarray:
        w2 = np.zeros((len(w), 1, width), np.float32)
        m2 = np.zeros((len(m), width, m.shape[2]), np.float32)
        w2[..., : w.shape[2]], m2[:, : m.shape[1]] = w, m
        return session.run(None, {"weights": w2, "memory": m2})[0]

    inside_a_block = 0
    for _ in range(100):
        positions = int(rng.integers(3, 60))
        w = rng.random((3, 1, positions)).astype(np.float32)
        m = rng.normal(size=(3, positions, 256)).astype(np.float32)
        first = -(-positions // WIDTH_QUANTUM) * WIDTH_QUANTUM
        widths = [first + WIDTH_QUANTUM * extra for extra in range(4)]
        results = [padded(w, m, width) for width in widths]
        assert all(np.array_equal(results[0], r) for r in results[1:])
        inside_a_block += not np.array_equal(padded(w, m, positions), padded(w, m, positions + 3))
    assert inside_a_block > 0  # without the quantum, the width would matter


SHIPPED_SENTENCES = [
    "The government said on Tuesday that it would raise taxes on fuel next year.",
    "Shares of the company fell 3.5% after the announcement.",
    "A spokesman for the police said two people had been arrested.",
    "The match was postponed because of heavy rain in the north of the country.",
    "Scientists have found a new species of frog in the rainforest.",
    "The minister will meet her counterparts in Brussels next week.",
    "Prices for electricity have doubled since last winter.",
    "He told reporters that the talks had been constructive.",
    "The museum will reopen in the spring after a two-year renovation.",
    "Thousands of people gathered in the square to celebrate the victory.",
    "The report warns that the number of cases could rise again.",
    "Click the button below to accept all cookies.",
    "A man in a blue shirt is riding a bicycle down the street.",
    "Two children are playing with a ball in the park.",
    "I don't know what you mean.",
    "Can you tell me where the station is?",
]


@pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped model in this checkout")
@pytest.mark.parametrize("target", ["de", "fr"])
def test_the_shipped_model_translates_alone_as_in_a_batch(target: str) -> None:
    bundle = load_bundle(SHIPPED)
    backend, vocab = backend_of(SHIPPED, bundle.manifest.cpu_precision or FP32)
    options = bundle.manifest.decoding.for_direction(f"en-{target}").search_options()
    sources = [vocab.source(text, target) for text in SHIPPED_SENTENCES]
    specials = bundle.manifest.special_ids
    alone = [decode_batch(backend, [s], options, specials)[0].tokens for s in sources]
    together = decode_batch(backend, sources, options, specials, max_sentences=8)
    assert [h.tokens for h in together] == alone
