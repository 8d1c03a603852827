"""An int8 copy of a bundle by ONNX Runtime dynamic quantization: `python -m model.quantize BUNDLE OUT_DIR`.

Weights of MatMul/Gemm/LSTM become int8, activations are quantized on the fly.
The copy is a bundle of its own, with `+int8` in its model_version so that it
never shares cache entries with the fp32 model. Measure its BLEU with
`python -m model.evaluate` before shipping it: quantization is lossy.
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
    DECODER_STEP_FILE,
    ENCODER_FILE,
    REQUIRED_FILES,
    SENTENCEPIECE_FILE,
    checksum_files,
    load_bundle,
    write_manifest,
)


def quantize_bundle(source: Path, out_dir: Path) -> Path:
    bundle = load_bundle(source)
    with tempfile.TemporaryDirectory(prefix="int8-") as tmp:
        staging = Path(tmp)
        for name in (ENCODER_FILE, DECODER_STEP_FILE):
            plain = staging / f"fp32-{name}"
            restore_initializers_fp32(bundle.file(name), plain)  # fp16-stored weights hide behind Cast nodes
            quantize_dynamic(str(plain), str(staging / name), weight_type=QuantType.QInt8)
            plain.unlink()
        shutil.copy2(bundle.file(SENTENCEPIECE_FILE), staging / SENTENCEPIECE_FILE)
        manifest = bundle.manifest
        training = {**manifest.training, "weights_storage": "int8 (dynamic quantization)"}
        write_manifest(
            staging,
            replace(
                manifest,
                model_version=f"{manifest.model_version}+int8",
                files=checksum_files(staging, REQUIRED_FILES),
                training=training,
                metrics={},
            ),
        )
        load_bundle(staging)
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in staging.iterdir():
            shutil.copy2(path, out_dir / path.name)
    return out_dir


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    out = quantize_bundle(args.bundle, args.out_dir)
    sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
    print(json.dumps({"bundle": str(out), "bytes": sizes}))


if __name__ == "__main__":
    main()
