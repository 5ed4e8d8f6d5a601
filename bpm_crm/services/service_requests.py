"""Service request use cases (客户服务): record (which starts its process), read, edit and delete while 新创建.

A complaint (投诉) runs the `complaint` process (受理 → 部门会签 → 扣款决定 → 回访), a consultation or a
suggestion the `service_request` process (分配 → 处理 → 反馈 → 归档, or closed at once when answered on the
call); the request's status follows its process. Who reads a request: those whose scope covers its customer,
its creator and its handler, and the head of a department while that department signs the complaint off
(in the round that is running).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select
from sqlalchemy.orm import aliased, selectinload

from bpm_crm import clock
from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.forms.rules import N_, read_all
from bpm_crm.forms.service_request import SERVICE_REQUEST
from bpm_crm.models import (
    CandidateKind,
    Customer,
    Department,
    HumanTask,
    ProcessInstance,
    ServiceRequest,
    ServiceStatus,
    TaskCandidate,
    TaskStatus,
    User,
)
from bpm_crm.services import dictionary, instances, permissions, recycle, service_levels
from bpm_crm.services.paging import Page, paginate
from bpm_crm.services.transaction import unit_of_work

EDITABLE_FIELDS = SERVICE_REQUEST.names
MAX_OPTIONS = 500
MAX_ANSWER = 2000
COMPLAINT = "投诉"
SIGN_OFF_STEP = "sign_off"
ACCEPT_STEP = "accept"  # each acceptance names the departments of a new sign-off round


def process_for(kind: str) -> str:
    """The process a request of this type runs."""
    return "complaint" if kind == COMPLAINT else "service_request"


# The seed's ticket kinds and stages (工单状态), read from the status the process sets; stored values stay Chinese.
SIMPLE_TICKET, COMPLEX_TICKET = N_("简易工单"), N_("疑难工单")
RECEIVED, IN_HANDLING, CLOSED_ON_CALL = N_("坐席受理"), N_("处理中"), N_("处理完毕")
AWAITING_VISIT, VISITED = N_("处理完毕待回访"), N_("回访完毕")
SIMPLE_STAGES = (RECEIVED, CLOSED_ON_CALL)
COMPLEX_STAGES = (RECEIVED, IN_HANDLING, AWAITING_VISIT, VISITED)
_COMPLEX_STAGE: dict[str, str] = {
    ServiceStatus.NEW: RECEIVED, ServiceStatus.ASSIGNED: IN_HANDLING, ServiceStatus.HANDLED: AWAITING_VISIT,
    ServiceStatus.FEEDBACK: AWAITING_VISIT, ServiceStatus.ARCHIVED: VISITED,
}


def ticket_kind(record: ServiceRequest) -> str:
    """简易工单 (answered on the call) or 疑难工单 (dispatched, handled and visited)."""
    return SIMPLE_TICKET if record.simple else COMPLEX_TICKET


def ticket_stages(record: ServiceRequest) -> tuple[str, ...]:
    """The stages a ticket of its kind passes, in order."""
    return SIMPLE_STAGES if record.simple else COMPLEX_STAGES


def ticket_stage(record: ServiceRequest) -> str:
    """Where the ticket stands in the seed's terms, from the status its process set."""
    if record.simple:
        return CLOSED_ON_CALL if record.status == ServiceStatus.ARCHIVED else RECEIVED
    return _COMPLEX_STAGE.get(record.status, RECEIVED)


def signing_clause(user: User) -> ColumnElement[bool]:
    """Requests whose sign-off round (会签) is running and includes the user's department (or him by name).

    A round is the sign-off steps one acceptance started: those after the instance's latest `accept` step.
    Having signed an earlier round shows nothing of a later one his department is not asked in.
    """
    heads = [str(department_id) for department_id in
             db.session.scalars(select(Department.id).where(Department.head_id == user.id))]
    mine, running, accepted = aliased(HumanTask), aliased(HumanTask), aliased(HumanTask)
    his = or_(mine.assignee_id == user.id, mine.completed_by_id == user.id,
              exists().where(TaskCandidate.task_id == mine.id, TaskCandidate.kind == CandidateKind.DEPARTMENT.value,
                             TaskCandidate.value.in_(heads)) if heads else false())
    round_started = select(func.max(accepted.id)).where(
        accepted.instance_id == mine.instance_id, accepted.bpmn_id == ACCEPT_STEP).scalar_subquery()
    return and_(
        exists().where(mine.instance_id == ServiceRequest.process_instance_id, mine.bpmn_id == SIGN_OFF_STEP,
                       mine.id > func.coalesce(round_started, 0), his),
        exists().where(running.instance_id == ServiceRequest.process_instance_id, running.bpmn_id == SIGN_OFF_STEP,
                       running.status == TaskStatus.OPEN.value),
    )


def _read_clause(user: User) -> ColumnElement[bool]:
    """Requests of customers within the user's service.read scope, those he created or handles, those he signs."""
    own = or_(ServiceRequest.created_by_id == user.id, ServiceRequest.handler_id == user.id, signing_clause(user))
    if not permissions.can(user, "service.read"):
        return own
    return or_(permissions.via_customer(user, ServiceRequest.customer_id, "service.read"), own)


def get_request(*, request_id: int, user: User) -> ServiceRequest:
    """A service request within the user's read scope; NotFound otherwise."""
    record = db.session.scalar(select(ServiceRequest).where(_read_clause(user), ServiceRequest.id == request_id))
    if record is None:
        raise NotFound("客户服务不存在或您无权查看")
    return record


def overdue_clause() -> ColumnElement[bool]:
    """Open requests past a target (not accepted in time, or not closed in time) or with an overdue task."""
    now = clock.utcnow_naive()
    return and_(ServiceRequest.status != ServiceStatus.ARCHIVED.value, or_(
        ServiceRequest.resolution_due_at < now,
        and_(ServiceRequest.assigned_at.is_(None), ServiceRequest.response_due_at < now), _late_step(now)))


def _late_step(now: datetime) -> ColumnElement[bool]:
    """The request has a step (an open task of its process) past its due time."""
    return exists().where(HumanTask.instance_id == ServiceRequest.process_instance_id,
                          HumanTask.status == TaskStatus.OPEN.value, HumanTask.due_at < now)


def with_late_step(request_ids: list[int]) -> set[int]:
    """Of these requests, those with a step (an open task) past its due time: the other half of overdue_clause."""
    if not request_ids:
        return set()
    return set(db.session.scalars(select(ServiceRequest.id).where(
        ServiceRequest.id.in_(request_ids), _late_step(clock.utcnow_naive()))))


def request_query(
    *, user: User, q: str | None = None, type: str | None = None, status: str | None = None,  # noqa: A002
    customer_id: int | None = None, handler_id: int | None = None, overdue: bool = False,
) -> Select:
    """The scoped, searched and filtered query shared by the list, the export and the API."""
    query = select(ServiceRequest).where(_read_clause(user))
    if q:
        like = f"%{q.strip()}%"
        query = query.where(or_(
            ServiceRequest.number.ilike(like), ServiceRequest.summary.ilike(like),
            ServiceRequest.customer_id.in_(select(Customer.id).where(Customer.name.ilike(like)))))
    if type:
        query = query.where(ServiceRequest.type == type)
    if status:
        query = query.where(ServiceRequest.status == status)
    if customer_id:
        query = query.where(ServiceRequest.customer_id == customer_id)
    if handler_id:
        query = query.where(ServiceRequest.handler_id == handler_id)
    if overdue:
        query = query.where(overdue_clause())
    return query.options(selectinload(ServiceRequest.customer), selectinload(ServiceRequest.created_by),
                         selectinload(ServiceRequest.handler)).order_by(ServiceRequest.id.desc())


def list_requests(
    *, user: User, q: str | None = None, type: str | None = None, status: str | None = None,  # noqa: A002
    customer_id: int | None = None, handler_id: int | None = None, overdue: bool = False, page: int = 1,
    per_page: int = 20,
) -> Page:
    """The user's visible service requests, newest first."""
    return paginate(request_query(user=user, q=q, type=type, status=status, customer_id=customer_id,
                                  handler_id=handler_id, overdue=overdue), page=page, per_page=per_page)


def service_levels_of(
    *, user: User, q: str | None = None, type: str | None = None, status: str | None = None,  # noqa: A002
    customer_id: int | None = None, handler_id: int | None = None, overdue: bool = False,
) -> service_levels.Summary:
    """The SLA figures (响应时效, 办结时效, 办结率) of the requests the list shows with these filters."""
    return service_levels.summarize(request_query(user=user, q=q, type=type, status=status, customer_id=customer_id,
                                                  handler_id=handler_id, overdue=overdue))


def handler_options(*, user: User) -> list[User]:
    """People who handle requests the user can see, for the list's handler filter."""
    ids = select(ServiceRequest.handler_id).where(_read_clause(user), ServiceRequest.handler_id.is_not(None))
    return list(db.session.scalars(select(User).where(User.id.in_(ids)).order_by(User.full_name).limit(MAX_OPTIONS)))


def customer_options(*, user: User) -> list[Customer]:
    """Customers the user may record a service request for, by name."""
    if not permissions.can(user, "service.create"):
        return []
    return list(db.session.scalars(select(Customer).where(permissions.customer_clause(user, "service.create"))
                                   .order_by(Customer.name, Customer.id).limit(MAX_OPTIONS)))


def may_change(user: User, record: ServiceRequest) -> bool:
    """Edit and delete: while 新创建, by its creator or someone handling service for its customer."""
    if record.status != ServiceStatus.NEW:
        return False
    if record.created_by_id == user.id:
        return True
    return permissions.can(user, "service.update") and permissions.customer_in_scope(
        user, record.customer_id, "service.update")


def _clean(values: dict[str, Any], user: User, current: ServiceRequest | None) -> dict[str, Any]:
    merged: dict[str, Any] = {name: getattr(current, name) for name in EDITABLE_FIELDS} if current else {}
    merged.update({name: values[name] for name in EDITABLE_FIELDS if name in values})
    checked = read_all(merged, SERVICE_REQUEST, options={"type": dictionary.choices(dictionary.SERVICE_TYPE)})
    customer_id = checked.values.get("customer_id")
    if customer_id is not None and customer_id != (current.customer_id if current else None) \
            and not permissions.customer_in_scope(user, customer_id, "service.create"):
        checked.fail("customer_id", "客户不存在或您无权为其新建客户服务")
    return checked.done()


def _answer(values: dict[str, Any], kind: str | None) -> str:
    """What the agent answered on the call (简易工单): a consultation or suggestion closes at once."""
    raw = values.get("answer")
    if raw in (None, ""):
        return ""
    if not isinstance(raw, str):
        raise Invalid("请更正标出的字段", {"answer": ["应为文本"]})
    answer = raw.strip()
    if len(answer) > MAX_ANSWER:
        raise Invalid("请更正标出的字段", {"answer": ["最多 2000 个字符"]})
    if answer and kind == COMPLAINT:
        message = "投诉须经受理和部门会签，不能当场办结"
        raise Invalid(message, {"answer": [message]}, code="complaint_answered_on_call")
    return answer


@unit_of_work
def create_request(*, user: User, values: dict[str, Any]) -> ServiceRequest:
    """Record a customer's consultation, suggestion or complaint (新创建) and start its process; commits.

    `values` may carry `answer`: a consultation or suggestion answered on the call is closed at once.
    """
    permissions.require(user, "service.create")
    cleaned = _clean(values, user, None)
    answer = _answer(values, cleaned.get("type"))
    record = ServiceRequest(**cleaned, status=ServiceStatus.NEW.value, created_by_id=user.id, updated_by_id=user.id,
                            created_at=clock.utcnow_naive(), simple=bool(answer))
    db.session.add(record)
    db.session.flush()
    record.number = f"FW{record.id:06d}"
    _start_process(record, user, answer)
    return record


def _start_process(record: ServiceRequest, user: User, answer: str = "") -> ProcessInstance:
    target = service_levels.set_targets(record)
    customer = db.session.get(Customer, record.customer_id)
    instance = instances.start_instance(
        process_id=process_for(record.type), business_type="service_request", business_id=record.id,
        owner_id=record.created_by_id, title=f"{record.number} {record.summary} · {customer.name if customer else ''}",
        data={"request_id": record.id, "service_type": record.type, "summary": record.summary,
              "response_hours": target.response_hours, "resolution_hours": target.resolution_hours,
              "answer": answer, "instructions": "", "handling": "", "compensation_amount": None,
              "deduction_amount": None, "deduction_department_id": None},
        user=user,
    )
    record.process_instance_id = instance.id
    return instance


def process_of(record: ServiceRequest) -> ProcessInstance | None:
    """The process a request runs (or ran)."""
    return db.session.get(ProcessInstance, record.process_instance_id) if record.process_instance_id else None


def _changeable(request_id: int, user: User) -> ServiceRequest:
    record = get_request(request_id=request_id, user=user)
    if record.status != ServiceStatus.NEW:
        raise Conflict("客户服务当前为“%(status)s”，不能再修改或删除", code="service_request_locked",
                       status=record.status)
    if not may_change(user, record):
        raise Forbidden("只有创建人或客服处理人员可以修改或删除此客户服务")
    return record


@unit_of_work
def update_request(*, request_id: int, user: User, values: dict[str, Any]) -> ServiceRequest:
    """Change a request while it is 新创建; commits."""
    record = _changeable(request_id, user)
    cleaned = _clean(values, user, record)
    other_process = process_for(cleaned.get("type", record.type)) != process_for(record.type)
    for name, value in cleaned.items():
        setattr(record, name, value)
    record.updated_by_id = user.id
    instance = process_of(record)
    if other_process:
        # A complaint recorded as a consultation (or the other way round) runs the other process from its start.
        if instance is not None:
            instances.cancel_instance(instance=instance, user=user, reason=f"服务类型改为{record.type}")
        _start_process(record, user)
    elif instance is not None and record.customer is not None:
        instance.title = f"{record.number} {record.summary} · {record.customer.name}"[:200]
    return record


@unit_of_work
def delete_request(*, request_id: int, user: User) -> None:
    """Move a 新创建 request to the recycle bin; commits."""
    record = _changeable(request_id, user)
    instance = process_of(record)
    if instance is not None:
        instances.cancel_instance(instance=instance, user=user, reason=f"客户服务 {record.number} 已删除")
    customer = db.session.get(Customer, record.customer_id)
    recycle.move_to_bin(record=record, user=user, label=f"客户服务 {record.summary} ({record.number})",
                        owner_id=customer.owner_id if customer else None)
