"""Care task use cases (客户关怀): birthday, festival and follow-up reminders for a customer or contact.

Each care task runs the `care` process (processes/care.bpmn): its one step is the assignee's inbox task,
due on the task's day. Care rules make most of them (bpm_crm.services.care_rules); a person may plan one
by hand. This list is a view of the same work: 完成 here completes the inbox task, a new due date or
assignee moves it, deleting the care task ends its process.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import joinedload

from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.forms.care import CARE_DONE, CARE_TASK
from bpm_crm.forms.rules import INVALID, check, read_all
from bpm_crm.models import (
    CareRule,
    CareTask,
    Contact,
    Customer,
    HumanTask,
    InstanceStatus,
    ProcessInstance,
    User,
)
from bpm_crm.models.base import utcnow
from bpm_crm.services import dictionary, human_tasks, instances, permissions, recycle
from bpm_crm.services.customer_records import customer_label, local_today, writable_customer
from bpm_crm.services.paging import Page, paginate
from bpm_crm.services.transaction import unit_of_work

FIELDS = CARE_TASK.names
DUE_FILTERS = ("overdue", "week", "open", "done")
READ, WRITE = "care.read", "care.update"
PROCESS_ID = "care"
BUSINESS_TYPE = "care_task"
DUE_TIME = time(23, 59, 59)  # due by the end of its day: overdue from the next one, as the list says


def due_moment(day: date) -> str:
    """The inbox due time of a care task due on `day`: the end of that day in the company's time zone."""
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    return datetime.combine(day, DUE_TIME, tzinfo=zone).isoformat()


def start_process(task: CareTask, *, user: User | None) -> ProcessInstance:
    """Put the care task into its assignee's inbox (its `care` process); joins the caller's transaction."""
    customer = task.customer or db.session.get(Customer, task.customer_id)
    instance = instances.start_instance(
        process_id=PROCESS_ID, business_type=BUSINESS_TYPE, business_id=task.id, owner_id=task.assignee_id,
        title=f"{task.title} · {customer.name}"[:200] if customer else task.title,
        data={"care_task_id": task.id, "customer_id": task.customer_id, "assignee_id": task.assignee_id,
              "due_at": due_moment(task.due_date)},
        user=user)
    task.process_instance_id = instance.id
    return instance


def open_task(task: CareTask) -> HumanTask | None:
    """The inbox task of a care task while it waits to be done."""
    return human_tasks.latest_open_task(task.process_instance_id)


def rule_name(task: CareTask) -> str | None:
    """The name of the care rule that made the task, if one did."""
    if task.rule_id is None:
        return None
    return db.session.scalar(select(CareRule.name).where(CareRule.id == task.rule_id))


def _running(task: CareTask) -> ProcessInstance | None:
    if task.process_instance_id is None:
        return None
    instance = db.session.get(ProcessInstance, task.process_instance_id)
    return instance if instance is not None and instance.status == InstanceStatus.RUNNING else None


def _visible(user: User) -> Select:
    permissions.require(user, READ)
    return (select(CareTask).join(CareTask.customer)
            .where(permissions.via_customer(user, CareTask.customer_id))
            .options(joinedload(CareTask.customer), joinedload(CareTask.contact), joinedload(CareTask.assignee),
                     joinedload(CareTask.done_by)))


def is_overdue(task: CareTask) -> bool:
    """Not done and due before today (local)."""
    return task.done_at is None and task.due_date < local_today()


def get_care_task(*, care_task_id: int, user: User) -> CareTask:
    """A care task whose customer the user may read; NotFound otherwise."""
    task = db.session.scalar(_visible(user).where(CareTask.id == care_task_id))
    if task is None:
        raise NotFound("关怀任务不存在或您无权查看")
    return task


def list_care_tasks(*, user: User, q: str | None = None, customer_id: int | None = None, kind: str | None = None,
                    due: str | None = None, assignee_id: int | None = None, page: int = 1,
                    per_page: int = 20) -> Page:
    """Visible care tasks, open ones by due date first; `due`: overdue / week / open / done."""
    query = _visible(user)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(or_(CareTask.title.ilike(like), Customer.name.ilike(like), CareTask.note.ilike(like)))
    if customer_id is not None:
        query = query.where(CareTask.customer_id == customer_id)
    if kind:
        query = query.where(CareTask.kind == kind)
    if assignee_id is not None:
        query = query.where(CareTask.assignee_id == assignee_id)
    today = local_today()
    if due == "overdue":
        query = query.where(CareTask.done_at.is_(None), CareTask.due_date < today)
    elif due == "week":
        monday = today - timedelta(days=today.weekday())
        query = query.where(CareTask.done_at.is_(None), CareTask.due_date.between(monday, monday + timedelta(days=6)))
    elif due == "open":
        query = query.where(CareTask.done_at.is_(None))
    elif due == "done":
        query = query.where(CareTask.done_at.is_not(None))
    if due == "done":
        order: tuple[Any, ...] = (CareTask.done_at.desc(), CareTask.id.desc())
    else:  # open tasks first, the most urgent on top
        order = (CareTask.done_at.is_not(None), CareTask.due_date, CareTask.id)
    return paginate(query.order_by(*order), page=page, per_page=per_page)


def export_care_tasks(*, user: User, limit: int, **filters: Any) -> list[CareTask]:
    """Every visible care task matching the list filters (up to `limit`), for a download."""
    permissions.require(user, "customer.export")
    return list_care_tasks(user=user, page=1, per_page=limit, **filters).items


def contact_choices(*, customer_id: int) -> list[tuple[int, str]]:
    """The contacts of a customer, for the care task's contact select (the caller checked the customer)."""
    rows = db.session.execute(select(Contact.id, Contact.name, Contact.position)
                              .where(Contact.customer_id == customer_id).order_by(Contact.name, Contact.id))
    return [(row.id, f"{row.name}（{row.position}）" if row.position else row.name) for row in rows]


def assignee_choices(*, user: User, include_id: int | None = None) -> list[tuple[int, str]]:
    """Active users a care task can be given to: everyone within the user's care.update scope (and the current one)."""
    reach = permissions.scope_clause(user, WRITE, [User.id])
    if include_id is not None:
        reach = or_(reach, User.id == include_id)
    query = select(User).where(User.active.is_(True), reach)
    people = list(db.session.scalars(query.order_by(User.department_id, User.full_name)))
    return [(person.id, person.full_name) for person in people]


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    checked = read_all(values, CARE_TASK, options={"kind": dictionary.choices(dictionary.CARE_KIND)})
    contact_id, customer_id = checked.values.get("contact_id"), checked.values.get("customer_id")
    if contact_id is not None and customer_id is not None:
        owner = db.session.scalar(select(Contact.customer_id).where(Contact.id == contact_id))
        if owner != customer_id:
            checked.fail("contact_id", "联系人不属于所选客户")
    if checked.values.get("assignee_id") is not None:
        assignee = db.session.get(User, checked.values["assignee_id"])
        if assignee is None or not assignee.active:
            checked.fail("assignee_id", "请选择一位在职的负责人")
    return checked.done()


def _check_assignee(user: User, assignee_id: int | None, owner_id: int | None) -> None:
    """Care is given by the customer's owner or by someone the user may hand work to."""
    if assignee_id is None or assignee_id == owner_id or permissions.in_scope(user, WRITE, [assignee_id]):
        return
    raise Invalid(INVALID, {"assignee_id": ["只能指派给客户经理或您的下属"]})


@unit_of_work
def create_care_task(*, user: User, values: dict[str, Any]) -> CareTask:
    """Plan a care task for a customer (optionally one contact); the assignee defaults to the owner; commits."""
    permissions.require(user, WRITE)
    cleaned = _clean(values)
    customer = writable_customer(user=user, customer_id=cleaned["customer_id"], action=WRITE,
                                 refused="您只能查看此客户，不能为其安排客户关怀")
    if cleaned["assignee_id"] is None:
        cleaned["assignee_id"] = customer.owner_id
    _check_assignee(user, cleaned["assignee_id"], customer.owner_id)
    task = CareTask(**cleaned, created_by_id=user.id, updated_by_id=user.id)
    db.session.add(task)
    db.session.flush()
    start_process(task, user=user)
    return task


def _writable(care_task_id: int, user: User, *, lock: bool = False) -> CareTask:
    task = get_care_task(care_task_id=care_task_id, user=user)
    if lock:  # two clicks on 完成 at once: the second waits here and then sees done_at
        db.session.execute(select(CareTask.id).where(CareTask.id == task.id).with_for_update())
        db.session.refresh(task)
    if not permissions.customer_in_scope(user, task.customer_id, WRITE):
        raise Forbidden("您只能查看此关怀任务，不能处理或修改")
    return task


@unit_of_work
def update_care_task(*, care_task_id: int, user: User, values: dict[str, Any]) -> CareTask:
    """Change some fields of a care task (the result must still be valid); commits."""
    task = _writable(care_task_id, user)
    cleaned = _clean({**{name: getattr(task, name) for name in FIELDS}, **values})
    customer = task.customer
    if cleaned["customer_id"] != task.customer_id:
        customer = writable_customer(user=user, customer_id=cleaned["customer_id"], action=WRITE,
                                     refused="您只能查看此客户，不能为其安排客户关怀")
    if cleaned["assignee_id"] != task.assignee_id:
        _check_assignee(user, cleaned["assignee_id"], customer.owner_id)
    moved_to = cleaned["assignee_id"] if cleaned["assignee_id"] != task.assignee_id else None
    for name, value in cleaned.items():
        setattr(task, name, value)
    task.updated_by_id = user.id
    _follow_in_inbox(task, user, moved_to)
    db.session.flush()
    db.session.refresh(task, ["customer", "contact", "assignee"])
    return task


def _follow_in_inbox(task: CareTask, user: User, moved_to: int | None) -> None:
    """The inbox task shows the care task as it now is: its due day, its assignee, its title."""
    inbox_task = open_task(task)
    instance = _running(task)
    if inbox_task is None or instance is None:
        return
    instances.lock(instance.id)
    inbox_task.due_at = instances.naive(datetime.fromisoformat(due_moment(task.due_date)))
    instance.title = f"{task.title} · {task.customer.name}"[:200]
    if moved_to is not None and moved_to != inbox_task.assignee_id:
        human_tasks.hand_over(inbox_task, instance, to_user_id=moved_to, by=user)


@unit_of_work
def mark_done(*, care_task_id: int, user: User, note: str | None = None) -> CareTask:
    """Record that the care was given (by whom, when, optional note); a second time is a Conflict; commits.

    A care task in an inbox is completed there (on the user's behalf: he may act on its customer).
    """
    task = _writable(care_task_id, user, lock=True)
    if task.done_at is not None:
        who = task.done_by.full_name if task.done_by else "他人"
        raise Conflict("此关怀任务已由%(name)s完成", code="care_task_done", name=who)
    text = check({"note": note}, CARE_DONE)["note"]
    inbox_task = open_task(task) if _running(task) is not None else None
    if inbox_task is not None:
        human_tasks.complete_task(task_id=inbox_task.id, user=user, data={"note": text or ""}, on_behalf=True)
        db.session.refresh(task, ["done_by"])
        return task
    task.done_by_id = user.id
    task.done_at = utcnow()
    if text:
        task.note = f"{task.note}\n{text}" if task.note else text
    task.updated_by_id = user.id
    db.session.flush()
    db.session.refresh(task, ["done_by"])
    return task


@unit_of_work
def delete_care_task(*, care_task_id: int, user: User) -> None:
    """Move a care task to the recycle bin (restorable by the customer's owner); commits."""
    task = _writable(care_task_id, user)
    instance = _running(task)
    if instance is not None:
        instances.cancel_instance(instance=instance, user=user, reason="关怀任务已删除")
    label = f"客户关怀 {task.title} · {customer_label(task.customer)}"
    recycle.move_to_bin(record=task, user=user, label=label, owner_id=task.customer.owner_id)
