"""Run-on sentences are hard-wrapped at spaces without losing or moving any whitespace."""

from __future__ import annotations

import random
import time

import pytest

from service.text.segmentation import split_sentences


def rebuilt(text: str, max_chars: int) -> str:
    split = split_sentences(text, max_chars)
    return split.leading + "".join(s + sep for s, sep in zip(split.sentences, split.separators))


@pytest.mark.parametrize(
    "text",
    [
        "a" + " " * 500 + "b",  # a run of spaces longer than a unit
        "word " * 200 + "end.",
        "x" * 900 + " tail",  # a word longer than a unit stays whole
        "one  two   three    " * 60 + "four.",
        "a" + " " * 399 + "b" + " " * 401 + "c",
    ],
)
def test_wrapping_keeps_every_space(text: str) -> None:
    assert rebuilt(text, 400) == text
    split = split_sentences(text, 400)
    assert all(s.strip() for s in split.sentences)
    assert all(len(s) <= 400 or " " not in s for s in split.sentences)


def test_random_run_on_text_is_rebuilt_exactly() -> None:
    rng = random.Random(5)
    for _ in range(200):
        words = ["".join(rng.choice("abcdé") for _ in range(rng.randint(1, 30))) for _ in range(rng.randint(1, 80))]
        text = "".join(w + " " * rng.choice([1, 1, 1, 2, 7, 40]) for w in words).rstrip()
        for max_chars in (12, 50, 400):
            assert rebuilt(text, max_chars) == text
            assert all(len(s) <= max_chars or " " not in s for s in split_sentences(text, max_chars).sentences)


def test_wrapping_is_linear_in_the_text() -> None:
    text = ("y" * 399 + " ") * 2_000 + "z" * 100_000 + " end"
    start = time.process_time()  # CPU time: the bound tells linear from quadratic on a shared machine
    split_sentences(text, 400)
    assert time.process_time() - start < 1.0
