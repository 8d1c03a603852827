"""SentencePiece wrapper that frames sequences the way the model was trained.

Source: [<2tgt>] + pieces + [EOS]. Target: pieces + [EOS], decoded after BOS.
Shared by training (model/) and serving (service/) so the framing exists once.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm

from nmt_core.bundle import DEFAULT_SPECIAL_IDS, BundleError, Manifest, SpecialIds, language_tag
from nmt_core.scripts import with_full_width_punctuation, without_gaps_between_unspaced

# Longest source (in pieces) we feed the encoder; the rest of a run-on sentence is cut. One value for
# serving (MAX_SOURCE_PIECES), evaluation and the CLI, so figures measured offline hold online.
DEFAULT_MAX_SOURCE_PIECES = 200


class Vocabulary:
    def __init__(self, model_path: str | Path, specials: SpecialIds = DEFAULT_SPECIAL_IDS):
        self.processor = spm.SentencePieceProcessor(model_file=str(model_path))
        self.specials = specials
        self._check_specials()

    def _check_specials(self) -> None:
        sp = self.processor
        actual = SpecialIds(pad=sp.pad_id(), unk=sp.unk_id(), bos=sp.bos_id(), eos=sp.eos_id())
        if actual != self.specials:
            raise ValueError(f"SentencePiece special ids {actual} differ from the expected {self.specials}")

    def verify(self, manifest: Manifest, path: str) -> None:
        """The manifest and the SentencePiece model must agree on size and language tags."""
        if len(self) != manifest.vocab_size:
            raise BundleError(f"{path}: {len(self)} pieces but the manifest says vocab_size {manifest.vocab_size}")
        for direction in manifest.directions:
            try:
                tag = self.tag_id(direction.target)
            except KeyError as exc:
                raise BundleError(f"{path}: {exc.args[0]} (direction {direction.key})") from exc
            if manifest.language_tag_ids.get(direction.target) != tag:
                raise BundleError(
                    f"{path}: language tag of {direction.target!r} is id {tag}, "
                    f"the manifest says {manifest.language_tag_ids.get(direction.target)}"
                )

    def __len__(self) -> int:
        return int(self.processor.get_piece_size())

    def tag_id(self, lang: str) -> int:
        piece = language_tag(lang)
        token = int(self.processor.piece_to_id(piece))
        if token == self.specials.unk or self.processor.id_to_piece(token) != piece:
            raise KeyError(f"vocabulary has no language tag {piece}")
        return token

    def pieces(self, text: str) -> list[int]:
        return list(self.processor.encode(text, out_type=int))

    def encode_pieces_batch(self, texts: Iterable[str]) -> list[list[int]]:
        return [list(ids) for ids in self.processor.encode(list(texts), out_type=int)]

    def source(self, text: str, target_lang: str, max_pieces: int | None = None) -> list[int]:
        ids = self.pieces(text)
        if max_pieces is not None:
            ids = ids[:max_pieces]
        return [self.tag_id(target_lang), *ids, self.specials.eos]

    def frame_source(self, pieces: list[int], tag: int) -> list[int]:
        return [tag, *pieces, self.specials.eos]

    def frame_target(self, pieces: list[int]) -> list[int]:
        return [*pieces, self.specials.eos]

    def decode(self, ids: Iterable[int]) -> str:
        """The text of generated ids. An <unk> the model wrote (where its training text had a character the
        vocabulary lacks) is left out rather than written as SentencePiece's " ⁇ "."""
        text = str(self.processor.decode([int(i) for i in ids if int(i) != self.specials.unk]))
        return with_full_width_punctuation(without_gaps_between_unspaced(text))

    def id_to_piece(self, token: int) -> str:
        return str(self.processor.id_to_piece(int(token)))
