"""Simplified Chinese targets: Traditional characters converted with OpenCC (issue 25).

The zh bundle writes Simplified Chinese, but Tatoeba's Mandarin mixes both scripts; a model trained on both
would answer in either. OpenCC's `t2s` table converts character by character (no regional vocabulary
change), which leaves Simplified text as it is.
"""

from __future__ import annotations

from functools import cache

import opencc

CONVERSION = "t2s"  # OpenCC's Traditional -> Simplified table, recorded in the data manifest


@cache
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC(CONVERSION)


def to_simplified(text: str) -> str:
    return str(_converter().convert(text))
