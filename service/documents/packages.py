"""OpenDocument (.odt, .odp) and EPUB: zip packages of XML whose paragraphs carry nested inline formatting
(service/documents/xmlflow.py). Every other entry of the package is copied byte for byte."""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from service.documents.extracted import Extracted
from service.documents.limits import DocumentLimits, open_archive, parse_xml, read_entry, repack, to_xml
from service.documents.xmlflow import Flow, FlowParagraph
from service.errors import BadDocument, PayloadTooLarge

TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
XHTML = "http://www.w3.org/1999/xhtml"


def _spaces(element: etree._Element) -> str:
    count = element.get(f"{{{TEXT}}}c") or "1"
    return " " * min(1000, int(count) if count.isdigit() else 1)


ODF = Flow(
    paragraphs=frozenset({f"{{{TEXT}}}p", f"{{{TEXT}}}h"}),
    inline=frozenset({f"{{{TEXT}}}span", f"{{{TEXT}}}a"}),
    as_text={f"{{{TEXT}}}s": _spaces},
    spaces=lambda n: etree.Element(f"{{{TEXT}}}s", {f"{{{TEXT}}}c": str(n)} if n > 1 else {}),
)
_X_PARAGRAPHS = [
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "dt",
    "dd",
    "td",
    "th",
    "caption",
    "figcaption",
    "blockquote",
    "title",
]
_X_INLINE = [
    "a",
    "span",
    "em",
    "strong",
    "b",
    "i",
    "u",
    "small",
    "sub",
    "sup",
    "abbr",
    "cite",
    "q",
    "mark",
    "s",
    "del",
    "ins",
    "dfn",
    "time",
    "big",
    "font",
]
_X_BLOCKS = [
    *_X_PARAGRAPHS,
    "div",
    "ul",
    "ol",
    "dl",
    "table",
    "section",
    "article",
    "aside",
    "pre",
    "header",
    "footer",
    "nav",
    "figure",
    "hr",
]
EPUB = Flow(
    paragraphs=frozenset(f"{{{XHTML}}}{t}" for t in _X_PARAGRAPHS),
    inline=frozenset(f"{{{XHTML}}}{t}" for t in _X_INLINE),
    blocks=frozenset(f"{{{XHTML}}}{t}" for t in _X_BLOCKS),
)


def read_package(data: bytes, limits: DocumentLimits, kind: str) -> Extracted:
    archive = open_archive(data, limits)
    names = archive.namelist()
    if kind == "epub":
        if "META-INF/container.xml" not in names:
            raise BadDocument("not an EPUB: META-INF/container.xml is missing")
        parts = [n for n in names if n.lower().endswith((".xhtml", ".html", ".htm"))]
        flow = EPUB
    else:
        if "content.xml" not in names:
            raise BadDocument(f"not an OpenDocument (.{kind}): content.xml is missing")
        parts = [n for n in ("content.xml", "styles.xml") if n in names]
        flow = ODF
    trees: dict[str, etree._Element] = {}
    paragraphs: list[FlowParagraph] = []
    for name in parts:
        root = trees[name] = parse_xml(read_entry(archive, name, limits), name)
        for element in root.iter(*flow.paragraphs):
            paragraph = FlowParagraph(element, flow)
            if paragraph.read():
                paragraphs.append(paragraph)
            if len(paragraphs) > limits.max_units:
                raise PayloadTooLarge(f"more than {limits.max_units} paragraphs", code="too_many_segments")
    infos = archive.infolist()
    contents = {i.filename: read_entry(archive, i.filename, limits) for i in infos if i.filename not in trees}

    def rebuild(translations: list[str]) -> bytes:
        for paragraph, translated in zip(paragraphs, translations, strict=True):
            paragraph.write(translated)
        return repack(infos, {**contents, **{name: to_xml(root) for name, root in trees.items()}})

    return Extracted([p.html for p in paragraphs], "html", rebuild)


def reader(kind: str) -> Callable[[bytes, DocumentLimits], Extracted]:
    return lambda data, limits: read_package(data, limits, kind)
