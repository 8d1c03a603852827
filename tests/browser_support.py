"""Helpers for the browser end-to-end tests: a static file server for test pages, and page snapshots.

A snapshot lists every text node and title/alt/placeholder value of a page by its position in the
tree, marks which of them the fixture page means to be translated (decided here from the fixture's
own markup, independently of translate-core.js), and records the element skeleton (tags and
attributes, text left out) and the whole serialised document, both without the translator's own UI.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def static_server(directory: Path) -> Iterator[str]:
    """Serve `directory` on 127.0.0.1 (a different origin from the service: another port)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


SNAPSHOT_JS = r"""
() => {
  const SKIP = "pre, code, [translate=no], .notranslate, [hidden], .hidden-by-css, .invisible, textarea, script, "
    + "style, noscript";
  const UI = "[data-page-translate-ui]";
  const ATTRS = ["title", "alt", "placeholder"];
  const letters = /\p{L}/u;
  const path = (node) => {
    const parts = [];
    for (; node.parentNode; node = node.parentNode) parts.unshift([...node.parentNode.childNodes].indexOf(node));
    return parts.join("/");
  };
  const items = [];
  const walker = document.createTreeWalker(document.documentElement, NodeFilter.SHOW_TEXT);
  for (let node; (node = walker.nextNode());) {
    const el = node.parentElement;
    if (el.closest(UI)) continue;
    const inHead = Boolean(el.closest("head"));
    const translate = letters.test(node.nodeValue) && !el.closest(SKIP) && (!inHead || el.tagName === "TITLE");
    items.push({ key: "text " + path(node), value: node.nodeValue, translate });
  }
  for (const el of document.querySelectorAll(ATTRS.map((a) => `[${a}]`).join(","))) {
    if (el.closest(UI)) continue;
    for (const attr of ATTRS) {
      if (!el.hasAttribute(attr)) continue;
      const value = el.getAttribute(attr);
      // a <link title> in the head is no text a reader sees
      const translate = letters.test(value) && !el.closest(SKIP) && !el.closest("head");
      items.push({ key: `${attr} ${path(el)}`, value, translate });
    }
  }
  const skeleton = (el) => [el.tagName,
    [...el.attributes].filter((a) => !ATTRS.includes(a.name)).map((a) => `${a.name}=${a.value}`),
    [...el.childNodes].filter((c) => !(c.nodeType === 1 && c.matches(UI)))
      .map((c) => (c.nodeType === 1 ? skeleton(c) : "#" + c.nodeType))];
  const clone = document.documentElement.cloneNode(true);
  clone.querySelectorAll(UI).forEach((el) => el.remove());
  return { items, skeleton: skeleton(document.documentElement), html: clone.outerHTML };
}
"""


def split_edges(text: str) -> tuple[str, str, str]:
    core = text.strip()
    lead = text[: len(text) - len(text.lstrip())]
    return lead, core, text[len(lead) + len(core) :]


# Translates a page with the embeddable script's translator and times it from the click: until every text that
# was in view is painted (the translator wrote its translation there) and until the whole page is done.
VIEWPORT_TIMING_JS = r"""
async () => {
  const translator = window.pageTranslator;
  const visible = window.PageTranslate.collectItems(document.body).filter((item) => item.visible);
  const painted = (item) => {
    const slots = translator.ours.get(item.node);
    return Boolean(slots && slots[item.attr || "#text"]);
  };
  const started = performance.now();
  let viewport = null;
  const watch = new Promise((resolve) => {
    const check = () => {
      if (visible.every(painted)) {
        viewport = performance.now() - started;
        resolve();
      } else if (translator.state === "error") resolve();
      else setTimeout(check, 2);
    };
    check();
  });
  await translator.translate();
  const total = performance.now() - started;
  await watch;
  return { viewport_ms: viewport, total_ms: total, visible: visible.length, state: translator.state };
}
"""


def embed_page(page: Path, service_base: str, stream: bool = True, source: str = "auto", target: str = "de") -> str:
    """`page` with the service's embeddable script (texts streamed in, or whole batches with stream=False)."""
    flags = f' data-source="{source}" data-target="{target}"' + ("" if stream else ' data-stream="false"')
    snippet = f'<script src="{service_base}/static/translate-page.js"{flags}></script>\n</body>'
    return page.read_text(encoding="utf-8").replace("</body>", snippet)
