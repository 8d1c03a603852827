"""Page translation benchmarks (JSON on stdout, and to --out):

  cache    a generated page (--nodes block elements, a third with inline markup) translated twice with
           `format: "html"` through POST /v1/translate: the fraction of the second pass answered from the
           cache (expected: all of it), and both passes' times.
  browser  the same page in headless Chromium, translated by the extension's core (translate-core.js,
           served by the service, batches of 40 texts, two in flight) against a real server without a
           cache, vs the engine decoding the same segments as one batch in-process
           (`nmt_core.offline.translate_offline`, same bundle, same decoding options); reports the ratio.

Example (tiny smoke run on a test bundle; the real run uses the shipped models):
  python bench/page.py --model-dir models --nodes 300 --out artifacts/bench-page.json
"""

from __future__ import annotations

import argparse
import html
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import DEFAULT_DATA, ROOT, emit, read_sentences, server

CHROMIUM = "/usr/bin/chromium"
FALLBACK_SENTENCES = [
    "the dog runs near the house",
    "a small cat sits on the red car",
    "the child plays with a blue ball in the street",
    "a woman sits near the green tree",
]


def make_page(sentences: list[str], nodes: int, seed: int = 0) -> str:
    """A document with `nodes` text blocks (headings, paragraphs, list items); every third carries inline
    markup around its middle words, so text runs are split the way real pages split them."""
    rng = random.Random(seed)
    blocks = []
    for i in range(nodes):
        words = html.escape(sentences[i % len(sentences)]).split()
        if i % 3 == 0 and len(words) >= 3:
            a, b = sorted(rng.sample(range(len(words)), 2))
            tag = rng.choice(["b", "em", 'a href="#"'])
            words[a] = f"<{tag}>{words[a]}"
            words[b] = f"{words[b]}</{tag.split()[0]}>"
        text = " ".join(words)
        kind = "h2" if i % 25 == 0 else "li" if i % 5 == 4 else "p"
        blocks.append(f"<ul><li>{text}</li></ul>" if kind == "li" else f"<{kind}>{text}</{kind}>")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>benchmark page</title></head>'
        f"<body>{''.join(blocks)}</body></html>"
    )


def scenario_cache(args: argparse.Namespace, page: str) -> dict[str, Any]:
    body = {"text": page, "source": args.source, "target": args.target, "format": "html"}
    env = {"CACHE_MEMORY_MB": "256", "MAX_TEXT_CHARS": str(len(page) + 1), "REQUEST_TIMEOUT_S": "600"}
    passes = []
    with server(args, env) as base:
        for _ in range(2):
            start = time.perf_counter()
            response = httpx.post(f"{base}/v1/translate", json=body, timeout=600)
            elapsed = time.perf_counter() - start
            response.raise_for_status()
            translation = response.json()["translations"][0]
            passes.append(
                {
                    "seconds": round(elapsed, 3),
                    "segments": translation["segments"],
                    "cached_segments": translation["cached_segments"],
                    "cached": translation["cached"],
                }
            )
    second = passes[1]
    return {
        "scenario": "cache",
        "page_chars": len(page),
        "first_pass": passes[0],
        "second_pass": second,
        "second_pass_cached_fraction": round(second["cached_segments"] / max(1, second["segments"]), 4),
    }


BROWSER_JS = """
async ([base, source, target]) => {
  const texts = [...new Set(PageTranslate.collectItems(document.body).map((item) => item.core))];
  let error = null;
  const translator = new PageTranslate.PageTranslator({
    transport: PageTranslate.fetchTransport(base), source, target, onError: (e) => { error = e.message; } });
  const start = performance.now();
  await translator.translate();
  return { ms: performance.now() - start, state: translator.state, error, texts,
           items: translator.items.length };
}
"""


def scenario_browser(args: argparse.Namespace, page: str) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    env = {"CACHE_MEMORY_MB": "0", "CORS_ORIGINS": "*", "REQUEST_TIMEOUT_S": "600"}
    with server(args, env) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"])
        try:
            tab = browser.new_page()
            tab.set_default_timeout(600_000)
            tab.set_content(page)
            tab.add_script_tag(url=f"{base}/static/translate-core.js")
            result = tab.evaluate(BROWSER_JS, [base, args.source, args.target])
        finally:
            browser.close()
    if result["state"] != "translated":
        raise RuntimeError(f"the page was not translated: {result['error']}")
    engine_s = engine_seconds(args, result["texts"])
    browser_s = result["ms"] / 1000
    return {
        "scenario": "browser",
        "items": result["items"],
        "unique_segments": len(result["texts"]),
        "browser_core_s": round(browser_s, 3),
        "engine_one_batch_s": round(engine_s, 3),
        "ratio_browser_over_engine": round(browser_s / engine_s, 2),
    }


def engine_seconds(args: argparse.Namespace, texts: list[str]) -> float:
    """The engine alone: the same segments in one batch, same bundle and decoding options, after a warm-up."""
    sys.path.insert(0, str(ROOT))
    from nmt_core.offline import translate_offline
    from service.engine.backends import Engine

    engine = Engine.load(args.model_dir, args.device, None)
    model = engine.resolve(args.source, args.target)
    options = model.default_options(f"{args.source}-{args.target}")
    translate_offline(model.backend, model.vocab, texts[:4], args.target, options)
    start = time.perf_counter()
    translate_offline(model.backend, model.vocab, texts, args.target, options, batch_size=len(texts))
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", choices=["cache", "browser", "all"], default="all")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="English sentences (one per line, .gz ok)")
    parser.add_argument("--nodes", type=int, default=300)
    parser.add_argument("--source", default="en")
    parser.add_argument("--target", default="de")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--chromium", default=CHROMIUM)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    sentences = read_sentences(args.data, args.nodes) if args.data.exists() else FALLBACK_SENTENCES
    page = make_page(sentences, args.nodes)
    results: dict[str, Any] = {"nodes": args.nodes, "model_dir": str(args.model_dir)}
    if args.scenario in ("cache", "all"):
        results["cache"] = scenario_cache(args, page)
    if args.scenario in ("browser", "all"):
        results["browser"] = scenario_browser(args, page)
    emit(results, args.out)


if __name__ == "__main__":
    main()
