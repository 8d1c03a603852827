"""Does a sentence's translation depend on what else is in the batch? (issue 24)

For each text file (one source sentence a line, or a held-out `.tsv` slice whose first column is the source):
  offline  the bundle's graphs through the batched decoder, each sentence alone vs all of them in batches of
           32 (`nmt_core.offline.decode_batch`), the bundle's decoding defaults;
  service  a real server with the cache off: each sentence its own request, one at a time, vs the same
           requests from 64 concurrent clients.
Reports how many sentences differ (the aim: none).

  python bench/batch_invariance.py --model-dir models --precision int8 \\
      --texts en-de=runs/general_en_de_fr_stage2/heldout/test/news.en-de.tsv \\
      --texts en-de=../shared/data/multi30k/test_2016_flickr.en.gz --limit 300 --out artifacts/invariance.json
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from load import ROOT, emit, read_sentences, server

from nmt_core.bundle import load_bundle
from nmt_core.offline import decode_batch
from nmt_core.onnx_backend import OnnxBackend
from nmt_core.vocabulary import Vocabulary


def sources_of(path: Path, limit: int) -> list[str]:
    lines = read_sentences(path)
    return [line.split("\t")[0] for line in lines][:limit] if path.suffix == ".tsv" else lines[:limit]


def offline(bundle_dir: Path, precision: str, direction: str, texts: list[str]) -> dict[str, Any]:
    bundle = load_bundle(bundle_dir)
    backend = OnnxBackend(*bundle.graph_paths(precision), device="cpu", intra_threads=1)
    vocab = Vocabulary(bundle.sentencepiece_path)
    options = bundle.manifest.decoding.for_direction(direction).search_options()
    target = direction.split("-")[1]
    sources = [vocab.source(text, target) for text in texts]
    specials = bundle.manifest.special_ids
    alone = [decode_batch(backend, [s], options, specials)[0].tokens for s in sources]
    batched = [h.tokens for h in decode_batch(backend, sources, options, specials, max_sentences=32)]
    return {"sentences": len(texts), "differ_alone_vs_batched_32": sum(a != b for a, b in zip(alone, batched))}


def through_service(base: str, direction: str, texts: list[str], clients: int) -> dict[str, Any]:
    source, target = direction.split("-")

    def ask(text: str) -> str:
        with httpx.Client(base_url=base, timeout=300) as client:
            response = client.post("/v1/translate", json={"text": text, "source": source, "target": target})
            response.raise_for_status()
            return str(response.json()["translations"][0]["text"])

    alone = [ask(text) for text in texts]
    with ThreadPoolExecutor(clients) as pool:
        loaded = list(pool.map(ask, texts))
    return {f"differ_alone_vs_{clients}_clients": sum(a != b for a, b in zip(alone, loaded))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--bundle", default="general-en-de-fr")
    parser.add_argument("--precision", default="int8")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--texts", action="append", required=True, help="DIRECTION=PATH (repeatable)")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    sets = [(spec.split("=", 1)[0], Path(spec.split("=", 1)[1])) for spec in args.texts]
    result: dict[str, Any] = {"precision": args.precision}
    for direction, path in sets:
        texts = sources_of(path, args.limit)
        result[f"{direction} {path.name}"] = offline(args.model_dir / args.bundle, args.precision, direction, texts)
    env = {"CACHE_MEMORY_MB": "0", "PRECISION": args.precision, "REQUEST_TIMEOUT_S": "600"}
    with server(args, env) as base:
        for direction, path in sets:
            result[f"{direction} {path.name}"].update(
                through_service(base, direction, sources_of(path, args.limit), args.clients)
            )
    emit(result, args.out)


if __name__ == "__main__":
    main()
