"""What every document format reads a file into: the units to translate, in order, and how to write them back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from service.errors import BadDocument

UnitFormat = Literal["text", "html"]


@dataclass(frozen=True)
class Extracted:
    """`units` go to the translator as `unit_format` texts; `rebuild(translations)` (one per unit, same order)
    gives the translated file, everything but the units' text as it was."""

    units: list[str]
    unit_format: UnitFormat
    rebuild: Callable[[list[str]], bytes]


def decoded(data: bytes, name: str) -> str:
    """A text file's content: UTF-8 (with or without a BOM), or UTF-16 with a BOM."""
    encoding = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise BadDocument(f"{name}: not UTF-8 text") from None
    if "\x00" in text:
        raise BadDocument(f"{name}: binary content, not text")
    return text
