"""Office Open XML (.docx, .pptx, .xlsx): each paragraph a unit, its runs as inline HTML, so that formatting follows
the words it was on (through the same attention-based placement as web pages).

A paragraph's runs become text in `<span data-r="K">` (K: the run's formatting, `rPr`; the paragraph's most used
formatting goes without a span), hyperlinks `<a data-h="H">`, and what is not text (a tab, a break, a picture, a
field) an `<img data-k="N">` atom that stays where the translation puts it. Writing back, each piece of translated
text becomes a run with the formatting of the span it ended up in. Everything else in the package (styles,
pictures, relationships, macros) is copied byte for byte; a paragraph with tracked changes or content controls is
left as it is.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

from lxml import etree

from service.documents.extracted import Extracted
from service.documents.limits import DocumentLimits, open_archive, parse_xml, read_entry, repack, to_xml
from service.errors import BadDocument, PayloadTooLarge

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
A = "http://schemas.openxmlformats.org/drawingml/2006/main"
S = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"


@dataclass(frozen=True)
class Dialect:
    """Where one OOXML vocabulary keeps paragraphs, runs, their properties and text."""

    ns: str
    paragraph: str
    run: str = "r"
    properties: str = "rPr"
    text: str = "t"
    hyperlink: str | None = None
    keep: frozenset[str] = frozenset()  # paragraph children left in place (markers)
    refuse: frozenset[str] = frozenset()  # paragraph children that make it untouchable
    refuse_in_runs: frozenset[str] = frozenset()  # run children that make the paragraph untouchable
    breaks: frozenset[str] = frozenset()  # paragraph children between runs that are atoms of the text (a:br)

    def tag(self, name: str) -> str:
        return f"{{{self.ns}}}{name}"


WORD = Dialect(
    W,
    "p",
    hyperlink="hyperlink",
    keep=frozenset({"pPr", "bookmarkStart", "bookmarkEnd", "proofErr", "commentRangeStart", "commentRangeEnd"}),
    refuse=frozenset({"ins", "del", "moveFrom", "moveTo", "fldSimple", "sdt", "smartTag", "customXml", "oMath"}),
    refuse_in_runs=frozenset({"fldChar", "instrText"}),  # a complex field spans runs: reordering would break it
)
DRAWING = Dialect(A, "p", keep=frozenset({"pPr", "endParaRPr"}), breaks=frozenset({"br"}))
SHEET = Dialect(S, "si", keep=frozenset({"rPh", "phoneticPr"}))  # a shared string
SHEET_INLINE = Dialect(S, "is", keep=frozenset({"rPh", "phoneticPr"}))  # an inline string (cell t="inlineStr")
_CELLS = ("si", "is")


class _Paragraph:
    """One paragraph read into HTML, and how to put a translation of that HTML back."""

    def __init__(self, element: etree._Element, dialect: Dialect):
        self.element = element
        self.dialect = dialect
        self.formats: list[etree._Element | None] = []  # K -> rPr (None: no properties)
        self.links: list[etree._Element] = []  # H -> hyperlink element (emptied copy)
        # N -> (rPr, the non-text child, whether it goes inside a run of its own or stands in the paragraph)
        self.atoms: list[tuple[etree._Element | None, etree._Element, bool]] = []
        self.consumed: list[etree._Element] = []
        self.pieces: list[tuple[str, int, int | None]] = []  # (text or "", format K or atom -N-1, link H)
        self.html = ""
        self.base = 0  # the format K that goes without a span
        self.plain_cell = False  # a spreadsheet cell that is one bare <t>: its text is set in place

    def read(self) -> bool:
        """Whether the paragraph can be translated (then `html` holds it)."""
        d = self.dialect
        if (
            d.paragraph in _CELLS
            and self.element.find(d.tag("t")) is not None
            and self.element.find(d.tag("r")) is None
        ):
            return self._read_plain_cell()
        if not self._simple():
            return False
        keys: dict[bytes, int] = {}
        for child in self.element:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            if name == d.run:
                self._read_run(child, None, keys)
            elif name in d.breaks:
                self.pieces.append(("", -len(self.atoms) - 1, None))
                self.atoms.append((None, child, False))
                self.consumed.append(child)
            elif name == d.hyperlink:
                link = len(self.links)
                self.links.append(etree.Element(child.tag, attrib=dict(child.attrib), nsmap=child.nsmap))
                for run in child:
                    if isinstance(run.tag, str):
                        self._read_run(run, link, keys)
                self.consumed.append(child)
        self.html = self._as_html()
        return any(text.strip() for text, _, _ in self.pieces)

    def _simple(self) -> bool:
        """Only runs, hyperlinks of runs and markers: nothing whose meaning rewriting the runs could break."""
        d = self.dialect
        for child in self.element:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            if name == d.hyperlink:
                if any(isinstance(r.tag, str) and etree.QName(r).localname != d.run for r in child):
                    return False
            elif name != d.run and name not in d.keep and name not in d.breaks:
                return False
        if d.refuse_in_runs:
            inside = {etree.QName(e).localname for e in self.element.iter() if isinstance(e.tag, str)}
            if inside & d.refuse_in_runs:
                return False
        return True

    def _read_plain_cell(self) -> bool:
        t = self.element.find(self.dialect.tag("t"))
        assert t is not None
        self.plain_cell = True
        self.formats.append(None)
        self.pieces.append((t.text or "", 0, None))
        self.consumed.append(t)
        self.html = html.escape(t.text or "", quote=False)
        return bool((t.text or "").strip())

    def _read_run(self, run: etree._Element, link: int | None, keys: dict[bytes, int]) -> None:
        d = self.dialect
        properties = run.find(d.tag(d.properties))
        key = etree.tostring(properties) if properties is not None else b""
        if key not in keys:
            keys[key] = len(self.formats)
            self.formats.append(properties)
        k = keys[key]
        for child in run:
            if not isinstance(child.tag, str) or child is properties:
                continue
            if etree.QName(child).localname == d.text:
                self.pieces.append((child.text or "", k, link))
            else:  # a tab, a break, a picture, a field: kept whole, as an atom
                self.pieces.append(("", -len(self.atoms) - 1, link))
                self.atoms.append((properties, child, True))
        if link is None:
            self.consumed.append(run)

    def _as_html(self) -> str:
        weights = [0] * len(self.formats)
        for text, k, _ in self.pieces:
            if k >= 0:
                weights[k] += len(text)
        self.base = max(range(len(weights)), key=weights.__getitem__) if weights else 0
        out: list[str] = []
        open_link: int | None = None
        for text, k, link in self.pieces:
            if link != open_link:
                if open_link is not None:
                    out.append("</a>")
                if link is not None:
                    out.append(f'<a data-h="{link}">')
                open_link = link
            if k < 0:
                out.append(f'<img data-k="{-k - 1}">')
            elif text:
                escaped = html.escape(text, quote=False)
                out.append(escaped if k == self.base else f'<span data-r="{k}">{escaped}</span>')
        if open_link is not None:
            out.append("</a>")
        return "".join(out)

    def write(self, translated: str) -> None:
        """Replace the paragraph's runs by runs of the translation, each with the formatting its words carry."""
        if self.plain_cell:
            t = self.consumed[0]
            t.text = "".join(text for text, _, _ in _Pieces.of(translated, self.base))
            if t.text != t.text.strip():
                t.set(XML_SPACE, "preserve")
            return
        position = min(self.element.index(c) for c in self.consumed)
        for child in self.consumed:
            self.element.remove(child)
        new: list[tuple[etree._Element, int | None]] = []  # (node, the link it is in)
        placed: set[int] = set()

        def add(node: etree._Element, link: int | None) -> None:
            if link is None or link >= len(self.links):
                new.append((node, None))
                return
            if not new or new[-1][1] != link:
                new.append((_copy(self.links[link]), link))
            new[-1][0].append(node)

        for text, k, link in _Pieces.of(translated, self.base):
            if k < 0:
                if -k - 1 >= len(self.atoms) or -k - 1 in placed:
                    continue  # an atom the translation named twice: once is enough
                placed.add(-k - 1)
                add(self._atom(-k - 1), link)
            elif text:
                add(self._run(text, k if k < len(self.formats) else self.base), link)
        for n in range(len(self.atoms)):  # an atom the translation lost goes at the end, never dropped
            if n not in placed:
                add(self._atom(n), None)
        for offset, (node, _) in enumerate(new):
            self.element.insert(position + offset, node)

    def _atom(self, n: int) -> etree._Element:
        """A run holding atom N's element itself (moved, not copied: a text box inside keeps its translation)."""
        properties, child, in_run = self.atoms[n]
        if not in_run:
            return child
        run = etree.Element(self.dialect.tag(self.dialect.run), nsmap=self.element.nsmap)
        if properties is not None:
            run.append(_copy(properties))
        run.append(child)
        return run

    def _run(self, text: str, k: int) -> etree._Element:
        d = self.dialect
        run = etree.Element(d.tag(d.run), nsmap=self.element.nsmap)
        properties = self.formats[k]
        if properties is not None:
            run.append(_copy(properties))
        t = etree.SubElement(run, d.tag(d.text))
        t.text = text
        if text != text.strip() or "  " in text:
            t.set(XML_SPACE, "preserve")
        return run


def _copy(element: etree._Element) -> etree._Element:
    return etree.fromstring(etree.tostring(element))


class _Pieces(HTMLParser):
    """A translated paragraph's HTML as (text, format K or atom -N-1, link H) in order."""

    def __init__(self, base: int):
        super().__init__(convert_charrefs=True)
        self.base = base
        self.formats: list[int] = []
        self.links: list[int | None] = []
        self.out: list[tuple[str, int, int | None]] = []

    @classmethod
    def of(cls, fragment: str, base: int) -> list[tuple[str, int, int | None]]:
        parser = cls(base)
        parser.feed(fragment)
        parser.close()
        return parser.out

    def _link(self) -> int | None:
        return next((h for h in reversed(self.links) if h is not None), None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img" and (values.get("data-k") or "").isdigit():
            self.out.append(("", -int(values["data-k"] or 0) - 1, self._link()))
        elif tag == "span":
            r = values.get("data-r") or ""
            self.formats.append(int(r) if r.isdigit() else (self.formats[-1] if self.formats else self.base))
        elif tag == "a":
            h = values.get("data-h") or ""
            self.links.append(int(h) if h.isdigit() else None)

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self.formats:
            self.formats.pop()
        elif tag == "a" and self.links:
            self.links.pop()

    def handle_data(self, data: str) -> None:
        if data:
            self.out.append((data, self.formats[-1] if self.formats else self.base, self._link()))


def _parts(names: list[str], kind: str) -> list[tuple[str, Dialect]]:
    if kind == "docx":
        words = ("word/document.xml", "word/header", "word/footer", "word/footnotes.xml", "word/endnotes.xml")
        return [(n, WORD) for n in names if n.startswith(words) and n.endswith(".xml")]
    if kind == "pptx":
        slides = ("ppt/slides/slide", "ppt/notesSlides/notesSlide")
        return [(n, DRAWING) for n in names if n.startswith(slides) and n.endswith(".xml")]
    cells = [(n, SHEET_INLINE) for n in names if n.startswith("xl/worksheets/sheet") and n.endswith(".xml")]
    return [(n, SHEET) for n in names if n == "xl/sharedStrings.xml"] + cells


def read_ooxml(data: bytes, limits: DocumentLimits, kind: str) -> Extracted:
    """A .docx, .pptx or .xlsx package: its paragraphs (slides' and notes' text, shared strings) as units."""
    archive = open_archive(data, limits)
    names = archive.namelist()
    expected = {"docx": "word/document.xml", "pptx": "ppt/presentation.xml", "xlsx": "xl/workbook.xml"}[kind]
    if expected not in names:
        raise BadDocument(f"not a .{kind} package: {expected} is missing")
    trees: dict[str, etree._Element] = {}
    paragraphs: list[_Paragraph] = []
    for name, dialect in sorted(_parts(names, kind), key=lambda part: _natural(part[0])):
        root = trees[name] = parse_xml(read_entry(archive, name, limits), name)
        for element in root.iter(dialect.tag(dialect.paragraph)):
            paragraph = _Paragraph(element, dialect)
            if paragraph.read():
                paragraphs.append(paragraph)
            if len(paragraphs) > limits.max_units:
                raise PayloadTooLarge(f"more than {limits.max_units} paragraphs", code="too_many_segments")
    infos = archive.infolist()
    contents = {
        info.filename: read_entry(archive, info.filename, limits) for info in infos if info.filename not in trees
    }

    def rebuild(translations: list[str]) -> bytes:
        for paragraph, translated in zip(paragraphs, translations, strict=True):
            paragraph.write(translated)
        return repack(infos, {**contents, **{name: to_xml(root) for name, root in trees.items()}})

    return Extracted([p.html for p in paragraphs], "html", rebuild)


def _natural(name: str) -> tuple[str, int]:
    """slide2.xml before slide10.xml."""
    stem = name.removesuffix(".xml")
    digits = len(stem) - len(stem.rstrip("0123456789"))
    return (stem[: len(stem) - digits], int(stem[len(stem) - digits :] or 0))


def reader(kind: str) -> Callable[[bytes, DocumentLimits], Extracted]:
    return lambda data, limits: read_ooxml(data, limits, kind)
