"""Documentation aligned with its English original: Debian's HTML help and manuals, in English and a translation.

Two alignments, both without sentence alignment to guess:

- LibreOffice's help (`aligned_paragraphs`): one file per help page under usr/share/libreoffice/help/<locale>/,
  the same file names in every language, and each paragraph and heading carries the id of its source
  paragraph (`par_id3154812`, `hd_id3154788`), so paragraphs pair up by (file, id).
- Manuals translated with po4a (`aligned_blocks`; DocBook to HTML): the translated page has the same blocks as
  the English one, in the same order. A page pair whose sequence of block elements (p, li, td, headings...)
  is identical is aligned block by block; any other is skipped whole, since one block more or less would shift
  every pair after it. The manuals are the nearest this machine has to the technical articles the zh bundle
  is meant for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
_HELP_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "td")
_MANUAL_BLOCKS = ("p", "li", "td", "th", "dt", "h1", "h2", "h3", "h4", "h5", "h6", "caption", "title")
_SPACE = re.compile(r"\s+")
_UTF8 = html.HTMLParser(encoding="utf-8")  # the pages are UTF-8; a test page may not say so


@dataclass(frozen=True)
class Manual:
    """One manual: its English package and pages, and where each translation keeps the same pages."""

    english_package: str
    english_glob: str  # pages under the English package's root, e.g. usr/share/x/*.en.html
    packages: dict[str, str]  # language -> translated package
    # The translated page's path for an English page's path: suffix or folder replacements, in order.
    renames: dict[str, tuple[tuple[str, str], ...]]


MANUALS = (
    Manual(
        "debian-reference-en",
        "usr/share/debian-reference/*.en.html",
        {"zh": "debian-reference-zh-cn"},
        {"zh": ((".en.html", ".zh-cn.html"),)},
    ),
    Manual(
        "maint-guide",
        "usr/share/doc/maint-guide/html/*.en.html",
        {"zh": "maint-guide-zh-cn"},
        {"zh": (("/maint-guide/", "/maint-guide-zh-cn/"), (".en.html", ".zh-cn.html"))},
    ),
    Manual(
        "debian-faq",
        "usr/share/doc/debian/FAQ/*.en.html",
        {"zh": "debian-faq-zh-cn"},
        {"zh": (("/FAQ/", "/FAQ/zh-cn/"), (".en.html", ".zh-cn.html"))},
    ),
    Manual(
        "gimp-help-en",
        "usr/share/gimp/2.0/help/en/*.html",
        {"zh": "gimp-help-zh-cn"},
        {"zh": (("/help/en/", "/help/zh_CN/"),)},
    ),
)


def _elements(page: Path, tags: tuple[str, ...]) -> Iterator[tuple[Any, str]]:
    """Each element of `tags` in document order with its text on one line (inline markup flattened)."""
    for element in html.parse(str(page), parser=_UTF8).iter(*tags):
        yield element, _SPACE.sub(" ", element.text_content()).strip()


def paragraphs(page: Path) -> dict[str, str]:
    """A help page's paragraphs and headings by id."""
    found: dict[str, str] = {}
    for element, text in _elements(page, _HELP_BLOCKS):
        ident = element.get("id", "")
        if text and _PARAGRAPH_ID.match(ident):
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


def blocks(page: Path) -> list[tuple[str, str]]:
    """(tag, text) of a page's blocks in document order."""
    return [(element.tag, text) for element, text in _elements(page, _MANUAL_BLOCKS)]


def translated_path(english: str, renames: tuple[tuple[str, str], ...]) -> str:
    for old, new in renames:
        english = english.replace(old, new)
    return english


def aligned_blocks(english_root: Path, translated_root: Path, lang: str, manual: Manual) -> Iterator[tuple[str, str]]:
    """(English, translation) for every block of every page pair whose block sequences agree."""
    for english_page in sorted(english_root.glob(manual.english_glob)):
        relative = "/" + english_page.relative_to(english_root).as_posix()
        translated_page = translated_root / translated_path(relative, manual.renames[lang]).lstrip("/")
        if not translated_page.exists():
            continue
        source, target = blocks(english_page), blocks(translated_page)
        if [tag for tag, _ in source] != [tag for tag, _ in target]:
            continue
        for (_, english), (_, translation) in zip(source, target, strict=True):
            if english and translation:
                yield english, translation
