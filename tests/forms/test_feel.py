"""The FEEL subset of task forms: what the browser evaluates, the server evaluates the same way."""
from __future__ import annotations

from decimal import Decimal

import pytest

from bpm_crm.forms import feel

DATA = {"decision": "fail", "amount": 1200, "items": [{"a": 1}, {"a": 2}], "name": "鑫达贸易", "empty": None}


@pytest.mark.parametrize(("source", "expected"), [
    ('=decision = "fail"', True),
    ('=decision != "fail"', False),
    ("=amount > 1000 and amount <= 1200", True),
    ("=amount >= 1200.01", False),
    ("=count(items) = 2", True),
    ("=items[1].a", Decimal(1)),
    ("=items[-1].a + 1", Decimal(3)),
    ('=not(decision = "fail")', False),
    ("=missing = null", True),
    ("=empty = null", True),
    ("=is defined(missing)", False),
    ("=is defined(amount)", True),
    ("=string length(name) between 2 and 4", True),
    ("=amount in [5, 1200]", True),
    ('=if amount > 1000 then "大额" else "普通"', "大额"),
    ('=contains(name, "鑫达")', True),
    ('=upper case("ab")', "AB"),
    ("=sum([1, 2.5])", Decimal("3.5")),
    ("=amount / 0", None),
])
def test_values(source, expected):
    assert feel.parse(source).evaluate(DATA) == expected


@pytest.mark.parametrize("source", [
    "=missing > 3",  # comparing null gives null, so a condition on it is not met
    '=amount = "1200"',  # different types are never equal
    "=missing and true",
    '=name > 5',
])
def test_conditions_with_null_or_mixed_types_are_not_met(source):
    assert feel.parse(source).is_true(DATA) is False


def test_three_valued_logic():
    assert feel.parse("=missing > 1 or true").evaluate(DATA) is True
    assert feel.parse("=missing > 1 and false").evaluate(DATA) is False
    assert feel.parse("=missing > 1 or false").evaluate(DATA) is None


def test_names_read_are_collected():
    assert feel.parse('=amount > 5 and this.x = 1 and customer.level = "VIP"').names == {"amount", "this", "customer"}


@pytest.mark.parametrize(("source", "message"), [
    ("=system(1)", "not available"),
    ("=a ==", "unexpected"),
    ("=(a", "expected"),
    ("=a.", "ends too early"),
    ("=" + "(" * 60 + "a" + ")" * 60, "nested too deeply"),
    ("=" + "a + " * 400 + "a", "longer than"),
    ("=a ? b", "cannot read"),
    ("=for x in items return x", "unexpected"),
    ("=a and", "ends too early"),
    ("=then", "cannot stand here"),
    ("=count(1, 2)", "takes 1 argument"),
])
def test_anything_outside_the_subset_is_refused(source, message):
    with pytest.raises(feel.FeelError, match=message):
        feel.parse(source)


def test_a_long_string_cannot_grow_without_bound():
    text = "x" * 60_000
    assert feel.parse("=t + t").evaluate({"t": text}) is None
