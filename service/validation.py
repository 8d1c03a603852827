"""Request and response schemas, and the limits a request must respect (checked before any work)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from nmt_core.languages import canonical_language
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


AUTO_SOURCE = "auto"  # a source language to detect (one detection over the request's texts)
LanguageCode = Annotated[
    str,
    BeforeValidator(lambda v: canonical_language(v) if isinstance(v, str) else v),
    Field(min_length=1, max_length=16),
]
"""A language code as a bundle names it; aliases (zh-Hans, zh-CN, zh_CN) are mapped (nmt_core/languages.py)."""
Priority = Literal["interactive", "bulk"]
PRIORITIES: tuple[Priority, ...] = ("interactive", "bulk")


class TranslateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str | list[str] = Field(description="one text, or a list of up to MAX_SEGMENTS segments")
    source: LanguageCode = Field(examples=["en"], description='a language code, or "auto"')
    target: LanguageCode = Field(examples=["de"])
    format: Literal["text", "html"] = Field(
        default="text",
        description="html: each text is an HTML fragment or document; its text is translated and its markup kept",
    )
    options: TranslationOptions = Field(default_factory=TranslationOptions)
    do_not_translate: list[Any] = Field(
        default_factory=list,
        description="terms kept verbatim wherever they occur as whole words (literal, case-sensitive), up to"
        " MAX_DO_NOT_TRANSLATE_TERMS of MAX_TERM_CHARS characters each",
        examples=[["Acme", "Mastodon"]],
    )
    glossary: dict[str, Any] | None = Field(
        default=None,
        description="source term -> target term, applied wherever a source term occurs as whole words (any case,"
        " after NFC; longest first); the target term appears as given. Up to MAX_GLOSSARY_ENTRIES entries of"
        " MAX_TERM_CHARS characters; with glossary_id, these entries win over the stored ones",
        examples=[{"cookie": "Cookie", "sign in": "anmelden"}],
    )
    glossary_id: str | None = Field(
        default=None,
        max_length=64,
        description="a stored glossary (POST /v1/glossaries) of this API key, for this direction",
    )
    stream: bool = Field(
        default=False,
        strict=True,
        description="answer as server-sent events, one per text as soon as it is done (as does"
        " `Accept: text/event-stream`; docs/streaming.md)",
    )
    priority: Priority = Field(
        default="interactive",
        description="interactive work is admitted first; bulk work is held to a share of the decoder's rows and"
        " may take BULK_TIMEOUT_S (docs/streaming.md)",
    )
    protect: bool = Field(
        default=True,
        strict=True,
        description="text format: URLs, e-mail addresses, @handles, #hashtags, emoji, `code` and i18n placeholders"
        " ({name}, %s, %(name)s, ${VAR}, {{x}}) come back byte for byte (docs/terminology.md); false turns it off",
    )

    @property
    def segments(self) -> list[str]:
        return [self.text] if isinstance(self.text, str) else list(self.text)


class ItemError(BaseModel):
    """The usual error shape's fields, for one text of a request."""

    code: str = Field(examples=["html_too_complex"])
    message: str
    status: int = Field(description="the HTTP status this error would have as a request's answer")


class AppliedTerm(BaseModel):
    source: str = Field(description="the glossary's source term that matched")
    target: str


class Translation(BaseModel):
    text: str = Field(
        description="the translation; with `error`, what could be kept: the text as sent (html: the document with"
        " the runs that failed left as they were)"
    )
    cached: bool = Field(description="true when every sentence (for html: every segment) came from the cache")
    segments: int | None = Field(default=None, description="html only: text runs and attribute values translated")
    cached_segments: int | None = Field(default=None, description="html only: how many of them came from the cache")
    alternatives: list[str] | None = Field(
        default=None, description="when options.alternatives was asked: distinct runner-up translations, best first"
    )
    applied_terms: list[AppliedTerm] | None = Field(
        default=None, description="with a glossary: its entries that this text used, each once"
    )
    error: ItemError | None = Field(
        default=None,
        description="only when this text (of a list) could not be translated, whole or in part; its neighbours"
        " are translated all the same. A request whose `text` is one string answers this error as its status.",
    )


class ModelRef(BaseModel):
    id: str
    version: str


class TranslateResponse(BaseModel):
    translations: list[Translation]
    model: ModelRef
    detected_language: str | None = Field(default=None, description='the language found when source was "auto"')


class ServedModel(ModelRef):
    """A loaded model as this replica runs it: where (the ONNX Runtime provider) and in which precision."""

    provider: str = Field(examples=["CPUExecutionProvider", "CUDAExecutionProvider"])
    precision: str = Field(examples=["int8", "fp32"])


class LanguagePair(BaseModel):
    source: str
    target: str
    model: ServedModel


class LanguagesResponse(BaseModel):
    directions: list[LanguagePair]


def check_segments(segments: list[str], settings: Settings) -> None:
    """The gate every route's request passes: reject an empty, oversized or over-long request with a 4xx before
    it costs anything. What concerns one text alone is that text's error (`service.engine.formats.text_problem`)."""
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


def is_valid_unicode(text: str) -> bool:
    """JSON can carry lone surrogates that Python accepts but no encoder does."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def replacing_lone_surrogates(text: str) -> str:
    """`text` with each lone surrogate as U+FFFD: what a UTF-8 answer can carry of a text that was not valid."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def check_terms(terms: list[Any], settings: Settings, field: str = "do_not_translate") -> tuple[str, ...]:
    """A request's literal terms, refused with 422 (not a string, empty, duplicated) or 413 (beyond the bounds)."""
    if len(terms) > settings.max_do_not_translate_terms:
        raise PayloadTooLarge(
            f"{field}: {len(terms)} terms; at most {settings.max_do_not_translate_terms} are allowed",
            code="too_many_terms",
        )
    seen: set[str] = set()
    for index, term in enumerate(terms):
        if not isinstance(term, str) or not term.strip():
            raise InvalidRequest(f"{field}[{index}]: a term must be a non-empty string", code="invalid_term")
        if len(term) > settings.max_term_chars:
            raise PayloadTooLarge(
                f"{field}[{index}]: {len(term)} characters; at most {settings.max_term_chars}", code="term_too_long"
            )
        if term in seen:
            raise InvalidRequest(f"{field}[{index}]: {term!r} is listed twice", code="duplicate_term")
        if not is_valid_unicode(term):
            raise InvalidRequest(f"{field}[{index}]: not valid Unicode", code="invalid_term")
        seen.add(term)
    return tuple(terms)
