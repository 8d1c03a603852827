"""Language codes as clients send them, mapped onto the codes bundles are keyed by.

Bundles name languages by ISO 639-1 code ("en", "zh"). Chinese arrives under many names: BCP 47 script and
region tags (zh-Hans, zh-CN, zh_CN as in gettext), and "cmn". Our Chinese output is Simplified, so the tags of
Simplified Chinese map to "zh"; Traditional ones (zh-Hant, zh-TW, zh-HK) do not: no bundle writes Traditional
characters, and answering them in Simplified would be wrong.
"""

from __future__ import annotations

ALIASES: dict[str, str] = {
    "zh-hans": "zh",
    "zh-cn": "zh",
    "zh-sg": "zh",
    "zh-my": "zh",
    "zh-hans-cn": "zh",
    "cmn": "zh",
    "cmn-hans": "zh",
}


def canonical_language(code: str) -> str:
    """The bundle code for `code` when it is a known alias (any case, - or _); otherwise `code` as sent."""
    return ALIASES.get(code.strip().lower().replace("_", "-"), code)
