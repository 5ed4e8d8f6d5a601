"""Care tasks (客户关怀): validation, default assignee, due filters, done once, scope, bin — SQLite and PostgreSQL."""
from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from bpm_crm import clock
from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import CareTask, Contact, Customer, CustomerShare, RecycleBinEntry, User
from bpm_crm.services import care, recycle

VALUES = {"kind": "生日", "title": "生日祝福并送蛋糕", "due_date": "2026-11-25", "note": None}


@pytest.fixture(autouse=True)
def _today():
    clock.freeze(datetime(2026, 11, 25, 2, 0, tzinfo=UTC))  # Wednesday 2026-11-25 in Shanghai


def make_customer(users, username: str | None, name: str = "杭州云启科技有限公司") -> Customer:
    customer = Customer(name=name, owner_id=users[username].id if username else None)
    db.session.add(customer)
    db.session.flush()
    customer.number = f"KH{customer.id:06d}"
    db.session.commit()
    return customer


def make_contact(customer: Customer, name: str = "钱伟") -> Contact:
    contact = Contact(customer_id=customer.id, name=name, gender="男", position="经理", office_phone="0571-1234567")
    db.session.add(contact)
    db.session.commit()
    return contact


def add(users, username: str, customer: Customer, **changes) -> CareTask:
    return care.create_care_task(user=users[username], values={**VALUES, "customer_id": customer.id, **changes})


def test_create_defaults_the_assignee_to_the_customers_owner(users):
    customer = make_customer(users, "manager1")
    contact = make_contact(customer)
    task = add(users, "supervisor1", customer, contact_id=contact.id)
    assert task.assignee_id == users["manager1"].id and task.contact_id == contact.id
    assert task.due_date == date(2026, 11, 25) and task.done_at is None
    explicit = add(users, "supervisor1", customer, assignee_id=users["manager3"].id)
    assert explicit.assignee_id == users["manager3"].id
    with pytest.raises(Invalid) as caught:  # a manager cannot hand care to a colleague
        add(users, "manager1", customer, assignee_id=users["manager3"].id)
    assert caught.value.field_errors == {"assignee_id": ["只能指派给客户经理或您的下属"]}


def test_the_contact_must_belong_to_the_customer(users):
    customer = make_customer(users, "manager1")
    other = make_customer(users, "manager1", "苏州恒达")
    stranger = make_contact(other, "孙厂长")
    with pytest.raises(Invalid) as caught:
        add(users, "manager1", customer, contact_id=stranger.id)
    assert caught.value.field_errors == {"contact_id": ["联系人不属于所选客户"]}
    task = add(users, "manager1", customer)
    with pytest.raises(Invalid):
        care.update_care_task(care_task_id=task.id, user=users["manager1"], values={"contact_id": stranger.id})
    assert db.session.scalar(select(CareTask.contact_id).where(CareTask.id == task.id)) is None


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"kind": "中秋"}, "kind", "关怀类型不在数据字典中"),
    ({"kind": ""}, "kind", "请选择关怀类型"),
    ({"title": ""}, "title", "请填写关怀主题"),
    ({"due_date": None}, "due_date", "请填写到期日期"),
    ({"due_date": "2026-02-30"}, "due_date", "日期格式应为 YYYY-MM-DD"),
    ({"assignee_id": 99999}, "assignee_id", "请选择一位在职的负责人"),
])
def test_invalid_input(users, changes, field, message):
    customer = make_customer(users, "manager1")
    with pytest.raises(Invalid) as caught:
        add(users, "manager1", customer, **changes)
    assert caught.value.field_errors[field] == [message]
    assert db.session.scalar(select(CareTask.id)) is None


def test_due_filters_kind_filter_and_order(users):
    customer = make_customer(users, "manager1")
    overdue = add(users, "manager1", customer, title="逾期", due_date="2026-11-20")
    today = add(users, "manager1", customer, title="今天", due_date="2026-11-25", kind="节日")
    sunday = add(users, "manager1", customer, title="本周日", due_date="2026-11-29")
    later = add(users, "manager1", customer, title="下周", due_date="2026-12-02")
    done = add(users, "manager1", customer, title="已完成", due_date="2026-11-18")
    care.mark_done(care_task_id=done.id, user=users["manager1"])
    manager1 = users["manager1"]

    def titles(**filters):
        return [t.title for t in care.list_care_tasks(user=manager1, **filters).items]

    assert titles(due="overdue") == ["逾期"]
    assert titles(due="week") == ["今天", "本周日"]
    assert titles(due="open") == ["逾期", "今天", "本周日", "下周"]
    assert titles(due="done") == ["已完成"]
    assert titles() == ["逾期", "今天", "本周日", "下周", "已完成"]
    assert titles(kind="节日") == ["今天"]
    assert care.is_overdue(overdue) and not care.is_overdue(today) and not care.is_overdue(later)
    assert sunday.id


def test_mark_done_once_then_conflict(users):
    task = add(users, "manager1", make_customer(users, "manager1"))
    done = care.mark_done(care_task_id=task.id, user=users["manager1"], note="已送花")
    assert done.done_by_id == users["manager1"].id and done.done_at is not None and done.note == "已送花"
    with pytest.raises(Conflict) as caught:
        care.mark_done(care_task_id=task.id, user=users["supervisor1"])
    assert caught.value.message == "此关怀任务已由李明完成"
    db.session.refresh(task)
    assert task.done_by_id == users["manager1"].id


def test_scope_other_manager_sharee_supervisor_and_roles_without_care(users):
    theirs = make_customer(users, "manager2", "成都蜀味")
    task = add(users, "manager2", theirs)
    manager1 = users["manager1"]
    assert care.list_care_tasks(user=manager1).total == 0
    for call in (lambda: care.get_care_task(care_task_id=task.id, user=manager1),
                 lambda: care.mark_done(care_task_id=task.id, user=manager1),
                 lambda: care.delete_care_task(care_task_id=task.id, user=manager1)):
        with pytest.raises(NotFound):
            call()
    db.session.add(CustomerShare(customer_id=theirs.id, user_id=manager1.id))
    db.session.commit()
    assert care.get_care_task(care_task_id=task.id, user=manager1).id == task.id
    with pytest.raises(Forbidden):
        care.mark_done(care_task_id=task.id, user=manager1)
    with pytest.raises(Forbidden):
        add(users, "manager1", theirs)
    assert care.list_care_tasks(user=users["supervisor2"]).total == 1
    assert care.list_care_tasks(user=users["supervisor1"]).total == 0
    with pytest.raises(Forbidden):
        care.list_care_tasks(user=users["agent"])


def test_delete_to_bin_and_restore(users):
    customer = make_customer(users, "manager1")
    task = add(users, "manager1", customer, contact_id=make_contact(customer).id)
    task_id = task.id
    care.delete_care_task(care_task_id=task_id, user=users["manager1"])
    assert db.session.get(CareTask, task_id) is None
    entry = db.session.scalar(select(RecycleBinEntry))
    assert entry.record_type == "care_task"
    recycle.restore(entry_id=entry.id, user=users["manager1"])
    db.session.expire_all()
    back = care.get_care_task(care_task_id=task_id, user=users["manager1"])
    assert back.title == "生日祝福并送蛋糕" and back.contact.name == "钱伟"


@pytest.mark.commits  # each click runs on its own thread and connection
def test_two_clicks_on_done_at_once_complete_it_once(app, users):
    task = add(users, "manager1", make_customer(users, "manager1"))
    task_id, user_ids = task.id, [users["manager1"].id, users["supervisor1"].id]
    db.session.remove()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def click(user_id: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                care.mark_done(care_task_id=task_id, user=db.session.get(User, user_id), note=f"by {user_id}")
                outcomes.append("ok")
            except Conflict as exc:
                outcomes.append(exc.message)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=click, args=(uid,)) for uid in user_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == 2 and outcomes.count("ok") == 1
    assert next(o for o in outcomes if o != "ok").startswith("此关怀任务已由")
    done = db.session.get(CareTask, task_id)
    assert done.done_by_id in user_ids and done.note == f"by {done.done_by_id}"
