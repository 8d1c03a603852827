"""Character ranges of the scripts written without spaces between words, for every layer that must know them:
span patterns, sentence splitting and joining, term matching, detection, training data and detokenizing."""

from __future__ import annotations

import re

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs: extension A, unified, compatibility
KANA = "\u3040-\u30ff"
HANGUL = "\uac00-\ud7af"  # Korean: no spaces inside a word, but spaces between words
CJK = KANA + HAN + HANGUL  # letters that join no span and keep none from starting (nmt_core/spans.py)
# Written without spaces: ideographs, kana, CJK radicals, CJK punctuation (。，、「」) and full-width forms (！？（）).
UNSPACED = "\u2e80-\u2fdf\u3000-\u303f" + KANA + HAN + "\uff00-\uffef"

HAN_CHARACTER = re.compile(f"[{HAN}]")
_GAP_BETWEEN_UNSPACED = re.compile(rf"(?<=[{UNSPACED}])[ \t]+(?=[{UNSPACED}])")


def without_gaps_between_unspaced(text: str) -> str:
    """A detokenized sentence with the spaces between two Chinese or Japanese characters removed: a model's
    word-start piece inside a Chinese sentence is no word break a reader should see. Korean keeps its spaces."""
    return _GAP_BETWEEN_UNSPACED.sub("", text)


# SentencePiece's NFKC normalisation folds full-width punctuation to ASCII in training text, so a model writes
# "打开文件,然后" where Chinese has "打开文件，然后". Punctuation right after a Chinese character is written back
# full width (an opening bracket: right before one).
_FULL_WIDTH_AFTER = {",": "，", "!": "！", "?": "？", ":": "：", ";": "；", ")": "）"}
_ASCII_AFTER_HAN = re.compile(rf"(?<=[{HAN}。」』])[,!?:;)]")
_OPENING_BEFORE_HAN = re.compile(rf"\((?=[{HAN}])")


def with_full_width_punctuation(text: str) -> str:
    """ASCII , ! ? : ; ( ) beside Chinese characters as the full-width forms Chinese is written with; ASCII
    punctuation between Latin words or digits (3,5 or a URL's ://) stays as it is."""
    text = _ASCII_AFTER_HAN.sub(lambda m: _FULL_WIDTH_AFTER[m.group()], text)
    return _OPENING_BEFORE_HAN.sub("（", text)
