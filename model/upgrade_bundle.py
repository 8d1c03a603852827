"""Upgrade a bundle's graphs in place (or into OUT): `python -m model.upgrade_bundle BUNDLE [--out OUT]`.

Format 1's decoder step returned full log-probs for one row per hypothesis; format 2 is the batched
decoder's step (nmt_core/bundle.py). Graphs exported before the attention's vector became a column
(model/attention.py) get the faster matrix-vector product, int8 variants included. The encoder's masked
sum over source positions becomes a product (its last bits depended on the padded width, so on the batch).
The checkpoint is not needed: the graphs are rewired by surgery (model/graph_surgery.py), their weights
untouched, and the manifest's checksums and format are updated. int8 graphs that quantize activations per
batch are made again from the fp32 graphs with calibrated scales (model/quantize.py: Multi30k validation
from $DATA_DIR), so that no translation depends on its batch mates.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import onnx

from model.graph_surgery import batched_decoder_graph, column_matmuls, is_legacy_decoder, position_sums_as_products
from model.quantize import CALIBRATION_KEY, calibration_note, default_calibration, quantize_graphs
from model.static_quantization import is_batch_invariant
from nmt_core.bundle import (
    DECODER_STEP_FILE,
    FORMAT_VERSION,
    INT8,
    LEGACY_FORMAT_VERSION,
    MANIFEST_FILE,
    VARIANT_FILES,
    BundleError,
    load_bundle,
    publish_bundle,
    sha256_of,
)


def upgrade_bundle(source: Path, out: Path | None = None) -> Path:
    """Write the upgraded bundle to `out` (default: over `source`); returns where it went."""
    out = out or source
    manifest = json.loads((source / MANIFEST_FILE).read_text())
    version = manifest.get("format_version")
    if version not in (LEGACY_FORMAT_VERSION, FORMAT_VERSION):
        raise BundleError(f"{source}: format_version {version!r} is not one this code knows")
    for name, entry in manifest["files"].items():
        if sha256_of(source / name) != entry["sha256"]:
            raise BundleError(f"{source / name}: checksum mismatch; refusing to upgrade a damaged bundle")
    with tempfile.TemporaryDirectory(prefix="upgrade-") as tmp:
        staging = Path(tmp)
        for name in manifest["files"]:
            shutil.copy2(source / name, staging / name)
        changed = False
        if version == LEGACY_FORMAT_VERSION:
            decoder = onnx.load(str(source / DECODER_STEP_FILE))
            if not is_legacy_decoder(decoder):
                raise BundleError(f"{source / DECODER_STEP_FILE}: not a format-1 decoder step")
            onnx.save(batched_decoder_graph(decoder), str(staging / DECODER_STEP_FILE))
            changed = True
        for name in manifest["files"]:
            if name.endswith(".onnx"):
                graph = onnx.load(str(staging / name))
                if column_matmuls(graph) + position_sums_as_products(graph):
                    onnx.save(graph, str(staging / name))
                    changed = True
        int8 = [name for name in VARIANT_FILES[INT8] if name in manifest["files"]]
        if int8 and (changed or not all(is_batch_invariant(onnx.load(str(staging / name))) for name in int8)):
            manifest["format_version"] = FORMAT_VERSION  # read the staged fp32 graphs as a bundle
            manifest["files"] = {name: {"sha256": sha256_of(staging / name)} for name in manifest["files"]}
            (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
            staged = load_bundle(staging)
            texts = default_calibration(staged)
            quantize_graphs(staged, staging, texts)
            manifest["training"] = {**manifest.get("training", {}), CALIBRATION_KEY: calibration_note(texts)}
            changed = True
        if not changed:
            raise BundleError(f"{source}: format {version} with today's graphs: nothing to upgrade")
        manifest["format_version"] = FORMAT_VERSION
        manifest["files"] = {name: {"sha256": sha256_of(staging / name)} for name in manifest["files"]}
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        publish_bundle(staging, out)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--out", type=Path, help="write the upgraded bundle here instead of over BUNDLE")
    args = parser.parse_args(argv)
    print(json.dumps({"upgraded": str(upgrade_bundle(args.bundle, args.out))}))


if __name__ == "__main__":
    main()
