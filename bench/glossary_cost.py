"""What a 20-term glossary costs (issue 19): the same held-out news sentences, one per request, from closed-loop
clients, with and without a glossary, in alternating rounds against one server (no cache).

The glossary holds 20 terms: ten of the most frequent content words of the sentences (so that about a
quarter of the requests apply at least one term) and ten that never occur. Reported: sentences per second and
p50 latency of each, their ratio (median over rounds), and how many requests applied a term.

  python bench/glossary_cost.py --texts runs/general_en_de_fr_stage2/heldout/test/news.en-de.tsv \\
      --concurrency 1,64 --rounds 3 --out artifacts/bench-glossary-cost.json
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import ROOT, closed_loop, emit, read_sentences, server

STOP = {"their", "would", "could", "about", "after", "there", "which", "other", "these", "where", "while", "being"}


def glossary_for(sentences: list[str]) -> dict[str, str]:
    words = Counter(w for s in sentences for w in re.findall(r"[a-z]{5,}", s.lower()) if w not in STOP)
    frequent = [w for w, _ in words.most_common(10)]
    absent = [f"zzterm{i}" for i in range(10)]
    return {term: f"[{term.upper()}]" for term in frequent + absent}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--texts", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=500)
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")], default=[1, 64])
    parser.add_argument("--requests", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    sentences = [line.split("\t")[0] for line in read_sentences(args.texts)][: args.limit]
    glossary = glossary_for(sentences)
    result: dict[str, Any] = {"glossary_terms": len(glossary), "sentences": len(sentences)}
    with server(args, {"CACHE_MEMORY_MB": "0", "REQUEST_TIMEOUT_S": "600"}) as base:
        answers = []
        for start in range(0, len(sentences), 32):
            body = {"text": sentences[start : start + 32], "source": "en", "target": "de", "glossary": glossary}
            answers += httpx.post(f"{base}/v1/translate", json=body, timeout=600).json()["translations"]
        result["sentences_applying_a_term_pct"] = round(
            100 * sum(bool(a["applied_terms"]) for a in answers) / len(answers), 1
        )
        for clients in args.concurrency:
            requests = args.requests if clients > 1 else args.requests // 4
            ratios, rounds = [], []
            for _ in range(args.rounds):
                plain = asyncio.run(closed_loop(base, sentences, clients, requests, None, "en", "de"))
                given = asyncio.run(
                    closed_loop(base, sentences, clients, requests, None, "en", "de", {"glossary": glossary})
                )
                ratios.append(given["sentences_per_s"] / plain["sentences_per_s"])
                rounds.append({"plain": plain, "glossary": given})
            result[f"{clients}_clients"] = {"ratio_median": round(statistics.median(ratios), 3), "rounds": rounds}
    emit(result, args.out)


if __name__ == "__main__":
    main()
