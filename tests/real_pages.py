"""The saved real pages (tests/fixtures/real_pages/) sent the way a page translator sends them: the inner HTML
of each text block, at most 40 texts and about 4,000 characters a request, `format: "html"`, to LibreTranslate's
`/translate`. Shared by tests/test_real_pages.py and bench/real_pages.py.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import lxml.html

CORPUS = Path(__file__).resolve().parent / "fixtures" / "real_pages"
CORPUS_ZH = CORPUS.parent / "real_pages_zh"  # Simplified Chinese pages (issue 25), from the same script
MAX_TEXTS = 40  # the page translator's batch (extension/translate-core.js: maxItems, maxChars)
MAX_CHARS = 4000

BLOCK_TAGS = frozenset(
    [
        "p",
        "li",
        "dt",
        "dd",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "td",
        "th",
        "caption",
        "figcaption",
        "blockquote",
        "div",
        "section",
        "article",
        "header",
        "footer",
        "nav",
        "aside",
        "main",
        "address",
        "summary",
        "legend",
        "label",
    ]
)
SKIPPED_TAGS = frozenset(["script", "style", "pre", "code", "noscript", "template", "textarea", "svg", "math"])


def pages(corpus: Path = CORPUS) -> list[Path]:
    return sorted(corpus.glob("*.html"))


def licenses(corpus: Path = CORPUS) -> dict[str, str]:
    return {entry["file"]: entry["license"] for entry in json.loads((corpus / "MANIFEST.json").read_text())}


_UTF8 = lxml.html.HTMLParser(encoding="utf-8")


def _inner_html(element: Any) -> str:
    return (element.text or "") + "".join(lxml.html.tostring(child, encoding="unicode") for child in element)


def _skipped(element: Any) -> bool:
    return any(isinstance(e.tag, str) and e.tag in SKIPPED_TAGS for e in (element, *element.iterancestors()))


def text_blocks(page: str) -> list[str]:
    """The inner HTML of each block that holds text and no other block, in document order."""
    root = lxml.html.document_fromstring(page.encode("utf-8"), parser=_UTF8)  # str with an XML declaration fails
    blocks = []
    for element in root.iter():
        if not isinstance(element.tag, str) or element.tag not in BLOCK_TAGS or _skipped(element):
            continue
        if any(isinstance(d.tag, str) and d.tag in BLOCK_TAGS for d in element.iterdescendants()):
            continue
        if any(c.isalpha() for c in element.text_content()):
            blocks.append(_inner_html(element).strip())
    return blocks


def batches(texts: list[str], max_texts: int = MAX_TEXTS, max_chars: int = MAX_CHARS) -> Iterator[list[str]]:
    """As extension/translate-core.js's makeBatches cuts them."""
    batch: list[str] = []
    chars = 0
    for text in texts:
        if batch and (len(batch) >= max_texts or chars + len(text) > max_chars):
            yield batch
            batch, chars = [], 0
        batch.append(text)
        chars += len(text)
    if batch:
        yield batch


def tag_multiset(fragment: str) -> Counter[str]:
    wrapper = lxml.html.fragment_fromstring(fragment or " ", create_parent="div")
    return Counter(str(e.tag) if isinstance(e.tag, str) else "#comment" for e in wrapper.iter() if e is not wrapper)


@dataclass
class PageRun:
    """What one page came to: requests sent and failed, blocks whose tags were kept, texts the service flagged."""

    page: str
    requests: int = 0
    failed_requests: list[str] = field(default_factory=list)
    blocks: int = 0
    tags_kept: int = 0
    item_errors: list[str] = field(default_factory=list)
    lost_tags: list[tuple[str, str]] = field(default_factory=list)


def translate_page(client: httpx.Client, path: Path, source: str = "en", target: str = "de") -> PageRun:
    run = PageRun(path.name)
    for batch in batches(text_blocks(path.read_text(encoding="utf-8"))):
        run.requests += 1
        body = {"q": batch, "source": source, "target": target, "format": "html"}
        response = client.post("/translate", json=body)
        if response.status_code != 200:
            run.failed_requests.append(f"{response.status_code}: {response.text[:300]}")
            continue
        answer = response.json()
        errors = answer.get("errors") or [None] * len(batch)
        for sent, translated, error in zip(batch, answer["translatedText"], errors, strict=True):
            run.blocks += 1
            if error:
                run.item_errors.append(f"{error}: {sent[:120]}")
            if tag_multiset(translated) == tag_multiset(sent):
                run.tags_kept += 1
            else:
                run.lost_tags.append((sent, translated))
    return run
