"""What HTML translation needs from a translator, so this package never imports the service's own types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol


class AlignedTranslation(Protocol):
    """One translated segment with the word alignment that lets inline tags follow their words."""

    @property
    def text(self) -> str:
        """Detokenized translation."""
        ...

    @property
    def source_pieces(self) -> Sequence[str]:
        """SentencePiece pieces of the source, without language tag and EOS ("▁" starts a word)."""
        ...

    @property
    def target_pieces(self) -> Sequence[str]:
        """SentencePiece pieces of the translation, without EOS."""
        ...

    @property
    def alignment(self) -> Sequence[int]:
        """For each target piece, the index of its most-attended source piece."""
        ...


Translate = Callable[[list[str]], Awaitable[Sequence[AlignedTranslation | None]]]
"""Translates segments in one call; the caller's scheduler/cache decides how they are batched. None for a
segment that could not be translated: it stays in the document as it was."""
