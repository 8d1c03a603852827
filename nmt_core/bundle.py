"""The bundle: the one contract between `model/` (which writes it) and `service/` (which reads it).

Everything both sides must agree on lives here and nowhere else: file names,
graph input/output names, special token ids, the language-tag spelling and
the manifest's shape. This module must never import torch.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nmt_core.search import SearchOptions

FORMAT_VERSION = 2
SUPPORTED_FORMAT_VERSIONS = frozenset({FORMAT_VERSION})
LEGACY_FORMAT_VERSION = 1  # a decoder step that returned full log-probs; `python -m model.upgrade_bundle` converts it
UPGRADE_COMMAND = "python -m model.upgrade_bundle"

MANIFEST_FILE = "manifest.json"
ENCODER_FILE = "encoder.onnx"
DECODER_STEP_FILE = "decoder_step.onnx"
SENTENCEPIECE_FILE = "sentencepiece.model"
# Precisions: fp32 graphs always; an int8 copy (dynamic quantization, CPU only) is an optional variant.
FP32, INT8 = "fp32", "int8"
VARIANT_FILES = {INT8: ("encoder.int8.onnx", "decoder_step.int8.onnx")}

# Graph signatures. Every state tensor is batch-first.
ENCODER_INPUTS = ("src_ids", "src_lengths")
ENCODER_OUTPUTS = ("memory", "keys", "src_mask", "h", "c", "feed")
# Format 2: one step of the batched decoder (docs/bundle.md).
# - The recurrent state of the previous step (h, c, feed; all its rows) and the initial state of rows
#   admitted since (h_fresh, ...) are concatenated and gathered by `parents` inside the graph, so beam
#   reordering, admission and retirement never copy state outside it.
# - memory, keys and src_mask hold one row per *sentence*; `row_sentence` maps each decoder row to its
#   sentence inside the graph, so encoder outputs are written once per sentence, never per step.
# - The step ends in TopK(log_probs, k): no [rows, vocab] tensor leaves the graph.
DECODER_INPUTS = (
    "prev_tokens",
    "parents",
    "h",
    "c",
    "feed",
    "h_fresh",
    "c_fresh",
    "feed_fresh",
    "memory",
    "keys",
    "src_mask",
    "row_sentence",
    "k",
)
DECODER_OUTPUTS = ("topk_log_probs", "topk_ids", "h_out", "c_out", "feed_out", "attention")
VOCAB_SIZE_KEY = "vocab_size"  # decoder-step metadata: top-k never shows the vocabulary's width
# Format 1: one row per hypothesis for every input, full log-probs out.
LEGACY_DECODER_INPUTS = ("prev_tokens", "h", "c", "feed", "memory", "keys", "src_mask")
LEGACY_DECODER_OUTPUTS = ("log_probs", "h_out", "c_out", "feed_out", "attention")


@dataclass(frozen=True)
class SpecialIds:
    """SentencePiece ids reserved by the trainer; the manifest records the ones a bundle used."""

    pad: int = 0
    unk: int = 1
    bos: int = 2
    eos: int = 3

    @property
    def first_free(self) -> int:
        """The first id after the special ones: where ordinary pieces start."""
        return max(self.pad, self.unk, self.bos, self.eos) + 1


DEFAULT_SPECIAL_IDS = SpecialIds()


def language_tag(lang: str) -> str:
    """The target-language token prepended to the source (Johnson et al. 2017)."""
    return f"<2{lang}>"


class BundleError(Exception):
    """A bundle that cannot be served; the message names the offending file."""


@dataclass(frozen=True)
class Direction:
    source: str
    target: str

    @property
    def key(self) -> str:
        return f"{self.source}-{self.target}"


@dataclass(frozen=True)
class DecodingDefaults:
    """Search settings the model was evaluated with; requests may override within server limits."""

    beam_size: int = 4
    length_penalty: float = 0.6
    coverage_penalty: float = 0.0
    max_length_ratio: float = 2.0
    max_length_offset: int = 10

    def search_options(
        self, beam_size: int | None = None, length_penalty: float | None = None, coverage_penalty: float | None = None
    ) -> SearchOptions:
        """These settings as the decoder takes them, with any of the three a request may set overridden."""
        return SearchOptions(
            beam_size=self.beam_size if beam_size is None else beam_size,
            length_penalty=self.length_penalty if length_penalty is None else length_penalty,
            coverage_penalty=self.coverage_penalty if coverage_penalty is None else coverage_penalty,
            max_length_ratio=self.max_length_ratio,
            max_length_offset=self.max_length_offset,
        )


@dataclass(frozen=True)
class DecodingPlan:
    """Bundle-wide search defaults, and the directions that tuning gave their own (docs/bundle.md)."""

    defaults: DecodingDefaults = DecodingDefaults()
    by_direction: dict[str, DecodingDefaults] = field(default_factory=dict)

    def for_direction(self, direction: str | None) -> DecodingDefaults:
        """The settings a direction ("en-fr") is served and evaluated with; None means the bundle-wide ones."""
        return self.by_direction.get(direction, self.defaults) if direction else self.defaults

    def to_json(self) -> dict[str, Any]:
        """The manifest's `decoding` block, and `decoding_by_direction` only when a direction has its own."""
        out: dict[str, Any] = {"decoding": vars(self.defaults)}
        if self.by_direction:
            out["decoding_by_direction"] = {key: vars(d) for key, d in self.by_direction.items()}
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], directions: list[str] | None = None) -> DecodingPlan:
        """Read those blocks; a direction's entry may name only what differs from `decoding`.

        Raises ValueError for a direction not in `directions` and TypeError for an unknown setting.
        """
        defaults = DecodingDefaults(**data.get("decoding", {}))
        own = data.get("decoding_by_direction", {})
        if not isinstance(own, dict):
            raise TypeError(f"decoding_by_direction must map directions to settings, got {type(own).__name__}")
        plan = cls(defaults, {str(key): replace(defaults, **value) for key, value in own.items()})
        unknown = plan.unknown_directions(directions) if directions is not None else []
        if unknown:
            raise ValueError(f"decoding_by_direction names directions the model lacks: {unknown}")
        return plan

    def unknown_directions(self, directions: list[str]) -> list[str]:
        """Directions with their own settings that are not among a model's `directions`."""
        return sorted(set(self.by_direction) - set(directions))


@dataclass(frozen=True)
class Manifest:
    format_version: int
    model_id: str
    model_version: str
    directions: tuple[Direction, ...]
    special_ids: SpecialIds
    language_tag_ids: dict[str, int]
    dims: dict[str, int]
    opset: int
    files: dict[str, str]  # file name -> sha256
    decoding: DecodingPlan = DecodingPlan()
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    # Precisions the bundle ships beyond fp32 ("int8"), and the one a CPU replica uses by default: int8
    # only where its test BLEU stayed within tolerance of fp32 (docs/bundle.md).
    variants: tuple[str, ...] = ()
    cpu_precision: str = FP32

    @property
    def vocab_size(self) -> int:
        return self.dims["vocab_size"]

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "directions": [{"source": d.source, "target": d.target} for d in self.directions],
            "special_ids": vars(self.special_ids),
            "language_tag_ids": self.language_tag_ids,
            "dims": self.dims,
            "opset": self.opset,
            "files": {name: {"sha256": digest} for name, digest in self.files.items()},
            **self.decoding.to_json(),
            "training": self.training,
            "metrics": self.metrics,
            "variants": list(self.variants),
            "cpu_precision": self.cpu_precision,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: Path) -> Manifest:
        version = data.get("format_version")
        if version == LEGACY_FORMAT_VERSION:
            raise BundleError(
                f"{source}: bundle format 1 predates the batched decoder (top-k inside the graph); "
                f"upgrade it in place with `{UPGRADE_COMMAND} {source.parent}` (needs the train extras)"
            )
        if version not in SUPPORTED_FORMAT_VERSIONS:
            raise BundleError(
                f"{source}: unknown bundle format_version {version!r}; "
                f"this build reads {sorted(SUPPORTED_FORMAT_VERSIONS)}"
            )
        try:
            directions = tuple(Direction(d["source"], d["target"]) for d in data["directions"])
            return cls(
                format_version=version,
                model_id=str(data["model_id"]),
                model_version=str(data["model_version"]),
                directions=directions,
                special_ids=SpecialIds(**data["special_ids"]),
                language_tag_ids={k: int(v) for k, v in data["language_tag_ids"].items()},
                dims={k: int(v) for k, v in data["dims"].items()},
                opset=int(data["opset"]),
                files={name: entry["sha256"] for name, entry in data["files"].items()},
                decoding=DecodingPlan.from_json(data, [d.key for d in directions]),
                training=dict(data.get("training", {})),
                metrics=dict(data.get("metrics", {})),
                variants=tuple(str(v) for v in data.get("variants", ())),
                cpu_precision=str(data.get("cpu_precision", FP32)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{source}: malformed manifest ({type(exc).__name__}: {exc})") from exc


REQUIRED_FILES = (ENCODER_FILE, DECODER_STEP_FILE, SENTENCEPIECE_FILE)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(bundle_dir: Path, manifest: Manifest) -> None:
    (bundle_dir / MANIFEST_FILE).write_text(json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n")


def publish_bundle(staging: Path, out_dir: Path) -> Bundle:
    """Copy a bundle assembled in `staging` to `out_dir` once it passes the service's own checks, so that a
    failed export, upgrade or quantization never leaves a half-written bundle behind."""
    bundle = load_bundle(staging)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in (*bundle.manifest.files, MANIFEST_FILE):
        shutil.copy2(staging / name, out_dir / name)
    return bundle


def checksum_files(bundle_dir: Path, names: tuple[str, ...] = REQUIRED_FILES) -> dict[str, str]:
    return {name: sha256_of(bundle_dir / name) for name in names if (bundle_dir / name).exists()}


@dataclass(frozen=True)
class Bundle:
    """A verified bundle on disk."""

    path: Path
    manifest: Manifest

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def encoder_path(self) -> Path:
        return self.file(ENCODER_FILE)

    @property
    def decoder_step_path(self) -> Path:
        return self.file(DECODER_STEP_FILE)

    @property
    def sentencepiece_path(self) -> Path:
        return self.file(SENTENCEPIECE_FILE)

    def graph_paths(self, precision: str = FP32) -> tuple[Path, Path]:
        """Encoder and decoder-step graphs of one precision."""
        if precision == FP32:
            return self.encoder_path, self.decoder_step_path
        if precision not in self.manifest.variants:
            raise BundleError(
                f"{self.path}: no {precision} graphs (variants: {list(self.manifest.variants) or 'none'})"
            )
        encoder, decoder = VARIANT_FILES[precision]
        return self.file(encoder), self.file(decoder)


def load_bundle(path: str | Path, verify: bool = True) -> Bundle:
    """Read and verify a bundle; every failure is a BundleError naming the file at fault."""
    bundle_dir = Path(path)
    manifest_path = bundle_dir / MANIFEST_FILE
    if not manifest_path.is_file():
        raise BundleError(f"{manifest_path}: missing manifest")
    try:
        data = json.loads(manifest_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{manifest_path}: unreadable manifest ({exc})") from exc
    if not isinstance(data, dict):
        raise BundleError(f"{manifest_path}: manifest must be a JSON object")
    manifest = Manifest.from_json(data, manifest_path)
    for name in (*REQUIRED_FILES, *(f for v in manifest.variants for f in VARIANT_FILES.get(v, ()))):
        if name not in manifest.files:
            raise BundleError(f"{manifest_path}: manifest lists no checksum for {name}")
    unknown = set(manifest.variants) - set(VARIANT_FILES)
    if unknown or manifest.cpu_precision not in (FP32, *manifest.variants):
        raise BundleError(
            f"{manifest_path}: unknown variants {sorted(unknown)} or cpu_precision {manifest.cpu_precision!r}"
        )
    for name, expected in manifest.files.items():
        file_path = bundle_dir / name
        if not file_path.is_file():
            raise BundleError(f"{file_path}: missing bundle file")
        if verify and sha256_of(file_path) != expected:
            raise BundleError(f"{file_path}: checksum mismatch (manifest says sha256 {expected[:12]}…)")
    return Bundle(path=bundle_dir, manifest=manifest)


def discover_bundles(model_dir: str | Path) -> list[Path]:
    """Every immediate sub-folder of `model_dir` that holds a manifest (or the folder itself)."""
    root = Path(model_dir)
    if (root / MANIFEST_FILE).is_file():
        return [root]
    return sorted(p for p in root.iterdir() if (p / MANIFEST_FILE).is_file()) if root.is_dir() else []
