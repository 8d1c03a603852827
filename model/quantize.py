"""Add int8 graphs to a bundle by ONNX Runtime dynamic quantization: `python -m model.quantize BUNDLE [--out OUT]`.

Weights of MatMul/Gemm/LSTM become int8, activations are quantized on the fly; on a CPU with AVX-512
VNNI the decoder step runs about twice as fast. The int8 graphs sit beside the fp32 ones
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
from dataclasses import replace
from pathlib import Path

from onnxruntime.quantization import QuantType, quantize_dynamic

from model.weights import restore_initializers_fp32
from nmt_core.bundle import (
    INT8,
    MANIFEST_FILE,
    VARIANT_FILES,
    checksum_files,
    load_bundle,
    publish_bundle,
    write_manifest,
)


def quantize_bundle(source: Path, out_dir: Path | None = None, cpu_default: bool = False) -> Path:
    """Write `source` with int8 graphs added (into `out_dir`, default: in place); returns the bundle folder."""
    bundle = load_bundle(source)
    out_dir = out_dir or source
    with tempfile.TemporaryDirectory(prefix="int8-") as tmp:
        staging = Path(tmp)
        for name in bundle.manifest.files:
            shutil.copy2(bundle.file(name), staging / name)
        for fp32_path, int8_name in zip(bundle.graph_paths(), VARIANT_FILES[INT8]):
            plain = staging / f"fp32-{int8_name}"
            restore_initializers_fp32(fp32_path, plain)  # fp16-stored weights hide behind Cast nodes
            quantize_dynamic(str(plain), str(staging / int8_name), weight_type=QuantType.QInt8)
            plain.unlink()
        manifest = bundle.manifest
        names = tuple(dict.fromkeys((*manifest.files, *VARIANT_FILES[INT8])))
        write_manifest(
            staging,
            replace(
                manifest,
                files=checksum_files(staging, names),
                variants=tuple(dict.fromkeys((*manifest.variants, INT8))),
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
    args = parser.parse_args(argv)
    out = quantize_bundle(args.bundle, args.out, args.cpu_default)
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    print(json.dumps({"bundle": str(out), "cpu_precision": manifest["cpu_precision"], "bytes": sizes}))


if __name__ == "__main__":
    main()
