"""Customer level rules (客户等级规则): list, add, delete, apply now."""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from werkzeug.datastructures import MultiDict

from bpm_crm.api import bp, openapi
from bpm_crm.api.auth import current_user
from bpm_crm.api.inputs import json_object
from bpm_crm.api.openapi import BOOL, INT, obj, operation, path_id, ref
from bpm_crm.api.products import MONEY
from bpm_crm.errors import Invalid
from bpm_crm.forms.level import LevelRuleForm
from bpm_crm.i18n import _
from bpm_crm.models import LevelRule
from bpm_crm.services import dictionary, levels

FIELDS = ("level", "min_total", "months", "active")


def rule(record: LevelRule) -> dict[str, Any]:
    return {"id": record.id, "level": record.level, "min_total": f"{record.min_total:.2f}",
            "months": record.months, "active": record.active}


def _validated(payload: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    data: MultiDict = MultiDict()
    for name, value in payload.items():
        if name not in FIELDS:
            errors[name] = [str(_("未知或只读字段"))]
        elif name == "active":
            if not isinstance(value, bool):
                errors[name] = [str(_("应为 true 或 false"))]
            elif value:
                data[name] = "y"
        elif isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool)):
            data[name] = str(value)
        elif value is not None:
            errors[name] = [str(_("应为文本或数字"))]
    if "active" not in payload:
        data["active"] = "y"
    form = LevelRuleForm(formdata=data, meta={"csrf": False})
    form.level.choices = [(level, level) for level in dictionary.choices(dictionary.LEVEL)]
    if not form.validate() or errors:
        raise Invalid(str(_("请更正标出的字段")), {**{n: [str(m) for m in ms] for n, ms in form.errors.items()},
                                                   **errors})
    return form.values()


@bp.get("/level-rules")
def list_level_rules() -> Response:
    """Every level rule, highest level first."""
    return jsonify({"items": [rule(r) for r in levels.list_rules(user=current_user())]})


@bp.post("/level-rules")
def create_level_rule() -> tuple[Response, int]:
    """Add a level rule."""
    record = levels.create_rule(user=current_user(), values=_validated(json_object()))
    return jsonify(rule(record)), 201


@bp.delete("/level-rules/<id:rule_id>")
def delete_level_rule(rule_id: int) -> tuple[str, int]:
    """Remove a level rule; customers keep their levels."""
    levels.delete_rule(rule_id=rule_id, user=current_user())
    return "", 204


@bp.post("/level-rules/apply")
def apply_level_rules() -> Response:
    """Apply the active rules to every customer now (promote only)."""
    result = levels.apply_now(user=current_user())
    return jsonify({"changed": result.changed, "by_level": result.by_level})


RULE_FIELDS = {"level": {"type": "string", "description": "An item of the 客户等级 dictionary"},
               "min_total": {"type": ["string", "number"], "description": "≥ 0"},
               "months": {"type": "integer", "minimum": 1, "maximum": 60}, "active": {**BOOL, "default": True}}
openapi.SCHEMAS.update({
    "LevelRule": obj({"id": INT, "level": {"type": "string"}, "min_total": MONEY, "months": INT, "active": BOOL}),
    "LevelRuleList": obj({"items": {"type": "array", "items": ref("LevelRule")}}),
    "LevelRuleInput": obj(RULE_FIELDS, ["level", "min_total", "months"], additionalProperties=False),
    "LevelApplyResult": obj({"changed": {**INT, "description": "Customers promoted"},
                             "by_level": {"type": "object", "additionalProperties": INT}}),
})
openapi.PATHS.update({
    "/level-rules": {
        "get": operation("listLevelRules", "Customer level rules", "levels",
                         openapi.responses("200", "LevelRuleList", "401", "403")),
        "post": operation("createLevelRule", "Add a level rule", "levels",
                          openapi.responses("201", "LevelRule", "400", "401", "403", "422"), body="LevelRuleInput"),
    },
    "/level-rules/{rule_id}": {"delete": operation(
        "deleteLevelRule", "Remove a level rule", "levels", openapi.responses("204", None, "401", "403", "404"),
        params=[path_id("rule_id")])},
    "/level-rules/apply": {"post": operation(
        "applyLevelRules", "Apply the active rules now (promote only, never demote)", "levels",
        openapi.responses("200", "LevelApplyResult", "401", "403"))},
})
