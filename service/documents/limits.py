"""What a document may cost before any of it is translated: bytes, archive entries, decompressed size, units.

Every reader checks these while it reads, so a zip bomb or an endless XML part is refused after a bounded amount
of work, with a 4xx in the usual shape (errors.BadDocument, PayloadTooLarge)."""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import dataclass

from lxml import etree

from service.errors import BadDocument, PayloadTooLarge


@dataclass(frozen=True)
class DocumentLimits:
    max_bytes: int = 20 * 1024 * 1024
    max_entries: int = 2000
    max_unpacked_bytes: int = 200 * 1024 * 1024
    max_ratio: float = 200.0  # an entry that inflates more than this is a bomb, not a document
    max_units: int = 20_000


def open_archive(data: bytes, limits: DocumentLimits) -> zipfile.ZipFile:
    """The zip container of an OOXML/ODF/EPUB file, its directory checked against the caps before anything is
    inflated; encrypted entries (a password-protected file) are refused."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, NotImplementedError) as exc:
        raise BadDocument(f"not a readable archive: {exc}") from None
    if len(entries) > limits.max_entries:
        raise PayloadTooLarge(
            f"the archive holds {len(entries)} entries; at most {limits.max_entries}", code="document_too_complex"
        )
    total = 0
    for entry in entries:
        if entry.flag_bits & 0x1:
            raise BadDocument(
                "the document is encrypted (password-protected); save it without a password", code="document_encrypted"
            )
        total += entry.file_size
        if entry.compress_size and entry.file_size / entry.compress_size > limits.max_ratio:
            raise PayloadTooLarge(
                f"{entry.filename} inflates {entry.file_size // entry.compress_size}-fold", code="document_too_complex"
            )
    if total > limits.max_unpacked_bytes:
        raise PayloadTooLarge(
            f"the archive unpacks to {total} bytes; at most {limits.max_unpacked_bytes}", code="document_too_complex"
        )
    return archive


def read_entry(archive: zipfile.ZipFile, name: str, limits: DocumentLimits) -> bytes:
    """One entry, read at most to the cap (the directory's sizes may lie)."""
    try:
        with archive.open(name) as handle:
            data = handle.read(limits.max_unpacked_bytes + 1)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError, zlib.error, NotImplementedError) as exc:
        raise BadDocument(f"{name}: cannot be read: {exc}") from None
    if len(data) > limits.max_unpacked_bytes:
        raise PayloadTooLarge(f"{name} unpacks beyond {limits.max_unpacked_bytes} bytes", code="document_too_complex")
    return data


_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=False
)


def parse_xml(data: bytes, name: str) -> etree._Element:
    """An XML part in lxml's safe mode: no entities resolved, no DTD loaded, nothing fetched; entity declarations
    and DOCTYPEs with an internal subset (what entity bombs need) are refused. (XHTML's plain DOCTYPE is fine.)"""
    upper = data.upper()
    doctype = upper.find(b"<!DOCTYPE")
    if b"<!ENTITY" in upper or (doctype >= 0 and b"[" in upper[doctype : upper.find(b">", doctype) + 1]):
        raise BadDocument(f"{name}: XML with entity declarations is not accepted", code="document_unsafe")
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise BadDocument(f"{name}: not well-formed XML: {exc}") from None


def to_xml(root: etree._Element) -> bytes:
    """The part as it was declared (its DOCTYPE, its standalone flag), with the new content."""
    tree = root.getroottree()
    standalone = tree.docinfo.standalone
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8", standalone=standalone)


def repack(infos: list[zipfile.ZipInfo], contents: dict[str, bytes]) -> bytes:
    """A package with its entries in their order and compression (ODF's and EPUB's mimetype stays first and
    stored, as they require)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for info in infos:
            archive.writestr(info, contents.get(info.filename, b""), compress_type=info.compress_type)
    return out.getvalue()
