"""Time to a translated viewport on a long real page: streamed (viewport first, interactive; the rest bulk) against
today's whole batches, in the same run, in Chromium, on the shipped model (issue 20).

    python bench/viewport.py --out runs/viewport.json
    python bench/viewport.py --all-pages --rounds 1 --width 390 --height 844   # every real page, phone-sized

Each round loads the page twice (batches, then streaming, then the other order on the next round), each time on a
fresh server without cache, and times from the click until every text that was in view is painted, and until the
page is done (tests/browser_support.py: VIEWPORT_TIMING_JS). Reports medians and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import playwright.sync_api as playwright_sync

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from load import ROOT, emit, server

from tests.browser_support import CHROMIUM, VIEWPORT_TIMING_JS, embed_page, static_server

PAGE = ROOT / "tests" / "fixtures" / "real_pages" / "00_wikipedia_style.html"


def timed(browser: Any, url: str, width: int, height: int) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_function("window.pageTranslator !== undefined && window.PageTranslate !== undefined")
    timing: dict[str, Any] = page.evaluate(VIEWPORT_TIMING_JS)
    page.close()
    return timing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--page", type=Path, default=PAGE)
    parser.add_argument("--all-pages", action="store_true", help="every page of tests/fixtures/real_pages")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=800)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    pages = sorted(PAGE.parent.glob("*.html")) if args.all_pages else [args.page]
    results = [measure(page, args) for page in pages]
    if len(results) == 1:
        emit(results[0], args.out)
        return
    speedups = [r["viewport_speedup"] for r in results if r["viewport_speedup"] is not None]
    summary = {
        "viewport": [args.width, args.height],
        "pages": len(results),
        "pages_measured": len(speedups),  # a page whose run ended in an error has no speedup
        "viewport_speedup_median": statistics.median(speedups),
        "viewport_speedup_range": [min(speedups), max(speedups)],
        "per_page": {r["page"]: [r["visible_texts"], r["viewport_speedup"]] for r in results},
        "results": results,
    }
    emit(summary, args.out)


def measure(page_path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One page: medians over --rounds of both modes, alternating which goes first."""
    runs: dict[str, list[dict[str, Any]]] = {"batches": [], "streaming": []}
    with playwright_sync.sync_playwright() as p, tempfile.TemporaryDirectory() as pages:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for round_ in range(args.rounds):
            order = ["batches", "streaming"] if round_ % 2 == 0 else ["streaming", "batches"]
            for mode in order:
                with server(args, {"CACHE_MEMORY_MB": "0", "CORS_ORIGINS": "*"}) as base:
                    name = f"{mode}-{round_}.html"
                    (Path(pages) / name).write_text(embed_page(page_path, base, stream=mode == "streaming"))
                    with static_server(Path(pages)) as url:
                        runs[mode].append(timed(browser, f"{url}/{name}", args.width, args.height))
        browser.close()
    complete = all(r["viewport_ms"] is not None for rows in runs.values() for r in rows)  # None: a run failed
    medians = {
        mode: {key: statistics.median(r[key] for r in rows) for key in ("viewport_ms", "total_ms")}
        for mode, rows in runs.items()
    }
    speedup = medians["batches"]["viewport_ms"] / medians["streaming"]["viewport_ms"] if complete else None
    return {
        "page": page_path.name,
        "viewport": [args.width, args.height],
        "visible_texts": runs["streaming"][0]["visible"],
        "medians": medians if complete else None,
        "viewport_speedup": round(speedup, 2) if speedup is not None else None,
        "runs": runs,
    }


if __name__ == "__main__":
    main()
