"""Language detection for `source: "auto"`, restricted to the source languages the loaded bundles serve.

lingua (`lingua-language-detector`) ships its n-gram models inside the wheel, so nothing is downloaded.
Loading those models takes a while, so the detector is built once, in a worker thread, as soon as the
languages are known (at start-up); requests that arrive earlier wait for that one build.

Detection itself (`detect_within`) is bounded three ways, so that no request can make it costly: only the
first DETECT_MAX_CHARS characters are looked at (a few thousand tell the language as well as a whole page),
it runs in a pool of DETECT_WORKERS threads (requests queue rather than spawn threads), and a request that
cannot have its answer within DETECT_TIMEOUT_S gets 504 `deadline_exceeded` (if it was still queued, its
work is dropped).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

from nmt_core.scripts import HAN_CHARACTER, HANGUL, KANA
from service.errors import DeadlineExceeded
from service.settings import Settings

log = logging.getLogger(__name__)

_KANA_OR_HANGUL = re.compile(f"[{KANA}{HANGUL}]")
_HAN_SHARE = 0.5  # of a text's letters, for its script alone to tell Chinese


def han_script(text: str) -> bool:
    """Whether Han characters are at least half of a text's letters and no kana or hangul shows up: Chinese,
    whatever its length (an n-gram model has little to go on in "设置" or "确定")."""
    letters = sum(c.isalpha() for c in text)
    return (
        bool(letters) and not _KANA_OR_HANGUL.search(text) and len(HAN_CHARACTER.findall(text)) >= _HAN_SHARE * letters
    )


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
    when no known candidate scores (no letters, or a single candidate), the first candidate is reported. Text
    mostly in Han characters is Chinese by its script, when Chinese is a candidate."""

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
        if "zh" in self.codes and han_script(text):
            return [Detection("zh", 100.0)]
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


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def detection_pool(workers: int) -> ThreadPoolExecutor:
    """The process' detection threads (one pool per size: apps in one test process may differ)."""
    with _pools_lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = _pools[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="detect")
        return pool


def head(text: str, max_chars: int) -> str:
    """The first `max_chars` characters, cut after a word when one ends in the second half."""
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    return cut[:space] if space > max_chars // 2 else cut


async def detect_within(detector: LazyDetector, text: str, settings: Settings) -> list[Detection]:
    """`Detector.detect` on the head of `text`, in the bounded pool, within DETECT_TIMEOUT_S (waiting for
    the detector's start-up build included). Raises `DeadlineExceeded` past it."""
    sample = head(text, settings.detect_max_chars)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(settings.detect_timeout_s):
            ready = await detector.get()
            return await loop.run_in_executor(detection_pool(settings.detect_workers), ready.detect, sample)
    except TimeoutError:
        raise DeadlineExceeded(
            f"language detection did not finish within {settings.detect_timeout_s:g} s; the server is busy"
        ) from None
