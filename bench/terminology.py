"""Term success with glossaries (issue 19) on the WMT23 terminology dev set (../shared/data/terminology/),
through a real server: each sentence's required terms given as an inline `glossary`, against no glossary.

Term success is the task's measure: the share of required target terms that appear in the output
(case-insensitive exact match). chrF is sacrebleu's, against the reference, with and without the glossary.

  python bench/terminology.py --data ../shared/data/terminology --directions de-en,en-de --terms proper \\
      --out artifacts/bench-terminology.json
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gzip
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import sacrebleu

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import ROOT, emit, server


def read_lines(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [line.rstrip("\n") for line in handle]


def load_set(data: Path, terms: str) -> tuple[dict[str, list[str]], list[list[dict[str, str]]]]:
    sentences = {lang: read_lines(data / f"wmt23-dev.deen.{lang}.gz") for lang in ("de", "en")}
    pairs = [json.loads(line) for line in read_lines(data / f"wmt23-dev.deen.term.{terms}.gz")]
    return sentences, pairs


def translate(
    base: str, source: str, target: str, texts: list[str], glossaries: Sequence[dict[str, str] | None]
) -> list[dict[str, Any]]:
    """One request per sentence (each has its own glossary), 8 at a time."""

    def one(index: int) -> dict[str, Any]:
        body: dict[str, Any] = {"text": texts[index], "source": source, "target": target}
        if glossaries[index]:
            body["glossary"] = glossaries[index]
        answer = httpx.post(f"{base}/v1/translate", json=body, timeout=600)
        answer.raise_for_status()
        translation: dict[str, Any] = answer.json()["translations"][0]
        return translation

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(len(texts))))


def term_success(outputs: list[str], required: list[list[str]]) -> float:
    hits = total = 0
    for output, terms in zip(outputs, required, strict=True):
        for term in terms:
            total += 1
            hits += term.lower() in output.lower()
    return round(100 * hits / max(1, total), 1)


def direction(base: str, source: str, target: str, sentences: dict[str, list[str]], pairs: list) -> dict[str, Any]:
    texts, references = sentences[source], sentences[target]
    glossaries = []
    for entry in pairs:
        glossary: dict[str, str] = {}
        seen: set[str] = set()
        for pair in entry:
            key = pair[source].strip().casefold()
            if key and pair[target].strip() and key not in seen:
                glossary[pair[source].strip()] = pair[target].strip()
                seen.add(key)
        glossaries.append(glossary)
    required = [list(g.values()) for g in glossaries]
    plain = translate(base, source, target, texts, [None] * len(texts))
    given = translate(base, source, target, texts, glossaries)
    plain_text = [t["text"] for t in plain]
    given_text = [t["text"] for t in given]
    found = sum(len(t.get("applied_terms") or []) for t in given)
    return {
        "sentences": len(texts),
        "terms": sum(len(r) for r in required),
        "terms_found_in_source": found,
        "term_success_pct_no_glossary": term_success(plain_text, required),
        "term_success_pct": term_success(given_text, required),
        "chrf_no_glossary": round(sacrebleu.corpus_chrf(plain_text, [references]).score, 2),
        "chrf": round(sacrebleu.corpus_chrf(given_text, [references]).score, 2),
        "bleu_no_glossary": round(sacrebleu.corpus_bleu(plain_text, [references]).score, 2),
        "bleu": round(sacrebleu.corpus_bleu(given_text, [references]).score, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "terminology")
    parser.add_argument("--directions", type=lambda s: s.split(","), default=["de-en", "en-de"])
    parser.add_argument("--terms", choices=["proper", "random"], default="proper")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    sentences, pairs = load_set(args.data, args.terms)
    if args.limit:
        sentences = {lang: lines[: args.limit] for lang, lines in sentences.items()}
        pairs = pairs[: args.limit]
    result: dict[str, Any] = {"terms": args.terms}
    with server(args, {"CACHE_MEMORY_MB": "0", "REQUEST_TIMEOUT_S": "600"}) as base:
        for name in args.directions:
            source, target = name.split("-")
            result[name] = direction(base, source, target, sentences, pairs)
    emit(result, args.out)


if __name__ == "__main__":
    main()
