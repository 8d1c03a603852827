"""The slices a model is measured on, each a labelled list of source and reference sentences.

Multi30k's test and validation splits come per direction; a run's held-out slices (cut from its training
corpora by `model.dataset`, one `DOMAIN.SRC-TGT.tsv` per slice under `RUN/heldout/valid|test/`) come per
domain and direction. Reports and decoding tuning take any mix of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from model.corpus import read_lines
from model.dataset import resolve_path

MULTI30K_TEST = "$DATA_DIR/multi30k/test_2016_flickr.{lang}.gz"
MULTI30K_VALID = "$DATA_DIR/multi30k/val.{lang}.gz"


@dataclass(frozen=True)
class EvalSlice:
    label: str  # "en-de" for Multi30k, "news en-de" for a held-out slice
    source_lang: str
    target_lang: str
    sources: list[str]
    references: list[str]

    @property
    def direction(self) -> str:
        return f"{self.source_lang}-{self.target_lang}"


def multi30k_slices(directions: list[str], pattern: str = MULTI30K_TEST, limit: int | None = None) -> list[EvalSlice]:
    slices = []
    for direction in directions:
        source, target = direction.split("-")
        paths = [Path(resolve_path(pattern.format(lang=lang))) for lang in (source, target)]
        if not all(path.exists() for path in paths):
            continue  # Multi30k has no Chinese: such a direction is measured on held-out slices only
        sources, references = (read_lines(path)[:limit] for path in paths)
        slices.append(EvalSlice(direction, source, target, sources, references))
    return slices


def heldout_slices(folder: Path, directions: list[str] | None = None, limit: int | None = None) -> list[EvalSlice]:
    """Every `DOMAIN.SRC-TGT.tsv` in `folder` (source<TAB>reference per line), optionally only some directions."""
    slices = []
    for path in sorted(folder.glob("*.tsv")):
        domain, direction = path.stem.rsplit(".", 1)
        if directions is not None and direction not in directions:
            continue
        source, target = direction.split("-")
        rows = [line.split("\t") for line in read_lines(path) if "\t" in line][:limit]
        slices.append(EvalSlice(f"{domain} {direction}", source, target, [r[0] for r in rows], [r[1] for r in rows]))
    return slices
