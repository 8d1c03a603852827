"""Technical help text aligned paragraph by paragraph: LibreOffice's help in English and in a translation.

Debian ships LibreOffice's help as HTML, one file per help page under usr/share/libreoffice/help/<locale>/,
with the same file names in every language. Each paragraph and heading carries the id of its source
paragraph (`par_id3154812`, `hd_id3154788`), so a page's English and translated paragraphs pair up by
(file, id) with no sentence alignment to guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from lxml import html

HELP_ROOT = "usr/share/libreoffice/help"
# Debian's help package per language and its locale folder; the English one is the source side.
HELP_PACKAGES = {
    "en": ("libreoffice-help-en-us", "en-US"),
    "de": ("libreoffice-help-de", "de"),
    "fr": ("libreoffice-help-fr", "fr"),
    "zh": ("libreoffice-help-zh-cn", "zh-CN"),
}
_PARAGRAPH_ID = re.compile(r"^(?:par|hd)_id\d+")
_SPACE = re.compile(r"\s+")
_UTF8 = html.HTMLParser(encoding="utf-8")  # the pages are UTF-8; a test page may not say so


def paragraphs(page: Path) -> dict[str, str]:
    """A help page's paragraphs and headings by id, as one line of text each (inline markup flattened)."""
    tree = html.parse(str(page), parser=_UTF8)
    found: dict[str, str] = {}
    for element in tree.iter("p", "h1", "h2", "h3", "h4", "h5", "h6", "td"):
        ident = element.get("id", "")
        if _PARAGRAPH_ID.match(ident):
            text = _SPACE.sub(" ", element.text_content()).strip()
            if text:
                found.setdefault(ident, text)
    return found


def aligned_paragraphs(english_root: Path, translated_root: Path) -> Iterator[tuple[str, str]]:
    """(English, translation) for every paragraph id that both languages' copy of a help page holds."""
    for english_page in sorted(english_root.rglob("*.html")):
        translated_page = translated_root / english_page.relative_to(english_root)
        if not translated_page.exists():
            continue
        translated = paragraphs(translated_page)
        for ident, source in paragraphs(english_page).items():
            target = translated.get(ident)
            if target:
                yield source, target
