"""Language detection for `source: "auto"`, restricted to the source languages the loaded bundles serve.

lingua (`lingua-language-detector`) ships its n-gram models inside the wheel, so nothing is downloaded.
Loading those models takes a while, so the detector is built once, in a worker thread, as soon as the
languages are known (at start-up); requests that arrive earlier wait for that one build.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Detection:
    language: str
    confidence: float  # 0-100, as LibreTranslate reports it


def lingua_language(code: str) -> Language | None:
    try:
        return Language.from_iso_code_639_1(IsoCode639_1.from_str(code))
    except ValueError:
        return None


def language_name(code: str) -> str:
    """English name of an ISO 639-1 code ("de" -> "German"); the code itself when lingua does not know it."""
    language = lingua_language(code)
    return language.name.title() if language is not None else code


class Detector:
    """Ranks the candidate languages for a text. Codes lingua does not know can only win by default:
    when no known candidate scores (no letters, or a single candidate), the first candidate is reported."""

    def __init__(self, codes: list[str]):
        self.codes = list(dict.fromkeys(codes))
        self._by_language = {lang: code for code in self.codes if (lang := lingua_language(code)) is not None}
        self._lingua: LanguageDetector | None = None
        if len(self._by_language) >= 2:
            self._lingua = (
                LanguageDetectorBuilder.from_languages(*self._by_language).with_preloaded_language_models().build()
            )

    def detect(self, text: str) -> list[Detection]:
        """Candidates, best first, with confidences summing to at most 100."""
        if not self.codes:
            return []
        scores: dict[str, float] = {}
        if self._lingua is not None:
            for value in self._lingua.compute_language_confidence_values(text):
                scores[self._by_language[value.language]] = round(100.0 * value.value, 2)
        if not any(scores.values()):
            return [Detection(self.codes[0], 100.0 if len(self.codes) == 1 else 0.0)]
        ranked = sorted(scores.items(), key=lambda item: -item[1])
        return [Detection(code, confidence) for code, confidence in ranked]


class LazyDetector:
    """Builds one `Detector` off the event loop and hands it to every caller once ready."""

    def __init__(self) -> None:
        self._task: asyncio.Task[Detector] | None = None

    def start(self, codes: list[str]) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(asyncio.to_thread(Detector, codes))

    async def get(self) -> Detector:
        if self._task is None:
            raise RuntimeError("the language detector was never started")
        return await asyncio.shield(self._task)

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            try:
                await self._task  # a thread cannot be cancelled; let it finish
            except Exception:  # shutting down anyway
                log.exception("language detector build failed")
