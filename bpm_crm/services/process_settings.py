"""Process settings a process owner changes in a form, without the modeler: constants of a deployed diagram.

A setting is one value the diagram states — a service task's parameter (the churn scan's six months),
the working days of a timer (`workdays_after(now(), 3)`: when an unattended warning escalates), the rule
of a timer start event (Saturdays at 02:00). Changing one rewrites that element of the newest version and
deploys the result as a new version, as the decision-table grid does: running instances keep the values
they started with, the next ones use the new values, the history shows who changed what, and a value
the diagram no longer states the simple way (the owner rewrote it in the modeler) is shown, not edited.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask_babel import LazyString
from lxml import etree

from bpm_crm.engine.xmlsafe import UnsafeXml, parse_bpmn_xml
from bpm_crm.errors import Forbidden, Invalid
from bpm_crm.extensions import db
from bpm_crm.forms.rules import INVALID, whole
from bpm_crm.i18n import _
from bpm_crm.models import ProcessDefinition, User
from bpm_crm.services import definitions, permissions, schedules

MANAGE = "process.deploy"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_WORKDAYS = re.compile(r"^\s*workdays_after\(\s*now\(\)\s*,\s*(\d+)\s*\)\s*$")


@dataclass(frozen=True)
class Setting:
    """One constant of a diagram: which element states it, how, and what a process owner may set it to."""

    key: str
    process_id: str
    element_id: str
    kind: str  # "parameter" (a service task's), "workdays" (a timer's), "rule" (a timer start event's)
    label: LazyString
    unit: LazyString | None = None
    help: LazyString | None = None
    parameter: str | None = None
    minimum: int = 0
    maximum: int = 0


SETTINGS: tuple[Setting, ...] = (
    Setting("churn_months", "churn_scan", "scan", "parameter", _("无订单判定为流失风险"), _("个月"),
            _("客户在这么多个月内没有任何订单，每周检查时为其发起流失预警"), parameter="months", minimum=1,
            maximum=120),
    Setting("churn_escalate_workdays", "churn", "unattended", "workdays", _("预警无人处理时升级给主管"), _("个工作日"),
            _("客户经理在这么多个工作日内未记录暂缓措施，预警转给其主管处理（对新发起的预警生效）"),
            minimum=1, maximum=60),
    Setting("care_catch_up_days", "care_scan", "plan", "parameter", _("停机后补发最近几天的关怀"), _("天"),
            _("系统停机期间错过的关怀任务，在这么多天内的仍会补发"), parameter="catch_up_days", minimum=0, maximum=60),
)


def settings_of(process_id: str) -> list[Setting]:
    return [setting for setting in SETTINGS if setting.process_id == process_id]


def _element(root: etree._Element, element_id: str) -> etree._Element | None:
    found = root.xpath("//*[@id=$id]", id=element_id)
    return found[0] if found else None


def _parameter(element: etree._Element, name: str) -> etree._Element | None:
    found = element.xpath(".//spiff:parameter[@id=$name]", namespaces={"spiff": SPIFF}, name=name)
    return found[0] if found else None


def _timer_text(element: etree._Element) -> etree._Element | None:
    for tag in ("timeDate", "timeDuration", "timeCycle"):
        found = element.find(f".//{{{BPMN}}}timerEventDefinition/{{{BPMN}}}{tag}")
        if found is not None:
            return found
    return None


def read(setting: Setting, root: etree._Element) -> Any:
    """The setting's value in a diagram, or None when the diagram states it some other way."""
    element = _element(root, setting.element_id)
    if element is None:
        return None
    if setting.kind == "parameter":
        parameter = _parameter(element, setting.parameter or "")
        return whole(parameter.get("value")) if parameter is not None else None
    text = _timer_text(element)
    if text is None or text.text is None:
        return None
    if setting.kind == "workdays":
        match = _WORKDAYS.match(text.text)
        return int(match.group(1)) if match else None
    try:
        return schedules.parse_rule(text.text)
    except ValueError:
        return None


def _write(setting: Setting, root: etree._Element, value: Any) -> None:
    element = _element(root, setting.element_id)
    if setting.kind == "parameter":
        parameter = _parameter(element, setting.parameter or "") if element is not None else None
        if parameter is not None:
            parameter.set("value", str(value))
        return
    text = _timer_text(element) if element is not None else None
    if text is not None:
        text.text = f"workdays_after(now(), {value})" if setting.kind == "workdays" else f'"{value}"'


def current(process_id: str) -> list[tuple[Setting, Any]]:
    """The settings of a process with their values in its newest version."""
    definition = definitions.latest_definition(process_id)
    root = parse_bpmn_xml(definition.bpmn_xml)
    return [(setting, read(setting, root)) for setting in settings_of(process_id)]


def _checked(setting: Setting, raw: Any) -> Any:
    if setting.kind == "rule":
        text = str(raw or "").strip()
        try:
            if not text or '"' in text or "\\" in text:
                raise ValueError("give a cron line such as 0 2 * * 6 Asia/Shanghai")
            return schedules.parse_rule(f'"{text}"')
        except ValueError as exc:
            raise Invalid(INVALID, {setting.key: ["周期规则无法识别", str(exc)]}) from None
    value = whole(raw)
    if value is None or not setting.minimum <= value <= setting.maximum:
        raise Invalid(INVALID, {setting.key: [str(_("应为 %(low)s 到 %(high)s 的整数", low=setting.minimum,
                                                     high=setting.maximum))]})
    return value


def change(*, process_id: str, values: dict[str, Any], user: User,
           extra: list[tuple[Setting, Any]] | None = None) -> ProcessDefinition:
    """Set some settings of a process (by key); deployed as a new version when anything changed; commits."""
    if not permissions.can(user, MANAGE):
        raise Forbidden("您没有修改流程的权限")
    definition = definitions.latest_definition(process_id)
    try:
        root = parse_bpmn_xml(definition.bpmn_xml)
    except UnsafeXml as exc:  # a deployed diagram always parses; this is a broken database
        raise Invalid(INVALID, {"process": [str(exc)]}) from exc
    wanted = [(setting, _checked(setting, values[setting.key]))
              for setting in settings_of(process_id) if setting.key in values] + list(extra or [])
    changed = False
    for setting, value in wanted:
        before = read(setting, root)
        if before is None:
            raise Invalid(INVALID, {setting.key: ["流程图中此项不是简单数值，请在流程设计器中修改"]})
        if before != value:
            _write(setting, root, value)
            changed = True
    if not changed:
        return definition
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")
    stored, _created = definitions.deploy(xml=xml, file_name=definition.file_name, user=user)
    db.session.refresh(stored)
    return stored


def rule_setting(process_id: str, start_event_id: str) -> Setting:
    """The rule of a timer start event, as a setting (the schedules page changes it)."""
    return Setting(f"rule:{start_event_id}", process_id, start_event_id, "rule", _("运行周期"))


def change_rule(*, process_id: str, start_event_id: str, rule: str, user: User) -> ProcessDefinition:
    """Give a timer start event a new rule (a new version; its schedule moves to the rule's next time); commits."""
    setting = rule_setting(process_id, start_event_id)
    return change(process_id=process_id, values={}, user=user, extra=[(setting, _checked(setting, rule))])
