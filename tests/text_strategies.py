"""Hypothesis strategies for the property tests: text that looks like what pages and apps send, mixed with
anything Unicode allows, and HTML fragments built from it (well-formed or not).

Real-looking parts (words, punctuation runs, abbreviations, quotes, brackets, newlines) make the splitter's
rules fire; emoji, right-to-left text, control and zero-width characters and arbitrary code points make
sure nothing assumes a script. The profiles (`ci`: fixed seed, bounded; `nightly`: many more examples) are
below.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
PROFILES = {
    # make test: the same examples every run (derandomized), few enough for seconds per property
    "ci": settings(max_examples=150, derandomize=True, deadline=None, database=None, suppress_health_check=_SLOW_OK),
    # make fuzz: fresh random examples every run, failures remembered in .hypothesis/ and replayed first
    "nightly": settings(max_examples=5000, deadline=None, suppress_health_check=_SLOW_OK),
}
property_settings = PROFILES[os.environ.get("PROPERTY_PROFILE", "ci")]
"""The decorator every property test carries: `PROPERTY_PROFILE=nightly` selects the long run."""

WORDS = ["the", "dog", "Cat", "house", "Hund", "maison", "über", "Éléphant", "a", "I", "x", "42", "3.5", "1,234.56"]
WORDS += ["我", "你好", "天气很好", "中文", "ひらがな", "カタカナ"]  # unspaced scripts
ABBREVIATIONS = ["Dr.", "Mr.", "e.g.", "i.e.", "z.B.", "St.", "etc.", "ca.", "No.", "J.", "U.S.", "vs."]
PUNCTUATION = [
    ".",
    "..",
    "...",
    " .",
    ". .",
    "…",
    "!",
    "?",
    "?!",
    "!!!",
    ",",
    ";",
    ":",
    "-",
    "—",
    "–",
    "。",
    "！",
    "？",
    "；",
    "，",
    "、",
    "。”",
    "！」",
]
QUOTES = ['"', "'", "«", "»", "“", "”", "„", "‚", "‘", "’", "‹", "›", "「", "」", "『", "』"]
BRACKETS = ["(", ")", "[", "]", "{", "}", "<", ">", "（", "）", "《", "》", "【", "】"]
SPACES = [" ", "  ", "\n", "\n\n", " \n ", "\t", "\r\n", "\u00a0", "\u2028", "\u3000", "\u200b", "\u2009"]
EMOJI = ["😀", "👍🏽", "👨‍👩‍👧", "🇩🇪", "🏳️‍🌈", "❤️", "✔", "©", "™", "€", "£", "%"]
RTL = ["שלום", "مرحبا", "\u200f", "\u200e", "\u202e", "\u2066", "\u2069"]
CONTROL = ["\x00", "\x01", "\x07", "\x1b", "\x7f", "\x85", "\ufeff", "\ufffd", "\U0001d400"]

_PART = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(ABBREVIATIONS),
    st.sampled_from(PUNCTUATION),
    st.sampled_from(QUOTES),
    st.sampled_from(BRACKETS),
    st.sampled_from(SPACES),
    st.sampled_from(SPACES),  # twice: words need separators to form sentences
    st.sampled_from(EMOJI),
    st.sampled_from(RTL),
    st.sampled_from(CONTROL),
    st.text(max_size=4),  # anything Unicode has, surrogates excluded (not storable in UTF-8)
)


def texts(max_parts: int = 40) -> st.SearchStrategy[str]:
    """Page-like text: words, punctuation runs, abbreviations, quotes, brackets, spacing, emoji, RTL, control."""
    return st.lists(_PART, max_size=max_parts).map("".join)


INLINE = ["b", "i", "em", "strong", "a", "span", "sup", "sub", "code", "abbr", "q", "small", "mark"]
BLOCK = ["p", "div", "li", "h2", "td", "blockquote", "figcaption"]
_ENTITIES = ["&amp;", "&nbsp;", "&lt;", "&gt;", "&quot;", "&#x1F600;", "&eacute;", "&#169;", "&bogus;", "&"]
_ODDITIES = ["<br>", "<img alt='a dog'>", "<!-- note -->", "<wbr>", '<input placeholder="Search">', "<", "</b>"]


def _element(tags: list[str], children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    attributes = st.sampled_from(
        ["", ' title="Read more."', ' href="https://example.com/?a=1&amp;b=2"', ' translate="no"']
    )
    return st.builds(
        lambda tag, attrs, inner: f"<{tag}{attrs}>{inner}</{tag}>", st.sampled_from(tags), attributes, children
    )


def html_fragments(max_leaves: int = 12) -> st.SearchStrategy[str]:
    """Nested inline and block elements around page-like text, with entities, comments, void elements and
    the occasional stray `<` or unmatched end tag (the parser's recovery is part of what is tested)."""
    leaf = st.one_of(texts(8), st.sampled_from(_ENTITIES), st.sampled_from(_ODDITIES))
    tree = st.recursive(
        leaf,
        lambda inner: st.one_of(
            _element(INLINE, st.lists(inner, max_size=4).map("".join)),
            _element(BLOCK, st.lists(inner, max_size=4).map("".join)),
        ),
        max_leaves=max_leaves,
    )
    return st.lists(tree, min_size=1, max_size=4).map("".join)
