"""The one id parser and the storable-text rule, on their own."""
from __future__ import annotations

import pytest
from werkzeug.exceptions import NotFound
from werkzeug.routing import Map, Rule

from bpm_crm.input_rules import MAX_ID, IdConverter, coerce_id, parse_id, storable


@pytest.mark.parametrize(("value", "expected"), [
    (1, 1), ("1", 1), (" 42 ", 42), (MAX_ID, MAX_ID), (str(MAX_ID), MAX_ID), ("0007", 7),
    (0, None), ("0", None), (-1, None), ("-1", None), ("+1", None), (MAX_ID + 1, None), (str(MAX_ID + 1), None),
    (2**63, None), ("99999999999999999999", None), ("9" * 5000, None),
    ("²", None), ("٣", None), ("１", None), ("1_000", None), ("1e3", None), ("", None), ("abc", None),
    (True, None), (False, None), (1.0, None), (None, None), ([1], None), ({"id": 1}, None),
])
def test_parse_id_takes_ascii_digits_within_the_integer_column(value, expected):
    assert parse_id(value) == expected


def test_coerce_id_is_none_when_empty_and_a_value_error_when_not_an_id():
    assert coerce_id("") is None and coerce_id(None) is None and coerce_id("12") == 12
    for bad in ("²", "2147483648", "x", "-3"):
        with pytest.raises(ValueError):
            coerce_id(bad)


def test_the_path_converter_gives_0_for_numbers_no_record_can_have():
    urls = Map([Rule("/c/<id:item>", endpoint="c")], converters={"id": IdConverter}).bind("example.test")
    assert urls.match("/c/2147483647") == ("c", {"item": MAX_ID})
    for path in ("/c/2147483648", "/c/99999999999999999999", "/c/0", "/c/0000"):
        assert urls.match(path) == ("c", {"item": 0})
    for path in ("/c/٣", "/c/" + "9" * 31, "/c/-1"):
        with pytest.raises(NotFound):
            urls.match(path)


@pytest.mark.parametrize(("text", "ok"), [
    ("杭州云启科技有限公司", True), ("emoji 😀", True), ("", True),
    ("\ud800", False), ("a\udfffb", False), ("nul\x00", False),
])
def test_storable_text_has_no_lone_surrogate_and_no_nul(text, ok):
    assert storable(text) is ok
