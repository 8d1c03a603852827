"""What a translated segment is, for every consumer: the JSON API, the HTML and LibreTranslate layers.

Besides the text, a result carries the SentencePiece pieces on both sides and an alignment (for
each target piece, the index of the most-attended source piece), so markup can be carried across.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from service.errors import ServiceError


@dataclass(frozen=True)
class SentenceResult:
    """One decoded sentence: the unit of batching and of caching."""

    text: str
    source_pieces: list[str]
    target_pieces: list[str]
    alignment: list[int]  # len == len(target_pieces); indexes source_pieces (-1: nothing to align to)
    alternatives: list[str] = field(default_factory=list)  # distinct runner-up texts, best first, when asked

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> SentenceResult:
        data = json.loads(raw)
        return cls(
            str(data["text"]),
            list(data["source_pieces"]),
            list(data["target_pieces"]),
            [int(i) for i in data["alignment"]],
            [str(t) for t in data.get("alternatives", ())],
        )


@dataclass(frozen=True)
class SegmentResult:
    """One input segment, translated sentence by sentence and joined with the original spacing.

    `source_pieces`/`target_pieces` are the concatenation over the segment's sentences and
    `alignment` indexes the concatenated `source_pieces`. `cached` is true when every sentence
    came from the cache (an empty segment counts as cached: nothing was decoded).

    `error` is set when this segment alone could not be translated; `text` is then the segment as it came.
    """

    text: str
    cached: bool
    source_pieces: list[str] = field(default_factory=list)
    target_pieces: list[str] = field(default_factory=list)
    alignment: list[int] = field(default_factory=list)
    alternatives: list[str] = field(default_factory=list)
    error: ServiceError | None = None
