"""Held-out validation and test slices cut from a training corpus.

Rows are grouped by their English sentence (Tatoeba often has several translations of one), and a group
goes wholly to one side, so no translation of a held-out sentence is trained on. Which groups are held
out depends only on the text (a hash), not on file order or on the other corpora, so the slices stay
the same when a config's mix changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

KEY_LANGUAGE = "en"


def normalized(text: str) -> str:
    """The form two sentences are compared in when deciding that one leaks into training."""
    return " ".join(text.lower().split())


def _rank(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class HeldOutRows:
    train: list[int]
    valid: list[int]  # one row per held-out English sentence (its first translation is the reference)
    test: list[int]
    sentences: frozenset[str]  # every held-out sentence in every language, normalized


def hold_out(columns: dict[str, list[str]], valid_sentences: int, test_sentences: int) -> HeldOutRows:
    """Split row indices: the first groups by hash rank become valid, the next test, the rest train."""
    key_lang = KEY_LANGUAGE if KEY_LANGUAGE in columns else sorted(columns)[0]
    keys = [normalized(line) for line in columns[key_lang]]
    first_row: dict[str, int] = {}
    for row, key in enumerate(keys):
        if key:
            first_row.setdefault(key, row)
    ranked = sorted(first_row, key=_rank)
    valid_keys = set(ranked[:valid_sentences])
    test_keys = set(ranked[valid_sentences : valid_sentences + test_sentences])
    held = valid_keys | test_keys
    train_rows = [row for row, key in enumerate(keys) if key not in held]
    sentences = frozenset(
        normalized(lines[row]) for lines in columns.values() for row, key in enumerate(keys) if key in held
    )
    return HeldOutRows(
        train=train_rows,
        valid=sorted(first_row[key] for key in valid_keys),
        test=sorted(first_row[key] for key in test_keys),
        sentences=sentences,
    )
