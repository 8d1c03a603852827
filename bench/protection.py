"""How much of what must be kept comes back (issue 19): protected entities inserted into real sentences, and
sentences without letters, through a real server with and without `protect`.

Entities (URLs, e-mail addresses, @handles, #hashtags, emoji, `code` and placeholders of every syntax of
docs/terminology.md) are inserted at a random word boundary of held-out sentences; a sentence counts as kept
when every entity it holds comes back byte for byte.

  python bench/protection.py --model-dir models --texts runs/general_en_de_fr_stage2/heldout/test/news.en-de.tsv \\
      --targets de,fr --limit 200 --news-dir runs/general_en_de_fr_stage2/heldout --out artifacts/bench-protection.json
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import ROOT, emit, read_sentences, server

ENTITIES = [
    "https://www.example.com/path?q=1",
    "info@example.org",
    "@acme",
    "#NMT",
    "😀",
    "👍🏽",
    "🇩🇪",
    "`make test`",
    "{name}",
    "{0}",
    "%s",
    "%d",
    "%1$s",
    "%(count)d",
    "%{user}",
    "${HOME}",
    "{{ button_label }}",
]
NO_LETTERS = ["—", "•", "© 2024", "12:30", "€ 4,99", "+49 30 1234-567", "1.", "😀 👍🏽", "3.5% → 4%", "2024-12-03"]


def with_entities(sentences: list[str], seed: int = 0) -> list[tuple[str, list[str]]]:
    rng = random.Random(seed)
    out = []
    for sentence in sentences:
        words = sentence.split()
        chosen = rng.sample(ENTITIES, k=min(len(ENTITIES), rng.randint(1, 2)))
        for entity in chosen:
            words.insert(rng.randint(1, max(1, len(words))), entity)
        out.append((" ".join(words), chosen))
    return out


def kept(base: str, target: str, cases: list[tuple[str, list[str]]], protect: bool) -> float:
    ok = 0
    with httpx.Client(base_url=base, timeout=600) as client:
        for start in range(0, len(cases), 32):
            batch = cases[start : start + 32]
            body = {"text": [t for t, _ in batch], "source": "en", "target": target, "protect": protect}
            answers = client.post("/v1/translate", json=body).json()["translations"]
            ok += sum(all(e in a["text"] for e in ents) for (_, ents), a in zip(batch, answers, strict=True))
    return round(100 * ok / len(cases), 1)


def unchanged(base: str, target: str) -> float:
    body = {"text": NO_LETTERS, "source": "en", "target": target}
    answers = httpx.post(f"{base}/v1/translate", json=body, timeout=60).json()["translations"]
    return round(100 * sum(a["text"] == t for a, t in zip(answers, NO_LETTERS, strict=True)) / len(NO_LETTERS), 1)


CURRENCY = re.compile(r"[$€£¥₹₽₩¢₺₫₪]")
DIGITS = re.compile(r"\d+")


def numbers_kept(base: str, target: str, sentences: list[str], protect: bool) -> dict[str, Any]:
    """News sentences with digits: the share whose every digit run comes back (as often as it was sent), and
    of those with a currency symbol, the share whose every symbol does."""
    with_digits = [s for s in sentences if DIGITS.search(s)]
    digits_ok = currency_ok = currency_total = 0
    with httpx.Client(base_url=base, timeout=600) as client:
        for start in range(0, len(with_digits), 32):
            batch = with_digits[start : start + 32]
            body = {"text": batch, "source": "en", "target": target, "protect": protect}
            answers = [a["text"] for a in client.post("/v1/translate", json=body).json()["translations"]]
            for sent, answer in zip(batch, answers, strict=True):
                digits_ok += not (Counter(DIGITS.findall(sent)) - Counter(DIGITS.findall(answer)))
                if CURRENCY.search(sent):
                    currency_total += 1
                    currency_ok += not (Counter(CURRENCY.findall(sent)) - Counter(CURRENCY.findall(answer)))
    return {
        "sentences_with_digits": len(with_digits),
        "digits_kept_pct": round(100 * digits_ok / max(1, len(with_digits)), 1),
        "sentences_with_currency": currency_total,
        "currency_kept_pct": round(100 * currency_ok / max(1, currency_total), 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--texts", type=Path, required=True, help="English sentences (.tsv: first column)")
    parser.add_argument("--targets", type=lambda s: s.split(","), default=["de", "fr"])
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument(
        "--news-dir", type=Path, help="held-out slices (valid/, test/ with news.en-XX.tsv) for digits and currency"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    lines = read_sentences(args.texts)
    sentences = [line.split("\t")[0] for line in lines][: args.limit]
    cases = with_entities(sentences)
    result: dict[str, Any] = {"sentences": len(cases)}
    with server(args, {"CACHE_MEMORY_MB": "0", "REQUEST_TIMEOUT_S": "600"}) as base:
        for target in args.targets:
            result[f"en-{target}"] = {
                "entities_kept_pct_protect_off": kept(base, target, cases, protect=False),
                "entities_kept_pct": kept(base, target, cases, protect=True),
                "no_letter_segments_unchanged_pct": unchanged(base, target),
            }
            if args.news_dir:
                paths = sorted(args.news_dir.glob(f"*/news.en-{target}.tsv"))
                news = [line.split("\t")[0] for path in paths for line in read_sentences(path)]
                result[f"en-{target}"]["numbers_protect_off"] = numbers_kept(base, target, news, protect=False)
                result[f"en-{target}"]["numbers"] = numbers_kept(base, target, news, protect=True)
    emit(result, args.out)


if __name__ == "__main__":
    main()
