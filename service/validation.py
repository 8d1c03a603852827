"""Request and response schemas, and the limits a request must respect (checked before any work)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from service.errors import InvalidRequest, PayloadTooLarge
from service.settings import Settings


class TranslationOptions(BaseModel):
    """Per-request decoding options; None means the model's default, both bounded by server limits."""

    model_config = ConfigDict(extra="forbid")

    # strict: the schema says integer, so true or "2" are refused, not converted
    beam_size: int | None = Field(default=None, ge=1, strict=True, description="1 = greedy; at most MAX_BEAM_SIZE")
    max_length: int | None = Field(
        default=None, ge=1, strict=True, description="cap on target pieces per sentence; at most MAX_OUTPUT_LENGTH"
    )
    alternatives: int | None = Field(
        default=None,
        ge=0,
        strict=True,
        description="runner-up translations per text from the beam (beam_size must exceed it); text format only",
    )


class TranslateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | list[str] = Field(description="one text, or a list of up to MAX_SEGMENTS segments")
    source: str = Field(min_length=1, max_length=16, examples=["en"])
    target: str = Field(min_length=1, max_length=16, examples=["de"])
    format: Literal["text", "html"] = Field(
        default="text",
        description="html: each text is an HTML fragment or document; its text is translated and its markup kept",
    )
    options: TranslationOptions = Field(default_factory=TranslationOptions)

    @property
    def segments(self) -> list[str]:
        return [self.text] if isinstance(self.text, str) else list(self.text)


class Translation(BaseModel):
    text: str
    cached: bool = Field(description="true when every sentence (for html: every segment) came from the cache")
    segments: int | None = Field(default=None, description="html only: text runs and attribute values translated")
    cached_segments: int | None = Field(default=None, description="html only: how many of them came from the cache")
    alternatives: list[str] | None = Field(
        default=None, description="when options.alternatives was asked: distinct runner-up translations, best first"
    )


class ModelRef(BaseModel):
    id: str
    version: str


class TranslateResponse(BaseModel):
    translations: list[Translation]
    model: ModelRef


class LanguagePair(BaseModel):
    source: str
    target: str
    model: ModelRef


class LanguagesResponse(BaseModel):
    directions: list[LanguagePair]


# Characters an HTML tree (lxml, like XML) cannot hold: C0 controls but tab, LF, CR and form feed (which
# the parser reads as a space), and the two non-characters U+FFFE and U+FFFF.
_NOT_IN_HTML = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\ufffe\uffff]")


def check_segments(segments: list[str], settings: Settings, text_format: str = "text") -> None:
    """The one gate every route's texts pass: reject empty, oversized, over-long or unrepresentable input
    with a 4xx before it costs anything."""
    if not segments:
        raise InvalidRequest("text: the list of segments is empty", code="empty_text")
    if len(segments) > settings.max_segments:
        raise PayloadTooLarge(
            f"text: {len(segments)} segments; at most {settings.max_segments} are allowed", code="too_many_segments"
        )
    total = sum(len(s) for s in segments)
    if total > settings.max_text_chars:
        raise PayloadTooLarge(
            f"text: {total} characters; at most {settings.max_text_chars} are allowed", code="text_too_long"
        )
    if not any(s.strip() for s in segments):
        raise InvalidRequest("text: nothing to translate (empty or whitespace only)", code="empty_text")
    if not all(is_valid_unicode(s) for s in segments):
        raise InvalidRequest("text: not valid Unicode (a lone surrogate escape such as \\ud800)", code="invalid_text")
    if text_format == "html":
        for index, segment in enumerate(segments):
            if found := _NOT_IN_HTML.search(segment):
                raise InvalidRequest(
                    f"text[{index}]: character U+{ord(found.group()):04X} at offset {found.start()} cannot appear"
                    " in HTML (control characters other than tab, line feed, carriage return and form feed)",
                    code="invalid_text",
                )


def is_valid_unicode(text: str) -> bool:
    """JSON can carry lone surrogates that Python accepts but no encoder does."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
