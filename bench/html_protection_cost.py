"""What keeping protected spans costs the markup work of real pages (issue 19): every page of
tests/fixtures/real_pages through `translate_html` with an upper-casing word-for-word "translator", with and
without `keep` (the spans HTML text runs keep as atoms); medians of --repeat runs, per page and in all.

  python bench/html_protection_cost.py --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from load import ROOT, emit

from service.text.markup.translate import Keep, translate_html
from service.text.protection import hidden_spans
from tests.markup_support import Aligned, word_pieces

PAGES = ROOT / "tests" / "fixtures" / "real_pages"


async def upper(segments: list[str]) -> list[Aligned]:
    return [Aligned(s.upper(), word_pieces(s), word_pieces(s.upper()), list(range(len(s.split())))) for s in segments]


def seconds(html: str, keep: Keep | None, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        asyncio.run(translate_html(html, upper, keep=keep))  # type: ignore[arg-type]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    pages = sorted(PAGES.glob("*.html"))
    plain = with_keep = 0.0
    for page in pages:
        html = page.read_text(encoding="utf-8", errors="replace")
        plain += seconds(html, None, args.repeat)
        with_keep += seconds(html, hidden_spans, args.repeat)
    result: dict[str, Any] = {
        "pages": len(pages),
        "seconds_without_keep": round(plain, 3),
        "seconds_with_keep": round(with_keep, 3),
        "ratio": round(with_keep / plain, 3),
    }
    emit(result, args.out)


if __name__ == "__main__":
    main()
