"""Open either a training checkpoint (PyTorch) or an exported bundle (ONNX Runtime) as a backend."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from model.checkpoint import load_checkpoint
from model.seq2seq import TorchBackend
from nmt_core.backend import Backend
from nmt_core.bundle import FP32, MANIFEST_FILE, SENTENCEPIECE_FILE, DecodingPlan, load_bundle
from nmt_core.onnx_backend import OnnxBackend
from nmt_core.search import SearchOptions
from nmt_core.vocabulary import Vocabulary


@dataclass
class OfflineModel:
    backend: Backend
    vocab: Vocabulary
    decoding: DecodingPlan
    kind: str  # "pytorch" or "onnx"

    def options(
        self,
        direction: str | None,
        beam_size: int | None = None,
        length_penalty: float | None = None,
        coverage_penalty: float | None = None,
    ) -> SearchOptions:
        """The direction's defaults (None: the bundle-wide ones), overridden where given."""
        return self.decoding.for_direction(direction).search_options(beam_size, length_penalty, coverage_penalty)


def open_model(path: str | Path, device: str = "cpu", precision: str = FP32) -> OfflineModel:
    """A folder with a manifest is a bundle (its fp32 or int8 graphs); anything else is a checkpoint file."""
    path = Path(path)
    if (path / MANIFEST_FILE).is_file():
        bundle = load_bundle(path)
        return OfflineModel(
            OnnxBackend(*bundle.graph_paths(precision), device=device),
            Vocabulary(bundle.sentencepiece_path),
            bundle.manifest.decoding,
            "onnx",
        )
    checkpoint = load_checkpoint(path)
    with tempfile.TemporaryDirectory(prefix="spm-") as spm_dir:  # SentencePiece reads the file once, at load
        vocab = Vocabulary(checkpoint.write_sentencepiece(Path(spm_dir) / SENTENCEPIECE_FILE))
    model = checkpoint.build_model().to(device)
    return OfflineModel(TorchBackend(model, device), vocab, DecodingPlan(), "pytorch")
