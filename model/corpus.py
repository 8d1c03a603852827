"""Reading and cleaning parallel corpora (line-aligned files or TSV, gzip or plain)."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from model.config import CorpusSpec


@dataclass(frozen=True)
class Pair:
    source_lang: str
    target_lang: str
    source: str
    target: str
    domain: str = ""

    @property
    def direction(self) -> str:
        return f"{self.source_lang}-{self.target_lang}"


def open_text(path: str | Path) -> io.TextIOBase:
    path = Path(path)
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def read_lines(path: str | Path) -> list[str]:
    with open_text(path) as handle:
        return [line.rstrip("\n").rstrip("\r") for line in handle]


def read_parallel(spec: CorpusSpec, root: Path | None = None) -> dict[str, list[str]]:
    """Aligned sentences per language; raises if the files are not line-aligned."""

    def resolve(p: str) -> Path:
        return root / p if root is not None and not Path(p).is_absolute() else Path(p)

    if spec.kind == "pair":
        columns = {lang: read_lines(resolve(p)) for lang, p in spec.paths.items()}
    elif spec.kind == "tsv":
        columns = {lang: [] for lang in spec.columns}
        for number, line in enumerate(read_lines(resolve(spec.paths["tsv"])), 1):
            cells = line.split("\t")
            if len(cells) < len(spec.columns):
                raise ValueError(f"{spec.paths['tsv']}:{number}: expected {len(spec.columns)} columns")
            for lang, cell in zip(spec.columns, cells):
                columns[lang].append(cell)
    else:
        raise ValueError(f"unknown corpus kind {spec.kind!r}")
    lengths = {lang: len(lines) for lang, lines in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"corpus files are not line-aligned: {lengths}")
    return columns


def directions_of(spec: CorpusSpec, languages: Iterable[str]) -> list[tuple[str, str]]:
    if spec.directions:
        return [tuple(d.split("-", 1)) for d in spec.directions]  # type: ignore[misc]
    langs = list(languages)
    return [(s, t) for s in langs for t in langs if s != t]


def pairs_of(spec: CorpusSpec, root: Path | None = None) -> Iterator[Pair]:
    columns = read_parallel(spec, root)
    rows = len(next(iter(columns.values()), []))
    yield from expand_rows(spec, columns, range(rows))


def expand_rows(spec: CorpusSpec, columns: dict[str, list[str]], rows: Iterable[int]) -> Iterator[Pair]:
    """One pair per chosen row and direction, in direction-major order."""
    chosen = [row for row in rows if spec.max_pairs is None or row < spec.max_pairs]
    for source_lang, target_lang in directions_of(spec, columns):
        sources, targets = columns[source_lang], columns[target_lang]
        for row in chosen:
            yield Pair(source_lang, target_lang, sources[row].strip(), targets[row].strip(), spec.domain)


def clean_pairs(
    pairs: Iterable[Pair],
    length_of: Callable[[str], int],
    max_tokens: int,
    max_ratio: float,
) -> list[Pair]:
    """Drop empty and over-long sentences, bad length ratios and exact duplicates (order kept)."""
    seen: set[tuple[str, str, str, str]] = set()
    kept: list[Pair] = []
    for pair in pairs:
        if not pair.source or not pair.target:
            continue
        key = (pair.source_lang, pair.target_lang, pair.source, pair.target)
        if key in seen:
            continue
        src_len, tgt_len = length_of(pair.source), length_of(pair.target)
        if src_len > max_tokens or tgt_len > max_tokens:
            continue
        if max(src_len, tgt_len) > max_ratio * max(1, min(src_len, tgt_len)) and max(src_len, tgt_len) > 4:
            continue
        seen.add(key)
        kept.append(pair)
    return kept


def title_case(text: str) -> str:
    """Every word that starts with a lower-case letter capitalised ("delete row" -> "Delete Row")."""
    return " ".join(word[:1].upper() + word[1:] if word[:1].islower() else word for word in text.split(" "))


def with_title_case_sources(pairs: list[Pair], max_words: int) -> list[Pair]:
    """`pairs` and, for each English source of at most `max_words` words that Title Case changes, a copy with
    the source in Title Case."""
    if max_words <= 0:
        return pairs
    twins = [
        replace(pair, source=title_case(pair.source))
        for pair in pairs
        if pair.source_lang == "en" and len(pair.source.split()) <= max_words and title_case(pair.source) != pair.source
    ]
    return pairs + twins


def whitespace_length(text: str) -> int:
    return len(text.split())
