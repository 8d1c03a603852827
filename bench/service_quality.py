"""Translation quality through a running service, as its users (and the issue's measurements) get it.

`model.report` decodes offline in fixed batches; the service batches whatever requests are in flight
at each decoder step, and int8 graphs quantize activations per batch, so outputs can differ a little.
This sends every test sentence as its own request, `--concurrency` at a time, with the bundle's
defaults (no options), and scores the answers like `model.report`:

    make run &   # or any deployment
    python bench/service_quality.py --url http://127.0.0.1:8000 --directions en-de,en-fr \\
        --heldout runs/general_en_de_fr_stage2/heldout/test
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from model.eval_sets import EvalSlice, heldout_slices, multi30k_slices
from model.metrics import score


def translate_all(client: httpx.Client, piece: EvalSlice, concurrency: int, protect: bool = True) -> list[str]:
    def one(text: str) -> str:
        body = {"text": text, "source": piece.source_lang, "target": piece.target_lang, "protect": protect}
        response = client.post("/v1/translate", json=body)
        response.raise_for_status()
        return str(response.json()["translations"][0]["text"])

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, piece.sources))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--directions", default="en-de,de-en,en-fr,fr-en")
    parser.add_argument("--heldout", type=Path, help="also every DOMAIN.SRC-TGT.tsv slice here (RUN/heldout/test)")
    parser.add_argument("--limit", type=int, help="at most this many sentences per slice")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--no-protect", action="store_true", help="send protect: false (what the model alone makes of the text)"
    )
    args = parser.parse_args()
    directions = args.directions.split(",")
    slices = multi30k_slices(directions, limit=args.limit)
    if args.heldout:
        slices += heldout_slices(args.heldout, directions, args.limit)
    with httpx.Client(base_url=args.url, timeout=60.0) as client:
        languages = client.get("/v1/languages").json()
        for piece in slices:
            hypotheses = translate_all(client, piece, args.concurrency, protect=not args.no_protect)
            figures = score(hypotheses, piece.references, piece.target_lang)
            figures.pop("sacrebleu_signature")
            print(json.dumps({"slice": piece.label, "sentences": len(hypotheses), **figures}), flush=True)
    print(json.dumps({"languages": languages}))


if __name__ == "__main__":
    main()
