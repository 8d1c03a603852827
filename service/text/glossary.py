"""Glossaries: source terms whose translation the user fixes, and the checks a glossary passes before use.

A glossary's source terms are found in a text case-insensitively, after NFC, as whole words, longest first
(service/text/terms.py). Each found term goes to the model as part of the sentence, inside an inline element;
the attention-based placement puts that element around the words it became, and those words are replaced by
the target term exactly as given (service/text/protection.py). So the model still sees and translates the
whole sentence, its grammar around the term included, and the target term always comes out.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from service.errors import InvalidRequest, PayloadTooLarge
from service.text.terms import TermMatcher, normalized
from service.validation import is_valid_unicode

ENTRY_FORMATS = ("tsv", "csv")


@dataclass(frozen=True)
class Glossary:
    entries: tuple[tuple[str, str], ...]
    """(source term, target term), in the order given."""

    matcher: TermMatcher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "matcher", TermMatcher([source for source, _ in self.entries], fold=True))

    def __bool__(self) -> bool:
        return bool(self.entries)


EMPTY = Glossary(())


def check_glossary(entries: Any, max_entries: int, max_term_chars: int, field: str = "glossary") -> Glossary:
    """A glossary given as {source: target}: refused with 422 (not an object of non-empty strings, a source
    listed twice once case and composition are ignored) or 413 (beyond the bounds)."""
    if not isinstance(entries, dict):
        raise InvalidRequest(f"{field}: an object of source term -> target term", code="invalid_glossary")
    if len(entries) > max_entries:
        raise PayloadTooLarge(
            f"{field}: {len(entries)} entries; at most {max_entries} are allowed", code="too_many_terms"
        )
    seen: dict[str, str] = {}
    for source, target in entries.items():
        for role, term in (("source", source), ("target", target)):
            if not isinstance(term, str) or not term.strip() or not is_valid_unicode(term):
                raise InvalidRequest(
                    f"{field}[{source!r}]: the {role} term must be a non-empty string", code="invalid_term"
                )
            if len(term) > max_term_chars:
                raise PayloadTooLarge(
                    f"{field}[{source!r}]: the {role} term has {len(term)} characters; at most {max_term_chars}",
                    code="term_too_long",
                )
        key = normalized(source.strip())
        if key in seen:
            raise InvalidRequest(
                f"{field}: {source!r} and {seen[key]!r} are the same term (case and composition aside)",
                code="duplicate_term",
            )
        seen[key] = source
    return Glossary(tuple((source.strip(), target.strip()) for source, target in entries.items()))


def parse_entries(text: str, entries_format: str, field: str = "entries") -> dict[str, str]:
    """DeepL-style glossary entries: one `source<TAB>target` (tsv) or `source,target` (csv, quoted as CSV
    quotes) per line; blank lines are skipped. A line without exactly two fields, or a source given twice,
    is a 422 that names the line."""
    if entries_format not in ENTRY_FORMATS:
        raise InvalidRequest(
            f"entries_format: {entries_format!r}; one of {', '.join(ENTRY_FORMATS)}", code="invalid_glossary"
        )
    delimiter = "\t" if entries_format == "tsv" else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quoting=csv.QUOTE_MINIMAL, strict=True)
    out: dict[str, str] = {}
    try:
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != 2:
                raise InvalidRequest(
                    f"{field}: line {reader.line_num} has {len(row)} fields; a line is source{delimiter}target",
                    code="invalid_glossary",
                )
            if row[0] in out:
                raise InvalidRequest(f"{field}: line {reader.line_num} repeats {row[0]!r}", code="duplicate_term")
            out[row[0]] = row[1]
    except csv.Error as exc:
        raise InvalidRequest(f"{field}: line {reader.line_num}: {exc}", code="invalid_glossary") from None
    return out
