"""Parse a fragment or a whole document with lxml's HTML parser and write it back as well-formed HTML."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import lxml.html
from lxml import etree

_DOCUMENT_START = re.compile(
    r"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(?:<!doctype|<html|<head|<body)", re.IGNORECASE | re.DOTALL
)
_DOCTYPE = re.compile(r"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*(<!doctype[^>]*>)", re.IGNORECASE | re.DOTALL)
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


@dataclass
class Parsed:
    root: Any  # <html> for documents, a wrapper <div> for fragments
    is_document: bool
    lead: str  # whitespace around the input, which the parser does not keep reliably
    trail: str
    doctype: str = ""  # as written in the input; lxml would invent an HTML 4 one where there was none


def parse_html(html: str) -> Parsed:
    core = html.strip(_EDGE)
    lead = html[: len(html) - len(html.lstrip(_EDGE))]
    trail = html[len(lead) + len(core) :]
    if _DOCUMENT_START.match(core):
        try:
            root = lxml.html.document_fromstring(core)
        except ValueError:  # a str with an XML encoding declaration
            root = lxml.html.document_fromstring(core.encode("utf-8"))
        doctype = _DOCTYPE.match(core)
        return Parsed(root, True, lead, trail, doctype.group(1) if doctype else "")
    if not core:
        return Parsed(lxml.html.Element(_WRAPPER), False, lead, trail)
    root = lxml.html.fragment_fromstring(core, create_parent=_WRAPPER)
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
