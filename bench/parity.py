"""Batched decoder vs the per-sentence search it replaced, on whole test sets (issue: batched decoder).

The old search (tests/legacy_search.py) runs on a format-1 bundle, e.g. the one shipped at 8b8e36d
(`git worktree add /tmp/nmt-baseline-8b8e36d 8b8e36d`); the batched decoder on the format-2 bundle made
from it. Reports, per direction and search, how many outputs are identical, and for those that differ
whether the scores tie (the old search broke exact ties in an arbitrary order).

  python bench/parity.py --legacy /tmp/nmt-baseline-8b8e36d/models/multi30k-en-de-fr \
      --bundle /tmp/caption-model/models/multi30k-en-de-fr --out artifacts/parity.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model.corpus import read_lines  # noqa: E402
from model.dataset import resolve_path  # noqa: E402
from model.eval_sets import MULTI30K_TEST  # noqa: E402
from nmt_core.bundle import DECODER_STEP_FILE, ENCODER_FILE, load_bundle  # noqa: E402
from nmt_core.offline import decode_batch  # noqa: E402
from nmt_core.onnx_backend import OnnxBackend  # noqa: E402
from nmt_core.search import SearchOptions  # noqa: E402
from nmt_core.vocabulary import Vocabulary  # noqa: E402
from tests import legacy_search as legacy  # noqa: E402


def compare(args: argparse.Namespace) -> dict[str, Any]:
    bundle = load_bundle(args.bundle)
    vocab = Vocabulary(bundle.sentencepiece_path)
    old = legacy.LegacyOnnxStepper(str(args.legacy / ENCODER_FILE), str(args.legacy / DECODER_STEP_FILE))
    new = OnnxBackend(bundle.encoder_path, bundle.decoder_step_path, device="cpu", intra_threads=args.threads)
    report: dict[str, Any] = {}
    for direction in args.directions.split(","):
        source_lang, target = direction.split("-")
        texts = read_lines(resolve_path(MULTI30K_TEST.format(lang=source_lang)))[: args.sentences]
        sources = [vocab.source(text, target) for text in texts]
        decoding = bundle.manifest.decoding.for_direction(direction)
        for beam in (1, decoding.beam_size):
            shared: dict[str, Any] = dict(
                beam_size=beam,
                length_penalty=decoding.length_penalty,
                coverage_penalty=decoding.coverage_penalty,
                max_length_ratio=decoding.max_length_ratio,
                max_length_offset=decoding.max_length_offset,
            )
            start = time.perf_counter()
            want = [
                h
                for i in range(0, len(sources), 64)
                for h in legacy.decode_batch(old, sources[i : i + 64], legacy.SearchOptions(**shared))
            ]
            old_seconds = time.perf_counter() - start
            start = time.perf_counter()
            got = decode_batch(new, sources, SearchOptions(**shared))
            new_seconds = time.perf_counter() - start
            differing = [(a, b) for a, b in zip(got, want, strict=True) if a.tokens != b.tokens]
            ties = sum(abs(a.score - b.score) <= 1e-6 for a, b in differing)
            row = {
                "sentences": len(sources),
                "identical": len(sources) - len(differing),
                "differing": len(differing),
                "of_which_score_ties": ties,
                "legacy_seconds": round(old_seconds, 2),
                "batched_seconds": round(new_seconds, 2),
            }
            report[f"{direction} beam{beam}"] = row
            print(json.dumps({direction: row, "beam": beam}), flush=True)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--legacy", type=Path, required=True, help="a format-1 bundle")
    parser.add_argument("--bundle", type=Path, required=True, help="the format-2 caption bundle (git history: 73536df)")
    parser.add_argument("--directions", default="en-de,de-en,en-fr,fr-en")
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    report = compare(args)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
