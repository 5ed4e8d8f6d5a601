"""The page form of a record, built from its rules: the fields it declares, each checked as the service checks it."""
from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field, SelectField, StringField, TextAreaField
from wtforms.validators import ValidationError
from wtforms.widgets import NumberInput

from bpm_crm.forms.rules import FieldProblem, FieldRule, RecordRules, read, whole
from bpm_crm.i18n import _
from bpm_crm.input_rules import parse_id


class RuleCheck:
    """The WTForms validator of a field: its rule, read as the service reads it, so both say the same."""

    def __init__(self, rule: FieldRule) -> None:
        self.rule = rule
        flags: dict[str, Any] = {}
        if rule.required:
            flags["required"] = True
        if rule.max_length is not None:
            flags["maxlength"] = rule.max_length
        if rule.kind in ("integer", "decimal") and rule.minimum is not None:
            flags["min"] = rule.minimum
        if rule.kind == "integer" and rule.maximum is not None:
            flags["max"] = rule.maximum
        self.field_flags = flags

    def __call__(self, form: FlaskForm, field: Field) -> None:
        options = None
        if self.rule.source is not None and getattr(field, "choices", None) is not None:
            # The select offers the source's values; the service checks the value against the source again.
            options = [str(choice[0]) for choice in field.choices if choice[0] not in ("", None)]
        try:
            read(self.rule, field.data, options)
        except FieldProblem as problem:
            raise ValidationError(str(_(problem.message))) from None


def _id_or_text(value: Any) -> Any:
    """A select's value as a record id when it is one; anything else is left for the rule to name."""
    number = parse_id(value)
    return value if number is None else number


def _whole_or_text(value: Any) -> Any:
    number = whole(value)
    return value if number is None else number


def form_field(rule: FieldRule) -> Any:
    """The unbound WTForms field of a rule: the widget it declares, checked by RuleCheck."""
    common: dict[str, Any] = {"validators": [RuleCheck(rule)], "default": rule.default}
    if rule.widget == "select":
        coerce = {"id": _id_or_text, "integer": _whole_or_text}.get(rule.kind, str)
        choices = [("", _("请选择")), *rule.options] if rule.options else None
        return SelectField(rule.label, choices=choices, coerce=coerce, validate_choice=False, **common)
    if rule.widget == "textarea":
        return TextAreaField(rule.label, **common)
    if rule.widget == "date":
        return StringField(rule.label, render_kw={"type": "date"}, **common)
    if rule.widget == "number":
        step = "any" if rule.kind == "decimal" else None
        return StringField(rule.label, widget=NumberInput(step=step), **common)
    return StringField(rule.label, **common)


def form_values(form: FlaskForm) -> dict[str, Any]:
    """A form's values for a service: text trimmed, empty text as None; the service reads them by the rules."""
    return {name: (field.data.strip() or None) if isinstance(field.data, str) else field.data
            for name, field in form._fields.items() if name != "csrf_token"}


def record_form(rules: RecordRules) -> type[FlaskForm]:
    """A Flask-WTF form class with one field per rule and `values()`; subclass it to add behaviour."""
    attributes: dict[str, Any] = {rule.name: form_field(rule) for rule in rules}
    attributes["values"] = form_values
    name = "".join(part.title() for part in rules.name.split("_")) + "RulesForm"
    return type(FlaskForm)(name, (FlaskForm,), attributes)  # FormMeta, so WTForms collects the fields
