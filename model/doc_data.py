"""Technical prose aligned page by page: Debian's HTML manuals in English and in a translation.

Debian ships several manuals translated with po4a (DocBook to HTML): the translated page has the same
blocks as the English one, in the same order, with each block's text translated. A page pair whose sequence
of block elements (p, li, td, headings...) is identical is aligned block by block; any other page pair is
skipped whole, since one block more or less would shift every pair after it. The manuals are the nearest
this machine has to the technical articles the zh bundle is meant for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lxml import html

_BLOCKS = ("p", "li", "td", "th", "dt", "h1", "h2", "h3", "h4", "h5", "h6", "caption", "title")
_SPACE = re.compile(r"\s+")
_UTF8 = html.HTMLParser(encoding="utf-8")


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


def blocks(page: Path) -> list[tuple[str, str]]:
    """(tag, text) of a page's blocks in document order, inline markup flattened."""
    tree = html.parse(str(page), parser=_UTF8)
    return [(el.tag, _SPACE.sub(" ", el.text_content()).strip()) for el in tree.iter(*_BLOCKS)]


def translated_path(english: str, renames: tuple[tuple[str, str], ...]) -> str:
    for old, new in renames:
        english = english.replace(old, new)
    return english


def aligned_blocks(english_root: Path, translated_root: Path, manual: Manual, lang: str) -> Iterator[tuple[str, str]]:
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
