"""Handlers of the service processes: the request's status follows the process, never a hand edit.

Complaints (`complaint`): 新创建 (坐席受理) → 已分配 when the service supervisor accepts it and names the
departments that sign off (处理中) → 已处理 when the compensation and deduction are decided (处理完毕待回访) →
已反馈 at the return visit → 已归档 (回访完毕); a poor visit (satisfaction below 3) sends it back to 已分配.
Consultations and suggestions (`service_request`): 新创建 → 已分配 → 已处理 → 已反馈 → 已归档, or at once
新创建 → 已归档 when the agent answered on the call (简易工单). Each change records when it happened; accepting
(响应时效) and archiving (办结时效) also record the working time they took, against the request's targets.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.errors import Conflict, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.handlers.calendar import working_seconds
from bpm_crm.handlers.context import HandlerContext
from bpm_crm.i18n import _
from bpm_crm.input_rules import parse_id
from bpm_crm.models import Department, Notification, ServiceRequest, ServiceStatus, User

MAX_DEPARTMENTS = 20
MAX_AMOUNT = Decimal("10000000")


def _request(request_id: int, *expected: ServiceStatus) -> ServiceRequest:
    record = db.session.get(ServiceRequest, request_id)
    if record is None:
        raise NotFound("客户服务 %(id)s 不存在", code="service_request_not_found", id=request_id)
    if expected and record.status not in expected:
        raise Conflict("客户服务当前为“%(status)s”", code="service_request_status", status=record.status)
    return record


def _touch(record: ServiceRequest, context: HandlerContext) -> None:
    record.updated_by_id = context.user.id if context.user else record.updated_by_id


def _responded(record: ServiceRequest, handler_id: int) -> None:
    """The first acceptance is the response (响应时效); a later round keeps it."""
    record.handler_id = handler_id
    if record.assigned_at is None:
        record.assigned_at = clock.utcnow_naive()
        record.response_seconds = working_seconds(record.created_at, record.assigned_at)
    record.status = ServiceStatus.ASSIGNED.value


def _notify(user_id: int | None, kind: str, title: str, context: HandlerContext, body: str | None = None) -> None:
    if user_id is not None and (context.user is None or user_id != context.user.id):
        db.session.add(Notification(user_id=user_id, kind=kind, title=title[:200], body=body,
                                    instance_id=context.instance.id))


def _signing_departments(raw: Any) -> list[Department]:
    """The departments named to sign off: existing, each with an active head, at most MAX_DEPARTMENTS."""
    ids = raw if isinstance(raw, list) else []
    ids = [number for number in (parse_id(value) for value in ids) if number is not None]
    if not ids or len(ids) != len(raw or []):
        raise Invalid("请至少选择一个责任部门", {"departments": ["请至少选择一个责任部门"]}, code="no_departments")
    if len(set(ids)) > MAX_DEPARTMENTS:
        message = "最多选择 20 个责任部门"
        raise Invalid(message, {"departments": [message]}, code="too_many_departments")
    rows = {row.id: row for row in db.session.scalars(select(Department).where(Department.id.in_(ids)))}
    problems = []
    for department_id in dict.fromkeys(ids):
        department = rows.get(department_id)
        if department is None:
            problems.append(str(_("部门 %(id)s 不存在", id=department_id)))
            continue
        head = db.session.get(User, department.head_id) if department.head_id else None
        if head is None or not head.active:
            problems.append(str(_("%(name)s没有在职的负责人，无法会签", name=department.name)))
    if problems:
        raise Invalid("责任部门无法会签", {"departments": problems}, code="department_without_head")
    return [rows[department_id] for department_id in dict.fromkeys(ids)]


def accept(context: HandlerContext, *, request_id: int, departments: Any = None) -> dict[str, Any]:
    """`service.accept`: the supervisor accepted a complaint and named the departments that sign off (处理中)."""
    record = _request(request_id, ServiceStatus.NEW, ServiceStatus.ASSIGNED)
    named = _signing_departments(departments)
    handler_id = context.user.id if context.user else record.handler_id
    if handler_id is None:
        raise Conflict("受理人未知", code="service_no_handler")
    _responded(record, handler_id)
    _touch(record, context)
    return {"handler_id": handler_id, "departments": [department.id for department in named],
            "names": [department.name for department in named]}


def assign(context: HandlerContext, *, request_id: int, handler_id: Any) -> dict[str, Any]:
    """`service.assign`: a consultation or suggestion goes to its handler (已分配)."""
    record = _request(request_id, ServiceStatus.NEW)
    handler_key = parse_id(handler_id)
    handler = db.session.get(User, handler_key) if handler_key is not None else None
    if handler is None or not handler.active:
        raise Invalid("请选择一位在职的处理人", {"handler_id": ["请选择一位在职的处理人"]}, code="service_handler")
    _responded(record, handler.id)
    _touch(record, context)
    _notify(handler.id, "task_assigned", f"{record.number} {record.summary}", context,
            body=str(_("您被指定为客户服务的处理人")))
    return {"handler_id": handler.id, "handler": handler.full_name}


def _amount(raw: Any, field: str) -> Decimal | None:
    if raw in (None, ""):
        return None
    try:
        value = Decimal(str(raw)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise Invalid("金额无效", {field: ["请输入金额"]}) from None
    if not Decimal("0") <= value < MAX_AMOUNT:
        raise Invalid("金额超出范围", {field: ["金额应在 0 到 9,999,999.99 之间"]}, code="amount_range")
    return value


def decide(context: HandlerContext, *, request_id: int, handling: str, compensation_amount: Any = None,
           deduction_amount: Any = None, deduction_department_id: Any = None) -> dict[str, Any]:
    """`service.decide`: the complaint's handling, compensation and deduction (扣款) are decided (已处理)."""
    record = _request(request_id, ServiceStatus.ASSIGNED)
    deduction = _amount(deduction_amount, "deduction_amount")
    department = None
    if deduction_department_id not in (None, ""):
        department_key = parse_id(deduction_department_id)
        department = db.session.get(Department, department_key) if department_key is not None else None
        if department is None:
            raise Invalid("请选择承担扣款的部门", {"deduction_department_id": ["请选择承担扣款的部门"]})
    if deduction and department is None:
        raise Invalid("请选择承担扣款的部门", {"deduction_department_id": ["请选择承担扣款的部门"]},
                      code="deduction_bearer")
    record.compensation_amount = _amount(compensation_amount, "compensation_amount")
    record.deduction_amount = deduction
    record.deduction_department_id = department.id if department is not None and deduction else None
    return _handled(record, context, handling)


def _handled(record: ServiceRequest, context: HandlerContext, handling: str) -> dict[str, Any]:
    record.handling = (handling or "").strip() or record.handling
    record.handled_at = clock.utcnow_naive()
    record.status = ServiceStatus.HANDLED.value
    _touch(record, context)
    return {"status": record.status}


def handle(context: HandlerContext, *, request_id: int, handling: str) -> dict[str, Any]:
    """`service.handle`: the handler recorded how it was handled (已处理)."""
    return _handled(_request(request_id, ServiceStatus.ASSIGNED), context, handling)


def record_feedback(context: HandlerContext, *, request_id: int, feedback: str, satisfaction: Any) -> dict[str, Any]:
    """`service.record_feedback`: the customer's feedback at the return visit (已反馈)."""
    record = _request(request_id, ServiceStatus.HANDLED)
    score = parse_id(satisfaction) or 0
    if not 1 <= score <= 5:
        raise Invalid("请选择满意度", {"satisfaction": ["请选择 1 到 5 分"]})
    record.feedback = (feedback or "").strip()
    record.satisfaction = score
    record.feedback_at = clock.utcnow_naive()
    record.status = ServiceStatus.FEEDBACK.value
    _touch(record, context)
    return {"satisfaction": score}


def reopen(context: HandlerContext, *, request_id: int) -> dict[str, Any]:
    """`service.reopen`: the customer is not satisfied (below 3) — back to handling (处理中)."""
    record = _request(request_id, ServiceStatus.FEEDBACK)
    record.status = ServiceStatus.ASSIGNED.value
    record.reopened += 1
    _touch(record, context)
    _notify(record.handler_id, "reopened", f"{record.number} {record.summary}", context,
            body=str(_("回访满意度 %(score)s 分，已退回重新处理", score=record.satisfaction)))
    return {"reopened": record.reopened}


def sign_off_rejected(context: HandlerContext, *, request_id: int, handler_id: Any = None) -> dict[str, Any]:
    """`service.sign_off_rejected`: a department refused the sign-off — the handler decides again."""
    record = _request(request_id, ServiceStatus.ASSIGNED)
    target = parse_id(handler_id) or record.handler_id
    _notify(target, "rejected", f"{record.number} {record.summary}", context,
            body=str(_("部门会签未通过，请重新受理")))
    return {"status": record.status}


def archive(context: HandlerContext, *, request_id: int) -> dict[str, Any]:
    """`service.archive`: closed (已归档); the completion time (办结时效) is recorded."""
    record = _request(request_id, ServiceStatus.FEEDBACK, ServiceStatus.NEW)
    record.archived_at = clock.utcnow_naive()
    record.resolution_seconds = working_seconds(record.created_at, record.archived_at)
    record.status = ServiceStatus.ARCHIVED.value
    _touch(record, context)
    for person in dict.fromkeys((record.created_by_id, record.handler_id)):
        _notify(person, "closed", f"{record.number} {record.summary}", context,
                body=str(_("客户服务已办结，满意度 %(score)s 分", score=record.satisfaction or "—")))
    return {"status": record.status}


def answer_on_call(context: HandlerContext, *, request_id: int, answer: str) -> dict[str, Any]:
    """`service.answer_on_call`: answered while the customer was on the line (简易工单: 坐席受理 → 处理完毕)."""
    record = _request(request_id, ServiceStatus.NEW)
    now = clock.utcnow_naive()
    record.handler_id = record.created_by_id
    record.assigned_at = record.handled_at = now
    record.response_seconds = working_seconds(record.created_at, now)
    record.handling = (answer or "").strip()
    record.status = ServiceStatus.FEEDBACK.value
    return archive(context, request_id=request_id)


HANDLERS = {
    "service.accept": accept,
    "service.assign": assign,
    "service.decide": decide,
    "service.handle": handle,
    "service.record_feedback": record_feedback,
    "service.reopen": reopen,
    "service.sign_off_rejected": sign_off_rejected,
    "service.archive": archive,
    "service.answer_on_call": answer_on_call,
}
