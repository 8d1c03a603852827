"""Greedy decoding of a test set: ONNX Runtime bundle vs PyTorch eager checkpoint, same batch size, one run.

    python bench/onnx_vs_torch.py --checkpoint runs/multi30k_en_de_fr/best.pt \
        --bundle models/general-en-de-fr --source '${DATA_DIR}/multi30k/test_2016_flickr.en.gz' --target de

Both backends drive the same NumPy search loop, so the ratio measures the
encoder and decoder-step execution alone. Rounds alternate between the two
backends to spread machine noise evenly; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from model.backends import open_model
from model.corpus import read_lines
from model.dataset import resolve_path
from nmt_core.offline import translate_offline
from nmt_core.search import SearchOptions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--sentences", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads for both backends")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    texts = [t for t in read_lines(resolve_path(args.source)) if t.strip()][: args.sentences]
    backends = {"pytorch": open_model(args.checkpoint), "onnxruntime": open_model(args.bundle)}
    options = SearchOptions(beam_size=1)
    timings: dict[str, list[float]] = {name: [] for name in backends}
    outputs: dict[str, list[list[int]]] = {}
    for _ in range(args.rounds):
        for name, loaded in backends.items():
            started = time.perf_counter()
            hyps = translate_offline(loaded.backend, loaded.vocab, texts, args.target, options, args.batch_size)
            timings[name].append(time.perf_counter() - started)
            outputs[name] = [h.tokens for h in hyps]
    medians = {name: statistics.median(values) for name, values in timings.items()}
    identical = sum(a == b for a, b in zip(outputs["pytorch"], outputs["onnxruntime"]))
    print(
        json.dumps(
            {
                "sentences": len(texts),
                "batch_size": args.batch_size,
                "rounds": args.rounds,
                "threads": args.threads,
                "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                "median_seconds": {k: round(v, 3) for k, v in medians.items()},
                "sentences_per_second": {k: round(len(texts) / v, 1) for k, v in medians.items()},
                "speedup_onnx_over_pytorch": round(medians["pytorch"] / medians["onnxruntime"], 2),
                "identical_greedy_outputs": f"{identical}/{len(texts)}",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
