"""Hardened loading of uploaded BPMN XML: a size limit, no DTDs or entities, a BPMN root only."""
from __future__ import annotations

import re

from lxml import etree

MAX_BPMN_BYTES = 2 * 1024 * 1024
BPMN_MODEL_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_DEFINITIONS = f"{{{BPMN_MODEL_NS}}}definitions"
_DMN_NAMESPACES = ("https://www.omg.org/spec/DMN/", "http://www.omg.org/spec/DMN/")

# Prolog items that may come before a DOCTYPE: whitespace, the XML declaration and other
# processing instructions, comments.
_PROLOG_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
_XML_DECLARATION = re.compile(r"^\ufeff?\s*<\?xml\b.*?\?>", re.DOTALL)


class UnsafeXml(ValueError):
    """A BPMN upload that is too large, malformed or hostile."""


def hardened_parser() -> etree.XMLParser:
    """An lxml parser that loads no DTD, expands no entity and never touches the network."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _has_doctype(data: bytes) -> bool:
    # A DOCTYPE may only stand in the prolog, so '<!DOCTYPE' inside a CDATA script is no reason to
    # refuse. Dropping NUL bytes lets the same scan see through UTF-16 and UTF-32 encodings.
    text = data.replace(b"\x00", b"")
    if text.startswith(b"\xef\xbb\xbf"):
        text = text[3:]
    elif text[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = text[2:]
    position = 0
    while True:
        item = _PROLOG_ITEM.match(text, position)
        if item is None or item.end() == position:
            break
        position = item.end()
    return text.startswith(b"<!", position) and not text.startswith(b"<![CDATA[", position)


def parse_dmn_xml(data: bytes | str, *, max_bytes: int = MAX_BPMN_BYTES) -> etree._Element:
    """Parse an uploaded DMN decision file into its <definitions> element, or raise UnsafeXml."""
    return parse_bpmn_xml(data, max_bytes=max_bytes, dmn=True)


def parse_bpmn_xml(data: bytes | str, *, max_bytes: int = MAX_BPMN_BYTES, dmn: bool = False) -> etree._Element:
    """Parse an uploaded BPMN file into its <definitions> element, or raise UnsafeXml."""
    if isinstance(data, str):
        encoded = data.encode("utf-8")
        # lxml refuses str input that carries an encoding declaration; the text is decoded already.
        source: bytes | str = _XML_DECLARATION.sub("", data, count=1)
    elif isinstance(data, (bytes, bytearray)):
        encoded = source = bytes(data)
    else:
        raise TypeError(f"expected bytes or str, got {type(data).__name__}")

    size = len(encoded)
    if size > max_bytes:
        raise UnsafeXml(f"the file is {_megabytes(size)}; the limit is {max_bytes / (1024 * 1024):g} MB")
    if not encoded.strip():
        raise UnsafeXml("the file is empty")
    if _has_doctype(encoded):
        raise UnsafeXml("the file has a DOCTYPE declaration; BPMN files never need one")

    try:
        root = etree.fromstring(source, hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"the file is not well-formed XML: {exc}") from exc

    # The pre-scan is a byte-level shortcut; the parsed document has the final word.
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise UnsafeXml("the file has a DOCTYPE declaration; BPMN files never need one")
    if dmn:
        qname = etree.QName(root)
        if qname.localname != "definitions" or not (qname.namespace or "").startswith(_DMN_NAMESPACES):
            raise UnsafeXml("the root element must be DMN <definitions>")
        return root
    if root.tag != _DEFINITIONS:
        qname = etree.QName(root)
        where = f"in namespace {qname.namespace}" if qname.namespace else "without a namespace"
        raise UnsafeXml(
            f"the root element must be BPMN <definitions> ({BPMN_MODEL_NS}); "
            f"this file has <{qname.localname}> {where}"
        )
    return root
