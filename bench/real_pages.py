"""The saved real pages (tests/fixtures/real_pages/) through a real server, the way the page translator sends
them (inner HTML of each text block, 40 texts / about 4,000 characters a request, `format: "html"`, two
requests in flight): failed requests, texts flagged, blocks whose tags were kept, and the time per page.

Example (the shipped models, no cache, every target):
  python bench/real_pages.py --model-dir models --targets de,fr --out artifacts/bench-real-pages.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from load import ROOT, emit, server

from tests.real_pages import PageRun, pages, translate_page


def run_target(base: str, target: str, in_flight: int) -> tuple[list[PageRun], list[float]]:
    runs: list[PageRun] = []
    seconds: list[float] = []

    def one(path: Path) -> tuple[PageRun, float]:
        with httpx.Client(base_url=base, timeout=300) as client:
            start = time.perf_counter()
            run = translate_page(client, path, "en", target)
            return run, time.perf_counter() - start

    with ThreadPoolExecutor(in_flight) as pool:
        for run, elapsed in pool.map(one, pages()):
            runs.append(run)
            seconds.append(elapsed)
    return runs, seconds


def summary(runs: list[PageRun], seconds: list[float]) -> dict[str, Any]:
    blocks = sum(r.blocks for r in runs)
    return {
        "pages": len(runs),
        "requests": sum(r.requests for r in runs),
        "failed_requests": sum(len(r.failed_requests) for r in runs),
        "blocks": blocks,
        "texts_flagged": sum(len(r.item_errors) for r in runs),
        "tags_kept_fraction": round(sum(r.tags_kept for r in runs) / max(blocks, 1), 5),
        "page_seconds_median": round(statistics.median(seconds), 3),
        "examples_of_lost_tags": [pair for r in runs for pair in r.lost_tags][:3],
        "failures": [f"{r.page}: {f}" for r in runs for f in r.failed_requests][:5],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--targets", type=lambda s: s.split(","), default=["de", "fr"])
    parser.add_argument("--in-flight", type=int, default=2, help="pages translated at once (two tabs)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"model_dir": str(args.model_dir)}
    with server(args, {"CACHE_MEMORY_MB": "0", "REQUEST_TIMEOUT_S": "600"}) as base:
        for target in args.targets:
            result[f"en-{target}"] = summary(*run_target(base, target, args.in_flight))
    emit(result, args.out)


if __name__ == "__main__":
    main()
