"""BPMN uploads are size-checked before parsing and refused when they carry DTDs or entities."""
from __future__ import annotations

from typing import Any

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.parser import BpmnParser

from bpm_crm.engine import xmlsafe
from bpm_crm.engine.xmlsafe import MAX_BPMN_BYTES, UnsafeXml, hardened_parser, parse_bpmn_xml

VALID_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn">
  <!-- a comment is kept -->
  <bpmn:process id="Process_1" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="script" />
    <bpmn:scriptTask id="script">
      <bpmn:script><![CDATA[body = "<!DOCTYPE html><p>Hello</p>"]]></bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="script" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol9;</bpmn:definitions>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&xxe;</bpmn:definitions>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE definitions SYSTEM "http://example.invalid/evil.dtd">
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"/>
"""

_BODY = VALID_BPMN.split("?>", 1)[1].encode()
_UTF16 = EXTERNAL_ENTITY.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"')

HOSTILE = {
    "billion-laughs": BILLION_LAUGHS,
    "external-entity": EXTERNAL_ENTITY,
    "external-dtd": EXTERNAL_DTD,
    "doctype-after-comment": b"<!-- hi --><?pi x?>\n<!DOCTYPE definitions>\n" + _BODY,
    "utf-16": _UTF16.encode("utf-16"),
    "str-input": EXTERNAL_ENTITY.decode(),
}


def test_valid_bpmn_is_accepted_and_spiffworkflow_can_use_it() -> None:
    for data in (VALID_BPMN, VALID_BPMN.encode("utf-8")):
        root = parse_bpmn_xml(data)
        assert root.tag == "{http://www.omg.org/spec/BPMN/20100524/MODEL}definitions"
        assert root.xpath("//comment()")  # comments survive, as the modeler wrote them
    parser = BpmnParser()
    parser.add_bpmn_xml(parse_bpmn_xml(VALID_BPMN), filename="valid.bpmn")
    assert "script" in parser.get_spec("Process_1").task_specs


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_documents_are_refused(name: str) -> None:
    with pytest.raises(UnsafeXml, match="DOCTYPE"):
        parse_bpmn_xml(HOSTILE[name])


@pytest.mark.parametrize("name", ["billion-laughs", "external-entity", "external-dtd", "utf-16"])
def test_parsed_document_is_checked_even_if_the_prescan_misses(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xmlsafe, "_has_doctype", lambda data: False)
    # libxml2 may already stop the billion laughs itself ("entity amplification"); either way it is refused.
    with pytest.raises(UnsafeXml, match="DOCTYPE|amplification"):
        parse_bpmn_xml(HOSTILE[name])


def test_hardened_parser_expands_nothing() -> None:
    try:
        laughs = etree.fromstring(BILLION_LAUGHS, hardened_parser())
    except etree.XMLSyntaxError as exc:
        assert "amplification" in str(exc)
    else:
        assert len(etree.tostring(laughs)) < 1000
    xxe = etree.fromstring(EXTERNAL_ENTITY, hardened_parser())
    assert b"root:" not in etree.tostring(xxe)


def test_oversized_file_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parsing(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("parsed a file that is over the limit")

    monkeypatch.setattr(xmlsafe.etree, "fromstring", no_parsing)
    ten_mb = b"<a>" + b"x" * (10 * 1024 * 1024 - 7) + b"</a>"
    with pytest.raises(UnsafeXml, match=r"^the file is 10\.0 MB; the limit is 2 MB$"):
        parse_bpmn_xml(ten_mb)
    # A str is measured as UTF-8: 1.5 million 'é' are 3 MB.
    with pytest.raises(UnsafeXml, match=r"the file is 2\.9 MB"):
        parse_bpmn_xml("é" * 1_500_000)
    with pytest.raises(UnsafeXml, match="limit"):
        parse_bpmn_xml(VALID_BPMN, max_bytes=100)


def test_limit_is_inclusive() -> None:
    padded = VALID_BPMN.encode() + b" " * (MAX_BPMN_BYTES - len(VALID_BPMN.encode()))
    assert len(padded) == MAX_BPMN_BYTES
    assert parse_bpmn_xml(padded).tag.endswith("definitions")


def test_malformed_xml_is_refused_with_its_line() -> None:
    with pytest.raises(UnsafeXml, match=r"not well-formed XML: .*line 3") as info:
        parse_bpmn_xml(b"<a>\n<b>\n</a>")
    assert isinstance(info.value.__cause__, etree.XMLSyntaxError)
    with pytest.raises(UnsafeXml, match="empty"):
        parse_bpmn_xml(b"  \n")


@pytest.mark.parametrize(
    ("document", "found"),
    [
        (b"<definitions/>", "<definitions> without a namespace"),
        (b'<process xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"/>', "<process> in namespace"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"/>', "<svg> in namespace http://www.w3.org/2000/svg"),
    ],
)
def test_wrong_root_is_refused(document: bytes, found: str) -> None:
    with pytest.raises(UnsafeXml, match="root element must be BPMN <definitions>") as info:
        parse_bpmn_xml(document)
    assert found in str(info.value)
