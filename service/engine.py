"""The model registry: every bundle in MODEL_DIR loaded once, verified, with its sessions and vocabulary.

A direction ("en-de") resolves to the bundle whose manifest lists it. Only the scheduler's thread
runs the sessions; everything here is read-only after `load`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nmt_core.bundle import FP32, INT8, Bundle, BundleError, discover_bundles, load_bundle
from nmt_core.offline import decode_batch
from nmt_core.onnx_backend import CUDA, OnnxBackend, preferred_providers
from nmt_core.search import SearchOptions
from nmt_core.vocabulary import Vocabulary
from service.errors import UnknownDirection
from service.metrics import MODEL_INFO

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    bundle: Bundle
    backend: OnnxBackend
    vocab: Vocabulary

    precision: str = FP32

    @property
    def model_id(self) -> str:
        return self.bundle.manifest.model_id

    @property
    def model_version(self) -> str:
        """The manifest's version, marked for int8 graphs: their outputs differ, so must their cache entries."""
        version = self.bundle.manifest.model_version
        return version if self.precision == FP32 else f"{version}+{self.precision}"

    @property
    def provider(self) -> str:
        return self.backend.provider

    @property
    def directions(self) -> list[str]:
        return [d.key for d in self.bundle.manifest.directions]

    def default_options(self, direction: str) -> SearchOptions:
        """The manifest's search settings for a direction ("en-fr"): its own where tuning gave it some."""
        return self.bundle.manifest.decoding.for_direction(direction).search_options()

    def warm_up(self) -> float:
        """One greedy and one beam decode, so the first user does not pay for ORT's lazy initialisation."""
        start = time.perf_counter()
        sources = [self.vocab.source("warm up", d.target) for d in self.bundle.manifest.directions[:1]]
        for beam in (1, 2):
            decode_batch(
                self.backend,
                sources * 2,
                SearchOptions(beam_size=beam, max_length_ratio=0.0, max_length_offset=4),
                self.vocab.specials,
            )
        return time.perf_counter() - start


class Engine:
    """All loaded models and the direction -> model map."""

    def __init__(self, models: list[LoadedModel]):
        self.models = models
        self.by_direction: dict[str, LoadedModel] = {}
        for model in models:
            for direction in model.directions:
                if direction in self.by_direction:
                    log.warning(
                        "direction %s served by %s; ignoring it in %s",
                        direction,
                        self.by_direction[direction].model_id,
                        model.model_id,
                    )
                    continue
                self.by_direction[direction] = model

    @classmethod
    def load(
        cls, model_dir: str | Path, device: str = "auto", intra_threads: int | None = None, precision: str = "auto"
    ) -> Engine:
        """Load and verify every bundle; a bad bundle stops start-up rather than serving half a fleet."""
        paths = discover_bundles(model_dir)
        if not paths:
            raise BundleError(f"{model_dir}: no model bundles found (a bundle is a folder with manifest.json)")
        models = []
        for path in paths:
            bundle = load_bundle(path)
            on_cpu = device == "cpu" or CUDA not in preferred_providers(device)
            chosen = choose_precision(bundle, precision, on_cpu)
            encoder_path, decoder_path = bundle.graph_paths(chosen)
            backend = OnnxBackend(
                encoder_path, decoder_path, device="cpu" if on_cpu else "auto", intra_threads=intra_threads
            )
            if device == "cuda" and backend.provider != CUDA:
                raise BundleError(f"{path}: DEVICE=cuda but ONNX Runtime gave {backend.provider}")
            vocab = Vocabulary(bundle.sentencepiece_path, bundle.manifest.special_ids)
            vocab.verify(bundle.manifest, str(bundle.sentencepiece_path))
            model = LoadedModel(bundle, backend, vocab, chosen)
            log.info(
                "loaded %s %s from %s (directions %s, provider %s)",
                model.model_id,
                model.model_version,
                path,
                ",".join(model.directions),
                model.provider,
            )
            MODEL_INFO.labels(model.model_id, model.model_version, model.provider).set(1)
            models.append(model)
        return cls(models)

    def warm_up(self) -> None:
        for model in self.models:
            log.info("warmed up %s in %.2fs", model.model_id, model.warm_up())

    def resolve(self, source: str, target: str) -> LoadedModel:
        model = self.by_direction.get(f"{source}-{target}")
        if model is None:
            raise UnknownDirection(
                f"no model translates {source!r} to {target!r}; "
                f"available: {', '.join(sorted(self.by_direction)) or 'none'}"
            )
        return model

    def directions(self) -> list[tuple[str, str, LoadedModel]]:
        return [(key.split("-", 1)[0], key.split("-", 1)[1], model) for key, model in sorted(self.by_direction.items())]


def choose_precision(bundle: Bundle, requested: str, on_cpu: bool) -> str:
    """fp32 on CUDA always; on the CPU the request, or with `auto` the bundle's own CPU default."""
    if not on_cpu:
        if requested == INT8:
            raise BundleError(f"{bundle.path}: PRECISION=int8 is for the CPU; CUDA runs the fp32 graphs")
        return FP32
    if requested == "auto":
        return bundle.manifest.cpu_precision
    if requested != FP32 and requested not in bundle.manifest.variants:
        raise BundleError(f"{bundle.path}: PRECISION={requested} but the bundle has no {requested} graphs")
    return requested


def alignment_of(attention: np.ndarray, target_length: int, source_length: int) -> list[int]:
    """For each target piece, the most-attended source piece (index into the pieces, tag and EOS excluded)."""
    pieces = source_length - 2  # [<2tgt>] + pieces + [EOS]
    if pieces <= 0:
        return [-1] * target_length  # nothing to align to (the service never decodes empty sources)
    window = attention[:target_length, 1 : 1 + pieces]
    return [int(i) for i in window.argmax(axis=1)]
