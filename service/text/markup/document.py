"""Parse a fragment or a whole document with lxml's HTML parser and write it back as well-formed HTML."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import lxml.html
from lxml import etree

_DOCUMENT_TAGS = ("<!doctype", "<html", "<head", "<body")
_DOCTYPE = re.compile(r"<!doctype[^>]*>", re.IGNORECASE)
_XML_DECLARATION = "<?xml"
_SPACE_RUN = re.compile(r"[ \t\n\r\f]*")
_COMMENT_OPEN, _COMMENT_CLOSE = "<!--", "-->"
_EDGE = " \t\n\r\f"  # ASCII whitespace only: a no-break space at the edge is content
_WRAPPER = "div"
_VOID = frozenset(
    {
        "area",
        "base",
        "basefont",
        "bgsound",
        "br",
        "col",
        "embed",
        "frame",
        "hr",
        "img",
        "input",
        "keygen",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)


class TooDeep(ValueError):
    """Nested deeper than the HTML parser goes (libxml2 stops at 256 levels and drops the rest): refused,
    rather than answering with part of the text silently missing."""


def _checked(parser: Any) -> None:
    for entry in parser.error_log:
        if entry.type_name == "ERR_RESOURCE_LIMIT":
            raise TooDeep(f"the document is nested too deeply for the HTML parser ({entry.message.split(',')[0]})")


NOT_IN_HTML = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\ufffe\uffff]")
"""Characters an HTML tree (lxml, like XML) cannot hold: C0 controls but tab, LF, CR and form feed (which the
parser reads as a space), and the two non-characters U+FFFE and U+FFFF."""


class Unrepresentable(ValueError):
    """A character the HTML tree cannot hold (`NOT_IN_HTML`): refused rather than dropped or replaced."""

    def __init__(self, character: str, offset: int):
        super().__init__(
            f"character U+{ord(character):04X} at offset {offset} cannot appear in HTML"
            " (control characters other than tab, line feed, carriage return and form feed)"
        )


def check_representable(html: str) -> None:
    """Raises `Unrepresentable` for the first character of `html` that an HTML tree cannot hold."""
    if found := NOT_IN_HTML.search(html):
        raise Unrepresentable(found.group(), found.start())


def storable(translation: str) -> str:
    """A translation as an HTML tree can hold it: form feeds read as spaces (as the parser reads them in the
    source), other characters it cannot hold dropped. The source had none (it was checked), so a model that
    writes one has made it up; dropping it beats failing the document."""
    if "\f" in translation:
        translation = translation.replace("\f", " ")
    return NOT_IN_HTML.sub("", translation) if NOT_IN_HTML.search(translation) else translation


class EmptyDocument(ValueError):
    """A document without any element: there is nothing to translate and nothing lxml can write back."""


@dataclass
class Parsed:
    root: Any  # <html> for documents, a wrapper <div> for fragments
    is_document: bool
    lead: str  # whitespace around the input, which the parser does not keep reliably
    trail: str
    doctype: str = ""  # as written in the input; lxml would invent an HTML 4 one where there was none


def _skip_space(text: str, position: int) -> int:
    return _SPACE_RUN.match(text, position).end()  # type: ignore[union-attr]  # always matches


def _after_prolog(text: str) -> int:
    """Where the content starts after an optional XML declaration, comments and whitespace.

    A scan rather than a regex: a regex with a lazy comment inside a repeated group backtracks
    exponentially on a run of comments that no document tag follows.
    """
    position = _skip_space(text, 0)
    if text.startswith(_XML_DECLARATION, position):
        end = text.find(">", position)
        if end < 0:
            return position
        position = end + 1
    while True:
        position = _skip_space(text, position)
        if not text.startswith(_COMMENT_OPEN, position):
            return position
        end = text.find(_COMMENT_CLOSE, position + len(_COMMENT_OPEN))
        if end < 0:
            return position
        position = end + len(_COMMENT_CLOSE)


def is_document(text: str) -> bool:
    """A whole document (doctype, <html>, <head> or <body> after the prolog) rather than a fragment."""
    start = _after_prolog(text)
    head = text[start : start + len(_DOCUMENT_TAGS[0])].lower()
    return head.startswith(_DOCUMENT_TAGS)


def _doctype(text: str) -> str:
    return match.group(0) if (match := _DOCTYPE.match(text, _after_prolog(text))) else ""


def parse_html(html: str) -> Parsed:
    """Raises `EmptyDocument` for a document with no element at all (a doctype or declaration alone),
    `TooDeep` for one the parser could not read whole, and `Unrepresentable` for a character it cannot hold.

    Form feeds become spaces: HTML reads them as whitespace, and lxml cannot store them.
    """
    check_representable(html)
    html = html.replace("\f", " ")
    core = html.strip(_EDGE)
    lead = html[: len(html) - len(html.lstrip(_EDGE))]
    trail = html[len(lead) + len(core) :]
    parser = lxml.html.HTMLParser()
    if is_document(core):
        try:
            try:
                root = lxml.html.document_fromstring(core, parser=parser)
            except ValueError:  # a str with an XML encoding declaration
                root = lxml.html.document_fromstring(core.encode("utf-8"), parser=parser)
        except etree.ParserError as exc:  # "Document is empty"
            _checked(parser)
            raise EmptyDocument(str(exc)) from None
        _checked(parser)
        return Parsed(root, True, lead, trail, _doctype(core))
    if not core:
        return Parsed(lxml.html.Element(_WRAPPER), False, lead, trail)
    root = lxml.html.fragment_fromstring(core, create_parent=_WRAPPER, parser=parser)
    _checked(parser)
    return Parsed(root, False, lead, trail)


def _close_empty_elements(root: Any) -> None:
    """libxml2 writes an empty <li> without its end tag, which changes the tree when read back."""
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag not in _VOID and element.text is None and len(element) == 0:
            element.text = ""


def serialize(parsed: Parsed) -> str:
    _close_empty_elements(parsed.root)
    if parsed.is_document:
        body = etree.tostring(parsed.root.getroottree(), method="html", encoding="unicode", doctype=parsed.doctype)
    else:
        wrapped = etree.tostring(parsed.root, method="html", encoding="unicode", with_tail=False)
        opening, closing = f"<{_WRAPPER}>", f"</{_WRAPPER}>"
        if wrapped == f"<{_WRAPPER}></{_WRAPPER}>" or not wrapped.startswith(opening):
            body = ""
        else:
            body = wrapped[len(opening) : -len(closing)]
    return parsed.lead + body.strip(_EDGE) + parsed.trail
