"""Add int8 graphs to a bundle: `python -m model.quantize BUNDLE [--out OUT] [--cpu-default]`.

Weights of MatMul, Gemm and the embeddings become int8; the activations entering the int8 products are
quantized with scales calibrated once over validation text (model/calibration.py, model/static_quantization.py),
so a sentence's translation never depends on what else is in the batch. The LSTMs stay fp32: ONNX Runtime's
int8 LSTM scales each batch anew. Calibration reads Multi30k's validation set from $DATA_DIR (200 sentences a
direction). The int8 graphs sit beside the fp32 ones
(`encoder.int8.onnx`, `decoder_step.int8.onnx`, manifest `variants`); a replica picks them with
PRECISION=int8, or by default on the CPU when the manifest's `cpu_precision` is int8, which
`--cpu-default` sets. Quantization is lossy: measure BLEU both ways (`python -m model.report
--precision int8`) and make it the default only where it holds (docs/models.md).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic

from model.calibration import activation_ranges
from model.eval_sets import MULTI30K_VALID, heldout_slices, multi30k_slices
from model.static_quantization import dynamic_inputs, fused_products, static_activations
from model.weights import restore_initializers_fp32, store_initializers_fp16
from nmt_core.bundle import (
    INT8,
    MANIFEST_FILE,
    VARIANT_FILES,
    Bundle,
    checksum_files,
    load_bundle,
    publish_bundle,
    write_manifest,
)
from nmt_core.vocabulary import Vocabulary

# Not LSTM: DynamicQuantizeLSTM scales each batch anew. Gather (the embeddings) quantizes weights only.
QUANTIZED_OPS = ["MatMul", "Gemm", "Gather"]
CALIBRATION_SENTENCES = 200  # per direction
CalibrationText = tuple[str, str]  # (source text, target language)
CALIBRATION_KEY = "int8_calibration"  # in the manifest's training block


def calibration_note(texts: Sequence[CalibrationText]) -> str:
    return f"activation scales calibrated on {len(texts)} sentences"


def default_calibration(
    bundle: Bundle, limit: int = CALIBRATION_SENTENCES, heldout: Path | None = None
) -> list[CalibrationText]:
    """Validation sentences, `limit` per direction of the bundle (validation: never test text): Multi30k's, or
    for a direction Multi30k lacks (zh), `limit` per direction from the `DOMAIN.SRC-TGT.tsv` slices of
    `heldout` (a run's heldout/valid), spread over its domains."""
    directions = [direction.key for direction in bundle.manifest.directions]
    slices = multi30k_slices(directions, MULTI30K_VALID, limit)
    texts = [(line, piece.target_lang) for piece in slices for line in piece.sources if line.strip()]
    covered = {piece.direction for piece in slices}
    if heldout is None:
        return texts
    for direction in (d for d in directions if d not in covered):
        found = heldout_slices(heldout, [direction])
        each = -(-limit // max(1, len(found)))
        texts += [(line, p.target_lang) for p in found for line in p.sources[:each] if line.strip()]
    return texts


def quantize_graphs(bundle: Bundle, out_dir: Path, calibration: Sequence[CalibrationText]) -> None:
    """Write the bundle's int8 graphs into `out_dir`: int8 weights, calibrated activation scales."""
    vocab = Vocabulary(bundle.sentencepiece_path)
    sources = [vocab.source(text, target) for text, target in calibration]
    plain = [out_dir / f"fp32-{name}" for name in VARIANT_FILES[INT8]]
    dynamic = [out_dir / name for name in VARIANT_FILES[INT8]]
    try:
        for fp32_path, plain_path, dynamic_path in zip(bundle.graph_paths(), plain, dynamic, strict=True):
            restore_initializers_fp32(fp32_path, plain_path)  # fp16-stored weights hide behind Cast nodes
            quantize_dynamic(
                str(plain_path), str(dynamic_path), weight_type=QuantType.QInt8, op_types_to_quantize=QUANTIZED_OPS
            )
        models = [onnx.load(str(path)) for path in dynamic]
        ranges = activation_ranges(
            plain[0],
            plain[1],
            dynamic_inputs(models[0]),
            dynamic_inputs(models[1]),
            sources,
            bundle.manifest.special_ids,
        )
        for model, path in zip(models, dynamic, strict=True):
            static_activations(model, ranges)
            fused_products(model)
            onnx.checker.check_model(model)
            onnx.save(model, str(path))
            store_initializers_fp16(path)  # the LSTMs' weights, rounded to fp16 at export: lossless
    finally:
        for path in plain:
            path.unlink(missing_ok=True)


def quantize_bundle(
    source: Path,
    out_dir: Path | None = None,
    cpu_default: bool = False,
    calibration: Sequence[CalibrationText] | None = None,
    heldout: Path | None = None,
) -> Path:
    """Write `source` with int8 graphs added (into `out_dir`, default: in place); returns the bundle folder.
    `calibration`: (text, target language) pairs; default Multi30k validation (`default_calibration`)."""
    bundle = load_bundle(source)
    texts = list(calibration) if calibration is not None else default_calibration(bundle, heldout=heldout)
    out_dir = out_dir or source
    with tempfile.TemporaryDirectory(prefix="int8-") as tmp:
        staging = Path(tmp)
        for name in bundle.manifest.files:
            shutil.copy2(bundle.file(name), staging / name)
        quantize_graphs(bundle, staging, texts)
        manifest = bundle.manifest
        training = {**manifest.training, CALIBRATION_KEY: calibration_note(texts)}
        names = tuple(dict.fromkeys((*manifest.files, *VARIANT_FILES[INT8])))
        write_manifest(
            staging,
            replace(
                manifest,
                files=checksum_files(staging, names),
                variants=tuple(dict.fromkeys((*manifest.variants, INT8))),
                training=training,
                cpu_precision=INT8 if cpu_default else manifest.cpu_precision,
            ),
        )
        publish_bundle(staging, out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--out", type=Path, help="write the bundle here instead of adding to BUNDLE in place")
    parser.add_argument("--cpu-default", action="store_true", help="make int8 the CPU default (manifest cpu_precision)")
    parser.add_argument(
        "--calibration-heldout", type=Path, help="a run's heldout/valid: calibration text where Multi30k has none"
    )
    args = parser.parse_args(argv)
    out = quantize_bundle(args.bundle, args.out, args.cpu_default, heldout=args.calibration_heldout)
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    print(json.dumps({"bundle": str(out), "cpu_precision": manifest["cpu_precision"], "bytes": sizes}))


if __name__ == "__main__":
    main()
