"""The audit log records who created, changed and deleted which record, with old and new values."""
from __future__ import annotations

from decimal import Decimal

from flask import g
from flask_login import login_user
from sqlalchemy import select

from bpm_crm.extensions import db
from bpm_crm.models import AuditLog, Customer, Department, DictionaryEntry, Product


def entries(record_type: str, record_id: int) -> list[AuditLog]:
    return list(db.session.scalars(select(AuditLog).where(
        AuditLog.record_type == record_type, AuditLog.record_id == record_id).order_by(AuditLog.id)))


def new_customer(users, **values) -> Customer:
    customer = Customer(name="杭州云启科技有限公司", owner_id=users["manager1"].id, created_by_id=users["manager1"].id,
                        updated_by_id=users["manager1"].id, **values)
    db.session.add(customer)
    db.session.commit()
    return customer


def test_create_records_every_set_field_and_the_creator(app, users):
    customer = new_customer(users, phone="0571-88886666", registered_capital=Decimal("100.50"))
    (entry,) = entries("customer", customer.id)
    assert entry.action == "create" and entry.user_id == users["manager1"].id
    assert entry.changes["name"] == [None, "杭州云启科技有限公司"]
    assert entry.changes["registered_capital"] == [None, "100.50"]
    assert entry.changes["owner_id"] == [None, users["manager1"].id]
    assert "id" not in entry.changes and "created_at" not in entry.changes and "fax" not in entry.changes


def test_update_records_old_and_new_values_and_the_updater(app, users):
    customer = new_customer(users, phone="0571-1")
    customer.updated_by_id = users["supervisor1"].id
    customer.phone = "0571-2"
    customer.level = "VIP"
    customer.name = customer.name  # unchanged: not recorded
    db.session.commit()
    entry = entries("customer", customer.id)[-1]
    assert entry.action == "update" and entry.user_id == users["supervisor1"].id
    assert entry.changes == {"phone": ["0571-1", "0571-2"], "level": ["普通", "VIP"]}


def test_the_hooks_are_attached_once_however_often_they_are_installed(app, users):
    from bpm_crm.extensions import install_database_hooks
    from bpm_crm.services import audit, jobs, permissions

    for _ in range(2):  # as when a second app is created in the same process
        install_database_hooks()
        permissions.install()
        audit.install()
        jobs.install()
    customer = new_customer(users, phone="0571-1")
    customer.phone = "0571-2"
    db.session.commit()
    assert [entry.action for entry in entries("customer", customer.id)] == ["create", "update"]


def test_update_of_an_attribute_not_loaded_since_the_last_commit_keeps_the_old_value(app, users):
    customer = new_customer(users, phone="0571-1")
    db.session.commit()  # expires everything: the next assignment happens without a load
    customer.phone = "0571-9"
    db.session.commit()
    assert entries("customer", customer.id)[-1].changes == {"phone": ["0571-1", "0571-9"]}


def test_nothing_changed_writes_no_entry(app, users):
    customer = new_customer(users, phone="0571-1")
    customer.phone = "0571-1"
    db.session.commit()
    assert [e.action for e in entries("customer", customer.id)] == ["create"]


def test_delete_records_the_last_values(app, users):
    entry = DictionaryEntry(type="行业", item="纺织", value="纺织")
    db.session.add(entry)
    db.session.commit()
    entry_id = entry.id
    db.session.delete(entry)
    db.session.commit()
    deleted = entries("dictionary", entry_id)[-1]
    assert deleted.action == "delete"
    assert deleted.changes["item"] == ["纺织", None] and deleted.changes["type"] == ["行业", None]


def test_the_signed_in_user_of_a_page_request_is_the_actor(app, users):
    customer = new_customer(users)
    with app.test_request_context("/customers/1", method="POST"):
        login_user(users["supervisor1"])
        customer.phone = "0571-3"  # the record still says manager1 changed it last
        db.session.commit()
    assert entries("customer", customer.id)[-1].user_id == users["supervisor1"].id


def test_the_token_user_of_an_api_request_is_the_actor(app, users):
    department = Department(name="市场部")
    db.session.add(department)
    db.session.commit()
    with app.test_request_context("/api/v1/anything", method="POST"):
        g.api_user = users["admin"]
        department.name = "市场营销部"
        db.session.commit()
    entry = entries("department", department.id)[-1]
    assert entry.user_id == users["admin"].id and entry.changes == {"name": ["市场部", "市场营销部"]}


def test_outside_a_request_without_updated_by_the_actor_is_unknown(app, users):
    product = Product(code="P1", name="办公软件", price=Decimal("10.00"))
    db.session.add(product)
    db.session.commit()
    product.price = Decimal("12.00")
    db.session.commit()
    entry = entries("product", product.id)[-1]
    assert entry.user_id is None and entry.changes == {"price": ["10.00", "12.00"]}


def test_password_hashes_are_never_logged(app, users):
    user = users["manager2"]
    user.set_password("another-secret", method="pbkdf2:sha256:1000")
    user.full_name = "刘洋洋"
    db.session.commit()
    entry = entries("user", user.id)[-1]
    assert entry.changes == {"full_name": ["刘洋", "刘洋洋"]}
    assert "another-secret" not in str(entry.changes)


def test_updated_by_set_after_an_autoflush_still_names_the_updater(app, users):
    customer = new_customer(users, phone="0571-1")  # the commit expired the user objects too
    customer.phone = "0571-2"
    customer.level = "VIP"
    customer.updated_by_id = users["supervisor1"].id  # loading the expired user autoflushes the changes above
    db.session.commit()
    entry = entries("customer", customer.id)[-1]
    assert entry.changes == {"phone": ["0571-1", "0571-2"], "level": ["普通", "VIP"]}
    assert entry.user_id == users["supervisor1"].id


def test_a_rolled_back_change_leaves_no_entry(app, users):
    customer = new_customer(users, phone="0571-1")
    customer.phone = "0571-2"
    db.session.flush()
    db.session.rollback()
    assert [e.action for e in entries("customer", customer.id)] == ["create"]


def test_one_create_is_one_entry_however_many_flushes_it_takes(app, users):
    """Creating an opportunity sets its number and starts its process in later flushes: still one entry."""
    from bpm_crm.models import Opportunity
    from bpm_crm.services import opportunities

    opportunity = opportunities.create_opportunity(user=users["manager1"], values=dict(
        source="展会", customer_name="杭州审计测试有限公司", probability=60, summary="采购", description="有意向"))
    (entry,) = entries("opportunity", opportunity.id)
    assert entry.action == "create"
    assert entry.changes["number"] == [None, opportunity.number]
    assert entry.changes["process_instance_id"] == [None, opportunity.process_instance_id]
    assert isinstance(db.session.get(Opportunity, opportunity.id), Opportunity)


def test_changes_of_one_transaction_fold_into_one_entry(app, users):
    customer = new_customer(users, phone="0571-1", fax="0571-9")
    customer.phone = "0571-2"
    db.session.flush()
    customer.phone = "0571-3"
    customer.fax = "0571-9x"
    db.session.flush()
    customer.fax = "0571-9"  # back where it started: no change to log
    db.session.commit()
    create, update = entries("customer", customer.id)
    assert update.action == "update" and update.changes == {"phone": ["0571-1", "0571-3"]}


def test_records_written_in_one_flush_each_get_their_own_entry(app, users):
    """Several audited rows in one flush are logged in one statement; each entry must stay its own record's, or a
    later change in the same transaction would fold into another record's entry."""
    first = Customer(name="宁波一号有限公司", owner_id=users["manager1"].id, phone="0574-1")
    second = Customer(name="宁波二号有限公司", owner_id=users["manager1"].id, phone="0574-2")
    product = Product(code="P-AUD", name="审计测试产品", price=Decimal("10.00"))
    db.session.add_all([first, second, product])
    db.session.flush()
    second.phone = "0574-22"
    product.price = Decimal("12.00")
    db.session.commit()
    for record, record_type, field, value in ((first, "customer", "phone", "0574-1"),
                                              (second, "customer", "phone", "0574-22"),
                                              (product, "product", "price", "12.00")):
        (entry,) = entries(record_type, record.id)
        assert entry.action == "create" and entry.changes[field] == [None, value], (record_type, entry.changes)
    assert entries("customer", first.id)[0].changes["name"] == [None, "宁波一号有限公司"]


def test_fold_rules():
    from bpm_crm.services.audit import fold

    assert fold("create", {"name": [None, "甲"]}, {"number": [None, "KH1"], "name": ["甲", "乙"]}) == {
        "name": [None, "乙"], "number": [None, "KH1"]}
    assert fold("create", {"remarks": [None, "x"]}, {"remarks": ["x", None]}) == {}
    assert fold("update", {"phone": ["1", "2"]}, {"phone": ["2", "1"], "fax": [None, "3"]}) == {"fax": [None, "3"]}
