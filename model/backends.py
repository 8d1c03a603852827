"""Open either a training checkpoint (PyTorch) or an exported bundle (ONNX Runtime) as a backend."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from model.checkpoint import load_checkpoint
from model.seq2seq import TorchBackend
from nmt_core.backend import Backend
from nmt_core.bundle import FP32, MANIFEST_FILE, SENTENCEPIECE_FILE, DecodingDefaults, load_bundle
from nmt_core.onnx_backend import OnnxBackend
from nmt_core.search import SearchOptions
from nmt_core.vocabulary import Vocabulary


@dataclass
class OfflineModel:
    backend: Backend
    vocab: Vocabulary
    decoding: DecodingDefaults
    kind: str  # "pytorch" or "onnx"
    decoding_by_direction: dict[str, DecodingDefaults] = field(default_factory=dict)

    def options(
        self,
        beam_size: int | None = None,
        length_penalty: float | None = None,
        coverage_penalty: float | None = None,
        direction: str | None = None,
    ) -> SearchOptions:
        """The model's defaults (a direction's own where the manifest has them), overridden where given."""
        d = self.decoding_by_direction.get(direction, self.decoding) if direction else self.decoding
        return SearchOptions(
            beam_size=d.beam_size if beam_size is None else beam_size,
            length_penalty=d.length_penalty if length_penalty is None else length_penalty,
            coverage_penalty=d.coverage_penalty if coverage_penalty is None else coverage_penalty,
            max_length_ratio=d.max_length_ratio,
            max_length_offset=d.max_length_offset,
        )


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
            dict(bundle.manifest.decoding_by_direction),
        )
    checkpoint = load_checkpoint(path)
    with tempfile.TemporaryDirectory(prefix="spm-") as spm_dir:  # SentencePiece reads the file once, at load
        vocab = Vocabulary(checkpoint.write_sentencepiece(Path(spm_dir) / SENTENCEPIECE_FILE))
    model = checkpoint.build_model().to(device)
    return OfflineModel(TorchBackend(model, device), vocab, DecodingDefaults(), "pytorch")
