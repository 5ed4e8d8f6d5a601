"""Recycle bin page: list, confirmed restore, flash messages, scope; the record history partial."""
from __future__ import annotations

from flask import render_template
from sqlalchemy import select

from bpm_crm.extensions import db
from bpm_crm.models import Contact, Customer, RecycleBinEntry
from bpm_crm.services import logs, recycle
from bpm_crm.services.transaction import unit_of_work

from .helpers import page_text


@unit_of_work
def _bin(customer_id: int, user) -> int:
    customer = db.session.get(Customer, customer_id)
    return recycle.move_to_bin(record=customer, user=user, label=f"客户 {customer.name}",
                               owner_id=customer.owner_id).id


def _customer(users, owner: str = "manager1") -> Customer:
    customer = Customer(name="杭州云启科技有限公司", owner_id=users[owner].id)
    db.session.add(customer)
    db.session.flush()
    db.session.add(Contact(customer_id=customer.id, name="钱经理", gender="男", position="经理",
                           office_phone="0571-1234567"))
    db.session.commit()
    return customer


def test_empty_bin(login):
    page = page_text(login("manager1").get("/recycle-bin/"))
    assert "回收站是空的" in page


def test_list_and_restore_with_confirmation(login, users):
    customer = _customer(users)
    entry_id = _bin(customer.id, users["manager1"])
    browser = login("manager1")
    page = page_text(browser.get("/recycle-bin/"))
    assert "客户 杭州云启科技有限公司" in page and "李明" in page  # label and who deleted it
    assert f'id="restore-{entry_id}"' in page and "确认恢复" in page and "它和一起删除的 2 条记录" in page
    assert "杭州云启科技有限公司" not in page_text(browser.get("/recycle-bin/?record_type=quote"))

    response = browser.post(f"/recycle-bin/{entry_id}/restore", follow_redirects=True)
    assert "已恢复：客户 杭州云启科技有限公司" in page_text(response)
    assert db.session.get(Customer, customer.id) is not None
    assert db.session.scalar(select(Contact).where(Contact.customer_id == customer.id)).name == "钱经理"
    assert browser.post(f"/recycle-bin/{entry_id}/restore").status_code == 404  # double submit


def test_another_managers_entry_is_invisible_and_a_404(login, users):
    entry_id = _bin(_customer(users).id, users["manager1"])
    browser = login("manager2")
    assert "杭州云启科技有限公司" not in page_text(browser.get("/recycle-bin/"))
    assert browser.post(f"/recycle-bin/{entry_id}/restore").status_code == 404
    assert db.session.get(RecycleBinEntry, entry_id) is not None


def test_a_conflict_is_flashed_and_nothing_is_restored(login, users):
    customer = _customer(users)
    customer_id = customer.id
    entry_id = _bin(customer_id, users["manager1"])
    db.session.add(Customer(id=customer_id, name="占用编号的客户", owner_id=users["manager2"].id))
    db.session.commit()
    response = login("manager1").post(f"/recycle-bin/{entry_id}/restore", follow_redirects=True)
    assert "无法恢复" in page_text(response)
    db.session.expire_all()
    assert db.session.get(Customer, customer_id).name == "占用编号的客户"
    assert db.session.scalar(select(Contact).where(Contact.customer_id == customer_id)) is None
    assert db.session.get(RecycleBinEntry, entry_id) is not None


def test_someone_without_restore_permission_sees_his_deletions_without_a_button(login, users):
    entry_id = _bin(_customer(users).id, users["agent"])
    page = page_text(login("agent").get("/recycle-bin/"))
    assert "客户 杭州云启科技有限公司" in page and f'id="restore-{entry_id}"' not in page and "无恢复权限" in page
    assert login("agent").post(f"/recycle-bin/{entry_id}/restore", follow_redirects=True).status_code == 200
    assert db.session.get(RecycleBinEntry, entry_id) is not None


def test_record_history_partial_shows_who_and_old_to_new(app, users):
    customer = Customer(name="甲", phone="111", owner_id=users["manager1"].id, created_by_id=users["manager1"].id,
                        updated_by_id=users["manager1"].id)
    db.session.add(customer)
    db.session.commit()
    customer.phone, customer.updated_by_id = "222", users["supervisor1"].id
    db.session.commit()
    entries = logs.record_history(record_type="customer", record_id=customer.id, user=users["manager1"])
    with app.test_request_context("/"):
        html = render_template("admin/_record_history.html", entries=entries)
    assert 'id="record-history"' in html and "王主管" in html and "李明" in html
    assert "电话" in html and "111" in html and "222" in html and "bi-arrow-right" in html
    with app.test_request_context("/"):
        assert "暂无变更记录" in render_template("admin/_record_history.html", entries=[])
