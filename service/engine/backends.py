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

WARM_UP_ROWS = 64  # the state buffers' starting rows (nmt_core/onnx_backend.py): warm-up decodes past them


@dataclass
class LoadedModel:
    bundle: Bundle
    backend: OnnxBackend
    vocab: Vocabulary

    precision: str = FP32
    tf32: bool = False

    @property
    def model_id(self) -> str:
        return self.bundle.manifest.model_id

    @property
    def model_version(self) -> str:
        """The manifest's version, marked wherever the outputs can differ, so that cache entries (and replicas
        sharing Redis) never mix them: int8 graphs, and the GPU's float math (with TF32 marked apart)."""
        marks = [] if self.precision == FP32 else [self.precision]
        if self.provider == CUDA:
            marks.append("cuda-tf32" if self.tf32 else "cuda")
        version = self.bundle.manifest.model_version
        return "+".join([version, *marks])

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
        """A greedy and a beam decode, so the first user does not pay for ORT's lazy initialisation; the beam
        one runs more rows than the state buffers start with, so their growth (a copy on the device, on a
        GPU) has run once before any request needs it."""
        start = time.perf_counter()
        sources = [self.vocab.source("warm up", d.target) for d in self.bundle.manifest.directions[:1]]
        for beam, copies in ((1, 2), (4, WARM_UP_ROWS // 4 + 1)):
            decode_batch(
                self.backend,
                sources * copies,
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
        cls,
        model_dir: str | Path,
        device: str = "auto",
        intra_threads: int | None = None,
        precision: str = "auto",
        tf32: bool = False,
    ) -> Engine:
        """Load and verify every bundle; a bad bundle stops start-up rather than serving half a fleet."""
        paths = discover_bundles(model_dir)
        if not paths:
            raise BundleError(f"{model_dir}: no model bundles found (a bundle is a folder with manifest.json)")
        models = []
        for path in paths:
            bundle = load_bundle(path)
            backend, chosen = open_backend(bundle, device, precision, intra_threads, tf32)
            vocab = Vocabulary(bundle.sentencepiece_path, bundle.manifest.special_ids)
            vocab.verify(bundle.manifest, str(bundle.sentencepiece_path))
            model = LoadedModel(bundle, backend, vocab, chosen, tf32 and backend.provider == CUDA)
            log.info(
                "loaded %s %s from %s (directions %s, provider %s, precision %s)",
                model.model_id,
                model.model_version,
                path,
                ",".join(model.directions),
                model.provider,
                model.precision,
            )
            MODEL_INFO.labels(model.model_id, model.model_version, model.provider, model.precision).set(1)
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


GPU_HELP = (
    "check that the container sees a GPU (--gpus all, or an nvidia.com/gpu limit), that the driver is R580 or"
    " newer (CUDA 13), and that onnxruntime-gpu found CUDA and cuDNN (docs/deploy.md)"
)


def open_backend(
    bundle: Bundle, device: str, precision: str, intra_threads: int | None, tf32: bool = False
) -> tuple[OnnxBackend, str]:
    """The bundle's sessions and their precision, chosen from the provider ONNX Runtime really gave.

    A build with the CUDA provider may still run on the CPU (no GPU visible, an old driver, a missing
    library): under DEVICE=cuda that stops start-up with a message saying so; under DEVICE=auto the bundle
    is served on the CPU as a CPU replica would serve it (its CPU precision, int8 where it ships), with a
    warning, never the fp32 graphs meant for the GPU.
    """
    cuda_built = CUDA in preferred_providers(device)  # False for DEVICE=cpu
    if device == "cuda" and not cuda_built:
        raise BundleError(f"{bundle.path}: DEVICE=cuda but this ONNX Runtime has no CUDA provider (install .[gpu])")
    if cuda_built:
        chosen = choose_precision(bundle, precision, on_cpu=False)
        backend = OnnxBackend(*bundle.graph_paths(chosen), device="auto", intra_threads=intra_threads, tf32=tf32)
        if backend.provider == CUDA:
            return backend, chosen
        if device == "cuda":
            raise BundleError(f"{bundle.path}: DEVICE=cuda but ONNX Runtime could not start CUDA; {GPU_HELP}")
        log.warning(
            "DEVICE=auto: the CUDA provider is installed but could not start; serving on the CPU (%s)", GPU_HELP
        )
    chosen = choose_precision(bundle, precision, on_cpu=True)
    return OnnxBackend(*bundle.graph_paths(chosen), device="cpu", intra_threads=intra_threads), chosen


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
