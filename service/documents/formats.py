"""The document formats by file extension: what reads each into units, and what its translation is served as."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath

from service.documents import ooxml, packages
from service.documents.extracted import Extracted, decoded
from service.documents.limits import DocumentLimits
from service.documents.plain import read_markdown, read_text
from service.documents.subtitles import read_subtitles
from service.errors import BadDocument, UnsupportedDocument

Reader = Callable[[bytes, DocumentLimits], Extracted]


def read_html(data: bytes, limits: DocumentLimits) -> Extracted:
    """A web page: one unit, the whole document, translated as the HTML API does (markup kept)."""
    return Extracted([decoded(data, "html")], "html", lambda translated: translated[0].encode("utf-8"))


@dataclass(frozen=True)
class DocumentFormat:
    extension: str
    media_type: str
    read: Reader


FORMATS: dict[str, DocumentFormat] = {
    f.extension: f
    for f in [
        DocumentFormat(".txt", "text/plain; charset=utf-8", read_text),
        DocumentFormat(".md", "text/markdown; charset=utf-8", read_markdown),
        DocumentFormat(".html", "text/html; charset=utf-8", read_html),
        DocumentFormat(".htm", "text/html; charset=utf-8", read_html),
        DocumentFormat(".srt", "application/x-subrip; charset=utf-8", read_subtitles),
        DocumentFormat(".vtt", "text/vtt; charset=utf-8", read_subtitles),
        DocumentFormat(
            ".docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", ooxml.reader("docx")
        ),
        DocumentFormat(
            ".pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation", ooxml.reader("pptx")
        ),
        DocumentFormat(
            ".xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ooxml.reader("xlsx")
        ),
        DocumentFormat(".odt", "application/vnd.oasis.opendocument.text", packages.reader("odt")),
        DocumentFormat(".odp", "application/vnd.oasis.opendocument.presentation", packages.reader("odp")),
        DocumentFormat(".epub", "application/epub+zip", packages.reader("epub")),
    ]
}
SUPPORTED = tuple(FORMATS)


def format_of(filename: str) -> DocumentFormat:
    """The format a file name says, or 415 naming the supported ones (PDF among the refused)."""
    extension = PurePath(filename or "").suffix.lower()
    found = FORMATS.get(extension)
    if found is None:
        what = f"{extension} files are" if extension else "files without an extension are"
        raise UnsupportedDocument(f"{what} not supported; supported: {', '.join(SUPPORTED)}")
    return found


def extract(filename: str, data: bytes, limits: DocumentLimits) -> Extracted:
    """Read a file into units, or a 4xx: too big, empty, not of its format, unsafe."""
    document = format_of(filename)
    if not data:
        raise BadDocument("the file is empty", code="empty_document")
    return document.read(data, limits)
