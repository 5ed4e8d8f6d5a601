"""Contacts (联系人): validation, customer scope, shares, supervisors, recycle bin — on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from bpm_crm.errors import Conflict, Forbidden, Invalid, NotFound
from bpm_crm.extensions import db
from bpm_crm.models import CareTask, Contact, Customer, CustomerShare, RecycleBinEntry
from bpm_crm.services import contacts, recycle

VALUES = {"name": "钱伟", "gender": "男", "position": "采购经理", "office_phone": "0571-88886666",
          "mobile": "13800138001", "email": "qian@example.com", "birthday": "1985-06-01", "remarks": "喜欢喝茶"}


def make_customer(users, username: str | None, name: str = "杭州云启科技有限公司") -> Customer:
    customer = Customer(name=name, owner_id=users[username].id if username else None)
    db.session.add(customer)
    db.session.flush()
    customer.number = f"KH{customer.id:06d}"
    db.session.commit()
    return customer


def add(users, username: str, customer: Customer, **changes) -> Contact:
    return contacts.create_contact(user=users[username], values={**VALUES, "customer_id": customer.id, **changes})


def test_create_read_update_with_typed_values(users):
    customer = make_customer(users, "manager1")
    contact = add(users, "manager1", customer, customer_id=str(customer.id))
    assert contact.id and contact.birthday == date(1985, 6, 1) and contact.created_by_id == users["manager1"].id
    got = contacts.get_contact(contact_id=contact.id, user=users["manager1"])
    assert got.customer.name == "杭州云启科技有限公司"

    changed = contacts.update_contact(contact_id=contact.id, user=users["manager1"],
                                      values={"position": "总经理", "email": None})
    assert changed.position == "总经理" and changed.email is None and changed.name == "钱伟"


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"name": " "}, "name", "请填写姓名"),
    ({"gender": "x"}, "gender", "性别应为“男”或“女”"),
    ({"gender": ""}, "gender", "请选择性别"),
    ({"position": None}, "position", "请填写职位"),
    ({"office_phone": ""}, "office_phone", "请填写办公电话"),
    ({"office_phone": "call me"}, "office_phone", "电话号码格式不正确"),
    ({"email": "qian-at-example"}, "email", "电子邮箱格式不正确"),
    ({"birthday": "1985-13-01"}, "birthday", "日期格式应为 YYYY-MM-DD"),
    ({"customer_id": None}, "customer_id", "请选择客户"),
])
def test_invalid_input_names_the_field_and_saves_nothing(users, changes, field, message):
    customer = make_customer(users, "manager1")
    with pytest.raises(Invalid) as caught:
        add(users, "manager1", customer, **changes)
    assert caught.value.field_errors[field] == [message]
    assert db.session.scalar(select(Contact.id)) is None


def test_several_missing_fields_are_reported_together(users):
    customer = make_customer(users, "manager1")
    with pytest.raises(Invalid) as caught:
        contacts.create_contact(user=users["manager1"], values={"customer_id": customer.id})
    assert set(caught.value.field_errors) == {"name", "gender", "position", "office_phone"}


def test_another_managers_customer_is_invisible_and_unwritable(users):
    theirs = make_customer(users, "manager2", "成都蜀味餐饮")
    contact = add(users, "manager2", theirs)
    manager1 = users["manager1"]
    assert contacts.list_contacts(user=manager1).total == 0
    with pytest.raises(NotFound):
        contacts.get_contact(contact_id=contact.id, user=manager1)
    with pytest.raises(NotFound):
        contacts.update_contact(contact_id=contact.id, user=manager1, values={"name": "改"})
    with pytest.raises(NotFound):
        contacts.delete_contact(contact_id=contact.id, user=manager1)
    with pytest.raises(Invalid) as caught:  # adding to it does not reveal that it exists
        add(users, "manager1", theirs)
    assert caught.value.field_errors == {"customer_id": ["客户不存在或您无权查看"]}
    db.session.refresh(contact)
    assert contact.name == "钱伟"


def test_a_sharee_reads_but_cannot_create_or_change(users):
    customer = make_customer(users, "manager2", "成都蜀味餐饮")
    contact = add(users, "manager2", customer)
    db.session.add(CustomerShare(customer_id=customer.id, user_id=users["manager1"].id))
    db.session.commit()
    manager1 = users["manager1"]
    assert [c.id for c in contacts.list_contacts(user=manager1).items] == [contact.id]
    assert contacts.get_contact(contact_id=contact.id, user=manager1).id == contact.id
    with pytest.raises(Forbidden):
        add(users, "manager1", customer, name="新人")
    with pytest.raises(Forbidden):
        contacts.update_contact(contact_id=contact.id, user=manager1, values={"name": "改"})
    with pytest.raises(Forbidden):
        contacts.delete_contact(contact_id=contact.id, user=manager1)
    assert db.session.scalar(select(Contact.name).where(Contact.id == contact.id)) == "钱伟"


def test_a_supervisor_sees_his_subordinates_contacts_only(users):
    mine = add(users, "manager1", make_customer(users, "manager1", "杭州云启"))
    colleague = add(users, "manager3", make_customer(users, "manager3", "宁波港联"))
    other_team = add(users, "manager2", make_customer(users, "manager2", "成都蜀味"))
    seen = {c.id for c in contacts.list_contacts(user=users["supervisor1"]).items}
    assert seen == {mine.id, colleague.id}
    assert [c.id for c in contacts.list_contacts(user=users["supervisor2"]).items] == [other_team.id]
    with pytest.raises(NotFound):
        contacts.get_contact(contact_id=other_team.id, user=users["supervisor1"])
    changed = contacts.update_contact(contact_id=colleague.id, user=users["supervisor1"],
                                      values={"mobile": "13900000000"})
    assert changed.mobile == "13900000000"
    assert contacts.list_contacts(user=users["admin"]).total == 3


def test_search_filter_sort_and_paging(users):
    first = make_customer(users, "manager1", "杭州云启")
    second = make_customer(users, "manager1", "苏州恒达")
    add(users, "manager1", first, name="赵一", mobile="13811110000")
    add(users, "manager1", first, name="孙二", email="sun@hengda.cn")
    add(users, "manager1", second, name="李三")
    manager1 = users["manager1"]
    assert [c.name for c in contacts.list_contacts(user=manager1, q="1381111").items] == ["赵一"]
    assert [c.name for c in contacts.list_contacts(user=manager1, q="hengda").items] == ["孙二"]
    assert [c.name for c in contacts.list_contacts(user=manager1, q="苏州").items] == ["李三"]
    assert {c.name for c in contacts.list_contacts(user=manager1, customer_id=first.id).items} == {"赵一", "孙二"}
    assert [c.name for c in contacts.list_contacts(user=manager1).items] == ["李三", "孙二", "赵一"]
    page = contacts.list_contacts(user=manager1, sort="name", per_page=2, page=2)
    assert page.total == 3 and page.pages == 2 and len(page.items) == 1


def test_moving_a_contact_to_another_of_my_customers_but_not_to_someone_elses(users):
    first = make_customer(users, "manager1", "杭州云启")
    second = make_customer(users, "manager1", "苏州恒达")
    theirs = make_customer(users, "manager2", "成都蜀味")
    contact = add(users, "manager1", first)
    assert contacts.update_contact(contact_id=contact.id, user=users["manager1"],
                                   values={"customer_id": second.id}).customer.name == "苏州恒达"
    with pytest.raises(Invalid):
        contacts.update_contact(contact_id=contact.id, user=users["manager1"], values={"customer_id": theirs.id})
    assert db.session.scalar(select(Contact.customer_id).where(Contact.id == contact.id)) == second.id


def test_delete_goes_to_the_bin_and_restore_brings_it_back(users):
    customer = make_customer(users, "manager1")
    contact = add(users, "manager1", customer)
    contact_id = contact.id
    contacts.delete_contact(contact_id=contact_id, user=users["manager1"])
    assert db.session.get(Contact, contact_id) is None
    entry = db.session.scalar(select(RecycleBinEntry))
    assert entry.record_type == "contact" and entry.owner_id == users["manager1"].id and "钱伟" in entry.label
    recycle.restore(entry_id=entry.id, user=users["manager1"])
    db.session.expire_all()
    back = contacts.get_contact(contact_id=contact_id, user=users["manager1"])
    assert back.name == "钱伟" and back.email == "qian@example.com" and back.birthday == date(1985, 6, 1)


def test_a_contact_with_care_tasks_cannot_be_deleted(users):
    customer = make_customer(users, "manager1")
    contact = add(users, "manager1", customer)
    db.session.add(CareTask(customer_id=customer.id, contact_id=contact.id, kind="生日", title="生日祝福",
                            due_date=date(2026, 6, 1)))
    db.session.commit()
    with pytest.raises(Conflict):
        contacts.delete_contact(contact_id=contact.id, user=users["manager1"])
    assert db.session.get(Contact, contact.id) is not None


def test_export_requires_the_export_permission(users):
    customer = make_customer(users, "manager1")
    add(users, "manager1", customer)
    assert len(contacts.export_contacts(user=users["manager1"], limit=10, q="钱")) == 1
    with pytest.raises(Forbidden):
        contacts.export_contacts(user=users["agent"], limit=10)
