"""Language-identification filter for training pairs: drops misaligned or wrong-language pairs.

Short sentences are often ambiguous between related languages, so a pair is dropped only when lingua
is confident that a side is *not* in its claimed language, not merely unsure that it is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

from model.corpus import Pair


def _language(code: str) -> Language:
    return Language.from_iso_code_639_1(IsoCode639_1.from_str(code))


def language_confidences(texts_by_language: dict[str, set[str]]) -> dict[tuple[str, str], float]:
    """lingua's confidence (0-1) that each text is in the language it is filed under, among those languages."""
    languages = sorted(texts_by_language)
    if len(languages) < 2:
        return {(code, text): 1.0 for code, texts in texts_by_language.items() for text in texts}
    detector = LanguageDetectorBuilder.from_languages(*(_language(code) for code in languages)).build()
    confidences: dict[tuple[str, str], float] = {}
    for code, texts in texts_by_language.items():
        ordered = sorted(texts)
        values = detector.compute_language_confidence_in_parallel(ordered, _language(code))
        confidences.update(((code, text), value) for text, value in zip(ordered, values))
    return confidences


def filter_by_language(pairs: Sequence[Pair], min_confidence: float) -> list[Pair]:
    """Pairs whose source and target both reach `min_confidence` in their claimed languages."""
    if min_confidence <= 0:
        return list(pairs)
    texts: dict[str, set[str]] = defaultdict(set)
    for pair in pairs:
        texts[pair.source_lang].add(pair.source)
        texts[pair.target_lang].add(pair.target)
    confidence = language_confidences(texts)
    return [
        pair
        for pair in pairs
        if confidence[(pair.source_lang, pair.source)] >= min_confidence
        and confidence[(pair.target_lang, pair.target)] >= min_confidence
    ]
