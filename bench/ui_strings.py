"""Placeholders in real UI strings (issue 19): messages with placeholders from the gettext catalogs installed on
this Debian machine (/usr/share/locale/{de,fr}/LC_MESSAGES/*.mo: apt, coreutils, glib, gtk, git, ...), sent
through a real server, with and without `protect`.

A string counts as kept when every placeholder it holds (printf, Python, ICU/brace, shell, Mustache, as
service/text/protection.py finds them) comes back as often as it was sent. Also reported: chrF against the
catalog's own translation, with and without protection. The sample is drawn with a fixed seed, grouped by
English string, from every catalog that has both languages.

  python bench/ui_strings.py --limit 400 --out artifacts/bench-ui-strings.json
"""

from __future__ import annotations

import argparse
import gettext
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import sacrebleu

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import ROOT, emit, server

from service.text.protection import find_spans

LOCALE = Path("/usr/share/locale")


def catalog(path: Path) -> dict[str, str]:
    """Singular, translated, non-fuzzy messages of one .mo file (fuzzy entries are not compiled into .mo)."""
    try:
        with path.open("rb") as handle:
            entries = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
    except (UnicodeDecodeError, OSError):  # a catalog whose header is not UTF-8: left out
        return {}
    return {k: v for k, v in entries.items() if isinstance(k, str) and k and isinstance(v, str) and v}


def placeholders(text: str) -> Counter[str]:
    return Counter(text[s.start : s.end] for s in find_spans(text) if s.kind == "placeholder")


def sample(targets: list[str], limit: int, seed: int = 0) -> dict[str, list[tuple[str, str]]]:
    """Per target language, `limit` (English, translation) pairs whose English has a placeholder."""
    out: dict[str, list[tuple[str, str]]] = {}
    for target in targets:
        pairs: dict[str, str] = {}
        for path in sorted((LOCALE / target / "LC_MESSAGES").glob("*.mo")):
            for source, translation in catalog(path).items():
                line = source.strip()
                if "\n" in line or not 8 <= len(line) <= 200 or not placeholders(line):
                    continue
                if sum(c.isalpha() for c in line) < 6:
                    continue
                pairs.setdefault(line, translation.strip())
        keys = sorted(pairs)
        random.Random(seed).shuffle(keys)
        out[target] = [(k, pairs[k]) for k in keys[:limit]]
    return out


def run(base: str, target: str, pairs: list[tuple[str, str]], protect: bool) -> dict[str, Any]:
    outputs: list[str] = []
    with httpx.Client(base_url=base, timeout=600) as client:
        for start in range(0, len(pairs), 32):
            batch = [s for s, _ in pairs[start : start + 32]]
            body = {"text": batch, "source": "en", "target": target, "protect": protect}
            outputs += [t["text"] for t in client.post("/v1/translate", json=body).json()["translations"]]
    kept = sum(not (placeholders(s) - placeholders(o)) for (s, _), o in zip(pairs, outputs, strict=True))
    references = [r for _, r in pairs]
    return {
        "placeholders_kept_pct": round(100 * kept / max(1, len(pairs)), 1),
        "chrf": round(sacrebleu.corpus_chrf(outputs, [references]).score, 2),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--targets", type=lambda s: s.split(","), default=["de", "fr"])
    parser.add_argument("--limit", type=int, default=400)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    sets = sample(args.targets, args.limit)
    result: dict[str, Any] = {}
    with server(args, {"CACHE_MEMORY_MB": "0", "REQUEST_TIMEOUT_S": "600"}) as base:
        for target, pairs in sets.items():
            result[f"en-{target}"] = {
                "strings": len(pairs),
                "catalogs": len(list((LOCALE / target / "LC_MESSAGES").glob("*.mo"))),
                "protect_off": run(base, target, pairs, protect=False),
                "protect_on": run(base, target, pairs, protect=True),
            }
    emit(result, args.out)


if __name__ == "__main__":
    main()
